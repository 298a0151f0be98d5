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
from datetime import date, datetime, time, timedelta

from hub.calendar import CHINA_TZ, WorkingDayCalendar, china_date, default_calendar
from hub.models import Alert, AlertKind, AlertStatus, CaseEvent
from hub.rules import DeadlineRule, DeadlineRules, ThresholdTable, ViolationOffenceTable
from hub.rules.deadlines import EventMatcher, field_text
from streams._alerts import AlertState, alert_changes, alert_id_for, build_alert
from streams._facts import (
    offence_category,
    ordered,
    owning_unit,
    receiving_police,
    referring_agency,
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

_SEVERITY_RANK = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}


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


def _is_date_only(moment: datetime) -> bool:
    local = moment.astimezone(CHINA_TZ)
    return local.time() == time(0)


def _deadline(
    rule: DeadlineRule, start_event: object, started_at: datetime, cal: WorkingDayCalendar
) -> tuple[date, datetime]:
    """Due date and first overdue instant of one clock."""
    declared = rule.declared_due_date(start_event)
    if declared is not None:
        return declared, datetime.combine(declared + timedelta(days=1), time(0), tzinfo=CHINA_TZ)
    start = started_at
    if rule.clock.unit == "hours" and _is_date_only(started_at):
        # A date-only decision (midnight): count hours from the end of that day rather
        # than accuse a unit of lateness for hours it could not have known about.
        start = started_at + timedelta(days=1)
    due_at = cal.deadline_instant(start, rule.clock.amount, rule.clock.unit)
    if rule.clock.unit == "hours":
        return china_date(due_at), due_at
    return (due_at - timedelta(days=1)).astimezone(CHINA_TZ).date(), due_at


def _escalation(
    rule: DeadlineRule, started_at: datetime, now: datetime, cal: WorkingDayCalendar
) -> tuple[str, str, datetime | None]:
    """Severity in force at ``now``, its note, and the next escalation instant."""
    severity, note = rule.severity, ""
    upcoming: datetime | None = None
    for step in rule.escalations:
        at = cal.deadline_instant(started_at, step.after.amount, step.after.unit)
        if at <= now:
            if _SEVERITY_RANK[step.severity] >= _SEVERITY_RANK[severity]:
                severity = step.severity
            note = step.note
        elif upcoming is None or at < upcoming:
            upcoming = at
    return severity, note, upcoming


def _correlated(rule: DeadlineRule, start: object, stop: object) -> bool:
    comparable = False
    for pair in rule.correlate:
        start_value = field_text(getattr(start, pair.start, None))
        stop_value = field_text(getattr(stop, pair.stop, None))
        if start_value is None or stop_value is None:
            continue
        if start_value == stop_value:
            return True
        comparable = True
    return not comparable


@dataclass(frozen=True)
class _RulePlan:
    """A monitored rule with the event type names that can start or stop its clock.

    Checking the type name first skips ``EventMatcher.matches`` (field filters, pydantic
    attribute access) for every event that cannot match: per case and evaluation that was
    rules × events × events matcher calls, the largest share of the worker's CPU.
    """

    rule: DeadlineRule
    start_types: frozenset[str]
    stop_types: frozenset[str]


#: Plans per rule set (keyed by identity; the rule set is kept so the id stays valid).
_PLANS: dict[int, tuple[DeadlineRules, tuple[_RulePlan, ...]]] = {}


def _plans(rules: DeadlineRules) -> tuple[_RulePlan, ...]:
    cached = _PLANS.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    plans = tuple(
        _RulePlan(rule, frozenset(m.event_type for m in rule.starts_on),
                  frozenset(m.event_type for m in rule.stops_on))
        for rule in rules.monitored()
    )
    if len(_PLANS) > 64:  # tests build many rule sets; a worker has one
        _PLANS.clear()
    _PLANS[id(rules)] = (rules, plans)
    return plans


def _stop_events(plan: _RulePlan, events: Sequence[CaseEvent]) -> list[CaseEvent]:
    """The events that satisfy the rule's clock, in the order given (once per rule)."""
    rule, stop_types = plan.rule, plan.stop_types
    return [event for event in events
            if type(event).__name__ in stop_types and rule.is_stop(event)]


