"""Unenforced penalties per unit in the view (执行到位, issue #13, item 7): the unit's
scorecard lists its penalties still not enforced past their clock, in Chinese by default
and in English on request; an enforced one (its alert resolved) leaves the list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.models import AlertKind, AlertStatus
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from tests.support.view_data import (
    MARKET,
    POLICE,
    alert_for,
    apply_events,
    case_spec,
    demo_events,
)


@pytest.fixture
def view(tmp_path: Path) -> Iterator[tuple[TestClient, ViewContext]]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    app = create_app(settings)
    with TestClient(app) as client:
        context: ViewContext = app.state.view
        with context.store.session() as session:
            apply_events(session, demo_events(12), context.units)
        yield client, context


def _login(client: TestClient) -> dict[str, str]:
    login = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    client.post("/login", data={"username": "prosecutor", "password": DEFAULT_DEMO_PASSWORD,
                                "csrf_token": csrf.group(1)})
    answer = client.post("/api/auth/token",
                         json={"username": "prosecutor", "password": DEFAULT_DEMO_PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_scorecard_lists_the_units_unenforced_penalties(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    open_spec, enforced_spec = case_spec(2), case_spec(4)
    unenforced = alert_for(open_spec, AlertKind.ENFORCEMENT_OVERDUE, responsible=MARKET)
    enforced = alert_for(enforced_spec, AlertKind.ENFORCEMENT_OVERDUE, responsible=MARKET)
    with context.store.session() as session:
        apply_events(session, [unenforced, enforced], context.units)
        apply_events(session, [enforced.model_copy(update={
            "event_id": f"{enforced.event_id}-resolved", "status": AlertStatus.RESOLVED})],
            context.units)
    headers = _login(client)

    card = client.get(f"/api/units/{MARKET}/scorecard", headers=headers).json()
    assert [row["case_id"] for row in card["unenforced"]] == [open_spec.case_id]
    row = card["unenforced"][0]
    assert row["case_number"] and row["due_date"] == unenforced.due_date.isoformat()  # type: ignore[union-attr]
    other = client.get(f"/api/units/{POLICE}/scorecard", headers=headers).json()
    assert other["unenforced"] == []

    page = client.get(f"/units/{MARKET}")
    assert page.status_code == 200
    assert "处罚未执行到位" in page.text
    assert f'data-case-id="{open_spec.case_id}"' in page.text
    assert f'data-case-id="{enforced_spec.case_id}"' not in page.text
    english = client.get(f"/units/{MARKET}?lang=en").text
    assert "Penalties not enforced" in english and "处罚未执行到位" not in english
