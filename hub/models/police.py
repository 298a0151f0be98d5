"""What the police send back on a referral (Decree 310 Art. 7–9) and how their case goes on.

Police feedback arrives keyed by the police's own case number, not by the hub's
``case_id``: the matcher finds the referral from the optional matching fields
(referral letter number, agency decision and case numbers, party identifiers), so every
one of them is optional and every one helps.

After filing, the police case moves on without the agency: the request for arrest
approval 提请批准逮捕 and the transfer for prosecution 移送审查起诉 go to the
procuratorate, which also asks the police to explain a non-filing 说明不立案理由. Those
events carry the same optional matching fields as the filing decision, because the
police system quotes its own case number first and the referral only sometimes.
"""

from __future__ import annotations

from pydantic import Field

from hub.models.common import Party
from hub.models.header import CaseEvent, EventEnum, PastDate, UnitCode

__all__ = [
    "ArrestRequested",
    "CaseForwarded",
    "FilingDecided",
    "FilingDecision",
    "NonFilingReasonsExplained",
    "ReconsiderationDecided",
    "ReconsiderationDecision",
    "ReferralReceived",
    "TransferredForProsecution",
]


class ReferralReceived(CaseEvent):
    """The police signed the receipt 回执 of a referral (Decree 310 Art. 7)."""

    referral_number: str = Field(description="Referral letter number 移送书文号 received.")
    referring_unit_code: UnitCode = Field(
        description="Referring agency's unified social credit code 移送机关统一社会信用代码."
    )
    receipt_number: str | None = Field(default=None, description="Receipt number 回执编号.")
    acceptance_number: str | None = Field(
        default=None, description="Case acceptance number 受案编号 in the police system."
    )
    signed_by: str | None = Field(default=None, description="Signed by 签收人.")


class CaseForwarded(CaseEvent):
    """The police forwarded a referral outside their jurisdiction 移送管辖 (Art. 7: 24 hours)."""

    referral_number: str = Field(description="Referral letter number 移送书文号 forwarded.")
    referring_unit_code: UnitCode = Field(
        description="Referring agency's unified social credit code 移送机关统一社会信用代码."
    )
    forwarded_to_unit_code: UnitCode = Field(
        description="Unit with jurisdiction 有管辖权的机关统一社会信用代码 it was forwarded to."
    )
    forwarded_to_unit_name: str | None = Field(
        default=None, description="Name of the unit it was forwarded to 接收机关名称."
    )
    reason: str | None = Field(default=None, description="Reason 移送理由.")


class FilingDecision(EventEnum):
    """Filing decision 立案决定: FILED 立案, NOT_FILED 不予立案, RETURNED 退回 (not criminal,
    returned for an administrative penalty: Decree 310 Art. 13), UNKNOWN 未知, CANCELLED 撤案
    (a filed case cancelled)."""

    FILED = "FILED"
    NOT_FILED = "NOT_FILED"
    RETURNED = "RETURNED"
    UNKNOWN = "UNKNOWN"
    #: 撤案: the police cancel a case they had filed (兴庆区 opinion item 8 lists it among the
    #: decisions entered); appended last so older readers fall back to UNKNOWN.
    CANCELLED = "CANCELLED"


class FilingDecided(CaseEvent):
    """The police decided whether to file a referred case 立案决定 (Decree 310 Art. 8).

    ``case_id`` is the hub's case when the police system knows it; otherwise the matcher
    re-keys the event using the optional matching fields below.
    """

    decision: FilingDecision = Field(
        default=FilingDecision.UNKNOWN,
        description="Decision 决定: filed 立案, not 不予立案, returned 退回, or a filed case "
        "cancelled 撤案."
    )
    reasons: str | None = Field(default=None, description="Reasons 理由 (required in practice "
                                "for a non-filing, which the agency may ask to reconsider).")
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号."
    )
    notice_number: str | None = Field(
        default=None, description="Notice document number 立案/不予立案通知书文号."
    )
    offence: str | None = Field(default=None, description="Offence filed 立案罪名.")
    referral_number: str | None = Field(
        default=None, description="Matching: referral letter number 移送书文号 quoted."
    )
    agency_decision_number: str | None = Field(
        default=None, description="Matching: agency penalty decision number 行政处罚决定书文号."
    )
    agency_case_number: str | None = Field(
        default=None, description="Matching: agency case number 行政机关案件编号."
    )
    referring_unit_code: UnitCode | None = Field(
        default=None, description="Matching: referring agency's code 移送机关统一社会信用代码."
    )
    parties: list[Party] = Field(
        default_factory=list, description="Matching: suspects 犯罪嫌疑人 with identifiers."
    )


class ReconsiderationDecision(EventEnum):
    """Reconsideration decision 复议决定: UPHELD 维持不立案, REVERSED 撤销原决定并立案,
    UNKNOWN 未知."""

    UPHELD = "UPHELD"
    REVERSED = "REVERSED"
    UNKNOWN = "UNKNOWN"


class ReconsiderationDecided(CaseEvent):
    """The police decided an agency's reconsideration request 复议决定 (Art. 9: 3 days)."""

    decision: ReconsiderationDecision = Field(
        default=ReconsiderationDecision.UNKNOWN, description="Decision 复议决定."
    )
    requested_by_unit_code: UnitCode | None = Field(
        default=None, description="Agency that asked 提请复议机关统一社会信用代码."
    )
    decision_number: str | None = Field(
        default=None, description="Reconsideration decision document number 复议决定书文号."
    )
    referral_number: str | None = Field(
        default=None, description="Referral letter number 移送书文号 of the case."
    )
    police_case_number: str | None = Field(
        default=None, description="Police case number 公安案件编号."
    )
    reasons: str | None = Field(default=None, description="Reasons 理由.")


