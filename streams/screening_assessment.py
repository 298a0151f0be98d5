"""How close one penalty comes to a criminal filing threshold: the screening's measure.

The measure is the screening's most detailed part: a case's figures per threshold basis
(amounts, quantities converted to the basis' unit, a party's earlier penalties), the
offence's alternatives and the party they apply to, and the conduct criteria that stand
in for a figure (a closed season, a banned method). It is kept apart from the leads it
feeds (:mod:`streams.screening_logic`), which decide when a measure becomes an alert, so
each can be read and tested on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from hub.models import (
    AgencyCaseOpened,
    PartyCategory,
    PenaltyCaseRecorded,
    PenaltyProcedure,
)
from hub.rules import (
    ScreeningParameters,
    ThresholdTable,
    ViolationMapping,
    ViolationOffenceTable,
    ViolationTypeList,
    classify_violation,
)
from hub.rules.conduct import (
    ConductCriteria,
    ConductCriterion,
    FishingCriteria,
    load_conduct_criteria,
)
from hub.rules.thresholds import Alternative, Offence
from streams.screening_conduct import fishing_circumstances

__all__ = [
    "UNCHECKED_NOTE",
    "OffenceAssessment",
    "PenaltyAssessment",
    "Screened",
    "ScreeningRules",
    "assess_penalty",
    "violation_code",
]

#: The reason's clause on a lead that reaches a threshold only on the figures the record
#: has: the other conditions (``also needs …``) are for a person to check.
UNCHECKED_NOTE = "conditions the record cannot establish: a person must check them"

#: What screening reads: a decided penalty, or an agency's open case (amounts so far).
Screened = PenaltyCaseRecorded | AgencyCaseOpened


@dataclass(frozen=True)
class ScreeningRules:
    """The rule files screening reads, passed together."""

    thresholds: ThresholdTable
    violation_types: ViolationTypeList
    violation_offences: ViolationOffenceTable
    screening: ScreeningParameters
    #: Closed seasons, banned methods, repeat penalties (``conduct_criteria.yaml``);
    #: the file in force unless given, so every constructor of the rules gets them.
    conduct: ConductCriteria = dataclasses.field(default_factory=load_conduct_criteria)


@dataclass(frozen=True)
class OffenceAssessment:
    """How close a penalty case comes to one offence's filing threshold."""

    offence_id: str
    offence_name_zh: str
    article: str
    ratio: Decimal | None
    alternative_id: str | None
    basis_values: Mapping[str, Decimal]
    missing_bases: tuple[str, ...]
    reason: str
    legal_source: str
    verified: bool
    #: The best alternative's minimum per basis, in the basis' own terms (fen, canonical
    #: unit, fraction): shown beside the case's figure on every lead.
    thresholds: Mapping[str, Decimal] = dataclasses.field(default_factory=dict)
    #: A conduct criterion met (``conduct_criteria.yaml``): its id, Chinese wording and
    #: the circumstances established (closed season → its name and dates, method → 电鱼).
    criterion_id: str | None = None
    criterion_zh: str = ""
    circumstances: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The offence's conditions beyond any figure (``also_requires``: still unpaid after
    #: the tax authority's demand…), which no penalty record states.
    also_requires: tuple[str, ...] = ()
    #: Bases of the compared alternative whose figure is a stand-in (``stand_ins``: the
    #: goods value for the sales amount): a person must check it.
    assumed: tuple[str, ...] = ()

    @property
    def checked(self) -> bool:
        """True when the record establishes every condition of the threshold compared.

        A threshold is conjunctive (逃税: ≥ ¥100,000 *and* ≥ 10% of the tax due, *and*
        unpaid after the demand); a condition the record has no figure for, or that no
        figure can show, is not met by default. Screening still raises the lead, since the
        figures it has point to a crime, but as one a person must check, never as a
        certainty (streams/screening_logic.py lowers its severity and names what is open).
        """
        return not self.missing_bases and not self.also_requires and not self.assumed

    def unchecked_conditions(self) -> tuple[str, ...]:
        """The compared alternative's conditions without a figure, as ``basis >= minimum``,
        and those whose figure is a stand-in, as ``basis (stand-in)``."""
        return tuple(f"{basis} >= {self.thresholds[basis]}" if basis in self.thresholds
                     else basis for basis in self.missing_bases) + tuple(
            f"{basis} (stand-in)" for basis in self.assumed)


