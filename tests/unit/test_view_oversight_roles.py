"""The justice bureau's and the supervision commission's users in the view (issue #13,
roles): a unit user of either sees the cases whose leads were sent to it and the feedback
clocks it owes (its inbox), and nothing of other cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.local.hub_services import DEMO_OVERSIGHT_USER_CODES
from hub.models import AlertKind
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import ViewSettings
from tests.support.view_data import alert_for, apply_events, case_spec, demo_events
from tests.unit.test_view_acts import _token

JUSTICE, COMMISSION = DEMO_OVERSIGHT_USER_CODES


@pytest.fixture
def view(tmp_path: Path) -> Iterator[tuple[TestClient, ViewContext]]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, demo_unit_codes=[JUSTICE, COMMISSION],
                            bootstrap=None)
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, app.state.view


def test_each_oversight_user_sees_its_leads_and_the_feedback_it_owes(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    to_justice, to_commission, other = case_spec(5), case_spec(6), case_spec(7)
    events = list(demo_events(12))
    for spec, receiver in ((to_justice, JUSTICE), (to_commission, COMMISSION)):
        state = spec.state()
        events.append(state.model_copy(update={
            "units_involved": [*state.units_involved, receiver]}))
        alert = alert_for(spec, AlertKind.REPLY_OVERDUE, responsible=receiver)
        events.append(alert.model_copy(update={"rule_id": "lead-feedback-overdue"}))
    with context.store.session() as session:
        apply_events(session, events, context.units)

    for receiver, own, foreign in ((JUSTICE, to_justice, to_commission),
                                   (COMMISSION, to_commission, to_justice)):
        headers = _token(client, f"unit-{receiver.lower()}")
        me = client.get("/api/me", headers=headers).json()
        assert me["role"] == "unit" and me["unit_code"] == receiver
        cases = client.get("/api/cases", headers=headers).json()
        assert [c["case_id"] for c in cases["items"]] == [own.case_id]
        assert client.get(f"/api/cases/{own.case_id}", headers=headers).status_code == 200
        assert client.get(f"/api/cases/{foreign.case_id}", headers=headers).status_code == 404
        assert client.get(f"/api/cases/{other.case_id}", headers=headers).status_code == 404
        alerts = client.get("/api/alerts?status=active", headers=headers).json()["items"]
        assert [(a["case_id"], a["rule_id"]) for a in alerts] == [
            (own.case_id, "lead-feedback-overdue")]
