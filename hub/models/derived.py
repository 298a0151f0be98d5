"""Events the hub's stream processors derive: alerts, case state, statistics, matching.

They carry the common header like any event; ``source_unit`` is the unit operating the
hub (the 两法衔接 management centre) and ``connector_id`` names the processor.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import Field, field_validator

from hub.models.common import Party
from hub.models.header import AvroRecord, CaseEvent, EventEnum, Instant, UnitCode

__all__ = [
    "Alert",
    "AlertKind",
    "AlertSeverity",
    "AlertStatus",
    "CaseStage",
    "CaseState",
    "FeedbackMatchWithdrawn",
    "FeedbackMatched",
    "FeedbackUnmatched",
    "MatchCandidate",
    "MatchMethod",
    "TimelineEntry",
    "UnitMonthlyStats",
]

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class AlertKind(EventEnum):
    """Alert kind 预警类型: LATE_ENTRY 录入超期, MISSING_ENTRY 应录未录,
    REFERRAL_DECISION_OVERDUE 移送决定超期, REFERRAL_DELIVERY_OVERDUE 移送送达超期,
    ACKNOWLEDGEMENT_OVERDUE 回执超期, FORWARD_OVERDUE 移送管辖超期,
    FILING_DECISION_OVERDUE 立案决定超期, RECONSIDERATION_REQUEST_OVERDUE 复议申请超期,
    RECONSIDERATION_DECISION_OVERDUE 复议决定超期, HANDOVER_OVERDUE 涉案物品移交超期,
    NON_FILING_REASONS_OVERDUE 不立案理由说明超期, ORDERED_FILING_OVERDUE 通知立案后立案超期,
    REPLY_OVERDUE 回复超期, CONSULTATION_OVERDUE 咨询答复超期,
    EARLY_INTERVENTION_OVERDUE 提前介入超期, REFERRAL_NOT_FILED_LONG 移送后长期未立案,
    FILED_NOT_CONCLUDED 立案后长期未结, SUSPECTED_NON_REFERRAL 疑似有案不移/以罚代刑,
    EARLY_INTERVENTION_CANDIDATE 建议提前介入, UNMATCHED_FEEDBACK 反馈未匹配,
    SUPERVISION_REQUEST_OVERDUE 建议立案监督超期, UNROUTABLE 无法投递, UNKNOWN 未知,
    ENFORCEMENT_OVERDUE 处罚未执行到位, ENTITLEMENT_REVIEW 写入资格待复核 (an event the case
    took before its relations changed, whose sender they no longer entitle) (both appended:
    an old reader takes UNKNOWN)."""

    LATE_ENTRY = "LATE_ENTRY"
    MISSING_ENTRY = "MISSING_ENTRY"
    REFERRAL_DECISION_OVERDUE = "REFERRAL_DECISION_OVERDUE"
    REFERRAL_DELIVERY_OVERDUE = "REFERRAL_DELIVERY_OVERDUE"
    ACKNOWLEDGEMENT_OVERDUE = "ACKNOWLEDGEMENT_OVERDUE"
    FORWARD_OVERDUE = "FORWARD_OVERDUE"
    FILING_DECISION_OVERDUE = "FILING_DECISION_OVERDUE"
    RECONSIDERATION_REQUEST_OVERDUE = "RECONSIDERATION_REQUEST_OVERDUE"
    RECONSIDERATION_DECISION_OVERDUE = "RECONSIDERATION_DECISION_OVERDUE"
    HANDOVER_OVERDUE = "HANDOVER_OVERDUE"
    NON_FILING_REASONS_OVERDUE = "NON_FILING_REASONS_OVERDUE"
    ORDERED_FILING_OVERDUE = "ORDERED_FILING_OVERDUE"
    REPLY_OVERDUE = "REPLY_OVERDUE"
    CONSULTATION_OVERDUE = "CONSULTATION_OVERDUE"
    EARLY_INTERVENTION_OVERDUE = "EARLY_INTERVENTION_OVERDUE"
    REFERRAL_NOT_FILED_LONG = "REFERRAL_NOT_FILED_LONG"
    FILED_NOT_CONCLUDED = "FILED_NOT_CONCLUDED"
    SUSPECTED_NON_REFERRAL = "SUSPECTED_NON_REFERRAL"
    EARLY_INTERVENTION_CANDIDATE = "EARLY_INTERVENTION_CANDIDATE"
    UNMATCHED_FEEDBACK = "UNMATCHED_FEEDBACK"
    SUPERVISION_REQUEST_OVERDUE = "SUPERVISION_REQUEST_OVERDUE"
    UNROUTABLE = "UNROUTABLE"
    UNKNOWN = "UNKNOWN"
    ENFORCEMENT_OVERDUE = "ENFORCEMENT_OVERDUE"
    ENTITLEMENT_REVIEW = "ENTITLEMENT_REVIEW"


class AlertSeverity(EventEnum):
    """Alert severity 严重程度: INFO 提示, WARNING 预警, CRITICAL 严重, UNKNOWN 未知."""

    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    UNKNOWN = "UNKNOWN"


class AlertStatus(EventEnum):
    """Alert status 预警状态: RAISED 已发出, ACKNOWLEDGED 已知悉, RESOLVED 已解除, UNKNOWN 未知."""

    RAISED = "RAISED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"
    UNKNOWN = "UNKNOWN"


class Alert(CaseEvent):
    """An alert 预警 was raised, acknowledged or resolved on a case (keyed by case_id)."""

    alert_id: str = Field(
        description="Alert id 预警编号: deterministic per case, rule and clock, so a "
        "re-evaluated rule updates its alert instead of raising a second one."
    )
    kind: AlertKind = Field(default=AlertKind.UNKNOWN, description="Alert kind 预警类型.")
    severity: AlertSeverity = Field(
        default=AlertSeverity.WARNING, description="Severity 严重程度."
    )
    status: AlertStatus = Field(default=AlertStatus.RAISED, description="Status 预警状态.")
    responsible_unit_code: UnitCode = Field(
        description="Unit responsible 责任单位统一社会信用代码 (the one that must act)."
    )
    rule_id: str = Field(description="Rule id 规则编号 in the hub's rule data files.")
    legal_source: str = Field(
        description="Legal source 法律依据 of the rule (e.g. 国务院令第310号 第八条)."
    )
    due_date: date | None = Field(
        default=None, description="Due date 期限届满日 the responsible unit missed or faces."
    )
    trigger_event_id: str | None = Field(
        default=None, description="Event id 事件编号 that started the clock."
    )
    resolved_by_event_id: str | None = Field(
        default=None, description="Event id 事件编号 that resolved the alert, once resolved."
    )
    message: str = Field(description="Message 预警说明 for people, in plain words.")
    details: dict[str, str] = Field(
        default_factory=dict, description="Details 详细信息 (rule-specific key/value pairs)."
    )


class CaseStage(EventEnum):
    """Case stage 案件阶段: OPENED 行政机关已立案, RECORDED 已录入处罚, REFERRED 已移送,
    RECEIVED 已受理, FORWARDED 已移送管辖, FILED 已立案, NOT_FILED 不予立案,
    RETURNED 退回行政处理, RECONSIDERATION 复议中, FILING_SUPERVISION 立案监督中,
    ARREST_REVIEW 审查逮捕, PROSECUTION 审查起诉, JUDGED 已判决, CLOSED 已办结,
    UNKNOWN 未知."""

    OPENED = "OPENED"
    RECORDED = "RECORDED"
    REFERRED = "REFERRED"
    RECEIVED = "RECEIVED"
    FORWARDED = "FORWARDED"
    FILED = "FILED"
    NOT_FILED = "NOT_FILED"
    RETURNED = "RETURNED"
    RECONSIDERATION = "RECONSIDERATION"
    FILING_SUPERVISION = "FILING_SUPERVISION"
    ARREST_REVIEW = "ARREST_REVIEW"
    PROSECUTION = "PROSECUTION"
    JUDGED = "JUDGED"
    CLOSED = "CLOSED"
    UNKNOWN = "UNKNOWN"


class TimelineEntry(AvroRecord):
    """One step of a case's timeline 办案时间线."""

    event_id: str = Field(description="Event id 事件编号 of the step.")
    event_type: str = Field(description="Event type 事件类型: full Avro name of the event.")
    occurred_at: Instant = Field(description="Occurred at 发生时间 (legal time of the step).")
    unit_code: str = Field(description="Unit 单位统一社会信用代码 that acted.")
    summary: str = Field(description="Summary 摘要 for the timeline view.")


