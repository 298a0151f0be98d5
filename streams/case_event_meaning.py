"""What one event means for its case: the stage it sets, and how it reads on the timeline.

Each event type the hub learns adds a line here (its stage, if it sets one, and its
bilingual timeline summary), and what an event says does not depend on the case's other
events. The aggregate (:mod:`streams.aggregate_logic`) changes for other reasons: how
events folded in any order settle on one stage, how a withdrawn match leaves the case,
how the state is stored. Kept apart, the per-event reading can grow without touching the
fold, and be read and tested event by event: :func:`stage_of` (the stage, with its
lifecycle rank for ties at the same legal time) and :func:`summarise` (the timeline line).
"""

from __future__ import annotations

from hub.models import (
    AgencyCaseOpened,
    AgencyReplied,
    ArrestRequested,
    CaseEvent,
    CaseForwarded,
    CaseReferred,
    CaseStage,
    ConsultationAnswered,
    ConsultationRequested,
    CourtJudgment,
    DeliveryAcknowledged,
    EarlyInterventionAttended,
    EarlyInterventionInvited,
    EnforcementStatus,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FilingDecided,
    FilingDecision,
    FilingSupervisionRequested,
    JudicialRecommendation,
    LeadTransferred,
    MaterialsHandedOver,
    NonFilingReasonsExplained,
    PenaltyCaseRecorded,
    ProsecutorialAction,
    ProsecutorialActionKind,
    ProsecutorialOutcome,
    ReconsiderationDecided,
    ReconsiderationDecision,
    ReconsiderationRequested,
    ReferralReceived,
    TransferredForProsecution,
)
from streams._facts import event_type_name

__all__ = ["stage_of", "stage_rank", "summarise"]

#: Lifecycle order, used to break ties between stage events at the same legal time.
_RANK = {
    CaseStage.OPENED: -1,
    CaseStage.RECORDED: 0,
    CaseStage.REFERRED: 1,
    CaseStage.RECEIVED: 2,
    CaseStage.FORWARDED: 3,
    CaseStage.FILED: 4,
    CaseStage.NOT_FILED: 4,
    CaseStage.RETURNED: 4,
    CaseStage.RECONSIDERATION: 5,
    CaseStage.FILING_SUPERVISION: 7,
    CaseStage.ARREST_REVIEW: 8,
    CaseStage.PROSECUTION: 9,
    CaseStage.JUDGED: 10,
    CaseStage.CLOSED: 11,
}


def stage_rank(stage: CaseStage) -> int:
    """A stage's place in the lifecycle order (ties of the same legal time)."""
    return _RANK[stage]


def stage_of(event: CaseEvent) -> tuple[CaseStage, int] | None:
    """The stage an event moves the case to, with its tie-break rank (None: no change)."""
    stage: CaseStage | None = None
    rank_bonus = 0
    if isinstance(event, AgencyCaseOpened):
        stage = CaseStage.OPENED
    elif isinstance(event, PenaltyCaseRecorded):
        stage = CaseStage.RECORDED
    elif isinstance(event, CaseReferred):
        stage = CaseStage.REFERRED
    elif isinstance(event, ReferralReceived):
        stage = CaseStage.RECEIVED
    elif isinstance(event, CaseForwarded):
        stage = CaseStage.FORWARDED
    elif isinstance(event, FilingDecided):
        stage = {
            FilingDecision.FILED: CaseStage.FILED,
            FilingDecision.NOT_FILED: CaseStage.NOT_FILED,
            FilingDecision.RETURNED: CaseStage.RETURNED,
            # 撤案 ends the criminal track of the case: closed, the timeline says why
            FilingDecision.CANCELLED: CaseStage.CLOSED,
        }.get(event.decision)
    elif isinstance(event, ReconsiderationRequested):
        stage = CaseStage.RECONSIDERATION
    elif isinstance(event, ReconsiderationDecided):
        stage = {
            ReconsiderationDecision.REVERSED: CaseStage.FILED,
            ReconsiderationDecision.UPHELD: CaseStage.NOT_FILED,
        }.get(event.decision)
        rank_bonus = 2  # after the reconsideration request of the same day
    elif isinstance(event, FilingSupervisionRequested | NonFilingReasonsExplained):
        stage = CaseStage.FILING_SUPERVISION
    elif isinstance(event, ArrestRequested):
        stage = CaseStage.ARREST_REVIEW
    elif isinstance(event, TransferredForProsecution):
        stage = CaseStage.PROSECUTION
    elif isinstance(event, ProsecutorialAction):
        stage = _prosecutorial_stage(event)
    elif isinstance(event, CourtJudgment):
        stage = CaseStage.JUDGED
    if stage is None:
        return None
    return stage, _RANK[stage] + rank_bonus


