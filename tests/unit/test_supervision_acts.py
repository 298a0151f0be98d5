"""Supervision acts (issue #13, item 1): each act's reply clock, its answer, and the copy
of an unanswered recommendation to the justice bureau (Jiashan's three-party mechanism)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hub.models import AlertStatus
from hub.units import UnitRegistry
from streams.deadline_logic import COPY_ROLES_DETAIL
from streams.routing_logic import alert_copies
from tests.support.supervision_county import JUSTICE, evaluate, states
from tests.unit.data.case_events import (
    BAISHUI_MARKET,
    COUNTY_PSB,
    HUB_UNIT,
    MARKET,
    at,
    decided,
    prosecutorial,
    referred,
    replied,
)

ACT_TABLE = [
    # act, addressee, rule id, due date (sent 2025-03-10, 09:00 China time; two months end
    # on Saturday 2025-05-10, so on Monday the 12th: deadlines.yaml period_end)
    ("SUGGEST_REFERRAL", MARKET, "suggested-referral-not-acted-on", date(2025, 3, 13)),
    ("REQUIRE_NON_FILING_REASONS", COUNTY_PSB, "non-filing-reasons-overdue", date(2025, 3, 17)),
    ("ORDER_FILING", COUNTY_PSB, "ordered-filing-overdue", date(2025, 3, 25)),
    ("RECOMMENDATION", MARKET, "recommendation-unanswered", date(2025, 5, 12)),
    ("OPINION", MARKET, "recommendation-unanswered", date(2025, 5, 12)),
    ("CORRECTION_NOTICE", COUNTY_PSB, "correction-notice-unanswered", date(2025, 3, 25)),
    ("URGE_PROSECUTION", MARKET, "urge-prosecution-unanswered", date(2025, 5, 12)),
]


@pytest.mark.parametrize(("act", "target", "rule_id", "due"), ACT_TABLE,
                         ids=[row[0] for row in ACT_TABLE])
def test_each_act_raises_its_clock_on_the_unit_that_must_answer(
        act: str, target: str, rule_id: str, due: date) -> None:
    sent = prosecutorial(at(2025, 3, 10, 9), act, target=target, document_number="青检〔2025〕1号")
    last_minute = at(due.year, due.month, due.day, 23) + timedelta(minutes=59)
    assert rule_id not in states(evaluate([sent], last_minute))
    next_day = due + timedelta(days=1)
    raised = states(evaluate([sent], at(next_day.year, next_day.month, next_day.day)))[rule_id]
    assert raised.status is AlertStatus.RAISED
    assert raised.responsible_unit_code == target
    assert raised.due_date == due
    assert raised.trigger_event_id == sent.event_id


ANSWERS = [
    ("RECOMMENDATION", MARKET, "recommendation-unanswered"),
    ("OPINION", MARKET, "recommendation-unanswered"),
    ("CORRECTION_NOTICE", COUNTY_PSB, "correction-notice-unanswered"),
    ("URGE_PROSECUTION", MARKET, "urge-prosecution-unanswered"),
    ("SUGGEST_REFERRAL", MARKET, "suggested-referral-not-acted-on"),
]


@pytest.mark.parametrize(("act", "target", "rule_id"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_the_answer_stops_the_clock(act: str, target: str, rule_id: str) -> None:
    sent = prosecutorial(at(2025, 3, 10, 9), act, target=target, document_number="青检〔2025〕2号")
    answer = replied(at(2025, 3, 11, 9), unit=target, in_reply_to_event=sent.event_id)
    result = evaluate([sent, answer], at(2025, 12, 31))
    assert rule_id not in states(result)  # answered in time: nothing was ever raised
    assert not [c for c in result.open_clocks if c.rule_id == rule_id]
    late = replied(at(2025, 6, 1, 9), unit=target, in_reply_to_document="青检〔2025〕2号")
    resolved = states(evaluate([sent, late], at(2025, 12, 31)))[rule_id]
    assert (resolved.status, resolved.details["late"]) == (AlertStatus.RESOLVED, "true")
    assert resolved.resolved_by_event_id == late.event_id


def test_a_suggestion_to_refer_is_answered_by_the_referral_itself() -> None:
    sent = prosecutorial(at(2025, 3, 10, 9), "SUGGEST_REFERRAL", target=MARKET)
    result = evaluate([sent, referred(at(2025, 3, 12, 9))], at(2025, 12, 31))
    assert "suggested-referral-not-acted-on" not in states(result)


def test_the_letters_own_reply_date_wins() -> None:
    sent = prosecutorial(at(2025, 3, 10, 9), "CORRECTION_NOTICE", target=COUNTY_PSB,
                         reply_due=date(2025, 4, 30))
    assert "correction-notice-unanswered" not in states(evaluate([sent], at(2025, 4, 30, 23)))
    assert states(evaluate([sent], at(2025, 5, 1, 1)))[
        "correction-notice-unanswered"].due_date == date(2025, 4, 30)


ESCALATED = [("RECOMMENDATION", "recommendation-unanswered"),
             ("OPINION", "recommendation-unanswered"),
             ("URGE_PROSECUTION", "urge-prosecution-unanswered")]


@pytest.mark.parametrize(("act", "rule_id"), ESCALATED, ids=[a for a, _ in ESCALATED])
def test_an_unanswered_recommendation_is_copied_to_the_justice_bureau(
        registry: UnitRegistry, act: str, rule_id: str) -> None:
    sent = prosecutorial(at(2025, 3, 10, 9), act, target=MARKET)
    raised = states(evaluate([sent], at(2025, 5, 13)))[rule_id]  # due Mon 12th
    assert raised.details[COPY_ROLES_DETAIL] == "justice_bureau"
    assert "行政执法监督通知书" in raised.details["copy_purpose_zh"]
    assert "嘉善县司法局" in raised.details["copy_source"]
    route = alert_copies(raised, registry)
    assert route.copies == (JUSTICE,)
    assert route.topics == (f"lf.inbox.{JUSTICE}",)
    assert route.unroutable is None


def test_only_a_raised_alert_is_copied_and_only_where_the_rule_asks(
        registry: UnitRegistry) -> None:
    sent = prosecutorial(at(2025, 3, 10, 9), "RECOMMENDATION", target=MARKET)
    late = replied(at(2025, 6, 1, 9), in_reply_to_event=sent.event_id)
    resolved = states(evaluate([sent, late], at(2025, 6, 2)))["recommendation-unanswered"]
    assert resolved.details[COPY_ROLES_DETAIL] == "justice_bureau"  # it was escalated
    assert alert_copies(resolved, registry).destinations == ()
    # An order to file is the police's duty: no copy to the justice bureau.
    order = prosecutorial(at(2025, 3, 10, 9), "ORDER_FILING", target=COUNTY_PSB)
    overdue = states(evaluate([order], at(2025, 4, 1)))["ordered-filing-overdue"]
    assert COPY_ROLES_DETAIL not in overdue.details
    assert alert_copies(overdue, registry).destinations == ()
    # A filing decision stops the order's clock.
    filed = decided(at(2025, 3, 20, 9))
    assert "ordered-filing-overdue" not in states(evaluate([order, filed], at(2025, 4, 1)))


def test_no_justice_bureau_in_the_jurisdiction_is_unroutable_not_lost(
        registry: UnitRegistry) -> None:
    sent = prosecutorial(at(2025, 3, 10, 9), "RECOMMENDATION", target=BAISHUI_MARKET)
    raised = states(evaluate([sent], at(2025, 5, 13)))["recommendation-unanswered"]
    route = alert_copies(raised, registry)
    assert route.destinations == ()
    assert route.unroutable is not None
    assert "justice_bureau" in route.unroutable and "420998" in route.unroutable


def test_the_timeline_names_the_act_its_number_and_its_addressee() -> None:
    from hub.models import ProsecutorialActionKind
    from hub.view.texts import localize_summary
    from streams.case_event_meaning import summarise

    for kind in ProsecutorialActionKind:
        if kind is ProsecutorialActionKind.UNKNOWN:
            continue
        line = summarise(prosecutorial(at(2025, 3, 10, 9), kind.value, target=MARKET,
                                       document_number="青检建〔2025〕3号"))
        assert line.endswith(f"青检建〔2025〕3号 → {MARKET}"), line
        # One language at a time in the view: the other's words are left out.
        assert localize_summary(line, "zh").split(" ")[0] == line.split(" ")[0]
        assert not any("\u4e00" <= c <= "\u9fff"
                       for c in localize_summary(line, "en").split(" → ")[0].split(" 青")[0])
    reply = summarise(replied(at(2025, 4, 1), in_reply_to_document="青检建〔2025〕3号"))
    assert "青检建〔2025〕3号" in reply


PRESET_TYPES = [("RecommendationIssued", "RECOMMENDATION"), ("OpinionIssued", "OPINION"),
                ("CorrectionNoticeIssued", "CORRECTION_NOTICE"),
                ("ProsecutionUrged", "URGE_PROSECUTION"),
                ("ReverseReferralSent", "REVERSE_REFERRAL"),
                ("ReferralSuggested", "SUGGEST_REFERRAL"),
                ("FilingOrdered", "ORDER_FILING"),
                ("NonFilingReasonsRequested", "REQUIRE_NON_FILING_REASONS")]


@pytest.mark.parametrize(("outbox_type", "action"), PRESET_TYPES,
                         ids=[t for t, _ in PRESET_TYPES])
def test_the_procuratorate_outbox_preset_maps_every_act(outbox_type: str, action: str) -> None:
    """From the procuratorate's own system (sql kind, outbox table): the same event the
    view makes, with the document's reply date and the agency's case."""
    from hub.identity import case_id_for
    from tests.support.supervision_county import outbox_connector

    _, mapper = outbox_connector(HUB_UNIT)
    row = {"id": 7, "type": outbox_type, "aggregate_type": "supervision_case",
           "aggregate_id": "青检两法监〔2025〕1号", "created_at": "2025-03-10 15:00:00",
           "payload.decided_on": "2025-03-10", "payload.target_unit_code": MARKET,
           "payload.document_number": "青检〔2025〕7号", "payload.content": "内容",
           "payload.reply_due_date": "2025-04-10",
           "payload.case_ref.agency_unit_code": MARKET,
           "payload.case_ref.decision_number": "青市监罚〔2025〕1号"}
    event = mapper.map(row, "actions.sqlite#7").event
    assert type(event).__name__ == "ProsecutorialAction"
    assert event.action.value == action  # type: ignore[attr-defined]
    assert event.target_unit_code == MARKET  # type: ignore[attr-defined]
    assert event.reply_due_date == date(2025, 4, 10)  # type: ignore[attr-defined]
    assert event.case_id == case_id_for(MARKET, "青市监罚〔2025〕1号")


def test_attendance_recorded_in_the_procuratorates_system_stops_the_invitation_clock() -> None:
    """Item 3: the procuratorate-outbox preset records attendance as a procuratorial act
    (EARLY_INTERVENTION), which now ends the 3-day invitation clock."""
    from tests.unit.data.case_events import invitation

    invited = invitation(at(2025, 3, 10, 9))
    overdue = states(evaluate([invited], at(2025, 3, 14)))["early-intervention-unattended"]
    assert overdue.status is AlertStatus.RAISED
    recorded = prosecutorial(at(2025, 3, 12, 9), "EARLY_INTERVENTION", target=MARKET)
    result = evaluate([invited, recorded], at(2025, 3, 14))
    assert "early-intervention-unattended" not in states(result)
    assert not [c for c in result.open_clocks if c.rule_id == "early-intervention-unattended"]
    late = prosecutorial(at(2025, 3, 20, 9), "EARLY_INTERVENTION", target=MARKET)
    resolved = states(evaluate([invited, late], at(2025, 3, 21)))["early-intervention-unattended"]
    assert (resolved.status, resolved.resolved_by_event_id) == (AlertStatus.RESOLVED,
                                                                late.event_id)


POLICE_ANSWERS = [
    ("consultation_answer", "ConsultationAnswered", "consultation_id"),
    ("early_intervention", "EarlyInterventionAttended", "invitation_id"),
    ("letter_reply", "AgencyReplied", "in_reply_to_document_number"),
]


@pytest.mark.parametrize(("record_type", "event_type", "quoted"), POLICE_ANSWERS,
                         ids=[r for r, _, _ in POLICE_ANSWERS])
def test_the_police_feedback_preset_maps_the_answers_to_acts(
        record_type: str, event_type: str, quoted: str) -> None:
    """From the police's own system: the answer quotes the request (its id, or the
    letter's document number), which is what stops the request's clock."""
    from connectors.config import parse_config
    from connectors.mapping import build_mapper
    from hub.identity import case_id_for
    from tests.unit.data.case_events import PROCURATORATE

    config = parse_config({"id": "police", "unit": COUNTY_PSB, "kind": "http",
                           "source": {"url": "http://127.0.0.1:9/feedback"},
                           "preset": "police-feedback"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    row = {"record_id": "r-1", "record_type": record_type,
           "occurred_at": "2025-03-12T10:00:00+08:00", "updated_at": "2025-03-12T11:00:00+08:00",
           "referring_unit_code": MARKET, "agency_decision_number": "青市监罚〔2025〕1号",
           "in_reply_to": "ZX-1", "reasons": "答复意见", "complex_case": "true",
           "procuratorate_unit_code": PROCURATORATE, "document_number": "青公复〔2025〕1号"}
    event = mapper.map(row, "feedback.json#1").event
    assert type(event).__name__ == event_type
    assert getattr(event, quoted) == "ZX-1"
    assert event.case_id == case_id_for(MARKET, "青市监罚〔2025〕1号")
    if event_type == "ConsultationAnswered":
        assert event.complex_case is True  # type: ignore[attr-defined]


def test_the_agency_invitations_preset_maps_an_invitation_before_the_penalty() -> None:
    """Item 3 from the agency's own system: an invitation during the investigation is
    keyed by the agency's case number (no decision yet) and addressed to the invited unit."""
    from connectors.config import parse_config
    from connectors.mapping import build_mapper
    from hub.identity import case_id_for
    from hub.models import EarlyInterventionInvited
    from tests.unit.data.case_events import PROCURATORATE

    config = parse_config({"id": "invitations", "unit": MARKET, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "agency-invitations"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    row = {"邀请编号": "青市监邀〔2025〕1号", "受邀单位": "青山县人民检察院",
           "受邀单位代码": PROCURATORATE, "行政处罚决定书文号": "",
           "案件编号": "青市监立〔2025〕8号", "邀请理由": "涉案金额接近立案追诉标准",
           "涉案金额（元）": "45000", "邀请日期": "2025-03-10", "录入日期": "2025-03-10"}
    event = mapper.map(row, "invitations_2025.csv#2").event
    assert isinstance(event, EarlyInterventionInvited)
    assert (event.invitation_id, event.invited_unit_code) == ("青市监邀〔2025〕1号", PROCURATORATE)
    assert event.involved_amount_fen == 4_500_000
    assert event.case_id == case_id_for(MARKET, "青市监立〔2025〕8号")


def test_the_timeline_names_requests_answers_recommendations_and_enforcement() -> None:
    """Items 2, 3, 6 and 7 on the case timeline: who was asked or invited, a complex-case
    answer, the court's or hub's recommendation and its addressee, what the penalty
    export says of enforcement (nothing when it does not say)."""
    from hub.models import EnforcementStatus
    from streams.case_event_meaning import summarise
    from tests.unit.data.case_events import (
        PROCURATORATE,
        consultation,
        consultation_answer,
        invitation,
        judicial_recommendation,
        penalty,
    )

    asked = consultation(at(2025, 3, 10))
    assert summarise(asked) == f"案件咨询 consultation Q-1 → {asked.addressed_to_unit_code}"
    assert summarise(consultation_answer(at(2025, 3, 20), complex_case=True)).endswith(
        "Q-1 (重大复杂案件 complex case)")
    assert summarise(invitation(at(2025, 3, 10))).endswith(f"I-1 → {PROCURATORATE}")
    assert summarise(judicial_recommendation(at(2025, 3, 10))) == (
        f"司法建议 judicial recommendation (2025)鄂0999司建1号 → {MARKET}")
    decision = penalty(at(2025, 3, 10))
    assert summarise(decision).endswith("销售伪劣产品")
    for status, words in ((EnforcementStatus.ENFORCED, "执行到位 enforced"),
                          (EnforcementStatus.NOT_ENFORCED, "未执行 not enforced")):
        told = decision.model_copy(update={"enforcement_status": status})
        assert summarise(told).endswith(f"({words})")


def test_a_lead_on_the_timeline_names_its_receiver_and_destination_in_the_page_language(
) -> None:
    """The stored summary keeps the receiver's code and the destination code (the consult
    page finds a unit's leads by "→ <code>:"); the page shows the unit's name and the
    destination in its own language."""
    from hub.view.i18n import Translator
    from hub.view.texts import localize_summary
    from streams.case_event_meaning import summarise
    from tests.unit.data.case_events import lead

    justice = "114299010318315875"
    line = summarise(lead(at(2025, 5, 6, 9), "JUSTICE_BUREAU", to=justice))
    assert f"→ {justice}: JUSTICE_BUREAU" in line
    names = {justice: "演示县司法局"}

    def shown(language: str) -> str:
        translate = Translator(language)
        return localize_summary(line, language, unit_name=lambda c: names.get(c, c),
                                label=lambda c: translate(f"prosecutor_action.{c}"))

    zh = shown("zh")
    assert zh.startswith("线索移送")
    assert "→ 演示县司法局: 移送行政执法监督线索（司法行政机关）" in zh
    assert justice not in zh and "JUSTICE_BUREAU" not in zh
    assert "→ 演示县司法局: Enforcement-supervision lead to the justice bureau" in shown("en")
