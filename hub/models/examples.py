"""One valid, fictional instance of every event type.

Tests, the serde benchmark and documentation need a well-formed event of each type;
building them in one place keeps them valid as the contract evolves (the model tests
construct every one of them with validation on). Every name, code and number here is
invented; codes carry correct check characters so validators accept them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hub.identity import case_id_for, content_hash, event_id_for
from hub.models.common import IdDocumentType, Party, PartyCategory, Quantity
from hub.models.coordination import (
    ConsultationAnswered,
    ConsultationRequested,
    EarlyInterventionAttended,
    EarlyInterventionInvited,
)
from hub.models.court import CourtJudgment, JudicialRecommendation, Verdict
from hub.models.delivery import DeliveryAcknowledged, DeliveryTargetKind
from hub.models.derived import (
    Alert,
    AlertKind,
    AlertSeverity,
    CaseStage,
    CaseState,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    MatchCandidate,
    MatchMethod,
    TimelineEntry,
    UnitMonthlyStats,
)
from hub.models.header import CHINA_TZ, CaseEvent
from hub.models.penalty import (
    AgencyCaseOpened,
    PenaltyCaseRecorded,
    PenaltyCategory,
    PenaltyProcedure,
)
from hub.models.police import (
    ArrestRequested,
    CaseForwarded,
    FilingDecided,
    FilingDecision,
    NonFilingReasonsExplained,
    ReconsiderationDecided,
    ReconsiderationDecision,
    ReferralReceived,
    TransferredForProsecution,
)
from hub.models.prosecution import (
    LeadDestination,
    LeadTransferred,
    ProsecutorialAction,
    ProsecutorialActionKind,
)
from hub.models.referral import (
    AgencyReplied,
    CaseReferred,
    FilingSupervisionRequested,
    MaterialsHandedOver,
    PackageItem,
    PackageItemKind,
    ReconsiderationRequested,
    ReplyOutcome,
)
from hub.models.view import AuditOperation, AuditRecorded, ViewAction, ViewActionKind

__all__ = [
    "EXAMPLE_AGENCY",
    "EXAMPLE_COURT",
    "EXAMPLE_HUB_UNIT",
    "EXAMPLE_OTHER_POLICE",
    "EXAMPLE_POLICE",
    "EXAMPLE_PROCURATORATE",
    "EXAMPLE_UNITS_YAML",
    "example_events",
]

#: Fictional market regulation bureau 市场监督管理局 (county 421181).
EXAMPLE_AGENCY = "11421181MB00000013"
#: Fictional county public security bureau 公安局.
EXAMPLE_POLICE = "11421181MB00000026"
#: Fictional county procuratorate 人民检察院 (also runs the hub: 两法衔接 centre).
EXAMPLE_PROCURATORATE = "11421181MB00000039"
#: Fictional county court 人民法院.
EXAMPLE_COURT = "11421181MB0000004C"
#: Fictional police unit in another county, for forwarding.
EXAMPLE_OTHER_POLICE = "11421181MB0000005F"
#: The unit operating the hub (source_unit of derived events).
EXAMPLE_HUB_UNIT = EXAMPLE_PROCURATORATE

#: The example county's unit registry (``units.yaml``): what the stream tests and the
#: stream benchmark route by. A worker without its county's registry finds every
#: addressed event unroutable, which no deployment runs.
EXAMPLE_UNITS_YAML = """
version: 1
units:
  - {code: "11421181MB00000013", name: 示例县市场监督管理局, name_en: Example market regulation,
     kind: agency, role: enforcement_agency, domains: [market_regulation], division: "421181"}
  - {code: "11421181MB00000026", name: 示例县公安局, name_en: Example county police,
     kind: police, role: county_psb, domains: [market_regulation], division: "421181"}
  - {code: "11421181MB00000039", name: 示例县人民检察院, name_en: Example procuratorate,
     kind: procuratorate, role: county_procuratorate, division: "421181"}
  - {code: "11421181MB0000004C", name: 示例县人民法院, name_en: Example court,
     kind: court, role: county_court, division: "421181"}
