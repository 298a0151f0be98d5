"""The indexed, memoised ``evaluate_case`` equals a plain evaluation of every rule × event.

``evaluate_case`` visits only the rules an event type of the case can start, looks start
and stop entries up by event type, memoises deadlines across cases, finds case facts once
per call and reuses the alerts it built before (``streams/_deadline_plans.py``). Each
shortcut must leave the result exactly as the straightforward evaluation below gives it
(the code before issue #10's seventh pass): on generated histories of every event type
the rules name, in shuffled orders, with time zones mixed (equal instants in two zones
share a memo key), with and without the emitted alert ids, under the shipped rules and
under a variant with hour clocks and escalations on every rule.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.calendar import CHINA_TZ, WorkingDayCalendar, china_date
from hub.models import AlertKind, AlertStatus, CaseEvent, EnforcementStatus
from hub.rules import (
    DeadlineRule,
    DeadlineRules,
    load_deadlines,
    load_thresholds,
    load_violation_offences,
)
from hub.rules.deadlines import ClockSpec, Escalation, field_text
from streams._alerts import AlertState, alert_id_for, build_alert
from streams._deadline_plans import AlertMemo
from streams._facts import (
    offence_category,
    ordered,
    owning_unit,
    receiving_police,
    referring_agency,
)
from streams.deadline_logic import (
    PROCESSOR,
    CaseDeadlines,
    OpenClock,
    _details,
    _message,
    evaluate_case,
)
from streams.deadline_rule_terms import correlated
from tests.unit.data import case_events as ev

_SEVERITY_RANK = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}
_BASE = ev.at(2025, 1, 6)


# --- the reference: every monitored rule × every event, nothing cached ------------------

def _ref_deadline(rule: DeadlineRule, start: object, started_at: datetime,
                  cal: WorkingDayCalendar) -> tuple[date, datetime]:
    declared = rule.declared_due_date(start)
    if declared is not None:
        due_at = _ref_extended(rule, cal, datetime.combine(
            declared + timedelta(days=1), time(0), tzinfo=CHINA_TZ), "days")
        return (due_at - timedelta(days=1)).astimezone(CHINA_TZ).date(), due_at
    begin = started_at
    if rule.clock.unit == "hours" and started_at.astimezone(CHINA_TZ).time() == time(0):
        begin = started_at + timedelta(days=1)
    due_at = _ref_extended(rule, cal, cal.deadline_instant(begin, rule.clock.amount,
                                                            rule.clock.unit),
                           rule.clock.unit)
    if rule.clock.unit == "hours":
        return china_date(due_at), due_at
    return (due_at - timedelta(days=1)).astimezone(CHINA_TZ).date(), due_at


def _ref_extended(rule: DeadlineRule, cal: WorkingDayCalendar, due_at: datetime,
                  unit: str) -> datetime:
    """A natural-day or month period whose last day is a rest day ends a day later, until
    its last day is a working day (when the file's ``period_end`` says ``extend``)."""
    if rule.period_end is None or rule.period_end.on_rest_day != "extend" or unit not in (
            "days", "months"):
        return due_at
    while not cal.is_working_day((due_at - timedelta(days=1)).astimezone(CHINA_TZ).date()):
        due_at += timedelta(days=1)
    return due_at


def _ref_escalation(rule: DeadlineRule, started_at: datetime, now: datetime,
                    cal: WorkingDayCalendar) -> tuple[str, str, datetime | None]:
    severity, note, upcoming = rule.severity, "", None
    for step in rule.escalations:
        limit = _ref_extended(rule, cal, cal.deadline_instant(
            started_at, step.after.amount, step.after.unit), step.after.unit)
        if limit <= now:
            if _SEVERITY_RANK[step.severity] >= _SEVERITY_RANK[severity]:
                severity = step.severity
            note = step.note
        elif upcoming is None or limit < upcoming:
            upcoming = limit
    return severity, note, upcoming


def _ref_responsible(rule: DeadlineRule, start: CaseEvent, events: Sequence[CaseEvent],
                     fallback: str, hub_unit_code: str) -> str:
    party = rule.responsible.party
    code = (hub_unit_code if party == "procuratorate"
            else start.source_unit if party == "start_event_source"
            else field_text(getattr(start, rule.responsible.field or "", None))
            if party == "start_event_field"
            else referring_agency(events) if party == "referring_agency"
            else receiving_police(events))
    return code or fallback


def _ref_clock(rule: DeadlineRule, start: CaseEvent, started_at: datetime,
               events: Sequence[CaseEvent], now: datetime, cal: WorkingDayCalendar, *,
               hub_unit_code: str, fallback: str, withdrawn: bool,
               emitted: Container[str] | None, copy: bool = False
               ) -> tuple[OpenClock | None, AlertState | None, datetime | None]:
    withdrawn = withdrawn or copy
    alert_id = alert_id_for(start.case_id, rule.id, start.event_id)
    never_emitted = emitted is not None and alert_id not in emitted
    if withdrawn and never_emitted:
        return None, None, None
    due_date, due_at = _ref_deadline(rule, start, started_at, cal)
    responsible = _ref_responsible(rule, start, events, fallback, hub_unit_code)

    def alert(status: AlertStatus, severity: str, occurred_at: datetime, *,
              late: bool | None, resolved_by: str | None, note: str = "",
              done_at: datetime | None = None) -> Any:
        return build_alert(
            alert_id=alert_id, case_id=start.case_id, kind=AlertKind[rule.alert_kind],
            severity=severity, status=status, hub_unit_code=hub_unit_code,
            responsible_unit_code=responsible, rule_id=rule.id, legal_source=rule.source,
            occurred_at=occurred_at, recorded_at=now, processor=PROCESSOR,
            message=_message(rule, due_date, late, status is AlertStatus.RESOLVED),
            due_date=due_date, trigger_event_id=start.event_id, resolved_by_event_id=resolved_by,
            details=_details(rule, started_at, due_at, late=late, note=note, done_at=done_at,
                             cal=cal))

    if withdrawn and copy:
        resolved = alert(AlertStatus.RESOLVED, rule.severity, now, late=None, resolved_by=None)
        resolved = resolved.model_copy(update={
            "message": f"{rule.title_zh} / {rule.title_en}: 已撤回 / withdrawn (同一文书的更正或"
                       "重复记录，以首次录入的为准 / a corrected or repeated record of the same "
                       "document: the one entered first keeps the clock)",
            "details": {**resolved.details, "withdrawn": "same_document"}})
        return None, AlertState(resolved, emit_if_new=False, withdraws_inapplicable=True), None
    if withdrawn:
        resolved = alert(AlertStatus.RESOLVED, rule.severity, now, late=None, resolved_by=None)
        resolved = resolved.model_copy(update={
            "message": f"{rule.title_zh} / {rule.title_en}: 已撤回 / withdrawn (本案罪名类别不适用"
                       " / the rule does not apply to the case's offence category)",
            "details": {**resolved.details, "withdrawn": "offence_category"}})
        return None, AlertState(resolved, emit_if_new=False, withdraws_inapplicable=True), None
    if rule.evaluation == "same_event_lag":
        done_at = getattr(start, rule.lag_until or "", None)
        if not isinstance(done_at, datetime) or done_at < due_at:
            return None, None, None
        return None, AlertState(alert(AlertStatus.RESOLVED, rule.severity, done_at, late=True,
                                      resolved_by=start.event_id, done_at=done_at)), None
    stop = next((event for event in events
                 if event.event_id != start.event_id and rule.is_stop(event)
                 and (rule.earlier_stop_counts
                      or china_date(rule.stop_instant(event, event.occurred_at))
                      >= china_date(started_at))
                 and correlated(rule, start, event)), None)
    if stop is not None:
        stopped_at = rule.stop_instant(stop, stop.occurred_at)
        if stopped_at >= due_at and not rule.lateness_exempt(stop):
            severity, note, _ = _ref_escalation(rule, started_at, stopped_at, cal)
            return None, AlertState(alert(AlertStatus.RESOLVED, severity, stopped_at, late=True,
                                          resolved_by=stop.event_id, note=note,
                                          done_at=stopped_at)), None
        if rule.evaluation == "deadline" and not never_emitted:
            return None, AlertState(
                alert(AlertStatus.RESOLVED, rule.severity, stop.recorded_at, late=False,
                      resolved_by=stop.event_id, done_at=stopped_at),
                emit_if_new=False, undoes_early_sweep=stop.recorded_at < due_at), None
        return None, None, None
    overdue = now >= due_at
    if rule.evaluation == "window":
        if overdue:
            return None, None, None
        return (OpenClock(rule.id, alert_id, start.case_id, start.event_id, started_at,
                          due_date, due_at, responsible, False, rule.severity), None, due_at)
    severity, note, upcoming = _ref_escalation(rule, started_at, now, cal)
    clock = OpenClock(rule.id, alert_id, start.case_id, start.event_id, started_at, due_date,
                      due_at, responsible, overdue, severity)
    if not overdue:
        return clock, None, due_at
    raised = alert(AlertStatus.RAISED, severity, due_at, late=None, resolved_by=None, note=note)
    return clock, AlertState(raised), upcoming


def _ref_is_copy(rule: DeadlineRule, rules: DeadlineRules, start: CaseEvent,
                 case: Sequence[CaseEvent]) -> bool:
    """Another start of the rule, of the same type and unit, names the same document and
    was entered first (earlier recorded, then lower event id)."""
    field = rules.documents.get(type(start).__name__)
    number = getattr(start, field, None) if field else None
    if not rule.per_document or not isinstance(number, str) or not any(
            c.isdigit() for c in number):
        return False

    def starts_clock(event: CaseEvent) -> bool:
        matcher = rule.start_matcher(event)
        return matcher is not None and matcher.start_instant(event) is not None

    return any(type(other) is type(start) and other.source_unit == start.source_unit
               and getattr(other, field or "", None) == number and starts_clock(other)
               and (other.recorded_at, other.event_id) < (start.recorded_at, start.event_id)
               for other in case)


def reference(events: Sequence[CaseEvent], now: datetime, rules: DeadlineRules,
              cal: WorkingDayCalendar, emitted: Container[str] | None) -> CaseDeadlines:
    case = ordered(events)
    fallback = owning_unit(case) or ev.HUB_UNIT
    category = offence_category(case, load_thresholds(), load_violation_offences())
    clocks: list[OpenClock] = []
    states: list[AlertState] = []
    checks: list[datetime] = []
    for rule in rules.monitored():
        for start in case:
            matcher = rule.start_matcher(start)
            started_at = matcher.start_instant(start) if matcher is not None else None
            if started_at is None:
                continue
            withdrawn = not rule.applies_to_category(category)
            clock, state, check = _ref_clock(
                rule, start, started_at, case, now, cal, hub_unit_code=ev.HUB_UNIT,
                fallback=fallback, withdrawn=withdrawn, emitted=emitted,
                copy=not withdrawn and _ref_is_copy(rule, rules, start, case))
            clocks.extend([clock] if clock is not None else [])
            states.extend([state] if state is not None else [])
            checks.extend([check] if check is not None and check > now else [])
    return CaseDeadlines(case[0].case_id, tuple(clocks), tuple(states),
                         min(checks) if checks else None)


def strict(result: CaseDeadlines) -> tuple[Any, ...]:
    """The result with every instant spelled out: ``==`` on datetimes ignores the zone,
    and an alert's details (and a stored next check) carry the spelling."""
    def spelled(value: object) -> object:
        return value.isoformat() if isinstance(value, datetime) else value
    return (
        result.case_id,
        tuple(tuple(spelled(getattr(clock, name)) for name in OpenClock.__dataclass_fields__)
              for clock in result.open_clocks),
        tuple((state.alert.model_dump_json(), state.emit_if_new, state.undoes_early_sweep,
               state.withdraws_inapplicable) for state in result.alerts),
        spelled(result.next_check_at),
    )


# --- generated case histories -------------------------------------------------------------

def _hours_variant(rules: DeadlineRules) -> DeadlineRules:
    """Every rule on an hour clock with two escalations: the hour path of the deadline
    (date-only starts, the start's zone in the due instant) and escalation instants."""
    steps = (Escalation(after=ClockSpec(amount=30, unit="hours"), severity="WARNING",
                        note="30 h"),
             Escalation(after=ClockSpec(amount=5, unit="working_days"), severity="CRITICAL",
                        note="5 working days"))
    return rules.model_copy(update={"rules": tuple(
        rule.model_copy(update={"clock": ClockSpec(amount=18 + index, unit="hours"),
                                "escalations": steps})
        for index, rule in enumerate(rules.rules))})


_SHIPPED = load_deadlines()
_RULE_SETS = (_SHIPPED, _hours_variant(_SHIPPED))
_ACTIONS = ("REQUIRE_NON_FILING_REASONS", "ORDER_FILING", "RECOMMENDATION", "URGE_PROSECUTION",
            "CORRECTION_NOTICE", "SUGGEST_REFERRAL", "EARLY_INTERVENTION",
            "PROSECUTION_DECISION", "OPINION")
_OFFENCES = ({"offence": "生产、销售伪劣产品罪", "article": "140"},  # economic
             {"offence": "污染环境罪", "article": "338"},
             {"offence": "某某罪", "article": None})  # unknown: no category


def _event(kind: int, when: datetime, rnd: random.Random) -> CaseEvent:
    """One event of a kind the rules start or stop, with the fields they read varied."""
    recorded = when + timedelta(hours=rnd.choice((1, 30, 100, 300)))
    if rnd.random() < 0.3:
        recorded = recorded.astimezone(UTC if recorded.tzinfo is CHINA_TZ else CHINA_TZ)
    due = rnd.choice((None, china_date(when) + timedelta(days=rnd.randint(0, 40))))
    doc = rnd.choice(("D-1", "D-2", None))
    makers: list[Callable[[], CaseEvent]] = [
        lambda: ev.penalty(when, recorded=recorded, procedure=rnd.choice(("GENERAL", "SUMMARY"))
                           ).model_copy(update={
                               "served_on": rnd.choice((None, china_date(when))),
                               "enforced_on": rnd.choice((None, china_date(recorded))),
                               "enforcement_status": rnd.choice(list(EnforcementStatus))}),
        lambda: ev.referred(when, recorded=recorded, **rnd.choice(_OFFENCES), approved=rnd.choice(
            (None, when - timedelta(hours=rnd.choice((2, 30, 200)))))),
        lambda: ev.received(when, recorded=recorded),
        lambda: ev.forwarded(when),
        lambda: ev.decided(when, rnd.choice(("FILED", "NOT_FILED", "CANCELLED")),
                           recorded=recorded, offence=rnd.choice((None, "污染环境罪"))),
        lambda: ev.reconsideration_requested(when),
        lambda: ev.reconsideration_decided(when, rnd.choice(("UPHELD", "REVERSED"))),
        lambda: ev.supervision_requested(when),
        lambda: ev.handed_over(when),
        lambda: ev.prosecutorial(when, rnd.choice(_ACTIONS), document_number=doc,
                                 reply_due=due),
        lambda: ev.replied(when, in_reply_to_document=doc),
        lambda: ev.judgment(when).model_copy(update={"recorded_at": recorded}),
        lambda: ev.judicial_recommendation(when).model_copy(update={
            "source_system": rnd.choice(("test", "liangfa-hub"))}),
        lambda: ev.lead(when, "SUPERVISION_COMMISSION", to=ev.SUPERVISION, feedback_due=due),
        lambda: ev.consultation(when, rnd.choice(("Q-1", "Q-2")), due=due),
        lambda: ev.consultation_answer(when, rnd.choice(("Q-1", "Q-2")),
                                       complex_case=rnd.random() < 0.3),
        lambda: ev.invitation(when, rnd.choice(("I-1", "I-2"))),
        lambda: ev.attended(when, rnd.choice(("I-1", "I-2"))),
        lambda: ev.arrest_requested(when, recorded=recorded),
        lambda: ev.transferred(when, recorded=recorded),
        lambda: ev.reasons_explained(when, in_reply_to_document=doc),
    ]
    return makers[kind % len(makers)]()


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[CaseEvent], datetime, random.Random]:
    """A case: 1–40 events over ~a year (some date-only, some in UTC, some twice), and a
    ``now``."""
    rnd = random.Random(draw(st.integers(0, 2**32)))
    events: list[CaseEvent] = []
    for _ in range(draw(st.integers(1, 40))):
        when = _BASE + timedelta(hours=rnd.choice((0, rnd.randint(0, 24 * 300))))
        if rnd.random() < 0.3:
            when = when.replace(hour=0)  # a date-only decision
        if rnd.random() < 0.3:
            when = when.astimezone(UTC)  # the same instant, another zone
        # ids unique to the event (the builders derive them from type and time only):
        # one id is one event, so which copy of an id is kept must not matter
        event = _event(rnd.randrange(1000), when, rnd)
        events.append(event.model_copy(update={"event_id": f"{event.event_id}-{len(events)}"}))
    events.extend(rnd.sample(events, rnd.randint(0, min(3, len(events)))))  # read twice
    now = _BASE + timedelta(hours=draw(st.integers(0, 24 * 500)))
    return events, now, rnd


