"""The duty to enter a court judgment is the procuratorate's (兴庆区 item 8), not the court's:
a judgment entered more than 3 working days late raises LATE_ENTRY on the procuratorate."""

from __future__ import annotations

from datetime import timedelta

from hub.models import AlertKind
from hub.rules import load_deadlines, load_thresholds
from streams.deadline_logic import evaluate_case
from tests.unit.data.case_events import COURT, HUB_UNIT, at, judgment, penalty


def _late_entries(recorded_after_days: int) -> list[tuple[str, str]]:
    court = judgment(at(2025, 3, 3, 10))
    court = court.model_copy(update={
        "recorded_at": court.occurred_at + timedelta(days=recorded_after_days)})
    result = evaluate_case([penalty(at(2025, 1, 6, 10)), court], at(2026, 12, 4, 9),
                           rules=load_deadlines(), thresholds=load_thresholds(),
                           hub_unit_code=HUB_UNIT)
    return [(state.alert.rule_id, state.alert.responsible_unit_code)
            for state in result.alerts
            if state.alert.kind is AlertKind.LATE_ENTRY
            and state.alert.trigger_event_id == court.event_id]


def test_a_judgment_entered_late_is_charged_to_the_procuratorate() -> None:
    assert _late_entries(10) == [("entry-late-judgment", HUB_UNIT)]
    assert HUB_UNIT != COURT


def test_a_judgment_entered_in_time_raises_nothing() -> None:
    assert _late_entries(1) == []