"""

_COMPANY_CODE = "91421181MA0000001Q"
_PERSON_ID = "421181198001011238"
_DECISION_NUMBER = "示例市监罚〔2024〕12号"
_REFERRAL_NUMBER = "示例市监移〔2024〕3号"
_POLICE_CASE_NUMBER = "A4211810000002024030001"


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA_TZ)


def _header(
    source_unit: str, name: str, occurred: datetime, *, case_id: str | None = None
) -> dict[str, object]:
    case = case_id or case_id_for(EXAMPLE_AGENCY, _DECISION_NUMBER)
    natural_key = f"{name}|{occurred.isoformat()}"
    return {
        "event_id": event_id_for("example", natural_key, content_hash({"name": name})),
        "case_id": case,
        "source_unit": source_unit,
        "occurred_at": occurred,
        "recorded_at": occurred + timedelta(days=1),
        "source_system": "example-system",
        "source_record": f"example.csv#{len(name)}",
        "connector_id": "example-connector",
    }


def _company() -> Party:
    return Party(
        name="示例商贸有限公司",
        category=PartyCategory.LEGAL_PERSON,
        credit_code=_COMPANY_CODE,
        legal_representative="张示例",
        legal_representative_id_type=IdDocumentType.RESIDENT_ID,
        legal_representative_id_number=_PERSON_ID,
    )


def _person() -> Party:
    return Party(
        name="张示例",
        category=PartyCategory.NATURAL_PERSON,
        id_type=IdDocumentType.RESIDENT_ID,
        id_number=_PERSON_ID,
    )


def example_events() -> dict[str, CaseEvent]:
    """One validated example event per type, keyed by full Avro name, in lifecycle order."""
    decided = date(2024, 3, 5)
    events: list[CaseEvent] = [
        AgencyCaseOpened(
            **_header(EXAMPLE_AGENCY, "opened", _at(date(2024, 2, 20), 0)),
            agency_case_number="示例市监立〔2024〕7号",
            opened_on=date(2024, 2, 20),
            agency="示例县市场监督管理局",
            parties=[_company()],
            violation_type="销售伪劣产品",
            violation_type_code="MR-140-01",
            enforcement_domain="market_regulation",
            case_summary="当事人涉嫌销售不合格电线，已查明货值金额四万二千元。",
            illegal_turnover_fen=4_200_000,
            quantities=[Quantity(name="电线", value="120", unit="卷")],
            amounts_as_of=date(2024, 3, 1),
            division_code="421181",
        ),
        PenaltyCaseRecorded(
            **_header(EXAMPLE_AGENCY, "penalty", _at(decided, 0)),
            decision_number=_DECISION_NUMBER,
            agency_case_number="示例市监立〔2024〕7号",
            procedure=PenaltyProcedure.GENERAL,
            parties=[_company()],
            violation_type="销售伪劣产品",
            violation_type_code="MR-140-01",
            enforcement_domain="market_regulation",
            violation_facts="当事人销售不合格电线，货值金额四万二千元。",
            legal_basis="《中华人民共和国产品质量法》第五十条",
            penalty_categories=[
                PenaltyCategory.FINE,
                PenaltyCategory.CONFISCATION_OF_ILLEGAL_GAINS,
            ],
            penalty_content="没收违法所得，并处罚款。",
            fine_amount_fen=8_400_000,
            confiscation_amount_fen=350_000,
            illegal_turnover_fen=4_200_000,
            illegal_gains_fen=350_000,
            quantities=[Quantity(name="电线", value="120", unit="卷")],
            decision_date=decided,
            validity_until=date(2025, 3, 4),
            disclosure_deadline=date(2027, 3, 4),
            deciding_authority="示例县市场监督管理局",
            deciding_authority_code=EXAMPLE_AGENCY,
            data_source_unit="示例县市场监督管理局",
            data_source_unit_code=EXAMPLE_AGENCY,
            division_code="421181",
        ),
        CaseReferred(
            **_header(EXAMPLE_AGENCY, "referral", _at(date(2024, 3, 7))),
            referral_number=_REFERRAL_NUMBER,
            agency_case_number="示例市监立〔2024〕7号",
            decision_number=_DECISION_NUMBER,
            receiving_unit_code=EXAMPLE_POLICE,
            receiving_unit_name="示例县公安局",
            suspected_offence="生产、销售伪劣产品罪",
            criminal_law_article="140",
            parties=[_company(), _person()],
            package_items=[
                PackageItem(kind=PackageItemKind.REFERRAL_LETTER, title="涉嫌犯罪案件移送书"),
                PackageItem(
                    kind=PackageItemKind.INVESTIGATION_REPORT,
                    title="涉嫌犯罪案件情况的调查报告",
                    pages=12,
                ),
            ],
            involved_amount_fen=4_200_000,
            quantities=[Quantity(name="电线", value="120", unit="卷")],
            approved_at=_at(date(2024, 3, 6), 16),
            copied_to_procuratorate=True,
            division_code="421181",
            enforcement_domain="market_regulation",
        ),
        ReferralReceived(
            **_header(EXAMPLE_POLICE, "receipt", _at(date(2024, 3, 8))),
            referral_number=_REFERRAL_NUMBER,
            referring_unit_code=EXAMPLE_AGENCY,
            receipt_number="示例公回〔2024〕3号",
            acceptance_number="示例受案〔2024〕21号",
            signed_by="李示例",
        ),
        CaseForwarded(
            **_header(EXAMPLE_POLICE, "forward", _at(date(2024, 3, 8), 15)),
            referral_number=_REFERRAL_NUMBER,
            referring_unit_code=EXAMPLE_AGENCY,
            forwarded_to_unit_code=EXAMPLE_OTHER_POLICE,
            forwarded_to_unit_name="示例市公安局经侦支队",
            reason="涉案金额较大，由上级公安机关管辖。",
        ),
        FilingDecided(
            **_header(EXAMPLE_POLICE, "filing", _at(date(2024, 3, 11))),
            decision=FilingDecision.FILED,
            police_case_number=_POLICE_CASE_NUMBER,
            notice_number="示例公立〔2024〕5号",
            offence="生产、销售伪劣产品罪",
            referral_number=_REFERRAL_NUMBER,
            agency_decision_number=_DECISION_NUMBER,
            referring_unit_code=EXAMPLE_AGENCY,
            parties=[_company()],
        ),
        ReconsiderationRequested(
            **_header(EXAMPLE_AGENCY, "reconsideration-request", _at(date(2024, 3, 12))),
            addressed_to_unit_code=EXAMPLE_POLICE,
            referral_number=_REFERRAL_NUMBER,
            request_number="示例市监复〔2024〕1号",
            reasons="货值金额已达立案追诉标准。",
        ),
        ReconsiderationDecided(
            **_header(EXAMPLE_POLICE, "reconsideration-decision", _at(date(2024, 3, 14))),
            decision=ReconsiderationDecision.REVERSED,
            requested_by_unit_code=EXAMPLE_AGENCY,
            decision_number="示例公复〔2024〕1号",
            referral_number=_REFERRAL_NUMBER,
            police_case_number=_POLICE_CASE_NUMBER,
        ),
        FilingSupervisionRequested(
            **_header(EXAMPLE_AGENCY, "supervision", _at(date(2024, 3, 15))),
            procuratorate_unit_code=EXAMPLE_PROCURATORATE,
            police_unit_code=EXAMPLE_POLICE,
            referral_number=_REFERRAL_NUMBER,
            reasons="复议后仍不立案。",
        ),
        MaterialsHandedOver(
            **_header(EXAMPLE_AGENCY, "handover", _at(date(2024, 3, 13))),
            receiving_unit_code=EXAMPLE_POLICE,
            referral_number=_REFERRAL_NUMBER,
            police_case_number=_POLICE_CASE_NUMBER,
            handover_number="示例移交〔2024〕2号",
            items=[Quantity(name="电线", value="120", unit="卷")],
        ),
        ProsecutorialAction(
            **_header(EXAMPLE_PROCURATORATE, "action", _at(date(2024, 3, 18))),
            action=ProsecutorialActionKind.REQUIRE_NON_FILING_REASONS,
            target_unit_code=EXAMPLE_POLICE,
            document_number="示例检要〔2024〕1号",
            referral_number=_REFERRAL_NUMBER,
            content="请说明不立案理由。",
            reply_due_date=date(2024, 3, 25),
        ),
        NonFilingReasonsExplained(
            **_header(EXAMPLE_POLICE, "non-filing-reasons", _at(date(2024, 3, 22))),
            police_unit_code=EXAMPLE_POLICE,
            police_case_number=_POLICE_CASE_NUMBER,
            procuratorate_unit_code=EXAMPLE_PROCURATORATE,
            explanation="经审查，销售金额未达立案追诉标准，不符合立案条件。",
            document_number="示例公说〔2024〕1号",
            explained_date=date(2024, 3, 22),
            in_reply_to_document_number="示例检要〔2024〕1号",
            parties=[_company()],
            referral_number=_REFERRAL_NUMBER,
            agency_decision_number=_DECISION_NUMBER,
            referring_unit_code=EXAMPLE_AGENCY,
        ),
        AgencyReplied(
            **_header(EXAMPLE_AGENCY, "reply", _at(date(2024, 4, 1))),
            addressed_to_unit_code=EXAMPLE_PROCURATORATE,
            in_reply_to_document_number="示例检建〔2024〕2号",
            reply_number="示例市监复函〔2024〕4号",
            outcome=ReplyOutcome.ADOPTED,
            measures_taken_on=date(2024, 3, 29),
            content="已按建议整改。",
        ),
        ArrestRequested(
            **_header(EXAMPLE_POLICE, "arrest-request", _at(date(2024, 4, 15))),
            police_unit_code=EXAMPLE_POLICE,
            police_case_number=_POLICE_CASE_NUMBER,
            procuratorate_unit_code=EXAMPLE_PROCURATORATE,
            request_date=date(2024, 4, 15),
            document_number="示例公提捕〔2024〕6号",
            offence="生产、销售伪劣产品罪",
            parties=[_person()],
            referral_number=_REFERRAL_NUMBER,
            agency_decision_number=_DECISION_NUMBER,
            agency_case_number="示例市监立〔2024〕7号",
            referring_unit_code=EXAMPLE_AGENCY,
        ),
        TransferredForProsecution(
            **_header(EXAMPLE_POLICE, "transfer-for-prosecution", _at(date(2024, 6, 3))),
            police_unit_code=EXAMPLE_POLICE,
            police_case_number=_POLICE_CASE_NUMBER,
            procuratorate_unit_code=EXAMPLE_PROCURATORATE,
            transfer_date=date(2024, 6, 3),
            document_number="示例公诉〔2024〕11号",
            offence="生产、销售伪劣产品罪",
            parties=[_company(), _person()],
            referral_number=_REFERRAL_NUMBER,
            agency_decision_number=_DECISION_NUMBER,
            referring_unit_code=EXAMPLE_AGENCY,
        ),
        CourtJudgment(
            **_header(EXAMPLE_COURT, "judgment", _at(date(2024, 9, 2))),
            court_case_number="（2024）鄂示例刑初88号",
            judgment_number="（2024）鄂示例刑初88号",
            verdict=Verdict.CONVICTED,
            offence="销售伪劣产品罪",
            sentence="有期徒刑一年，缓刑一年。",
            fine_amount_fen=5_000_000,
            defendants=[_person()],
            police_case_number=_POLICE_CASE_NUMBER,
            effective=True,
        ),
        JudicialRecommendation(
            **_header(EXAMPLE_COURT, "judicial-recommendation", _at(date(2024, 9, 5))),
            target_unit_code=EXAMPLE_AGENCY,
            recommendation_number="（2024）鄂示例司建3号",
            court_case_number="（2024）鄂示例刑初88号",
            content="建议加强对电线销售的监督检查。",
            reply_due_date=date(2024, 11, 5),
        ),
        LeadTransferred(
            **_header(EXAMPLE_PROCURATORATE, "lead", _at(date(2024, 4, 2))),
            destination=LeadDestination.PUBLIC_INTEREST_LITIGATION,
            receiving_unit_code=EXAMPLE_PROCURATORATE,
            lead_number="示例线索〔2024〕9号",
            summary="不合格电线流入多个居民小区，损害公共安全。",
        ),
        ConsultationRequested(
            **_header(EXAMPLE_AGENCY, "consultation", _at(date(2024, 3, 6))),
            consultation_id="CONSULT-2024-0001",
            addressed_to_unit_code=EXAMPLE_POLICE,
            question="货值金额四万二千元，是否达到立案追诉标准？",
            answer_due_date=date(2024, 3, 11),
        ),
        ConsultationAnswered(
            **_header(EXAMPLE_POLICE, "consultation-answer", _at(date(2024, 3, 7))),
            consultation_id="CONSULT-2024-0001",
            requested_by_unit_code=EXAMPLE_AGENCY,
            answer="销售金额未达五万元，但应核实未销售货值。",
        ),
        EarlyInterventionInvited(
            **_header(EXAMPLE_AGENCY, "invitation", _at(date(2024, 3, 4))),
            invitation_id="INVITE-2024-0001",
            invited_unit_code=EXAMPLE_POLICE,
            reason="货值金额达到立案追诉标准的80%以上。",
            involved_amount_fen=4_200_000,
            attend_due_date=date(2024, 3, 7),
        ),
        EarlyInterventionAttended(
            **_header(EXAMPLE_POLICE, "attended", _at(date(2024, 3, 5))),
            invitation_id="INVITE-2024-0001",
            invited_by_unit_code=EXAMPLE_AGENCY,
            attendees=["李示例", "王示例"],
            opinion="建议固定销售记录证据。",
        ),
        DeliveryAcknowledged(
            **_header(EXAMPLE_POLICE, "delivered", _at(date(2024, 3, 7), 16)),
            delivered_event_id="00000000-0000-5000-8000-000000000001",
            delivered_event_type=CaseReferred.avro_name,
            target_kind=DeliveryTargetKind.HTTP,
            target="https://police-cms.example.gov.cn/api/inbox",
            acknowledgement="HTTP 201",
            receipt_number="示例公回〔2024〕3号",
        ),
        Alert(
            **_header(EXAMPLE_HUB_UNIT, "alert", _at(date(2024, 3, 12))),
            alert_id="ALERT-FILING-0001",
            kind=AlertKind.FILING_DECISION_OVERDUE,
            severity=AlertSeverity.WARNING,
            responsible_unit_code=EXAMPLE_POLICE,
            rule_id="filing_decision",
            legal_source="国务院令第310号 第八条",
            due_date=date(2024, 3, 11),
            message="公安机关未在3日内作出立案决定。",
            details={"referral_number": _REFERRAL_NUMBER},
        ),
        CaseState(
            **_header(EXAMPLE_HUB_UNIT, "state", _at(date(2024, 3, 11))),
            stage=CaseStage.FILED,
            owning_unit_code=EXAMPLE_AGENCY,
            decision_number=_DECISION_NUMBER,
            referral_number=_REFERRAL_NUMBER,
            police_case_number=_POLICE_CASE_NUMBER,
            parties=[_company()],
            timeline=[
                TimelineEntry(
                    event_id="00000000-0000-5000-8000-000000000001",
                    event_type=CaseReferred.avro_name,
                    occurred_at=_at(date(2024, 3, 7)),
                    unit_code=EXAMPLE_AGENCY,
                    summary="移送公安机关",
                )
            ],
            units_involved=[EXAMPLE_AGENCY, EXAMPLE_POLICE],
            open_alerts=["ALERT-FILING-0001"],
            last_event_at=_at(date(2024, 3, 11)),
        ),
        UnitMonthlyStats(
            **_header(
                EXAMPLE_HUB_UNIT,
                "stats",
                _at(date(2024, 4, 1), 1),
                case_id=case_id_for(EXAMPLE_AGENCY, "stats:2024-03"),
            ),
            unit_code=EXAMPLE_AGENCY,
            month="2024-03",
            penalty_cases_entered=14,
            penalty_cases_entered_late=2,
            referrals=1,
            receipts=1,
            filing_decisions=1,
            alerts_raised=1,
            feedback_rate=1.0,
            median_days_to_decision=4.0,
        ),
        FeedbackMatched(
            **_header(EXAMPLE_HUB_UNIT, "matched", _at(date(2024, 3, 11), 11)),
            feedback_event_id="00000000-0000-5000-8000-000000000002",
            feedback_type=FilingDecided.avro_name,
            method=MatchMethod.REFERRAL_NUMBER,
            confidence=1.0,
            police_case_number=_POLICE_CASE_NUMBER,
        ),
        FeedbackMatchWithdrawn(
            **_header(EXAMPLE_HUB_UNIT, "withdrawn", _at(date(2024, 3, 12), 9)),
            feedback_event_id="00000000-0000-5000-8000-000000000002",
            feedback_type=FilingDecided.avro_name,
            method=MatchMethod.PARTY_IDENTIFIER,
            police_case_number=_POLICE_CASE_NUMBER,
            reason="a second referral of the same party in the date window",
            candidate_case_ids=[case_id_for(EXAMPLE_AGENCY, _DECISION_NUMBER)],
        ),
        FeedbackUnmatched(
            **_header(EXAMPLE_HUB_UNIT, "unmatched", _at(date(2024, 3, 11), 11)),
            feedback_event_id="00000000-0000-5000-8000-000000000003",
            feedback_type=FilingDecided.avro_name,
            feedback_unit_code=EXAMPLE_POLICE,
            police_case_number="A4211810000002024030009",
            feedback_json='{"police_case_number": "A4211810000002024030009"}',
            candidates=[
                MatchCandidate(
                    case_id=case_id_for(EXAMPLE_AGENCY, _DECISION_NUMBER),
                    score=0.6,
                    method=MatchMethod.PARTY_NAME_AND_DATE,
                    reason="当事人名称相同，日期相差2天",
                )
            ],
        ),
        ViewAction(
            **_header(EXAMPLE_HUB_UNIT, "view-action", _at(date(2024, 3, 12), 14)),
            action_id="00000000-0000-5000-8000-000000000004",
            actor="prosecutor.wang",
            actor_unit_code=EXAMPLE_PROCURATORATE,
            action_kind=ViewActionKind.ACKNOWLEDGE_ALERT,
            target="ALERT-FILING-0001",
            payload={"note": "已电话督促"},
        ),
        AuditRecorded(
            **_header(EXAMPLE_HUB_UNIT, "audit", _at(date(2024, 3, 12), 14)),
            actor="prosecutor.wang",
            actor_unit_code=EXAMPLE_PROCURATORATE,
            operation=AuditOperation.SEARCH,
            target="cases",
            query="party:示例商贸有限公司",
            result_count=1,
            client_address="10.0.0.8",
        ),
    ]
    return {event.avro_name: event for event in events}