class ArrestRequested(CaseEvent):
    """The police asked the procuratorate to approve an arrest 提请批准逮捕 (Criminal
    Procedure Law Art. 87): the case is past filing and under arrest review."""

    police_unit_code: UnitCode = Field(
        description="Police unit that asked 提请批准逮捕的公安机关统一社会信用代码."
    )
    police_case_number: str = Field(description="Police case number 公安案件编号.")
    procuratorate_unit_code: UnitCode | None = Field(
        default=None,
        description="Procuratorate asked to approve 受理审查逮捕的人民检察院统一社会信用代码, "
        "when the police system names it.",
    )
    request_date: PastDate = Field(description="Request date 提请批准逮捕日期.")
    document_number: str | None = Field(
        default=None, description="Request document number 提请批准逮捕书文号."
    )
    offence: str | None = Field(default=None, description="Suspected offence 涉嫌罪名.")
    parties: list[Party] = Field(
        default_factory=list,
        description="Suspects 犯罪嫌疑人 whose arrest is requested, with identifiers "
        "(also used for matching).",
    )
    referral_number: str | None = Field(
        default=None, description="Matching: referral letter number 移送书文号 quoted."
    )
    agency_decision_number: str | None = Field(
        default=None, description="Matching: agency penalty decision number 行政处罚决定书文号."
    )
    agency_case_number: str | None = Field(
        default=None, description="Matching: agency case number 行政机关案件编号."
    )
    referring_unit_code: UnitCode | None = Field(
        default=None, description="Matching: referring agency's code 移送机关统一社会信用代码."
    )


class TransferredForProsecution(CaseEvent):
    """The police closed their investigation and transferred the case for prosecution
    移送审查起诉 (Criminal Procedure Law Art. 162): the police part of the case is done."""

    police_unit_code: UnitCode = Field(
        description="Police unit that transferred 移送审查起诉的公安机关统一社会信用代码."
    )
    police_case_number: str = Field(description="Police case number 公安案件编号.")
    procuratorate_unit_code: UnitCode | None = Field(
        default=None,
        description="Receiving procuratorate 受理审查起诉的人民检察院统一社会信用代码, when the "
        "police system names it.",
    )
    transfer_date: PastDate = Field(description="Transfer date 移送审查起诉日期.")
    document_number: str | None = Field(
        default=None, description="Prosecution opinion document number 起诉意见书文号."
    )
    offence: str | None = Field(
        default=None, description="Offence transferred for prosecution 移送起诉罪名."
    )
    parties: list[Party] = Field(
        default_factory=list,
        description="Suspects 犯罪嫌疑人 transferred, with identifiers (also used for matching).",
    )
    referral_number: str | None = Field(
        default=None, description="Matching: referral letter number 移送书文号 quoted."
    )
    agency_decision_number: str | None = Field(
        default=None, description="Matching: agency penalty decision number 行政处罚决定书文号."
    )
    agency_case_number: str | None = Field(
        default=None, description="Matching: agency case number 行政机关案件编号."
    )
    referring_unit_code: UnitCode | None = Field(
        default=None, description="Matching: referring agency's code 移送机关统一社会信用代码."
    )


class NonFilingReasonsExplained(CaseEvent):
    """The police explained a non-filing to the procuratorate that asked 说明不立案理由
    (SPP rules on referred cases, 2001, §10: within 7 days of the request); it stops the
    non-filing-reasons clock."""

    police_unit_code: UnitCode = Field(
        description="Police unit that explains 说明理由的公安机关统一社会信用代码."
    )
    police_case_number: str | None = Field(
        default=None,
        description="Police case number 公安案件编号 (or acceptance number 受案编号) of the "
        "case not filed.",
    )
    procuratorate_unit_code: UnitCode | None = Field(
        default=None,
        description="Procuratorate that asked 要求说明理由的人民检察院统一社会信用代码, when "
        "the police system names it.",
    )
    explanation: str = Field(description="Explanation 不立案理由 given by the police.")
    document_number: str | None = Field(
        default=None, description="Explanation document number 不立案理由说明书文号."
    )
    explained_date: PastDate = Field(description="Explained date 说明理由日期.")
    in_reply_to_document_number: str | None = Field(
        default=None,
        description="Document number 文书文号 of the procuratorate's request answered "
        "(要求说明不立案理由通知书); ties the explanation to its request's clock.",
    )
    parties: list[Party] = Field(
        default_factory=list,
        description="Suspects 犯罪嫌疑人 of the case not filed, with identifiers (matching).",
    )
    referral_number: str | None = Field(
        default=None, description="Matching: referral letter number 移送书文号 quoted."
    )
    agency_decision_number: str | None = Field(
        default=None, description="Matching: agency penalty decision number 行政处罚决定书文号."
    )
    agency_case_number: str | None = Field(
        default=None, description="Matching: agency case number 行政机关案件编号."
    )
    referring_unit_code: UnitCode | None = Field(
        default=None, description="Matching: referring agency's code 移送机关统一社会信用代码."
    )
