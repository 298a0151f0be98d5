"""Builders of valid case events for the decision-logic tests (fictional county 青山县).

Each builder takes the legal time ``at`` and fills the header so that the event is valid
under the contract; ``recorded`` defaults to one hour later (entered on time).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from hub.identity import case_id_for
from hub.models import (
    AgencyCaseOpened,
    AgencyReplied,
    Alert,
    AlertKind,
    AlertStatus,
    ArrestRequested,
    CaseEvent,
    CaseForwarded,
    CaseReferred,
    ConsultationAnswered,
    ConsultationRequested,
    CourtJudgment,
    EarlyInterventionAttended,
    EarlyInterventionInvited,
    FilingDecided,
    FilingSupervisionRequested,
    JudicialRecommendation,
    LeadTransferred,
    MaterialsHandedOver,
    NonFilingReasonsExplained,
    Party,
    PenaltyCaseRecorded,
    ProsecutorialAction,
    Quantity,
    ReconsiderationDecided,
    ReconsiderationRequested,
    ReferralReceived,
    TransferredForProsecution,
)
from hub.models.header import CHINA_TZ

# Units of tests/unit/data/units.yaml
MARKET = "11420999MB00000114"
TOBACCO = "11420999MB0000029X"
TAX = "11420999MB0000037Q"
FORESTRY = "11420999MB0000045K"
ENVIRONMENT = "11420999MB0000053E"
COUNTY_PSB = "11420999MB00000619"
FOREST_POLICE = "11420999MB000007X1"
ECONOMIC_CRIME_UNIT = "11420999MB00000881"
PROCURATORATE = "11420999MB0000096U"
COURT = "11420999MB0000109H"
SUPERVISION = "11420999MB0000117C"
CITY_FOOD_DRUG_ENV = "11420900MB000015X7"
CITY_PROCURATORATE = "11420900MB00001687"
BAISHUI_PSB = "11420998MB00001761"
BAISHUI_MARKET = "11420998MB0000184U"
#: The hub's operator (the procuratorate's platform management centre).
HUB_UNIT = PROCURATORATE
#: A valid code that no registry lists.
UNREGISTERED = "91110000600037341L"

DECISION_NUMBER = "青市监罚〔2025〕1号"
REFERRAL_NUMBER = "青市监移〔2025〕1号"
CASE = case_id_for(MARKET, DECISION_NUMBER)
#: The agency's own case number 立案编号 (penalties and referrals carry it too).
AGENCY_CASE_NUMBER = "青市监案〔2025〕7号"
#: The case as the agency's open-case register keys it (by its case number).
OPEN_CASE = case_id_for(MARKET, AGENCY_CASE_NUMBER)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant in China time (hour 0 = a date-only decision)."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA_TZ)


def _header(name: str, source_unit: str, occurred: datetime, recorded: datetime | None,
            case_id: str, event_id: str | None) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}|{case_id}|"
                                               f"{occurred.isoformat()}")),
        "case_id": case_id,
        "source_unit": source_unit,
        "occurred_at": occurred,
        "recorded_at": recorded or occurred + timedelta(hours=1),
        "source_system": "test",
        "source_record": f"{name}#1",
        "connector_id": "test-connector",
    }


def party(name: str = "青山县某某商贸有限公司", *, credit_code: str | None = "91420999MA4K0001XX",
          category: str = "LEGAL_PERSON", id_number: str | None = None) -> Party:
    """A party; the default credit code is fixed up to a valid check character."""
    from hub.identity import credit_code_check_char

    code = None
    if credit_code is not None:
        code = credit_code[:17] + credit_code_check_char(credit_code[:17])
    return Party(name=name, category=category, credit_code=code,  # type: ignore[arg-type]
                 id_type="RESIDENT_ID" if id_number else None,  # type: ignore[arg-type]
                 id_number=id_number)


def penalty(occurred: datetime, *, recorded: datetime | None = None, case_id: str = CASE,
            unit: str = MARKET, event_id: str | None = None, code: str | None = "MR-FAKE-PRODUCT",
            violation_text: str = "销售伪劣产品", turnover_fen: int | None = None,
            gains_fen: int | None = None, quantities: list[Quantity] | None = None,
            parties: list[Party] | None = None, procedure: str = "GENERAL",
            decision_number: str = DECISION_NUMBER, domain: str | None = "market_regulation",
            ) -> PenaltyCaseRecorded:
    return PenaltyCaseRecorded(
        **_header("penalty", unit, occurred, recorded, case_id, event_id),
        decision_number=decision_number, agency_case_number="青市监案〔2025〕7号",
        procedure=procedure,  # type: ignore[arg-type]
        parties=parties or [party()], violation_type=violation_text, violation_type_code=code,
        enforcement_domain=domain, violation_facts="经查……", legal_basis="产品质量法第五十条",
        penalty_categories=["FINE"],  # type: ignore[list-item]
        penalty_content="罚款", fine_amount_fen=1_000_000, illegal_turnover_fen=turnover_fen,
        illegal_gains_fen=gains_fen, quantities=quantities or [],
        decision_date=occurred.astimezone(CHINA_TZ).date(),
        deciding_authority="青山县市场监督管理局",
        deciding_authority_code=unit, data_source_unit="青山县市场监督管理局",
        data_source_unit_code=unit, division_code="420999",
    )


def opened(occurred: datetime, *, recorded: datetime | None = None, case_id: str = OPEN_CASE,
           unit: str = MARKET, event_id: str | None = None, code: str | None = "MR-FAKE-PRODUCT",
           turnover_fen: int | None = None, gains_fen: int | None = None,
           quantities: list[Quantity] | None = None, parties: list[Party] | None = None,
           as_of: date | None = None, case_number: str = AGENCY_CASE_NUMBER,
           ) -> AgencyCaseOpened:
    """An open case 立案登记 of the agency's register, with the amounts found so far."""
    name = f"opened|{as_of}|{turnover_fen}|{gains_fen}"
    return AgencyCaseOpened(
        **_header(name, unit, occurred, recorded, case_id, event_id),
        agency_case_number=case_number, opened_on=occurred.astimezone(CHINA_TZ).date(),
        agency="青山县市场监督管理局", parties=parties or [party()],
        violation_type="销售伪劣产品", violation_type_code=code,
        enforcement_domain="market_regulation", illegal_turnover_fen=turnover_fen,
        illegal_gains_fen=gains_fen, quantities=quantities or [], amounts_as_of=as_of,
        division_code="420999",
    )


