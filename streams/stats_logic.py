"""Statistics, pure part: per unit and month, the figures of the 通报 and the annual 考核.

Counted per unit (统一社会信用代码) and China month of the legal decision:

- penalty cases entered, and entered late (more than 3 working days after the decision);
- referrals made (agencies) and receipts signed (police);
- filing decisions (police), with the median days from referral to decision;
- alerts raised against the unit;
- the police's later steps: arrest approval requests, transfers for prosecution, and
  non-filing reasons explained to the procuratorate;
- feedback rate: the share of the month's referrals (agency) or receipts (police) that
  have a filing decision so far. A later police step (arrest request, transfer, an
  explained non-filing) proves a decision was made even when the decision itself never
  reached the hub, so it counts as feedback too (but adds no days-to-decision figure).

The same feed also feeds the missing-entry tracker
(:class:`~streams.missing_entry_logic.MissingEntryTracker`): a unit's decision dates and
numbers, referrals entered and the feedback quoting them; it lives inside the accumulator
so the one snapshot carries both. Counted for it alone: court judgments (they quote the
referral letter a judged case came from).

Idempotent: each figure counts distinct items (a case, a document, an alert id), so an
event counted again changes nothing, and a corrected record of the same case (a new
event id, same case) does not count the case twice. The accumulator's state is a plain
dict so the engine can snapshot it in its store and rebuild it after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from hub.calendar import CHINA_TZ, WorkingDayCalendar, default_calendar
from hub.identity import case_id_for, content_hash
from hub.models import (
    Alert,
    ArrestRequested,
    CaseEvent,
    CaseReferred,
    CourtJudgment,
    FilingDecided,
    NonFilingReasonsExplained,
    PenaltyCaseRecorded,
    ReferralReceived,
    TransferredForProsecution,
    UnitMonthlyStats,
)
from hub.rules.missing_entry import MissingEntryParameters, load_missing_entry
from streams._alerts import SOURCE_SYSTEM, uuid_for
from streams.deadline_logic import is_entered_late
from streams.missing_entry_logic import MissingEntryTracker
from streams.stats_facts import StatsFact, fact_of
from streams.stats_records import Bucket, CaseStats
from streams.stats_store import CaseStatsStore, MemoryCaseStats

__all__ = ["COUNTED_TYPES", "PROCESSOR", "StatsAccumulator", "month_of"]

PROCESSOR = "stats"
#: The event types the statistics count: only these go onto the statistics feed.
COUNTED_TYPES: tuple[type[CaseEvent], ...] = (
    PenaltyCaseRecorded, CaseReferred, ReferralReceived, FilingDecided, Alert,
    ArrestRequested, TransferredForProsecution, NonFilingReasonsExplained, CourtJudgment)

Key = tuple[str, str]

#: Police steps after the filing decision → the bucket figure that counts them.
_POLICE_STEPS: dict[str, str] = {
    ArrestRequested.__name__: "arrest_requests",
    TransferredForProsecution.__name__: "transfers",
    NonFilingReasonsExplained.__name__: "explanations",
}


def month_of(moment: datetime) -> str:
    """The China month (YYYY-MM) a legal time falls in."""
    local = moment.astimezone(CHINA_TZ)  # not strftime: three times as slow, per event
    return f"{local.year:04d}-{local.month:02d}"


#: Store key prefixes: a case's counted items, a unit-month's counters.
CASE_PREFIX = b"c|"
BUCKET_PREFIX = b"b|"


class StatsAccumulator:
    """Monthly figures per unit, fed one event at a time."""

    def __init__(self, *, calendar: WorkingDayCalendar | None = None,
                 entry_working_days: int = 3,
                 missing_entry: MissingEntryParameters | None = None,
                 cases: CaseStatsStore | None = None) -> None:
        self._calendar = calendar
        self.cases: CaseStatsStore = cases if cases is not None else MemoryCaseStats()
        #: Missing entries 应录未录, fed the same events (see the module doc).
        self.missing = MissingEntryTracker(missing_entry or load_missing_entry(),
                                           calendar=calendar, store=self.cases)
        self._entry_working_days = entry_working_days
        self._buckets: dict[Key, Bucket] = {}
        #: cases read or changed since the last :meth:`write_cases`, decoded
        self._open_cases: dict[str, CaseStats] = {}
        self._dirty_cases: set[str] = set()

    def _bucket(self, unit: str, month: str) -> Bucket:
        bucket = self._buckets.get((unit, month))
        if bucket is None:
            bucket = self._buckets[(unit, month)] = Bucket()
        return bucket

    def _count(self, key: Key, figure: str, sign: int = 1) -> None:
        self._bucket(*key).counts[figure] += sign

    def _case(self, case_id: str) -> CaseStats:
        case = self._open_cases.get(case_id)
        if case is None:
            stored = self.cases.get(CASE_PREFIX + case_id.encode("utf-8"))
            case = CaseStats(orjson.loads(stored) if stored else None)
            self._open_cases[case_id] = case
        return case

    def _changed_case(self, case_id: str) -> None:
        self._dirty_cases.add(case_id)

    def write_cases(self) -> None:
        """Write the cases changed since the last call to the store; forget the rest.

        The engine calls it once per batch, with the counters (:meth:`bucket_records`),
        so both reach the store in the same checkpoint.
        """
        for case_id in self._dirty_cases:
            self.cases.put(CASE_PREFIX + case_id.encode("utf-8"),
                           orjson.dumps(self._open_cases[case_id].data))
        self._dirty_cases.clear()
        self._open_cases.clear()

    def bucket_records(self, keys: Iterable[Key]) -> list[tuple[bytes, bytes]]:
        """The store records of the counters of ``keys`` (the engine writes them)."""
        return [(BUCKET_PREFIX + f"{unit}|{month}".encode(),
                 orjson.dumps(self._buckets[(unit, month)].to_dict()))
                for unit, month in keys if (unit, month) in self._buckets]

    def load_buckets(self, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Take the counters from their store records (newer than a snapshot's)."""
        for key, value in records:
            unit, month = key[len(BUCKET_PREFIX):].decode().rsplit("|", 1)
            self._buckets[(unit, month)] = Bucket.from_dict(orjson.loads(value))

    def add(self, event: CaseEvent) -> frozenset[Key]:
        """Count one event; returns the (unit, month) keys whose figures changed."""
        return self.add_fact(fact_of(event))

    def add_fact(self, fact: StatsFact) -> frozenset[Key]:
        """Count one event by its fact (what the engine's statistics feed carries)."""
        # Every figure is keyed by what it counts (case, document, alert id) in the case's
        # record, so counting an event again changes nothing.
        changed: set[Key] = set()
        self.missing.observe_fact(fact)
        month = month_of(fact.occurred_at)
        key = (fact.source_unit, month)
        kind = fact.kind
        if kind == "PenaltyCaseRecorded":
            changed |= self._add_penalty(fact, key)
        elif kind == "CaseReferred":
            item = f"{fact.case_id}|{fact.referral_number}"
            changed |= self._add_item(fact, "i", key, "referrals", item)
            changed |= self._referred(fact.case_id, fact.occurred_at)
        elif kind == "ReferralReceived":
            item = f"{fact.case_id}|{fact.source_unit}"
            changed |= self._add_item(fact, "i", key, "receipts", item)
            changed |= self._referred(fact.case_id, fact.occurred_at, receipt=True)
        elif kind == "FilingDecided":
            changed |= self._add_decision(fact, month)
        elif kind in _POLICE_STEPS:
            # A corrected record (new event id, same document) is not a second step.
            item = f"{fact.case_id}|{fact.document_number or ''}"
            changed |= self._add_item(fact, "s", key, _POLICE_STEPS[kind], item)
            changed |= self._mark_decided(fact.case_id)
        elif kind == "Alert" and fact.raised and fact.alert_id and fact.responsible_unit_code:
            changed |= self._add_item(fact, "a", (fact.responsible_unit_code, month),
                                      "alerts", fact.alert_id)
        return frozenset(changed)

    def add_all(self, events: Iterable[CaseEvent]) -> frozenset[Key]:
        """Count several events; the union of changed keys."""
        changed: set[Key] = set()
        for event in events:
            changed |= self.add(event)
        return frozenset(changed)

    def _add_penalty(self, event: StatsFact, key: Key) -> set[Key]:
        """Count a penalty case once; its first entry (earliest recorded) decides lateness.

        A corrected record is a new event of the same case: it neither counts the case
        again nor makes a timely entry late.
        """
        case = self._case(event.case_id)
        first = case.data.get("p")
        recorded = event.recorded_at.isoformat()
        if first is not None and not _earlier_entry(event, first):
            return set()
        # counted from when the decision took effect, as the entry-late alert counts it
        # (deadlines.yaml start_fields: 送达日期, else 生效日期, else the decision)
        started = event.entry_started_at or event.occurred_at
        late = not event.summary and is_entered_late(
            started, event.recorded_at, working_days=self._entry_working_days,
            calendar=self._calendar or default_calendar(),
        )
        changed = {key}
        if first is not None:
            old_key = (first[0], first[1])
            self._count(old_key, "penalties", -1)
            self._count(old_key, "late", -int(first[3]))
            changed.add(old_key)
        self._count(key, "penalties")
        self._count(key, "late", int(late))
        case.data["p"] = [*key, recorded, late, event.event_id]
        self._changed_case(event.case_id)
        return changed

    def _add_item(self, event: StatsFact, section: str, key: Key, figure: str,
                  item: str) -> set[Key]:
        """Count ``item`` once, in the month of its earliest copy.

        A copy of the same item sent again with another date (a corrected export, a
        re-raised alert) moves the count to the earlier of the two, ties going to the
        lesser event id, so the figures do not depend on which copy the feed carried
        first. A referral or receipt also counts as decided once the case has feedback.
        """
        case = self._case(event.case_id)
        entries: list[list[Any]] = case.data.setdefault(section, [])
        entry = ([*key, item] if section == "a" else [*key, figure, item]) + [
            event.occurred_at.isoformat(), event.event_id]
        item_at = len(entry) - 3
        decided_figure = f"{figure}_decided" if section == "i" and case.data.get("d") else None
        changed = {key}
        for position, counted in enumerate(entries):
            if counted[item_at] != item or (section != "a" and counted[2] != figure):
                continue
            if len(counted) < len(entry) or not _earlier_copy(
                    event, counted[item_at + 1], counted[item_at + 2]):
                return set()
            old_key = (counted[0], counted[1])
            self._count(old_key, figure, -1)
            if decided_figure:
                self._count(old_key, decided_figure, -1)
            changed.add(old_key)
            entries[position] = entry
            break
        else:
            entries.append(entry)
        self._changed_case(event.case_id)
        self._count(key, figure)
        if decided_figure:
            self._count(key, decided_figure)
        return changed

    def _referred(self, case_id: str, at: datetime, *, receipt: bool = False) -> set[Key]:
        """Note when a case was referred: its earliest referral, a receipt only if none.

        Days to decision are recomputed when the start changes, so a referral that
        reaches the hub after the police decision still yields the right figure.
        """
        case = self._case(case_id)
        field_name = "ct" if receipt else "rt"
        known = case.data.get(field_name)
        if known is not None and datetime.fromisoformat(known) <= at:
            return set()
        before = _start_of(case)
        case.data[field_name] = at.isoformat()
        self._changed_case(case_id)
        start = _start_of(case)
        if start is None or start == before:
            return set()
        changed: set[Key] = set()
        for decision in case.data.get("x", ()):
            unit, month, decided_at, old_days = (decision[0], decision[1], decision[3],
                                                 decision[4])
            days = _days(start, datetime.fromisoformat(decided_at))
            bucket = self._bucket(unit, month)
            bucket.add_days(old_days, -1)
            bucket.add_days(days, 1)
            decision[4] = days
            changed.add((unit, month))
        return changed

    def _add_decision(self, event: StatsFact, month: str) -> set[Key]:
        """Count a filing decision once, in the month of its earliest copy (as
        :meth:`_add_item`), with its days from the referral."""
        key = (event.source_unit, month)
        item = f"{event.case_id}|{event.decision}|{event.police_case_number or ''}"
        case = self._case(event.case_id)
        decisions: list[list[Any]] = case.data.setdefault("x", [])
        start = _start_of(case)
        days = _days(start, event.occurred_at) if start else None
        entry = [*key, item, event.occurred_at.isoformat(), days, event.event_id]
        changed = {key}
        for position, counted in enumerate(decisions):
            if counted[2] != item:
                continue
            if len(counted) < len(entry) or not _earlier_copy(event, counted[3], counted[5]):
                return self._mark_decided(event.case_id)
            old_key = (counted[0], counted[1])
            self._count(old_key, "decisions", -1)
            self._bucket(*old_key).add_days(counted[4], -1)
            changed.add(old_key)
            decisions[position] = entry
            break
        else:
            decisions.append(entry)
        self._changed_case(event.case_id)
        self._count(key, "decisions")
        self._bucket(*key).add_days(days, 1)
        return changed | self._mark_decided(event.case_id)

    def _mark_decided(self, case_id: str) -> set[Key]:
        """The case has feedback: its referral and receipt items count as decided."""
        case = self._case(case_id)
        if case.data.get("d"):
            return set()
        case.data["d"] = 1
        self._changed_case(case_id)
        changed: set[Key] = set()
        for counted in case.data.get("i", ()):
            unit, item_month, figure = counted[0], counted[1], counted[2]
            self._count((unit, item_month), f"{figure}_decided")
            changed.add((unit, item_month))
        return changed

    def keys(self) -> list[Key]:
        """Every (unit, month) with figures, sorted."""
        return sorted(self._buckets)

    def stats(self, unit_code: str, month: str, *, hub_unit_code: str,
              now: datetime) -> UnitMonthlyStats:
        """The UnitMonthlyStats event of a unit's month (deterministic event id)."""
        bucket = self._buckets.get((unit_code, month)) or Bucket()
        counts = bucket.counts
        tracked = counts["referrals"] + counts["receipts"]
        decided = counts["referrals_decided"] + counts["receipts_decided"]
        figures: dict[str, Any] = {
            "penalty_cases_entered": counts["penalties"],
            "penalty_cases_entered_late": counts["late"],
            "referrals": counts["referrals"],
            "receipts": counts["receipts"],
            "filing_decisions": counts["decisions"],
            "alerts_raised": counts["alerts"],
            "feedback_rate": round(decided / tracked, 4) if tracked else None,
            "median_days_to_decision": bucket.median_days(),
            "arrest_requests": counts["arrest_requests"],
            "transfers_for_prosecution": counts["transfers"],
            "non_filing_explanations": counts["explanations"],
        }
        subject = case_id_for(unit_code, f"stats:{month}")
        return UnitMonthlyStats(
            event_id=uuid_for("stats", unit_code, month, content_hash(figures)),
            case_id=subject,
            source_unit=hub_unit_code,
            occurred_at=_month_end_or_now(month, now),
            recorded_at=now,
            source_system=SOURCE_SYSTEM,
            source_record=f"{PROCESSOR}:{unit_code}:{month}",
            connector_id=f"streams.{PROCESSOR}",
            unit_code=unit_code,
            month=month,
            **figures,
        )

    def to_dict(self) -> dict[str, Any]:
        """The heap part as JSON-able data: counters and the missing-entry tracker (the
        cases are in :attr:`cases`; the engine writes the counters with them per batch)."""
        return {
            "format": 2,
            "buckets": [[unit, month, bucket.to_dict()]
                        for (unit, month), bucket in sorted(self._buckets.items())],
            "entry_working_days": self._entry_working_days,
            "missing_entry": self.missing.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, calendar: WorkingDayCalendar | None = None,
                  cases: CaseStatsStore | None = None) -> StatsAccumulator:
        """Inverse of :meth:`to_dict`, over the store the cases were written to.

        A snapshot of the first format (every case on the heap) is refused: the engine
        then counts its feed again from the start.
        """
        if data.get("format") != 2:
            raise ValueError("statistics snapshot of an older format (cases on the heap)")
        accumulator = cls(calendar=calendar, entry_working_days=data["entry_working_days"],
                          cases=cases)
        accumulator.missing = MissingEntryTracker.from_dict(
            data["missing_entry"], accumulator.missing.parameters, calendar=calendar,
            store=accumulator.cases)
        accumulator._buckets = {(unit, month): Bucket.from_dict(bucket)
                                for unit, month, bucket in data["buckets"]}
        return accumulator


