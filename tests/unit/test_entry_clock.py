"""The late-entry clock from when a penalty takes effect (issue #14, item 4): the service
date 送达日期, else the effective date 生效日期, else the decision date."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from connectors.config import parse_config
from connectors.mapping import build_mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.calendar import WorkingDayCalendar
from hub.models import PenaltyCaseRecorded
from hub.rules import load_deadlines, load_thresholds, load_violation_offences
from hub.rules.deadlines import DeadlineRules, EventMatcher
from hub.serde import LocalSerde
from streams.deadline_logic import evaluate_case
from tests.unit.data.case_events import HUB_UNIT, at, penalty

RULE = "entry-late"
# Decided Monday 2025-03-03; 3 working days from it end Thursday 03-06.
DECIDED = at(2025, 3, 3)
# Entered Tuesday 03-11: late counted from the decision, on time counted from a service
# or effective date of Friday 03-07 (3 working days: 03-12).
ENTERED = at(2025, 3, 11, 10)


def _late(event: PenaltyCaseRecorded) -> bool:
    result = evaluate_case([event], ENTERED, rules=load_deadlines(),
                           thresholds=load_thresholds(),
                           violation_offences=load_violation_offences(),
                           hub_unit_code=HUB_UNIT, calendar=WorkingDayCalendar())
    return any(state.alert.rule_id == RULE for state in result.alerts)


def _penalty(**dates: date) -> PenaltyCaseRecorded:
    return penalty(DECIDED, recorded=ENTERED).model_copy(update=dates)


def test_without_service_or_effective_date_the_clock_counts_from_the_decision() -> None:
    assert _late(_penalty())


def test_the_service_date_starts_the_clock() -> None:
    assert not _late(_penalty(served_on=date(2025, 3, 7)))


def test_the_effective_date_starts_it_when_no_service_date_is_given() -> None:
    assert not _late(_penalty(effective_on=date(2025, 3, 7)))


def test_the_service_date_wins_over_the_effective_date() -> None:
    # served on the day of the decision: late, whatever the effective date says
    assert _late(_penalty(served_on=date(2025, 3, 3), effective_on=date(2025, 3, 7)))


def test_the_start_fields_are_data_checked_against_the_event_contract() -> None:
    rule = load_deadlines().by_id(RULE)
    matcher = rule.start_matcher(_penalty())
    assert matcher is not None
    assert matcher.start_fields == ("served_on", "effective_on")
    assert matcher.start_instant(_penalty(effective_on=date(2025, 3, 7))) == at(2025, 3, 7)
    wrong = EventMatcher(event_type="PenaltyCaseRecorded", start_fields=("delivered_on",))
    assert wrong.problems("rules[0].starts_on[0]") == [
        "rules[0].starts_on[0].start_fields: PenaltyCaseRecorded has no field "
        "'delivered_on'"]
    assert isinstance(load_deadlines(), DeadlineRules)


def _mapped(**columns: str) -> PenaltyCaseRecorded:
    config = parse_config({"id": "m-test", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "penalty-disclosure"})
    row = dict(zip(PENALTY_HEADER, penalty_row(7), strict=True))
    row.update(columns)
    event = build_mapper(config.mapping, unit=config.unit, connector_id=config.id).map(
        row, "a.csv#row 2").event
    assert isinstance(event, PenaltyCaseRecorded)
    return event


@pytest.mark.parametrize(("columns", "served", "effective"), [
    ({}, None, None),
    ({"送达日期": "2025-05-06"}, date(2025, 5, 6), None),
    ({"决定书送达日期": "2025/05/06", "生效日期": "2025-05-08"}, date(2025, 5, 6),
     date(2025, 5, 8)),
    ({"处罚决定生效日期": "2025-05-08"}, None, date(2025, 5, 8)),
])
def test_the_preset_reads_service_and_effective_dates_by_their_synonyms(
        columns: dict[str, str], served: date | None, effective: date | None) -> None:
    event = _mapped(**columns)
    assert (event.served_on, event.effective_on) == (served, effective)


def test_the_new_fields_round_trip_and_default_to_null() -> None:
    serde = LocalSerde()
    serde.bind_writer(PenaltyCaseRecorded.avro_name, 7)
    sent = _penalty(served_on=date(2025, 3, 7), effective_on=date(2025, 3, 8))
    back = serde.decode(serde.encode(sent))
    assert isinstance(back, PenaltyCaseRecorded) and back == sent
    assert penalty(DECIDED).served_on is None and penalty(DECIDED).effective_on is None


def test_a_datetime_start_field_is_taken_as_it_is() -> None:
    matcher = EventMatcher(event_type="PenaltyCaseRecorded", start_fields=("recorded_at",))
    event = _penalty()
    assert matcher.start_instant(event) == event.recorded_at
    assert isinstance(matcher.start_instant(event), datetime)


def test_the_scorecard_counts_lateness_from_the_same_start() -> None:
    """The statistics behind the unit scorecard agree with the alert."""
    from streams.stats_logic import StatsAccumulator

    month = "2025-03"
    late = StatsAccumulator(calendar=WorkingDayCalendar())
    late.add(_penalty())
    served = StatsAccumulator(calendar=WorkingDayCalendar())
    served.add(_penalty(served_on=date(2025, 3, 7)))
    unit = _penalty().source_unit
    now = at(2025, 12, 31)
    assert late.stats(unit, month, hub_unit_code=HUB_UNIT, now=now).penalty_cases_entered_late == 1
    assert served.stats(unit, month, hub_unit_code=HUB_UNIT,
                        now=now).penalty_cases_entered_late == 0
