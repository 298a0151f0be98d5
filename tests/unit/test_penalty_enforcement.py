"""Penalty enforcement 执行到位 (issue #13, item 7): the optional status and date in the
penalty export mapping, the clock to enforcement (``penalty-not-enforced``, an operator
setting), stopped by a later export saying it was enforced, timed by its 执行到位日期."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from connectors.config import parse_config
from connectors.mapping import build_mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.calendar import WorkingDayCalendar
from hub.errors import RecordRejected
from hub.models import CaseEvent, EnforcementStatus, PenaltyCaseRecorded
from hub.rules import load_deadlines, load_thresholds, load_violation_offences
from hub.serde import LocalSerde
from streams.deadline_logic import evaluate_case
from tests.unit.data.case_events import HUB_UNIT, MARKET, at, penalty

RULE = "penalty-not-enforced"


def _mapped(**columns: str) -> PenaltyCaseRecorded:
    config = parse_config({"id": "m-test", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "penalty-disclosure"})
    row = dict(zip(PENALTY_HEADER, penalty_row(7), strict=True))
    row.update(columns)
    event = build_mapper(config.mapping, unit=config.unit, connector_id=config.id).map(
        row, "a.csv#row 2").event
    assert isinstance(event, PenaltyCaseRecorded)
    return event


@pytest.mark.parametrize(("text", "status"), [
    ("执行到位", "ENFORCED"), ("部分执行", "PARTIALLY_ENFORCED"), ("未执行", "NOT_ENFORCED"),
    ("", "UNKNOWN"),
])
def test_the_preset_reads_the_optional_status_and_date(text: str, status: str) -> None:
    event = _mapped(执行情况=text, 执行到位日期="2025-05-06" if status == "ENFORCED" else "")
    assert event.enforcement_status is EnforcementStatus(status)
    assert event.enforced_on == (date(2025, 5, 6) if status == "ENFORCED" else None)


def test_an_export_without_the_columns_leaves_it_unknown_and_a_bad_status_is_refused(
        ) -> None:
    assert _mapped().enforcement_status is EnforcementStatus.UNKNOWN
    with pytest.raises(RecordRejected) as caught:
        _mapped(执行情况="大概执行了")
    assert caught.value.field == "enforcement_status"


def test_an_old_reader_and_an_old_record_agree() -> None:
    """The new fields round-trip through Avro, and an event that does not set them
    (an export without the columns) is UNKNOWN / None; compatibility with every stored
    version is ``liangfa schemas check`` (``make lint``)."""
    serde = LocalSerde()
    serde.bind_writer(PenaltyCaseRecorded.avro_name, 7)
    sent = penalty(at(2025, 3, 1)).model_copy(update={
        "enforcement_status": EnforcementStatus.ENFORCED, "enforced_on": date(2025, 5, 6)})
    back = serde.decode(serde.encode(sent))
    assert isinstance(back, PenaltyCaseRecorded) and back == sent
    assert penalty(at(2025, 3, 1)).enforcement_status is EnforcementStatus.UNKNOWN


def _status(penalty_event: PenaltyCaseRecorded, status: str,
            enforced_on: date | None = None, *, recorded: datetime | None = None
            ) -> PenaltyCaseRecorded:
    return penalty_event.model_copy(update={
        "event_id": f"{penalty_event.event_id}-{status}-{enforced_on}",
        "enforcement_status": EnforcementStatus(status), "enforced_on": enforced_on,
        "recorded_at": recorded or penalty_event.recorded_at})


def _alerts(events: list[CaseEvent], now: datetime) -> list[tuple[str, str, bool | None]]:
    result = evaluate_case(events, now, rules=load_deadlines(), thresholds=load_thresholds(),
                           violation_offences=load_violation_offences(),
                           hub_unit_code=HUB_UNIT, calendar=WorkingDayCalendar())
    found = []
    for state in result.alerts:
        alert = state.alert
        if alert.rule_id == RULE and not state.undoes_early_sweep:
            late = alert.details.get("late")
            found.append((alert.status.value, alert.responsible_unit_code,
                          None if late is None else late == "true"))
    return found


def test_the_clock_to_enforcement_runs_from_the_decision_on_the_agency() -> None:
    decided = _status(penalty(at(2025, 3, 1)), "NOT_ENFORCED")
    assert _alerts([decided], at(2025, 8, 31)) == []
    assert _alerts([decided], at(2025, 9, 2)) == [("RAISED", MARKET, None)]
    partly = _status(penalty(at(2025, 3, 1)), "PARTIALLY_ENFORCED")
    assert _alerts([partly], at(2025, 9, 2)) == [("RAISED", MARKET, None)]


def test_no_clock_when_the_export_does_not_say() -> None:
    assert _alerts([penalty(at(2025, 3, 1))], at(2026, 3, 1)) == []


def test_enforced_in_time_stops_it_and_enforced_late_resolves_it_late() -> None:
    decided = _status(penalty(at(2025, 3, 1)), "NOT_ENFORCED")
    in_time = _status(decided, "ENFORCED", date(2025, 6, 1), recorded=at(2025, 6, 3))
    assert _alerts([decided, in_time], at(2025, 12, 1)) == []
    # the re-export carries the decision date as occurred_at: 执行到位日期 times it
    late = _status(decided, "ENFORCED", date(2025, 11, 20), recorded=at(2025, 11, 21))
    assert _alerts([decided, late], at(2025, 12, 1)) == [("RESOLVED", MARKET, True)]
    # no date stated: the time the hub read it, never the earlier decision date
    undated = _status(decided, "ENFORCED", recorded=at(2025, 11, 21))
    assert _alerts([decided, undated], at(2025, 12, 1)) == [("RESOLVED", MARKET, True)]


def test_an_old_export_of_the_decision_does_not_stop_a_later_clock() -> None:
    decided = _status(penalty(at(2025, 3, 1)), "NOT_ENFORCED")
    stale = _status(decided, "ENFORCED", date(2025, 2, 1) - timedelta(days=1))
    assert [s for s, _, _ in _alerts([decided, stale], at(2025, 9, 2))] == ["RAISED"]
