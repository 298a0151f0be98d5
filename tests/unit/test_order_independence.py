"""A case's outcome does not depend on the order its sources arrive in.

Agencies, police and courts export on their own schedules, and two workers may read a
case's topics at different paces: the aggregate (CaseState) and the deadline alerts must
come out the same for any arrival order of the same history. The engine folds events
into these pure functions, so this is the property its shuffled-source behaviour rests on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.models import (
    Alert,
    AuditRecorded,
    CaseEvent,
    CaseState,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    UnitMonthlyStats,
    ViewAction,
)
from hub.models.examples import EXAMPLE_HUB_UNIT, example_events
from hub.rules import load_rule_set
from streams.aggregate_logic import CaseAggregate
from streams.deadline_logic import evaluate_case

#: What the hub derives is not part of a case's source history. A FeedbackMatchWithdrawn
#: is issued by the matcher after the match it withdraws, on the case's partition, so it
#: always follows the feedback it takes out (tested in test_aggregate_logic).
_DERIVED = (Alert, CaseState, UnitMonthlyStats, FeedbackUnmatched, ViewAction, AuditRecorded,
            FeedbackMatchWithdrawn)
_HISTORY: list[CaseEvent] = [
    event for event in example_events().values()
    if not isinstance(event, _DERIVED)
    and event.case_id == example_events()["cn.liangfa.events.CaseReferred"].case_id]
_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _state(history: list[CaseEvent]) -> dict[str, Any]:
    aggregate = CaseAggregate(history[0].case_id)
    for event in history:
        aggregate.apply(event)
    state = aggregate.to_case_state(hub_unit_code=EXAMPLE_HUB_UNIT, now=_NOW)
    return state.model_dump(exclude={"recorded_at"})


def _alerts(history: list[CaseEvent]) -> list[tuple[str, str, str]]:
    rules = load_rule_set()
    result = evaluate_case(history, _NOW, rules=rules.deadlines, thresholds=rules.thresholds,
                           hub_unit_code=EXAMPLE_HUB_UNIT,
                           violation_offences=rules.violation_offences)
    return sorted((alert.alert_id, alert.status.value, alert.event_id)
                  for alert in result.changes({}))


def test_the_history_is_a_whole_case() -> None:
    assert len(_HISTORY) >= 15  # agency, police, procuratorate and court events
    assert len({type(event) for event in _HISTORY}) == len(_HISTORY)


@settings(max_examples=60, deadline=None)
@given(st.permutations(_HISTORY))
def test_case_state_is_the_same_in_any_arrival_order(order: list[CaseEvent]) -> None:
    assert _state(order) == _state(_HISTORY)


@settings(max_examples=60, deadline=None)
@given(st.permutations(_HISTORY))
def test_alerts_are_the_same_in_any_arrival_order(order: list[CaseEvent]) -> None:
    assert _alerts(order) == _alerts(_HISTORY)


@settings(max_examples=30, deadline=None)
@given(st.permutations(_HISTORY), st.integers(min_value=0, max_value=len(_HISTORY)))
def test_a_replayed_prefix_changes_nothing(order: list[CaseEvent], replayed: int) -> None:
    """A worker that crashed re-reads the uncommitted part: applying it twice is a no-op."""
    assert _state(order + order[:replayed]) == _state(_HISTORY)