Outcome = Literal["not_screened", "below", "early_intervention", "suspected_non_referral"]


@dataclass(frozen=True)
class PenaltyAssessment:
    """The screening verdict on one penalty case."""

    penalty_event_id: str
    violation_type_code: str | None
    outcome: Outcome
    reason: str
    best: OffenceAssessment | None
    assessments: tuple[OffenceAssessment, ...]

    @property
    def checked(self) -> bool:
        """True when the best measure's every condition is established by the record."""
        return self.best is None or self.best.checked


def _party_scope(penalty: Screened) -> Literal["individual", "unit", "any"]:
    category = penalty.primary_party.category
    if category in (PartyCategory.NATURAL_PERSON, PartyCategory.SOLE_TRADER):
        return "individual"
    if category is PartyCategory.LEGAL_PERSON:
        return "unit"
    return "any"


def _basis_values(
    penalty: Screened,
    mapping: ViolationMapping,
    rules: ScreeningRules,
    prior_penalties: int | None,
) -> tuple[dict[str, Decimal], list[str], frozenset[str]]:
    """The case's figures per threshold basis (fen, canonical unit), notes, and the bases
    whose figure is a stand-in (``stand_ins``)."""
    values: dict[str, Decimal] = {}
    notes: list[str] = []
    for field, basis_ids in mapping.amount_bases(rules.screening.default_amounts).items():
        amount = getattr(penalty, field, None)
        if isinstance(amount, int):
            for basis_id in basis_ids:
                values[basis_id] = values.get(basis_id, Decimal(0)) + Decimal(amount)
    assumed: set[str] = set()
    for field, basis_ids in rules.screening.stand_ins.items():
        amount = getattr(penalty, field, None)
        if isinstance(amount, int):
            measured = {condition.basis for offence_id in mapping.offences
                        for alternative in rules.thresholds.offence(offence_id).alternatives
                        for condition in alternative.all_of}
            for basis_id in basis_ids:
                if basis_id not in values and basis_id in measured:
                    values[basis_id] = Decimal(amount)
                    assumed.add(basis_id)
    for source in mapping.quantities:
        basis = rules.thresholds.basis(source.basis)
        for quantity in penalty.quantities:
            if not source.accepts(quantity.name):
                continue
            try:
                raw = Decimal(quantity.value)
            except InvalidOperation:
                notes.append(f"quantity {quantity.name!r} has no numeric value")
                continue
            converted = rules.screening.convert(raw, quantity.unit, basis.unit or "")
            if converted is None:
                notes.append(
                    f"quantity {quantity.name!r} in {quantity.unit!r} cannot be expressed in "
                    f"{basis.unit}"
                )
                continue
            values[basis.id] = values.get(basis.id, Decimal(0)) + converted
    if prior_penalties is not None and any(
        s.basis == "prior_penalties" for s in mapping.quantities
    ):
        values["prior_penalties"] = max(values.get("prior_penalties", Decimal(0)),
                                        Decimal(prior_penalties))
    return values, notes, frozenset(assumed)


def _alternative_ratio(
    alternative: Alternative, values: Mapping[str, Decimal]
) -> tuple[Decimal | None, tuple[str, ...]]:
    """min over the conditions of value/threshold; conditions without a figure are missing."""
    ratios: list[Decimal] = []
    missing: list[str] = []
    for condition in alternative.all_of:
        value = values.get(condition.basis)
        if value is None:
            missing.append(condition.basis)
            continue
        minimum = condition.minimum
        ratios.append(Decimal("Infinity") if minimum == 0 else value / minimum)
    if not ratios:
        return None, tuple(missing)
    return min(ratios), tuple(missing)