class CaseState(CaseEvent):
    """The aggregate state of a case 案件状态 (compacted topic lf.case-state: latest wins)."""

    stage: CaseStage = Field(default=CaseStage.UNKNOWN, description="Current stage 当前阶段.")
    owning_unit_code: UnitCode = Field(
        description="Owning unit 主办单位统一社会信用代码 (the agency whose case it is)."
    )
    decision_number: str | None = Field(
        default=None, description="Penalty decision number 行政处罚决定书文号."
    )
    agency_case_number: str | None = Field(
        default=None, description="Agency case number 行政机关案件编号."
    )
    referral_number: str | None = Field(
        default=None, description="Referral letter number 移送书文号."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号."
    )
    parties: list[Party] = Field(default_factory=list, description="Parties 当事人 known.")
    timeline: list[TimelineEntry] = Field(
        default_factory=list, description="Timeline 时间线, in occurred_at order."
    )
    units_involved: list[str] = Field(
        default_factory=list, description="Units involved 涉及单位 (credit codes)."
    )
    open_alerts: list[str] = Field(
        default_factory=list, description="Open alerts 未解除预警 (alert ids)."
    )
    last_event_at: Instant | None = Field(
        default=None, description="Last event at 最近事件时间 (occurred_at of the latest)."
    )
    disclosure_deadline: date | None = Field(
        default=None,
        description="Disclosure deadline 公示截止期 of the case's latest penalty decision: "
        "past it the public case-state feed withdraws the case.",
    )


