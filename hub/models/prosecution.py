"""Procuratorial supervision 检察监督 and leads passed on to other bodies.

One event type carries every procuratorial act, distinguished by ``action``: the view,
the deadline monitor and the aggregate treat them alike (a document, a target unit, a
reply clock), and a new kind of act is a new enum symbol rather than a new topic.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from hub.models.common import Party
from hub.models.header import CaseEvent, EventEnum, UnitCode

__all__ = [
    "LeadDestination",
    "LeadTransferred",
    "ProsecutorialAction",
    "ProsecutorialActionKind",
    "ProsecutorialOutcome",
]


class ProsecutorialActionKind(EventEnum):
    """Procuratorial action 检察监督行为: SUGGEST_REFERRAL 建议移送,
    REQUIRE_NON_FILING_REASONS 要求说明不立案理由, ORDER_FILING 通知立案,
    ARREST_DECISION 审查逮捕决定, PROSECUTION_DECISION 审查起诉决定, RECOMMENDATION 检察建议,
    OPINION 检察意见, EARLY_INTERVENTION 提前介入, REVERSE_REFERRAL 反向衔接 (non-prosecuted
    case sent back for an administrative penalty), CORRECTION_NOTICE 纠正违法通知书 (notice to
    correct a violation), URGE_PROSECUTION 督促起诉意见书 (opinion urging a unit to sue or
    prosecute), UNKNOWN 未知."""

    SUGGEST_REFERRAL = "SUGGEST_REFERRAL"
    REQUIRE_NON_FILING_REASONS = "REQUIRE_NON_FILING_REASONS"
    ORDER_FILING = "ORDER_FILING"
    ARREST_DECISION = "ARREST_DECISION"
    PROSECUTION_DECISION = "PROSECUTION_DECISION"
    RECOMMENDATION = "RECOMMENDATION"
    OPINION = "OPINION"
    EARLY_INTERVENTION = "EARLY_INTERVENTION"
    REVERSE_REFERRAL = "REVERSE_REFERRAL"
    CORRECTION_NOTICE = "CORRECTION_NOTICE"
    URGE_PROSECUTION = "URGE_PROSECUTION"
    UNKNOWN = "UNKNOWN"


class ProsecutorialOutcome(EventEnum):
    """Outcome of an arrest or prosecution decision 决定结果: NOT_APPLICABLE 不适用,
    ARREST_APPROVED 批准逮捕, ARREST_NOT_APPROVED 不批准逮捕, PROSECUTED 提起公诉,
    NOT_PROSECUTED 不起诉, UNKNOWN 未知."""

    NOT_APPLICABLE = "NOT_APPLICABLE"
    ARREST_APPROVED = "ARREST_APPROVED"
    ARREST_NOT_APPROVED = "ARREST_NOT_APPROVED"
    PROSECUTED = "PROSECUTED"
    NOT_PROSECUTED = "NOT_PROSECUTED"
    UNKNOWN = "UNKNOWN"


class ProsecutorialAction(CaseEvent):
    """The procuratorate acted on a case 检察监督 (SPP rules on referred cases, 2001)."""

    action: ProsecutorialActionKind = Field(
        default=ProsecutorialActionKind.UNKNOWN, description="Action 监督行为 taken."
    )
    outcome: ProsecutorialOutcome = Field(
        default=ProsecutorialOutcome.NOT_APPLICABLE,
        description="Outcome 决定结果 of an arrest or prosecution decision.",
    )
    target_unit_code: UnitCode = Field(
        description="Unit addressed 被监督/受文单位统一社会信用代码 (agency or police unit)."
    )
    document_number: str | None = Field(
        default=None, description="Document number 文书文号 (e.g. 检察建议书文号)."
    )
    procuratorate_case_number: str | None = Field(
        default=None, description="Procuratorate case number 检察院案件编号."
    )
    referral_number: str | None = Field(
        default=None, description="Referral letter number 移送书文号 concerned."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号 concerned."
    )
    content: str = Field(description="Content 内容 of the action.")
    reply_due_date: date | None = Field(
        default=None,
        description="Reply due date 回复期限 (e.g. 7 days to explain a non-filing, 15 days "
        "to file after an order, 2 months for an opinion).",
    )


class LeadDestination(EventEnum):
    """Lead destination 线索移送对象: SUPERVISION_COMMISSION 监察委员会 (officials' misconduct
    职务犯罪), PUBLIC_INTEREST_LITIGATION 公益诉讼 (procuratorate), UNKNOWN 未知,
    JUSTICE_BUREAU 司法行政机关 (enforcement supervision 行政执法监督; appended last so
    old readers fall back to UNKNOWN)."""

    SUPERVISION_COMMISSION = "SUPERVISION_COMMISSION"
    PUBLIC_INTEREST_LITIGATION = "PUBLIC_INTEREST_LITIGATION"
    UNKNOWN = "UNKNOWN"
    JUSTICE_BUREAU = "JUSTICE_BUREAU"


class LeadTransferred(CaseEvent):
    """A lead was passed to the supervision commission, for public-interest litigation or
    to the justice bureau 线索移送; the receiving unit owes feedback (线索接受反馈), answered
    with AgencyReplied quoting the lead, so its clock stops without a phone call."""

    destination: LeadDestination = Field(
        default=LeadDestination.UNKNOWN, description="Destination 移送对象."
    )
    receiving_unit_code: UnitCode = Field(
        description="Receiving unit's unified social credit code 接收单位统一社会信用代码."
    )
    lead_number: str | None = Field(default=None, description="Lead number 线索编号.")
    summary: str = Field(description="Summary of the lead 线索摘要.")
    persons_concerned: list[Party] = Field(
        default_factory=list, description="Persons concerned 涉及人员."
    )
    feedback_due_date: date | None = Field(
        default=None,
        description="Feedback due date 反馈期限: when the receiving unit must report what it "
        "did with the lead (线索接受反馈); when empty the deadline rule's period applies.",
    )
