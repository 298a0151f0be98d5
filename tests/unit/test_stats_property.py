"""Property test of the statistics: any order, any restore point, the same figures.

The accumulator keeps each case's counted items in a key-value store and only counters on
the heap, and the engine restores it from a snapshot that may be older than the store,
then re-reads the feed. These tests check its figures against a reference computed from
scratch from the set of events by the rules in :mod:`streams.stats_logic`'s docstring,
for shuffled orders, duplicates, restores mid-stream and the facts' JSON round trip.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.calendar import default_calendar
from hub.identity import case_id_for
from hub.models import (
    Alert,
    AlertStatus,
    ArrestRequested,
    CaseEvent,
    CaseReferred,
    FilingDecided,
    NonFilingReasonsExplained,
    PenaltyCaseRecorded,
    PenaltyProcedure,
    ReferralReceived,
    TransferredForProsecution,
)
from streams.deadline_logic import is_entered_late
from streams.stats_facts import decode_facts, encode_facts, fact_of
from streams.stats_logic import BUCKET_PREFIX, StatsAccumulator, month_of
from streams.stats_store import MemoryCaseStats
from tests.unit.data.case_events import (
    COUNTY_PSB,
    FOREST_POLICE,
    HUB_UNIT,
    MARKET,
    TAX,
    TOBACCO,
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

AGENCIES = (MARKET, TOBACCO, TAX)
POLICE = (COUNTY_PSB, FOREST_POLICE)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FIELDS = ("penalty_cases_entered", "penalty_cases_entered_late", "referrals", "receipts",
          "filing_decisions", "alerts_raised", "feedback_rate", "median_days_to_decision",
          "arrest_requests", "transfers_for_prosecution", "non_filing_explanations")
STEPS = {ArrestRequested: "arrest_requests", TransferredForProsecution:
         "transfers_for_prosecution", NonFilingReasonsExplained: "non_filing_explanations"}


def _moment(rng: random.Random) -> datetime:
    """An instant in Jan–Apr 2025, China time, month edges included."""
    start = at(2025, 1, 1)
    return start + timedelta(hours=rng.randrange(0, 24 * 120), minutes=rng.choice((0, 30)))


def _history(rng: random.Random, number: int) -> list[CaseEvent]:
    """One case's events: penalty (+ corrected re-entries), referrals, receipts, decisions,
    police steps and alerts; some duplicated (a replay)."""
    agency = rng.choice(AGENCIES)
    decision_number = f"青罚〔2025〕{number}号"
    case = case_id_for(agency, decision_number)
    events: list[CaseEvent] = []
    if rng.random() < 0.8:
        recorded_hours = rng.sample(range(1, 24 * 12), rng.choice((1, 1, 2, 3)))
        for entry, hours in enumerate(recorded_hours):
            occurred = _moment(rng) if entry == 0 or rng.random() < 0.3 else events[0].occurred_at
            events.append(penalty(
                occurred, recorded=occurred + timedelta(hours=hours), case_id=case, unit=agency,
                event_id=f"{case}-penalty-{entry}", decision_number=decision_number,
                procedure=rng.choice(("GENERAL", "GENERAL", "SUMMARY"))))
    for referral in range(rng.choice((0, 1, 1, 2))):
        events.append(referred(_moment(rng), case_id=case, unit=agency,
                               number=f"青移〔2025〕{number}-{referral}号"))
    for police in rng.sample(POLICE, rng.choice((0, 1, 1, 2))):
        events.append(received(_moment(rng), case_id=case, police=police, agency=agency))
    for item in range(rng.choice((0, 0, 1, 1, 2))):
        events.append(decided(_moment(rng), rng.choice(("FILED", "NOT_FILED")), case_id=case,
                              police=rng.choice(POLICE), police_case_number=f"公{item}"))
    for step in range(rng.choice((0, 0, 1, 2))):
        builder = rng.choice((arrest_requested, transferred, reasons_explained))
        document = None if step == 0 and rng.random() < 0.5 else f"文{step}"
        events.append(builder(_moment(rng), case_id=case, police=rng.choice(POLICE),
                              document_number=document))
    for alert in range(rng.choice((0, 0, 1, 2))):
        alert_id = f"{case}-alert-{alert}"
        raised_at = _moment(rng)
        responsible = rng.choice(POLICE + AGENCIES)
        if rng.random() < 0.8:
            events.append(alert_event(raised_at, alert_id, case_id=case, responsible=responsible))
        if rng.random() < 0.5:
            events.append(alert_event(raised_at + timedelta(days=3), alert_id, "RESOLVED",
                                      case_id=case, responsible=responsible))
    events += [rng.choice(events) for _ in range(rng.choice((0, 1, 2)))] if events else []
    # The same item sent again with another date (a corrected export, an alert raised
    # again after a restore): a new event id, the same referral, receipt, decision, step
    # or alert. Its earliest copy decides the month.
    again = [event for event in events if not isinstance(event, PenaltyCaseRecorded)]
    for copy in range(rng.choice((0, 0, 1, 2)) if again else 0):
        original = rng.choice(again)
        moved = original.occurred_at + timedelta(days=rng.randrange(-40, 41))
        events.append(original.model_copy(update={
            "event_id": f"{original.event_id}-again-{copy}", "occurred_at": moved,
            "recorded_at": moved + timedelta(hours=1)}))
    return events


def _events(rng: random.Random) -> list[CaseEvent]:
    events = [event for number in range(rng.randrange(3, 12))
              for event in _history(rng, number)]
    rng.shuffle(events)
    return events


def _days(start: datetime, end: datetime) -> float:
    return max(round((end - start).total_seconds() / 86400, 2), 0.0)


def _earliest_by(events: list[CaseEvent], kinds: type[Any] | tuple[type[Any], ...],
                 item: Callable[[Any], Any]) -> dict[Any, Any]:
    """Per item, its earliest copy (occurred at, then event id)."""
    chosen: dict[Any, Any] = {}
    for event in sorted((e for e in events if isinstance(e, kinds)),
                        key=lambda e: (e.occurred_at, e.event_id), reverse=True):
        chosen[item(event)] = event
    return chosen


def reference(events: list[CaseEvent]) -> dict[tuple[str, str], dict[str, Any]]:
    """The figures from scratch, from the set of events (order and duplicates ignored)."""
    by_case: dict[str, list[CaseEvent]] = defaultdict(list)
    for event in {event.model_dump_json(): event for event in events}.values():
        by_case[event.case_id].append(event)
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: dict[tuple[str, str], list[float]] = defaultdict(list)
    tracked: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for case_events in by_case.values():
        penalties = [e for e in case_events if isinstance(e, PenaltyCaseRecorded)]
        if penalties:
            # the first entry decides; entries recorded at one instant: the least event id
            first = min(penalties, key=lambda e: (e.recorded_at, e.event_id))
            key = (first.source_unit, month_of(first.occurred_at))
            counts[key]["penalty_cases_entered"] += 1
            counts[key]["penalty_cases_entered_late"] += int(
                first.procedure is not PenaltyProcedure.SUMMARY and is_entered_late(
                    first.occurred_at, first.recorded_at, working_days=3,
                    calendar=default_calendar()))
        referrals = _earliest_by(case_events, CaseReferred, lambda e: e.referral_number)
        receipts = _earliest_by(case_events, ReferralReceived, lambda e: e.source_unit)
        decisions = _earliest_by(case_events, FilingDecided,
                                 lambda e: (e.decision, e.police_case_number))
        steps = _earliest_by(case_events, tuple(STEPS),
                             lambda e: (STEPS[type(e)], getattr(e, "document_number", None)))
        has_feedback = bool(decisions or steps)
        items: list[tuple[str, CaseEvent]] = [("referrals", e) for e in referrals.values()]
        items += [("receipts", e) for e in receipts.values()]
        for figure, item in items:
            key = (item.source_unit, month_of(item.occurred_at))
            counts[key][figure] += 1
            tracked[key].append(has_feedback)
        starts = [e.occurred_at for e in referrals.values()] or \
            [e.occurred_at for e in receipts.values()]
        for decision in decisions.values():
            key = (decision.source_unit, month_of(decision.occurred_at))
            counts[key]["filing_decisions"] += 1
            if starts:
                days[key].append(_days(min(starts), decision.occurred_at))
        for (figure, _), step in steps.items():
            counts[(step.source_unit, month_of(step.occurred_at))][figure] += 1
        raised = _earliest_by([e for e in case_events if isinstance(e, Alert)
                               and e.status is AlertStatus.RAISED], Alert,
                              lambda e: e.alert_id)
        for alert in raised.values():
            unit = alert.responsible_unit_code or ""
            counts[(unit, month_of(alert.occurred_at))]["alerts_raised"] += 1
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    for key in set(counts) | set(days) | set(tracked):
        row: dict[str, Any] = {name: counts[key][name] for name in FIELDS
               if name not in ("feedback_rate", "median_days_to_decision")}
        decided_items = tracked[key]
        row["feedback_rate"] = (round(sum(decided_items) / len(decided_items), 4)
                                if decided_items else None)
        row["median_days_to_decision"] = statistics.median(days[key]) if days[key] else None
        figures[key] = row
    return figures


def figures_of(stats: StatsAccumulator, keys: set[tuple[str, str]]
               ) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stats() field of ``keys``; keys with nothing counted left out."""
    result = {}
    for unit, month in keys:
        dumped = stats.stats(unit, month, hub_unit_code=HUB_UNIT, now=NOW).model_dump()
        row = {name: dumped[name] for name in FIELDS}
        if any(value not in (0, None) for value in row.values()):
            result[(unit, month)] = row
    return result