def _earlier_entry(event: StatsFact, first: list[Any]) -> bool:
    """Whether ``event`` is an earlier entry of the case's penalty than ``first``.

    Entries recorded at the same instant (one export's rows share its time) are ordered by
    event id, so the figures do not depend on which one the feed carried first. A record
    stored before the event id was kept (four items) wins the tie, as it used to.
    """
    recorded = datetime.fromisoformat(first[2])
    if event.recorded_at != recorded:
        return event.recorded_at < recorded
    return len(first) > 4 and event.event_id < first[4]


def _earlier_copy(event: StatsFact, counted_at: str, counted_event_id: str) -> bool:
    """Whether ``event`` is an earlier copy of an item counted from another copy that
    occurred at ``counted_at`` (the same instant: the lesser event id is earlier)."""
    counted = datetime.fromisoformat(counted_at)
    if event.occurred_at != counted:
        return event.occurred_at < counted
    return event.event_id < counted_event_id


def _start_of(case: CaseStats) -> datetime | None:
    start = case.data.get("rt") or case.data.get("ct")
    return datetime.fromisoformat(start) if start else None


def _days(start: datetime, end: datetime) -> float:
    """Natural days between two instants, to the hundredth (never negative)."""
    return max(round((end - start).total_seconds() / 86400, 2), 0.0)


def _month_end_or_now(month: str, now: datetime) -> datetime:
    """The figures' legal time: the month's last instant, or now while the month runs."""
    year, number = (int(part) for part in month.split("-"))
    first_next = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=CHINA_TZ)
    return min(first_next, now)
