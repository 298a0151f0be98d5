"""The assessment (考核) of member units: indicators, weights, one-vote vetoes, grades and
the random re-check of penalty cases, as data (``assessment.yaml``).

What is assessed comes from the 兴庆区 implementing opinion (entry of every decision on the
platform, referral, receipt and filing, replies); how many points each indicator is worth,
what vetoes a unit and how many cases are drawn for re-checking are the assessing body's
settings (``operator_set``), so they live in a file an operator replaces
(``LIANGFA_RULES_ASSESSMENT=<file>``) rather than in code.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from hub.models import AlertKind
from hub.rules._common import NonEmptyText, Sourced, UnitKind, duplicate_ids
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "ASSESSMENT_ENV",
    "MEASURES",
    "AssessmentRules",
    "Grade",
    "Indicator",
    "RecheckSettings",
    "Veto",
    "load_assessment",
]

ASSESSMENT_ENV = "LIANGFA_RULES_ASSESSMENT"

#: Figures of a unit over a period that indicators and vetoes may name (computed by
#: hub/view/assessment.py from the monthly statistics and the alerts of the period).
MEASURES = (
    "months",                 # months in the period
    "active_months",          # months with any entry, referral, receipt or filing decision
    "months_since_activity",  # months from the last active month to the period's end
    "entered",                # penalty cases entered
    "entered_late",           # of which entered late
    "missing_entries",        # MISSING_ENTRY alerts raised in the period (应录未录)
    "referrals",
    "receipts",
    "filing_decisions",
    "overdue_alerts",         # alerts of the indicator's alert_kinds raised in the period
)

Measure = Literal[
    "months", "active_months", "months_since_activity", "entered", "entered_late",
    "missing_entries", "referrals", "receipts", "filing_decisions", "overdue_alerts",
]


class Indicator(Sourced):
    """One line of the scorecard and the points it is worth.

    ``method``:
    ``continuity``   weight × active_months / months;
    ``freshness``    weight − deduction × months_since_activity;
    ``completeness`` weight × entered / (entered + missing_entries), not applicable when
                     both are 0;
    ``timeliness``   weight × (entered − entered_late) / entered, not applicable when
                     nothing was entered;
    ``deduction``    weight − deduction × overdue_alerts (alerts of ``alert_kinds``);
    never below 0.
    """

    id: NonEmptyText = Field(pattern=r"^[a-z][a-z0-9_]*$")
    group: Literal["feed", "entry", "referral", "receipt_filing", "replies"]
    name_zh: NonEmptyText
    name_en: NonEmptyText
    short_zh: NonEmptyText = Field(max_length=8)
    short_en: NonEmptyText = Field(max_length=16)
    method: Literal["continuity", "freshness", "completeness", "timeliness", "deduction"]
    weight: float = Field(gt=0)
    deduction: float = Field(default=0, ge=0)
    alert_kinds: tuple[str, ...] = ()
    applies_to: tuple[UnitKind, ...] = Field(min_length=1)
    operator_set: bool = True


class Veto(Sourced):
    """A one-vote veto 一票否决: the unit fails the period whatever its points.

    ``scope_zh``/``scope_en`` say why the veto applies to the unit kinds it names and not
    to the others assessed: a veto that spares one kind looks arbitrary on a ranking
    where a unit of that kind with the same figure is not vetoed, unless the page says
    why (the view shows it beside the veto wherever the veto is shown or explained).
    """

    id: NonEmptyText = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: NonEmptyText
    name_en: NonEmptyText
    measure: Measure
    op: Literal[">=", "==", "<="]
    value: int = Field(ge=0)
    applies_to: tuple[UnitKind, ...] = Field(min_length=1)
    scope_zh: str = ""
    scope_en: str = ""
    periods: tuple[Literal["month", "quarter", "half", "year"], ...] = Field(min_length=1)
    operator_set: bool = True

    def hit(self, value: int) -> bool:
        """Whether a unit's figure triggers the veto."""
        if self.op == ">=":
            return value >= self.value
        if self.op == "<=":
            return value <= self.value
        return value == self.value


class Grade(RuleModel):
    """A grade and the lowest score that earns it (a vetoed unit gets the last grade)."""

    id: NonEmptyText
    name_zh: NonEmptyText
    name_en: NonEmptyText
    min_score: float = Field(ge=0, le=100)


class RecheckSettings(Sourced):
    """How many of a unit's penalty cases of a year are drawn for re-checking."""

    cases_per_unit: int = Field(ge=1, le=1000)
    unit_kinds: tuple[UnitKind, ...] = Field(min_length=1)
    operator_set: bool = True


class AssessmentRules(Sourced):
    """The whole assessment file."""

    version: Literal[1] = 1
    title_zh: NonEmptyText
    title_en: NonEmptyText
    indicators: tuple[Indicator, ...] = Field(min_length=1)
    vetoes: tuple[Veto, ...] = ()
    grades: tuple[Grade, ...] = Field(min_length=1)
    recheck: RecheckSettings

    def cross_check(self) -> list[str]:
        """Unique ids, alert kinds the hub knows, deductions where deducted, grades ordered."""
        problems = duplicate_ids("indicators", [i.id for i in self.indicators])
        problems += duplicate_ids("vetoes", [v.id for v in self.vetoes])
        problems += duplicate_ids("grades", [g.id for g in self.grades])
        for index, indicator in enumerate(self.indicators):
            path = f"indicators[{index}]"
            problems.extend(
                f"{path}.alert_kinds: {kind!r} is not a hub.models.AlertKind"
                for kind in indicator.alert_kinds
                if kind not in AlertKind.__members__
            )
            if indicator.method == "deduction" and not indicator.alert_kinds:
                problems.append(f"{path}.alert_kinds: a deduction indicator needs alert kinds")
            if indicator.method in ("deduction", "freshness") and indicator.deduction <= 0:
                problems.append(f"{path}.deduction: a {indicator.method} indicator needs "
                                "points deducted per item")
        scores = [grade.min_score for grade in self.grades]
        if scores != sorted(scores, reverse=True):
            problems.append("grades: list them from the highest min_score down")
        if self.grades and self.grades[-1].min_score != 0:
            problems.append("grades[-1].min_score: the last grade must start at 0")
        return problems

    def weight_of(self, unit_kind: str | None) -> float:
        """Total points a unit of this kind can earn (its applicable indicators)."""
        return sum(i.weight for i in self.indicators
                   if unit_kind is None or unit_kind in i.applies_to)

    def grade(self, score: float, vetoed: bool) -> Grade:
        """The grade of a score; the lowest grade when vetoed."""
        if vetoed:
            return self.grades[-1]
        for grade in self.grades:
            if score >= grade.min_score:
                return grade
        return self.grades[-1]


_FILE = RuleFile("assessment.yaml", ASSESSMENT_ENV, AssessmentRules)


def load_assessment(path: str | os.PathLike[str] | None = None) -> AssessmentRules:
    """The assessment rules in force (argument, ``LIANGFA_RULES_ASSESSMENT``, rules dir,
    shipped)."""
    return _FILE.load(path)
