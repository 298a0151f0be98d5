"""Non-referral screening, pure part: case figures against criminal filing thresholds.

线索筛查: a penalty case whose figures reach the filing threshold of the offence its
violation type maps to, with no referral within the screening window, is a suspected
non-referral (以罚代刑 / 有案不移, forbidden by State Council Decree 310 Art. 11). At 80%
of the threshold (operator-set) it is a candidate for early intervention (提前介入). A
later referral of the case withdraws the lead.

An agency's open case (:class:`~hub.models.AgencyCaseOpened`, 立案登记 / 在办案件) is
screened the same way on the amounts found so far: reaching the early-intervention share
it raises the early-intervention candidate *during the investigation*, addressed to the
agency, as the Macheng platform does; on a decided penalty the same share stays a review
lead. There is no non-referral lead on an open case (以罚代刑 needs a penalty): at or
above the threshold it is still an early-intervention candidate, of higher severity. Its
penalty decision or a referral of the case resolves it.

:func:`assess_penalty` says how close one penalty comes to each mapped offence;
:func:`screen_case` turns a case's events into lead alerts (raised, or resolved when
withdrawn), deterministic like every alert of the hub.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

from hub.calendar import china_date
from hub.identity import sole_trader_placeholder
from hub.models import (
    CHINA_TZ,
    AgencyCaseOpened,
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseReferred,
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
    RepeatPenaltyRule,
    load_conduct_criteria,
)
from hub.rules.thresholds import Alternative, Offence
from streams._alerts import AlertState, alert_changes, alert_id_for, build_alert
from streams._facts import ordered

__all__ = [
    "EARLY_INTERVENTION_RULE_ID",
    "NON_REFERRAL_RULE_ID",
    "PROCESSOR",
    "CaseScreening",
    "FishingCircumstances",
    "OffenceAssessment",
    "PenaltyAssessment",
    "PriorPenalty",
    "Screened",
    "ScreeningRules",
    "alert_changes",
    "assess_penalty",
    "conduct_date",
    "count_prior_penalties",
    "fishing_circumstances",
    "party_identifier",
    "prior_penalty_counts",
    "screen_case",
    "violation_code",
]

PROCESSOR = "screening"
NON_REFERRAL_RULE_ID = "screening-non-referral"
EARLY_INTERVENTION_RULE_ID = "screening-early-intervention"
_NO_REFERRAL_SOURCE = "State Council Decree 310 (rev. 2020) Art. 11 (以罚代刑 forbidden)"

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
) -> tuple[dict[str, Decimal], list[str]]:
    """The case's figures per threshold basis (fen, canonical unit), and notes."""
    values: dict[str, Decimal] = {}
    notes: list[str] = []
    amounts = mapping.amounts if mapping.amounts is not None else rules.screening.default_amounts
    for field, basis_id in amounts.items():
        amount = getattr(penalty, field, None)
        if isinstance(amount, int):
            values[basis_id] = values.get(basis_id, Decimal(0)) + Decimal(amount)
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
    return values, notes


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
) -> OffenceAssessment:
    def result(ratio: Decimal | None, alternative: str | None, missing: tuple[str, ...],
               reason: str) -> OffenceAssessment:
        chosen = next((a for a in offence.alternatives if a.id == alternative), None)
        minima = {c.basis: c.minimum for c in chosen.all_of} if chosen is not None else {}
        return OffenceAssessment(
            offence.id, offence.name_zh, offence.article, ratio, alternative, dict(values),
            missing, reason, offence.source, offence.verified, minima,
        )

    if offence.per_se:
        return result(lead_ratio, None, (), "any production or sale is an offence (per se)")
    if mapping.qualifying:
        return result(lead_ratio, None, (),
                      "the violation type itself is a circumstance the offence lists")
    best: tuple[Decimal, str, tuple[str, ...]] | None = None
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
        if best is None or ratio > best[0]:
            best = (ratio, alternative.id, missing)
    if best is None:
        if not offence.alternatives:
            return result(None, None, (), "qualitative threshold: a person must judge")
        return result(None, None, tuple(sorted(all_missing)),
                      "the case carries none of the figures the threshold measures")
    ratio, alternative_id, missing = best
    reason = f"alternative {alternative_id}: {ratio:.2f} of the threshold"
    if missing:
        reason += f"; also needs {', '.join(missing)} (not in the penalty record)"
    if unknown_context:
        reason += "; context not established by the violation type"
    if scope == "any":
        reason += "; party category unknown"
    return result(ratio, alternative_id, missing, reason)


