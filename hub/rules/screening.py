"""Screening and matching parameters (``screening.yaml``, ``matching.yaml``).

Numbers an operator tunes (the no-referral window, the early-intervention ratio, the
confidence above which feedback is matched without a person) live in data so that a
county can change them without a release, and each names why it has its default.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Literal, Self

from pydantic import Field, model_validator

from hub.rules._common import NonEmptyText, Sourced
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "MATCHING_ENV",
    "SCREENING_ENV",
    "MatchingParameters",
    "MatchingScores",
    "PartyIdentifierBonus",
    "ScreeningParameters",
    "UnitConversion",
    "load_matching",
    "load_screening",
]

SCREENING_ENV = "LIANGFA_RULES_SCREENING"
MATCHING_ENV = "LIANGFA_RULES_MATCHING"


class UnitConversion(RuleModel):
    """value in ``to`` = value in ``from`` × ``factor``."""

    from_unit: NonEmptyText = Field(alias="from")
    to: NonEmptyText
    factor: Decimal = Field(gt=0)


class ScreeningParameters(Sourced):
    """The screening file."""

    version: Literal[1] = 1
    no_referral_window_days: int = Field(ge=0, le=3650)
    early_intervention_ratio: Decimal = Field(gt=0)
    lead_ratio: Decimal = Field(gt=0)
    screen_summary_procedure: bool = False
    #: Which basis each money field feeds unless a violation type's mapping says
    #: otherwise for that field (violation_offences.yaml ``amounts``).
    default_amounts: dict[str, str | tuple[str, ...]] = Field(default_factory=dict)
    #: A money field that stands in for bases the record has no figure for, as a
    #: condition a person must check (the lead is 待核实, never a finding): 货值 for the
    #: sales or turnover of a record that states only the goods' value.
    stand_ins: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    unit_aliases: dict[str, str] = Field(default_factory=dict)
    conversions: tuple[UnitConversion, ...] = ()

    @model_validator(mode="after")
    def _ratios_ordered(self) -> Self:
        if self.early_intervention_ratio > self.lead_ratio:
            raise ValueError(
                f"early_intervention_ratio {self.early_intervention_ratio} is above "
                f"lead_ratio {self.lead_ratio}"
            )
        return self

    def canonical_unit(self, unit: str) -> str:
        """An export's unit spelling as the canonical symbol (吨 → t)."""
        text = unit.strip()
        return self.unit_aliases.get(text, text)

    def convert(self, value: Decimal, unit: str, to_unit: str) -> Decimal | None:
        """``value`` in ``unit`` expressed in ``to_unit``; None when no conversion is known."""
        source = self.canonical_unit(unit)
        if source == to_unit:
            return value
        for conversion in self.conversions:
            if conversion.from_unit == source and conversion.to == to_unit:
                return value * conversion.factor
        return None


class MatchingScores(RuleModel):
    """Base confidence of each matching method."""

    referral_number: Decimal = Field(ge=0, le=1)
    agency_decision_number: Decimal = Field(ge=0, le=1)
    agency_case_number: Decimal = Field(ge=0, le=1)
    party_identifier: Decimal = Field(ge=0, le=1)


class PartyIdentifierBonus(RuleModel):
    """Additions to an identifier match; only a sole candidate can reach the threshold."""

    same_referring_unit: Decimal = Field(ge=0, le=1)
    same_offence: Decimal = Field(ge=0, le=1)
    sole_candidate: Decimal = Field(Decimal(0), ge=0, le=1)
    identifier_max: Decimal = Field(ge=0, le=1)


class MatchingParameters(Sourced):
    """The matching file."""

    version: Literal[1] = 1
    confident_threshold: Decimal = Field(gt=0, le=1)
    scores: MatchingScores
    party_identifier_bonus: PartyIdentifierBonus
    date_window_days: int = Field(ge=1, le=3650)
    max_candidates: int = Field(ge=1, le=50)


_SCREENING_FILE = RuleFile("screening.yaml", SCREENING_ENV, ScreeningParameters)
_MATCHING_FILE = RuleFile("matching.yaml", MATCHING_ENV, MatchingParameters)


def load_screening(path: str | os.PathLike[str] | None = None) -> ScreeningParameters:
    """The screening parameters in force (argument, env var, rules dir, shipped)."""
    return _SCREENING_FILE.load(path)


def load_matching(path: str | os.PathLike[str] | None = None) -> MatchingParameters:
    """The matching parameters in force (argument, env var, rules dir, shipped)."""
    return _MATCHING_FILE.load(path)
