"""Deadline monitor decisions: clocks, alerts raised and resolved, on the PRC calendar."""

from __future__ import annotations

import random
from datetime import date, datetime

import pytest

from hub.calendar import WorkingDayCalendar
from hub.models import AlertStatus, CaseEvent
from hub.rules import load_deadlines, load_thresholds, load_violation_offences
from hub.rules.deadlines import DeadlineRules
from streams._alerts import alert_changes, alert_id_for, snapshot_of
from streams.deadline_logic import CaseDeadlines, evaluate_case, is_entered_late
from tests.unit.data.case_events import (
    CASE,
    COUNTY_PSB,
    FOREST_POLICE,
    HUB_UNIT,
    MARKET,
    PROCURATORATE,
    arrest_requested,
    at,
    attended,
    consultation,
    consultation_answer,
    decided,
    forwarded,
    handed_over,
    invitation,
    judgment,
    penalty,
    prosecutorial,
    reasons_explained,
    received,
    reconsideration_decided,
    reconsideration_requested,
    referred,
    replied,
    supervision_requested,
    transferred,
)

ENVIRONMENT_OFFENCE = {"offence": "污染环境罪", "article": "338", "domain": "environment"}


def evaluate(events: list[CaseEvent], now: datetime,
             emitted: dict[str, str] | None = None) -> CaseDeadlines:
    return evaluate_case(
        events, now, rules=load_deadlines(), thresholds=load_thresholds(),
        violation_offences=load_violation_offences(), hub_unit_code=HUB_UNIT,
        calendar=WorkingDayCalendar(), emitted=emitted,
    )


def summary(result: CaseDeadlines) -> list[tuple[str, str, str | None]]:
    """(rule id, status, late) of every alert state, sorted."""
    return sorted(
        (s.alert.rule_id, s.alert.status.value, s.alert.details.get("late"))
        for s in result.alerts if not s.undoes_early_sweep and not s.withdraws_inapplicable
    )


def only(result: CaseDeadlines, rule_id: str):
    found = [s for s in result.alerts if s.alert.rule_id == rule_id
             and not s.undoes_early_sweep and not s.withdraws_inapplicable]
    assert len(found) == 1, summary(result)
    return found[0]


# --- filing decision (Decree 310 Art. 8) ------------------------------------------------

NON_ECONOMIC = [
    referred(at(2025, 1, 6, 10), **ENVIRONMENT_OFFENCE),
    received(at(2025, 1, 6, 14)),
]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(2025, 1, 9, 23, 59), []),
        (at(2025, 1, 10), [("filing-decision-overdue", "RAISED", None)]),
    ],
)
def test_filing_decision_clock(now: datetime, expected: list) -> None:
    result = evaluate(NON_ECONOMIC, now)
    assert summary(result) == expected
    clock = next(c for c in result.open_clocks if c.rule_id == "filing-decision-overdue")
    assert clock.due_date == date(2025, 1, 9)
    assert clock.responsible_unit_code == COUNTY_PSB
    assert clock.overdue is bool(expected)


HOLIDAY_EVE = [
    referred(at(2025, 9, 30, 10), **ENVIRONMENT_OFFENCE),
    received(at(2025, 9, 30, 14)),  # + 3 days ends 10-03, inside National Day (10-01..08)
]


def _rules_keeping_the_last_day() -> DeadlineRules:
    shipped = load_deadlines()
    data = shipped.model_dump()
    data["period_end"] = {**data["period_end"], "on_rest_day": "keep"}
    for rule in data["rules"]:
        rule["period_end"] = None
    return DeadlineRules.model_validate(data)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at(2025, 10, 9, 23, 59), []),
        (at(2025, 10, 10), [("filing-decision-overdue", "RAISED", None)]),
    ],
)
def test_a_period_ending_on_a_holiday_runs_to_the_first_working_day_after_it(
        now: datetime, expected: list) -> None:
    """刑事诉讼法 Art. 105: 期间的最后一日为节假日的，以节假日后的第一日为期满日期."""
    result = evaluate(HOLIDAY_EVE, now)
    assert summary(result) == expected
    clock = next(c for c in result.open_clocks if c.rule_id == "filing-decision-overdue")
    assert clock.due_date == date(2025, 10, 9)


def test_a_reply_date_a_letter_states_on_a_holiday_moves_to_the_next_working_day() -> None:
    """The letter's own date is the last day of its period, and ends like one."""
    letter = prosecutorial(at(2025, 9, 1, 9), "RECOMMENDATION", target=MARKET,
                           document_number="青检建〔2025〕9号").model_copy(
        update={"reply_due_date": date(2025, 10, 3)})
    assert summary(evaluate([letter], at(2025, 10, 9, 23))) == []
    raised = only(evaluate([letter], at(2025, 10, 10)), "recommendation-unanswered").alert
    assert raised.due_date == date(2025, 10, 9)


