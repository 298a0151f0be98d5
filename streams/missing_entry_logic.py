"""Missing entries 应录未录, pure part: what a unit should have entered and did not.

The five reports' first failure is what never reaches the platform: units that stop
entering, selective entry, staff turnover. The hub sees only what arrives, so it infers
the missing from three traces, each charged to the unit that owes the entry:

- **silent unit**: no penalty decision of the unit for longer than its own rhythm allows
  (``max(min_working_days, history_multiplier × its median gap)`` working days), counted
  against the county's clock (the median of every unit's latest decision date, so a feed
  read ahead of the others, or one future-dated typo, does not make everyone silent);
- **number gaps**: 〔2025〕12号 and 14号 present, 13号 absent once the unit's own latest
  decision is more than a grace period past 14号's decision date (a series is the text
  before the year: 罚 and 简罚 are numbered apart);
- **unentered referral**: police feedback or a court judgment quotes a referral letter
  the referring agency never entered, once the agency's own latest entry is a grace
  period past the feedback.

Every clock here is *event* time (the decision dates the exports carry), never the wall
clock, so a backfill of last year's exports finds last year's gaps and a replay finds the
same ones. The thresholds are data (``hub/rules/missing_entry.yaml``, operator settings).

:class:`MissingEntryTracker` is fed the statistics feed's events and returns, per
evaluation, the alerts to raise and to resolve (a missing number that arrives, a silent
unit that enters again, a referral entered late). Alert ids are deterministic, so an
evaluation repeated after a restart emits byte-identical events. What stays small (dates,
numbers, feedback on referrals not entered, open findings) is plain JSON-able data for the
statistics processor's snapshot; what grows with the county's referrals (the referrals
entered, their cases, the agency each referral number belongs to) is kept in the
statistics store (:mod:`streams.stats_store`), written with every checkpoint.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import pairwise
from typing import Any, Literal

from hub.calendar import CHINA_TZ, WorkingDayCalendar, china_date, default_calendar
from hub.identity import case_id_for
from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    ArrestRequested,
    CaseEvent,
    CourtJudgment,
    FilingDecided,
    NonFilingReasonsExplained,
    ReferralReceived,
    TransferredForProsecution,
)
from hub.rules.missing_entry import MissingEntryParameters
from streams._alerts import build_alert, uuid_for
from streams.decision_series import DecisionSeries
from streams.stats_facts import StatsFact, fact_of
from streams.stats_store import CaseStatsStore, MemoryCaseStats

__all__ = [
    "FEEDBACK_TYPES",
    "PROCESSOR",
    "RULE_NUMBER_GAP",
    "RULE_SILENT_UNIT",
    "RULE_UNENTERED_REFERRAL",
    "MissingEntryTracker",
    "number_gap_case_id",
    "parse_decision_number",
    "silent_unit_case_id",
    "unentered_referral_key",
]

PROCESSOR = "stats"
RULE_SILENT_UNIT = "missing-entry-silent-unit"
RULE_NUMBER_GAP = "missing-entry-number-gap"
RULE_UNENTERED_REFERRAL = "missing-entry-unentered-referral"

Check = Literal["silent", "gap", "referral"]
_RULES: dict[str, str] = {"silent": RULE_SILENT_UNIT, "gap": RULE_NUMBER_GAP,
                          "referral": RULE_UNENTERED_REFERRAL}

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


def silent_unit_case_id(unit_code: str) -> str:
    """The subject an alert about a silent unit is filed under (one per unit)."""
    return case_id_for(unit_code, "应录未录:长期未录入")


def number_gap_case_id(unit_code: str, missing_number: str) -> str:
    """The case id the missing decision would have had (``case_id_for(unit, number)``):
    when the case is entered at last, its alert and its case are one."""
    return case_id_for(unit_code, missing_number)


def _iso(day: date) -> str:
    return day.isoformat()


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _instant(day: date) -> datetime:
    """An alert's legal time: the start of the China day after the last allowed day."""
    return datetime.combine(day, time(0), CHINA_TZ)


