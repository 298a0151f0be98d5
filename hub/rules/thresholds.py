"""Criminal filing thresholds (立案追诉标准, ``thresholds.yaml``) as validated data.

Screening compares a penalty case's figures with these; routing and the deadline monitor
use an offence's category (economic crimes have their own filing clock and police unit).
Money is integer fen and quantities are ``Decimal``: a threshold is a legal line, and a
float that makes ¥49,999.999… of ¥50,000 would move a case across it.
"""

from __future__ import annotations

import functools
import os
import re
from decimal import Decimal
from typing import Literal, Self

from pydantic import Field, model_validator

from hub.rules._common import NonEmptyText, Sourced, duplicate_ids
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "THRESHOLDS_ENV",
    "Alternative",
    "Basis",
    "Condition",
    "Offence",
    "OffenceCategory",
    "PartyScope",
    "ThresholdTable",
    "load_thresholds",
]

THRESHOLDS_ENV = "LIANGFA_RULES_THRESHOLDS"

#: Which offender an alternative applies to: natural persons and sole traders are
#: ``individual``, organisations ``unit`` (单位犯罪).
PartyScope = Literal["individual", "unit", "any"]

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
_OFFENCE_NAME_NOISE = re.compile(r"[\s、，,（）()罪]")


class OffenceCategory(RuleModel):
    """A family of offences handled alike (economic crimes: own clock and police unit)."""

    id: NonEmptyText = Field(pattern=_ID_PATTERN)
    name_zh: NonEmptyText
    name_en: NonEmptyText


class Basis(RuleModel):
    """What a threshold measures: money (fen), a quantity (canonical unit) or a ratio."""

    id: NonEmptyText = Field(pattern=_ID_PATTERN)
    kind: Literal["money", "quantity", "ratio"]
    unit: str | None = None
    name_zh: NonEmptyText
    name_en: NonEmptyText

    @model_validator(mode="after")
    def _quantities_have_units(self) -> Self:
        if self.kind == "quantity" and not self.unit:
            raise ValueError("unit: a quantity basis needs its canonical unit")
        if self.kind != "quantity" and self.unit:
            raise ValueError(f"unit: only quantity bases have a unit, not {self.kind}")
        return self


class Condition(RuleModel):
    """One figure that must reach its minimum (``min_fen``, ``min_quantity`` or ``min_ratio``)."""

    basis: NonEmptyText
    min_fen: int | None = Field(default=None, ge=0)
    min_quantity: Decimal | None = Field(default=None, ge=0)
    min_ratio: Decimal | None = Field(default=None, ge=0)
    range_fen: tuple[int, int] | None = None
    range_quantity: tuple[Decimal, Decimal] | None = None
    province_set: bool = False

    @model_validator(mode="after")
    def _exactly_one_minimum(self) -> Self:
        given = [
            name
            for name in ("min_fen", "min_quantity", "min_ratio")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of min_fen, min_quantity, min_ratio "
                f"(got {', '.join(given) or 'none'})"
            )
        if self.province_set:
            if self.min_fen is not None:
                if self.range_fen is None:
                    raise ValueError("range_fen: a province-set money threshold needs its range")
                low, high = self.range_fen
                if not low <= self.min_fen <= high:
                    raise ValueError(f"min_fen: {self.min_fen} is outside range_fen {low}..{high}")
            elif self.min_quantity is not None:
                if self.range_quantity is None:
                    raise ValueError(
                        "range_quantity: a province-set quantity threshold needs its range"
                    )
                low_q, high_q = self.range_quantity
                if not low_q <= self.min_quantity <= high_q:
                    raise ValueError(
                        f"min_quantity: {self.min_quantity} is outside range_quantity "
                        f"{low_q}..{high_q}"
                    )
        elif self.range_fen is not None or self.range_quantity is not None:
            raise ValueError("a range is given but province_set is false")
        return self

    @property
    def minimum(self) -> Decimal:
        """The threshold in the basis' own terms (fen, canonical unit, or a fraction)."""
        if self.min_fen is not None:
            return Decimal(self.min_fen)
        if self.min_quantity is not None:
            return self.min_quantity
        assert self.min_ratio is not None  # guaranteed by the validator
        return self.min_ratio

    @property
    def kind(self) -> Literal["money", "quantity", "ratio"]:
        """Which kind of basis this condition must refer to."""
        if self.min_fen is not None:
            return "money"
        if self.min_quantity is not None:
            return "quantity"
        return "ratio"


class Alternative(RuleModel):
    """One way to reach the threshold: every condition met (and the scope/context fits)."""

    id: NonEmptyText = Field(pattern=_ID_PATTERN)
    party: PartyScope = "any"
    context: dict[str, str] = Field(default_factory=dict)
    all_of: tuple[Condition, ...] = Field(min_length=1)


