"""The view's REST API and pages against a real store: SQLite, and PostgreSQL 15.

No Kafka here: events are applied to the store the way the consumer applies them, and
actions are checked in the outbox (what the relay will produce). The round trip through
a real broker is in tests/integration/test_view_bus.py and tests/browser/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from hub.models import AlertKind, AuditOperation, AuditRecorded, ViewAction, ViewActionKind
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import OutboxRow, TimelineRow
from tests.support.view_data import (
    ECONOMIC_POLICE,
    MARKET,
    POLICE,
    TOBACCO,
    alert_for,
    apply_events,
    case_spec,
    demo_events,
)

CASES = 40


@dataclass
class View:
    client: TestClient
    context: ViewContext

    def token(self, username: str) -> dict[str, str]:
        answer = self.client.post(
            "/api/auth/token", json={"username": username, "password": DEFAULT_DEMO_PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def outbox(self) -> list[OutboxRow]:
        with self.context.store.session() as session:
            rows = list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))
            session.expunge_all()
            return rows

    def actions(self) -> list[ViewAction]:
        return [
            ViewAction.model_validate(row.payload)
            for row in self.outbox()
            if row.record_type == ViewAction.avro_name
        ]

    def audits(self) -> list[AuditRecorded]:
        return [
            AuditRecorded.model_validate(row.payload)
            for row in self.outbox()
            if row.record_type == AuditRecorded.avro_name
        ]

    def apply(self, *events: object) -> None:
        with self.context.store.session() as session:
            apply_events(session, events, self.context.units)  # type: ignore[arg-type]


@pytest.fixture
def view(view_database_url: str) -> Iterator[View]:
    settings = ViewSettings(
        database_url=view_database_url,
        seed_demo_users=True,
        demo_unit_codes=[MARKET, POLICE],
        bootstrap=None,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        context: ViewContext = app.state.view
        with context.store.session() as session:
            apply_events(session, demo_events(CASES), context.units)
        yield View(client, context)


def test_no_case_data_without_authentication(view: View) -> None:
    spec = case_spec(0)
    for path in ("/api/cases", f"/api/cases/{spec.case_id}", "/api/alerts", "/api/unmatched",
                 f"/api/units/{MARKET}/scorecard", "/api/reports/monthly?month=2026-01"):
        assert view.client.get(path).status_code == 401, path
    page = view.client.get("/cases?party=x", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
    forged = {"Authorization": "Bearer eyJ1IjoicHJvc2VjdXRvciJ9.forged"}
    assert view.client.get("/api/cases", headers=forged).status_code == 401


def test_wrong_password_gets_no_token_and_is_audited(view: View) -> None:
    answer = view.client.post("/api/auth/token",
                              json={"username": "prosecutor", "password": "wrong"})
    assert answer.status_code == 401
    login = view.client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    posted = view.client.post("/login", data={"username": "prosecutor", "password": "nope",
                                              "csrf_token": csrf.group(1)},
                              follow_redirects=False)
    assert "error=credentials" in posted.headers["location"]
    audits = view.audits()
    assert [a.operation for a in audits] == [AuditOperation.LOGIN_FAILED] * 2
    assert [a.target for a in audits] == ["api", "view"]


def test_search_filters_each_narrow_to_matching_cases(view: View) -> None:
    headers = view.token("prosecutor")
    specs = [case_spec(i) for i in range(CASES)]

    def ids(**params: object) -> set[str]:
        answer = view.client.get("/api/cases", params={**params, "page_size": 200},
                                 headers=headers)
        assert answer.status_code == 200, answer.text
        return {item["case_id"] for item in answer.json()["items"]}

    assert ids() == {s.case_id for s in specs}
    assert ids(unit=TOBACCO) == {s.case_id for s in specs if s.owner == TOBACCO}
    assert ids(unit=POLICE) == {s.case_id for s in specs if s.referral_number}
    assert ids(stage="FILED") == {s.case_id for s in specs if s.police_case_number}
    assert ids(violation_type="虚假宣传") == {
        s.case_id for s in specs if s.violation_type == "虚假宣传"}
    middle = sorted(s.decided_on for s in specs)[CASES // 2]
    assert ids(decided_from=middle.isoformat()) == {
        s.case_id for s in specs if s.decided_on >= middle}
    assert ids(decided_to=middle.isoformat(), unit=MARKET) == {
        s.case_id for s in specs if s.decided_on <= middle and s.owner == MARKET}
    threshold = 5_000_000_00
    assert ids(amount_min_fen=threshold) == {s.case_id for s in specs if s.amount_fen >= threshold}
    assert ids(amount_max_fen=threshold) == {s.case_id for s in specs if s.amount_fen <= threshold}
    target = specs[7]
    assert ids(party=target.party.name) == {
        s.case_id for s in specs
        if s.party.name == target.party.name or s.party.legal_representative == target.party.name
    }
    identifier = target.party.credit_code or target.party.id_number
    assert target.case_id in ids(party=identifier)
    assert ids(party="没有这个人") == set()
    assert ids(case_number=target.decision_number) == {target.case_id}
    referred = next(s for s in specs if s.referral_number)
    assert ids(case_number=referred.referral_number) == {referred.case_id}


def test_search_pages_are_disjoint_newest_first(view: View) -> None:
    headers = view.token("prosecutor")
    first = view.client.get("/api/cases?page_size=15&page=1", headers=headers).json()
    second = view.client.get("/api/cases?page_size=15&page=2", headers=headers).json()
    assert first["total"] == CASES and not first["total_is_lower_bound"]
    dates = [item["decided_on"] for item in first["items"] + second["items"]]
    assert dates == sorted(dates, reverse=True)
    assert not {i["case_id"] for i in first["items"]} & {i["case_id"] for i in second["items"]}
    assert view.client.get("/api/cases?page=0", headers=headers).status_code == 422


def test_case_timeline_oldest_first_with_parties_and_units(view: View) -> None:
    headers = view.token("prosecutor")
    spec = next(case_spec(i) for i in range(CASES) if case_spec(i).police_case_number)
    detail = view.client.get(f"/api/cases/{spec.case_id}", headers=headers).json()
    assert detail["case"]["stage"] == "FILED"
    assert detail["case"]["violation_type"] == spec.violation_type
    assert detail["case"]["amount_fen"] == spec.amount_fen
    kinds = [entry["event_type"] for entry in detail["timeline"]]
    assert kinds == ["PenaltyCaseRecorded", "CaseReferred", "FilingDecided"]
    times = [entry["occurred_at"] for entry in detail["timeline"]]
    assert times == sorted(times)
    assert {u["unit_code"] for u in detail["units"]} == {spec.owner, POLICE}
    assert detail["parties"][0]["name"] == spec.party.name
    assert view.client.get("/api/cases/not-a-case", headers=headers).status_code == 404


def test_unit_user_sees_only_its_own_units_cases_and_inbox(view: View) -> None:
    headers = view.token(f"unit-{MARKET.lower()}")
    specs = [case_spec(i) for i in range(CASES)]
    answer = view.client.get("/api/cases?page_size=200", headers=headers).json()
    assert {i["case_id"] for i in answer["items"]} == {s.case_id for s in specs
                                                       if s.owner == MARKET}
    other = next(s for s in specs if s.owner == TOBACCO)
    assert view.client.get(f"/api/cases/{other.case_id}", headers=headers).status_code == 404
    asked_for_other = view.client.get(f"/api/cases?unit={TOBACCO}", headers=headers).json()
    assert asked_for_other["items"] == []
    alerts = view.client.get("/api/alerts?status=active&page_size=200", headers=headers).json()
    assert alerts["items"] and all(a["unit_code"] == MARKET for a in alerts["items"])
    assert view.client.get(f"/api/units/{TOBACCO}/scorecard", headers=headers).status_code == 404
    assert view.client.get(f"/api/units/{MARKET}/scorecard", headers=headers).status_code == 200
    assert view.client.get("/api/unmatched", headers=headers).status_code == 403
    assert view.client.get("/api/reports/monthly?month=2026-01",
                           headers=headers).status_code == 403


def test_police_unit_user_sees_cases_referred_to_it(view: View) -> None:
    headers = view.token(f"unit-{POLICE.lower()}")
    specs = [case_spec(i) for i in range(CASES)]
    answer = view.client.get("/api/cases?page_size=200", headers=headers).json()
    assert {i["case_id"] for i in answer["items"]} == {s.case_id for s in specs
                                                       if s.referral_number}


def test_operations_see_status_but_no_case_data(view: View) -> None:
    headers = view.token("operations")
    assert view.client.get("/api/cases", headers=headers).status_code == 403
    assert view.client.get("/api/alerts", headers=headers).status_code == 403
    status = view.client.get("/api/status", headers=headers)
    assert status.status_code == 200
    assert status.json()["consumer_running"] is False
    page = view.client.get("/", headers=headers, follow_redirects=False)
    assert page.headers["location"] == "/status"


def test_acknowledge_goes_to_the_bus_and_shows_only_when_it_comes_back(view: View) -> None:
    headers = view.token("prosecutor")
    alert = view.client.get("/api/alerts", headers=headers).json()["items"][0]
    answer = view.client.post(f"/api/alerts/{alert['alert_id']}/acknowledge", headers=headers,
                              json={"note": "已电话督促"})
    assert answer.status_code == 202
    queued = [a for a in view.actions() if a.action_id == answer.json()["action_id"]]
    assert len(queued) == 1
    action = queued[0]
    assert action.action_kind == ViewActionKind.ACKNOWLEDGE_ALERT
    assert action.target == alert["alert_id"] and action.case_id == alert["case_id"]
    assert action.actor == "prosecutor" and action.payload == {"note": "已电话督促"}
    [audited] = [a for a in view.audits() if a.operation is AuditOperation.ACTION]
    assert audited.target == f"ACKNOWLEDGE_ALERT:{alert['alert_id']}"
    assert audited.case_id == alert["case_id"] and audited.actor == "prosecutor"
    assert audited.query == f"action_id={action.action_id};note=已电话督促"
    still = view.client.get(f"/api/cases/{alert['case_id']}", headers=headers).json()
    assert {a["alert_id"]: a["status"] for a in still["alerts"]}[alert["alert_id"]] == "open"
    view.apply(action)
    after = view.client.get(f"/api/cases/{alert['case_id']}", headers=headers).json()
    acknowledged = {a["alert_id"]: a for a in after["alerts"]}[alert["alert_id"]]
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_by"] == "prosecutor"


def test_assign_and_review_lead(view: View) -> None:
    headers = view.token("prosecutor")
    lead = view.client.get("/api/alerts?leads=true", headers=headers).json()["items"][0]
    assert lead["is_lead"]
    assign = view.client.post(f"/api/alerts/{lead['alert_id']}/assign", headers=headers,
                              json={"assignee": "王检察官"})
    review = view.client.post(f"/api/alerts/{lead['alert_id']}/review", headers=headers,
                              json={"conclusion": "金额达到立案标准，建议移送"})
    assert assign.status_code == review.status_code == 202
    view.apply(*view.actions())
    after = view.client.get("/api/alerts?status=all&leads=true", headers=headers)
    assert after.status_code == 422  # "all" is the web filter; the API says None instead
    done = {a["alert_id"]: a for a in view.client.get(
        "/api/alerts?status=acknowledged&leads=true", headers=headers).json()["items"]}
    assert done[lead["alert_id"]]["assigned_to"] == "王检察官"
    assert done[lead["alert_id"]]["review_conclusion"] == "金额达到立案标准，建议移送"
    not_lead = view.client.get("/api/alerts", headers=headers).json()["items"]
    plain = next(a for a in not_lead if not a["is_lead"])
    assert view.client.post(f"/api/alerts/{plain['alert_id']}/review", headers=headers,
                            json={"conclusion": "x"}).status_code == 409


@pytest.mark.parametrize(("path", "body"), [
    ("review", {"conclusion": "   "}), ("review", {"conclusion": "\u3000\t"}),
    ("assign", {"assignee": "  "}),
])
def test_a_blank_conclusion_or_assignee_is_refused(view: View, path: str,
                                                   body: dict[str, str]) -> None:
    """A lead closed with a conclusion of spaces showed "审查结论：" and nothing."""
    headers = view.token("prosecutor")
    lead = view.client.get("/api/alerts?leads=true", headers=headers).json()["items"][0]
    refused = view.client.post(f"/api/alerts/{lead['alert_id']}/{path}", headers=headers,
                               json=body)
    assert refused.status_code == 422
    assert view.actions() == []


def test_resolve_unmatched_feedback_by_manual_match(view: View) -> None:
    headers = view.token("prosecutor")
    queue = view.client.get("/api/unmatched", headers=headers).json()
    assert queue["total"] == 2
    item = queue["items"][0]
    detail = view.client.get(f"/api/unmatched/{item['unmatched_id']}", headers=headers).json()
    best = detail["candidates"][0]
    assert "referral_number" in best["reasons"]
    assert best["case"].get("referral_number", True)
    answer = view.client.post(f"/api/unmatched/{item['unmatched_id']}/resolve", headers=headers,
                              json={"case_id": best["case"]["case_id"], "note": "文号一致"})
    assert answer.status_code == 202
    match = view.actions()[-1]
    assert match.action_kind == ViewActionKind.MANUAL_MATCH
    assert match.target == item["unmatched_id"] and match.case_id == best["case"]["case_id"]
    view.apply(match)
    assert view.client.get("/api/unmatched", headers=headers).json()["total"] == 1
    again = view.client.post(f"/api/unmatched/{item['unmatched_id']}/resolve", headers=headers,
                             json={"case_id": best["case"]["case_id"]})
    assert again.status_code == 409
    timeline = view.client.get(f"/api/cases/{match.case_id}", headers=headers).json()["timeline"]
    assert timeline[-1]["event_type"] == "ViewAction.MANUAL_MATCH"
    unknown = view.client.post(f"/api/unmatched/{queue['items'][1]['unmatched_id']}/resolve",
                               headers=headers, json={"case_id": "no-such-case"})
    assert unknown.status_code == 404


def test_prosecutor_action_is_recorded_on_the_timeline_once(view: View) -> None:
    headers = view.token("prosecutor")
    spec = case_spec(3)
    answer = view.client.post(f"/api/cases/{spec.case_id}/actions", headers=headers,
                              json={"action": "RECOMMENDATION", "note": "建议依法移送"})
    assert answer.status_code == 202
    action = view.actions()[-1]
    assert action.action_kind == ViewActionKind.ISSUE_RECOMMENDATION
    view.apply(action)
    view.apply(action)  # a redelivered action changes nothing
    with view.context.store.session() as session:
        count = session.scalar(select(func.count()).select_from(TimelineRow).where(
            TimelineRow.case_id == spec.case_id, TimelineRow.event_id == action.event_id))
    assert count == 1
    bad = view.client.post(f"/api/cases/{spec.case_id}/actions", headers=headers,
                           json={"action": "DELETE_CASE"})
    assert bad.status_code == 422
    unit = view.token(f"unit-{MARKET.lower()}")
    assert view.client.post(f"/api/cases/{spec.case_id}/actions", headers=unit,
                            json={"action": "OPINION"}).status_code == 403


def test_action_arriving_before_its_alert_is_applied_when_the_alert_arrives(view: View) -> None:
    headers = view.token("prosecutor")
    spec = case_spec(CASES - 1)
    alert = alert_for(spec, AlertKind.HANDOVER_OVERDUE)
    view.client.post(f"/api/alerts/{alert.alert_id}/acknowledge", headers=headers)
    # The alert is unknown to the store: acknowledging it is refused, nothing queued.
    assert not view.actions()
    acknowledged = ViewAction(
        **alert.model_dump(include={"case_id", "source_unit", "occurred_at", "recorded_at",
                                       "source_system", "connector_id"}),
        event_id="early-ack", source_record="test", action_id="early-ack", actor="李检察官",
        actor_unit_code=alert.source_unit, action_kind=ViewActionKind.ACKNOWLEDGE_ALERT,
        target=alert.alert_id,
    )
    view.apply(acknowledged, alert)
    row = view.client.get(f"/api/cases/{spec.case_id}", headers=headers).json()["alerts"]
    assert {a["alert_id"]: a["status"] for a in row}[alert.alert_id] == "acknowledged"


def test_cookie_session_writes_need_the_csrf_token(view: View) -> None:
    login = view.client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    done = view.client.post("/login", data={"username": "prosecutor",
                                            "password": DEFAULT_DEMO_PASSWORD,
                                            "csrf_token": token.group(1), "next": "/cases"},
                            follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/cases"
    cookie = done.cookies.get("lf_session")
    assert cookie
    alert = view.client.get("/api/alerts").json()["items"][0]
    refused = view.client.post(f"/api/alerts/{alert['alert_id']}/acknowledge")
    assert refused.status_code == 403
    page = view.client.get("/alerts")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    accepted = view.client.post(f"/api/alerts/{alert['alert_id']}/acknowledge",
                                headers={"X-CSRF-Token": csrf.group(1)})
    assert accepted.status_code == 202
    form = view.client.post(f"/alerts/{alert['alert_id']}/assign",
                            data={"assignee": "张三", "csrf_token": "forged"})
    assert form.status_code == 403
    form = view.client.post(f"/alerts/{alert['alert_id']}/assign",
                            data={"assignee": "张三", "csrf_token": csrf.group(1)},
                            follow_redirects=False)
    assert form.status_code == 303 and "notice=submitted" in form.headers["location"]
    assert [a.action_kind for a in view.actions()] == [ViewActionKind.ACKNOWLEDGE_ALERT,
                                                       ViewActionKind.ASSIGN]


def test_login_rejects_a_forged_login_form(view: View) -> None:
    view.client.get("/login")
    posted = view.client.post("/login", data={"username": "prosecutor",
                                              "password": DEFAULT_DEMO_PASSWORD,
                                              "csrf_token": "guessed"}, follow_redirects=False)
    assert posted.headers["location"] == "/login?error=csrf"
    assert "lf_session" not in posted.cookies


def test_searches_views_and_exports_are_audited(view: View) -> None:
    headers = view.token("prosecutor")
    spec = case_spec(5)
    view.client.get("/api/cases", params={"party": spec.party.name}, headers=headers)
    view.client.get(f"/api/cases/{spec.case_id}", headers=headers)
    view.client.get("/api/reports/monthly?month=2026-01&format=csv", headers=headers)
    audits = view.audits()
    assert [a.operation for a in audits] == [AuditOperation.LOGIN, AuditOperation.SEARCH,
                                             AuditOperation.VIEW, AuditOperation.EXPORT]
    assert audits[0].target == "api"
    audits = audits[1:]
    assert all(a.actor == "prosecutor" for a in audits)
    assert audits[0].query == f"party={spec.party.name}" and audits[0].result_count >= 1
    assert audits[1].case_id == spec.case_id and audits[1].target == spec.case_id
    assert audits[2].target == "report:monthly:2026-01.csv"
    assert {row.topic for row in view.outbox()} == {"lf.audit-intake"}


def test_monthly_report_lists_every_unit_in_csv_and_xlsx(view: View) -> None:
    headers = view.token("prosecutor")
    month = demo_month()
    csv_answer = view.client.get(f"/api/reports/monthly?month={month}&format=csv",
                                 headers=headers)
    assert csv_answer.status_code == 200
    assert csv_answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["统一社会信用代码", "单位名称", "录入处罚案件数"]
    by_code = {row[0]: row for row in rows[1:]}
    assert len(by_code) == len(view.context.units.all())
    assert int(by_code[MARKET][2]) > 0
    assert by_code[ECONOMIC_POLICE][2] == "0"
    xlsx = view.client.get(f"/api/reports/monthly?month={month}&format=xlsx&lang=en",
                           headers=headers)
    book = load_workbook(io.BytesIO(xlsx.content))
    figures = book.worksheets[0]
    assert str(figures["A1"].value).startswith("Monthly report")
    assert figures["A2"].value == "Credit code"
    codes = [figures.cell(row=r, column=1).value for r in range(3, figures.max_row + 1)]
    assert MARKET in codes
    overdue = book.worksheets[1]
    assert overdue.max_row > 1
    assert view.client.get("/api/reports/monthly?month=2026-13",
                           headers=headers).status_code == 422


def demo_month() -> str:
    from hub.view.queries import china_month

    return china_month()


def test_scorecard_and_dashboard_figures(view: View) -> None:
    headers = view.token("prosecutor")
    card = view.client.get(f"/api/units/{MARKET}/scorecard", headers=headers).json()
    assert len(card["months"]) == 12
    last = card["months"][-1]
    assert last["penalty_cases_entered"] > 0
    expected = (last["penalty_cases_entered"] - last["penalty_cases_entered_late"]) / last[
        "penalty_cases_entered"]
    assert last["timeliness_rate"] == pytest.approx(expected, abs=1e-4)
    assert last["arrest_requests"] == 1 and last["non_filing_explanations"] == 0
    board = view.client.get("/api/dashboard", headers=headers).json()
    assert board["total_cases"] == CASES
    assert sum(board["cases_by_stage"].values()) == CASES
    assert board["open_unmatched"] == 2 and board["open_leads"] == 3
    assert board["overdue_alerts"] >= 1
    assert view.client.get("/api/units/000000000000000000/scorecard",
                           headers=headers).status_code == 404


def test_replaying_the_same_events_changes_nothing(view: View) -> None:
    headers = view.token("prosecutor")
    before = view.client.get("/api/dashboard", headers=headers).json()
    spec = case_spec(8)
    detail_before = view.client.get(f"/api/cases/{spec.case_id}", headers=headers).json()
    view.apply(*demo_events(CASES))
    assert view.client.get("/api/dashboard", headers=headers).json() == before
    detail_after = view.client.get(f"/api/cases/{spec.case_id}", headers=headers).json()
    assert detail_after == detail_before


def test_pages_render_in_chinese_and_english(view: View) -> None:
    login = view.client.get("/login")
    assert "登录" in login.text and login.headers["content-language"] == "zh-CN"
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    view.client.post("/login", data={"username": "prosecutor",
                                     "password": DEFAULT_DEMO_PASSWORD,
                                     "csrf_token": token.group(1)})
    spec = case_spec(0)
    pages = ["/", "/cases?party=" + spec.party.name, f"/cases/{spec.case_id}", "/alerts",
             "/alerts?leads=1", "/unmatched", "/units", f"/units/{MARKET}", "/reports",
             "/status"]
    for path in pages:
        answer = view.client.get(path)
        assert answer.status_code == 200, path
        assert "两法衔接检察监督平台" in answer.text, path
        assert "Content-Security-Policy" in answer.headers
    view.client.get("/lang/en?next=/")
    english = view.client.get("/cases?party=" + spec.party.name)
    assert "Case search" in english.text and spec.party.name in english.text
    unmatched = view.client.get("/unmatched").text
    first = re.search(r'href="(/unmatched/[^"]+)"', unmatched)
    assert first is not None
    assert "Candidate cases" in view.client.get(first.group(1)).text


def test_session_expires(view: View) -> None:
    from hub.view.store import UserRow

    with view.context.store.session() as session:
        user = session.get(UserRow, "prosecutor")
        assert user is not None
        token, expires = view.context.sessions.open(
            user, now=_now() - timedelta(hours=view.context.settings.session_hours + 1))
    assert expires < _now()
    answer = view.client.get("/api/cases", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


def _now():
    from hub.view.store import utc_now

    return utc_now()


def test_action_arriving_before_its_case_joins_the_timeline_when_the_case_arrives(
    view: View,
) -> None:
    headers = view.token("prosecutor")
    spec = case_spec(CASES + 5)  # not in the store yet
    note = ViewAction(
        event_id="early-note", case_id=spec.case_id, source_unit=spec.owner,
        occurred_at=spec.state().occurred_at, recorded_at=spec.state().recorded_at,
        source_system="test", source_record="test", connector_id="test",
        action_id="early-note", actor="李检察官", actor_unit_code=spec.owner,
        action_kind=ViewActionKind.ADD_NOTE, target=spec.case_id,
        payload={"action": "OPINION", "note": "先于案件到达"},
    )
    view.apply(note)
    view.apply(spec.state(), spec.penalty())
    timeline = view.client.get(f"/api/cases/{spec.case_id}", headers=headers).json()["timeline"]
    assert [e["event_type"] for e in timeline].count("ViewAction.ADD_NOTE") == 1
    assert any(e["summary"] == "OPINION: 先于案件到达" for e in timeline)
