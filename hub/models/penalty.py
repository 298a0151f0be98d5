"""The administrative penalty case 行政处罚案件: the event every agency must enter.

Its fields are the national 双公示 disclosure format (so an agency's existing export maps
onto it column by column), plus what screening for non-referral needs and the format
lacks: the procedure, a violation type code, turnover and quantities.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator

from hub.models.common import Party, Quantity
from hub.models.header import AmountFen, CaseEvent, DivisionCode, EventEnum, PastDate, UnitCode

__all__ = [
    "AgencyCaseOpened",
    "EnforcementStatus",
    "PenaltyCaseRecorded",
    "PenaltyCategory",
    "PenaltyProcedure",
]


class PenaltyProcedure(EventEnum):
    """Penalty procedure 处罚程序: GENERAL 普通程序, SUMMARY 简易程序 (on-the-spot, small
    amounts; exempt from entry), UNKNOWN 未知."""

    GENERAL = "GENERAL"
    SUMMARY = "SUMMARY"
    UNKNOWN = "UNKNOWN"


class PenaltyCategory(EventEnum):
    """Penalty category 处罚类别 (行政处罚法 2021 Art. 9): WARNING 警告, PUBLIC_CRITICISM
    通报批评, FINE 罚款, CONFISCATION_OF_ILLEGAL_GAINS 没收违法所得,
    CONFISCATION_OF_ILLEGAL_PROPERTY 没收非法财物, LICENCE_SUSPENSION 暂扣许可证件,
    QUALIFICATION_DOWNGRADE 降低资质等级, LICENCE_REVOCATION 吊销许可证件,
    BUSINESS_RESTRICTION 限制开展生产经营活动, ORDER_TO_SUSPEND 责令停产停业,
    ORDER_TO_CLOSE 责令关闭, EMPLOYMENT_RESTRICTION 限制从业, ADMINISTRATIVE_DETENTION
    行政拘留, OTHER 其他, UNKNOWN 未知."""

    WARNING = "WARNING"
    PUBLIC_CRITICISM = "PUBLIC_CRITICISM"
    FINE = "FINE"
    CONFISCATION_OF_ILLEGAL_GAINS = "CONFISCATION_OF_ILLEGAL_GAINS"
    CONFISCATION_OF_ILLEGAL_PROPERTY = "CONFISCATION_OF_ILLEGAL_PROPERTY"
    LICENCE_SUSPENSION = "LICENCE_SUSPENSION"
    QUALIFICATION_DOWNGRADE = "QUALIFICATION_DOWNGRADE"
    LICENCE_REVOCATION = "LICENCE_REVOCATION"
    BUSINESS_RESTRICTION = "BUSINESS_RESTRICTION"
    ORDER_TO_SUSPEND = "ORDER_TO_SUSPEND"
    ORDER_TO_CLOSE = "ORDER_TO_CLOSE"
    EMPLOYMENT_RESTRICTION = "EMPLOYMENT_RESTRICTION"
    ADMINISTRATIVE_DETENTION = "ADMINISTRATIVE_DETENTION"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class EnforcementStatus(EventEnum):
    """Enforcement status 执行情况 of a penalty decision: ENFORCED 执行到位, PARTIALLY_ENFORCED
    部分执行, NOT_ENFORCED 未执行, UNKNOWN 未知 (the export does not say)."""

    ENFORCED = "ENFORCED"
    PARTIALLY_ENFORCED = "PARTIALLY_ENFORCED"
    NOT_ENFORCED = "NOT_ENFORCED"
    UNKNOWN = "UNKNOWN"


class PenaltyCaseRecorded(CaseEvent):
    """An administrative penalty decision 行政处罚决定 was made and entered."""

    decision_number: str = Field(
        description="Penalty decision document number 行政处罚决定书文号; with the deciding "
        "authority's code it determines case_id."
    )
    agency_case_number: str | None = Field(
        default=None,
        description="Agency case number 案件编号 in the agency's own case-handling system.",
    )
    procedure: PenaltyProcedure = Field(
        default=PenaltyProcedure.UNKNOWN,
        description="Procedure 处罚程序: general 普通 or summary 简易.",
    )
    parties: list[Party] = Field(
        min_length=1,
        description="Parties 行政相对人: the first is the 双公示 record's party (名称, 类别, "
        "代码_1…_6, 法定代表人, 证件); further entries are co-parties.",
    )
    violation_type: str = Field(description="Violation type 违法行为类型, as the agency words it.")
    violation_type_code: str | None = Field(
        default=None,
        description="Violation type code 违法行为类型代码 from the domain's code list; "
        "screening maps it to an offence and its criminal filing threshold.",
    )
    enforcement_domain: str | None = Field(
        default=None,
        description="Enforcement domain 执法领域 (e.g. market_regulation 市场监管, tobacco 烟草).",
    )
    violation_facts: str = Field(description="Violation facts 违法事实.")
    legal_basis: str = Field(description="Legal basis 处罚依据 (laws and articles applied).")
    penalty_categories: list[PenaltyCategory] = Field(
        default_factory=list,
        description="Penalty categories 处罚类别 (行政处罚法 Art. 9); several may apply.",
    )
    penalty_content: str = Field(description="Penalty content 处罚内容 (what was imposed).")
    fine_amount_fen: AmountFen | None = Field(
        default=None,
        description="Fine amount 罚款金额 in fen 分 (the 双公示 column is in 万元: ×1,000,000).",
    )
    confiscation_amount_fen: AmountFen | None = Field(
        default=None,
        description="Confiscated illegal gains and property 没收违法所得、没收非法财物的金额 "
        "in fen 分 (the 双公示 column is in 万元).",
    )
    illegal_turnover_fen: AmountFen | None = Field(
        default=None,
        description="Illegal turnover 违法经营额 in fen 分 (sales, for fake or inferior products): "
        "what most criminal filing thresholds compare against. Not the goods value 货值金额, "
        "which counts unsold goods too (goods_value_fen).",
    )
    illegal_gains_fen: AmountFen | None = Field(
        default=None,
        description="Illegal gains 违法所得 in fen 分.",
    )
    quantities: list[Quantity] = Field(
        default_factory=list,
        description="Quantities 涉案数量 with units, for quantity thresholds (t, kg, m3, mu…).",
    )
    licence_action: str | None = Field(
        default=None,
        description="Licence suspended or revoked 暂扣或吊销证照名称及编号 (name and number).",
    )
    decision_date: PastDate = Field(description="Decision date 处罚决定日期.")
    validity_until: date | None = Field(
        default=None,
        description="Penalty validity 处罚有效期 (last day the penalty is in force).",
    )
    disclosure_deadline: date | None = Field(
        default=None,
        description="Disclosure deadline 公示截止期 (last day of public disclosure).",
    )
    deciding_authority: str = Field(description="Deciding authority 处罚机关 (name).")
    deciding_authority_code: UnitCode = Field(
        description="Deciding authority's unified social credit code 处罚机关统一社会信用代码."
    )
    data_source_unit: str = Field(description="Data source unit 数据来源单位 (name).")
    data_source_unit_code: UnitCode = Field(
        description="Data source unit's unified social credit code 数据来源单位统一社会信用代码."
    )
    division_code: DivisionCode | None = Field(
        default=None,
        description="Administrative division code 行政区划代码 (GB/T 2260) of the deciding "
        "authority's jurisdiction.",
    )
    remarks: str | None = Field(default=None, description="Remarks 备注.")

    @field_validator("parties")
    @classmethod
    def _first_party_is_named(cls, parties: list[Party]) -> list[Party]:
        """The 双公示 record's party is mandatory: a penalty concerns someone."""
        return _first_party_named(parties, "行政相对人名称")

    @property
    def primary_party(self) -> Party:
        """The 双公示 record's party 行政相对人."""
        return self.parties[0]
    enforcement_status: EnforcementStatus = Field(
        default=EnforcementStatus.UNKNOWN,
        description="Enforcement status 执行情况 (执行到位, 部分执行, 未执行) when the agency's "
        "export states it; a later export of the same decision updates it.",
    )
    enforced_on: date | None = Field(
        default=None, description="Enforcement date 执行到位日期 (fully enforced on).",
    )
    served_on: date | None = Field(
        default=None,
        description="Service date 送达日期 of the decision on the party, when the export has "
        "it: the late-entry clock counts from it (rule entry-late, deadlines.yaml).",
    )
    effective_on: date | None = Field(
        default=None,
        description="Effective date 生效日期 of the decision, when the export has it: the "
        "late-entry clock counts from it when no service date is given.",
    )
    goods_value_fen: AmountFen | None = Field(
        default=None,
        description="Goods value 货值金额 in fen 分 (the 双公示 column is in 万元): the value of "
        "the goods involved, unsold ones included, which a fake-product threshold measures "
        "apart from sales (unsold goods at three times the sales amount).",
    )


