"""Supervision acts created in the view (issue #13): a ProsecutorialAction on the
operator's ingest topic, never a note; only what entitlements.yaml lets the user's unit
send, to a unit of the act's target kinds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.models import (
    AuditOperation,
    AuditRecorded,
    ProsecutorialAction,
    ProsecutorialActionKind,
    ViewAction,
)
from hub.view.acts import ACT_STREAM, act_rule_titles, act_topic, offered_acts
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import OutboxRow
from tests.support.supervision_county import DEMO_JUSTICE
from tests.support.view_data import (
    MARKET,
    POLICE,
    PROCURATORATE,
    apply_events,
    case_spec,
    demo_events,
)


@pytest.fixture(params=[False, True], ids=["default", "agency-requests"])
def view(tmp_path: Path, request: pytest.FixtureRequest
         ) -> Iterator[tuple[TestClient, ViewContext]]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None, agency_requests=request.param)
    app = create_app(settings)
    with TestClient(app) as client:
        context: ViewContext = app.state.view
        with context.store.session() as session:
            apply_events(session, demo_events(12), context.units)
        yield client, context


def _token(client: TestClient, username: str) -> dict[str, str]:
    answer = client.post("/api/auth/token",
                         json={"username": username, "password": DEFAULT_DEMO_PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _outbox(context: ViewContext) -> list[OutboxRow]:
    with context.store.session() as session:
        rows = list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))
        session.expunge_all()
        return rows


def test_an_act_is_a_prosecutorial_action_on_the_operators_ingest_topic(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    spec = case_spec(3)
    due = date.today() + timedelta(days=30)
    answer = client.post(f"/api/cases/{spec.case_id}/acts", headers=_token(client, "prosecutor"),
                         json={"action": "RECOMMENDATION", "target_unit_code": MARKET,
                               "content": "建议依法移送涉嫌犯罪案件",
                               "document_number": "演检建〔2026〕1号",
                               "reply_due_date": due.isoformat()})
    assert answer.status_code == 202, answer.text
    assert answer.json()["topic"] == f"lf.ingest.{PROCURATORATE}.{ACT_STREAM}"
    rows = [row for row in _outbox(context) if row.record_type == ProsecutorialAction.avro_name]
    assert len(rows) == 1
    assert rows[0].topic == act_topic(context.operator_unit_code)
    act = ProsecutorialAction.model_validate(rows[0].payload)
    assert (act.action, act.target_unit_code, act.case_id, act.source_unit) == (
        ProsecutorialActionKind.RECOMMENDATION, MARKET, spec.case_id, PROCURATORATE)
    assert (act.document_number, act.reply_due_date) == ("演检建〔2026〕1号", due)
    assert act.event_id == answer.json()["event_id"]
    assert not [row for row in _outbox(context) if row.record_type == ViewAction.avro_name]
    [audited] = [AuditRecorded.model_validate(row.payload) for row in _outbox(context)
                 if row.record_type == AuditRecorded.avro_name
                 and row.payload["operation"] == AuditOperation.ACTION.value]
    assert (audited.actor, audited.target, audited.case_id) == (
        "prosecutor", f"RECOMMENDATION:{spec.case_id}", spec.case_id)
    assert audited.query == (f"event_id={act.event_id};to={MARKET};"
                             "document_number=演检建〔2026〕1号")


def test_a_target_of_the_wrong_kind_a_missing_content_and_a_past_date_are_refused(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    headers = _token(client, "prosecutor")
    url = f"/api/cases/{case_spec(3).case_id}/acts"
    base = {"action": "ORDER_FILING", "target_unit_code": POLICE, "content": "通知立案"}
    wrong = client.post(url, headers=headers, json={**base, "target_unit_code": MARKET})
    assert wrong.status_code == 422 and "target_unit_code" in wrong.json()["detail"]
    empty = client.post(url, headers=headers, json={**base, "content": "  "})
    assert empty.status_code == 422 and "content" in empty.json()["detail"]
    past = client.post(url, headers=headers, json={**base, "reply_due_date": "2020-01-01"})
    assert past.status_code == 422 and "reply_due_date" in past.json()["detail"]
    assert not [row for row in _outbox(context)
                if row.record_type == ProsecutorialAction.avro_name]
    assert client.post(url, headers=headers, json=base).status_code == 202


def test_an_agency_user_may_not_send_a_procuratorial_act(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    spec = next(case_spec(i) for i in range(12) if case_spec(i).owner == MARKET)
    answer = client.post(f"/api/cases/{spec.case_id}/acts",
                         headers=_token(client, f"unit-{MARKET.lower()}"),
                         json={"action": "RECOMMENDATION", "target_unit_code": MARKET,
                               "content": "自己给自己发检察建议"})
    assert answer.status_code == 403
    assert "entitlements.yaml" in answer.json()["detail"]
    assert offered_acts_for(context, MARKET) == []


def offered_acts_for(context: ViewContext, unit_code: str) -> list[str]:
    from hub.rules import load_entitlements

    return [option.action for option in offered_acts(
        load_entitlements(), context.units, unit_code=unit_code,
        operator_unit_code=context.operator_unit_code)]


def test_the_view_offers_the_acts_the_rules_allow_with_their_addressees(
        view: tuple[TestClient, ViewContext]) -> None:
    _, context = view
    from hub.rules import load_entitlements

    options = {option.action: option for option in offered_acts(
        load_entitlements(), context.units, unit_code=PROCURATORATE,
        operator_unit_code=PROCURATORATE)}
    assert {"SUGGEST_REFERRAL", "REQUIRE_NON_FILING_REASONS", "ORDER_FILING",
            "RECOMMENDATION", "OPINION", "CORRECTION_NOTICE", "URGE_PROSECUTION"} <= set(options)
    assert "ARREST_DECISION" not in options  # decided in the procuratorate's own system
    assert {unit.kind for unit in options["ORDER_FILING"].targets} == {"police"}
    assert {unit.kind for unit in options["SUGGEST_REFERRAL"].targets} == {"agency"}


def _web_login(client: TestClient, username: str = "prosecutor") -> None:
    login = client.get("/login")
    assert login.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    client.post("/login", data={"username": username, "password": DEFAULT_DEMO_PASSWORD,
                                "csrf_token": csrf.group(1)})


def test_the_case_page_form_sends_the_act(view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    _web_login(client)
    spec = case_spec(4)
    page = client.get(f"/cases/{spec.case_id}")
    assert page.status_code == 200 and 'id="act-form"' in page.text
    assert "纠正违法通知书" in page.text and "督促起诉意见书" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    sent = client.post(f"/cases/{spec.case_id}/acts", follow_redirects=False, data={
        "csrf_token": token.group(1), "action": "CORRECTION_NOTICE",
        "target_unit_code": POLICE, "content": "立案监督发现违法情形，请予纠正"})
    assert sent.status_code == 303 and "notice=act_sent" in sent.headers["location"]
    acts = [ProsecutorialAction.model_validate(row.payload) for row in _outbox(context)
            if row.record_type == ProsecutorialAction.avro_name]
    assert [(a.action.value, a.target_unit_code) for a in acts] == [
        ("CORRECTION_NOTICE", POLICE)]


def test_the_scorecard_counts_the_units_replies_to_acts(
        view: tuple[TestClient, ViewContext]) -> None:
    import uuid

    from hub.models import AlertKind, AlertStatus
    from tests.support.view_data import alert_for

    client, context = view
    spec = case_spec(2)

    def act_alert(rule_id: str, status: AlertStatus, details: dict[str, str],
                  unit: str = MARKET):
        base = alert_for(spec, AlertKind.REPLY_OVERDUE, responsible=unit, status=status)
        return base.model_copy(update={
            "event_id": str(uuid.uuid4()), "alert_id": f"{rule_id}:{spec.case_id}",
            "rule_id": rule_id, "details": details})

    copy = {"copy_to_roles": "justice_bureau"}
    apply_events_to = [
        act_alert("recommendation-unanswered", AlertStatus.RAISED, copy),
        act_alert("urge-prosecution-unanswered", AlertStatus.RESOLVED, {**copy, "late": "true"}),
        act_alert("suggested-referral-not-acted-on", AlertStatus.RESOLVED, {"late": "false"}),
    ]
    with context.store.session() as session:
        apply_events(session, apply_events_to, context.units)
    card = client.get(f"/api/units/{MARKET}/scorecard",
                      headers=_token(client, "prosecutor")).json()
    rows = {row["rule_id"]: row for row in card["act_replies"]}
    assert set(rows) == {"recommendation-unanswered", "urge-prosecution-unanswered"}
    assert (rows["recommendation-unanswered"]["overdue_open"],
            rows["recommendation-unanswered"]["copied"]) == (1, 1)
    assert (rows["urge-prosecution-unanswered"]["answered_late"],
            rows["urge-prosecution-unanswered"]["overdue_open"]) == (1, 0)
    assert rows["recommendation-unanswered"]["title_zh"] == "检察建议/检察意见回复超期"
    _web_login(client)
    page = client.get(f"/units/{MARKET}")
    assert page.status_code == 200
    assert 'data-rule-id="recommendation-unanswered"' in page.text
    assert "已抄送司法行政机关" in page.text
    alerts = client.get("/alerts?status=all")
    assert alerts.status_code == 200
    assert "badge copied" in alerts.text and "已抄送司法行政机关" in alerts.text

    # Every act's clock counts on the card of the unit that owes the answer, the court's
    # and the hub's judicial recommendations included.
    owed = {MARKET: ["suggested-referral-not-acted-on", "judicial-recommendation-unanswered",
                     "raised-judicial-recommendation-unanswered"],
            POLICE: ["non-filing-reasons-overdue", "ordered-filing-overdue",
                     "correction-notice-unanswered", "consultation-unanswered",
                     "early-intervention-unattended"],
            DEMO_JUSTICE: ["lead-feedback-overdue"]}
    assert set(act_rule_titles()) == {"recommendation-unanswered",
                                      "urge-prosecution-unanswered",
                                      *(rule for rules in owed.values() for rule in rules)}
    with context.store.session() as session:
        apply_events(session, [act_alert(rule, AlertStatus.RAISED, {}, unit)
                               for unit, rules in owed.items() for rule in rules],
                     context.units)
    prosecutor = _token(client, "prosecutor")
    for unit, rules in owed.items():
        card = client.get(f"/api/units/{unit}/scorecard", headers=prosecutor).json()
        overdue = {row["rule_id"]: row["overdue_open"] for row in card["act_replies"]}
        assert {rule: overdue.get(rule) for rule in rules} == dict.fromkeys(rules, 1), unit


def test_an_agency_asks_for_advice_and_invites_early_intervention_on_its_own_case(
        view: tuple[TestClient, ViewContext]) -> None:
    """Items 2 and 3: the case's owning agency (and only it) creates a consultation or an
    invitation, on its own ingest topic, addressed to the police or the procuratorate."""
    from hub.models import (
        ConsultationRequested,
        EarlyInterventionInvited,
        FilingSupervisionRequested,
    )

    client, context = view
    own = next(case_spec(i) for i in range(12) if case_spec(i).owner == MARKET)
    other = next(case_spec(i) for i in range(12) if case_spec(i).owner != MARKET)
    headers = _token(client, f"unit-{MARKET.lower()}")
    asked = client.post(f"/api/cases/{own.case_id}/acts", headers=headers, json={
        "action": "ConsultationRequested", "target_unit_code": POLICE,
        "content": "该案涉案金额是否达到立案追诉标准？"})
    if not context.settings.agency_requests:  # an operator setting, off by default
        assert asked.status_code == 403
        assert not [row for row in _outbox(context) if row.topic == act_topic(MARKET)]
        return
    assert asked.status_code == 202, asked.text
    assert asked.json()["topic"] == f"lf.ingest.{MARKET}.{ACT_STREAM}"
    invited = client.post(f"/api/cases/{own.case_id}/acts", headers=headers, json={
        "action": "EarlyInterventionInvited", "target_unit_code": PROCURATORATE,
        "content": "涉案金额已达立案标准的八成，邀请提前介入",
        "document_number": "演市监邀〔2026〕1号"})
    assert invited.status_code == 202, invited.text
    rows = [row for row in _outbox(context) if row.topic == act_topic(MARKET)]
    consultation = ConsultationRequested.model_validate(
        next(r.payload for r in rows if r.record_type == ConsultationRequested.avro_name))
    assert (consultation.source_unit, consultation.addressed_to_unit_code) == (MARKET, POLICE)
    assert consultation.consultation_id.startswith("ZX-")
    invitation = EarlyInterventionInvited.model_validate(
        next(r.payload for r in rows if r.record_type == EarlyInterventionInvited.avro_name))
    assert (invitation.invitation_id, invitation.invited_unit_code) == (
        "演市监邀〔2026〕1号", PROCURATORATE)
    # 撤案 or non-filing: the agency objects by suggesting filing supervision 建议立案监督
    # to the procuratorate, naming the police unit on the case; no police unit, no
    # objection, and never to the police themselves.
    objected = client.post(f"/api/cases/{own.case_id}/acts", headers=headers, json={
        "action": "FilingSupervisionRequested", "target_unit_code": PROCURATORATE,
        "content": "公安机关撤销该案的理由不能成立，建议立案监督",
        "document_number": "演市监督〔2026〕1号"})
    assert objected.status_code == 202, objected.text
    rows = [row for row in _outbox(context) if row.topic == act_topic(MARKET)]
    objection = FilingSupervisionRequested.model_validate(
        next(r.payload for r in rows if r.record_type == FilingSupervisionRequested.avro_name))
    assert (objection.source_unit, objection.procuratorate_unit_code,
            objection.police_unit_code, objection.request_number) == (
        MARKET, PROCURATORATE, POLICE, "演市监督〔2026〕1号")
    unpoliced = next(case_spec(i) for i in range(12)
                     if case_spec(i).owner == MARKET and not case_spec(i).referral_number)
    refused = client.post(f"/api/cases/{unpoliced.case_id}/acts", headers=headers, json={
        "action": "FilingSupervisionRequested", "target_unit_code": PROCURATORATE,
        "content": "异议"})
    assert refused.status_code == 422 and "police" in refused.text
    to_police = client.post(f"/api/cases/{own.case_id}/acts", headers=headers, json={
        "action": "FilingSupervisionRequested", "target_unit_code": POLICE, "content": "异议"})
    assert to_police.status_code == 422
    # Not to an agency, and not on another unit's case (the unit user cannot see it).
    wrong = client.post(f"/api/cases/{own.case_id}/acts", headers=headers, json={
        "action": "ConsultationRequested", "target_unit_code": MARKET, "content": "问"})
    assert wrong.status_code == 422
    foreign = client.post(f"/api/cases/{other.case_id}/acts", headers=headers, json={
        "action": "ConsultationRequested", "target_unit_code": POLICE, "content": "问"})
    assert foreign.status_code == 404
    # The prosecutor does not ask on the agency's behalf.
    # The agency's case page offers its requests, never a procuratorial act.
    _web_login(client, f"unit-{MARKET.lower()}")
    page = client.get(f"/cases/{own.case_id}")
    assert page.status_code == 200
    assert 'option value="ConsultationRequested"' in page.text
    assert 'option value="EarlyInterventionInvited"' in page.text
    assert 'option value="FilingSupervisionRequested"' in page.text
    assert 'option value="ORDER_FILING"' not in page.text
    prosecutor = client.post(f"/api/cases/{own.case_id}/acts",
                             headers=_token(client, "prosecutor"), json={
        "action": "ConsultationRequested", "target_unit_code": POLICE, "content": "问"})
    assert prosecutor.status_code == 403