def _assess_offence(
    offence: Offence,
    mapping: ViolationMapping,
    values: Mapping[str, Decimal],
    scope: Literal["individual", "unit", "any"],
    lead_ratio: Decimal,
    assumed: frozenset[str] = frozenset(),
) -> OffenceAssessment:
    def result(ratio: Decimal | None, alternative: str | None, missing: tuple[str, ...],
               reason: str) -> OffenceAssessment:
        chosen = next((a for a in offence.alternatives if a.id == alternative), None)
        minima = {c.basis: c.minimum for c in chosen.all_of} if chosen is not None else {}
        return OffenceAssessment(
            offence.id, offence.name_zh, offence.article, ratio, alternative, dict(values),
            missing, reason, offence.source, offence.verified, minima,
            also_requires=offence.also_requires,
            assumed=tuple(sorted(basis for basis in minima if basis in assumed)),
        )

    if offence.per_se:
        return result(lead_ratio, None, (), "any production or sale is an offence (per se)")
    if mapping.qualifying:
        return result(lead_ratio, None, (),
                      "the violation type itself is a circumstance the offence lists")
    best: tuple[Decimal, str, tuple[str, ...], tuple[str, ...]] | None = None
    unknown_context = False
    all_missing: set[str] = set()
    for alternative in offence.alternatives:
        if scope != "any" and alternative.party not in ("any", scope):
            continue
        if any(mapping.context.get(key) not in (None, value)
               for key, value in alternative.context.items()):
            continue
        if any(key not in mapping.context for key in alternative.context):
            unknown_context = True
        ratio, missing = _alternative_ratio(alternative, values)
        if ratio is None:
            all_missing.update(missing)
            continue
        # An alternative the record shows reached in full beats a higher share of one
        # with a condition the record cannot show (that one is only a lead to check).
        open_here = (*missing, *(c.basis for c in alternative.all_of if c.basis in assumed))
        if best is None or _rank(ratio, open_here, lead_ratio) > _rank(best[0], best[3],
                                                                        lead_ratio):
            best = (ratio, alternative.id, missing, open_here)
    if best is None:
        if not offence.alternatives:
            return result(None, None, (), "qualitative threshold: a person must judge")
        return result(None, None, tuple(sorted(all_missing)),
                      "the case carries none of the figures the threshold measures")
    ratio, alternative_id, missing, _ = best
    reason = f"alternative {alternative_id}: {ratio:.2f} of the threshold"
    if missing:
        reason += f"; also needs {', '.join(missing)} (not in the penalty record)"
    stood_in = sorted(c.basis for a in offence.alternatives if a.id == alternative_id
                      for c in a.all_of if c.basis in assumed)
    if stood_in:
        reason += f"; {', '.join(stood_in)} from a stand-in figure (not in the record)"
    if offence.also_requires:
        reason += f"; also needs {' and '.join(offence.also_requires)} (not in the penalty record)"
    if unknown_context:
        reason += "; context not established by the violation type"
    if scope == "any":
        reason += "; party category unknown"
    return result(ratio, alternative_id, missing, reason)


def _rank(ratio: Decimal, missing: tuple[str, ...], lead_ratio: Decimal
          ) -> tuple[bool, Decimal]:
    """Order of two measures: reached with every condition shown first, then the share."""
    return (ratio >= lead_ratio and not missing, ratio)


_OUTCOME_RANK = {"suspected_non_referral": 2, "early_intervention": 1}


def _fishing_assessment(penalty: PenaltyCaseRecorded, offence: Offence,
                        criteria: FishingCriteria,
                        screening: ScreeningParameters) -> OffenceAssessment | None:
    """The strongest conduct criterion the penalty meets, as an offence assessment."""
    found = fishing_circumstances(penalty, criteria)
    established = found.established()
    met: list[ConductCriterion] = [c for c in criteria.criteria
                                   if set(c.all_of) <= established]
    if not met:
        return None
    best = max(met, key=lambda c: (_OUTCOME_RANK[c.outcome], len(c.all_of)))
    circumstances: dict[str, str] = {name: value for name, value in (
        ("banned_method", found.banned_method), ("closed_area", found.closed_area),
        ("closed_season", found.closed_season)) if value and name in best.all_of}
    if "closed_season" in best.all_of and found.day_stated:
        circumstances["conduct_date"] = found.conduct_day.isoformat()
    ratio = (screening.lead_ratio if best.outcome == "suspected_non_referral"
             else screening.early_intervention_ratio)
    stated = ", ".join(f"{name} {value}" for name, value in circumstances.items())
    reason = f"criterion {best.id} ({best.name_zh}): {stated}"
    if best.outcome == "early_intervention":
        reason += "; the catch's quantity or a second circumstance decides"
    return OffenceAssessment(
        offence.id, offence.name_zh, offence.article, ratio, None, {}, (), reason, best.source,
        best.verified, {}, best.id, best.name_zh, circumstances, offence.also_requires)