def _find_stop(
    rule: DeadlineRule, start: CaseEvent, started_at: datetime, events: Sequence[CaseEvent],
    stops: Sequence[CaseEvent] | None = None,
) -> CaseEvent | None:
    """The first event that stops the clock ``start`` started (``stops``: the events
    already known to satisfy the rule, see :func:`_stop_events`)."""
    start_day = china_date(started_at)
    for event in events if stops is None else stops:
        if event.event_id == start.event_id:
            continue
        if stops is None and not rule.is_stop(event):
            continue
        if china_date(rule.stop_instant(event, event.occurred_at)) < start_day:
            continue
        if _correlated(rule, start, event):
            return event
    return None


def _responsible(
    rule: DeadlineRule, start: CaseEvent, events: Sequence[CaseEvent], fallback: str,
    hub_unit_code: str,
) -> str:
    spec = rule.responsible
    code: str | None
    if spec.party == "procuratorate":
        code = hub_unit_code
    elif spec.party == "start_event_source":
        code = start.source_unit
    elif spec.party == "start_event_field":
        code = field_text(getattr(start, spec.field or "", None))
    elif spec.party == "referring_agency":
        code = referring_agency(events)
    else:
        code = receiving_police(events)
    return code or fallback


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
) -> CaseDeadlines:
    """Open clocks and alert states of one case at ``now`` (aware; legal or wall time).

    Pure and idempotent: the same events and ``now`` give the same result, whatever the
    order the events are passed in. ``emitted``: the ids of the alerts emitted for the
    case so far, when the caller keeps them; a resolution that is only news for an alert
    emitted before (a clock stopped in time, a rule withdrawn) is then left out when its
    id is not among them, instead of being built to be dropped by
    :meth:`CaseDeadlines.changes` (most clocks stop in time: building their alert was a
    tenth of the engine's time).
    """
    cal = calendar or default_calendar()
    case_events = ordered(events)
    if not case_events:
        raise ValueError("evaluate_case needs at least one event of the case")
    case_id = case_events[0].case_id
    fallback_unit = owning_unit(case_events) or hub_unit_code
    category = offence_category(case_events, thresholds, violation_offences)
    clocks: list[OpenClock] = []
    states: list[AlertState] = []
    next_check: datetime | None = None

    def remember(at: datetime | None) -> None:
        nonlocal next_check
        if at is not None and at > now and (next_check is None or at < next_check):
            next_check = at

    for plan in _plans(rules):
        rule = plan.rule
        # A rule for another offence category may have raised an alert before the case's
        # category was known (a police receipt read before the referral naming an
        # economic crime): such alerts are withdrawn, never left open for ever.
        withdrawn = not rule.applies_to_category(category)
        stops: list[CaseEvent] | None = None
        for start in case_events:
            if type(start).__name__ not in plan.start_types:
                continue
            matcher = rule.start_matcher(start)
            if matcher is None:
                continue
            started_at = matcher.start_instant(start)
            if started_at is None:
                continue
            if stops is None and not withdrawn:
                stops = _stop_events(plan, case_events)
            outcome = _evaluate_clock(
                rule, matcher, start, started_at, case_events, now, cal,
                hub_unit_code=hub_unit_code, fallback_unit=fallback_unit, stops=stops,
                withdrawn=withdrawn, emitted=emitted,
            )
            if outcome.clock is not None:
                clocks.append(outcome.clock)
            if outcome.alert is not None:
                states.append(outcome.alert)
            remember(outcome.check_at)
    return CaseDeadlines(case_id, tuple(clocks), tuple(states), next_check)


@dataclass(frozen=True)
class _ClockOutcome:
    clock: OpenClock | None
    alert: AlertState | None
    check_at: datetime | None


