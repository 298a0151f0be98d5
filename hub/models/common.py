"""Records and enums shared by several events: parties (行政相对人) and quantities.

Parties follow the national 双公示 penalty disclosure format (信用中国): name, category,
the six identifier columns 行政相对人代码_1…_6, legal representative and ID document.
Keeping one party shape for penalties, referrals, police feedback and judgments is what
lets the feedback matcher compare identifiers across agencies.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, model_validator

from hub.models.header import (
    AvroRecord,
    DecimalString,
    EventEnum,
    PartyCreditCode,
    canonical_resident_id,
    read_back,
    resident_id_error,
)

__all__ = ["IdDocumentType", "Party", "PartyCategory", "Quantity"]


class PartyCategory(EventEnum):
    """Party category 行政相对人类别: LEGAL_PERSON 法人及非法人组织, NATURAL_PERSON 自然人,
    SOLE_TRADER 个体工商户, UNKNOWN 未知 (default for symbols added later)."""

    LEGAL_PERSON = "LEGAL_PERSON"
    NATURAL_PERSON = "NATURAL_PERSON"
    SOLE_TRADER = "SOLE_TRADER"
    UNKNOWN = "UNKNOWN"


class IdDocumentType(EventEnum):
    """ID document type 证件类型: RESIDENT_ID 居民身份证, PASSPORT 护照,
    HONG_KONG_MACAO_PERMIT 港澳居民来往内地通行证, TAIWAN_PERMIT 台湾居民来往大陆通行证,
    FOREIGN_PERMANENT_RESIDENT_ID 外国人永久居留身份证, OTHER 其他, UNKNOWN 未知."""

    RESIDENT_ID = "RESIDENT_ID"
    PASSPORT = "PASSPORT"
    HONG_KONG_MACAO_PERMIT = "HONG_KONG_MACAO_PERMIT"
    TAIWAN_PERMIT = "TAIWAN_PERMIT"
    FOREIGN_PERMANENT_RESIDENT_ID = "FOREIGN_PERMANENT_RESIDENT_ID"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class Party(AvroRecord):
    """A party 行政相对人 / 当事人: the person or organisation a decision concerns."""

    name: str = Field(description="Party name 行政相对人名称 (person's or organisation's name).")
    category: PartyCategory = Field(
        default=PartyCategory.UNKNOWN,
        description="Party category 行政相对人类别 (legal person, natural person, sole trader).",
    )
    credit_code: PartyCreditCode | None = Field(
        default=None,
        description="Unified social credit code 统一社会信用代码 (行政相对人代码_1); sole "
        "traders without one carry the placeholder 00000000000000000X.",
    )
    business_registration_number: str | None = Field(
        default=None,
        description="Business registration number 工商注册号 (行政相对人代码_2).",
    )
    organisation_code: str | None = Field(
        default=None,
        description="Organisation code 组织机构代码 (行政相对人代码_3).",
    )
    tax_registration_number: str | None = Field(
        default=None,
        description="Tax registration number 税务登记号 (行政相对人代码_4).",
    )
    public_institution_certificate_number: str | None = Field(
        default=None,
        description="Public institution certificate number 事业单位证书号 (行政相对人代码_5).",
    )
    social_organisation_registration_number: str | None = Field(
        default=None,
        description="Social organisation registration number 社会组织登记证号 (行政相对人代码_6).",
    )
    legal_representative: str | None = Field(
        default=None,
        description="Legal representative 法定代表人 (organisations and sole traders).",
    )
    legal_representative_id_type: IdDocumentType | None = Field(
        default=None,
        description="Legal representative's ID document type 法定代表人证件类型.",
    )
    legal_representative_id_number: str | None = Field(
        default=None,
        description="Legal representative's ID document number 法定代表人证件号码; a "
        "resident ID's check character is verified.",
    )
    id_type: IdDocumentType | None = Field(
        default=None,
        description="ID document type 证件类型 of a natural-person party.",
    )
    id_number: str | None = Field(
        default=None,
        description="ID document number 证件号码 of a natural-person party; a resident ID's "
        "check character is verified.",
    )

    @model_validator(mode="after")
    def _resident_ids_have_valid_check_characters(self, info: ValidationInfo) -> Party:
        """A resident ID that is no GB 11643-1999 number (wrong check character, a birth
        date that is no date, full-width digits…) is a typo the agency must fix; the
        message says which part is wrong.

        A valid one is stored with an upper-case X, as credit codes are stored upper
        case: the penalty history and the feedback matcher key a person on it. The
        event id is unchanged by this (it is hashed from the mapped row, before the
        model). Parties read back from the hub's own storage are kept as written
        (:data:`hub.models.header.STORED_CONTEXT`). The name is the one the connectors'
        native row path knows (``connectors.rowpath.plan.KNOWN_VALIDATORS``).
        """
        if read_back(info):
            return self
        pairs = (
            ("id_number", self.id_type, self.id_number),
            (
                "legal_representative_id_number",
                self.legal_representative_id_type,
                self.legal_representative_id_number,
            ),
        )
        for field_name, id_type, number in pairs:
            if id_type is not IdDocumentType.RESIDENT_ID or number is None:
                continue
            error = resident_id_error(field_name, number)
            if error is not None:
                raise ValueError(error)
            canonical = canonical_resident_id(number)
            if canonical != number:  # frozen model: set in place, as validation builds it
                self.__dict__[field_name] = canonical
        return self

    def identifiers(self) -> list[str]:
        """Every identifier the party carries, for matching feedback across agencies."""
        values = (
            self.credit_code,
            self.business_registration_number,
            self.organisation_code,
            self.tax_registration_number,
            self.public_institution_certificate_number,
            self.social_organisation_registration_number,
            self.id_number,
        )
        return [v for v in values if v]


class Quantity(AvroRecord):
    """A measured quantity 数量 (goods, waste, land, timber, catch…) with its unit.

    Criminal filing thresholds are often quantities rather than money (3 t of hazardous
    waste, 5 mu of farmland), so screening needs them exact: the value is a decimal string.
    """

    name: str = Field(
        description="What was measured 计量对象 (e.g. hazardous waste 危险废物, cigarettes 卷烟)."
    )
    value: DecimalString = Field(
        description="Amount 数值 as an exact decimal string (e.g. '3.5'), never a float."
    )
    unit: str = Field(
        description="Unit 计量单位 (e.g. t 吨, kg 千克, m3 立方米, mu 亩, stick 支)."
    )