def violation_code(penalty: Screened, rules: ScreeningRules) -> str | None:
    """The case's violation type code, else the one its wording classifies as."""
    guessed = classify_violation(penalty.violation_type, rules.violation_types,
                                 penalty.enforcement_domain)
    return guessed.code if guessed else None


def assess_penalty(
    penalty: Screened,
    rules: ScreeningRules,
    *,
    prior_penalties: int | None = None,
) -> PenaltyAssessment:
    """How close one penalty case comes to a criminal filing threshold.

    ``prior_penalties`` is the number of earlier penalties of the same party for the same
    conduct, which some offences count (illegal medical practice after two penalties);
    the agent keeps that history. An open case (:class:`AgencyCaseOpened`) is assessed
    on the amounts found so far; the conduct criteria (closed season, banned method)
    read a decision's wording and apply to penalties only.
    """
    summary = (isinstance(penalty, PenaltyCaseRecorded)
               and penalty.procedure is PenaltyProcedure.SUMMARY)
    if summary and not rules.screening.screen_summary_procedure:
        return PenaltyAssessment(penalty.event_id, penalty.violation_type_code, "not_screened",
                                 "summary procedure (简易程序) penalties are not screened",
                                 None, ())
    code = penalty.violation_type_code or violation_code(penalty, rules)
    if not code:
        return PenaltyAssessment(
            penalty.event_id, None, "not_screened",
            f"violation type {penalty.violation_type!r} has no code and matches no keyword",
            None, (),
        )
    mapping = rules.violation_offences.for_code(code)
    if mapping is None:
        return PenaltyAssessment(penalty.event_id, code, "not_screened",
                                 f"violation type code {code} is not mapped to offences", None, ())
    if not mapping.offences:
        return PenaltyAssessment(penalty.event_id, code, "below",
                                 f"violation type {code} is not an offence by itself", None, ())
    values, notes, assumed = _basis_values(penalty, mapping, rules, prior_penalties)
    scope = _party_scope(penalty)
    lead_ratio = rules.screening.lead_ratio
    assessments = tuple(
        _assess_offence(rules.thresholds.offence(offence_id), mapping, values, scope, lead_ratio,
                        assumed)
        for offence_id in mapping.offences
    )
    fishing = rules.conduct.fishing
    if (isinstance(penalty, PenaltyCaseRecorded) and code in fishing.violation_types
            and fishing.offence in mapping.offences):
        by_criterion = _fishing_assessment(penalty, rules.thresholds.offence(fishing.offence),
                                           fishing, rules.screening)
        if by_criterion is not None:
            assessments = (*assessments, by_criterion)
    rated = [a for a in assessments if a.ratio is not None]
    # A threshold the record shows reached in full outranks a higher share of one with
    # a condition the record cannot show: fake cigarettes' certain Art. 140 lead is not
    # hidden behind an uncertain one.
    best = max(rated, key=lambda a: (a.checked and (a.ratio or Decimal(0)) >= lead_ratio,
                                     a.ratio or Decimal(0))) if rated else None
    note = ("; " + "; ".join(notes)) if notes else ""
    if best is None or best.ratio is None:
        return PenaltyAssessment(penalty.event_id, code, "below",
                                 "no threshold could be compared" + note, None, assessments)
    if best.ratio >= lead_ratio:
        outcome: Outcome = "suspected_non_referral"
    elif best.ratio >= rules.screening.early_intervention_ratio:
        outcome = "early_intervention"
    else:
        outcome = "below"
    if outcome == "suspected_non_referral" and not best.checked:
        note = f"; {UNCHECKED_NOTE}{note}"
    return PenaltyAssessment(penalty.event_id, code, outcome, best.reason + note, best,
                             assessments)
