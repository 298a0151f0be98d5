"""What a unit user of the view may see and do, and who may log in at all.

A unit user sees the cases its unit is involved in (docs/security.md), not the
procuratorate's own work on them: the screening leads (线索) about its cases and the
notes and re-check findings prosecutors keep in the view. The users file says who may
log in: a user taken out of it, or whose password changed, keeps no session. The login
limit holds for guesses sent in parallel. A real SQLite store and the real application
(FastAPI's test client); view actions are applied as the bus would bring them back.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from hub.models import Alert, AlertKind, ViewAction
from hub.view.app import create_app
from hub.view.auth import hash_password
from hub.view.login import attempt_login
from hub.view.reports import build_monthly_report
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import OutboxRow
from tests.support.view_data import (
    MARKET,
    POLICE,
    CaseSpec,
    alert_for,
    apply_events,
    case_spec,
    demo_events,
)


@pytest.fixture
def view(tmp_path: Path) -> Iterator[TestClient]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    with TestClient(create_app(settings)) as client:
        yield client


def _bearer(client: TestClient, username: str, password: str = DEFAULT_DEMO_PASSWORD
            ) -> dict[str, str]:
    answer = client.post("/api/auth/token", json={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": "Bearer " + answer.json()["access_token"]}


def _market_case() -> CaseSpec:
    return next(spec for spec in map(case_spec, range(40))
                if spec.owner == MARKET and spec.referral_number)


def _bring_back_view_actions(client: TestClient) -> None:
    """What the bus does: the outbox's view actions come back and are applied."""
    context = client.app.state.view  # type: ignore[attr-defined]
    with context.store.session() as session:
        actions = [ViewAction.model_validate(row.payload) for row in session.scalars(
            select(OutboxRow).where(OutboxRow.record_type == ViewAction.avro_name))]
    with context.store.session() as session:
        apply_events(session, actions, context.units)


def _lead_and_overdue(view: TestClient) -> tuple[CaseSpec, Alert, Alert,
                                                  dict[str, str], dict[str, str]]:
    """A market case with a lead about it and an overdue alert of the agency's own, and
    the agency's and a prosecutor's bearer headers."""
    context = view.app.state.view  # type: ignore[attr-defined]
    spec = _market_case()
    lead = alert_for(spec, AlertKind.SUSPECTED_NON_REFERRAL)
    overdue = alert_for(spec, AlertKind.FILING_DECISION_OVERDUE, responsible=MARKET)
    with context.store.session() as session:
        apply_events(session, [*demo_events(40), lead, overdue], context.units)
    return (spec, lead, overdue, _bearer(view, f"unit-{MARKET.lower()}"),
            _bearer(view, "prosecutor"))


def test_a_unit_reads_the_leads_about_it_but_cannot_close_them(view: TestClient) -> None:
    """A lead (线索) about an agency's case prompts it to refer what it should have; it is
    the procuratorate's work until the procuratorate acts, so the agency cannot take it
    off the prosecutor's queue by acknowledging it. Its own alerts it can."""
    _, lead, overdue, unit, prosecutor = _lead_and_overdue(view)

    seen = {alert["alert_id"] for alert in view.get("/api/alerts", params={"status": "active"},
                                                    headers=unit).json()["items"]}
    assert {overdue.alert_id, lead.alert_id} <= seen
    assert view.post(f"/api/alerts/{lead.alert_id}/acknowledge",
                     headers=unit).status_code == 404
    assert view.post(f"/api/alerts/{lead.alert_id}/assign", headers=unit,
                     json={"assignee": "someone"}).status_code == 404
    assert view.post(f"/api/alerts/{overdue.alert_id}/acknowledge",
                     headers=unit).status_code == 202
    leads_before = view.get("/api/dashboard", headers=prosecutor).json()["open_leads"]
    _bring_back_view_actions(view)
    # The prosecutor's queue still holds the lead; the unit's own alert is acknowledged.
    assert view.get("/api/dashboard", headers=prosecutor).json()["open_leads"] == leads_before
    queue = {alert["alert_id"]: alert["status"] for alert in view.get(
        "/api/alerts", params={"status": "active"}, headers=prosecutor).json()["items"]}
    assert lead.alert_id in queue and overdue.alert_id not in queue
    # The web page offers the unit no button it would be refused.
    view.cookies.clear()
    page = view.get("/alerts", headers=unit).text
    assert f"/alerts/{lead.alert_id}/acknowledge" not in page
    assert f"/alerts/{lead.alert_id}" in page or lead.alert_id in page


