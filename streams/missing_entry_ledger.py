"""What the missing-entry tracker has seen, per unit, and the snapshot that keeps it.

Feeding runs for every event of the statistics feed and must stay cheap; what it keeps
grows with the county, so its layout is chosen for memory. Judging the gaps
(:mod:`streams.missing_entry_logic`) reads it once per evaluation and only for the units
whose facts changed. The two are apart so each can be read on its own: the record of
what arrived here, what it means there.

What stays small (dates, numbers, feedback on referrals not entered, open findings) is
plain JSON-able data for the statistics processor's snapshot; what grows with the
county's referrals (the referrals entered, their cases, the agency each referral number
belongs to) is kept in the statistics store (:mod:`streams.stats_store`), written with
every checkpoint.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Self

from hub.calendar import WorkingDayCalendar, china_date, default_calendar
from hub.models import (
    ArrestRequested,
    CaseEvent,
    CourtJudgment,
    FilingDecided,
    NonFilingReasonsExplained,
    ReferralReceived,
    TransferredForProsecution,
)
from hub.rules.missing_entry import MissingEntryParameters
from streams.decision_series import DecisionSeries
from streams.stats_facts import StatsFact, fact_of
from streams.stats_store import CaseStatsStore, MemoryCaseStats

__all__ = [
    "FEEDBACK_TYPES",
    "MissingEntryLedger",
    "parse_decision_number",
    "unentered_referral_key",
]

#: Events that prove a referral exists on the police or court side.
FEEDBACK_TYPES: tuple[type[CaseEvent], ...] = (
    ReferralReceived, FilingDecided, ArrestRequested, TransferredForProsecution,
    NonFilingReasonsExplained, CourtJudgment)
_FEEDBACK_KINDS = frozenset(kind.__name__ for kind in FEEDBACK_TYPES)

#: 〔2025〕13号, [2025]13号, （2025）13号: series text, year, number, suffix.
_NUMBER = re.compile(
    r"^(?P<series>.*?)(?P<open>[〔\[［(（【])\s*(?P<year>(?:19|20)\d{2})\s*"
    r"(?P<close>[〕\]］)）】])\s*(?P<number>\d{1,7})\s*(?P<suffix>号?)\s*$")
_BRACKETS = str.maketrans({"［": "[", "］": "]", "（": "(", "）": ")", "〔": "[", "〕": "]",
                           "【": "[", "】": "]"})
_SPACE = re.compile(r"\s+")
#: Store key prefixes (beside the accumulator's ``c|`` and ``b|``): a referral entered
#: (``agency|normalised number``), a case that entered one, a referral number's agency.
_ENTERED = b"m|e|"
_ENTERED_CASE = b"m|c|"
_AGENCY_OF = b"m|a|"
_PRESENT = b"1"


@dataclass(frozen=True)
class DecisionNumber:
    """A decision number taken apart: its series, year and serial, and how to respell it."""

    series: str
    year: int
    number: int
    template: str  # the number as written, with ``{n}`` where the serial goes

    def spelled(self, number: int) -> str:
        """Another serial of the same series and year, in the unit's own spelling."""
        return self.template.replace("{n}", str(number))


def parse_decision_number(text: str | None) -> DecisionNumber | None:
    """The parts of a ``…〔YYYY〕N号`` number; None for anything else (not guessed)."""
    if not text:
        return None
    match = _NUMBER.match(text.strip())
    if match is None:
        return None
    series = _SPACE.sub("", unicodedata.normalize("NFKC", match["series"])).upper()
    start, end = match.span("number")
    template = text.strip()[:start] + "{n}" + text.strip()[end:]
    return DecisionNumber(series, int(match["year"]), int(match["number"]), template)


def _normalised(number: str | None) -> str | None:
    if not number:
        return None
    text = unicodedata.normalize("NFKC", number).translate(_BRACKETS)
    return _SPACE.sub("", text).upper() or None


def unentered_referral_key(agency: str, referral_number: str) -> str:
    """How a referral is known on both sides: agency code and normalised letter number."""
    return f"{agency}|{_normalised(referral_number) or ''}"


def _iso(day: date) -> str:
    return day.isoformat()


