"""Indexes and memos that keep :func:`streams.deadline_logic.evaluate_case` cheap.

The evaluation's rules are those of ``deadlines.yaml``; its cost was every rule × every
event of the case, each clock's deadline counted again on the working-day calendar at
every evaluation, and case-wide facts found again per clock. Here: the rules indexed by
the event types that start and stop them, the deadline computations memoised (bounded,
keyed by everything they read), and the case facts found once per evaluation. Nothing
here grows with the number of cases.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from hub.calendar import CHINA_TZ, ClockUnit, WorkingDayCalendar, china_date
from hub.models import Alert, AlertKind, CaseEvent
from hub.rules import DeadlineRule, DeadlineRules
from hub.rules.deadlines import EventMatcher
from streams._facts import receiving_police, referring_agency

__all__ = [
    "BUILT_ALERTS",
    "MEMO_SIZE",
    "AlertMemo",
    "CaseFacts",
    "Entries",
    "RuleIndex",
    "RulePlan",
    "Stop",
    "clock_instant",
    "clock_limits",
    "first_match",
    "in_order",
    "later_copies",
    "rule_index",
    "stop_events",
]

#: Deadline computations kept per memo (a worker's recent clock starts; ~400 B each, so
#: ~3 MiB at most).
MEMO_SIZE = 8_192


def _is_date_only(moment: datetime) -> bool:
    return moment.astimezone(CHINA_TZ).time() == time(0)


@functools.lru_cache(maxsize=MEMO_SIZE)
def clock_limits(
    cal: WorkingDayCalendar, started_at: datetime, tzinfo: tzinfo | None,
    declared: date | None, amount: int, unit: ClockUnit, rest_day_extends: bool = False,
) -> tuple[date, datetime]:
    """Due date and first overdue instant from everything they depend on.

    Every evaluation of a case computes the deadline of every clock again, from the same
    start: memoised, bounded (a worker's recent starts, not its cases). ``tzinfo`` is part
    of the key because equal instants in two zones compare equal, yet an hour clock's due
    instant keeps its start's zone, which shows in the alert's ``due_at`` detail.
    """
    del tzinfo  # a key only
    if declared is not None:
        # the letter's date is the last day of its period: a rest day moves it too
        while rest_day_extends and not cal.is_working_day(declared):
            declared += timedelta(days=1)
        return declared, datetime.combine(declared + timedelta(days=1), time(0), tzinfo=CHINA_TZ)
    start = started_at
    if unit == "hours" and _is_date_only(started_at):
        # A date-only decision (midnight): count hours from the end of that day rather
        # than accuse a unit of lateness for hours it could not have known about.
        start = started_at + timedelta(days=1)
    due_at = cal.deadline_instant(start, amount, unit, rest_day_extends=rest_day_extends)
    if unit == "hours":
        return china_date(due_at), due_at
    return (due_at - timedelta(days=1)).astimezone(CHINA_TZ).date(), due_at


@functools.lru_cache(maxsize=MEMO_SIZE)
def clock_instant(cal: WorkingDayCalendar, started_at: datetime, tzinfo: tzinfo | None,
                  amount: int, unit: ClockUnit, rest_day_extends: bool = False) -> datetime:
    """``cal.deadline_instant`` memoised (an escalation's limit); ``tzinfo`` as in
    :func:`clock_limits`."""
    del tzinfo
    return cal.deadline_instant(started_at, amount, unit, rest_day_extends=rest_day_extends)


@dataclass(frozen=True)
class RulePlan:
    """A monitored rule with its ``starts_on`` / ``stops_on`` entries by event type name.

    Only an entry of the event's own type can match it (``EventMatcher.matches`` checks the
    type first), so looking the entries up by type gives the same first match as trying
    them all: the entry-late rule alone has twenty start entries, tried for every event.
    """

    rule: DeadlineRule
    start_matchers: Mapping[str, Entries]
    stop_matchers: Mapping[str, Entries]
    #: The rule's alert kind (None when the file names no kind: raised on first use).
    kind: AlertKind | None


@dataclass(frozen=True)
class RuleIndex:
    """A rule set's plans, and which of them each event type can start.

    An evaluation visits only the rules that some event of the case can start, instead of
    every rule × every event.
    """

    plans: tuple[RulePlan, ...]
    by_start_type: Mapping[str, tuple[int, ...]]
    #: ``DeadlineRules.documents``: the field numbering the document of an event type.
    documents: Mapping[str, str]


#: A rule's entries for one event type, in file order, each with whether it has field
#: filters (an entry without any matches every event of its type: no call needed).
Entries = tuple[tuple[EventMatcher, bool], ...]


def _by_type(matchers: Iterable[EventMatcher]) -> dict[str, Entries]:
    grouped: dict[str, list[tuple[EventMatcher, bool]]] = {}
    for matcher in matchers:
        filtered = bool(matcher.where or matcher.unless)
        grouped.setdefault(matcher.event_type, []).append((matcher, filtered))
    return {name: tuple(entries) for name, entries in grouped.items()}


#: Indexes per rule set (keyed by identity; the rule set is kept so the id stays valid).
_PLANS: dict[int, tuple[DeadlineRules, RuleIndex]] = {}


def rule_index(rules: DeadlineRules) -> RuleIndex:
    cached = _PLANS.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    plans = tuple(
        RulePlan(rule, _by_type(rule.starts_on), _by_type(rule.stops_on),
                  AlertKind.__members__.get(rule.alert_kind))
        for rule in rules.monitored()
    )
    starting: dict[str, list[int]] = {}
    for position, plan in enumerate(plans):
        for name in plan.start_matchers:
            starting.setdefault(name, []).append(position)
    index = RuleIndex(plans, {name: tuple(found) for name, found in starting.items()},
                      dict(rules.documents))
    if len(_PLANS) > 64:  # tests build many rule sets; a worker has one
        _PLANS.clear()
    _PLANS[id(rules)] = (rules, index)
    return index


def first_match(entries: Entries, event: object) -> EventMatcher | None:
    """The first entry ``event`` satisfies (``entries``: those of its type)."""
    for matcher, filtered in entries:
        if not filtered or matcher.matches(event):
            return matcher
    return None


_DIGIT = re.compile(r"\d")


def _numbers_a_document(value: object) -> bool:
    """A document number has a digit (〔2025〕3号); a placeholder (无, /, -) has none."""
    return isinstance(value, str) and _DIGIT.search(value) is not None


def later_copies(plan: RulePlan, events: Sequence[CaseEvent], starts: Iterable[int],
                 documents: Mapping[str, str]) -> frozenset[int]:
    """Positions of start events that copy an earlier-entered start of the same document,
    for a rule kept ``per_document`` (the entry clocks).

    A corrected record (a new event id) of a penalty decision would start its own
    late-entry clock when it is read again, months later. The copy entered first
    (earliest recorded, then event id) keeps the clock, as the statistics count the
    first entry. Only copies with the rule's start time count.
    """
    if not documents or not plan.rule.per_document:
        return frozenset()
    # First by document number alone (a dictionary entry per start); the filters and the
    # start time are read only for the rare number given twice: the entry rule starts on
    # nearly every event, which the evaluation matches once already.
    by_document: dict[tuple[str, str, str], list[int]] = {}
    for position in starts:
        event = events[position]
        name = type(event).__name__
        field = documents.get(name)
        number = event.__dict__.get(field) if field else None
        if _numbers_a_document(number):
            by_document.setdefault((name, event.source_unit, str(number)), []).append(position)
    copies: set[int] = set()
    for positions in by_document.values():
        if len(positions) < 2:
            continue
        timed = []
        for position in positions:
            event = events[position]
            matcher = first_match(plan.start_matchers[type(event).__name__], event)
            if matcher is not None and matcher.start_instant(event) is not None:
                timed.append(position)  # a copy without the start time keeps no clock
        if len(timed) > 1:
            kept = min(timed, key=lambda p: (events[p].recorded_at, events[p].event_id))
            copies.update(position for position in timed if position != kept)
    return frozenset(copies)


def in_order(names: Iterable[str], positions: Mapping[str, list[int]]) -> list[int]:
    """Positions in the case of the events of the given types, in case order."""
    found = [positions[name] for name in names if name in positions]
    if len(found) == 1:
        return found[0]
    return sorted(position for group in found for position in group)


@dataclass(frozen=True)
class Stop:
    """An event that satisfies a rule, with when it did (``DeadlineRule.stop_instant``)."""

    event: CaseEvent
    at: datetime
    day: date


def stop_events(plan: RulePlan, events: Sequence[CaseEvent],
                 positions: Mapping[str, list[int]]) -> list[Stop]:
    """The events that satisfy the rule's clock, in case order (once per rule)."""
    rule, matchers = plan.rule, plan.stop_matchers
    stops: list[Stop] = []
    for position in in_order(matchers, positions):
        event = events[position]
        if first_match(matchers[type(event).__name__], event) is not None:
            at = rule.stop_instant(event, event.occurred_at)
            stops.append(Stop(event, at, china_date(at)))
    return stops


class AlertMemo:
    """Alerts already built, by rule and everything else they say (a bounded LRU).

    The rule is compared by identity (its text, titles and source are in the alert);
    the entry holds it, so an id is never taken for another rule's.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[int, Hashable], tuple[DeadlineRule, Alert]] = (
            OrderedDict())

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, rule: DeadlineRule, key: Hashable) -> Alert | None:
        found = self._kept.get((id(rule), key))
        if found is None or found[0] is not rule:
            return None
        with suppress(KeyError):  # evicted meanwhile by another thread: still an answer
            self._kept.move_to_end((id(rule), key))
        return found[1]

    def put(self, rule: DeadlineRule, key: Hashable, alert: Alert) -> None:
        self._kept[(id(rule), key)] = (rule, alert)
        while len(self._kept) > self._size:
            with suppress(KeyError):
                self._kept.popitem(last=False)


#: A worker's recently built alerts (~3.5 KiB each with their key: ~7 MiB at most).
BUILT_ALERTS = AlertMemo(2_048)


class CaseFacts:
    """Facts of the whole case a clock's responsible unit may need, found once per
    evaluation (each is a scan of the case: per clock, that was rules × events²)."""

    __slots__ = ("_events", "_receiving", "_referring")

    def __init__(self, events: Sequence[CaseEvent]) -> None:
        self._events = events
        self._referring: tuple[str | None] | None = None
        self._receiving: tuple[str | None] | None = None

    def referring_agency(self) -> str | None:
        if self._referring is None:
            self._referring = (referring_agency(self._events),)
        return self._referring[0]

    def receiving_police(self) -> str | None:
        if self._receiving is None:
            self._receiving = (receiving_police(self._events),)
        return self._receiving[0]
