"""Router, pure part: an event → the unit inboxes it must reach, or an explicit "unroutable".

Most events name their addressee (the police unit a referral goes to, the unit asked for
advice); the router delivers there once the registry confirms the unit exists and is of
the expected kind. Referrals and leads also have role-based rules (``routing.yaml``):
they pick the destination when the named addressee is unknown, and flag a referral sent
to another police unit than the rules would choose (forestry case, county bureau, while a
forest police exists). Copies go to the procuratorate's management centre. An event that
should reach someone but cannot is never dropped silently: it yields an ``unroutable``
result that the agent turns into an alert with :func:`unroutable_alert`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    CourtJudgment,
    JudicialRecommendation,
    LeadTransferred,
)
from hub.rules import RoutingRules, ThresholdTable
from hub.rules.deadlines import field_text
from hub.units import Unit, UnitRegistry, inbox_topic
from streams._alerts import SOURCE_SYSTEM, alert_id_for, build_alert, uuid_for
from streams._facts import event_type_name, referring_agency

__all__ = [
    "COPY_ROLES_DETAIL",
    "PROCESSOR",
    "UNROUTABLE_RULE_ID",
    "Route",
    "alert_copies",
    "raised_acts",
    "route_event",
    "unroutable_alert",
]

PROCESSOR = "routing"
#: The alert detail a deadline rule's ``copy_when_overdue`` fills (roles, comma-separated).
COPY_ROLES_DETAIL = "copy_to_roles"
UNROUTABLE_RULE_ID = "routing-unroutable"


@dataclass(frozen=True)
class Route:
    """Where one event goes.

    ``addressees`` are the units that must act; ``copies`` are informed. ``unroutable``
    holds the reason when an addressed event reached no one; ``notes`` explain choices
    (a referral whose addressee differs from the rules' choice).
    """

    event_id: str
    case_id: str
    event_type: str
    addressees: tuple[str, ...] = ()
    copies: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    unroutable: str | None = None

    @property
    def destinations(self) -> tuple[str, ...]:
        """Every unit code the event is delivered to, addressees first, no repeats."""
        seen: dict[str, None] = {}
        for code in (*self.addressees, *self.copies):
            seen.setdefault(code, None)
        return tuple(seen)

    @property
    def topics(self) -> tuple[str, ...]:
        """The inbox topics to produce to."""
        return tuple(inbox_topic(code) for code in self.destinations)


def _division(event: CaseEvent, sender: Unit | None) -> str | None:
    division = getattr(event, "division_code", None)
    if isinstance(division, str) and division:
        return division
    return sender.division if sender else None


def _referral_destination(
    event: CaseReferred,
    sender: Unit | None,
    registry: UnitRegistry,
    rules: RoutingRules,
    thresholds: ThresholdTable,
) -> tuple[Unit | None, str, str]:
    """The police unit the rules pick for a referral, the rule id, and the role chain."""
    division = _division(event, sender)
    category = thresholds.category_of(event.criminal_law_article, event.suspected_offence)
    domains: tuple[str | None, ...] = (
        (event.enforcement_domain,) if event.enforcement_domain
        else (sender.domains if sender and sender.domains else (None,))
    )
    route = next(
        (r for r in rules.referral_routes if any(r.when.matches(d, category) for d in domains)),
        rules.referral_routes[-1],
    )
    if division is None:
        return None, route.id, " → ".join(route.police_roles)
    return (registry.first_for_roles(route.police_roles, division), route.id,
            " → ".join(route.police_roles))


def route_event(
    event: CaseEvent,
    registry: UnitRegistry,
    rules: RoutingRules,
    thresholds: ThresholdTable,
) -> Route:
    """Destinations of one event (pure: the same event and data give the same route)."""
    type_name = event_type_name(event)
    addressed = rules.addressed(type_name)
    if addressed is None:
        return Route(event.event_id, event.case_id, type_name,
                     notes=(f"{type_name} is not delivered to inboxes",))
    sender = registry.get(event.source_unit)
    addressees: list[str] = []
    rule_ids: list[str] = []
    notes: list[str] = []
    problems: list[str] = []
    for field_name in addressed.fields:
        code = field_text(getattr(event, field_name, None))
        if code is None:
            continue
        unit = registry.get(code)
        if unit is None:
            problems.append(f"{field_name} {code} is not in the unit registry")
        elif unit.kind not in addressed.expected_kinds:
            problems.append(
                f"{field_name} {code} ({unit.name}) is a {unit.kind} unit; "
                f"{type_name} goes to {' or '.join(addressed.expected_kinds)}"
            )
        else:
            addressees.append(unit.code)

    if isinstance(event, CaseReferred):
        chosen, route_id, roles = _referral_destination(event, sender, registry, rules,
                                                        thresholds)
        rule_ids.append(route_id)
        if addressees:
            if chosen is not None and chosen.code not in addressees:
                notes.append(
                    f"rule {route_id} ({roles}) would route this referral to {chosen.name} "
                    f"({chosen.code})"
                )
        elif chosen is not None:
            addressees.append(chosen.code)
            notes.append(f"addressee unusable ({'; '.join(problems)}); routed by rule {route_id}")
            problems = []
    elif isinstance(event, LeadTransferred) and not addressees:
        lead_route = rules.lead_route(event.destination.value)
        division = _division(event, sender)
        if lead_route is not None and division is not None:
            chosen_lead = registry.first_for_roles(lead_route.roles, division)
            rule_ids.append(lead_route.id)
            if chosen_lead is not None:
                addressees.append(chosen_lead.code)
                notes.append(f"addressee unusable ({'; '.join(problems)}); routed by rule "
                             f"{lead_route.id}")
                problems = []

    division = _division(event, sender)
    if not addressees and not problems and addressed.fallback_roles and division is not None:
        fallback = registry.first_for_roles(addressed.fallback_roles, division)
        if fallback is not None:
            addressees.append(fallback.code)
            notes.append(f"{type_name} names no addressee; routed to the "
                         f"{fallback.role} of the jurisdiction")

    copies: list[str] = []
    for copy in rules.copies_for(type_name):
        if division is None:
            break
        unit = registry.first_for_roles(copy.roles, division)
        if unit is not None and unit.code != event.source_unit and unit.code not in addressees:
            copies.append(unit.code)
            rule_ids.append(copy.id)

    if problems or not addressees:
        reason = "; ".join(problems) or f"{type_name} names no addressee"
        if addressees:
            notes.append(f"partly delivered: {reason}")
        else:
            return Route(event.event_id, event.case_id, type_name, copies=tuple(copies),
                         rule_ids=tuple(rule_ids), notes=tuple(notes), unroutable=reason)
    return Route(event.event_id, event.case_id, type_name, addressees=tuple(addressees),
                 copies=tuple(copies), rule_ids=tuple(rule_ids), notes=tuple(notes))


def unroutable_alert(route: Route, event: CaseEvent, *, hub_unit_code: str,
                     now: datetime) -> Alert:
    """The alert that makes an unroutable event visible (the sender must correct it).

    Its own kind (``UNROUTABLE``) keeps delivery failures apart from legal deadlines in
    the view and the statistics: they are fixed in the unit registry, not by an agency.
    """
    if route.unroutable is None:
        raise ValueError("the route reached its addressees: nothing to alert")
    return build_alert(
        alert_id=alert_id_for(event.case_id, UNROUTABLE_RULE_ID, event.event_id),
        case_id=event.case_id, kind=AlertKind.UNROUTABLE, severity="WARNING",
        status=AlertStatus.RAISED,
        hub_unit_code=hub_unit_code, responsible_unit_code=event.source_unit,
        rule_id=UNROUTABLE_RULE_ID,
        legal_source="routing.yaml (addressed events must reach a registered unit)",
        occurred_at=event.occurred_at, recorded_at=now, processor=PROCESSOR,
        message=f"无法投递 / unroutable {route.event_type}: {route.unroutable}",
        trigger_event_id=event.event_id,
        details={"event_type": route.event_type, "reason": route.unroutable,
                 "copies": ",".join(route.copies)},
    )


def alert_copies(alert: Alert, registry: UnitRegistry) -> Route:
    """The inboxes an overdue alert is copied to (an escalation to a third body).

    A deadline rule with ``copy_when_overdue`` (``deadlines.yaml``) names unit roles in
    the alert's :data:`COPY_ROLES_DETAIL`; the copy goes to the first unit holding one of
    them in the responsible unit's jurisdiction (then its city and province), as routing
    does for events. Only a raised alert is copied: the copy asks the third body to act
    (Jiashan: the justice bureau's 行政执法监督通知书), a resolution asks nothing. Roles
    nobody holds there yield an ``unroutable`` route, so the escalation is never lost
    silently. Pure: the engine produces the alert to each of ``route.topics``.
    """
    roles = tuple(role for role in alert.details.get(COPY_ROLES_DETAIL, "").split(",")
                  if role)
    type_name = event_type_name(alert)
    if not roles or alert.status is not AlertStatus.RAISED:
        return Route(alert.event_id, alert.case_id, type_name)
    responsible = registry.get(alert.responsible_unit_code)
    if responsible is None or not responsible.division:
        return Route(alert.event_id, alert.case_id, type_name, unroutable=(
            f"the responsible unit {alert.responsible_unit_code} is not in the unit "
            f"registry: no jurisdiction to find the {' or '.join(roles)} in"))
    unit = registry.first_for_roles(roles, responsible.division)
    if unit is None:
        return Route(alert.event_id, alert.case_id, type_name, unroutable=(
            f"no {' or '.join(roles)} in the jurisdiction {responsible.division} of "
            f"{responsible.name} ({responsible.code})"))
    return Route(alert.event_id, alert.case_id, type_name, copies=(unit.code,),
                 rule_ids=(alert.rule_id,),
                 notes=(f"overdue {alert.rule_id}: copy to the {unit.role} {unit.name}",))


def raised_acts(events: Sequence[CaseEvent], rules: RoutingRules, *,
                hub_unit_code: str) -> list[CaseEvent]:
    """The acts the hub raises on a case from what it holds (``routing.yaml``,
    ``raised_acts``), not yet on the case.

    A judgment of acquittal or exemption on a referred case whose agency has not
    penalised raises a judicial recommendation (司法建议) to the referring agency: the
    agency must then decide on an administrative penalty, and its reply clock
    (``raised-judicial-recommendation-unanswered``, stopped
    by the court's own recommendation when it comes) runs from the moment the hub knew the
    judgment. Nothing is raised when the case already holds a recommendation (the
    court's own, or this one) or a penalty of the agency. Deterministic: the act's id
    derives from the rule and the judgment, and its times are the judgment's entry
    time, so a re-evaluation or a replay yields the same event, which the engine drops
    as a duplicate. Pure: the engine produces each act to ``lf.case-events``, where it
    is checked, routed and timed like an act its author sent.
    """
    acts: list[CaseEvent] = []
    if any(isinstance(event, JudicialRecommendation) for event in events):
        return acts
    has_referral = any(isinstance(event, CaseReferred) for event in events)
    agency = referring_agency(events)
    for rule in rules.raised_acts:
        if (rule.requires_referral and not has_referral) or agency is None:
            continue
        if any(type(event).__name__ in rule.unless_from_agency
               and agency in (event.source_unit,
                              getattr(event, "deciding_authority_code", None))
               for event in events):
            continue
        for trigger in events:
            if type(trigger).__name__ != rule.on_event or any(
                    field_text(getattr(trigger, name, None)) not in allowed
                    for name, allowed in rule.where.items()):
                continue
            acts.append(JudicialRecommendation(
                event_id=uuid_for(rule.id, trigger.event_id), case_id=trigger.case_id,
                source_unit=hub_unit_code, occurred_at=trigger.recorded_at,
                recorded_at=trigger.recorded_at, source_system=SOURCE_SYSTEM,
                source_record=f"{rule.id}:{trigger.event_id}",
                connector_id=f"streams.{PROCESSOR}", target_unit_code=agency,
                court_case_number=(trigger.court_case_number
                                   if isinstance(trigger, CourtJudgment) else None),
                referral_number=getattr(trigger, "referral_number", None),
                police_case_number=getattr(trigger, "police_case_number", None),
                content=rule.content))
            break  # one act per rule and case
    return acts