def test_a_rules_file_may_keep_the_last_day_of_a_period() -> None:
    result = evaluate_case(
        HOLIDAY_EVE, at(2025, 10, 4), rules=_rules_keeping_the_last_day(),
        thresholds=load_thresholds(), violation_offences=load_violation_offences(),
        hub_unit_code=HUB_UNIT, calendar=WorkingDayCalendar())
    assert summary(result) == [("filing-decision-overdue", "RAISED", None)]
    assert only(result, "filing-decision-overdue").alert.due_date == date(2025, 10, 3)


def test_hour_and_working_day_clocks_are_not_extended() -> None:
    """A 24-hour clock is not a period of days; a working-day clock ends on a working
    day by itself."""
    rules = load_deadlines()
    assert rules.by_id("receipt-missing").rest_day_extends  # the file's default...
    cal = WorkingDayCalendar()
    start = at(2025, 9, 30, 14)
    assert cal.deadline_instant(start, 24, "hours", rest_day_extends=True) == at(2025, 10, 1, 14)
    assert cal.due_date(date(2025, 9, 29), 3, "working_days", rest_day_extends=True) == date(
        2025, 10, 10) == cal.due_date(date(2025, 9, 29), 3, "working_days")


def test_a_corrected_penalty_read_months_later_is_not_a_late_entry() -> None:
    """The correction is a new event (new content) of the same decision: the first entry,
    on time, decides lateness, as the statistics count it."""
    first = penalty(at(2025, 3, 5), recorded=at(2025, 3, 6, 9), event_id="penalty-first")
    corrected = penalty(at(2025, 3, 5), recorded=at(2025, 6, 10, 9),
                        event_id="penalty-corrected", violation_text="销售伪劣产品（更正）")
    assert summary(evaluate([first, corrected], at(2025, 6, 10, 10))) == []
    # a later correction of a decision entered late leaves the first entry's alert alone
    late = penalty(at(2025, 3, 5), recorded=at(2025, 3, 20, 9), event_id="penalty-late")
    result = evaluate([late, corrected], at(2025, 6, 10, 10))
    assert summary(result) == [("entry-late", "RESOLVED", "true")]
    assert only(result, "entry-late").alert.trigger_event_id == "penalty-late"


def test_a_receipt_of_the_same_referral_again_keeps_its_own_filing_clock() -> None:
    """Sent back after a forward and received again by the same unit under the same
    number, a referral is a second duty: duty clocks do not fold copies of a document
    (only the entry clocks do, ``per_document``)."""
    first = received(at(2025, 1, 6, 14), event_id="receipt-first")
    again = received(at(2025, 2, 3, 15), event_id="receipt-again")
    events = [referred(at(2025, 1, 6, 10), **ENVIRONMENT_OFFENCE), first, again]
    raised = sorted(s.alert.trigger_event_id for s in evaluate(events, at(2025, 2, 10)).alerts
                    if s.alert.rule_id == "filing-decision-overdue")
    assert raised == ["receipt-again", "receipt-first"]


def test_an_entry_alert_a_corrected_copy_raised_before_is_withdrawn() -> None:
    first = penalty(at(2025, 3, 5), recorded=at(2025, 3, 6, 9), event_id="penalty-first")
    corrected = penalty(at(2025, 3, 5), recorded=at(2025, 6, 10, 9),
                        event_id="penalty-corrected", violation_text="销售伪劣产品（更正）")
    duplicate = alert_id_for(CASE, "entry-late", "penalty-corrected")
    withdrawn = [s.alert for s in evaluate([first, corrected], at(2025, 6, 10, 10),
                                           emitted={duplicate: "RESOLVED"}).alerts
                 if s.alert.alert_id == duplicate]
    assert [(a.status.value, a.details["withdrawn"]) for a in withdrawn] == [
        ("RESOLVED", "same_document")]


def test_a_placeholder_number_folds_no_receipts_together() -> None:
    events = [referred(at(2025, 1, 6, 10), **ENVIRONMENT_OFFENCE),
              received(at(2025, 1, 6, 14), number="无", event_id="receipt-a"),
              received(at(2025, 1, 8, 14), number="无", event_id="receipt-b")]
    raised = [s.alert.trigger_event_id for s in evaluate(events, at(2025, 1, 15)).alerts
              if s.alert.rule_id == "filing-decision-overdue"]
    assert sorted(raised) == ["receipt-a", "receipt-b"]