class MissingEntryLedger:
    """Per unit: decision dates, numbers per series-year, referrals and feedback seen."""

    def __init__(self, parameters: MissingEntryParameters, *,
                 calendar: WorkingDayCalendar | None = None,
                 store: CaseStatsStore | None = None) -> None:
        self.parameters = parameters
        self._calendar = calendar
        #: the referrals entered, their cases and each referral number's agency: they
        #: grow with the county's referrals, so they live here rather than on the heap
        #: (at a million events they were a third of the snapshot).
        self.store: CaseStatsStore = store if store is not None else MemoryCaseStats()
        #: unit → its latest distinct penalty decision dates (ISO, sorted, capped)
        self._dates: dict[str, list[str]] = {}
        #: unit → its latest decision date of any entry (its own event-time clock)
        self._clock: dict[str, str] = {}
        #: "unit|series|year" → its serials with their decision dates and spellings
        self._series: dict[str, DecisionSeries] = {}
        #: "agency|normalised number" → the earliest feedback quoting it (only referrals
        #: not entered: see _remember)
        self._feedback: dict[str, dict[str, str]] = {}
        #: alert id → what is needed to resolve it ("check", "unit", "case_id", …)
        self._open: dict[str, dict[str, str]] = {}
        self._dirty: set[str] = set()
        self._county_clock: str | None = None
        self._gap_cache: dict[str, int] = {}
        # Indexes of the above, rebuilt on restore (not in the snapshot). Judging a unit
        # sorted every series of its numbers and scanned all feedback of every unit, at
        # each batch that touched the unit: at a province's scale, cost per batch grew
        # with all the penalties seen. Now it looks at the gaps and at the feedback not
        # entered yet, which stay few.
        #: unit → its series keys; series key → below → above for each pair of
        #: neighbours that is a gap to judge
        self._series_of: dict[str, list[str]] = {}
        self._gap_pairs: dict[str, dict[int, int]] = {}
        #: agency → feedback keys that may quote a referral it never entered
        self._maybe_unentered: dict[str, set[str]] = {}

    @property
    def calendar(self) -> WorkingDayCalendar:
        return self._calendar or default_calendar()

    # -- feeding ----------------------------------------------------------------------

    def observe(self, event: CaseEvent) -> None:
        """Note what an event proves was entered (or should have been)."""
        self.observe_fact(fact_of(event))

    def observe_fact(self, event: StatsFact) -> None:
        """:meth:`observe` by the event's fact (what the engine's statistics feed carries)."""
        day = china_date(event.occurred_at)
        kind = event.kind
        if kind == "PenaltyCaseRecorded":
            self._penalty(event, day)
        elif kind == "CaseReferred":
            self._tick(event.source_unit, day)
            key = unentered_referral_key(event.source_unit, event.referral_number or "")
            self._mark(_ENTERED + key.encode())
            self._mark(_ENTERED_CASE + event.case_id.encode())
            self._feedback.pop(key, None)  # entered stays entered (see _remember)
            self._dirty.add(event.source_unit)
        elif kind in _FEEDBACK_KINDS:
            self._feedback_seen(event, day)

    def observe_all(self, events: Iterable[CaseEvent]) -> None:
        for event in events:
            self.observe(event)

    def _mark(self, key: bytes) -> None:
        """Note a key as present (written once: a changelog record per write)."""
        if self.store.get(key) is None:
            self.store.put(key, _PRESENT)

    def is_entered(self, key: str) -> bool:
        """Whether the referral ``agency|normalised number`` was entered by its agency."""
        return self.store.get(_ENTERED + key.encode()) is not None

    def _case_entered(self, case_id: str) -> bool:
        return self.store.get(_ENTERED_CASE + case_id.encode()) is not None

    def _agency(self, normalised: str) -> str | None:
        stored = self.store.get(_AGENCY_OF + normalised.encode())
        return stored.decode() if stored is not None else None

    def _tick(self, unit: str, day: date) -> None:
        known = self._clock.get(unit)
        if known is None or _iso(day) > known:
            self._clock[unit] = _iso(day)
            self._dirty.add(unit)

    def _penalty(self, event: StatsFact, day: date) -> None:
        unit = event.source_unit
        self._tick(unit, day)
        dates = self._dates.setdefault(unit, [])
        text = _iso(day)
        size = self.parameters.silent_unit.history_size
        if text not in dates and not (len(dates) >= size and text < dates[0]):
            dates.append(text)
            dates.sort()
            del dates[:-size]
            self._gap_cache.pop(unit, None)
            self._dirty.add(unit)
        parsed = parse_decision_number(event.decision_number)
        if parsed is not None:
            key = f"{unit}|{parsed.series}|{parsed.year}"
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = DecisionSeries(parsed.template)
                self._series_of.setdefault(unit, []).append(key)
            at = series.add(parsed.number, day, parsed.template)
            if at is not None:
                self._inserted(key, series, at)
                self._dirty.add(unit)

    def _inserted(self, key: str, series: DecisionSeries, at: int) -> None:
        """Keep a series' gaps known as a number arrives (only the pair it falls between
        changes)."""
        numbers = series.serials
        number = numbers[at]
        gaps = self._gap_pairs.setdefault(key, {})
        if at > 0:
            gaps.pop(numbers[at - 1], None)
            self._note_gap(gaps, numbers[at - 1], number)
        if at + 1 < len(numbers):
            self._note_gap(gaps, number, numbers[at + 1])

    def _load_series(self, unit: str, key: str, series: DecisionSeries) -> None:
        """A restored series at once, its gaps from consecutive numbers.

        The same gaps as :meth:`_inserted` one number at a time; restoring a county's
        whole history number by number took a quarter of a restart's seconds.
        """
        if not len(series):
            return
        self._series[key] = series
        self._series_of.setdefault(unit, []).append(key)
        gaps = self._gap_pairs.setdefault(key, {})
        for below, above in itertools.pairwise(series.serials):
            self._note_gap(gaps, below, above)

    def _note_gap(self, gaps: dict[int, int], below: int, above: int) -> None:
        if above - below >= 2 and above - below - 1 <= self.parameters.number_gaps.max_gap:
            gaps[below] = above

    def _feedback_seen(self, event: StatsFact, day: date) -> None:
        number = event.referral_number
        normalised = _normalised(number)
        if normalised is None:
            return
        known = self._agency(normalised)
        agency = event.referring_unit_code or known
        if agency is None:
            # A court judgment quoting a referral no police record named yet: kept under
            # the number until feedback names the agency.
            agency = ""
        else:
            if known is None:  # the first agency named for the number stays its agency
                self.store.put(_AGENCY_OF + normalised.encode(), agency.encode())
            orphan = self._feedback.pop(f"|{normalised}", None)
            if orphan is not None:
                self._remember(f"{agency}|{normalised}", orphan)
        self._remember(f"{agency}|{normalised}", {
            "date": _iso(day), "case_id": event.case_id, "event_id": event.event_id,
            "number": number or "", "unit": event.source_unit, "type": event.kind})
        if agency:
            self._dirty.add(agency)

    def _remember(self, key: str, seen: dict[str, str]) -> None:
        """Keep the earliest feedback quoting a referral the agency has not entered.

        Feedback on an entered referral is never a finding (entered stays entered), so
        it is not kept: most feedback quotes an entered referral, and keeping each
        (~1 KB on the heap, and in every statistics snapshot) made the tracker grow with
        the county's cases.
        """
        if self.is_entered(key):
            return
        known = self._feedback.get(key)
        if known is None or seen["date"] < known["date"]:
            self._feedback[key] = seen
            self._maybe_unentered.setdefault(key.split("|", 1)[0], set()).add(key)

    # -- snapshot ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The heap part as JSON-able data (the rest is in :attr:`store`)."""
        return {"dates": self._dates, "clock": self._clock,
                "numbers": {key: series.to_dict() for key, series in self._series.items()},
                "feedback": self._feedback, "open": self._open,
                "county_clock": self._county_clock}

    @classmethod
    def from_dict(cls, data: dict[str, Any], parameters: MissingEntryParameters, *,
                  calendar: WorkingDayCalendar | None = None,
                  store: CaseStatsStore | None = None) -> Self:
        """Inverse of :meth:`to_dict`, over the store the tracker wrote to; every unit is
        judged again at the next evaluation.

        The store may be newer than the snapshot (it is written with every checkpoint):
        its referrals entered, their cases and the referral numbers' agencies only grow,
        and the feed read again from the snapshot's offset adds the same ones, so the
        findings are those of the feed read once. A snapshot of an older worker still
        holds them (``entered``, ``entered_cases``, ``agency_of``): they move to the store.
        """
        tracker = cls(parameters, calendar=calendar, store=store)
        for key in data.get("entered", ()):
            tracker._mark(_ENTERED + key.encode())
        for case_id in data.get("entered_cases", ()):
            tracker._mark(_ENTERED_CASE + case_id.encode())
        for normalised, agency in data.get("agency_of", {}).items():
            if tracker._agency(normalised) is None:
                tracker.store.put(_AGENCY_OF + normalised.encode(), agency.encode())
        tracker._dates = {unit: list(dates) for unit, dates in data["dates"].items()}
        tracker._clock = dict(data["clock"])
        tracker._feedback = {key: dict(seen) for key, seen in data["feedback"].items()}
        tracker._open = {key: dict(facts) for key, facts in data["open"].items()}
        tracker._county_clock = data.get("county_clock")
        tracker._dirty = {*tracker._clock, *(f["unit"] for f in tracker._open.values())}
        for key, numbers in data["numbers"].items():
            tracker._load_series(key.split("|", 1)[0], key, DecisionSeries.from_dict(numbers))
        for key in tracker._feedback:
            tracker._maybe_unentered.setdefault(key.split("|", 1)[0], set()).add(key)
        return tracker