def _prosecutorial_stage(event: ProsecutorialAction) -> CaseStage | None:
    if event.action in (ProsecutorialActionKind.REQUIRE_NON_FILING_REASONS,
                        ProsecutorialActionKind.ORDER_FILING):
        return CaseStage.FILING_SUPERVISION
    if event.action is ProsecutorialActionKind.ARREST_DECISION:
        return CaseStage.ARREST_REVIEW
    if event.action is ProsecutorialActionKind.PROSECUTION_DECISION:
        if event.outcome is ProsecutorialOutcome.NOT_PROSECUTED:
            return CaseStage.CLOSED
        return CaseStage.PROSECUTION
    return None


#: Timeline titles of procuratorial acts ("中文 english": the view shows one language).
_ACT_TITLES = {
    ProsecutorialActionKind.SUGGEST_REFERRAL: ("建议移送", "suggestion to refer"),
    ProsecutorialActionKind.REQUIRE_NON_FILING_REASONS: (
        "要求说明不立案理由", "request for the reasons for not filing"),
    ProsecutorialActionKind.ORDER_FILING: ("通知立案", "order to file"),
    ProsecutorialActionKind.ARREST_DECISION: ("审查逮捕决定", "arrest decision"),
    ProsecutorialActionKind.PROSECUTION_DECISION: ("审查起诉决定", "prosecution decision"),
    ProsecutorialActionKind.RECOMMENDATION: ("检察建议书", "procuratorial recommendation"),
    ProsecutorialActionKind.OPINION: ("检察意见书", "procuratorial opinion"),
    ProsecutorialActionKind.EARLY_INTERVENTION: ("提前介入", "early intervention"),
    ProsecutorialActionKind.REVERSE_REFERRAL: ("反向衔接", "reverse referral"),
    ProsecutorialActionKind.CORRECTION_NOTICE: ("纠正违法通知书", "notice to correct a violation"),
    ProsecutorialActionKind.URGE_PROSECUTION: ("督促起诉意见书", "opinion urging prosecution"),
}


#: What a penalty's export says of its enforcement (执行到位, item 7), on its timeline line;
#: nothing when the export does not say.
_ENFORCEMENT = {EnforcementStatus.ENFORCED: " (执行到位 enforced)",
                EnforcementStatus.PARTIALLY_ENFORCED: " (部分执行 partially enforced)",
                EnforcementStatus.NOT_ENFORCED: " (未执行 not enforced)"}


