"""Unit roles (``unit_roles.yaml``): what a unit does in 两法衔接, within its kind.

Routing rules name roles ("the forest police"), never units; the unit registry says
which unit holds a role in a jurisdiction. A role belongs to exactly one kind, so a
registry entry whose kind and role disagree is a configuration error.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from hub.rules._common import NonEmptyText, Sourced, UnitKind, duplicate_ids
from hub.rules._loader import RuleFile, RuleModel

__all__ = ["UNIT_ROLES_ENV", "UnitRole", "UnitRoleList", "load_unit_roles"]

UNIT_ROLES_ENV = "LIANGFA_RULES_UNIT_ROLES"


class UnitRole(RuleModel):
    """A role, the kind of unit that can hold it, and its names."""

    id: NonEmptyText = Field(pattern=r"^[a-z][a-z_]*$")
    kind: UnitKind
    name_zh: NonEmptyText
    name_en: NonEmptyText


class UnitRoleList(Sourced):
    """The whole roles file."""

    version: Literal[1] = 1
    roles: tuple[UnitRole, ...] = Field(min_length=1)

    def cross_check(self) -> list[str]:
        """Role ids are unique."""
        return duplicate_ids("roles", [r.id for r in self.roles])

    def get(self, role_id: str) -> UnitRole | None:
        """The role with this id, or None."""
        for role in self.roles:
            if role.id == role_id:
                return role
        return None

    def ids(self) -> frozenset[str]:
        """Every role id."""
        return frozenset(r.id for r in self.roles)


_FILE = RuleFile("unit_roles.yaml", UNIT_ROLES_ENV, UnitRoleList)


def load_unit_roles(path: str | os.PathLike[str] | None = None) -> UnitRoleList:
    """The roles in force (argument, ``LIANGFA_RULES_UNIT_ROLES``, rules dir, shipped)."""
    return _FILE.load(path)