class AgencyCaseOpened(CaseEvent):
    """An agency opened a case 立案登记 that is still under investigation 在办案件.

    What the agency has found so far, before any penalty decision: screening compares the
    amounts and quantities with the criminal filing thresholds as it does a penalty's, so
    the early-intervention share (提前介入, screening.yaml) can fire while the evidence is
    still being gathered (the Macheng platform's practice), not only as a review lead
    once the penalty is decided. Each export of the register sends the case again; the
    latest copy carries the amounts found so far.
    """

    agency_case_number: str = Field(
        description="Agency case number 立案编号 (案件编号) in the agency's own system; with the "
        "agency's code it determines case_id (hub.identity.case_id_for)."
    )
    opened_on: PastDate = Field(description="Opening date 立案日期.")
    agency: str | None = Field(default=None, description="Agency 办案机关 (name).")
    parties: list[Party] = Field(
        min_length=1,
        description="Parties 当事人: the first is the main party; further entries are co-parties.",
    )
    violation_type: str = Field(
        description="Violation type 案由 / 违法行为类型, as the agency words it."
    )
    violation_type_code: str | None = Field(
        default=None,
        description="Violation type code 违法行为类型代码 from the domain's code list; "
        "screening maps it to an offence and its criminal filing threshold.",
    )
    enforcement_domain: str | None = Field(
        default=None,
        description="Enforcement domain 执法领域 (e.g. market_regulation 市场监管, tobacco 烟草).",
    )
    case_summary: str | None = Field(
        default=None, description="Case summary 简要案情 as registered or found so far."
    )
    illegal_turnover_fen: AmountFen | None = Field(
        default=None,
        description="Illegal turnover or amount involved found so far 违法经营额/涉案金额 in fen "
        "分: what most criminal filing thresholds compare against. Not the goods value 货值金额 "
        "(goods_value_fen).",
    )
    illegal_gains_fen: AmountFen | None = Field(
        default=None, description="Illegal gains found so far 违法所得 in fen 分."
    )
    quantities: list[Quantity] = Field(
        default_factory=list,
        description="Quantities found so far 涉案数量 with units, for quantity thresholds.",
    )
    amounts_as_of: date | None = Field(
        default=None,
        description="Date of the amounts 金额统计日期 (the register's update date), when the "
        "export has it.",
    )
    division_code: DivisionCode | None = Field(
        default=None,
        description="Administrative division code 行政区划代码 (GB/T 2260) of the agency's "
        "jurisdiction.",
    )
    remarks: str | None = Field(default=None, description="Remarks 备注.")
    goods_value_fen: AmountFen | None = Field(
        default=None,
        description="Goods value found so far 货值金额 in fen 分: the value of the goods "
        "involved, unsold ones included, which a fake-product threshold measures apart from "
        "sales.",
    )

    @field_validator("parties")
    @classmethod
    def _first_party_is_named(cls, parties: list[Party]) -> list[Party]:
        """An open case concerns someone: the main party's name is required."""
        return _first_party_named(parties, "当事人名称")

    @property
    def primary_party(self) -> Party:
        """The main party 当事人."""
        return self.parties[0]


def _first_party_named(parties: list[Party], column: str) -> list[Party]:
    """``parties`` unless its first party has no name (``column``: what the export
    calls it, named in the error)."""
    if not parties[0].name.strip():
        raise ValueError(f"parties[0].name: '' is empty; the {column} is required")
    return parties
