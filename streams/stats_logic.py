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

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m")


@dataclass
class _Bucket:
    """One unit's month: distinct items per figure (key → detail)."""

    penalties: dict[str, bool] = field(default_factory=dict)  # case id → entered late
    referrals: dict[str, bool] = field(default_factory=dict)  # item → decided
    receipts: dict[str, bool] = field(default_factory=dict)  # item → decided
    decisions: dict[str, float | None] = field(default_factory=dict)  # item → days
    alerts: set[str] = field(default_factory=set)
    arrest_requests: set[str] = field(default_factory=set)  # case|document
    transfers: set[str] = field(default_factory=set)  # case|document
    explanations: set[str] = field(default_factory=set)  # case|document

    def to_dict(self) -> dict[str, Any]:
        return {"penalties": self.penalties, "referrals": self.referrals,
                "receipts": self.receipts, "decisions": self.decisions,
                "alerts": sorted(self.alerts), "arrest_requests": sorted(self.arrest_requests),
                "transfers": sorted(self.transfers), "explanations": sorted(self.explanations)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Bucket:
        # Snapshots written before the police steps were counted lack their keys.
        return cls(dict(data["penalties"]), dict(data["referrals"]), dict(data["receipts"]),
                   dict(data["decisions"]), set(data["alerts"]),
                   set(data.get("arrest_requests", ())), set(data.get("transfers", ())),
                   set(data.get("explanations", ())))


class StatsAccumulator:
    """Monthly figures per unit, fed one event at a time."""

    def __init__(self, *, calendar: WorkingDayCalendar | None = None,
                 entry_working_days: int = 3,
                 missing_entry: MissingEntryParameters | None = None) -> None:
        self._calendar = calendar
        #: Missing entries 应录未录, fed the same events (see the module doc).
        self.missing = MissingEntryTracker(missing_entry or load_missing_entry(),
                                           calendar=calendar)
        self._entry_working_days = entry_working_days
        self._buckets: dict[Key, _Bucket] = {}
        # per case: where its referral/receipt items are counted, when it was referred,
        # and its decisions (for days-to-decision once the referral is known)
        self._items: dict[str, list[tuple[str, str, str, str]]] = {}
        self._penalty_first: dict[str, tuple[str, str, datetime]] = {}
        self._referral_times: dict[str, datetime] = {}
        self._receipt_times: dict[str, datetime] = {}
        self._decided: set[str] = set()
        self._decisions: dict[str, list[tuple[str, str, str, datetime]]] = {}

    def _bucket(self, unit: str, month: str) -> _Bucket:
        # Not ``setdefault(key, _Bucket())``: that builds eight empty collections on
        # every call, the accumulator's largest cost.
        bucket = self._buckets.get((unit, month))
        if bucket is None:
            bucket = self._buckets[(unit, month)] = _Bucket()
        return bucket

    def add(self, event: CaseEvent) -> frozenset[Key]:
        """Count one event; returns the (unit, month) keys whose figures changed."""
        return self.add_fact(fact_of(event))

    def add_fact(self, fact: StatsFact) -> frozenset[Key]:
        """Count one event by its fact (what the engine's statistics feed carries)."""
        # Every figure is keyed by what it counts (case, document, alert id), so counting
        # an event again changes nothing; no set of every event id seen is kept (it grew
        # with the events, not the cases, and was most of the accumulator's memory).
        changed: set[Key] = set()
        self.missing.observe_fact(fact)
        month = month_of(fact.occurred_at)
        key = (fact.source_unit, month)
        kind = fact.kind
        if kind == "PenaltyCaseRecorded":
            changed |= self._add_penalty(fact, key)
        elif kind == "CaseReferred":
            item = f"{fact.case_id}|{fact.referral_number}"
            changed |= self._add_item(fact, "referrals", item)
            changed |= self._referred(fact.case_id, fact.occurred_at)
        elif kind == "ReferralReceived":
            changed |= self._add_item(fact, "receipts", f"{fact.case_id}|{fact.source_unit}")
            changed |= self._referred(fact.case_id, fact.occurred_at, receipt=True)
        elif kind == "FilingDecided":
            changed |= self._add_decision(fact, month)
        elif kind in _POLICE_STEPS:
            changed |= self._add_police_step(fact, key)
        elif kind == "Alert" and fact.raised and fact.alert_id and fact.responsible_unit_code:
            bucket = self._bucket(fact.responsible_unit_code, month)
            if fact.alert_id not in bucket.alerts:
                bucket.alerts.add(fact.alert_id)
                changed.add((fact.responsible_unit_code, month))
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
        first = self._penalty_first.get(event.case_id)
        if first is not None and first[2] <= event.recorded_at:
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
            self._bucket(*old_key).penalties.pop(event.case_id, None)
            changed.add(old_key)
        self._bucket(*key).penalties[event.case_id] = late
        self._penalty_first[event.case_id] = (*key, event.recorded_at)
        return changed

    def _add_item(self, event: StatsFact, figure: str, item: str) -> set[Key]:
        key = (event.source_unit, month_of(event.occurred_at))
        items: dict[str, bool] = getattr(self._bucket(*key), figure)
        if item in items:
            return set()
        items[item] = event.case_id in self._decided
        self._items.setdefault(event.case_id, []).append((*key, figure, item))
        return {key}

    def _referred(self, case_id: str, at: datetime, *, receipt: bool = False) -> set[Key]:
        """Note when a case was referred: its earliest referral, a receipt only if none.

        Days to decision are recomputed when the start changes, so a referral that
        reaches the hub after the police decision still yields the right figure.
        """
        times = self._receipt_times if receipt else self._referral_times
        known = times.get(case_id)
        if known is not None and known <= at:
            return set()
        before = self._start_of(case_id)
        times[case_id] = at
        start = self._start_of(case_id)
        if start is None or start == before:
            return set()
        changed: set[Key] = set()
        for unit, month, item, decided_at in self._decisions.get(case_id, []):
            self._bucket(unit, month).decisions[item] = _days(start, decided_at)
            changed.add((unit, month))
        return changed

    def _start_of(self, case_id: str) -> datetime | None:
        return self._referral_times.get(case_id) or self._receipt_times.get(case_id)

    def _add_decision(self, event: StatsFact, month: str) -> set[Key]:
        key = (event.source_unit, month)
        item = f"{event.case_id}|{event.decision}|{event.police_case_number or ''}"
        bucket = self._bucket(*key)
        changed: set[Key] = set()
        if item not in bucket.decisions:
            start = self._start_of(event.case_id)
            bucket.decisions[item] = _days(start, event.occurred_at) if start else None
            self._decisions.setdefault(event.case_id, []).append(
                (*key, item, event.occurred_at)
            )
            changed.add(key)
        return changed | self._mark_decided(event.case_id)

    def _add_police_step(self, event: StatsFact, key: Key) -> set[Key]:
        """Count a police step once per case and document; a corrected record (new event
        id, same document) is not a second step."""
        steps: set[str] = getattr(self._bucket(*key), _POLICE_STEPS[event.kind])
        item = f"{event.case_id}|{event.document_number or ''}"
        changed: set[Key] = set()
        if item not in steps:
            steps.add(item)
            changed.add(key)
        return changed | self._mark_decided(event.case_id)

    def _mark_decided(self, case_id: str) -> set[Key]:
        """The case has feedback: its referral and receipt items count as decided."""
        if case_id in self._decided:
            return set()
        self._decided.add(case_id)
        changed: set[Key] = set()
        for unit, item_month, figure, case_item in self._items.get(case_id, []):
            items: dict[str, bool] = getattr(self._bucket(unit, item_month), figure)
            items[case_item] = True
            changed.add((unit, item_month))
        return changed

    def keys(self) -> list[Key]:
        """Every (unit, month) with figures, sorted."""
        return sorted(self._buckets)

    def stats(self, unit_code: str, month: str, *, hub_unit_code: str,
              now: datetime) -> UnitMonthlyStats:
        """The UnitMonthlyStats event of a unit's month (deterministic event id)."""
        bucket = self._buckets.get((unit_code, month), _Bucket())
        tracked = [*bucket.referrals.values(), *bucket.receipts.values()]
        days = [d for d in bucket.decisions.values() if d is not None]
        figures: dict[str, Any] = {
            "penalty_cases_entered": len(bucket.penalties),
            "penalty_cases_entered_late": sum(bucket.penalties.values()),
            "referrals": len(bucket.referrals),
            "receipts": len(bucket.receipts),
            "filing_decisions": len(bucket.decisions),
            "alerts_raised": len(bucket.alerts),
            "feedback_rate": round(sum(tracked) / len(tracked), 4) if tracked else None,
            "median_days_to_decision": float(statistics.median(days)) if days else None,
            "arrest_requests": len(bucket.arrest_requests),
            "transfers_for_prosecution": len(bucket.transfers),
            "non_filing_explanations": len(bucket.explanations),
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
        """The whole state as JSON-able data (for the engine's snapshot)."""
        return {
            "buckets": [[unit, month, bucket.to_dict()]
                        for (unit, month), bucket in sorted(self._buckets.items())],
            "items": {case: [list(i) for i in items] for case, items in self._items.items()},
            "referral_times": {case: at.isoformat()
                               for case, at in self._referral_times.items()},
            "receipt_times": {case: at.isoformat() for case, at in self._receipt_times.items()},
            "decided": sorted(self._decided),
            "penalty_first": {case: [unit, month, at.isoformat()]
                              for case, (unit, month, at) in self._penalty_first.items()},
            "decisions": {case: [[u, m, i, at.isoformat()] for u, m, i, at in items]
                          for case, items in self._decisions.items()},
            "entry_working_days": self._entry_working_days,
            "missing_entry": self.missing.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *,
                  calendar: WorkingDayCalendar | None = None) -> StatsAccumulator:
        """Inverse of :meth:`to_dict`."""
        accumulator = cls(calendar=calendar, entry_working_days=data["entry_working_days"])
        if "missing_entry" in data:  # snapshots before missing entries were tracked lack it
            accumulator.missing = MissingEntryTracker.from_dict(
                data["missing_entry"], accumulator.missing.parameters, calendar=calendar)
        accumulator._buckets = {(unit, month): _Bucket.from_dict(bucket)
                                for unit, month, bucket in data["buckets"]}
        accumulator._items = {case: [(i[0], i[1], i[2], i[3]) for i in items]
                              for case, items in data["items"].items()}
        accumulator._referral_times = {case: datetime.fromisoformat(at)
                                       for case, at in data["referral_times"].items()}
        accumulator._receipt_times = {case: datetime.fromisoformat(at)
                                      for case, at in data["receipt_times"].items()}
        accumulator._decided = set(data["decided"])
        accumulator._penalty_first = {
            case: (unit, month, datetime.fromisoformat(at))
            for case, (unit, month, at) in data["penalty_first"].items()
        }
        accumulator._decisions = {
            case: [(u, m, i, datetime.fromisoformat(at)) for u, m, i, at in items]
            for case, items in data["decisions"].items()
        }
        return accumulator


def _days(start: datetime, end: datetime) -> float:
    """Natural days between two instants, to the hundredth (never negative)."""
    return max(round((end - start).total_seconds() / 86400, 2), 0.0)


def _month_end_or_now(month: str, now: datetime) -> datetime:
    """The figures' legal time: the month's last instant, or now while the month runs."""
    year, number = (int(part) for part in month.split("-"))
    first_next = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=CHINA_TZ)
    return min(first_next, now)