class Offence(Sourced):
    """A criminal offence with its filing threshold."""

    id: NonEmptyText = Field(pattern=_ID_PATTERN)
    article: NonEmptyText
    name_zh: NonEmptyText
    name_en: NonEmptyText
    category: NonEmptyText
    per_se: bool = False
    alternatives: tuple[Alternative, ...] = ()
    indicators: tuple[str, ...] = ()
    also_requires: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _threshold_is_stated(self) -> Self:
        if not (self.per_se or self.alternatives or self.indicators):
            raise ValueError(
                "an offence needs per_se: true, measurable alternatives or qualitative "
                "indicators"
            )
        if self.per_se and self.alternatives:
            raise ValueError("a per-se offence has no amount alternatives")
        return self

    @property
    def threshold_type(self) -> Literal["per_se", "amount", "qualitative"]:
        """How screening treats it: any act, figures, or circumstances a person judges."""
        if self.per_se:
            return "per_se"
        if self.alternatives:
            return "amount"
        return "qualitative"


@functools.lru_cache(maxsize=1024)
def _normalise_offence_name(name: str) -> str:
    # Remembered: find_offences normalises every offence name of the table for each
    # referral it screens, ~11% of a case's deadline evaluation.
    return _OFFENCE_NAME_NOISE.sub("", name.strip())


class ThresholdTable(RuleModel):
    """The whole thresholds file."""

    version: Literal[1] = 1
    categories: tuple[OffenceCategory, ...] = Field(min_length=1)
    bases: tuple[Basis, ...] = Field(min_length=1)
    offences: tuple[Offence, ...] = Field(min_length=1)

    def cross_check(self) -> list[str]:
        """Unique ids; categories and bases referred to exist and fit the condition."""
        problems: list[str] = []
        problems.extend(duplicate_ids("categories", [c.id for c in self.categories]))
        problems.extend(duplicate_ids("bases", [b.id for b in self.bases]))
        problems.extend(duplicate_ids("offences", [o.id for o in self.offences]))
        categories = {c.id for c in self.categories}
        bases = {b.id: b for b in self.bases}
        for index, offence in enumerate(self.offences):
            path = f"offences[{index}]"
            if offence.category not in categories:
                problems.append(f"{path}.category: unknown category {offence.category!r}")
            problems.extend(
                duplicate_ids(f"{path}.alternatives", [a.id for a in offence.alternatives])
            )
            for alt_index, alternative in enumerate(offence.alternatives):
                for cond_index, condition in enumerate(alternative.all_of):
                    cond_path = f"{path}.alternatives[{alt_index}].all_of[{cond_index}]"
                    basis = bases.get(condition.basis)
                    if basis is None:
                        problems.append(f"{cond_path}.basis: unknown basis {condition.basis!r}")
                    elif basis.kind != condition.kind:
                        problems.append(
                            f"{cond_path}: basis {basis.id!r} is {basis.kind} but the "
                            f"condition gives a {condition.kind} minimum"
                        )
        return problems

    def offence(self, offence_id: str) -> Offence:
        """The offence with this id (KeyError names it)."""
        for offence in self.offences:
            if offence.id == offence_id:
                return offence
        raise KeyError(f"no offence {offence_id!r} in the thresholds table")

    def basis(self, basis_id: str) -> Basis:
        """The basis with this id (KeyError names it)."""
        for basis in self.bases:
            if basis.id == basis_id:
                return basis
        raise KeyError(f"no basis {basis_id!r} in the thresholds table")

    def category_ids(self) -> frozenset[str]:
        """Every category id (for cross-file checks)."""
        return frozenset(c.id for c in self.categories)

    def find_offences(self, article: str | None, name: str | None) -> tuple[Offence, ...]:
        """Offences a referral's stated article and/or offence name point to.

        The name decides when it matches (225 covers both general and tobacco illegal
        business); otherwise every offence under the article is returned.
        """
        if name:
            wanted = _normalise_offence_name(name)
            if wanted:
                by_name = tuple(
                    o for o in self.offences if _normalise_offence_name(o.name_zh) == wanted
                )
                if by_name:
                    return by_name
                by_part = tuple(
                    o
                    for o in self.offences
                    if wanted in _normalise_offence_name(o.name_zh)
                    or _normalise_offence_name(o.name_zh) in wanted
                )
                if by_part:
                    return by_part
        if article:
            wanted_article = article.strip().removeprefix("第").removesuffix("条")
            return tuple(o for o in self.offences if o.article == wanted_article)
        return ()

    def category_of(self, article: str | None, name: str | None) -> str | None:
        """The offence category of a referral, when its offences agree on one."""
        categories = {o.category for o in self.find_offences(article, name)}
        return categories.pop() if len(categories) == 1 else None


_FILE = RuleFile("thresholds.yaml", THRESHOLDS_ENV, ThresholdTable)


def load_thresholds(path: str | os.PathLike[str] | None = None) -> ThresholdTable:
    """The thresholds in force (argument, ``LIANGFA_RULES_THRESHOLDS``, rules dir, shipped)."""
    return _FILE.load(path)
