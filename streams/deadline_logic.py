"""Deadline monitor, pure part: a case's events and "now" → open clocks and alert states.

The engine keeps each case's events, calls :func:`evaluate_case` when an event
arrives (``now`` = the latest legal time known, so a backfill of last year yields last
year's lateness) and on a timer (``now`` = wall time), and emits :func:`alert_changes`.

Rules come from ``hub/rules/deadlines.yaml``; three evaluations:

- ``deadline``: an alert is raised once the clock runs out without a stop event, and
  resolved when the stop event arrives, late or not (the resolution says which);
- ``window``: a right rather than a duty (ask for reconsideration within 3 days): only a
  stop event that comes after the window closed is flagged, raised and resolved at once;
- ``same_event_lag``: two timestamps of one event (entered more than 3 working days after
  the decision): a late one is recorded as raised-and-resolved, nothing is left to do.

Everything is deterministic: alert ids are UUIDv5 of case, rule and starting event, so
two evaluations never produce two alerts.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hub.calendar import CHINA_TZ, WorkingDayCalendar, china_date, default_calendar
from hub.models import Alert, AlertKind, AlertStatus, CaseEvent
from hub.rules import DeadlineRule, DeadlineRules, ThresholdTable, ViolationOffenceTable
from streams._alerts import AlertState, alert_changes, alert_id_for, build_alert
from streams._deadline_plans import (
    BUILT_ALERTS,
    CaseFacts,
    RuleIndex,
    RulePlan,
    Stop,
    first_match,
    in_order,
    later_copies,
    rule_index,
    stop_events,
)
from streams._facts import (
    offence_category,
    ordered,
    owning_unit,
)
from streams.deadline_rule_terms import (
    clock_deadline,
    escalation,
    find_stop,
    responsible_unit,
)

__all__ = [
    "COPY_ROLES_DETAIL",
    "PROCESSOR",
    "CaseDeadlines",
    "OpenClock",
    "alert_changes",
    "evaluate_case",
    "is_entered_late",
]

PROCESSOR = "deadlines"
#: Alert detail naming the unit roles that get a copy of an overdue alert
#: (``copy_when_overdue`` in ``deadlines.yaml``; delivered by ``routing_logic.alert_copies``).
COPY_ROLES_DETAIL = "copy_to_roles"


@dataclass(frozen=True)
class OpenClock:
    """A clock that is running (or ran out) with nothing yet to stop it."""

    rule_id: str
    alert_id: str
    case_id: str
    trigger_event_id: str
    started_at: datetime
    due_date: date
    due_at: datetime
    responsible_unit_code: str
    overdue: bool
    severity: str


@dataclass(frozen=True)
class CaseDeadlines:
    """The result of one evaluation of a case."""

    case_id: str
    open_clocks: tuple[OpenClock, ...]
    alerts: tuple[AlertState, ...]
    next_check_at: datetime | None

    def changes(self, previous: Mapping[str, str]) -> list[Alert]:
        """Alerts to emit given what was emitted before (alert id → ``snapshot_of``)."""
        return alert_changes(previous, self.alerts)


def is_entered_late(
    occurred_at: datetime,
    recorded_at: datetime,
    *,
    working_days: int = 3,
    calendar: WorkingDayCalendar | None = None,
) -> bool:
    """True when a decision reached the hub more than ``working_days`` after it was made.

    Counted in China dates on the PRC calendar: a Friday decision entered the following
    Wednesday is on time, Thursday is late (local implementing opinion, item 8).
    """
    cal = calendar or default_calendar()
    due = cal.add_working_days(china_date(occurred_at), working_days)
    return china_date(recorded_at) > due


def _message(rule: DeadlineRule, due: date, late: bool | None, resolved: bool) -> str:
    if resolved:
        state = "已完成（超期）/ done late" if late else "已完成（未超期）/ done in time"
    else:
        state = "已超期 / overdue"
    return f"{rule.title_zh} / {rule.title_en}: {state}; 期限 due {due.isoformat()}"


def _details(
    rule: DeadlineRule,
    started_at: datetime,
    due_at: datetime,
    *,
    late: bool | None = None,
    note: str = "",
    done_at: datetime | None = None,
    cal: WorkingDayCalendar,
) -> dict[str, str]:
    details = {
        "title_zh": rule.title_zh,
        "evaluation": rule.evaluation,
        "started_at": started_at.isoformat(),
        "due_at": due_at.isoformat(),
        "clock": f"{rule.clock.amount} {rule.clock.unit}",
        "verified": "true" if rule.verified else "false",
        "operator_set": "true" if rule.operator_set else "false",
    }
    if late is not None:
        details["late"] = "true" if late else "false"
    if done_at is not None:
        details["done_at"] = done_at.isoformat()
        if late:
            details["working_days_late"] = str(
                cal.working_days_between(
                    (due_at - timedelta(microseconds=1)).astimezone(CHINA_TZ).date(),
                    china_date(done_at),
                )
            )
    if note:
        details["escalation"] = note
    copy = rule.copy_when_overdue
    if copy is not None and (late or (late is None and done_at is None)):
        # Overdue (raised, or answered late): the copy the rule asks for is due or went out.
        details[COPY_ROLES_DETAIL] = ",".join(copy.roles)
        details["copy_purpose_zh"] = copy.purpose_zh
        details["copy_purpose_en"] = copy.purpose_en
        details["copy_source"] = copy.source
    return details


def evaluate_case(
    events: Iterable[CaseEvent],
    now: datetime,
    *,
    rules: DeadlineRules,
    thresholds: ThresholdTable,
    hub_unit_code: str,
    violation_offences: ViolationOffenceTable | None = None,
    calendar: WorkingDayCalendar | None = None,
    emitted: Container[str] | None = None,
    withdrawn_events: Iterable[CaseEvent] = (),
) -> CaseDeadlines:
    """Open clocks and alert states of one case at ``now`` (aware; legal or wall time).

    Pure and idempotent: the same events and ``now`` give the same result, whatever the
    order the events are passed in. ``emitted``: the ids of the alerts emitted for the
    case so far, when the caller keeps them; a resolution that is only news for an alert
    emitted before (a clock stopped in time, a rule withdrawn) is then left out when its
    id is not among them, instead of being built to be dropped by
    :meth:`CaseDeadlines.changes` (most clocks stop in time: building their alert was a
    tenth of the engine's time).

    Only the rules an event type of the case can start are visited, each over the events
    of its start types (``tests/unit/test_deadline_equivalence.py`` holds this to a plain
    every-rule × every-event evaluation).

    ``withdrawn_events``: feedback that has just left the case (its match was withdrawn,
    FeedbackMatchWithdrawn). They are no longer among ``events``, so the clocks they
    started are gone; an alert such a clock raised before is resolved as withdrawn
    (emitted only when it was raised: ``emitted`` says so), never left open for a
    decision the case no longer holds.
    """
    cal = calendar or default_calendar()
    case_events = ordered(events)
    if not case_events:
        raise ValueError("evaluate_case needs at least one event of the case")
    case_id = case_events[0].case_id
    fallback_unit = owning_unit(case_events) or hub_unit_code
    category = offence_category(case_events, thresholds, violation_offences)
    index = rule_index(rules)
    positions: dict[str, list[int]] = {}
    for position, event in enumerate(case_events):
        positions.setdefault(type(event).__name__, []).append(position)
    started = sorted({plan for name in positions for plan in index.by_start_type.get(name, ())})
    facts = CaseFacts(case_events)
    clocks: list[OpenClock] = []
    states: list[AlertState] = []
    next_check: datetime | None = None

    for plan in (index.plans[number] for number in started):
        rule = plan.rule
        # A rule for another offence category may have raised an alert before the case's
        # category was known (a police receipt read before the referral naming an
        # economic crime): such alerts are withdrawn, never left open for ever.
        withdrawn = not rule.applies_to_category(category)
        stops: list[Stop] | None = None
        starts = in_order(plan.start_matchers, positions)
        copies = later_copies(plan, case_events, starts, index.documents)
        for position in starts:
            start = case_events[position]
            matcher = first_match(plan.start_matchers[type(start).__name__], start)
            if matcher is None:
                continue
            started_at = matcher.start_instant(start)
            if started_at is None:
                continue
            if stops is None and not withdrawn:
                stops = stop_events(plan, case_events, positions)
            copy = position in copies and not withdrawn
            outcome = _evaluate_clock(
                plan, start, started_at, now, cal, facts=facts, hub_unit_code=hub_unit_code,
                fallback_unit=fallback_unit, stops=stops or [], withdrawn=withdrawn or copy,
                emitted=emitted, withdrawn_because=_SAME_DOCUMENT if copy else _OFFENCE_CATEGORY,
            )
            if outcome is None:
                continue
            if outcome.clock is not None:
                clocks.append(outcome.clock)
            if outcome.alert is not None:
                states.append(outcome.alert)
            at = outcome.check_at
            if at is not None and at > now and (next_check is None or at < next_check):
                next_check = at
    states.extend(_withdrawn_clocks(withdrawn_events, index, now, cal, facts=facts,
                                    hub_unit_code=hub_unit_code,
                                    fallback_unit=fallback_unit, emitted=emitted))
    return CaseDeadlines(case_id, tuple(clocks), tuple(states), next_check)


def _withdrawn_clocks(
    withdrawn_events: Iterable[CaseEvent], index: RuleIndex, now: datetime,
    cal: WorkingDayCalendar, *, facts: CaseFacts, hub_unit_code: str, fallback_unit: str,
    emitted: Container[str] | None,
) -> list[AlertState]:
    """The withdrawals of the alerts raised by clocks that left events had started."""
    states: list[AlertState] = []
    for start in withdrawn_events:
        for number in index.by_start_type.get(type(start).__name__, ()):
            plan = index.plans[number]
            matcher = first_match(plan.start_matchers[type(start).__name__], start)
            started_at = matcher.start_instant(start) if matcher is not None else None
            if started_at is None:
                continue
            outcome = _evaluate_clock(
                plan, start, started_at, now, cal, facts=facts, hub_unit_code=hub_unit_code,
                fallback_unit=fallback_unit, stops=[], withdrawn=True, emitted=emitted,
                withdrawn_because=_MATCH_WITHDRAWN)
            if outcome is not None and outcome.alert is not None:
                states.append(outcome.alert)
    return states


#: Why a clock's alert is withdrawn: (detail value, Chinese reason, English reason).
_OFFENCE_CATEGORY = ("offence_category", "本案罪名类别不适用",
                     "the rule does not apply to the case's offence category")
_MATCH_WITHDRAWN = ("feedback_match", "启动期限的反馈已撤出本案",
                    "the feedback that started the clock was taken out of the case")
_SAME_DOCUMENT = ("same_document", "同一文书的更正或重复记录，以首次录入的为准",
                  "a corrected or repeated record of the same document: the one entered "
                  "first keeps the clock")


@dataclass(frozen=True)
class _ClockOutcome:
    clock: OpenClock | None
    alert: AlertState | None
    check_at: datetime | None


@dataclass(frozen=True)
class _Clock:
    """What every alert of one clock says, whatever its state."""

    rule: DeadlineRule
    kind: AlertKind
    alert_id: str
    start: CaseEvent
    started_at: datetime
    due_date: date
    due_at: datetime
    responsible: str
    now: datetime
    hub_unit_code: str
    cal: WorkingDayCalendar

    def alert(self, status: AlertStatus, severity: str, occurred_at: datetime, *,
              late: bool | None, resolved_by: str | None, note: str = "",
              done_at: datetime | None = None) -> Alert:
        """The clock's alert in this state, recorded ``now``.

        An overdue clock's alert is built again at every evaluation of its case, equal
        but for ``recorded_at``: the alert is kept (bounded, keyed by all it says but
        that) and copied with this evaluation's time, without validating it again.
        """
        rule, now = self.rule, self.now
        key = (self.kind, self.alert_id, self.start.case_id, self.start.event_id, status,
               severity, occurred_at, occurred_at.tzinfo, late, resolved_by, note, done_at,
               None if done_at is None else done_at.tzinfo, self.responsible,
               self.hub_unit_code, self.due_date, self.due_at, self.due_at.tzinfo,
               self.started_at, self.started_at.tzinfo, self.cal)
        if now.utcoffset() is not None:  # else validation refuses the naive time below
            known = BUILT_ALERTS.get(rule, key)
            if known is not None:
                return known.model_copy(update={"recorded_at": now,
                                                "details": dict(known.details)})
        built = build_alert(
            alert_id=self.alert_id, case_id=self.start.case_id, kind=self.kind,
            severity=severity, status=status, hub_unit_code=self.hub_unit_code,
            responsible_unit_code=self.responsible, rule_id=rule.id, legal_source=rule.source,
            occurred_at=occurred_at, recorded_at=now, processor=PROCESSOR,
            message=_message(rule, self.due_date, late, status is AlertStatus.RESOLVED),
            due_date=self.due_date, trigger_event_id=self.start.event_id,
            resolved_by_event_id=resolved_by,
            details=_details(rule, self.started_at, self.due_at, late=late, note=note,
                             done_at=done_at, cal=self.cal),
        )
        BUILT_ALERTS.put(rule, key, built.model_copy(update={"details": dict(built.details)}))
        return built


def _evaluate_clock(
    plan: RulePlan,
    start: CaseEvent,
    started_at: datetime,
    now: datetime,
    cal: WorkingDayCalendar,
    *,
    facts: CaseFacts,
    hub_unit_code: str,
    fallback_unit: str,
    stops: Sequence[Stop],
    withdrawn: bool,
    emitted: Container[str] | None,
    withdrawn_because: tuple[str, str, str] = _OFFENCE_CATEGORY,
) -> _ClockOutcome | None:
    """One clock's state at ``now`` (None: nothing to report or keep).

    What only a reported clock needs (its alert id, responsible unit, alert) is worked
    out after the cheap exits: most clocks are an entry on time or a clock stopped in
    time, and yield nothing.
    """
    rule = plan.rule
    kind = plan.kind
    due: tuple[date, datetime] | None = None
    if not withdrawn:
        if kind is None:
            kind = AlertKind[rule.alert_kind]  # the KeyError names the kind
        if rule.evaluation == "same_event_lag":
            done_at = getattr(start, rule.lag_until or "", None)
            if not isinstance(done_at, datetime):
                return None
            due = clock_deadline(rule, start, started_at, cal)
            if done_at < due[1]:
                return None
    alert_id = alert_id_for(start.case_id, rule.id, start.event_id)
    never_emitted = emitted is not None and alert_id not in emitted
    if withdrawn and never_emitted:
        return None  # nothing to withdraw
    due_date, due_at = due or clock_deadline(rule, start, started_at, cal)
    if kind is None:
        kind = AlertKind[rule.alert_kind]

    def clock() -> _Clock:
        assert kind is not None  # narrowed above
        return _Clock(rule, kind, alert_id, start, started_at, due_date, due_at,
                      responsible_unit(rule, start, facts, fallback_unit, hub_unit_code), now,
                      hub_unit_code, cal)

    if withdrawn:
        # Only emitted when an alert of this id was raised before (emit_if_new=False).
        resolved = clock().alert(AlertStatus.RESOLVED, rule.severity, now, late=None,
                                 resolved_by=None)
        detail, reason_zh, reason_en = withdrawn_because
        resolved = resolved.model_copy(update={
            "message": f"{rule.title_zh} / {rule.title_en}: 已撤回 / withdrawn ({reason_zh}"
                       f" / {reason_en})",
            "details": {**resolved.details, "withdrawn": detail}})
        return _ClockOutcome(None, AlertState(resolved, emit_if_new=False,
                                              withdraws_inapplicable=True), None)

    if rule.evaluation == "same_event_lag":  # entered late (see above)
        done_at = getattr(start, rule.lag_until or "")
        return _ClockOutcome(None, AlertState(clock().alert(
            AlertStatus.RESOLVED, rule.severity, done_at, late=True,
            resolved_by=start.event_id, done_at=done_at)), None)

    found = find_stop(rule, start, started_at, stops)
    if found is not None:
        stop, stopped_at = found.event, found.at
        late = stopped_at >= due_at and not rule.lateness_exempt(stop)
        if late:
            severity, note, _ = escalation(rule, started_at, stopped_at, cal)
            return _ClockOutcome(None, AlertState(clock().alert(
                AlertStatus.RESOLVED, severity, stopped_at, late=True,
                resolved_by=stop.event_id, note=note, done_at=stopped_at)), None)
        if rule.evaluation == "deadline":
            if never_emitted:
                return None  # done in time, nothing to undo
            # Done in time. A sweep may still have raised the alert before the hub read the
            # act: the act was recorded late, or a backfill's sweep (on wall time) ran
            # before its next batch. Resolve it if so; emit nothing if it never was.
            return _ClockOutcome(None, AlertState(
                clock().alert(AlertStatus.RESOLVED, rule.severity, stop.recorded_at,
                              late=False, resolved_by=stop.event_id, done_at=stopped_at),
                emit_if_new=False, undoes_early_sweep=stop.recorded_at < due_at), None)
        return None

    overdue = now >= due_at
    responsible = responsible_unit(rule, start, facts, fallback_unit, hub_unit_code)
    if rule.evaluation == "window":
        if overdue:
            return None
        return _ClockOutcome(OpenClock(rule.id, alert_id, start.case_id, start.event_id,
                                       started_at, due_date, due_at, responsible, False,
                                       rule.severity), None, due_at)

    severity, note, upcoming = escalation(rule, started_at, now, cal)
    open_clock = OpenClock(rule.id, alert_id, start.case_id, start.event_id, started_at,
                           due_date, due_at, responsible, overdue, severity)
    if not overdue:
        return _ClockOutcome(open_clock, None, due_at)
    raised = clock().alert(AlertStatus.RAISED, severity, due_at, late=None, resolved_by=None,
                           note=note)
    return _ClockOutcome(open_clock, AlertState(raised), upcoming)