def referred(occurred: datetime, *, recorded: datetime | None = None, case_id: str = CASE,
             unit: str = MARKET, to: str = COUNTY_PSB, event_id: str | None = None,
             number: str = REFERRAL_NUMBER, offence: str = "生产、销售伪劣产品罪",
             article: str | None = "140", approved: datetime | None = None,
             domain: str | None = "market_regulation", decision_number: str | None = None,
             parties: list[Party] | None = None, division: str | None = "420999",
             ) -> CaseReferred:
    return CaseReferred(
        **_header("referred", unit, occurred, recorded, case_id, event_id),
        referral_number=number, receiving_unit_code=to, suspected_offence=offence,
        criminal_law_article=article, approved_at=approved, enforcement_domain=domain,
        decision_number=decision_number, agency_case_number="青市监案〔2025〕7号",
        parties=parties or [party()], division_code=division,
    )


def received(occurred: datetime, *, recorded: datetime | None = None, case_id: str = CASE,
             police: str = COUNTY_PSB, agency: str = MARKET, number: str = REFERRAL_NUMBER,
             event_id: str | None = None) -> ReferralReceived:
    return ReferralReceived(
        **_header("received", police, occurred, recorded, case_id, event_id),
        referral_number=number, referring_unit_code=agency,
    )


def forwarded(occurred: datetime, *, case_id: str = CASE, police: str = COUNTY_PSB,
              to: str = FOREST_POLICE, agency: str = MARKET,
              number: str = REFERRAL_NUMBER) -> CaseForwarded:
    return CaseForwarded(
        **_header("forwarded", police, occurred, None, case_id, None),
        referral_number=number, referring_unit_code=agency, forwarded_to_unit_code=to,
    )


def decided(occurred: datetime, decision: str = "FILED", *, recorded: datetime | None = None,
            case_id: str = CASE, police: str = COUNTY_PSB, event_id: str | None = None,
            referral_number: str | None = REFERRAL_NUMBER, agency: str | None = MARKET,
            police_case_number: str | None = "青公刑立〔2025〕9号",
            decision_number: str | None = None, offence: str | None = None,
            parties: list[Party] | None = None) -> FilingDecided:
    return FilingDecided(
        **_header(f"decided-{decision}", police, occurred, recorded, case_id, event_id),
        decision=decision,  # type: ignore[arg-type]
        police_case_number=police_case_number, referral_number=referral_number,
        referring_unit_code=agency, agency_decision_number=decision_number, offence=offence,
        parties=parties or [],
    )