@settings(max_examples=150, deadline=None)
@given(histories(), st.integers(0, 1), st.sampled_from(("none", "empty", "some", "all")))
def test_evaluate_case_equals_the_plain_evaluation(
    case: tuple[list[CaseEvent], datetime, random.Random], rule_set: int, emitted_kind: str,
) -> None:
    events, now, rnd = case
    rules, cal = _RULE_SETS[rule_set], WorkingDayCalendar()
    known = [state.alert_id for state in reference(events, now, rules, cal, None).alerts]
    emitted: set[str] | None = (None if emitted_kind == "none" else set() if emitted_kind
                                == "empty" else set(known) if emitted_kind == "all"
                                else {alert_id for alert_id in known if rnd.random() < 0.5})
    expected = reference(events, now, rules, cal, emitted)
    shuffled = rnd.sample(events, len(events))
    got = evaluate_case(shuffled, now, rules=rules, thresholds=load_thresholds(),
                        violation_offences=load_violation_offences(),
                        hub_unit_code=ev.HUB_UNIT, calendar=cal, emitted=emitted)
    assert strict(got) == strict(expected)
    # what is memoised (deadlines, alerts built) serves the next calls: at the same time
    # and at a later one (alerts equal but for when they were recorded)
    for moment in (now, now + timedelta(hours=rnd.choice((1, 50, 2000)))):
        again = evaluate_case(events, moment, rules=rules, thresholds=load_thresholds(),
                              violation_offences=load_violation_offences(),
                              hub_unit_code=ev.HUB_UNIT, calendar=cal, emitted=emitted)
        assert strict(again) == strict(reference(events, moment, rules, cal, emitted))


