"""Entitlements (``entitlements.yaml``): which unit may add which event type to a case.

The stream engine checks every event against this file before it joins a case
(:mod:`streams.entitlement_logic`): a case id is predictable (UUIDv5 of the owning unit's
code and its decision number, both public), so without the check any unit could write
into, and so gain sight of, another unit's case.
"""

from __future__ import annotations

import os
from enum import Enum
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from hub.rules._common import NonEmptyText, Sourced, UnitKind, event_model
from hub.rules._loader import RuleFile, RuleModel

__all__ = ["ENTITLEMENTS_ENV", "KIND_RELATIONS", "RELATIONS", "ActKind", "ActTable",
           "Entitlements", "load_entitlements"]

ENTITLEMENTS_ENV = "LIANGFA_RULES_ENTITLEMENTS"
#: Relations of a unit to a case (documented in the YAML file); besides these, the
#: relations of a unit kind, ``<relation>:<kind>`` (:data:`KIND_RELATIONS`).
RELATIONS = frozenset({"owner", "addressee", "matched", "hub"})
#: ``kind:<k>`` any unit of kind k; ``addressee:<k>`` a unit of kind k of the same organ
#: as an addressee of kind k; ``unaddressed:<k>`` a unit of kind k while no unit of kind
#: k is an addressee.
KIND_RELATIONS = frozenset({"kind", "addressee", "unaddressed"})
_KINDS = frozenset(get_args(UnitKind))


def _relation_problems(path: str, relations: tuple[str, ...]) -> list[str]:
    problems = []
    for relation in relations:
        prefix, _, kind = relation.partition(":")
        if relation not in RELATIONS and not (prefix in KIND_RELATIONS and kind in _KINDS):
            problems.append(f"{path}: unknown relation {relation!r}")
    return problems


class ActKind(Sourced):
    """One kind of act (a symbol of the act field): who may send it, to whom.

    ``senders`` narrows the event type's relations for this act (an order to file comes
    from a procuratorate only); ``targets`` are the unit kinds the act may be addressed
    to (an order to file goes to the police, a recommendation to an agency or the police).
    """

    senders: tuple[str, ...] = Field(min_length=1)
    targets: tuple[UnitKind, ...] = Field(min_length=1)
    title_zh: NonEmptyText
    title_en: NonEmptyText
    #: Whether a user may create the act in the view (acts decided in the unit's own
    #: case system, such as an arrest decision, arrive through its connector only).
    in_view: bool = True


class ActTable(RuleModel):
    """The acts of one event type, told apart by one of its enum fields; an event type
    that is one act (a consultation) has no ``field`` and one kind named as the type."""

    field: NonEmptyText | None = None
    target_field: NonEmptyText
    kinds: dict[str, ActKind] = Field(min_length=1)

    def act_of(self, event: object) -> str | None:
        """The act an event is (its field's symbol, or the type's single act)."""
        if self.field is None:
            return type(event).__name__
        value = getattr(event, self.field, None)
        symbol = getattr(value, "value", value)
        return str(symbol) if symbol else None


class Entitlements(Sourced):
    """The whole entitlements file: allowed relations per event type, and per act."""

    version: Literal[1] = 1
    event_types: dict[str, tuple[str, ...]] = Field(min_length=1)
    #: The relations whose events make the units they are routed to addressees of the
    #: case (``addressee``, ``addressee:<kind>``); an event taken on any other relation
    #: names no addressee, however it is routed.
    naming_relations: tuple[str, ...] = Field(min_length=1)
    acts: dict[str, ActTable] = Field(default_factory=dict)

    @field_validator("naming_relations")
    @classmethod
    def _known_naming(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        problems = _relation_problems("naming_relations", value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        problems = []
        for name, relations in value.items():
            if event_model(name) is None:
                problems.append(f"event_types.{name}: no event type of that name")
            problems.extend(_relation_problems(f"event_types.{name}", relations))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _acts_known(self) -> Entitlements:
        problems = []
        for name, table in self.acts.items():
            model = event_model(name)
            if model is None:
                problems.append(f"acts.{name}: no event type of that name")
                continue
            for field_name in (table.field, table.target_field):
                if field_name is not None and field_name not in model.model_fields:
                    problems.append(f"acts.{name}: {name} has no field {field_name!r}")
            if table.field is None and set(table.kinds) != {name}:
                problems.append(f"acts.{name}: without a field the one act is named {name}")
            annotation = model.model_fields[table.field].annotation \
                if table.field is not None and table.field in model.model_fields else None
            symbols = ({member.value for member in annotation}
                       if isinstance(annotation, type) and issubclass(annotation, Enum)
                       else None)
            for act, kind in table.kinds.items():
                path = f"acts.{name}.kinds.{act}"
                if symbols is not None and act not in symbols:
                    problems.append(f"{path}: {table.field} has no symbol {act!r}")
                problems.extend(_relation_problems(f"{path}.senders", kind.senders))
                if name in self.event_types and not set(kind.senders) <= set(
                        self.event_types[name]):
                    problems.append(f"{path}.senders: wider than event_types.{name}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def names_addressees(self, relation: str | None) -> bool:
        """Whether an event taken on ``relation`` makes its destinations addressees."""
        return relation in self.naming_relations

    def unaddressed_kinds(self) -> frozenset[str]:
        """The unit kinds of the ``unaddressed:<kind>`` relations: a case's first
        addressee of one of them revokes what that relation let in."""
        return frozenset(relation.partition(":")[2]
                         for relations in self.event_types.values()
                         for relation in relations if relation.startswith("unaddressed:"))

    def relations_for(self, event_type: str) -> tuple[str, ...]:
        """The relations that entitle a unit to send ``event_type`` (none: nobody may)."""
        return self.event_types.get(event_type, ())

    def act_of(self, event_type: str, act: str) -> ActKind | None:
        """The rule of one act of ``event_type`` (None: the event type's rule alone)."""
        table = self.acts.get(event_type)
        return table.kinds.get(act) if table is not None else None

    def acts_for_kind(self, event_type: str, unit_kind: str, *, is_hub: bool,
                      is_owner: bool = False) -> dict[str, ActKind]:
        """The acts of ``event_type`` a unit of ``unit_kind`` may send on a case (by its
        kind, as the hub's unit, or as the case's owner): what the view offers a user."""
        table = self.acts.get(event_type)
        if table is None:
            return {}
        return {act: kind for act, kind in table.kinds.items()
                if f"kind:{unit_kind}" in kind.senders or (is_hub and "hub" in kind.senders)
                or (is_owner and "owner" in kind.senders)}


_FILE = RuleFile("entitlements.yaml", ENTITLEMENTS_ENV, Entitlements)


def load_entitlements(path: str | os.PathLike[str] | None = None) -> Entitlements:
    """The entitlements in force (argument, ``LIANGFA_RULES_ENTITLEMENTS``, rules dir,
    shipped)."""
    return _FILE.load(path)