def _evaluate_clock(
    rule: DeadlineRule,
    matcher: EventMatcher,
    start: CaseEvent,
    started_at: datetime,
    events: Sequence[CaseEvent],
    now: datetime,
    cal: WorkingDayCalendar,
    *,
    hub_unit_code: str,
    fallback_unit: str,
    stops: Sequence[CaseEvent] | None = None,
    withdrawn: bool = False,
    emitted: Container[str] | None = None,
) -> _ClockOutcome:
    alert_id = alert_id_for(start.case_id, rule.id, start.event_id)
    never_emitted = emitted is not None and alert_id not in emitted
    if withdrawn and never_emitted:
        return _ClockOutcome(None, None, None)  # nothing to withdraw
    due_date, due_at = _deadline(rule, start, started_at, cal)
    responsible = _responsible(rule, start, events, fallback_unit, hub_unit_code)
    kind = AlertKind[rule.alert_kind]

    def alert(status: AlertStatus, severity: str, occurred_at: datetime, *,
              late: bool | None, resolved_by: str | None, note: str = "",
              done_at: datetime | None = None) -> Alert:
        return build_alert(
            alert_id=alert_id, case_id=start.case_id, kind=kind, severity=severity,
            status=status, hub_unit_code=hub_unit_code, responsible_unit_code=responsible,
            rule_id=rule.id, legal_source=rule.source, occurred_at=occurred_at,
            recorded_at=now, processor=PROCESSOR,
            message=_message(rule, due_date, late, status is AlertStatus.RESOLVED),
            due_date=due_date, trigger_event_id=start.event_id, resolved_by_event_id=resolved_by,
            details=_details(rule, started_at, due_at, late=late, note=note, done_at=done_at,
                             cal=cal),
        )

    if withdrawn:
        # Only emitted when an alert of this id was raised before (emit_if_new=False).
        resolved = alert(AlertStatus.RESOLVED, rule.severity, now, late=None, resolved_by=None)
        resolved = resolved.model_copy(update={
            "message": f"{rule.title_zh} / {rule.title_en}: 已撤回 / withdrawn (本案罪名类别不适用"
                       " / the rule does not apply to the case's offence category)",
            "details": {**resolved.details, "withdrawn": "offence_category"}})
        return _ClockOutcome(None, AlertState(resolved, emit_if_new=False,
                                              withdraws_inapplicable=True), None)

    if rule.evaluation == "same_event_lag":
        done_at = getattr(start, rule.lag_until or "", None)
        if not isinstance(done_at, datetime) or done_at < due_at:
            return _ClockOutcome(None, None, None)
        return _ClockOutcome(None, AlertState(alert(
            AlertStatus.RESOLVED, rule.severity, done_at, late=True,
            resolved_by=start.event_id, done_at=done_at)), None)

    stop = _find_stop(rule, start, started_at, events, stops)
    if stop is not None:
        stopped_at = rule.stop_instant(stop, stop.occurred_at)
        late = stopped_at >= due_at and not rule.lateness_exempt(stop)
        if late:
            severity, note, _ = _escalation(rule, started_at, stopped_at, cal)
            return _ClockOutcome(None, AlertState(alert(
                AlertStatus.RESOLVED, severity, stopped_at, late=True,
                resolved_by=stop.event_id, note=note, done_at=stopped_at)), None)
        if rule.evaluation == "deadline":
            if never_emitted:
                return _ClockOutcome(None, None, None)  # done in time, nothing to undo
            # Done in time. A sweep may still have raised the alert before the hub read the
            # act: the act was recorded late, or a backfill's sweep (on wall time) ran
            # before its next batch. Resolve it if so; emit nothing if it never was.
            return _ClockOutcome(None, AlertState(
                alert(AlertStatus.RESOLVED, rule.severity, stop.recorded_at, late=False,
                      resolved_by=stop.event_id, done_at=stopped_at),
                emit_if_new=False, undoes_early_sweep=stop.recorded_at < due_at), None)
        return _ClockOutcome(None, None, None)

    overdue = now >= due_at
    if rule.evaluation == "window":
        if overdue:
            return _ClockOutcome(None, None, None)
        clock = OpenClock(rule.id, alert_id, start.case_id, start.event_id, started_at,
                          due_date, due_at, responsible, False, rule.severity)
        return _ClockOutcome(clock, None, due_at)

    severity, note, upcoming = _escalation(rule, started_at, now, cal)
    clock = OpenClock(rule.id, alert_id, start.case_id, start.event_id, started_at, due_date,
                      due_at, responsible, overdue, severity)
    if not overdue:
        return _ClockOutcome(clock, None, due_at)
    raised = alert(AlertStatus.RAISED, severity, due_at, late=None, resolved_by=None, note=note)
    return _ClockOutcome(clock, AlertState(raised), upcoming)
