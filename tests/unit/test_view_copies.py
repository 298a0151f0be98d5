"""The justice bureau's copies of overdue acts in the view (issue #13, roles; Jiashan's
three-party mechanism): its user sees the recommendations unanswered past their clock in
its jurisdiction, not answered ones nor other clocks, and each look is audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.local.hub_services import DEMO_OVERSIGHT_USER_CODES
from hub.models import Alert, AlertKind, AlertStatus, AuditOperation, AuditRecorded
from hub.rules import load_deadlines
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.copies import copied_alerts, copy_sources, registry_of
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import OutboxRow
from tests.support.view_data import MARKET, alert_for, apply_events, case_spec, demo_events

JUSTICE, COMMISSION = DEMO_OVERSIGHT_USER_CODES


def copied(spec_number: int, rule_id: str, status: AlertStatus = AlertStatus.RAISED
           ) -> Alert:
    alert = alert_for(case_spec(spec_number), AlertKind.REPLY_OVERDUE, responsible=MARKET,
                      status=status)
    return alert.model_copy(update={"alert_id": f"{rule_id}:{spec_number}",
                                    "event_id": f"{alert.event_id}-{rule_id}-{status}",
                                    "rule_id": rule_id,
                                    "details": {"copy_to_roles": "justice_bureau"}})


@pytest.fixture
def view(tmp_path: Path) -> Iterator[tuple[TestClient, ViewContext]]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[JUSTICE, COMMISSION],
                            bootstrap=None)
    app = create_app(settings)
    with TestClient(app) as client:
        context: ViewContext = app.state.view
        events = [*demo_events(12), copied(2, "recommendation-unanswered"),
                  copied(3, "urge-prosecution-unanswered"),
                  copied(4, "recommendation-unanswered"),
                  copied(4, "recommendation-unanswered", AlertStatus.RESOLVED),
                  copied(5, "correction-notice-unanswered")]
        with context.store.session() as session:
            apply_events(session, events, context.units)
        yield client, context


def _login(client: TestClient, username: str) -> None:
    login = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    client.post("/login", data={"username": username, "password": DEFAULT_DEMO_PASSWORD,
                                "csrf_token": csrf.group(1)})


def test_the_county_agencies_copies_go_to_the_county_justice_bureau(
        view: tuple[TestClient, ViewContext]) -> None:
    _, context = view
    registry = registry_of(context.settings.units_file)
    sources = copy_sources(registry, load_deadlines(), JUSTICE)
    assert set(sources) == {"recommendation-unanswered", "urge-prosecution-unanswered"}
    assert MARKET in sources["recommendation-unanswered"]
    assert copy_sources(registry, load_deadlines(), COMMISSION) == {}
    with context.store.session() as session:
        mine = copied_alerts(session, registry, JUSTICE)
        assert copied_alerts(session, registry, COMMISSION) == []
    assert sorted(c.alert_id for c in mine) == [
        "recommendation-unanswered:2", "urge-prosecution-unanswered:3"]


def test_the_justice_bureau_user_sees_them_and_the_look_is_audited(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    _login(client, f"unit-{JUSTICE.lower()}")
    page = client.get("/copies")
    assert page.status_code == 200
    assert 'data-alert-id="recommendation-unanswered:2"' in page.text
    assert 'data-alert-id="recommendation-unanswered:4"' not in page.text  # answered
    assert 'data-alert-id="correction-notice-unanswered:5"' not in page.text  # no copy
    assert "行政执法监督通知书" in page.text and "演示县市场监督管理局" in page.text
    assert "Overdue acts copied" in client.get("/copies?lang=en").text
    with context.store.session() as session:
        audits = [AuditRecorded.model_validate(row.payload) for row in session.scalars(
            select(OutboxRow).where(OutboxRow.record_type == AuditRecorded.avro_name))]
    looks = [a for a in audits if a.operation is AuditOperation.VIEW and a.target == "copies"]
    assert len(looks) == 2
    assert (looks[0].actor, looks[0].actor_unit_code, looks[0].result_count) == (
        f"unit-{JUSTICE.lower()}", JUSTICE, 2)


def test_the_commission_sees_none_and_a_stranger_is_sent_to_log_in(
        view: tuple[TestClient, ViewContext]) -> None:
    client, _ = view
    assert client.get("/copies", follow_redirects=False).status_code in (303, 307, 401)
    _login(client, f"unit-{COMMISSION.lower()}")
    page = client.get("/copies")
    assert page.status_code == 200 and "copy-row" not in page.text
    assert "暂无抄送本单位" in page.text