class MissingEntryTracker:
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

    # -- evaluating -------------------------------------------------------------------

    def evaluate(self, *, today: date, hub_unit_code: str, now: datetime,
                 unit_names: dict[str, str] | None = None) -> list[Alert]:
        """The alerts to emit now: raised for new findings, resolved for healed ones.

        ``unit_names`` (code → name) only words the messages; the view names the unit too.

        Silence is re-judged for every unit when the county's clock moves; gaps and
        unentered referrals only for the units whose facts changed since the last call.
        """
        names = unit_names or {}
        changes: list[Alert] = []
        county = self.county_clock(today)
        if county != self._county_clock:
            self._county_clock = county
            self._dirty |= set(self._dates)
        dirty, self._dirty = self._dirty, set()
        for unit in sorted(dirty):
            wanted: dict[str, dict[str, str]] = {}
            wanted.update(self._silent(unit, county, today))
            wanted.update(self._gaps(unit, today))
            wanted.update(self._unentered(unit, county, today))
            changes += self._diff(unit, wanted, hub_unit_code, now, names.get(unit, ""))
        return changes

    def county_clock(self, today: date) -> str | None:
        """The median latest decision date of the units with history (never after today)."""
        minimum = self.parameters.silent_unit.min_history
        latest = sorted(dates[-1] for dates in self._dates.values() if len(dates) >= minimum)
        if not latest:
            return None
        return min(latest[(len(latest) - 1) // 2], _iso(today))

    def threshold(self, unit: str) -> int | None:
        """Working days of silence that make ``unit`` silent; None without history."""
        rule = self.parameters.silent_unit
        dates = self._dates.get(unit, [])
        if len(dates) < rule.min_history:
            return None
        cached = self._gap_cache.get(unit)
        if cached is None:
            cal = self.calendar
            gaps = [cal.working_days_between(_day(a), _day(b))
                    for a, b in pairwise(dates)]
            median = statistics.median(gaps) if gaps else 0
            cached = self._gap_cache[unit] = max(
                rule.min_working_days, math.ceil(rule.history_multiplier * median))
        return cached

    def _silent(self, unit: str, county: str | None,
                today: date) -> dict[str, dict[str, str]]:
        threshold = self.threshold(unit)
        dates = self._dates.get(unit, [])
        if threshold is None or county is None or not dates:
            return {}
        last = _day(dates[-1])
        due = self.calendar.add_working_days(last, threshold)
        if _iso(due) >= county:
            return {}
        silent_for = self.calendar.working_days_between(last, _day(county))
        alert_id = uuid_for("alert", silent_unit_case_id(unit), RULE_SILENT_UNIT, _iso(last))
        return {alert_id: {
            "check": "silent", "unit": unit, "case_id": silent_unit_case_id(unit),
            "due": _iso(due), "last_entry": _iso(last), "county_clock": county,
            "threshold": str(threshold), "silent_working_days": str(silent_for)}}

    def _gaps(self, unit: str, today: date) -> dict[str, dict[str, str]]:
        rule = self.parameters.number_gaps
        clock = self._clock.get(unit)
        if clock is None:
            return {}
        clock = min(clock, _iso(today))
        found: dict[str, dict[str, str]] = {}
        for key in self._series_of.get(unit, ()):
            series = self._series[key]
            for below, above in self._gap_pairs.get(key, {}).items():
                seen_on, template = series.entry(above)
                due = self.calendar.add_working_days(_day(seen_on), rule.grace_working_days)
                if _iso(due) >= clock:
                    continue
                for missing in range(below + 1, above):
                    spelled = template.replace("{n}", str(missing))
                    case_id = number_gap_case_id(unit, spelled)
                    alert_id = uuid_for("alert", case_id, RULE_NUMBER_GAP, spelled)
                    found[alert_id] = {
                        "check": "gap", "unit": unit, "case_id": case_id, "due": _iso(due),
                        "missing_number": spelled,
                        "previous_number": template.replace("{n}", str(below)),
                        "next_number": template.replace("{n}", str(above)),
                        "next_decided_on": seen_on, "unit_clock": clock}
        return found

    def _unentered(self, unit: str, county: str | None,
                   today: date) -> dict[str, dict[str, str]]:
        rule = self.parameters.unentered_referrals
        clock = self._clock.get(unit) or county
        if clock is None:
            return {}
        clock = min(clock, _iso(today))
        found: dict[str, dict[str, str]] = {}
        candidates = self._maybe_unentered.get(unit, set())
        for key in sorted(candidates):
            seen = self._feedback.get(key)
            # Entered stays entered: such feedback is never a finding again.
            entered = seen is not None and self.is_entered(key)
            if seen is None or entered or self._case_entered(seen["case_id"]):
                candidates.discard(key)
                if entered:
                    self._feedback.pop(key, None)
                continue
            due = self.calendar.add_working_days(_day(seen["date"]),
                                                 rule.grace_working_days)
            if _iso(due) >= clock:
                continue
            alert_id = uuid_for("alert", RULE_UNENTERED_REFERRAL, key)
            found[alert_id] = {
                "check": "referral", "unit": unit, "case_id": seen["case_id"],
                "due": _iso(due), "referral_number": seen["number"],
                "feedback_type": seen["type"], "feedback_unit": seen["unit"],
                "feedback_date": seen["date"], "trigger": seen["event_id"],
                "unit_clock": clock}
        return found

    def _diff(self, unit: str, wanted: dict[str, dict[str, str]], hub_unit_code: str,
              now: datetime, name: str) -> list[Alert]:
        changes: list[Alert] = []
        for alert_id in sorted(wanted):
            if alert_id not in self._open:
                self._open[alert_id] = wanted[alert_id]
                changes.append(self._alert(alert_id, wanted[alert_id], AlertStatus.RAISED,
                                           hub_unit_code, now, name))
        for alert_id in sorted(a for a, v in self._open.items() if v["unit"] == unit):
            if alert_id not in wanted:
                facts = self._open.pop(alert_id)
                changes.append(self._alert(alert_id, facts, AlertStatus.RESOLVED,
                                           hub_unit_code, now, name))
        return changes

    def open_alerts(self) -> dict[str, dict[str, str]]:
        """The open findings by alert id (what each would resolve)."""
        return dict(self._open)

    def _alert(self, alert_id: str, facts: dict[str, str], status: AlertStatus,
               hub_unit_code: str, now: datetime, name: str) -> Alert:
        check = facts["check"]
        rule = {"silent": self.parameters.silent_unit, "gap": self.parameters.number_gaps,
                "referral": self.parameters.unentered_referrals}[check]
        due = _day(facts["due"])
        resolved = status is AlertStatus.RESOLVED
        details = {key: value for key, value in facts.items() if key != "unit"}
        details["operator_set"] = "true"
        details["title_zh"] = _TITLES[check][0]
        return build_alert(
            alert_id=alert_id, case_id=facts["case_id"], kind=AlertKind.MISSING_ENTRY,
            severity="WARNING", status=status, hub_unit_code=hub_unit_code,
            responsible_unit_code=facts["unit"], rule_id=_RULES[check],
            legal_source=rule.source, occurred_at=_instant(due), recorded_at=now,
            processor=PROCESSOR, message=_message(check, facts, name, resolved), due_date=due,
            trigger_event_id=facts.get("trigger"), details=details)

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
                  store: CaseStatsStore | None = None) -> MissingEntryTracker:
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


_TITLES: dict[str, tuple[str, str]] = {
    "silent": ("应录未录：长期未录入", "Missing entries: unit silent"),
    "gap": ("应录未录：决定书文号缺号", "Missing entries: decision number skipped"),
    "referral": ("应录未录：移送未录入", "Missing entries: referral never entered"),
}


def _message(check: str, facts: dict[str, str], name: str, resolved: bool) -> str:
    """The alert text, "中文 / English" clause by clause (the view shows one language)."""
    zh, en = _TITLES[check]
    if check == "silent":
        who = f"{name}：" if name else ""
        body = (f"{who}自{facts['last_entry']}起已{facts['silent_working_days']}个工作日"
                f"未录入处罚决定（按其以往录入频率，超过{facts['threshold']}个工作日即属异常） / "
                f"{name + ': ' if name else ''}no penalty decision entered for "
                f"{facts['silent_working_days']} working days since {facts['last_entry']} "
                f"(over {facts['threshold']} given its own history)")
    elif check == "gap":
        body = (f"{facts['missing_number']}未录入（{facts['previous_number']}与"
                f"{facts['next_number']}已录入） / {facts['missing_number']} not entered "
                f"({facts['previous_number']} and {facts['next_number']} are)")
    else:
        body = (f"反馈或判决引用的移送书{facts['referral_number']}，移送机关未录入 / "
                f"referral {facts['referral_number']} quoted by feedback or a judgment was "
                f"never entered by the referring agency")
    state = "；已补录 / entered since" if resolved else ""
    return f"{zh} / {en}: {body}{state}"