def test_a_unit_does_not_see_the_prosecutors_notes_on_its_case(view: TestClient) -> None:
    context = view.app.state.view  # type: ignore[attr-defined]
    spec = _market_case()
    with context.store.session() as session:
        apply_events(session, demo_events(40), context.units)
    unit, prosecutor = _bearer(view, f"unit-{MARKET.lower()}"), _bearer(view, "prosecutor")
    note = "内部意见：虚构的检察官备注"
    answer = view.post(f"/api/cases/{spec.case_id}/actions", headers=prosecutor,
                       json={"action": "OPINION", "note": note})
    assert answer.status_code == 202, answer.text
    _bring_back_view_actions(view)

    def notes(headers: dict[str, str]) -> list[str]:
        detail = view.get(f"/api/cases/{spec.case_id}", headers=headers).json()
        return [step["summary"] for step in detail["timeline"]
                if step["event_type"].startswith("ViewAction.")]

    assert any(note in summary for summary in notes(prosecutor))
    assert notes(unit) == []
    # The unit still sees its case's own history.
    assert view.get(f"/api/cases/{spec.case_id}", headers=unit).json()["timeline"]


def test_users_taken_out_of_the_file_or_given_a_new_password_keep_no_session(
        tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"

    def write(entries: list[tuple[str, str]]) -> None:
        users.write_text("users:\n" + "".join(
            f"  - {{username: {name}, role: prosecutor, password_hash: '{hashed}'}}\n"
            for name, hashed in entries), encoding="utf-8")

    def settings() -> ViewSettings:
        return ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            users_file=users, bootstrap=None,
                            session_secret=SecretStr("a-fixed-secret-as-in-production"))

    write([("alice", hash_password("alice-old")), ("bob", hash_password("bob-password"))])
    with TestClient(create_app(settings())) as client:
        alice = _bearer(client, "alice", "alice-old")
        bob = _bearer(client, "bob", "bob-password")
        assert client.get("/api/me", headers=alice).status_code == 200
    # The operator changes alice's stolen password and takes bob out of the file.
    write([("alice", hash_password("alice-new"))])
    with TestClient(create_app(settings())) as client:
        assert client.get("/api/me", headers=alice).status_code == 401
        assert client.get("/api/me", headers=bob).status_code == 401
        assert client.post("/api/auth/token", json={
            "username": "bob", "password": "bob-password"}).status_code == 401
        assert client.post("/api/auth/token", json={
            "username": "alice", "password": "alice-old"}).status_code == 401
        assert client.get("/api/me", headers=_bearer(client, "alice", "alice-new")
                          ).status_code == 200


def test_parallel_guesses_are_checked_no_more_than_the_limit(view: TestClient) -> None:
    """Thirty wrong passwords sent at once, each from its own address: the name's limit
    (5 by default) bounds how many are checked, as it does for guesses one by one."""
    context = view.app.state.view  # type: ignore[attr-defined]
    limit = context.throttle.policy.per_user
    outcomes: Counter[str] = Counter()
    start = threading.Barrier(30)

    def guess(number: int) -> None:
        start.wait()
        outcomes[attempt_login(context, "prosecutor", f"guess-{number}",
                               f"10.0.0.{number}", "api").outcome] += 1

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["credentials"] == limit - 1  # the limit-th failure answers "locked"
    assert outcomes["locked"] == 30 - (limit - 1)
    with context.store.session() as session:
        reasons = Counter(row.payload.get("query") for row in session.scalars(
            select(OutboxRow).where(OutboxRow.record_type != ViewAction.avro_name)))
    checked = reasons["reason=credentials"] + reasons["reason=credentials;locked"]
    assert checked == limit


def test_a_restart_with_the_same_demo_password_keeps_the_demo_sessions(
        tmp_path: Path) -> None:
    """The demo password is hashed with a new salt at each hashing: a restart must not
    take that for a changed password and log every demo user out."""

    def settings() -> ViewSettings:
        return ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, bootstrap=None,
                            session_secret=SecretStr("a-fixed-secret-as-in-production"))

    with TestClient(create_app(settings())) as client:
        prosecutor = _bearer(client, "prosecutor")
    with TestClient(create_app(settings())) as client:
        assert client.get("/api/me", headers=prosecutor).status_code == 200


