"""Monthly figures per unit: counted once, late entries, feedback rate, days to decision."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hub.calendar import WorkingDayCalendar
from hub.identity import case_id_for
from hub.models import CaseEvent
from streams.stats_facts import decode_facts, encode_facts, fact_of
from streams.stats_logic import StatsAccumulator, month_of
from streams.stats_store import MemoryCaseStats
from tests.unit.data.case_events import (
    COUNTY_PSB,
    HUB_UNIT,
    MARKET,
    PROCURATORATE,
    alert_event,
    arrest_requested,
    at,
    decided,
    penalty,
    reasons_explained,
    received,
    referred,
    transferred,
)

CASE_A = case_id_for(MARKET, "青市监罚〔2025〕11号")
CASE_B = case_id_for(MARKET, "青市监罚〔2025〕12号")
CASE_C = case_id_for(MARKET, "青市监罚〔2025〕13号")
NOW = at(2025, 3, 1, 12)

PENALTY_A = penalty(at(2025, 1, 6, 10), case_id=CASE_A, recorded=at(2025, 1, 7, 9))
PENALTY_B_LATE = penalty(at(2025, 1, 6, 10), case_id=CASE_B, recorded=at(2025, 1, 10, 9))
PENALTY_C_SUMMARY_LATE = penalty(at(2025, 1, 6, 10), case_id=CASE_C, procedure="SUMMARY",
                                 recorded=at(2025, 2, 10, 9))
PENALTY_A_CORRECTED = penalty(at(2025, 1, 6, 10), case_id=CASE_A, recorded=at(2025, 1, 20),
                              turnover_fen=1, event_id="3a5e1d8c-0c55-5b6b-8f5e-6c1a9d2f0e11")
REFERRAL_A = referred(at(2025, 1, 6, 10), case_id=CASE_A, number="移A")
REFERRAL_B = referred(at(2025, 1, 10, 10), case_id=CASE_B, number="移B")
RECEIPT_A = received(at(2025, 1, 6, 15), case_id=CASE_A, number="移A")
RECEIPT_B = received(at(2025, 1, 10, 15), case_id=CASE_B, number="移B")
DECISION_A = decided(at(2025, 1, 9, 10), case_id=CASE_A, police_case_number="立A")
DECISION_B = decided(at(2025, 2, 3, 10), case_id=CASE_B, police_case_number="立B")

ALL = [PENALTY_A, PENALTY_B_LATE, PENALTY_C_SUMMARY_LATE, PENALTY_A_CORRECTED, REFERRAL_A,
       REFERRAL_B, RECEIPT_A, RECEIPT_B, DECISION_A, DECISION_B]


def figures(accumulator: StatsAccumulator, unit: str, month: str) -> dict:
    stats = accumulator.stats(unit, month, hub_unit_code=HUB_UNIT, now=NOW)
    return {
        "entered": stats.penalty_cases_entered,
        "late": stats.penalty_cases_entered_late,
        "referrals": stats.referrals,
        "receipts": stats.receipts,
        "decisions": stats.filing_decisions,
        "alerts": stats.alerts_raised,
        "feedback": stats.feedback_rate,
        "median": stats.median_days_to_decision,
    }


def fed(events: list[CaseEvent]) -> StatsAccumulator:
    accumulator = StatsAccumulator(calendar=WorkingDayCalendar())
    accumulator.add_all(events)
    return accumulator


EXPECTED = [
    (MARKET, "2025-01", {"entered": 3, "late": 1, "referrals": 2, "receipts": 0,
                         "decisions": 0, "alerts": 0, "feedback": 1.0, "median": None}),
    (COUNTY_PSB, "2025-01", {"entered": 0, "late": 0, "referrals": 0, "receipts": 2,
                             "decisions": 1, "alerts": 0, "feedback": 1.0, "median": 3.0}),
    (COUNTY_PSB, "2025-02", {"entered": 0, "late": 0, "referrals": 0, "receipts": 0,
                             "decisions": 1, "alerts": 0, "feedback": None, "median": 24.0}),
    (MARKET, "2025-02", {"entered": 0, "late": 0, "referrals": 0, "receipts": 0,
                         "decisions": 0, "alerts": 0, "feedback": None, "median": None}),
]


@pytest.mark.parametrize(("unit", "month", "expected"), EXPECTED)
def test_monthly_figures(unit: str, month: str, expected: dict) -> None:
    assert figures(fed(ALL), unit, month) == expected


def test_every_event_counts_once() -> None:
    accumulator = fed(ALL)
    assert accumulator.add_all(ALL) == frozenset()
    assert figures(accumulator, MARKET, "2025-01") == EXPECTED[0][2]


def test_order_does_not_matter() -> None:
    backwards = fed(list(reversed(ALL)))
    for unit, month, expected in EXPECTED:
        assert figures(backwards, unit, month) == expected


def test_feedback_rate_grows_with_decisions() -> None:
    accumulator = fed([REFERRAL_A, REFERRAL_B])
    assert figures(accumulator, MARKET, "2025-01")["feedback"] == 0.0
    assert accumulator.add(DECISION_A) == frozenset({(COUNTY_PSB, "2025-01"),
                                                     (MARKET, "2025-01")})
    assert figures(accumulator, MARKET, "2025-01")["feedback"] == 0.5


def test_days_to_decision_when_the_referral_arrives_after_the_decision() -> None:
    accumulator = fed([DECISION_A])
    assert figures(accumulator, COUNTY_PSB, "2025-01")["median"] is None
    accumulator.add(RECEIPT_A)  # only the receipt: counted from it
    assert figures(accumulator, COUNTY_PSB, "2025-01")["median"] == 2.79
    accumulator.add(REFERRAL_A)  # the referral wins
    assert figures(accumulator, COUNTY_PSB, "2025-01")["median"] == 3.0


def test_alerts_count_once_per_alert_and_only_when_raised() -> None:
    events = [
        alert_event(at(2025, 1, 10), "alert-1"),
        alert_event(at(2025, 1, 17), "alert-1"),  # escalated: new event, same alert
        alert_event(at(2025, 1, 20), "alert-1", "RESOLVED"),
        alert_event(at(2025, 1, 21), "alert-2"),
    ]
    assert figures(fed(events), COUNTY_PSB, "2025-01")["alerts"] == 2


def _restored(accumulator: StatsAccumulator) -> StatsAccumulator:
    """As the engine restores it: the counters and tracker from the snapshot, over the
    store the cases were written to (a copy, so the original cannot leak through)."""
    accumulator.write_cases()
    assert isinstance(accumulator.cases, MemoryCaseStats)
    return StatsAccumulator.from_dict(json.loads(json.dumps(accumulator.to_dict())),
                                      calendar=WorkingDayCalendar(),
                                      cases=MemoryCaseStats(dict(accumulator.cases.data)))


def test_state_survives_a_table() -> None:
    accumulator = fed(ALL[:6])
    restored = _restored(accumulator)
    assert restored.add_all(ALL[:6]) == frozenset()
    restored.add_all(ALL[6:])
    for unit, month, expected in EXPECTED:
        assert figures(restored, unit, month) == expected
    assert restored.keys() == fed(ALL).keys()


def test_stats_event() -> None:
    accumulator = fed(ALL)
    event = accumulator.stats(MARKET, "2025-01", hub_unit_code=HUB_UNIT, now=NOW)
    assert event.unit_code == MARKET
    assert event.month == "2025-01"
    assert event.case_id == case_id_for(MARKET, "stats:2025-01")
    assert event.source_unit == HUB_UNIT
    assert event.occurred_at == at(2025, 2, 1)
    again = accumulator.stats(MARKET, "2025-01", hub_unit_code=HUB_UNIT, now=at(2025, 3, 2))
    assert again.event_id == event.event_id
    accumulator.add(penalty(at(2025, 1, 31, 10), case_id=case_id_for(MARKET, "新")))
    changed = accumulator.stats(MARKET, "2025-01", hub_unit_code=HUB_UNIT, now=NOW)
    assert changed.event_id != event.event_id
    running = accumulator.stats(MARKET, "2025-03", hub_unit_code=HUB_UNIT, now=NOW)
    assert running.occurred_at == NOW


@pytest.mark.parametrize(
    ("moment", "month"),
    [(at(2025, 1, 31, 23, 30), "2025-01"), (at(2025, 2, 1), "2025-02")],
)
def test_month_of_counts_china_time(moment: datetime, month: str) -> None:
    assert month_of(moment) == month
    assert month_of(moment.astimezone(UTC)) == month


# --- police steps after the filing decision ---------------------------------------------

ARREST_A = arrest_requested(at(2025, 2, 10, 10), case_id=CASE_A)
# A corrected record: the police fixed the request time; new event id, same document.
ARREST_A_CORRECTED = arrest_requested(at(2025, 2, 10, 11), case_id=CASE_A,
                                      recorded=at(2025, 2, 12, 9))
ARREST_A_SECOND = arrest_requested(at(2025, 2, 20, 10), case_id=CASE_A,
                                   document_number="青公提捕〔2025〕5号")
TRANSFER_A = transferred(at(2025, 3, 3, 10), case_id=CASE_A)
EXPLAINED_B = reasons_explained(at(2025, 2, 14, 10), case_id=CASE_B,
                                in_reply_to_document="青检要〔2025〕1号")


def police_steps(accumulator: StatsAccumulator, unit: str, month: str) -> tuple[int, int, int]:
    stats = accumulator.stats(unit, month, hub_unit_code=HUB_UNIT, now=NOW)
    return (stats.arrest_requests, stats.transfers_for_prosecution,
            stats.non_filing_explanations)


POLICE_STEP_TABLE = [
    ("one arrest request", [ARREST_A], COUNTY_PSB, "2025-02", (1, 0, 0)),
    ("a corrected record of the same request counts once", [ARREST_A, ARREST_A_CORRECTED],
     COUNTY_PSB, "2025-02", (1, 0, 0)),
    ("a second request with its own document counts", [ARREST_A, ARREST_A_SECOND],
     COUNTY_PSB, "2025-02", (2, 0, 0)),
    ("the transfer counts in its own month", [ARREST_A, TRANSFER_A], COUNTY_PSB, "2025-03",
     (0, 1, 0)),
    ("an explained non-filing", [EXPLAINED_B], COUNTY_PSB, "2025-02", (0, 0, 1)),
    ("police steps are not counted for the procuratorate they address",
     [ARREST_A, TRANSFER_A, EXPLAINED_B], PROCURATORATE, "2025-02", (0, 0, 0)),
    ("nor for the agency", [ARREST_A, TRANSFER_A, EXPLAINED_B], MARKET, "2025-02", (0, 0, 0)),
]


@pytest.mark.parametrize(("case", "events", "unit", "month", "expected"), POLICE_STEP_TABLE,
                         ids=[row[0] for row in POLICE_STEP_TABLE])
def test_police_steps(case: str, events: list[CaseEvent], unit: str, month: str,
                      expected: tuple[int, int, int]) -> None:
    assert len({e.event_id for e in events}) == len(events)
    assert police_steps(fed(events), unit, month) == expected, case
    assert police_steps(fed(events[::-1]), unit, month) == expected, case


def test_police_steps_do_not_change_the_earlier_figures() -> None:
    accumulator = fed([*ALL, ARREST_A, TRANSFER_A, EXPLAINED_B])
    for unit, month, expected in EXPECTED:
        assert figures(accumulator, unit, month) == expected


def test_a_later_police_step_is_feedback_even_without_the_decision() -> None:
    accumulator = fed([REFERRAL_A, REFERRAL_B, RECEIPT_A])
    assert figures(accumulator, MARKET, "2025-01")["feedback"] == 0.0
    assert accumulator.add(TRANSFER_A) == frozenset({(COUNTY_PSB, "2025-03"),
                                                     (MARKET, "2025-01"),
                                                     (COUNTY_PSB, "2025-01")})
    assert figures(accumulator, MARKET, "2025-01")["feedback"] == 0.5
    assert figures(accumulator, COUNTY_PSB, "2025-01")["feedback"] == 1.0
    assert figures(accumulator, COUNTY_PSB, "2025-03")["decisions"] == 0
    assert figures(accumulator, COUNTY_PSB, "2025-01")["median"] is None
    accumulator.add(EXPLAINED_B)  # a non-filing explained: the police did decide
    assert figures(accumulator, MARKET, "2025-01")["feedback"] == 1.0


def test_police_steps_survive_a_table() -> None:
    accumulator = fed([ARREST_A, EXPLAINED_B])
    restored = _restored(accumulator)
    assert restored.add_all([ARREST_A, ARREST_A_CORRECTED]) == frozenset()
    restored.add(TRANSFER_A)
    assert police_steps(restored, COUNTY_PSB, "2025-02") == (1, 0, 1)
    assert police_steps(restored, COUNTY_PSB, "2025-03") == (0, 1, 0)


def test_a_snapshot_of_the_first_format_is_refused() -> None:
    """Every case on the heap: the engine counts its feed again instead of loading it."""
    old = {"buckets": [], "items": {}, "referral_times": {}, "receipt_times": {},
           "decided": [], "penalty_first": {}, "decisions": {}, "entry_working_days": 3}
    with pytest.raises(ValueError, match="older format"):
        StatsAccumulator.from_dict(old, calendar=WorkingDayCalendar())


def test_the_cases_live_in_the_store_not_in_the_snapshot() -> None:
    accumulator = fed(ALL)
    accumulator.write_cases()
    assert isinstance(accumulator.cases, MemoryCaseStats)
    assert len([key for key in accumulator.cases.data if key.startswith(b"c|")]) == 3
    # The missing-entry tracker keeps the referrals entered and their cases there too:
    # the snapshot names no referral that was entered.
    assert any(key.startswith(b"m|e|") for key in accumulator.cases.data)
    snapshot = json.dumps(accumulator.to_dict(), ensure_ascii=False)
    assert "移A" not in snapshot and "移B" not in snapshot


def test_the_median_from_the_histogram_is_statistics_median() -> None:
    import random
    import statistics
    rng = random.Random(7)
    for size in range(1, 40):
        days = [round(rng.uniform(0, 60), 2) if rng.random() < 0.7 else float(rng.randint(0, 5))
                for _ in range(size)]
        accumulator = StatsAccumulator(calendar=WorkingDayCalendar())
        bucket = accumulator._bucket(COUNTY_PSB, "2025-01")
        for value in days:
            bucket.add_days(value, 1)
        assert bucket.median_days() == statistics.median(days), days


def _through_the_feed(events: list[CaseEvent]) -> StatsAccumulator:
    """Fed as the engine feeds it: facts taken from the events, sent as one record."""
    accumulator = StatsAccumulator(calendar=WorkingDayCalendar())
    for fact in decode_facts(encode_facts([fact_of(event) for event in events])):
        accumulator.add_fact(fact)
    return accumulator


STEPS = [arrest_requested(at(2025, 1, 12), case_id=CASE_A, document_number="捕A"),
         transferred(at(2025, 1, 20), case_id=CASE_B, document_number="诉B"),
         reasons_explained(at(2025, 2, 4), case_id=CASE_C, document_number="说C"),
         alert_event(at(2025, 1, 10), "alert-1"),
         alert_event(at(2025, 1, 20), "alert-1", "RESOLVED")]


def test_the_feed_s_facts_count_as_the_events_do() -> None:
    events = [*ALL, *STEPS]
    direct, fed_facts = fed(events), _through_the_feed(events)
    counted = direct.keys()
    assert fed_facts.keys() == counted and counted
    for unit, month in counted:
        assert (fed_facts.stats(unit, month, hub_unit_code=HUB_UNIT, now=NOW)
                == direct.stats(unit, month, hub_unit_code=HUB_UNIT, now=NOW))
    assert fed_facts.to_dict() == direct.to_dict()


def test_a_fact_keeps_its_instants_and_the_entry_start() -> None:
    (fact,) = decode_facts(encode_facts([fact_of(PENALTY_B_LATE)]))
    assert fact == fact_of(PENALTY_B_LATE)
    assert fact.occurred_at == PENALTY_B_LATE.occurred_at
    assert fact.entry_started_at == PENALTY_B_LATE.occurred_at  # no 送达/生效 date given
    assert fact.occurred_at.utcoffset() is not None


@pytest.mark.parametrize("value", [b"{}", b"[1, 2]", b"[[\"Alert\"]]", b"not json",
                                   b"[[\"Alert\",\"c\",\"e\",\"u\",\"2025-01-01T00:00:00\","
                                   b"\"2025-01-01T00:00:00\",null,false,null,null,null,"
                                   b"null,null,null,null,false,null]]"])
def test_a_record_that_is_not_a_batch_of_facts_is_refused(value: bytes) -> None:
    with pytest.raises((ValueError, TypeError)):
        decode_facts(value)
