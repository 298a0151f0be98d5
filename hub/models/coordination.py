"""Case consultation 案件咨询 and early intervention 提前介入, each with a 3-day clock.

Both are request/answer pairs tied by an id the requester chooses, so the deadline
monitor can close the clock when the answer arrives (local implementing opinion, items
11 and 12).
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from hub.models.header import AmountFen, CaseEvent, UnitCode

__all__ = [
    "ConsultationAnswered",
    "ConsultationRequested",
    "EarlyInterventionAttended",
    "EarlyInterventionInvited",
]


class ConsultationRequested(CaseEvent):
    """A unit asked another for advice on a case 案件咨询 (answer within 3 working days)."""

    consultation_id: str = Field(
        description="Consultation id 咨询编号, chosen by the requester; the answer quotes it."
    )
    addressed_to_unit_code: UnitCode = Field(
        description="Unit asked 被咨询单位统一社会信用代码 (police or procuratorate)."
    )
    question: str = Field(description="Question 咨询事项.")
    answer_due_date: date | None = Field(
        default=None, description="Answer due date 答复期限, when the requester states one."
    )


class ConsultationAnswered(CaseEvent):
    """A consultation was answered 咨询答复."""

    consultation_id: str = Field(description="Consultation id 咨询编号 answered.")
    requested_by_unit_code: UnitCode = Field(
        description="Unit that asked 咨询单位统一社会信用代码."
    )
    answer: str = Field(description="Answer 答复意见.")
    complex_case: bool = Field(
        default=False,
        description="Complex case 重大复杂案件: the 3-working-day clock does not apply.",
    )


class EarlyInterventionInvited(CaseEvent):
    """An agency invited police or procuratorate to intervene early 提前介入 (attend in 3 days)."""

    invitation_id: str = Field(
        description="Invitation id 邀请编号, chosen by the inviter; attendance quotes it."
    )
    invited_unit_code: UnitCode = Field(
        description="Unit invited 受邀单位统一社会信用代码."
    )
    reason: str = Field(description="Reason 邀请理由 (e.g. amount near the filing threshold).")
    involved_amount_fen: AmountFen | None = Field(
        default=None, description="Amount involved 涉案金额 in fen 分."
    )
    attend_due_date: date | None = Field(
        default=None, description="Attend-by date 介入期限, when the inviter states one."
    )


class EarlyInterventionAttended(CaseEvent):
    """The invited unit intervened 已提前介入."""

    invitation_id: str = Field(description="Invitation id 邀请编号 answered.")
    invited_by_unit_code: UnitCode = Field(
        description="Unit that invited 邀请单位统一社会信用代码."
    )
    attendees: list[str] = Field(default_factory=list, description="Attendees 参与人员.")
    opinion: str | None = Field(default=None, description="Opinion given 介入意见.")