def test_items_handed_over_before_the_filing_decision_satisfy_the_hand_over_clock() -> None:
    """Decree 310 Art. 12 asks for the items within 3 days of the filing notice; handed
    over with the referral the day before, they are handed over (the same day counted
    already, the day before did not)."""
    events = [handed_over(at(2025, 3, 10, 9)), decided(at(2025, 3, 11, 9))]
    assert [s for s in summary(evaluate(events, at(2025, 3, 20)))
            if s[0] == "handover-overdue"] == []


def test_raised_filing_alert_names_rule_source_and_responsible_unit() -> None:
    state = only(evaluate(NON_ECONOMIC, at(2025, 1, 10)), "filing-decision-overdue")
    alert = state.alert
    assert alert.kind.value == "FILING_DECISION_OVERDUE"
    assert alert.severity.value == "WARNING"
    assert alert.responsible_unit_code == COUNTY_PSB
    assert alert.legal_source == "State Council Decree 310 (rev. 2020) Art. 8"
    assert alert.due_date == date(2025, 1, 9)
    assert alert.trigger_event_id == NON_ECONOMIC[1].event_id
    assert alert.alert_id == alert_id_for(CASE, "filing-decision-overdue",
                                          NON_ECONOMIC[1].event_id)
    assert alert.source_unit == HUB_UNIT
    assert alert.occurred_at == at(2025, 1, 10)


@pytest.mark.parametrize(
    ("now", "severity", "note"),
    [
        (at(2025, 1, 9, 12), None, None),
        (at(2025, 1, 10), "INFO", None),
        (at(2025, 1, 17), "WARNING", "10 days"),
        (at(2025, 2, 6), "CRITICAL", "30 days"),
        (at(2025, 3, 8), "CRITICAL", "30 + 30"),
    ],
)
def test_economic_referral_clock_escalates(now: datetime, severity: str | None,
                                           note: str | None) -> None:
    events = [referred(at(2025, 1, 6, 10)), received(at(2025, 1, 6, 14))]  # Art. 140: economic
    result = evaluate(events, now)
    assert not [s for s in result.alerts if s.alert.rule_id == "filing-decision-overdue"
                and not s.withdraws_inapplicable]
    states = [s for s in result.alerts if s.alert.rule_id == "filing-decision-overdue-economic"]
    if severity is None:
        assert states == []
        return
    assert [s.alert.severity.value for s in states] == [severity]
    if note:
        assert note in states[0].alert.details["escalation"]


@pytest.mark.parametrize(
    ("decided_at", "recorded_at", "expected"),
    [
        # decided late: resolved, late
        (at(2025, 1, 12, 9), None, [("filing-decision-overdue", "RESOLVED", "true")]),
        # decided in time, entered in time: nothing to say
        (at(2025, 1, 8, 9), None, []),
        # decided in time but entered after the due date: resolves a raised alert, if any
        (at(2025, 1, 8, 9), at(2025, 1, 14, 9), [
            ("entry-late", "RESOLVED", "true"),
            ("filing-decision-overdue", "RESOLVED", "false"),
        ]),
    ],
)
def test_filing_decision_resolution(decided_at: datetime, recorded_at: datetime | None,
                                    expected: list) -> None:
    events = [*NON_ECONOMIC, decided(decided_at, "NOT_FILED", recorded=recorded_at)]
    result = evaluate(events, at(2025, 1, 20))
    assert summary(result) == expected
    assert [c.rule_id for c in result.open_clocks if c.rule_id.startswith("filing")] == []


def test_a_resolution_of_an_alert_never_raised_is_not_emitted() -> None:
    events = [*NON_ECONOMIC,
              decided(at(2025, 1, 8, 9), "NOT_FILED", recorded=at(2025, 1, 14, 9))]
    result = evaluate(events, at(2025, 1, 14, 10))
    filing = only(result, "filing-decision-overdue")
    assert filing.emit_if_new is False
    assert [a.rule_id for a in result.changes({})] == ["entry-late"]
    raised = only(evaluate(NON_ECONOMIC, at(2025, 1, 10)), "filing-decision-overdue").alert
    previous = {raised.alert_id: snapshot_of(raised)}
    changes = result.changes(previous)
    resolved = next(a for a in changes if a.rule_id == "filing-decision-overdue")
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.alert_id == raised.alert_id
    assert resolved.details["late"] == "false"


def test_late_resolution_keeps_the_alert_id_and_names_the_resolving_event() -> None:
    raised = only(evaluate(NON_ECONOMIC, at(2025, 1, 10)), "filing-decision-overdue").alert
    decision = decided(at(2025, 1, 12, 9), "NOT_FILED")
    resolved = only(evaluate([*NON_ECONOMIC, decision], at(2025, 1, 12, 10)),
                    "filing-decision-overdue").alert
    assert resolved.alert_id == raised.alert_id
    assert resolved.event_id != raised.event_id
    assert resolved.resolved_by_event_id == decision.event_id
    assert resolved.details["working_days_late"] == "1"  # due Thu 9th; Fri 10th, Sun 12th