_DATE = re.compile(r"(\d{4})\s*(?:年|-|/|\.)\s*(\d{1,2})\s*(?:月|-|/|\.)\s*(\d{1,2})")


def conduct_date(penalty: PenaltyCaseRecorded) -> tuple[date, bool]:
    """The day of the conduct: the first date in the facts not after the decision, else
    the decision date (``False``: not stated, the decision date stands in).

    A closed season is about when the party fished, which the facts state
    ("2025年4月12日夜，当事人在…使用电鱼器具捕捞"); the decision comes weeks later.
    """
    for match in _DATE.finditer(penalty.violation_facts):
        try:
            found = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
        if found <= penalty.decision_date:
            return found, True
    return penalty.decision_date, False


@dataclass(frozen=True)
class FishingCircumstances:
    """What a fishing penalty's record establishes: method, closed area, closed season."""

    banned_method: str | None
    closed_area: str | None
    closed_season: str | None
    conduct_day: date
    day_stated: bool

    def established(self) -> set[str]:
        """Names of the circumstances established (``conduct_criteria.yaml`` spelling)."""
        return {name for name, value in (("banned_method", self.banned_method),
                                         ("closed_area", self.closed_area),
                                         ("closed_season", self.closed_season)) if value}


def fishing_circumstances(penalty: PenaltyCaseRecorded,
                          criteria: FishingCriteria) -> FishingCircumstances:
    """Banned method, closed area and closed season as the penalty's own text shows them.

    The season is the named water body's (a keyword in the facts), else the default
    season an operator set for the county's own waters, on the day the facts state
    (:func:`conduct_date`); facts that state no day establish the season only in words
    (禁渔期内, 休渔期间). The decision date is never taken for the day of the fishing.
    """
    # The facts and the penalty content, not the violation type: a type is a category
    # ("在内陆水域禁渔区、禁渔期或者使用禁用工具、方法捕捞") and names every circumstance.
    text = " ".join(part for part in (penalty.violation_facts, penalty.penalty_content)
                    if part)
    method = next((m.name_zh for m in criteria.banned_methods
                   if any(word in text for word in m.keywords)), None)
    area = next((a.name_zh for a in criteria.closed_areas
                 if any(word in text for word in a.keywords)), None)
    day, stated = conduct_date(penalty)
    season: str | None = None
    if stated:
        named = [s for s in criteria.closed_seasons if any(word in text for word in s.keywords)]
        seasons = named or [s for s in criteria.closed_seasons if s.default]
        season = next((f"{s.name_zh}（{s.start}至{s.end}）" for s in seasons if s.covers(day)),
                      None)
    if season is None and any(word in text for word in criteria.closed_season_words):
        season = "违法事实载明在禁渔期内"
    return FishingCircumstances(method, area, season, day, stated)


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
        best.verified, {}, best.id, best.name_zh, circumstances)


@dataclass(frozen=True)
class PriorPenalty:
    """One earlier penalty of a party, as the party history keeps it (any unit)."""

    event_id: str
    case_id: str
    unit_code: str
    violation_type_code: str | None
    decided_on: date


def party_identifier(penalty: PenaltyCaseRecorded) -> str | None:
    """The key of the party's history: its credit code or ID number (a name is no key:
    two 张伟 are two people).

    The sole-trader placeholder 00000000000000000X is no key either: every sole trader
    without a credit code files it, and counted as one party they made every clinic of
    the demo county a repeat offender of 非法行医. Such a trader is known by its
    operator's ID number, the person the repeat criterion is about.
    """
    party = penalty.primary_party
    placeholder = sole_trader_placeholder()
    for value in party.identifiers():
        if value.strip().upper() != placeholder:
            return value
    return party.legal_representative_id_number or None


