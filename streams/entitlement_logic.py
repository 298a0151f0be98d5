"""Entitlement, pure part: may this unit add this event to this case?

A case id is predictable (UUIDv5 of the owning unit's credit code and its decision
number, both published in 双公示 data), so a unit could put another unit's case id on an
event of its own ingest topic: normalize only checks that the event's ``source_unit`` is
the topic's unit. Joined to the case, the event would add the sender to the case's units
and so open the case to it in the view. The engine therefore checks, before an event
joins a case, that its sender stands in a relation to the case that
``hub/rules/entitlements.yaml`` allows for the event type.

The relations are kept in the case's state (:class:`CaseRelations`): the owner, the units
the hub routed the case's events to, the units whose feedback the matcher tied to it.
Ownership is proven by the case id itself when the event carries the number the id was
made from (:func:`owns_by_case_id`); an agency event that carries no such number (a
consultation, a handover) may claim a case nobody owns yet, and a later event that proves
ownership replaces the claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.identity import case_id_for
from hub.models import Alert, AlertKind, AlertStatus, CaseEvent
from hub.rules import Entitlements
from hub.units import Unit, UnitRegistry
from streams._alerts import alert_id_for, build_alert

__all__ = [
    "ENTITLEMENT_REVIEW_RULE_ID",
    "CaseRelations",
    "Entitlement",
    "addressee_kinds",
    "check_entitlement",
    "entitlement_review_alert",
    "name_addressees",
    "no_longer_entitled",
    "owns_by_case_id",
    "record_acceptance",
    "review_resolution",
]

#: The rule id of the alert that asks a person to look at an event the case took before
#: its relations changed (:func:`entitlement_review_alert`).
ENTITLEMENT_REVIEW_RULE_ID = "entitlement-review"

#: Fields whose value may be the number a case id was made from, with the sender's code.
_OWNER_NUMBER_FIELDS = ("decision_number", "agency_case_number")


@dataclass
class CaseRelations:
    """Who stands in which relation to a case (stored with the case's state)."""

    owner: str | None = None
    #: True when the owner was proven by the case id, False for a claim.
    owner_proven: bool = False
    addressees: set[str] = field(default_factory=set)
    matched: set[str] = field(default_factory=set)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CaseRelations:
        """From the stored form (absent in state written before entitlements existed)."""
        if not data:
            return cls()
        return cls(owner=data.get("owner"), owner_proven=bool(data.get("owner_proven")),
                   addressees=set(data.get("addressees", ())),
                   matched=set(data.get("matched", ())))

    def to_dict(self) -> dict[str, Any]:
        """The stored form (sorted lists, so equal relations encode equally)."""
        return {"owner": self.owner, "owner_proven": self.owner_proven,
                "addressees": sorted(self.addressees), "matched": sorted(self.matched)}


@dataclass(frozen=True)
class Entitlement:
    """The outcome of a check: the relation that entitles the sender, or why none does."""

    relation: str | None
    reason: str | None = None
    #: Whether a later event of the case could entitle the sender (a lead that makes it
    #: an addressee, the case's first events): False when the refusal does not depend
    #: on the case at all (no unit may send the type; an act to the wrong kind of unit).
    curable: bool = True

    @property
    def entitled(self) -> bool:
        """Whether the event may join the case."""
        return self.relation is not None


def owns_by_case_id(event: CaseEvent) -> bool:
    """Whether the event's own number, with its sender's code, gives the event's case id."""
    for name in _OWNER_NUMBER_FIELDS:
        number = getattr(event, name, None)
        if number and case_id_for(event.source_unit, str(number)) == event.case_id:
            return True
    return False


def check_entitlement(event: CaseEvent, relations: CaseRelations, *, rules: Entitlements,
                      units: UnitRegistry, hub_unit_code: str | None, matched: bool
                      ) -> Entitlement:
    """Whether ``event``'s sender may add it to the case ``relations`` describe.

    ``hub_unit_code``: the unit operating the hub, for an event the engine itself wrote
    (read from ``lf.case-events``, which only its principal may write); None for one read
    from an ingest topic. The operator is a procuratorate with ingest topics of its own
    like any unit: what its connector (or anyone holding its credentials) writes there
    must not stand in the ``hub`` relation, which admits what only the hub derives
    (withdrawals of matches, alerts, case states).
    ``matched``: the event is the matcher's re-keyed copy of feedback (the matcher tied
    it to this case). With an empty unit registry, ``kind:`` relations cannot be decided
    and are granted (the worker warns at start); every other relation is still checked.
    An act (``acts`` in the file: a ProsecutorialAction's ``action``) must also come
    from one of the act's senders and name a target of one of its unit kinds: an order
    to file sent to an agency is refused rather than started as a clock nobody owes.
    """
    event_type = type(event).__name__
    unit = event.source_unit
    allowed = rules.relations_for(event_type)
    registered = units.get(unit)
    relation = _relation(event, relations, allowed, units=units,
                         hub_unit_code=hub_unit_code, matched=matched)
    if relation is None:
        who = (f"unit {unit}" if registered is not None or len(units) == 0
               else f"unit {unit}, which is not in the unit registry,")
        return Entitlement(None, (
            f"{who} may not add {event_type} to case {event.case_id}: "
            f"{'only ' + ', '.join(allowed) + ' may' if allowed else 'no unit may send it'} "
            f"(hub/rules/entitlements.yaml); the case's owner is {relations.owner or 'unknown'}"
            + (f", its addressees {', '.join(sorted(relations.addressees))}"
               if relations.addressees else "")),
            curable=bool(allowed))
    table = rules.acts.get(event_type)
    if table is None:
        return Entitlement(relation)
    act = table.act_of(event)
    rule = table.kinds.get(act) if act is not None else None
    if rule is None:
        return Entitlement(relation)
    act_relation = _relation(event, relations, rule.senders, units=units,
                             hub_unit_code=hub_unit_code, matched=matched)
    if act_relation is None:
        return Entitlement(None, (
            f"unit {unit} may not send {event_type} {table.field or 'act'}={act} "
            f"({rule.title_en}) on case {event.case_id}: only {', '.join(rule.senders)} may "
            "(hub/rules/entitlements.yaml, acts)"))
    target_code = getattr(event, table.target_field, None)
    target = units.get(str(target_code)) if target_code else None
    if target is not None and target.kind not in rule.targets:
        return Entitlement(None, (
            f"unit {unit} may not send {event_type} {table.field or 'act'}={act} "
            f"({rule.title_en}) to {target.name} ({target.code}), a {target.kind} unit: "
            f"it goes to {' or '.join(rule.targets)} (hub/rules/entitlements.yaml, acts)"),
            curable=False)
    return Entitlement(act_relation)


def _relation(event: CaseEvent, relations: CaseRelations, allowed: tuple[str, ...], *,
              units: UnitRegistry, hub_unit_code: str | None, matched: bool) -> str | None:
    """The first of ``allowed`` the event's sender stands in to the case, or None."""
    unit = event.source_unit
    registered = units.get(unit)

    def holds(part: str) -> bool:
        if part == "hub":
            return hub_unit_code is not None and unit == hub_unit_code
        if part == "owner":
            return _is_owner(event, relations, units)
        if part == "addressee":
            return unit in relations.addressees
        if part == "matched":
            return matched or unit in relations.matched
        prefix, _, kind = part.partition(":")
        if not kind:
            return False
        if len(units) == 0:  # kinds cannot be decided (the worker warns at start)
            return True
        if registered is None or registered.kind != kind:
            return False
        if prefix == "kind":
            return True
        if prefix == "addressee":
            return any(_same_organ(registered, addressee, units)
                       for addressee in _addressees_of_kind(relations, kind, units))
        if prefix == "unaddressed":
            return not _addressees_of_kind(relations, kind, units)
        return False

    for relation in allowed:
        if holds(relation):
            return relation
    return None


def addressee_kinds(addressees: Iterable[str], units: UnitRegistry) -> set[str | None]:
    """The unit kinds among ``addressees`` (None for a code the registry does not know):
    the first addressee of a kind is what can revoke an ``unaddressed:<kind>`` relation
    and let an earlier event name addressees (:func:`name_addressees`)."""
    return {unit.kind if (unit := units.get(code)) is not None else None
            for code in addressees}


def _addressees_of_kind(relations: CaseRelations, kind: str, units: UnitRegistry
                        ) -> list[Unit]:
    """The case's registered addressees of ``kind``."""
    return [unit for code in relations.addressees
            if (unit := units.get(code)) is not None and unit.kind == kind]


def _same_organ(sender: Unit, addressee: Unit, units: UnitRegistry) -> bool:
    """Whether ``sender`` answers for ``addressee``: the unit itself, a unit it is
    registered under (at any depth), one registered under it (a brigade, a brigade's
    station), or one registered under the same parent in the same administrative
    division (a county bureau's brigades hand a case to one another inside the bureau;
    a case forwarded to another bureau arrives as a CaseForwarded, which makes the new
    bureau an addressee)."""
    if sender.code == addressee.code:
        return True
    if addressee.code in _ancestors(sender, units) or sender.code in _ancestors(
            addressee, units):
        return True
    return (sender.parent is not None and sender.parent == addressee.parent
            and sender.division == addressee.division)


def _ancestors(unit: Unit, units: UnitRegistry) -> list[str]:
    """The codes of the units ``unit`` is registered under, nearest first (the registry
    refuses a unit that is its own parent; a longer cycle ends at a code seen)."""
    found: list[str] = []
    parent = unit.parent
    while parent is not None and parent not in found and parent != unit.code:
        found.append(parent)
        above = units.get(parent)
        parent = above.parent if above is not None else None
    return found


def _is_owner(event: CaseEvent, relations: CaseRelations, units: UnitRegistry) -> bool:
    if owns_by_case_id(event):
        return True
    numbers = [str(number) for name in _OWNER_NUMBER_FIELDS
               if (number := getattr(event, name, None))]
    if relations.owner is not None:
        # The owner itself, or the bureau it is registered under exporting its decision
        # (the number gives this case id under the owner), as the claim below allows.
        owner, sender = units.get(relations.owner), units.get(event.source_unit)
        return relations.owner == event.source_unit or (
            owner is not None and owner.parent == event.source_unit
            and sender is not None and sender.kind == "agency"
            and any(case_id_for(owner.code, number) == event.case_id for number in numbers))
    registered = units.get(event.source_unit)
    if registered is not None and registered.kind != "agency":
        return False
    # A claim on a case nobody owns yet, by an agency: with an event that carries no
    # number of its own, or whose number gives this case id under one of the sender's
    # registered stations (a county bureau exports its stations' decisions, each keyed
    # by the deciding station). A decision or case number that gives this id under no
    # unit of the sender names another unit's case: its next case id is predictable,
    # and claiming it ahead of its owner made the claimer the referring unit the matcher
    # records.
    if not numbers:
        return True
    return any(case_id_for(child.code, number) == event.case_id
               for child in units.children(event.source_unit) for number in numbers)


def record_acceptance(event: CaseEvent, relations: CaseRelations,
                      entitlement: Entitlement) -> bool:
    """Update the relations with an accepted event; True when they changed."""
    if entitlement.relation != "owner":
        return False
    proven = owns_by_case_id(event)
    if relations.owner == event.source_unit and (relations.owner_proven or not proven):
        return False
    if relations.owner is not None and relations.owner != event.source_unit and not proven:
        return False  # a claim never takes a case another unit holds
    relations.owner = event.source_unit
    relations.owner_proven = proven
    return True


def name_addressees(events: Iterable[CaseEvent], relations: CaseRelations, *,
                    rules: Entitlements, units: UnitRegistry, hub_unit_code: str,
                    destinations: Callable[[CaseEvent], Iterable[str]]) -> bool:
    """Add to the case's addressees the destinations of its events whose senders now
    stand in a naming relation (``naming_relations``) but did not when they were read;
    True when that changed the relations.

    Why: an event names addressees only when its sender stands in the case as it is
    read. A bureau's forward (移送管辖) read before the referral that makes the bureau
    an addressee is taken as ``unaddressed:police``, which names nobody, so the organ it
    went to was never an addressee and its answers were refused once the referral was
    read. Judged again when the relations change, in the order of the case's history,
    until nothing more is named: the outcome no longer depends on the reading order.
    """
    stored = [event for event in events if event.source_unit != hub_unit_code]
    changed = False
    while True:
        named: set[str] = set()
        for event in stored:
            relation = check_entitlement(event, relations, rules=rules, units=units,
                                         hub_unit_code=None, matched=False).relation
            if rules.names_addressees(relation):
                named.update(destinations(event))
        if named <= relations.addressees:
            return changed
        relations.addressees.update(named)
        changed = True


def no_longer_entitled(events: Iterable[CaseEvent], before: CaseRelations,
                       after: CaseRelations, *, rules: Entitlements, units: UnitRegistry,
                       hub_unit_code: str) -> list[tuple[CaseEvent, str]]:
    """The events a case took whose senders the relations ``before`` a change entitled
    and ``after`` it no longer do, each with the reason a new event of theirs would be
    refused.

    Why: an event is judged against the case as it stands when it is read. A police
    unit's answer read before the referral went through the hub is taken as
    ``unaddressed:police`` (how a referral the agency never entered shows), and an
    agency's claim on a case nobody owned yet is taken as ``owner``; when the referral
    then names another police organ, or the proven owner's first event comes, those
    events stay in the case (withdrawing them would also withdraw a true answer read
    early), but a person should look at them. Only what the change revoked is found:
    an event a changed rule file or unit registry would refuse was not taken "before
    the relations changed". The hub's own events are not judged here.
    """
    found: list[tuple[CaseEvent, str]] = []
    for event in events:
        if event.source_unit == hub_unit_code:
            continue
        now = check_entitlement(event, after, rules=rules, units=units, hub_unit_code=None,
                                matched=False)
        if now.entitled or not check_entitlement(
                event, before, rules=rules, units=units, hub_unit_code=None,
                matched=False).entitled:
            continue
        found.append((event, now.reason or "not entitled"))
    return found


def entitlement_review_alert(case_id: str, event: CaseEvent, reason: str, *,
                             hub_unit_code: str, now: datetime,
                             status: AlertStatus = AlertStatus.RAISED) -> Alert:
    """The alert that asks a person (the hub's unit: the procuratorate) to review an
    event the case took before its relations changed (:func:`no_longer_entitled`), or
    its resolution once the event left the case. The sender is named in the details,
    not made responsible: a unit whose answer was read early has nothing to correct."""
    event_type = type(event).__name__
    return build_alert(
        alert_id=alert_id_for(case_id, ENTITLEMENT_REVIEW_RULE_ID, event.event_id),
        case_id=case_id, kind=AlertKind.ENTITLEMENT_REVIEW, severity="WARNING",
        status=status, hub_unit_code=hub_unit_code,
        responsible_unit_code=hub_unit_code, rule_id=ENTITLEMENT_REVIEW_RULE_ID,
        legal_source=("entitlements.yaml (国务院令第310号 Art. 3, 5-9: who may add which "
                      "event to a case)"),
        occurred_at=now, recorded_at=now, processor="entitlement",
        message=(f"写入资格待复核 / to review: {event_type} of unit {event.source_unit}, "
                 f"taken before the case's relations changed; {reason}"),
        trigger_event_id=event.event_id,
        details={"event_type": event_type, "unit": event.source_unit,
                 "reason": reason[:500]},
    )


def review_resolution(case_id: str, event_id: str, *, hub_unit_code: str,
                      now: datetime) -> Alert:
    """The resolution of the review alert of an event the case no longer holds (its
    history trimmed, its record no longer valid against its model): only its id is
    left to name it."""
    return build_alert(
        alert_id=alert_id_for(case_id, ENTITLEMENT_REVIEW_RULE_ID, event_id),
        case_id=case_id, kind=AlertKind.ENTITLEMENT_REVIEW, severity="WARNING",
        status=AlertStatus.RESOLVED, hub_unit_code=hub_unit_code,
        responsible_unit_code=hub_unit_code, rule_id=ENTITLEMENT_REVIEW_RULE_ID,
        legal_source=("entitlements.yaml (国务院令第310号 Art. 3, 5-9: who may add which "
                      "event to a case)"),
        occurred_at=now, recorded_at=now, processor="entitlement",
        message=f"写入资格待复核 / to review: event {event_id} is no longer in the case",
        trigger_event_id=event_id)