def test_a_forward_stops_the_first_units_clock_and_the_new_receipt_starts_one() -> None:
    events = [
        *NON_ECONOMIC,
        forwarded(at(2025, 1, 6, 18)),
        received(at(2025, 1, 7, 9), police=FOREST_POLICE),
    ]
    result = evaluate(events, at(2025, 1, 11))
    raised = only(result, "filing-decision-overdue").alert
    assert raised.responsible_unit_code == FOREST_POLICE
    assert raised.due_date == date(2025, 1, 10)


# --- idempotence and event time ---------------------------------------------------------


def test_evaluation_is_idempotent_and_order_independent() -> None:
    events = [
        *NON_ECONOMIC,
        decided(at(2025, 1, 12, 9), "NOT_FILED"),
        reconsideration_requested(at(2025, 1, 17, 9)),
        invitation(at(2025, 1, 6, 9)),
    ]
    first = evaluate(events, at(2025, 2, 1))
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    second = evaluate(shuffled + events[:2], at(2025, 2, 1))  # duplicates too
    assert first == second
    emitted = first.changes({})
    previous = {a.alert_id: snapshot_of(a) for a in emitted}
    assert second.changes(previous) == []
    assert len({a.alert_id for a in emitted}) == len(emitted)


def test_backfill_of_last_year_yields_last_years_lateness() -> None:
    events = [
        referred(at(2024, 3, 4, 10), **ENVIRONMENT_OFFENCE, recorded=at(2025, 6, 1)),
        received(at(2024, 3, 4, 15), recorded=at(2025, 6, 1)),
        decided(at(2024, 3, 20, 10), recorded=at(2025, 6, 1)),
    ]
    result = evaluate(events, at(2024, 3, 20, 10))  # now = latest legal time known
    filing = only(result, "filing-decision-overdue").alert
    assert filing.status is AlertStatus.RESOLVED
    assert filing.due_date == date(2024, 3, 7)
    assert filing.details["late"] == "true"
    # every decision of the backfill was entered over a year late
    assert len([s for s in result.alerts if s.alert.rule_id == "entry-late"]) == 3


def test_next_check_is_the_earliest_due_instant() -> None:
    result = evaluate(NON_ECONOMIC, at(2025, 1, 7))
    assert result.next_check_at == at(2025, 1, 7, 14)  # the 24-hour forward window
    result = evaluate(NON_ECONOMIC, at(2025, 1, 8))
    assert result.next_check_at == at(2025, 1, 10)  # the filing decision


def test_no_events_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        evaluate([], at(2025, 1, 1))


# --- entry within 3 working days (seed 002 item 8) --------------------------------------

ENTRY_TABLE = [
    # decision, entered, late?
    (at(2025, 1, 6, 10), at(2025, 1, 9, 18), False),  # Mon → Thu: 3 working days
    (at(2025, 1, 6, 10), at(2025, 1, 10, 8), True),  # Mon → Fri
    (at(2025, 1, 24, 10), at(2025, 2, 5, 18), False),  # Fri → Sun 26th, Mon 27th, Wed 5 Feb
    (at(2025, 1, 24, 10), at(2025, 2, 6, 8), True),
    (at(2026, 2, 12, 10), at(2026, 2, 24, 18), False),  # Thu → Fri 13, Sat 14 (works), Tue 24
    (at(2026, 2, 12, 10), at(2026, 2, 25, 8), True),
    (at(2025, 1, 6, 23, 30), at(2025, 1, 9, 23, 59), False),
]


@pytest.mark.parametrize(("occurred", "recorded", "late"), ENTRY_TABLE)
def test_entry_late(occurred: datetime, recorded: datetime, late: bool) -> None:
    assert is_entered_late(occurred, recorded, calendar=WorkingDayCalendar()) is late
    result = evaluate([penalty(occurred, recorded=recorded)], recorded)
    expected = [("entry-late", "RESOLVED", "true")] if late else []
    assert summary(result) == expected
    if late:
        alert = result.alerts[0].alert
        assert alert.kind.value == "LATE_ENTRY"
        assert alert.responsible_unit_code == MARKET
        assert alert.occurred_at == recorded


def test_summary_procedure_penalties_are_not_timed() -> None:
    event = penalty(at(2025, 1, 6, 10), recorded=at(2025, 3, 1), procedure="SUMMARY")
    assert summary(evaluate([event], at(2025, 3, 1))) == []


# --- the other clocks, table-driven -----------------------------------------------------