def summarise(event: CaseEvent) -> str:
    """A one-line bilingual summary of an event for the timeline."""
    if isinstance(event, PenaltyCaseRecorded):
        enforced = _ENFORCEMENT.get(event.enforcement_status, "")
        return (f"行政处罚决定 penalty decision {event.decision_number}: {event.violation_type}"
                f"{enforced}")
    if isinstance(event, CaseReferred):
        return (f"移送涉嫌犯罪案件 referred {event.referral_number} → "
                f"{event.receiving_unit_name or event.receiving_unit_code}: "
                f"{event.suspected_offence}")
    if isinstance(event, ReferralReceived):
        return f"签收回执 receipt signed for {event.referral_number}"
    if isinstance(event, CaseForwarded):
        target = event.forwarded_to_unit_name or event.forwarded_to_unit_code
        return f"移送管辖 forwarded to {target}"
    if isinstance(event, FilingDecided):
        labels = {FilingDecision.FILED: "立案 filed",
                  FilingDecision.NOT_FILED: "不予立案 not filed",
                  FilingDecision.RETURNED: "退回 returned for a penalty",
                  FilingDecision.CANCELLED: "撤案 filed case cancelled"}
        label = labels.get(event.decision, "立案决定 filing decision")
        return f"{label} {event.police_case_number or ''}".strip()
    if isinstance(event, ReconsiderationRequested):
        return "提请复议 reconsideration requested"
    if isinstance(event, ReconsiderationDecided):
        return f"复议决定 reconsideration decided: {event.decision.value}"
    if isinstance(event, FilingSupervisionRequested):
        return "建议立案监督 filing supervision suggested"
    if isinstance(event, MaterialsHandedOver):
        return f"移交涉案物品 seized items handed over ({len(event.items)})"
    if isinstance(event, ProsecutorialAction):
        outcome = ("" if event.outcome is ProsecutorialOutcome.NOT_APPLICABLE
                   else f": {event.outcome.value}")
        zh, en = _ACT_TITLES.get(event.action, ("检察监督", "procuratorate"))
        number = f" {event.document_number}" if event.document_number else ""
        return f"{zh} {en}{number} → {event.target_unit_code}{outcome}"
    if isinstance(event, NonFilingReasonsExplained):
        return f"说明不立案理由 non-filing reasons explained {event.document_number or ''}".strip()
    if isinstance(event, ArrestRequested):
        return (f"提请批准逮捕 arrest approval requested {event.police_case_number} "
                f"(suspects 犯罪嫌疑人: {len(event.parties)})")
    if isinstance(event, TransferredForProsecution):
        offence = f": {event.offence}" if event.offence else ""
        return (f"移送审查起诉 transferred for prosecution {event.police_case_number}"
                f"{offence}")
    if isinstance(event, AgencyReplied):
        quoted = event.in_reply_to_document_number or ""
        to = f" {quoted}" if quoted else ""
        return f"回复 reply{to}: {event.outcome.value}"
    if isinstance(event, CourtJudgment):
        return f"判决 judgment {event.court_case_number}: {event.verdict.value}"
    if isinstance(event, JudicialRecommendation):
        number = f" {event.recommendation_number}" if event.recommendation_number else ""
        return f"司法建议 judicial recommendation{number} → {event.target_unit_code}"
    if isinstance(event, LeadTransferred):
        number = f" {event.lead_number}" if event.lead_number else ""
        return (f"线索移送 lead transferred{number} → {event.receiving_unit_code}: "
                f"{event.destination.value}")
    if isinstance(event, ConsultationRequested):
        return (f"案件咨询 consultation {event.consultation_id} → "
                f"{event.addressed_to_unit_code}")
    if isinstance(event, ConsultationAnswered):
        complex_case = " (重大复杂案件 complex case)" if event.complex_case else ""
        return f"咨询答复 consultation answered {event.consultation_id}{complex_case}"
    if isinstance(event, AgencyCaseOpened):
        found = (f", 已查明金额 amount found {event.illegal_turnover_fen / 100:.2f} 元"
                 if event.illegal_turnover_fen is not None else "")
        return (f"立案（在办）case opened {event.agency_case_number}: "
                f"{event.violation_type}{found}")
    if isinstance(event, EarlyInterventionInvited):
        return (f"邀请提前介入 early intervention invited {event.invitation_id} → "
                f"{event.invited_unit_code}")
    if isinstance(event, EarlyInterventionAttended):
        return f"提前介入 early intervention attended {event.invitation_id}"
    if isinstance(event, FeedbackMatched):
        return f"反馈匹配 feedback matched ({event.method.value})"
    if isinstance(event, FeedbackMatchWithdrawn):
        return f"反馈匹配撤回 feedback match withdrawn: {event.reason}"
    if isinstance(event, DeliveryAcknowledged):
        number = f", 回执编号 receipt {event.receipt_number}" if event.receipt_number else ""
        return (f"送达回执 delivered into {event.source_unit}'s system "
                f"({event.acknowledgement}){number}")
    return event_type_name(event)
