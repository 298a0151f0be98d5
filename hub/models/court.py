"""Court outcomes 审判: the judgment, and the judicial recommendation to an agency that
follows an acquittal or an exemption from punishment (so the agency penalises instead)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from hub.models.common import Party
from hub.models.header import AmountFen, CaseEvent, EventEnum, UnitCode

__all__ = ["CourtJudgment", "JudicialRecommendation", "Verdict"]


class Verdict(EventEnum):
    """Verdict 判决结果: CONVICTED 有罪判决, EXEMPTED 免予刑事处罚, ACQUITTED 无罪判决,
    WITHDRAWN 撤诉, UNKNOWN 未知."""

    CONVICTED = "CONVICTED"
    EXEMPTED = "EXEMPTED"
    ACQUITTED = "ACQUITTED"
    WITHDRAWN = "WITHDRAWN"
    UNKNOWN = "UNKNOWN"


class CourtJudgment(CaseEvent):
    """A court judged the case 法院判决."""

    court_case_number: str = Field(description="Court case number 法院案号.")
    judgment_number: str | None = Field(
        default=None, description="Judgment document number 判决书文号."
    )
    verdict: Verdict = Field(default=Verdict.UNKNOWN, description="Verdict 判决结果.")
    offence: str | None = Field(default=None, description="Offence convicted of 判决罪名.")
    sentence: str | None = Field(default=None, description="Sentence 刑罚 as worded.")
    fine_amount_fen: AmountFen | None = Field(
        default=None, description="Criminal fine 罚金 in fen 分."
    )
    defendants: list[Party] = Field(default_factory=list, description="Defendants 被告人.")
    procuratorate_case_number: str | None = Field(
        default=None, description="Procuratorate case number 检察院案件编号."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号."
    )
    referral_number: str | None = Field(
        default=None,
        description="Referral letter number 移送书文号 when the case came from a referral: "
        "how the feedback matcher finds the hub's case.",
    )
    effective: bool = Field(default=False, description="Judgment in force 判决已生效.")


class JudicialRecommendation(CaseEvent):
    """A court recommended an agency act (e.g. penalise after acquittal) 司法建议."""

    target_unit_code: UnitCode = Field(
        description="Agency addressed 受文单位统一社会信用代码."
    )
    recommendation_number: str | None = Field(
        default=None, description="Judicial recommendation document number 司法建议书文号."
    )
    court_case_number: str | None = Field(
        default=None, description="Court case number 法院案号 it follows."
    )
    referral_number: str | None = Field(
        default=None,
        description="Referral letter number 移送书文号 of the judged case, when it came from "
        "a referral: how the feedback matcher finds the hub's case.",
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号 of the judged case."
    )
    content: str = Field(description="Content 建议内容.")
    reply_due_date: date | None = Field(
        default=None, description="Reply due date 回复期限."
    )
