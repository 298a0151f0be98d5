"""Enforcement domains, violation type codes and their offences (two YAML files).

``violation_types.yaml`` is the code list connectors put on penalty cases (and the
keywords that classify an export's free-text 违法行为类型); ``violation_offences.yaml``
says which offences a code may amount to and how the case's figures read for them.
Kept apart because the code list is shared with agencies while the offence mapping is
the prosecutors' legal judgement.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from hub.rules._common import NonEmptyText, Sourced, duplicate_ids
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "VIOLATION_OFFENCES_ENV",
    "VIOLATION_TYPES_ENV",
    "AmountBases",
    "Domain",
    "QuantitySource",
    "ViolationMapping",
    "ViolationOffenceTable",
    "ViolationType",
    "ViolationTypeList",
    "amount_bases",
    "classify_violation",
    "load_violation_offences",
    "load_violation_types",
]

VIOLATION_TYPES_ENV = "LIANGFA_RULES_VIOLATION_TYPES"
VIOLATION_OFFENCES_ENV = "LIANGFA_RULES_VIOLATION_OFFENCES"

_CODE_PATTERN = r"^[A-Z]{2,4}(-[A-Z0-9]+)+$"

#: Money fields of PenaltyCaseRecorded (and AgencyCaseOpened) that can feed a threshold
#: basis.
AmountField = Literal["illegal_turnover_fen", "illegal_gains_fen", "goods_value_fen",
                      "fine_amount_fen", "confiscation_amount_fen"]

#: The basis (or bases) one money field feeds: one figure may be measured by several of
#: a violation type's offences (the 违法经营额 of fake cigarettes is the sales amount of
#: Art. 140 and the illegal turnover of Art. 213 and 225); an empty list feeds none.
AmountBases = str | tuple[str, ...]


def amount_bases(defaults: Mapping[str, AmountBases],
                 overrides: Mapping[AmountField, AmountBases] | None,
                 ) -> dict[str, tuple[str, ...]]:
    """Which bases each money field feeds: a mapping's ``amounts`` over the defaults.

    The mapping's entries replace the defaults field by field, never as a whole: a mapping
    that says how its turnover reads must not silently drop the illegal gains the
    defaults feed (fake cigarettes once lost the trademark and tobacco gains that way).
    """
    merged: dict[str, AmountBases] = dict(defaults)
    for field, bases in (overrides or {}).items():
        merged[field] = bases
    return {field: (bases,) if isinstance(bases, str) else tuple(bases)
            for field, bases in merged.items()}


class Domain(RuleModel):
    """An enforcement domain 执法领域 (market regulation, tobacco, tax…)."""

    id: NonEmptyText = Field(pattern=r"^[a-z][a-z_]*$")
    name_zh: NonEmptyText
    name_en: NonEmptyText


class ViolationType(RuleModel):
    """A violation type code 违法行为类型代码 of one domain."""

    code: NonEmptyText = Field(pattern=_CODE_PATTERN)
    domain: NonEmptyText
    name_zh: NonEmptyText
    name_en: NonEmptyText
    keywords: tuple[NonEmptyText, ...] = ()


class ViolationTypeList(Sourced):
    """The whole code-list file: domains and codes."""

    version: Literal[1] = 1
    domains: tuple[Domain, ...] = Field(min_length=1)
    violation_types: tuple[ViolationType, ...] = Field(min_length=1)

    def cross_check(self) -> list[str]:
        """Unique ids and codes; every code in a declared domain."""
        problems = duplicate_ids("domains", [d.id for d in self.domains])
        seen: dict[str, int] = {}
        domains = {d.id for d in self.domains}
        for index, entry in enumerate(self.violation_types):
            if entry.code in seen:
                problems.append(
                    f"violation_types[{index}].code: {entry.code!r} already used by "
                    f"violation_types[{seen[entry.code]}]"
                )
            seen.setdefault(entry.code, index)
            if entry.domain not in domains:
                problems.append(
                    f"violation_types[{index}].domain: unknown domain {entry.domain!r}"
                )
        return problems

    def domain_ids(self) -> frozenset[str]:
        """Every domain id (units' enforcement domains are checked against it)."""
        return frozenset(d.id for d in self.domains)

    def get(self, code: str) -> ViolationType | None:
        """The violation type of a code, or None."""
        wanted = code.strip().upper()
        for entry in self.violation_types:
            if entry.code == wanted:
                return entry
        return None

    def codes(self) -> frozenset[str]:
        """Every code."""
        return frozenset(v.code for v in self.violation_types)


def classify_violation(
    text: str, types: ViolationTypeList, domain: str | None = None
) -> ViolationType | None:
    """The code an export's free-text violation type most likely means, or None.

    The longest keyword found wins (``非法占用耕地`` beats ``耕地``); restricting to the
    agency's domain avoids a tax case matching an environmental keyword. None rather
    than a guess when nothing matches: an uncoded case is screened by a person.
    """
    best: tuple[int, int, ViolationType] | None = None
    for order, entry in enumerate(types.violation_types):
        if domain is not None and entry.domain != domain:
            continue
        for keyword in entry.keywords:
            if keyword in text:
                # Longer keyword first; earlier list entry on ties (negated for max()).
                candidate = (len(keyword), -order, entry)
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
    return best[2] if best else None


class QuantitySource(RuleModel):
    """Which threshold basis a listed quantity feeds, recognised by its name."""

    basis: NonEmptyText
    names: tuple[NonEmptyText, ...] = Field(min_length=1)

    def accepts(self, quantity_name: str) -> bool:
        """True when a quantity's name mentions one of the names (case-insensitive)."""
        lowered = quantity_name.casefold()
        return any(name.casefold() in lowered for name in self.names)


class ViolationMapping(Sourced):
    """The offences one violation type may amount to, and how its figures read."""

    violation_type: NonEmptyText = Field(pattern=_CODE_PATTERN)
    offences: tuple[str, ...]
    #: Which basis each money field feeds, over screening.yaml's ``default_amounts``
    #: field by field (:func:`amount_bases`). Empty (``{}``) is refused: it once removed
    #: every default and now would change nothing; a field that feeds nothing says ``[]``.
    amounts: dict[AmountField, AmountBases] | None = Field(default=None, min_length=1)
    quantities: tuple[QuantitySource, ...] = ()
    context: dict[str, str] = Field(default_factory=dict)
    qualifying: bool = False

    def amount_bases(self, defaults: Mapping[str, AmountBases]) -> dict[str, tuple[str, ...]]:
        """Which bases each money field of a case of this type feeds (defaults merged)."""
        return amount_bases(defaults, self.amounts)


class ViolationOffenceTable(RuleModel):
    """The whole mapping file."""

    version: Literal[1] = 1
    mappings: tuple[ViolationMapping, ...] = Field(min_length=1)

    def cross_check(self) -> list[str]:
        """One mapping per violation type."""
        problems: list[str] = []
        seen: dict[str, int] = {}
        for index, mapping in enumerate(self.mappings):
            if mapping.violation_type in seen:
                problems.append(
                    f"mappings[{index}].violation_type: {mapping.violation_type!r} already "
                    f"mapped by mappings[{seen[mapping.violation_type]}]"
                )
            seen.setdefault(mapping.violation_type, index)
        return problems

    def for_code(self, code: str) -> ViolationMapping | None:
        """The mapping of a violation type code, or None when the code is not mapped."""
        wanted = code.strip().upper()
        for mapping in self.mappings:
            if mapping.violation_type == wanted:
                return mapping
        return None


_TYPES_FILE = RuleFile("violation_types.yaml", VIOLATION_TYPES_ENV, ViolationTypeList)
_OFFENCES_FILE = RuleFile(
    "violation_offences.yaml", VIOLATION_OFFENCES_ENV, ViolationOffenceTable
)


def load_violation_types(path: str | os.PathLike[str] | None = None) -> ViolationTypeList:
    """The code list in force (argument, env var, rules dir, shipped)."""
    return _TYPES_FILE.load(path)


def load_violation_offences(
    path: str | os.PathLike[str] | None = None,
) -> ViolationOffenceTable:
    """The violation → offence mapping in force (argument, env var, rules dir, shipped)."""
    return _OFFENCES_FILE.load(path)