def count_prior_penalties(penalty: PenaltyCaseRecorded, history: Iterable[PriorPenalty],
                          rule: RepeatPenaltyRule) -> int:
    """Earlier penalties of the party for the same conduct, by any unit, that ``rule``
    counts: decided before this one (same day: an earlier case id, so two decisions of
    one day count once each way) and within ``within_years`` when the rule limits it.

    The penalty itself and corrected copies of its own case are never counted.
    """
    since: date | None = None
    if rule.within_years is not None:
        decided = penalty.decision_date
        try:
            since = decided.replace(year=decided.year - rule.within_years)
        except ValueError:  # 29 February
            since = decided.replace(year=decided.year - rule.within_years, day=28)
    counted: set[str] = set()
    for prior in history:
        if prior.case_id == penalty.case_id or prior.violation_type_code not in \
                rule.violation_types:
            continue
        earlier = (prior.decided_on, prior.case_id) < (penalty.decision_date, penalty.case_id)
        if earlier and (since is None or prior.decided_on >= since):
            counted.add(prior.case_id)
    return len(counted)


def prior_penalty_counts(penalties: Iterable[PenaltyCaseRecorded],
                         history: Mapping[str, Iterable[PriorPenalty]],
                         rules: ScreeningRules) -> dict[str, int]:
    """Per penalty event id, the party's earlier penalties a repeat rule counts.

    ``history`` maps a party identifier to its penalties (the party history store);
    penalties without an identifier, or of a conduct no rule counts, get no entry.
    """
    counts: dict[str, int] = {}
    for penalty in penalties:
        code = penalty.violation_type_code or violation_code(penalty, rules)
        rule = rules.conduct.repeat_rule(code)
        key = party_identifier(penalty)
        if rule is None or key is None:
            continue
        counts[penalty.event_id] = count_prior_penalties(penalty, history.get(key, ()), rule)
    return counts


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
    values, notes = _basis_values(penalty, mapping, rules, prior_penalties)
    scope = _party_scope(penalty)
    lead_ratio = rules.screening.lead_ratio
    assessments = tuple(
        _assess_offence(rules.thresholds.offence(offence_id), mapping, values, scope, lead_ratio)
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
    best = max(rated, key=lambda a: a.ratio or Decimal(0)) if rated else None
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
    return PenaltyAssessment(penalty.event_id, code, outcome, best.reason + note, best,
                             assessments)


@dataclass(frozen=True)
class CaseScreening:
    """Lead alerts of one case, the assessments behind them, and when to look again."""

    case_id: str
    assessments: tuple[PenaltyAssessment, ...]
    alerts: tuple[AlertState, ...]
    next_check_at: datetime | None

    def changes(self, previous: Mapping[str, str]) -> list[Alert]:
        """Alerts to emit given what was emitted before (alert id → ``snapshot_of``)."""
        return alert_changes(previous, self.alerts)


def _lead_details(assessment: PenaltyAssessment, window_ends: datetime | None
                  ) -> dict[str, str]:
    best = assessment.best
    details = {
        "violation_type_code": assessment.violation_type_code or "",
        "reason": assessment.reason,
    }
    if window_ends is not None:  # an open case has no decision, so no no-referral window
        details["no_referral_window_ends"] = window_ends.isoformat()
    if best is not None:
        details.update({
            "offence_id": best.offence_id,
            "offence": best.offence_name_zh,
            "criminal_law_article": best.article,
            "ratio": f"{best.ratio:.4f}" if best.ratio is not None else "",
            "alternative": best.alternative_id or "",
            "threshold_source": best.legal_source,
            "verified": "true" if best.verified else "false",
        })
        for basis, value in best.basis_values.items():
            details[f"value.{basis}"] = str(value)
        # The figure that triggered the lead beside its threshold (a hazardous-waste lead
        # shows 2.634 t against 3 t, not the fine).
        for basis, minimum in best.thresholds.items():
            details[f"threshold.{basis}"] = str(minimum)
        # A conduct criterion (closed season and 电鱼) is the lead's reason when no
        # figure is: shown in the view as the criterion and what established it.
        if best.criterion_id:
            details["criterion"] = best.criterion_id
            details["criterion_zh"] = best.criterion_zh
            for name, established in best.circumstances.items():
                details[f"circumstance.{name}"] = established
    return details


@dataclass(frozen=True)
class _Lead:
    """One lead of a penalty or open case, before it becomes an alert."""

    kind: AlertKind
    rule_id: str
    severity: str
    raise_at: datetime
    window_ends: datetime | None
    penalty: Screened
    assessment: PenaltyAssessment
    #: What makes the alert unique beside case and rule: the penalty's event id; for an
    #: open case its number, so each re-export with more amounts found updates one alert.
    key: str = ""
    #: The rule the lead applies, after the offence's threshold source.
    rule_source: str = _NO_REFERRAL_SOURCE
    #: Lead details beyond the assessment's (the open case's number and amounts date).
    extra: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def title(self) -> str:
        if self.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE:
            return "建议提前介入 / early intervention suggested"
        return "疑似以罚代刑、有案不移 / suspected non-referral"

    @property
    def offence_text(self) -> str:
        best = self.assessment.best
        return f"{best.offence_name_zh} (刑法第{best.article}条)" if best else ""

    def alert(self, *, case_id: str, status: AlertStatus, occurred_at: datetime,
              resolved_by: str | None, message: str, hub_unit_code: str,
              now: datetime) -> Alert:
        best = self.assessment.best
        legal_source = self.rule_source
        if best is not None:
            legal_source = f"{best.legal_source}; {self.rule_source}"
        return build_alert(
            alert_id=alert_id_for(case_id, self.rule_id, self.key or self.penalty.event_id),
            case_id=case_id, kind=self.kind, severity=self.severity, status=status,
            hub_unit_code=hub_unit_code, responsible_unit_code=self.penalty.source_unit,
            rule_id=self.rule_id, legal_source=legal_source, occurred_at=occurred_at,
            recorded_at=now, processor=PROCESSOR, message=message,
            due_date=(china_date(self.window_ends)
                      if self.kind is AlertKind.SUSPECTED_NON_REFERRAL
                      and self.window_ends is not None else None),
            trigger_event_id=self.penalty.event_id, resolved_by_event_id=resolved_by,
            details={**_lead_details(self.assessment, self.window_ends), **self.extra},
        )


def _lead_for(event: PenaltyCaseRecorded, assessment: PenaltyAssessment,
              window: timedelta) -> _Lead | None:
    window_ends = event.occurred_at + window
    if assessment.outcome == "early_intervention":
        return _Lead(AlertKind.EARLY_INTERVENTION_CANDIDATE, EARLY_INTERVENTION_RULE_ID, "INFO",
                     event.occurred_at, window_ends, event, assessment)
    if assessment.outcome == "suspected_non_referral":
        return _Lead(AlertKind.SUSPECTED_NON_REFERRAL, NON_REFERRAL_RULE_ID, "CRITICAL",
                     window_ends, window_ends, event, assessment)
    return None


def _amounts_time(case: AgencyCaseOpened) -> datetime:
    """When the open case's amounts were found: the register's update date (midnight,
    China time), else the opening (``occurred_at``)."""
    if case.amounts_as_of is None:
        return case.occurred_at
    found = datetime.combine(case.amounts_as_of, datetime.min.time(), tzinfo=CHINA_TZ)
    return max(found, case.occurred_at)


def _open_case_lead(case: AgencyCaseOpened, assessment: PenaltyAssessment,
                    rules: ScreeningRules) -> _Lead:
    """The early-intervention lead of an open case whose amounts reach the share (of
    higher severity when they reach the threshold itself: the agency should refer)."""
    severity = "WARNING" if assessment.outcome == "suspected_non_referral" else "INFO"
    extra = {"stage": "investigation", "agency_case_number": case.agency_case_number}
    if case.amounts_as_of is not None:
        extra["amounts_as_of"] = case.amounts_as_of.isoformat()
    return _Lead(AlertKind.EARLY_INTERVENTION_CANDIDATE, EARLY_INTERVENTION_RULE_ID, severity,
                 _amounts_time(case), None, case, assessment,
                 key=f"open-case|{' '.join(case.agency_case_number.split())}",
                 rule_source=rules.screening.source, extra=extra)


def _screen_open_case(
    versions: list[AgencyCaseOpened],
    closing: CaseEvent | None,
    *,
    case_id: str,
    rules: ScreeningRules,
    hub_unit_code: str,
    now: datetime,
) -> tuple[PenaltyAssessment, AlertState | None]:
    """The open case's lead from its latest copy (the amounts found so far).

    ``closing``: the case's penalty decision or referral, which ends the investigation
    and resolves the lead (emitted only if it was raised). A later copy whose amounts
    fall below the share (a correction) resolves it too.
    """
    latest = max(versions, key=lambda c: (c.amounts_as_of or date.min, c.recorded_at,
                                          c.event_id))
    assessment = assess_penalty(latest, rules)
    lead = _open_case_lead(latest, assessment, rules)
    title = "建议提前介入（在办案件） / early intervention suggested during the investigation"
    if closing is not None:
        how = ("已移送 / referred" if isinstance(closing, CaseReferred)
               else "已作出处罚决定 / decided, screened as a penalty")
        return assessment, AlertState(lead.alert(
            case_id=case_id, status=AlertStatus.RESOLVED,
            occurred_at=max(closing.occurred_at, lead.raise_at), resolved_by=closing.event_id,
            hub_unit_code=hub_unit_code, now=now,
            message=f"{title}: {lead.offence_text} — {how}"), emit_if_new=False)
    if assessment.outcome in ("early_intervention", "suspected_non_referral"):
        return assessment, AlertState(lead.alert(
            case_id=case_id, status=AlertStatus.RAISED, occurred_at=lead.raise_at,
            resolved_by=None, hub_unit_code=hub_unit_code, now=now,
            message=f"{title}: {lead.offence_text}; {assessment.reason}"))
    if len(versions) > 1:  # an earlier copy may have raised it
        return assessment, AlertState(lead.alert(
            case_id=case_id, status=AlertStatus.RESOLVED, occurred_at=lead.raise_at,
            resolved_by=latest.event_id, hub_unit_code=hub_unit_code, now=now,
            message=f"{title}: 金额更正后低于提前介入比例 / amounts now below the share; "
            f"{assessment.reason}"), emit_if_new=False)
    return assessment, None


def screen_case(
    events: Iterable[CaseEvent],
    now: datetime,
    *,
    rules: ScreeningRules,
    hub_unit_code: str,
    prior_penalties: Mapping[str, int] | None = None,
) -> CaseScreening:
    """Lead alerts of one case at ``now`` (legal or wall time).

    Early-intervention candidates are raised at once; suspected non-referrals once the
    no-referral window has passed without a referral. A referral of the case (at any
    time) withdraws both: their alerts resolve, naming the referral. An open case
    (AgencyCaseOpened) raises its early-intervention candidate during the investigation;
    its penalty decision or referral resolves it.
    ``prior_penalties`` maps a penalty's event id to its party's earlier penalty count.
    """
    case_events = ordered(events)
    if not case_events:
        raise ValueError("screen_case needs at least one event of the case")
    case_id = case_events[0].case_id
    referral = next((e for e in case_events if isinstance(e, CaseReferred)), None)
    window = timedelta(days=rules.screening.no_referral_window_days)
    assessments: list[PenaltyAssessment] = []
    states: list[AlertState] = []
    next_check: datetime | None = None
    open_versions = [e for e in case_events if isinstance(e, AgencyCaseOpened)]
    if open_versions:
        decided = next((e for e in case_events if isinstance(e, PenaltyCaseRecorded)), None)
        assessment, state = _screen_open_case(
            open_versions, referral or decided, case_id=case_id, rules=rules,
            hub_unit_code=hub_unit_code, now=now)
        assessments.append(assessment)
        if state is not None:
            states.append(state)
    for event in case_events:
        if not isinstance(event, PenaltyCaseRecorded):
            continue
        assessment = assess_penalty(
            event, rules, prior_penalties=(prior_penalties or {}).get(event.event_id)
        )
        assessments.append(assessment)
        lead = _lead_for(event, assessment, window)
        if lead is None:
            continue
        if referral is not None:
            states.append(AlertState(
                lead.alert(
                    case_id=case_id, status=AlertStatus.RESOLVED,
                    occurred_at=max(referral.occurred_at, event.occurred_at),
                    resolved_by=referral.event_id, hub_unit_code=hub_unit_code, now=now,
                    message=f"{lead.title}: {lead.offence_text} — 已移送 / withdrawn by "
                    f"referral {referral.referral_number}",
                ),
                emit_if_new=False,
            ))
            continue
        if now < lead.raise_at:
            if next_check is None or lead.raise_at < next_check:
                next_check = lead.raise_at
            continue
        states.append(AlertState(lead.alert(
            case_id=case_id, status=AlertStatus.RAISED, occurred_at=lead.raise_at,
            resolved_by=None, hub_unit_code=hub_unit_code, now=now,
            message=f"{lead.title}: {lead.offence_text}; {assessment.reason}",
        )))
    return CaseScreening(case_id, tuple(assessments), tuple(states), next_check)