class UnitMonthlyStats(CaseEvent):
    """A unit's monthly figures 单位月度统计 for the 通报 and the annual 考核.

    ``case_id`` is ``case_id_for(unit_code, "stats:" + month)``: the key of the figures.
    """

    unit_code: UnitCode = Field(description="Unit 单位统一社会信用代码.")
    month: str = Field(description="Month 统计月份, YYYY-MM (China time).")
    penalty_cases_entered: int = Field(
        default=0, ge=0, description="Penalty cases entered 录入处罚案件数."
    )
    penalty_cases_entered_late: int = Field(
        default=0, ge=0, description="Entered late 超期录入数 (after 3 working days)."
    )
    referrals: int = Field(default=0, ge=0, description="Referrals made 移送案件数.")
    receipts: int = Field(default=0, ge=0, description="Referral receipts 回执数.")
    filing_decisions: int = Field(default=0, ge=0, description="Filing decisions 立案决定数.")
    alerts_raised: int = Field(default=0, ge=0, description="Alerts raised 预警数.")
    feedback_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Feedback rate 反馈率: share of referrals with a filing decision (0–1).",
    )
    median_days_to_decision: float | None = Field(
        default=None,
        ge=0.0,
        description="Median days from referral to filing decision 立案决定中位天数.",
    )
    arrest_requests: int = Field(
        default=0, ge=0, description="Arrest approval requests 提请批准逮捕数 (police)."
    )
    transfers_for_prosecution: int = Field(
        default=0, ge=0, description="Cases transferred for prosecution 移送审查起诉数 (police)."
    )
    non_filing_explanations: int = Field(
        default=0, ge=0, description="Non-filing reasons explained 说明不立案理由数 (police)."
    )

    @field_validator("month")
    @classmethod
    def _month_is_year_and_month(cls, value: str) -> str:
        """Months are keys: one spelling only."""
        if not _MONTH_RE.match(value):
            raise ValueError(f"month: {value!r} is not a month in the form YYYY-MM")
        return value


