"""Non-referral screening, pure part: penalty figures against criminal filing thresholds.

线索筛查: a penalty case whose figures reach the filing threshold of the offence its
violation type maps to, with no referral within the screening window, is a suspected
non-referral (以罚代刑 / 有案不移, forbidden by State Council Decree 310 Art. 11). At 80%
of the threshold (operator-set) it is a candidate for early intervention (提前介入). A
later referral of the case withdraws the lead.

:func:`assess_penalty` says how close one penalty comes to each mapped offence;
:func:`screen_case` turns a case's events into lead alerts (raised, or resolved when
withdrawn), deterministic like every alert of the hub.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal

from hub.calendar import china_date
from hub.models import (
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
from hub.rules.thresholds import Alternative, Offence
from streams._alerts import AlertState, alert_changes, alert_id_for, build_alert
from streams._facts import ordered

__all__ = [
    "EARLY_INTERVENTION_RULE_ID",
    "NON_REFERRAL_RULE_ID",
    "PROCESSOR",
    "CaseScreening",
    "OffenceAssessment",
    "PenaltyAssessment",
    "ScreeningRules",
    "alert_changes",
    "assess_penalty",
    "screen_case",
]

PROCESSOR = "screening"
NON_REFERRAL_RULE_ID = "screening-non-referral"
EARLY_INTERVENTION_RULE_ID = "screening-early-intervention"
_NO_REFERRAL_SOURCE = "State Council Decree 310 (rev. 2020) Art. 11 (以罚代刑 forbidden)"


@dataclass(frozen=True)
class ScreeningRules:
    """The rule files screening reads, passed together."""

    thresholds: ThresholdTable
    violation_types: ViolationTypeList
    violation_offences: ViolationOffenceTable
    screening: ScreeningParameters


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


def _party_scope(penalty: PenaltyCaseRecorded) -> Literal["individual", "unit", "any"]:
    category = penalty.primary_party.category
    if category in (PartyCategory.NATURAL_PERSON, PartyCategory.SOLE_TRADER):
        return "individual"
    if category is PartyCategory.LEGAL_PERSON:
        return "unit"
    return "any"


def _basis_values(
    penalty: PenaltyCaseRecorded,
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


def assess_penalty(
    penalty: PenaltyCaseRecorded,
    rules: ScreeningRules,
    *,
    prior_penalties: int | None = None,
) -> PenaltyAssessment:
    """How close one penalty case comes to a criminal filing threshold.

    ``prior_penalties`` is the number of earlier penalties of the same party for the same
    conduct, which some offences count (illegal medical practice after two penalties);
    the agent keeps that history.
    """
    summary = penalty.procedure is PenaltyProcedure.SUMMARY
    if summary and not rules.screening.screen_summary_procedure:
        return PenaltyAssessment(penalty.event_id, penalty.violation_type_code, "not_screened",
                                 "summary procedure (简易程序) penalties are not screened",
                                 None, ())
    code = penalty.violation_type_code
    if not code:
        guessed = classify_violation(penalty.violation_type, rules.violation_types,
                                     penalty.enforcement_domain)
        code = guessed.code if guessed else None
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


def _lead_details(assessment: PenaltyAssessment, window_ends: datetime) -> dict[str, str]:
    best = assessment.best
    details = {
        "violation_type_code": assessment.violation_type_code or "",
        "reason": assessment.reason,
        "no_referral_window_ends": window_ends.isoformat(),
    }
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
    return details


@dataclass(frozen=True)
class _Lead:
    """One lead of a penalty case, before it becomes an alert."""

    kind: AlertKind
    rule_id: str
    severity: str
    raise_at: datetime
    window_ends: datetime
    penalty: PenaltyCaseRecorded
    assessment: PenaltyAssessment

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
        legal_source = _NO_REFERRAL_SOURCE
        if best is not None:
            legal_source = f"{best.legal_source}; {_NO_REFERRAL_SOURCE}"
        return build_alert(
            alert_id=alert_id_for(case_id, self.rule_id, self.penalty.event_id),
            case_id=case_id, kind=self.kind, severity=self.severity, status=status,
            hub_unit_code=hub_unit_code, responsible_unit_code=self.penalty.source_unit,
            rule_id=self.rule_id, legal_source=legal_source, occurred_at=occurred_at,
            recorded_at=now, processor=PROCESSOR, message=message,
            due_date=(china_date(self.window_ends)
                      if self.kind is AlertKind.SUSPECTED_NON_REFERRAL else None),
            trigger_event_id=self.penalty.event_id, resolved_by_event_id=resolved_by,
            details=_lead_details(self.assessment, self.window_ends),
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
    time) withdraws both: their alerts resolve, naming the referral.
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
