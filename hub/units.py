"""The unit registry (成员单位): who is on the bus, what they are, where they have jurisdiction.

Every unit is identified by its 统一社会信用代码 (unified social credit code). Routing asks
the registry for "the forest police of this county"; Kafka ACLs and inbox topics are
generated from it; the view names units from it. It is YAML written by the platform's
operators (``deploy/<site>/units.yaml``), so loading reports every problem at once, each
with its YAML path (``units[3].code: …``), instead of failing on the first.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from hub.errors import ConfigError
from hub.identity import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_char,
    credit_code_problem,
    is_valid_division_code,
)
from hub.rules import UnitRoleList, ViolationTypeList, load_unit_roles, load_violation_types
from hub.rules._common import UnitKind
from hub.rules._loader import format_location

__all__ = [
    "Unit",
    "UnitKind",
    "UnitRegistry",
    "division_chain",
    "inbox_topic",
    "load_unit_registry",
]

logger = logging.getLogger(__name__)


def _check_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 18 or any(c not in CREDIT_CODE_ALPHABET for c in code):
        raise ValueError(
            f"{value!r} is not a 统一社会信用代码 (18 characters of "
            f"{CREDIT_CODE_ALPHABET})"
        )
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        raise ValueError(
            f"check digit of {value!r} is {code[17]!r}, GB 32100-2015 gives {expected!r}: "
            "a character of the code is probably mistyped"
        )
    # The rest of GB 32100-2015 as the events check a unit's code (a registry code they
    # refuse would have every event of the unit dead-lettered, and the view's acts too).
    problem = credit_code_problem(code)
    if problem is not None:
        raise ValueError(f"{value!r} is not a 统一社会信用代码: {problem}")
    return code


def _check_division(value: str) -> str:
    if not is_valid_division_code(value):
        raise ValueError(f"{value!r} is not a 6-digit GB/T 2260 行政区划代码 (division code)")
    return value


CreditCode = Annotated[str, AfterValidator(_check_code)]
Division = Annotated[str, AfterValidator(_check_division)]


class Unit(BaseModel):
    """A member unit: agency, police unit, procuratorate, court, commission or office."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: CreditCode = Field(description="统一社会信用代码 (unified social credit code).")
    name: str = Field(min_length=1, description="Chinese name (e.g. 青山县市场监督管理局).")
    name_en: str = Field(min_length=1, description="English name.")
    kind: UnitKind
    role: str = Field(min_length=1, description="Role id from unit_roles.yaml.")
    domains: tuple[str, ...] = Field(
        default=(), description="Enforcement domains 执法领域 (agencies) from violation_types.yaml."
    )
    division: Division = Field(description="Jurisdiction: GB/T 2260 division code.")
    parent: CreditCode | None = Field(default=None, description="Parent unit's code.")

    @property
    def inbox_topic(self) -> str:
        """The topic the unit reads its routed events from."""
        return inbox_topic(self.code)


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    units: list[dict[str, Any]] = Field(default_factory=list)


def inbox_topic(unit_code: str) -> str:
    """``lf.inbox.<unit_code>``: where routed referrals, requests and leads land."""
    return f"lf.inbox.{unit_code}"


def division_chain(division: str) -> tuple[str, ...]:
    """A division and the ones above it: county 420999 → city 420900 → province 420000.

    GB/T 2260 codes nest by digits: ``PPCCDD`` (province, city, county). A unit's
    jurisdiction covers its own division; a city-level unit also serves the counties
    below it, which is why routing walks this chain upwards.
    """
    chain = [division]
    city = division[:4] + "00"
    province = division[:2] + "0000"
    for parent in (city, province):
        if parent != chain[-1]:
            chain.append(parent)
    return tuple(chain)


