"""The view serves its open alerts on /metrics (issue #15, item 1): a gauge per alert kind
and unit and the raise time of the oldest open alert, read from the alert table at scrape
time; a resolved alert leaves the count, and its (kind, unit) stays at 0 instead of
vanishing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from hub.models import AlertKind, AlertStatus
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import ViewSettings
from hub.view.store import AlertRow
from tests.support.view_data import MARKET, POLICE, alert_for, apply_events, case_spec


@pytest.fixture
def view(tmp_path: Path) -> Iterator[tuple[TestClient, ViewContext]]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=False, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:  # this host's scraper
        yield client, app.state.view


def _samples(client: TestClient, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return {tuple(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples if s.name == name}


def test_open_alerts_by_kind_and_unit_and_the_oldest(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    kind = AlertKind.ENFORCEMENT_OVERDUE
    first = alert_for(case_spec(2), kind, responsible=MARKET, raised=date(2026, 3, 2))
    second = alert_for(case_spec(4), kind, responsible=MARKET, raised=date(2026, 5, 6))
    with context.store.session() as session:
        apply_events(session, [first, second], context.units)
    key = (("kind", kind.value), ("unit", MARKET))
    assert _samples(client, "liangfa_view_open_alerts")[key] == 2
    with context.store.session() as session:
        raised = [session.get(AlertRow, a.alert_id).raised_at  # type: ignore[union-attr]
                  for a in (first, second)]
    assert raised[0] != raised[1]
    oldest = min(raised).timestamp()
    assert _samples(client, "liangfa_view_oldest_open_alert_timestamp_seconds")[()] == oldest

    with context.store.session() as session:
        for alert in (first, second):
            apply_events(session, [alert.model_copy(update={
                "event_id": f"{alert.event_id}-resolved", "status": AlertStatus.RESOLVED})],
                context.units)
    assert _samples(client, "liangfa_view_open_alerts")[key] == 0
    assert _samples(client, "liangfa_view_oldest_open_alert_timestamp_seconds")[()] == 0