CLOCK_TABLE = [
    # id, events, now, expected summary, responsible of the first alert (or None)
    (
        "receipt missing after 24 hours",
        [referred(at(2025, 1, 6, 10))],
        at(2025, 1, 7, 10),
        [("receipt-missing", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "receipt: a date-only referral counts from the end of its day",
        [referred(at(2025, 1, 6))],
        at(2025, 1, 7, 12),
        [],
        None,
    ),
    (
        "receipt of another referral does not stop the clock",
        [referred(at(2025, 1, 6, 10)), received(at(2025, 1, 6, 12), number="其他〔2025〕9号")],
        at(2025, 1, 7, 10),
        [("receipt-missing", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "forward after 24 hours is late",
        [received(at(2025, 1, 6, 10)), forwarded(at(2025, 1, 7, 11))],
        at(2025, 1, 7, 12),
        [("forward-late", "RESOLVED", "true")],
        COUNTY_PSB,
    ),
    (
        "forward within 24 hours",
        [received(at(2025, 1, 6, 10)), forwarded(at(2025, 1, 6, 20))],
        at(2025, 1, 7, 12),
        [],
        None,
    ),
    (
        "reconsideration asked on day 4 is out of time",
        [decided(at(2025, 1, 10, 9), "NOT_FILED"), reconsideration_requested(at(2025, 1, 14, 9))],
        at(2025, 1, 14, 10),
        [("reconsideration-request-window", "RESOLVED", "true")],
        MARKET,
    ),
    (
        "reconsideration asked on day 3 is in time",
        [decided(at(2025, 1, 10, 9), "NOT_FILED"), reconsideration_requested(at(2025, 1, 13, 9))],
        at(2025, 1, 14, 10),
        [],
        None,
    ),
    (
        "no reconsideration: the window closes quietly",
        [decided(at(2025, 1, 10, 9), "NOT_FILED")],
        at(2025, 2, 14),
        [],
        None,
    ),
    (
        "reconsideration decision overdue",
        [reconsideration_requested(at(2025, 1, 13, 9))],
        at(2025, 1, 17),
        [("reconsideration-decision-overdue", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "supervision suggested after the 3-day window",
        # Wed 15th + 3 days ends Sat 18th, a rest day: the window runs to Mon 20th
        [reconsideration_decided(at(2025, 1, 15, 9), "UPHELD"),
         supervision_requested(at(2025, 1, 21, 9))],
        at(2025, 1, 21, 10),
        [("supervision-request-window", "RESOLVED", "true")],
        MARKET,
    ),
    (
        "a reversed reconsideration starts the hand-over clock, not the supervision window",
        [reconsideration_decided(at(2025, 1, 15, 9), "REVERSED")],
        at(2025, 1, 21),
        [("handover-overdue", "RAISED", None)],
        MARKET,
    ),
    (
        "non-filing reasons overdue after 7 days",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS")],
        at(2025, 1, 18),
        [("non-filing-reasons-overdue", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "the procuratorate's own reply date wins",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS",
                       reply_due=date(2025, 1, 20))],
        at(2025, 1, 18),
        [],
        None,
    ),
    (
        "non-filing reasons explained in time stop the clock",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS",
                       document_number="青检要〔2025〕1号"),
         reasons_explained(at(2025, 1, 15, 9), in_reply_to_document="青检要〔2025〕1号")],
        at(2025, 1, 18),
        [],
        None,
    ),
    (
        "non-filing reasons explained on day 9 are late",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS",
                       document_number="青检要〔2025〕1号"),
         reasons_explained(at(2025, 1, 19, 9), in_reply_to_document="青检要〔2025〕1号")],
        at(2025, 1, 19, 10),
        [("non-filing-reasons-overdue", "RESOLVED", "true")],
        COUNTY_PSB,
    ),
    (
        "an explanation quoting no request is matched by case",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS",
                       document_number="青检要〔2025〕1号"),
         reasons_explained(at(2025, 1, 15, 9))],
        at(2025, 1, 18),
        [],
        None,
    ),
    (
        "an explanation answering another request does not count",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS",
                       document_number="青检要〔2025〕1号"),
         reasons_explained(at(2025, 1, 15, 9), in_reply_to_document="青检要〔2025〕2号")],
        at(2025, 1, 18),
        [("non-filing-reasons-overdue", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "an agency's reply is not the police's explanation",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS",
                       document_number="青检要〔2025〕1号"),
         replied(at(2025, 1, 15, 9), in_reply_to_document="青检要〔2025〕1号")],
        at(2025, 1, 18),
        [("non-filing-reasons-overdue", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "filing the case instead of explaining also ends the duty",
        [prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS"),
         decided(at(2025, 1, 14, 9))],
        at(2025, 1, 18),
        [("handover-overdue", "RAISED", None)],
        MARKET,
    ),
    (
        "filing 20 days after the order to file",
        [prosecutorial(at(2025, 1, 10, 9), "ORDER_FILING"), decided(at(2025, 1, 30, 9))],
        at(2025, 1, 30, 10),
        [("ordered-filing-overdue", "RESOLVED", "true")],
        COUNTY_PSB,
    ),
    (
        "hand-over overdue 3 days after filing",
        [decided(at(2025, 1, 10, 9))],
        at(2025, 1, 14),
        [("handover-overdue", "RAISED", None)],
        MARKET,
    ),
    (
        "hand-over in time",
        [decided(at(2025, 1, 10, 9)), handed_over(at(2025, 1, 13, 9))],
        at(2025, 1, 14),
        [],
        None,
    ),
    (
        "consultation: 3 working days across the Spring Festival",
        [consultation(at(2025, 1, 24, 9))],
        at(2025, 2, 5, 23),
        [],
        None,
    ),
    (
        "consultation unanswered",
        [consultation(at(2025, 1, 24, 9))],
        at(2025, 2, 6),
        [("consultation-unanswered", "RAISED", None)],
        PROCURATORATE,
    ),
    (
        "an answer to another consultation does not count",
        [consultation(at(2025, 1, 24, 9)), consultation_answer(at(2025, 1, 27, 9), "Q-2")],
        at(2025, 2, 6),
        [("consultation-unanswered", "RAISED", None)],
        PROCURATORATE,
    ),
    (
        "a late answer in a complex case is not late",
        [consultation(at(2025, 1, 24, 9)),
         consultation_answer(at(2025, 2, 10, 9), complex_case=True)],
        at(2025, 2, 10, 10),
        [("consultation-unanswered", "RESOLVED", "false")],
        PROCURATORATE,
    ),
    (
        "early intervention unattended",
        [invitation(at(2025, 1, 6, 9))],
        at(2025, 1, 10),
        [("early-intervention-unattended", "RAISED", None)],
        PROCURATORATE,
    ),
    (
        "early intervention attended",
        [invitation(at(2025, 1, 6, 9)), attended(at(2025, 1, 8, 9))],
        at(2025, 1, 10),
        [],
        None,
    ),
    (
        "filed case not concluded after a year",
        # 2026-01-10 is a Saturday: the year ends on Monday the 12th
        [decided(at(2025, 1, 10, 9)), handed_over(at(2025, 1, 11, 9))],
        at(2026, 1, 13),
        [("filed-case-not-concluded-1-year", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "a judgment concludes the case",
        [decided(at(2025, 1, 10, 9)), handed_over(at(2025, 1, 11, 9)),
         judgment(at(2025, 11, 1))],
        at(2026, 1, 11),
        [],
        None,
    ),
    (
        "the transfer for prosecution concludes the police part of the case",
        [decided(at(2025, 1, 10, 9)), handed_over(at(2025, 1, 11, 9)),
         arrest_requested(at(2025, 2, 1, 9)), transferred(at(2025, 6, 3, 9))],
        at(2026, 1, 11),
        [],
        None,
    ),
    (
        "an arrest request alone does not conclude the case",
        [decided(at(2025, 1, 10, 9)), handed_over(at(2025, 1, 11, 9)),
         arrest_requested(at(2025, 2, 1, 9))],
        at(2026, 1, 13),
        [("filed-case-not-concluded-1-year", "RAISED", None)],
        COUNTY_PSB,
    ),
    (
        "a transfer for prosecution entered 5 working days late",
        [transferred(at(2025, 6, 3, 9), recorded=at(2025, 6, 10, 9))],
        at(2025, 6, 10, 10),
        [("entry-late", "RESOLVED", "true")],
        COUNTY_PSB,
    ),
    (
        "recommendation reply after the 2-month period is late",
        [prosecutorial(at(2025, 3, 10, 9), "RECOMMENDATION", target=MARKET,
                       document_number="青检建〔2025〕3号"),
         replied(at(2025, 5, 20, 9), in_reply_to_document="青检建〔2025〕3号")],
        at(2025, 5, 20, 10),
        [("recommendation-unanswered", "RESOLVED", "true")],
        MARKET,
    ),
    (
        "a reply to another recommendation does not count",
        [prosecutorial(at(2025, 3, 10, 9), "RECOMMENDATION", target=MARKET,
                       document_number="青检建〔2025〕3号"),
         replied(at(2025, 4, 20, 9), in_reply_to_document="青检建〔2025〕4号")],
        at(2025, 5, 13),
        [("recommendation-unanswered", "RAISED", None)],
        MARKET,
    ),
    (
        "referral delivered more than 24 hours after approval",
        [referred(at(2025, 1, 7, 10), approved=at(2025, 1, 6, 9)),
         received(at(2025, 1, 7, 11))],
        at(2025, 1, 7, 12),
        [("referral-delivery", "RESOLVED", "true")],
        MARKET,
    ),
]


@pytest.mark.parametrize(("case", "events", "now", "expected", "responsible"), CLOCK_TABLE,
                         ids=[row[0] for row in CLOCK_TABLE])
def test_clock(case: str, events: list[CaseEvent], now: datetime, expected: list,
               responsible: str | None) -> None:
    result = evaluate(events, now)
    assert summary(result) == expected, case
    if responsible is not None:
        first = next(s for s in result.alerts if not s.undoes_early_sweep)
        assert first.alert.responsible_unit_code == responsible


def test_referral_without_filing_for_six_months() -> None:
    events = [referred(at(2025, 1, 6, 10), **ENVIRONMENT_OFFENCE), received(at(2025, 1, 6, 14))]
    result = evaluate(events, at(2025, 7, 8))
    long = only(result, "referral-not-filed-6-months").alert
    assert long.kind.value == "REFERRAL_NOT_FILED_LONG"
    assert long.severity.value == "CRITICAL"
    assert long.responsible_unit_code == COUNTY_PSB
    assert long.due_date == date(2025, 7, 7)  # six months end on Sunday the 6th
    assert long.details["operator_set"] == "true"
    assert summary(evaluate(events, at(2025, 7, 7, 23))) == [
        ("filing-decision-overdue", "RAISED", None)
    ]


def test_unverified_rules_say_so_in_the_alert() -> None:
    events = [prosecutorial(at(2025, 3, 10, 9), "OPINION", target=MARKET)]
    alert = only(evaluate(events, at(2025, 5, 13)), "recommendation-unanswered").alert
    assert alert.details["verified"] == "false"
    assert alert.due_date == date(2025, 5, 12)  # two months end on Saturday the 10th


def test_late_supervision_request_has_its_own_kind() -> None:
    events = [reconsideration_decided(at(2025, 1, 15, 9), "UPHELD"),
              supervision_requested(at(2025, 1, 21, 9))]
    alert = only(evaluate(events, at(2025, 1, 21, 10)), "supervision-request-window").alert
    assert alert.kind.value == "SUPERVISION_REQUEST_OVERDUE"
    assert alert.legal_source == "State Council Decree 310 (rev. 2020) Art. 9"
    assert alert.responsible_unit_code == MARKET


def test_non_filing_explanation_resolves_the_raised_alert() -> None:
    request = prosecutorial(at(2025, 1, 10, 9), "REQUIRE_NON_FILING_REASONS",
                            document_number="青检要〔2025〕1号")
    raised = only(evaluate([request], at(2025, 1, 18)), "non-filing-reasons-overdue").alert
    assert raised.kind.value == "NON_FILING_REASONS_OVERDUE"
    assert raised.due_date == date(2025, 1, 17)
    explanation = reasons_explained(at(2025, 1, 20, 9), in_reply_to_document="青检要〔2025〕1号")
    resolved = only(evaluate([request, explanation], at(2025, 1, 20, 10)),
                    "non-filing-reasons-overdue").alert
    assert resolved.alert_id == raised.alert_id
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.resolved_by_event_id == explanation.event_id
    assert resolved.details["late"] == "true"


def test_a_sweep_ahead_of_a_backfill_is_undone_by_the_timely_act() -> None:
    """A backfill: the wall-clock sweep raised the alert before the hub read a decision that
    was made and recorded in time; the decision resolves it (not late), nothing else."""
    raised = only(evaluate(NON_ECONOMIC, at(2026, 11, 21)), "filing-decision-overdue").alert
    assert raised.status is AlertStatus.RAISED
    timely = decided(at(2025, 1, 8, 9), "NOT_FILED", recorded=at(2025, 1, 8, 10))
    result = evaluate([*NON_ECONOMIC, timely], at(2026, 11, 21))
    assert "filing-decision-overdue" not in [a.rule_id for a in result.changes({})]
    changes = result.changes({raised.alert_id: snapshot_of(raised)})
    resolved = next(a for a in changes if a.rule_id == "filing-decision-overdue")
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.alert_id == raised.alert_id
    assert resolved.details["late"] == "false"


def test_an_alert_of_a_rule_that_stops_applying_is_withdrawn() -> None:
    """The police receipt is read before the referral naming an economic crime: the general
    3-day rule raises first; once the referral is read the economic rule applies instead
    and the general alert is withdrawn, not left open for ever."""
    receipt = received(at(2025, 1, 6, 14))
    now = at(2025, 1, 10)
    first = evaluate([receipt], now)
    general = only(first, "filing-decision-overdue")
    assert general.alert.status is AlertStatus.RAISED
    emitted = {general.alert_id: snapshot_of(general.alert)}

    later = evaluate([referred(at(2025, 1, 6, 10)), receipt], now)
    changes = alert_changes(emitted, later.alerts)
    withdrawn = [a for a in changes if a.rule_id == "filing-decision-overdue"]
    assert len(withdrawn) == 1
    assert withdrawn[0].alert_id == general.alert_id
    assert withdrawn[0].status is AlertStatus.RESOLVED
    assert withdrawn[0].details["withdrawn"] == "offence_category"
    assert "withdrawn" in withdrawn[0].message
    # Never emitted for a case where the general rule never raised anything.
    assert not [a for a in alert_changes({}, later.alerts)
                if a.rule_id == "filing-decision-overdue"]


def test_the_alerts_of_a_filing_decision_taken_out_of_the_case_are_withdrawn() -> None:
    """A filing decision matched by the party alone is taken out of the case when a later
    referral of the same party is read (FeedbackMatchWithdrawn). The clocks it started
    (hand-over 3 days, the one-year investigation) go with it; the alerts they raised are
    resolved as withdrawn, not left open on a case the decision no longer belongs to."""
    filing = decided(at(2025, 1, 8, 9))
    case = [referred(at(2025, 1, 6, 10), **ENVIRONMENT_OFFENCE), received(at(2025, 1, 6, 14)),
            filing]
    now = at(2026, 3, 1)
    before = evaluate(case, now)
    raised = {a.rule_id: a for a in before.changes({}) if a.status is AlertStatus.RAISED}
    assert {"handover-overdue", "filed-case-not-concluded-1-year"} <= set(raised), summary(before)
    emitted = {a.alert_id: snapshot_of(a) for a in before.changes({})}

    after = evaluate_case(
        case[:2], now, rules=load_deadlines(), thresholds=load_thresholds(),
        violation_offences=load_violation_offences(), hub_unit_code=HUB_UNIT,
        calendar=WorkingDayCalendar(), emitted=emitted, withdrawn_events=[filing])
    changes = {a.rule_id: a for a in after.changes(emitted)}
    for rule_id in ("handover-overdue", "filed-case-not-concluded-1-year"):
        withdrawn = changes[rule_id]
        assert (withdrawn.alert_id, withdrawn.status) == (raised[rule_id].alert_id,
                                                          AlertStatus.RESOLVED)
        assert withdrawn.details["withdrawn"] == "feedback_match"
        assert "withdrawn" in withdrawn.message
    # The filing clock the decision had stopped runs again, and is overdue by now.
    assert changes["filing-decision-overdue"].status is AlertStatus.RAISED
    # Nothing is withdrawn that was never raised, and without the withdrawn decision the
    # evaluation is the plain one.
    assert not [a for a in after.changes({}) if a.details.get("withdrawn")]
    plain = evaluate(case[:2], now, emitted=emitted)
    assert {a.alert_id for a in plain.changes(emitted)} == {
        a.alert_id for a in after.changes(emitted)} - {
        raised["handover-overdue"].alert_id,
        raised["filed-case-not-concluded-1-year"].alert_id}


def test_given_the_emitted_ids_only_news_is_built_and_the_changes_are_the_same() -> None:
    """``emitted`` leaves out resolutions of alerts never emitted (a clock stopped in time,
    a rule withdrawn) without changing what is emitted, with or without a raised alert."""
    timely = decided(at(2025, 1, 8, 9), "NOT_FILED", recorded=at(2025, 1, 8, 10))
    raised = only(evaluate(NON_ECONOMIC, at(2026, 11, 21)), "filing-decision-overdue").alert
    receipt = received(at(2025, 1, 6, 14))
    general = only(evaluate([receipt], at(2025, 1, 10)), "filing-decision-overdue").alert
    cases = [
        ([*NON_ECONOMIC, timely], at(2026, 11, 21), {}),
        ([*NON_ECONOMIC, timely], at(2026, 11, 21), {raised.alert_id: snapshot_of(raised)}),
        ([referred(at(2025, 1, 6, 10)), receipt], at(2025, 1, 10), {}),
        ([referred(at(2025, 1, 6, 10)), receipt], at(2025, 1, 10),
         {general.alert_id: snapshot_of(general)}),
    ]
    for events, now, previous in cases:
        full = evaluate(events, now)
        lean = evaluate(events, now, emitted=previous)
        assert lean.changes(previous) == full.changes(previous)
        assert lean.open_clocks == full.open_clocks
        assert lean.next_check_at == full.next_check_at
        if not previous:
            assert len(lean.alerts) < len(full.alerts)  # the never-emitted ones not built
