"""Routing rules (``routing.yaml``): which unit role receives which event.

The router delivers to the units an event names (``addressed_events``); referrals and
leads also have role-based rules, used when the addressee is unknown and to notice a
referral sent to a different police unit than the rules would pick (a forestry case
sent to the county bureau where a forest police exists).
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from hub.rules._common import NonEmptyText, Sourced, UnitKind, duplicate_ids, event_model
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "ROUTING_ENV",
    "AddressedEvent",
    "CopyRule",
    "LeadRoute",
    "RaisedAct",
    "ReferralRoute",
    "RouteCondition",
    "RoutingRules",
    "load_routing",
]

ROUTING_ENV = "LIANGFA_RULES_ROUTING"


class RouteCondition(RuleModel):
    """Matches when the referring domain OR the offence category is listed (empty: always)."""

    domains: tuple[str, ...] = ()
    offence_categories: tuple[str, ...] = ()

    def matches(self, domain: str | None, category: str | None) -> bool:
        """True for a referral of this domain or offence category."""
        if not self.domains and not self.offence_categories:
            return True
        return (domain is not None and domain in self.domains) or (
            category is not None and category in self.offence_categories
        )


class ReferralRoute(Sourced):
    """Police roles (tried in order) for referrals matching ``when``."""

    id: NonEmptyText
    when: RouteCondition = Field(default_factory=RouteCondition)
    police_roles: tuple[str, ...] = Field(min_length=1)


class CopyRule(Sourced):
    """Roles that receive a copy of the listed event types (in the sender's jurisdiction)."""

    id: NonEmptyText
    event_types: tuple[str, ...] = Field(min_length=1)
    roles: tuple[str, ...] = Field(min_length=1)


class LeadRoute(Sourced):
    """Roles that receive leads of one destination (LeadTransferred.destination)."""

    id: NonEmptyText
    destination: NonEmptyText
    roles: tuple[str, ...] = Field(min_length=1)


class AddressedEvent(Sourced):
    """An event type that names its addressee(s) in unit-code fields."""

    event_type: NonEmptyText
    fields: tuple[str, ...] = Field(min_length=1)
    expected_kinds: tuple[UnitKind, ...] = Field(min_length=1)
    #: Roles tried in the sender's jurisdiction (walking up) when no field names a unit.
    fallback_roles: tuple[str, ...] = ()


class RaisedAct(Sourced):
    """An act the hub raises itself when a case reaches a state the rule names.

    A judgment of acquittal or exemption on a referred case whose agency has not
    penalised is such a state: the agency must consider an administrative penalty, and
    the court's judicial recommendation (司法建议) says so. The hub raises the act to the
    referring agency from what the case already holds, so its reply clock runs even when
    the court's own recommendation never reaches the bus (``streams.routing_logic``).
    """

    id: NonEmptyText = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    #: The event that raises the act, with filters on its fields (all must hold).
    on_event: NonEmptyText
    where: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: Only on a case the hub holds a referral (CaseReferred) of.
    requires_referral: bool = True
    #: Not raised when the case holds any of these events from the referring agency
    #: (its penalty: the act would ask for what was done), nor an act of the same type.
    unless_from_agency: tuple[NonEmptyText, ...] = ()
    act: Literal["JudicialRecommendation"]
    content: NonEmptyText


class RoutingRules(RuleModel):
    """The whole routing file."""

    version: Literal[1] = 1
    referral_routes: tuple[ReferralRoute, ...] = Field(min_length=1)
    copies: tuple[CopyRule, ...] = ()
    lead_routes: tuple[LeadRoute, ...] = ()
    addressed_events: tuple[AddressedEvent, ...] = ()
    raised_acts: tuple[RaisedAct, ...] = ()

    def cross_check(self) -> list[str]:
        """Unique ids, known event types and fields, a catch-all referral route last."""
        problems = duplicate_ids("referral_routes", [r.id for r in self.referral_routes])
        problems += duplicate_ids("copies", [c.id for c in self.copies])
        problems += duplicate_ids("lead_routes", [r.id for r in self.lead_routes])
        last = self.referral_routes[-1].when
        if last.domains or last.offence_categories:
            problems.append(
                f"referral_routes[{len(self.referral_routes) - 1}].when: the last referral "
                "route must match everything (when: {}) so no referral is unroutable by rule"
            )
        seen_types: dict[str, int] = {}
        for index, entry in enumerate(self.addressed_events):
            path = f"addressed_events[{index}]"
            if entry.event_type in seen_types:
                problems.append(
                    f"{path}.event_type: {entry.event_type!r} already listed at "
                    f"addressed_events[{seen_types[entry.event_type]}]"
                )
            seen_types.setdefault(entry.event_type, index)
            model = event_model(entry.event_type)
            if model is None:
                problems.append(f"{path}.event_type: no event type {entry.event_type!r}")
                continue
            for field in entry.fields:
                if field not in model.model_fields:
                    problems.append(f"{path}.fields: {entry.event_type} has no field {field!r}")
        problems += duplicate_ids("raised_acts", [a.id for a in self.raised_acts])
        for index, act in enumerate(self.raised_acts):
            model = event_model(act.on_event)
            if model is None:
                problems.append(f"raised_acts[{index}].on_event: no event type "
                                f"{act.on_event!r}")
            else:
                problems += [f"raised_acts[{index}].where.{name}: {act.on_event} has no "
                             f"field {name!r}" for name in act.where
                             if name not in model.model_fields]
            problems += [f"raised_acts[{index}].unless_from_agency: no event type {name!r}"
                         for name in act.unless_from_agency if event_model(name) is None]
        for index, copy in enumerate(self.copies):
            for type_index, name in enumerate(copy.event_types):
                if event_model(name) is None:
                    problems.append(
                        f"copies[{index}].event_types[{type_index}]: no event type {name!r}"
                    )
        return problems

    def referral_route(self, domain: str | None, category: str | None) -> ReferralRoute:
        """The first referral route matching (the last one matches everything)."""
        for route in self.referral_routes:
            if route.when.matches(domain, category):
                return route
        return self.referral_routes[-1]

    def addressed(self, event_type: str) -> AddressedEvent | None:
        """How an event type names its addressees, or None when it names none."""
        for entry in self.addressed_events:
            if entry.event_type == event_type:
                return entry
        return None

    def lead_route(self, destination: str) -> LeadRoute | None:
        """The route of a lead destination, or None."""
        for route in self.lead_routes:
            if route.destination == destination:
                return route
        return None

    def copies_for(self, event_type: str) -> tuple[CopyRule, ...]:
        """Copy rules that apply to an event type."""
        return tuple(c for c in self.copies if event_type in c.event_types)

    def role_ids(self) -> frozenset[str]:
        """Every role the rules name (checked against unit_roles.yaml)."""
        roles: set[str] = set()
        for route in self.referral_routes:
            roles.update(route.police_roles)
        for copy in self.copies:
            roles.update(copy.roles)
        for lead in self.lead_routes:
            roles.update(lead.roles)
        return frozenset(roles)


_FILE = RuleFile("routing.yaml", ROUTING_ENV, RoutingRules)


def load_routing(path: str | os.PathLike[str] | None = None) -> RoutingRules:
    """The routing rules in force (argument, ``LIANGFA_RULES_ROUTING``, rules dir, shipped)."""
    return _FILE.load(path)