def test_a_unit_does_not_read_what_the_procuratorate_concluded_on_its_case(
        view: TestClient) -> None:
    """A prosecutor's conclusion on a lead about an agency's case (拟监督移送) and the names
    of who took and reviewed it are the procuratorate's record: read by the body under
    supervision, they would warn it. The unit still reads the lead and handles its own
    alerts under its own name."""
    spec, lead, overdue, unit, prosecutor = _lead_and_overdue(view)
    conclusion = "内部审查结论：拟监督移送（虚构）"
    assert view.post(f"/api/alerts/{lead.alert_id}/assign", headers=prosecutor,
                     json={"assignee": "检察官甲"}).status_code == 202
    assert view.post(f"/api/alerts/{lead.alert_id}/review", headers=prosecutor,
                     json={"conclusion": conclusion}).status_code == 202
    assert view.post(f"/api/alerts/{overdue.alert_id}/assign", headers=unit,
                     json={"assignee": "办案员乙"}).status_code == 202
    _bring_back_view_actions(view)

    def alerts_read(headers: dict[str, str]) -> dict[str, dict[str, object]]:
        on_case = view.get(f"/api/cases/{spec.case_id}", headers=headers).json()["alerts"]
        queue = [alert for status in ("assigned", "acknowledged")
                 for alert in view.get("/api/alerts", params={"status": status},
                                       headers=headers).json()["items"]]
        both = [alert for alert in on_case + queue
                if alert["alert_id"] in (lead.alert_id, overdue.alert_id)]
        assert len(both) == 4, both
        return {f"{alert['alert_id']}|{n}": alert for n, alert in enumerate(both)}

    for alert in alerts_read(prosecutor).values():
        if alert["alert_id"] == lead.alert_id:
            assert alert["review_conclusion"] == conclusion
            assert alert["reviewed_by"] and alert["assigned_to"] == "检察官甲"
    for alert in alerts_read(unit).values():
        if alert["alert_id"] == lead.alert_id:
            assert alert["status"] != "open"  # it reads that the lead is being handled
            assert alert["review_conclusion"] is None and alert["reviewed_by"] is None
            assert alert["assigned_to"] is None and alert["acknowledged_by"] is None
        else:  # its own alert, under its own handling
            assert alert["assigned_to"] == "办案员乙"
    view.cookies.clear()
    for page in (f"/cases/{spec.case_id}", "/alerts?status=acknowledged", "/"):
        text = view.get(page, headers=unit).text
        assert conclusion not in text and "检察官甲" not in text, page


def test_no_page_but_the_shipped_files_may_be_cached(view: TestClient) -> None:
    """Pages carry parties, ID numbers and leads: the next user of a shared workstation
    must not find them in the browser's cache after a logout."""
    prosecutor = _bearer(view, "prosecutor")
    for path in ("/", "/reports", "/units", "/consult", "/copies", "/assessment",
                 "/api/cases", "/login"):
        answer = view.get(path, headers=prosecutor)
        assert answer.headers.get("cache-control") == "no-store", path
    stylesheet = next(path for path in ("/static/app.css", "/static/style.css")
                      if view.get(path).status_code == 200)
    assert "no-store" not in view.get(stylesheet).headers.get("cache-control", "")


def test_a_unit_acknowledging_its_overdue_items_leaves_them_in_the_oversight_figures(
        view: TestClient) -> None:
    """An acknowledgement says who saw an alert, it does not answer it: an agency that
    acknowledges its own overdue items must not take them out of what the procuratorate
    reports on it (the unit's scorecard, the monthly report's overdue list). It leaves
    the prosecutors' work queue (and the dashboard's tiles, which link to it)."""
    context = view.app.state.view  # type: ignore[attr-defined]
    spec = _market_case()
    overdue = alert_for(spec, AlertKind.FILING_DECISION_OVERDUE, responsible=MARKET)
    with context.store.session() as session:
        apply_events(session, [*demo_events(40), overdue], context.units)
    unit, prosecutor = _bearer(view, f"unit-{MARKET.lower()}"), _bearer(view, "prosecutor")

    def figures() -> tuple[int, bool]:
        scorecard = view.get(f"/api/units/{MARKET}/scorecard", headers=prosecutor).json()
        with context.store.session() as session:
            report = build_monthly_report(session, "2026-01", context.units)
        listed = any(item.case_id == spec.case_id and item.kind == overdue.kind.value
                     for item in report.overdue)
        return scorecard["overdue_alerts"], listed

    def queue_overdue() -> int:
        return int(view.get("/api/dashboard", headers=prosecutor).json()["overdue_alerts"])

    before, queued = figures(), queue_overdue()
    assert before[0] >= 1 and before[1]
    assert view.post(f"/api/alerts/{overdue.alert_id}/acknowledge",
                     headers=unit).status_code == 202
    _bring_back_view_actions(view)
    queue = {alert["alert_id"] for alert in view.get(
        "/api/alerts", params={"status": "active"}, headers=prosecutor).json()["items"]}
    assert overdue.alert_id not in queue
    assert figures() == before
    assert queue_overdue() == queued - 1
