"""Entitlements (``entitlements.yaml``): which unit may add which event type to a case.

The stream engine checks every event against this file before it joins a case
(:mod:`streams.entitlement_logic`): a case id is predictable (UUIDv5 of the owning unit's
code and its decision number, both public), so without the check any unit could write
into, and so gain sight of, another unit's case.
"""

from __future__ import annotations

import os
from typing import Literal, get_args

from pydantic import Field, field_validator

from hub.rules._common import Sourced, UnitKind, event_model
from hub.rules._loader import RuleFile

__all__ = ["ENTITLEMENTS_ENV", "RELATIONS", "Entitlements", "load_entitlements"]

ENTITLEMENTS_ENV = "LIANGFA_RULES_ENTITLEMENTS"
#: Relations of a unit to a case (documented in the YAML file); ``kind:<kind>`` besides.
RELATIONS = frozenset({"owner", "addressee", "matched", "hub"})
_KINDS = frozenset(get_args(UnitKind))


class Entitlements(Sourced):
    """The whole entitlements file: allowed relations per event type."""

    version: Literal[1] = 1
    event_types: dict[str, tuple[str, ...]] = Field(min_length=1)

    @field_validator("event_types")
    @classmethod
    def _known(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        problems = []
        for name, relations in value.items():
            if event_model(name) is None:
                problems.append(f"event_types.{name}: no event type of that name")
            for relation in relations:
                kind = relation.removeprefix("kind:")
                if relation not in RELATIONS and not (relation.startswith("kind:")
                                                      and kind in _KINDS):
                    problems.append(f"event_types.{name}: unknown relation {relation!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def relations_for(self, event_type: str) -> tuple[str, ...]:
        """The relations that entitle a unit to send ``event_type`` (none: nobody may)."""
        return self.event_types.get(event_type, ())


_FILE = RuleFile("entitlements.yaml", ENTITLEMENTS_ENV, Entitlements)


def load_entitlements(path: str | os.PathLike[str] | None = None) -> Entitlements:
    """The entitlements in force (argument, ``LIANGFA_RULES_ENTITLEMENTS``, rules dir,
    shipped)."""
    return _FILE.load(path)