def reconsideration_requested(occurred: datetime, *, case_id: str = CASE,
                              agency: str = MARKET, police: str = COUNTY_PSB
                              ) -> ReconsiderationRequested:
    return ReconsiderationRequested(
        **_header("reconsider", agency, occurred, None, case_id, None),
        addressed_to_unit_code=police, referral_number=REFERRAL_NUMBER, reasons="理由",
    )


def reconsideration_decided(occurred: datetime, decision: str = "UPHELD", *,
                            case_id: str = CASE, police: str = COUNTY_PSB,
                            agency: str = MARKET) -> ReconsiderationDecided:
    return ReconsiderationDecided(
        **_header(f"reconsidered-{decision}", police, occurred, None, case_id, None),
        decision=decision,  # type: ignore[arg-type]
        requested_by_unit_code=agency, referral_number=REFERRAL_NUMBER,
    )


def supervision_requested(occurred: datetime, *, case_id: str = CASE, agency: str = MARKET
                          ) -> FilingSupervisionRequested:
    return FilingSupervisionRequested(
        **_header("supervision", agency, occurred, None, case_id, None),
        procuratorate_unit_code=PROCURATORATE, police_unit_code=COUNTY_PSB, reasons="理由",
    )


def handed_over(occurred: datetime, *, case_id: str = CASE, agency: str = MARKET
                ) -> MaterialsHandedOver:
    return MaterialsHandedOver(
        **_header("handover", agency, occurred, None, case_id, None),
        receiving_unit_code=COUNTY_PSB, referral_number=REFERRAL_NUMBER,
    )


def prosecutorial(occurred: datetime, action: str, *, case_id: str = CASE,
                  target: str = COUNTY_PSB, document_number: str | None = None,
                  outcome: str = "NOT_APPLICABLE", reply_due: date | None = None,
                  event_id: str | None = None) -> ProsecutorialAction:
    return ProsecutorialAction(
        **_header(f"procuratorate-{action}", PROCURATORATE, occurred, None, case_id, event_id),
        action=action,  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        target_unit_code=target, document_number=document_number, content="内容",
        reply_due_date=reply_due,
    )


def replied(occurred: datetime, *, case_id: str = CASE, unit: str = MARKET,
            to: str = PROCURATORATE, in_reply_to_event: str | None = None,
            in_reply_to_document: str | None = None) -> AgencyReplied:
    return AgencyReplied(
        **_header("replied", unit, occurred, None, case_id, None),
        addressed_to_unit_code=to, in_reply_to_event_id=in_reply_to_event,
        in_reply_to_document_number=in_reply_to_document, content="已整改",
    )


def judgment(occurred: datetime, *, case_id: str = CASE, effective: bool = True
             ) -> CourtJudgment:
    return CourtJudgment(
        **_header("judgment", COURT, occurred, None, case_id, None),
        court_case_number="(2025)鄂0999刑初1号", verdict="CONVICTED",  # type: ignore[arg-type]
        effective=effective,
    )


def judicial_recommendation(occurred: datetime, *, case_id: str = CASE,
                            target: str = MARKET) -> JudicialRecommendation:
    return JudicialRecommendation(
        **_header("judicial-recommendation", COURT, occurred, None, case_id, None),
        target_unit_code=target, recommendation_number="(2025)鄂0999司建1号", content="建议",
    )


def lead(occurred: datetime, destination: str, *, to: str, case_id: str = CASE,
         unit: str = PROCURATORATE, lead_number: str | None = None,
         feedback_due: date | None = None) -> LeadTransferred:
    return LeadTransferred(
        **_header(f"lead-{destination}", unit, occurred, None, case_id, None),
        destination=destination,  # type: ignore[arg-type]
        receiving_unit_code=to, summary="线索", lead_number=lead_number,
        feedback_due_date=feedback_due,
    )


def consultation(occurred: datetime, consultation_id: str = "Q-1", *, case_id: str = CASE,
                 unit: str = MARKET, to: str = PROCURATORATE,
                 due: date | None = None) -> ConsultationRequested:
    return ConsultationRequested(
        **_header(f"consult-{consultation_id}", unit, occurred, None, case_id, None),
        consultation_id=consultation_id, addressed_to_unit_code=to, question="是否涉嫌犯罪？",
        answer_due_date=due,
    )