class MatchMethod(EventEnum):
    """Match method 匹配方式: REFERRAL_NUMBER 移送书文号, AGENCY_DECISION_NUMBER 处罚决定书文号,
    AGENCY_CASE_NUMBER 行政机关案件编号, PARTY_IDENTIFIER 当事人证件/代码,
    PARTY_NAME_AND_DATE 当事人名称与日期, CASE_ID 案件标识, MANUAL 人工匹配, UNKNOWN 未知."""

    REFERRAL_NUMBER = "REFERRAL_NUMBER"
    AGENCY_DECISION_NUMBER = "AGENCY_DECISION_NUMBER"
    AGENCY_CASE_NUMBER = "AGENCY_CASE_NUMBER"
    PARTY_IDENTIFIER = "PARTY_IDENTIFIER"
    PARTY_NAME_AND_DATE = "PARTY_NAME_AND_DATE"
    CASE_ID = "CASE_ID"
    MANUAL = "MANUAL"
    UNKNOWN = "UNKNOWN"


class FeedbackMatched(CaseEvent):
    """Police (or other) feedback was matched to a case 反馈匹配成功; ``case_id`` is the
    matched case."""

    feedback_event_id: str = Field(description="Feedback event id 反馈事件编号.")
    feedback_type: str = Field(description="Feedback event type 反馈事件类型 (full Avro name).")
    original_case_id: str | None = Field(
        default=None, description="Case id 原案件标识 the feedback arrived with, if any."
    )
    method: MatchMethod = Field(default=MatchMethod.UNKNOWN, description="Method 匹配方式.")
    confidence: float = Field(ge=0.0, le=1.0, description="Confidence 置信度 (0–1).")
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号 now linked to the case."
    )
    matched_by: str | None = Field(
        default=None, description="Person who matched it 匹配人, for a manual match."
    )


class FeedbackMatchWithdrawn(CaseEvent):
    """An automatic match was withdrawn 反馈匹配撤回; ``case_id`` is the case it had joined.

    A match by party identifier is confident only while the party has one referral in the
    date window. When a second referral of the party is read later (a backfill, or an
    export that lands after the police's), the match is judged again; if it no longer
    holds, the feedback leaves the case (its clocks open again) and goes to a person
    with the candidates (FeedbackUnmatched).
    """

    feedback_event_id: str = Field(description="Feedback event id 反馈事件编号 withdrawn.")
    feedback_type: str = Field(description="Feedback event type 反馈事件类型 (full Avro name).")
    method: MatchMethod = Field(default=MatchMethod.UNKNOWN,
                                description="Method 匹配方式 of the match withdrawn.")
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号 no longer linked to the case."
    )
    reason: str = Field(description="Why the match no longer holds 撤回理由.")
    candidate_case_ids: list[str] = Field(
        default_factory=list, description="Cases the feedback may belong to now 候选案件."
    )


class MatchCandidate(AvroRecord):
    """A case the matcher considered for unmatched feedback 候选案件."""

    case_id: str = Field(description="Candidate case id 候选案件标识.")
    score: float = Field(ge=0.0, le=1.0, description="Score 匹配得分 (0–1).")
    method: MatchMethod = Field(default=MatchMethod.UNKNOWN, description="Method 匹配方式.")
    reason: str = Field(description="Why it is a candidate 候选理由.")


class FeedbackUnmatched(CaseEvent):
    """Feedback could not be matched with confidence 反馈未匹配: parked for a person.

    ``case_id`` is the id the feedback arrived with (often a police-side id).
    """

    feedback_event_id: str = Field(description="Feedback event id 反馈事件编号.")
    feedback_type: str = Field(description="Feedback event type 反馈事件类型 (full Avro name).")
    feedback_unit_code: UnitCode = Field(
        description="Unit that sent the feedback 反馈单位统一社会信用代码."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号 quoted."
    )
    referral_number: str | None = Field(
        default=None, description="Referral letter number 移送书文号 quoted, if any."
    )
    agency_decision_number: str | None = Field(
        default=None, description="Agency decision number 行政处罚决定书文号 quoted, if any."
    )
    feedback_json: str = Field(
        description="The feedback event 反馈内容 as JSON, for the person resolving it."
    )
    candidates: list[MatchCandidate] = Field(
        default_factory=list, description="Candidates 候选案件 with scores, best first."
    )
