"""Criteria of conduct a penalty shows other than by an amount (``conduct_criteria.yaml``).

Some filing standards do not measure: illegal fishing is an offence when a banned method
(电鱼, 毒鱼, 炸鱼, 禁用渔具) is used in a closed season or area, and illegal medical
practice when the party was penalised twice before. Closed seasons differ by water body
and year and are set by the ministry or the province, so they are data an operator
edits; the screening (``streams.screening_assessment``, ``streams.screening_priors``)
reads them from here.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from hub.rules._common import NonEmptyText, Sourced, duplicate_ids
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "CONDUCT_ENV",
    "Circumstance",
    "ClosedArea",
    "ClosedSeason",
    "ConductCriteria",
    "ConductCriterion",
    "FishingCriteria",
    "Method",
    "RepeatPenaltyRule",
    "load_conduct_criteria",
]

CONDUCT_ENV = "LIANGFA_RULES_CONDUCT"

#: What a criterion can require of a fishing penalty.
Circumstance = Literal["closed_season", "closed_area", "banned_method"]


def _month_day(value: str) -> tuple[int, int]:
    try:
        month, day = (int(part) for part in value.split("-"))
        date(2024, month, day)  # a leap year: 02-29 is a valid season end
    except ValueError:
        raise ValueError(f"{value!r} is not a month-day such as '04-01'") from None
    return month, day


class Method(RuleModel):
    """A banned fishing method or gear, and the words that name it."""

    id: NonEmptyText
    name_zh: NonEmptyText
    keywords: tuple[NonEmptyText, ...] = Field(min_length=1)


class ClosedArea(Sourced):
    """A closed area 禁渔区 named in a penalty's facts."""

    id: NonEmptyText
    name_zh: NonEmptyText
    keywords: tuple[NonEmptyText, ...] = Field(min_length=1)


class ClosedSeason(Sourced):
    """A closed season 禁渔期 of one water body (month-days, both ends included)."""

    id: NonEmptyText
    name_zh: NonEmptyText
    keywords: tuple[NonEmptyText, ...] = ()
    default: bool = False
    start: NonEmptyText
    end: NonEmptyText
    years: tuple[int, int] | None = None
    operator_set: bool = True

    @field_validator("start", "end")
    @classmethod
    def _is_month_day(cls, value: str) -> str:
        _month_day(value)
        return value

    @model_validator(mode="after")
    def _named_or_default(self) -> Self:
        if not self.keywords and not self.default:
            raise ValueError(f"closed season {self.id!r} names no water body (keywords) "
                             "and is not the default")
        return self

    def covers(self, day: date) -> bool:
        """True when ``day`` falls in the season (a season may run over the new year)."""
        if self.years is not None and not self.years[0] <= day.year <= self.years[1]:
            return False
        start, end, here = _month_day(self.start), _month_day(self.end), (day.month, day.day)
        if start <= end:
            return start <= here <= end
        return here >= start or here <= end


class ConductCriterion(Sourced):
    """Circumstances that together make the case a lead (or an early-intervention case)."""

    id: NonEmptyText
    name_zh: NonEmptyText
    all_of: tuple[Circumstance, ...] = Field(min_length=1)
    outcome: Literal["suspected_non_referral", "early_intervention"]


class FishingCriteria(RuleModel):
    """Closed seasons and areas and banned methods of illegal fishing."""

    offence: NonEmptyText
    violation_types: tuple[NonEmptyText, ...] = Field(min_length=1)
    banned_methods: tuple[Method, ...] = Field(min_length=1)
    banned_methods_source: NonEmptyText
    banned_methods_verified: bool = True
    closed_areas: tuple[ClosedArea, ...] = ()
    closed_seasons: tuple[ClosedSeason, ...] = ()
    #: Words by which facts that state no date say the fishing was in a closed season.
    closed_season_words: tuple[NonEmptyText, ...] = ()
    criteria: tuple[ConductCriterion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        problems = [
            *duplicate_ids("banned_methods", [m.id for m in self.banned_methods]),
            *duplicate_ids("closed_areas", [a.id for a in self.closed_areas]),
            *duplicate_ids("closed_seasons", [s.id for s in self.closed_seasons]),
            *duplicate_ids("criteria", [c.id for c in self.criteria]),
        ]
        if sum(season.default for season in self.closed_seasons) > 1:
            problems.append("closed_seasons: more than one season is the default")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RepeatPenaltyRule(Sourced):
    """'Penalised N times before (within M years)': counted over the party's history."""

    id: NonEmptyText
    offence: NonEmptyText
    violation_types: tuple[NonEmptyText, ...] = Field(min_length=1)
    within_years: int | None = Field(default=None, ge=1, le=50)


class ConductCriteria(RuleModel):
    """The conduct-criteria file."""

    version: Literal[1] = 1
    fishing: FishingCriteria
    repeat_penalties: tuple[RepeatPenaltyRule, ...] = ()

    def repeat_rule(self, violation_type_code: str | None) -> RepeatPenaltyRule | None:
        """The repeat-penalty rule that counts this violation type, if any."""
        if not violation_type_code:
            return None
        return next((rule for rule in self.repeat_penalties
                     if violation_type_code in rule.violation_types), None)


_FILE = RuleFile("conduct_criteria.yaml", CONDUCT_ENV, ConductCriteria)


def load_conduct_criteria(path: str | os.PathLike[str] | None = None) -> ConductCriteria:
    """The conduct criteria in force (argument, env var, rules dir, shipped)."""
    return _FILE.load(path)
