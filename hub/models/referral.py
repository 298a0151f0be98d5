"""What an administrative agency sends once a case looks criminal (State Council Decree 310).

Referral 移送 (Art. 5–6), hand-over of seized items 移交涉案物品 (Art. 12), a request to
reconsider a non-filing 复议 (Art. 9), a suggestion of filing supervision 立案监督 (Art. 9),
and the agency's reply to a procuratorial recommendation or opinion.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from hub.models.common import Party, Quantity
from hub.models.header import (
    AmountFen,
    AvroRecord,
    CaseEvent,
    DivisionCode,
    EventEnum,
    Instant,
    UnitCode,
)

__all__ = [
    "AgencyReplied",
    "CaseReferred",
    "FilingSupervisionRequested",
    "MaterialsHandedOver",
    "PackageItem",
    "PackageItemKind",
    "ReconsiderationRequested",
    "ReplyOutcome",
]


class PackageItemKind(EventEnum):
    """Referral package item 移送材料 (Decree 310 Art. 6): REFERRAL_LETTER 涉嫌犯罪案件移送书,
    INVESTIGATION_REPORT 涉嫌犯罪案件情况的调查报告, SEIZED_ITEMS_LIST 涉案物品清单,
    TEST_OR_APPRAISAL_REPORT 有关检验报告或者鉴定结论, OTHER_MATERIALS 其他有关涉嫌犯罪的材料,
    UNKNOWN 未知."""

    REFERRAL_LETTER = "REFERRAL_LETTER"
    INVESTIGATION_REPORT = "INVESTIGATION_REPORT"
    SEIZED_ITEMS_LIST = "SEIZED_ITEMS_LIST"
    TEST_OR_APPRAISAL_REPORT = "TEST_OR_APPRAISAL_REPORT"
    OTHER_MATERIALS = "OTHER_MATERIALS"
    UNKNOWN = "UNKNOWN"


class PackageItem(AvroRecord):
    """One document of the referral package 移送材料."""

    kind: PackageItemKind = Field(
        default=PackageItemKind.UNKNOWN,
        description="Kind of document 材料类别 (Decree 310 Art. 6 list).",
    )
    title: str = Field(description="Document title 材料名称.")
    document_number: str | None = Field(
        default=None, description="Document number 文书编号 where the document has one."
    )
    pages: int | None = Field(default=None, ge=0, description="Number of pages 页数.")


class CaseReferred(CaseEvent):
    """An agency referred a suspected crime to the police 涉嫌犯罪案件移送 (Decree 310 Art. 5–6)."""

    referral_number: str = Field(
        description="Referral letter number 移送书文号; the police's receipt and filing "
        "decision quote it, which is how feedback finds the case."
    )
    agency_case_number: str | None = Field(
        default=None, description="Agency case number 案件编号 in the agency's system."
    )
    decision_number: str | None = Field(
        default=None,
        description="Penalty decision number 行政处罚决定书文号, when a penalty was decided "
        "before referral.",
    )
    receiving_unit_code: UnitCode = Field(
        description="Receiving police unit's unified social credit code "
        "接收公安机关统一社会信用代码."
    )
    receiving_unit_name: str | None = Field(
        default=None, description="Receiving police unit name 接收公安机关名称."
    )
    suspected_offence: str = Field(description="Suspected offence 涉嫌罪名 (e.g. 非法经营罪).")
    criminal_law_article: str | None = Field(
        default=None,
        description="Criminal Law article 刑法条文 of the suspected offence (e.g. '225').",
    )
    parties: list[Party] = Field(
        default_factory=list, description="Suspects 犯罪嫌疑人 / parties 当事人 of the referral."
    )
    package_items: list[PackageItem] = Field(
        default_factory=list,
        description="Referral package 移送材料清单 (Decree 310 Art. 6 documents).",
    )
    involved_amount_fen: AmountFen | None = Field(
        default=None, description="Amount involved 涉案金额 in fen 分."
    )
    quantities: list[Quantity] = Field(
        default_factory=list, description="Quantities involved 涉案数量 with units."
    )
    approved_at: Instant | None = Field(
        default=None,
        description="Referral approved at 批准移送时间 by the agency head; delivery is due "
        "within 24 hours of it (Decree 310 Art. 5).",
    )
    copied_to_procuratorate: bool = Field(
        default=False,
        description="Copied to the procuratorate 抄送人民检察院 (Decree 310 Art. 7).",
    )
    division_code: DivisionCode | None = Field(
        default=None, description="Administrative division code 行政区划代码 of the agency."
    )
    enforcement_domain: str | None = Field(
        default=None, description="Enforcement domain 执法领域 of the referring agency."
    )


class MaterialsHandedOver(CaseEvent):
    """Seized items handed over to the police after filing 移交涉案物品 (Decree 310 Art. 12)."""

    receiving_unit_code: UnitCode = Field(
        description="Receiving police unit's unified social credit code 接收单位统一社会信用代码."
    )
    referral_number: str | None = Field(
        default=None, description="Referral letter number 移送书文号 the hand-over belongs to."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号, when known."
    )
    handover_number: str | None = Field(
        default=None, description="Hand-over list number 移交清单编号."
    )
    items: list[Quantity] = Field(
        default_factory=list, description="Items handed over 移交物品 with quantities and units."
    )


class ReconsiderationRequested(CaseEvent):
    """The agency asked the police to reconsider a non-filing 提请复议 (Decree 310 Art. 9)."""

    addressed_to_unit_code: UnitCode = Field(
        description="Police unit asked to reconsider 复议机关统一社会信用代码."
    )
    referral_number: str | None = Field(
        default=None, description="Referral letter number 移送书文号 of the case."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号, when one was given."
    )
    request_number: str | None = Field(
        default=None, description="Reconsideration request document number 复议申请文号."
    )
    reasons: str = Field(description="Reasons for the request 复议理由.")


class FilingSupervisionRequested(CaseEvent):
    """The agency suggested filing supervision to the procuratorate 建议立案监督 (Art. 9)."""

    procuratorate_unit_code: UnitCode = Field(
        description="Procuratorate's unified social credit code 人民检察院统一社会信用代码."
    )
    police_unit_code: UnitCode = Field(
        description="Police unit that refused to file 不立案公安机关统一社会信用代码."
    )
    referral_number: str | None = Field(
        default=None, description="Referral letter number 移送书文号 of the case."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号, when one was given."
    )
    request_number: str | None = Field(
        default=None, description="Supervision request document number 立案监督建议书文号."
    )
    reasons: str = Field(description="Reasons 理由.")


class ReplyOutcome(EventEnum):
    """Reply outcome 回复结果: ADOPTED 采纳, PARTIALLY_ADOPTED 部分采纳, NOT_ADOPTED 不采纳,
    UNKNOWN 未知."""

    ADOPTED = "ADOPTED"
    PARTIALLY_ADOPTED = "PARTIALLY_ADOPTED"
    NOT_ADOPTED = "NOT_ADOPTED"
    UNKNOWN = "UNKNOWN"


class AgencyReplied(CaseEvent):
    """An agency answered a procuratorial recommendation, opinion or judicial recommendation
    回复 (检察建议 / 检察意见 / 司法建议)."""

    addressed_to_unit_code: UnitCode = Field(
        description="Unit the reply goes to 回复对象统一社会信用代码 (procuratorate or court)."
    )
    in_reply_to_event_id: str | None = Field(
        default=None,
        description="Event id 事件编号 of the recommendation or opinion answered, when known.",
    )
    in_reply_to_document_number: str | None = Field(
        default=None, description="Document number 文书文号 of the recommendation answered."
    )
    reply_number: str | None = Field(default=None, description="Reply document number 回复文号.")
    outcome: ReplyOutcome = Field(
        default=ReplyOutcome.UNKNOWN, description="Whether it was adopted 采纳情况."
    )
    measures_taken_on: date | None = Field(
        default=None, description="Date the measures were taken 整改/处理日期."
    )
    content: str = Field(description="Reply content 回复内容.")
