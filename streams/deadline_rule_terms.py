"""What one deadline rule sets for one clock: when it is due, its severity, its stop, its unit.

These read the fields of a rule in ``hub/rules/deadlines.yaml`` (clock, escalations,
correlate, responsible) against the event that started a clock, and nothing else: when
the clock runs out, how severe it has grown by a given time, which event stops it, and
which unit must answer for it. The evaluation (:mod:`streams.deadline_logic`) takes these
terms as given and decides what a clock's state means for its alert (raised, resolved in
time or late, undone, withdrawn). Kept apart, a change to how the rule file is read and a
change to when alerts are raised or resolved are each made, and reviewed, in one place;
``tests/unit/test_deadline_equivalence.py`` re-reads the same fields plainly (no memo, no
index) as its reference for the whole evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from hub.calendar import WorkingDayCalendar, china_date
from hub.models import CaseEvent
from hub.rules import DeadlineRule
from hub.rules.deadlines import field_text
from streams._deadline_plans import CaseFacts, Stop, clock_instant, clock_limits

__all__ = ["clock_deadline", "correlated", "escalation", "find_stop", "responsible_unit"]

_SEVERITY_RANK = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}


def clock_deadline(
    rule: DeadlineRule, start_event: object, started_at: datetime, cal: WorkingDayCalendar
) -> tuple[date, datetime]:
    """Due date and first overdue instant of one clock (memoised: :func:`clock_limits`)."""
    return clock_limits(cal, started_at, started_at.tzinfo,
                        rule.declared_due_date(start_event), rule.clock.amount, rule.clock.unit,
                        rule.rest_day_extends)


def escalation(
    rule: DeadlineRule, started_at: datetime, now: datetime, cal: WorkingDayCalendar
) -> tuple[str, str, datetime | None]:
    """Severity in force at ``now``, its note, and the next escalation instant."""
    severity, note = rule.severity, ""
    upcoming: datetime | None = None
    for step in rule.escalations:
        at = clock_instant(cal, started_at, started_at.tzinfo, step.after.amount,
                           step.after.unit, rule.rest_day_extends)
        if at <= now:
            if _SEVERITY_RANK[step.severity] >= _SEVERITY_RANK[severity]:
                severity = step.severity
            note = step.note
        elif upcoming is None or at < upcoming:
            upcoming = at
    return severity, note, upcoming


def correlated(rule: DeadlineRule, start: object, stop: object) -> bool:
    """Whether ``stop`` answers ``start``: a ``correlate`` pair holds the same value on
    both, or no pair has a value on both sides to compare."""
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


def find_stop(rule: DeadlineRule, start: CaseEvent, started_at: datetime,
              stops: Sequence[Stop]) -> Stop | None:
    """The first event that stops the clock ``start`` started."""
    start_day = china_date(started_at)
    earlier_counts = rule.earlier_stop_counts
    for stop in stops:
        if stop.event.event_id == start.event_id or (stop.day < start_day
                                                      and not earlier_counts):
            continue
        if correlated(rule, start, stop.event):
            return stop
    return None


def responsible_unit(
    rule: DeadlineRule, start: CaseEvent, facts: CaseFacts, fallback: str,
    hub_unit_code: str,
) -> str:
    """The unit the rule's ``responsible`` names for the clock ``start`` started
    (``fallback`` when that unit is not known)."""
    spec = rule.responsible
    code: str | None
    if spec.party == "procuratorate":
        code = hub_unit_code
    elif spec.party == "start_event_source":
        code = start.source_unit
    elif spec.party == "start_event_field":
        code = field_text(getattr(start, spec.field or "", None))
    elif spec.party == "referring_agency":
        code = facts.referring_agency()
    else:
        code = facts.receiving_police()
    return code or fallback