class UnitRegistry:
    """Units by code, and by role within a jurisdiction."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self._by_code: dict[str, Unit] = {}
        self._by_division_role: dict[tuple[str, str], list[Unit]] = defaultdict(list)
        for unit in units:
            if unit.code in self._by_code:
                raise ValueError(f"unit {unit.code} listed twice")
            self._by_code[unit.code] = unit
            self._by_division_role[(unit.division, unit.role)].append(unit)

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._by_code.values())

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.strip().upper() in self._by_code

    def get(self, code: str | None) -> Unit | None:
        """The unit with this code (case and padding ignored), or None."""
        if not code:
            return None
        return self._by_code.get(code.strip().upper())

    def __getitem__(self, code: str) -> Unit:
        unit = self.get(code)
        if unit is None:
            raise KeyError(f"no unit {code!r} in the registry")
        return unit

    def find(
        self,
        *,
        kind: UnitKind | None = None,
        role: str | None = None,
        division: str | None = None,
        domain: str | None = None,
    ) -> list[Unit]:
        """Units matching every given criterion, in registry order."""
        return [
            unit
            for unit in self._by_code.values()
            if (kind is None or unit.kind == kind)
            and (role is None or unit.role == role)
            and (division is None or unit.division == division)
            and (domain is None or domain in unit.domains)
        ]

    def for_role(self, role: str, division: str) -> Unit | None:
        """The unit holding ``role`` for ``division``: its own, else the nearest above it.

        With several units of one role in a division the first listed wins, so the
        registry's order is the operators' way to say which one is primary.
        """
        for candidate in division_chain(division):
            units = self._by_division_role.get((candidate, role))
            if units:
                return units[0]
        return None

    def first_for_roles(self, roles: Iterable[str], division: str) -> Unit | None:
        """The unit of the first role (in preference order) that any unit holds."""
        for role in roles:
            unit = self.for_role(role, division)
            if unit is not None:
                return unit
        return None

    def children(self, code: str) -> list[Unit]:
        """Units whose parent is ``code``."""
        wanted = code.strip().upper()
        return [unit for unit in self._by_code.values() if unit.parent == wanted]


def _unit_problems(
    raw_units: list[dict[str, Any]], roles: UnitRoleList, domains: frozenset[str]
) -> tuple[list[Unit], list[str]]:
    units: list[Unit] = []
    problems: list[str] = []
    indexes: dict[str, int] = {}
    for index, raw in enumerate(raw_units):
        path = f"units[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{path}: expected a mapping of unit fields")
            continue
        try:
            unit = Unit.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(f"{format_location(error['loc'], path)}: {message}")
            continue
        if unit.code in indexes:
            problems.append(
                f"{path}.code: {unit.code} already listed at units[{indexes[unit.code]}]"
            )
            continue
        indexes[unit.code] = index
        role = roles.get(unit.role)
        if role is None:
            problems.append(f"{path}.role: unknown role {unit.role!r} (see unit_roles.yaml)")
        elif role.kind != unit.kind:
            problems.append(
                f"{path}.role: role {unit.role!r} belongs to kind {role.kind!r}, the unit is "
                f"{unit.kind!r}"
            )
        for domain_index, domain in enumerate(unit.domains):
            if domain not in domains:
                problems.append(
                    f"{path}.domains[{domain_index}]: unknown enforcement domain {domain!r}"
                )
        if unit.kind == "agency" and not unit.domains:
            problems.append(
                f"{path}.domains: an administrative agency needs its enforcement domains "
                "(screening and routing use them)"
            )
        units.append(unit)
    for unit in units:
        index = indexes[unit.code]
        if unit.parent is None:
            continue
        if unit.parent == unit.code:
            problems.append(f"units[{index}].parent: a unit cannot be its own parent")
        elif unit.parent not in indexes:
            problems.append(f"units[{index}].parent: {unit.parent} is not in the registry")
    return units, problems


def load_unit_registry(
    path: str | os.PathLike[str],
    *,
    roles: UnitRoleList | None = None,
    violation_types: ViolationTypeList | None = None,
) -> UnitRegistry:
    """Read a units YAML file; ConfigError lists every problem with its YAML path."""
    file_path = Path(path)
    try:
        data = yaml.safe_load(file_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read unit registry {file_path}", [str(exc)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"unit registry {file_path} is not valid YAML", [str(exc)]) from exc
    try:
        parsed = _RegistryFile.model_validate(data or {})
    except ValidationError as exc:
        problems = [
            f"{format_location(error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        raise ConfigError(f"unit registry {file_path} is malformed", problems) from exc
    units, problems = _unit_problems(
        parsed.units,
        roles or load_unit_roles(),
        (violation_types or load_violation_types()).domain_ids(),
    )
    if problems:
        raise ConfigError(
            f"unit registry {file_path} has {len(problems)} problem(s)", problems
        )
    registry = UnitRegistry(units)
    logger.info("unit registry %s: %s units", file_path, len(registry))
    return registry