def _batch(stats: StatsAccumulator, store: MemoryCaseStats, events: list[CaseEvent]) -> None:
    """One engine batch (streams/engine/statistics.py count + finish): facts through their
    record, then the changed cases and the changed keys' counters written to the store."""
    changed: set[tuple[str, str]] = set()
    for fact in decode_facts(encode_facts([fact_of(event) for event in events])):
        changed |= stats.add_fact(fact)
    stats.write_cases()
    for key, value in stats.bucket_records(changed):
        store.put(key, value)


def _restore(snapshot: bytes, store: MemoryCaseStats) -> StatsAccumulator:
    """As the engine's load(): the snapshot over a copy of the store, then its counters."""
    copy = MemoryCaseStats(dict(store.data))
    stats = StatsAccumulator.from_dict(orjson.loads(snapshot), cases=copy)
    stats.load_buckets(sorted((key, value) for key, value in copy.data.items()
                              if key.startswith(BUCKET_PREFIX)))
    return stats


PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.integers(0, 2**32 - 1))
def test_figures_equal_the_reference_in_any_order(seed: int) -> None:
    rng = random.Random(seed)
    events = _events(rng)
    expected = reference(events)
    stats = StatsAccumulator()
    stats.add_all(events)
    assert figures_of(stats, set(expected) | set(stats.keys())) == expected
    rng.shuffle(events)
    again = StatsAccumulator()
    again.add_all(events + events[: len(events) // 2])  # a replay of part of the feed
    assert figures_of(again, set(expected) | set(again.keys())) == expected


@PROPERTY
@given(st.integers(0, 2**32 - 1))
def test_restore_from_an_older_snapshot_then_replay_gives_the_same_figures(seed: int) -> None:
    rng = random.Random(seed)
    events = _events(rng)
    expected = reference(events)
    cuts = sorted(rng.sample(range(1, len(events)), min(4, len(events) - 1)))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    snapshot_after = rng.randrange(0, len(batches))  # batches counted by the snapshot
    crash_after = rng.randrange(snapshot_after, len(batches) + 1)  # in the store
    store = MemoryCaseStats()
    stats = StatsAccumulator(cases=store)
    snapshot = orjson.dumps(stats.to_dict(), default=str)
    for number, batch in enumerate(batches[:crash_after]):
        _batch(stats, store, batch)
        if number + 1 == snapshot_after:
            snapshot = orjson.dumps(stats.to_dict(), default=str)
    restored = _restore(snapshot, store)
    for batch in batches[snapshot_after:]:
        _batch(restored, restored.cases, batch)  # type: ignore[arg-type]
    assert figures_of(restored, set(expected) | set(restored.keys())) == expected
    straight = StatsAccumulator()
    straight.add_all(events)
    assert restored.missing.to_dict() == straight.missing.to_dict()


@PROPERTY
@given(st.integers(0, 2**32 - 1))
def test_a_fact_through_its_record_counts_as_the_event(seed: int) -> None:
    events = _events(random.Random(seed))
    by_event, by_fact = StatsAccumulator(), StatsAccumulator()
    for event in events:
        fact = fact_of(event)
        [decoded] = decode_facts(encode_facts([fact]))
        assert decoded == fact
        assert month_of(decoded.occurred_at) == month_of(event.occurred_at)
        assert by_fact.add_fact(decoded) == by_event.add(event)
    keys = set(by_event.keys()) | set(by_fact.keys())
    assert figures_of(by_fact, keys) == figures_of(by_event, keys)
    assert by_fact.to_dict() == by_event.to_dict()


def test_entries_recorded_at_one_instant_count_the_same_in_either_order() -> None:
    """A corrected row in the same export as the first (same recorded time): which
    decides lateness must not depend on which the feed carried first."""
    recorded = at(2025, 3, 30, 2)
    early = penalty(at(2025, 3, 25, 5), recorded=recorded, event_id="a-entry")  # late
    fixed = penalty(at(2025, 3, 27, 15), recorded=recorded, event_id="b-entry")  # in time
    figures = []
    for order in ([early, fixed], [fixed, early]):
        stats = StatsAccumulator()
        stats.add_all(order)
        figures.append(figures_of(stats, set(stats.keys())))
    assert figures[0] == figures[1] == reference([early, fixed])


def test_a_fact_of_the_right_shape_but_a_wrong_field_type_is_refused() -> None:
    """Refused at decoding (the engine dead-letters it), not inside the accumulator."""
    row = list(fact_of(referred(at(2025, 1, 3))))
    for position, bad in ((1, None), (3, 7), (7, "yes"), (9, ["青移"]), (6, "2025-01-03")):
        broken = [*row[:position], bad, *row[position + 1:]]
        value = orjson.dumps([broken], default=str)
        with pytest.raises((TypeError, ValueError), match="fact"):
            decode_facts(value)
