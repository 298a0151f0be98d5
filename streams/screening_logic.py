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

:func:`~streams.screening_assessment.assess_penalty` says how close one penalty comes to
each mapped offence; :func:`screen_case` turns a case's events into lead alerts (raised,
or resolved when withdrawn), deterministic like every alert of the hub.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hub.calendar import china_date
from hub.models import (
    CHINA_TZ,
    AgencyCaseOpened,
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    PenaltyCaseRecorded,
)
from streams._alerts import AlertState, alert_changes, alert_id_for, build_alert
from streams._facts import ordered
from streams.screening_assessment import (
    PenaltyAssessment,
    Screened,
    ScreeningRules,
    assess_penalty,
)

__all__ = [
    "EARLY_INTERVENTION_RULE_ID",
    "NON_REFERRAL_RULE_ID",
    "PROCESSOR",
    "CaseScreening",
    "alert_changes",
    "screen_case",
]

PROCESSOR = "screening"
NON_REFERRAL_RULE_ID = "screening-non-referral"
EARLY_INTERVENTION_RULE_ID = "screening-early-intervention"
_NO_REFERRAL_SOURCE = "State Council Decree 310 (rev. 2020) Art. 11 (以罚代刑 forbidden)"


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
        # Conditions the record cannot establish (逃税's share of the tax due, unpaid
        # after the demand): named so the person reviewing the lead knows what to check.
        if not best.checked:
            details["conditions_checked"] = "false"
            unchecked = best.unchecked_conditions()
            if unchecked:
                details["unchecked_conditions"] = "; ".join(unchecked)
            if best.also_requires:
                details["also_requires"] = "; ".join(best.also_requires)
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
        if not self.assessment.checked:
            return "疑似以罚代刑、有案不移（待核实） / suspected non-referral, to be checked"
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
    """The penalty's lead, if any.

    A suspected non-referral is CRITICAL only when the record establishes every
    condition of the threshold; one reached on the figures the record has, with a
    condition it cannot show (a share of the tax due, unpaid after a demand), is raised
    as WARNING with the open conditions in its details: a lead to check, not a finding.
    """
    window_ends = event.occurred_at + window
    if assessment.outcome == "early_intervention":
        return _Lead(AlertKind.EARLY_INTERVENTION_CANDIDATE, EARLY_INTERVENTION_RULE_ID, "INFO",
                     event.occurred_at, window_ends, event, assessment)
    if assessment.outcome == "suspected_non_referral":
        severity = "CRITICAL" if assessment.checked else "WARNING"
        return _Lead(AlertKind.SUSPECTED_NON_REFERRAL, NON_REFERRAL_RULE_ID, severity,
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
    higher severity when they reach the threshold itself, every condition shown: the
    agency should refer)."""
    severity = ("WARNING" if assessment.outcome == "suspected_non_referral"
                and assessment.checked else "INFO")
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