def test_the_generated_histories_reach_every_rule_kind_and_outcome() -> None:
    """The property above is only as good as its histories: they start every monitored
    rule, and yield open clocks, raised, late, in-time and withdrawn alerts."""
    rnd = random.Random(7)
    rules_started: set[str] = set()
    outcomes: set[str] = set()
    for _ in range(60):
        events = [_event(kind, _BASE + timedelta(hours=rnd.randint(0, 24 * 300)), rnd)
                  for kind in range(21)]
        now = _BASE + timedelta(days=rnd.randint(0, 500))
        result = evaluate_case(events, now, rules=_SHIPPED, thresholds=load_thresholds(),
                               violation_offences=load_violation_offences(),
                               hub_unit_code=ev.HUB_UNIT, calendar=WorkingDayCalendar())
        rules_started.update(clock.rule_id for clock in result.open_clocks)
        rules_started.update(state.alert.rule_id for state in result.alerts)
        outcomes.update("open" for _ in result.open_clocks)
        for state in result.alerts:
            outcomes.add("withdrawn" if state.withdraws_inapplicable
                         else f"{state.alert.status.value}:{state.alert.details.get('late')}")
    assert {rule.id for rule in _SHIPPED.monitored()} <= rules_started
    assert {"open", "withdrawn", "RAISED:None", "RESOLVED:true", "RESOLVED:false"} <= outcomes


def test_the_alert_memo_is_bounded_and_serves_only_the_rule_it_was_built_for() -> None:
    """A worker evaluates a million cases: the memo keeps its size, and a rule set loaded
    again (equal text, another object) never gets the alerts of the one it replaced."""
    rule = _SHIPPED.monitored()[0]
    alert = ev.alert_event(ev.at(2025, 1, 6), "a-1")
    memo = AlertMemo(3)
    for number in range(10):
        memo.put(rule, ("key", number), alert)
    assert len(memo) == 3
    assert memo.get(rule, ("key", 9)) is alert
    assert memo.get(rule, ("key", 0)) is None  # the oldest went first
    assert memo.get(rule.model_copy(), ("key", 9)) is None