def consultation_answer(occurred: datetime, consultation_id: str = "Q-1", *,
                        case_id: str = CASE, unit: str = PROCURATORATE, to: str = MARKET,
                        complex_case: bool = False) -> ConsultationAnswered:
    return ConsultationAnswered(
        **_header(f"answer-{consultation_id}", unit, occurred, None, case_id, None),
        consultation_id=consultation_id, requested_by_unit_code=to, answer="答复",
        complex_case=complex_case,
    )


def invitation(occurred: datetime, invitation_id: str = "I-1", *, case_id: str = CASE,
               unit: str = MARKET, to: str = PROCURATORATE) -> EarlyInterventionInvited:
    return EarlyInterventionInvited(
        **_header(f"invite-{invitation_id}", unit, occurred, None, case_id, None),
        invitation_id=invitation_id, invited_unit_code=to, reason="金额接近立案标准",
    )


def attended(occurred: datetime, invitation_id: str = "I-1", *, case_id: str = CASE,
             unit: str = PROCURATORATE, inviter: str = MARKET) -> EarlyInterventionAttended:
    return EarlyInterventionAttended(
        **_header(f"attend-{invitation_id}", unit, occurred, None, case_id, None),
        invitation_id=invitation_id, invited_by_unit_code=inviter,
    )


POLICE_CASE_NUMBER = "青公刑立〔2025〕9号"


def arrest_requested(occurred: datetime, *, recorded: datetime | None = None,
                     case_id: str = CASE, police: str = COUNTY_PSB,
                     document_number: str | None = "青公提捕〔2025〕2号",
                     parties: list[Party] | None = None) -> ArrestRequested:
    return ArrestRequested(
        **_header("arrest-requested", police, occurred, recorded, case_id, None),
        police_unit_code=police, police_case_number=POLICE_CASE_NUMBER,
        procuratorate_unit_code=PROCURATORATE,
        request_date=occurred.astimezone(CHINA_TZ).date(), document_number=document_number,
        offence="生产、销售伪劣产品罪", parties=parties or [party()],
        referral_number=REFERRAL_NUMBER, referring_unit_code=MARKET,
    )


def transferred(occurred: datetime, *, recorded: datetime | None = None, case_id: str = CASE,
                police: str = COUNTY_PSB, document_number: str | None = "青公诉〔2025〕3号",
                ) -> TransferredForProsecution:
    return TransferredForProsecution(
        **_header("transferred", police, occurred, recorded, case_id, None),
        police_unit_code=police, police_case_number=POLICE_CASE_NUMBER,
        procuratorate_unit_code=PROCURATORATE,
        transfer_date=occurred.astimezone(CHINA_TZ).date(), document_number=document_number,
        offence="生产、销售伪劣产品罪", parties=[party()], referral_number=REFERRAL_NUMBER,
        referring_unit_code=MARKET,
    )


def reasons_explained(occurred: datetime, *, case_id: str = CASE, police: str = COUNTY_PSB,
                      in_reply_to_document: str | None = None,
                      document_number: str | None = "青公说〔2025〕1号",
                      ) -> NonFilingReasonsExplained:
    return NonFilingReasonsExplained(
        **_header(f"reasons-explained-{in_reply_to_document}", police, occurred, None, case_id,
                  None),
        police_unit_code=police, police_case_number=POLICE_CASE_NUMBER,
        procuratorate_unit_code=PROCURATORATE, explanation="不符合立案条件。",
        document_number=document_number, explained_date=occurred.astimezone(CHINA_TZ).date(),
        in_reply_to_document_number=in_reply_to_document, referral_number=REFERRAL_NUMBER,
    )


def alert_event(occurred: datetime, alert_id: str, status: str = "RAISED", *,
                case_id: str = CASE, responsible: str = COUNTY_PSB,
                kind: str = "FILING_DECISION_OVERDUE") -> Alert:
    return Alert(
        **_header(f"alert-{alert_id}-{status}", HUB_UNIT, occurred, None, case_id, None),
        alert_id=alert_id, kind=AlertKind(kind), status=AlertStatus(status),
        responsible_unit_code=responsible, rule_id="filing-decision-overdue",
        legal_source="Decree 310 Art. 8", message="超期",
    )


def types_of(events: list[CaseEvent]) -> list[str]:
    """Class names of events, for readable assertions."""
    return [type(e).__name__ for e in events]
