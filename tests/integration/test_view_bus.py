"""The view against the real broker and registry: fed only from the bus, acting only on it.

- the store fills from lf.case-state / lf.case-events / lf.alerts / lf.stats / lf.unmatched;
- an action taken through the API is produced to lf.view-actions (idempotent producer),
  and shows only once the view has consumed it back;
- searches and views are produced to lf.audit;
- a restart resumes from the offsets stored with the rows (nothing lost or doubled);
- a replay (drop the bus tables, read from the beginning) rebuilds the same store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.models import AuditOperation, AuditRecorded, ViewAction, ViewActionKind
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, Topics, ViewSettings
from hub.view.store import AppliedActionRow, ConsumerOffsetRow, Store, TimelineRow
from streams.aggregate_logic import fold
from tests.support.kafka_io import produce, read_events, topic_for, wait_for
from tests.support.view_data import MARKET, case_spec, demo_events
from tests.unit.data.case_events import HUB_UNIT, OPEN_CASE, at, opened

pytestmark = pytest.mark.integration

CASES = 24


@pytest.fixture
def topics(topic_factory: Callable[..., str]) -> Topics:
    return Topics(
        case_state=topic_factory("view.state", partitions=2, compacted=True),
        case_events=topic_factory("view.events", partitions=2),
        alerts=topic_factory("view.alerts", partitions=2),
        stats=topic_factory("view.stats"),
        unmatched=topic_factory("view.unmatched"),
        view_actions=topic_factory("view.actions", partitions=2),
        audit=topic_factory("view.audit"),
    )


@pytest.fixture
def settings(tmp_path: Path, bootstrap: str, registry_url: str, topics: Topics,
             group_id: str) -> ViewSettings:
    return ViewSettings(
        database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
        bootstrap=bootstrap,
        registry_url=registry_url,
        topics=topics,
        group_id=group_id,
        seed_demo_users=True,
        demo_unit_codes=[MARKET],
    )


@contextmanager
def running_view(settings: ViewSettings) -> Iterator[tuple[TestClient, ViewContext]]:
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, app.state.view


def _token(client: TestClient) -> dict[str, str]:
    answer = client.post("/api/auth/token",
                         json={"username": "prosecutor", "password": DEFAULT_DEMO_PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _total_cases(client: TestClient, headers: dict[str, str]) -> int:
    return int(client.get("/api/dashboard", headers=headers).json()["total_cases"])


def test_store_fills_from_the_bus_and_actions_round_trip_through_it(
    settings: ViewSettings, bootstrap: str, registry_url: str, topics: Topics
) -> None:
    produce(bootstrap, registry_url, demo_events(CASES), topic_for(topics))
    with running_view(settings) as (client, _context):
        headers = _token(client)
        wait_for(lambda: _total_cases(client, headers) == CASES)
        spec = case_spec(4)

        def case_detail() -> dict[str, Any]:
            answer: dict[str, Any] = client.get(f"/api/cases/{spec.case_id}",
                                                headers=headers).json()
            return answer

        # the case states (lf.case-state) may make every case before the penalty
        # details (lf.case-events, another topic) reach it
        wait_for(lambda: case_detail()["case"]["violation_type"] != "")
        detail = case_detail()
        assert detail["case"]["violation_type"] == spec.violation_type
        assert detail["case"]["amount_fen"] == spec.amount_fen
        assert detail["timeline"][0]["event_type"] == "PenaltyCaseRecorded"

        alert = client.get("/api/alerts", headers=headers).json()["items"][0]
        accepted = client.post(f"/api/alerts/{alert['alert_id']}/acknowledge", headers=headers)
        assert accepted.status_code == 202

        def acknowledged() -> bool:
            case = client.get(f"/api/cases/{alert['case_id']}", headers=headers).json()
            return {a["alert_id"]: a["status"] for a in case["alerts"]}[
                alert["alert_id"]] == "acknowledged"

        wait_for(acknowledged)
        unmatched = client.get("/api/unmatched", headers=headers).json()["items"][0]
        detail = client.get(f"/api/unmatched/{unmatched['unmatched_id']}", headers=headers)
        candidate = detail.json()["candidates"][0]["case"]["case_id"]
        client.post(f"/api/unmatched/{unmatched['unmatched_id']}/resolve", headers=headers,
                    json={"case_id": candidate})
        wait_for(lambda: client.get("/api/unmatched", headers=headers).json()["total"] == 1)

    actions = read_events(bootstrap, registry_url, topics.view_actions, expect=2)
    assert all(isinstance(a, ViewAction) for a in actions)
    kinds = {a.action_kind: a for a in actions if isinstance(a, ViewAction)}
    assert kinds[ViewActionKind.ACKNOWLEDGE_ALERT].target == alert["alert_id"]
    assert kinds[ViewActionKind.ACKNOWLEDGE_ALERT].actor == "prosecutor"
    assert kinds[ViewActionKind.MANUAL_MATCH].target == unmatched["unmatched_id"]
    assert kinds[ViewActionKind.MANUAL_MATCH].case_id == candidate
    assert len(actions) == 2
    audits = read_events(bootstrap, registry_url, topics.audit, expect=2)
    operations = [a.operation for a in audits if isinstance(a, AuditRecorded)]
    assert AuditOperation.VIEW in operations


def test_an_open_case_comes_from_the_bus_with_its_stage_and_amount(
    settings: ViewSettings, bootstrap: str, registry_url: str, topics: Topics
) -> None:
    """The open case's record (立案登记) is one of the few case events the view reads
    from lf.case-events (chosen by its ce_type header)."""
    register = opened(at(2025, 3, 3), turnover_fen=8_000_000)
    state = fold([register]).to_case_state(hub_unit_code=HUB_UNIT, now=at(2026, 1, 1))
    produce(bootstrap, registry_url, [register, state], topic_for(topics))
    with running_view(settings) as (client, _context):
        headers = _token(client)

        def case() -> dict[str, Any]:
            answer = client.get(f"/api/cases/{OPEN_CASE}", headers=headers)
            found: dict[str, Any] = answer.json()["case"] if answer.status_code == 200 else {}
            return found

        wait_for(lambda: case().get("amount_fen") == 8_000_000)
        assert case()["stage"] == "OPENED"
        assert case()["violation_type"] == register.violation_type


def test_restart_resumes_from_stored_offsets_and_replay_rebuilds(
    settings: ViewSettings, bootstrap: str, registry_url: str, topics: Topics
) -> None:
    events = demo_events(CASES)
    produce(bootstrap, registry_url, events[:CASES], topic_for(topics))  # half the cases
    with running_view(settings) as (client, context):
        headers = _token(client)
        assert context.bus is not None
        wait_for(lambda: context.bus is not None and context.bus.caught_up.is_set())
        first_count = _total_cases(client, headers)
        spec = case_spec(2)
        client.post(f"/api/cases/{spec.case_id}/actions", headers=headers,
                    json={"action": "OPINION", "note": "请说明不立案理由"})
        wait_for(lambda: client.get(f"/api/cases/{spec.case_id}", headers=headers)
                 .json()["timeline"][-1]["event_type"] == "ViewAction.ADD_NOTE")
    assert first_count == CASES // 2

    produce(bootstrap, registry_url, events[CASES:], topic_for(topics))
    with running_view(settings) as (client, context):
        headers = _token(client)
        wait_for(lambda: _total_cases(client, headers) == CASES)
        assert context.bus is not None
        context_ready = context.bus
        wait_for(lambda: context_ready.caught_up.is_set())
        before_replay = client.get("/api/dashboard", headers=headers).json()
        applied_now = context_ready.records_applied
    # The second run applied only what was new: not the first half again.
    assert applied_now <= len(events) - CASES

    store = Store(settings.database_url)
    with store.session() as session:
        notes = session.scalar(select(func.count()).select_from(TimelineRow).where(
            TimelineRow.event_type == "ViewAction.ADD_NOTE"))
        actions = session.scalar(select(func.count()).select_from(AppliedActionRow))
        offsets = {(row.topic, row.partition): row.next_offset
                   for row in session.scalars(select(ConsumerOffsetRow))}
    assert notes == 1 and actions == 1
    assert offsets[(topics.view_actions, 0)] + offsets.get((topics.view_actions, 1), 0) == 1
    store.drop_bus_tables()
    store.dispose()

    with running_view(settings) as (client, context):
        headers = _token(client)
        wait_for(lambda: _total_cases(client, headers) == CASES)
        assert context.bus is not None
        replayed = context.bus
        wait_for(lambda: replayed.caught_up.is_set())
        after_replay = client.get("/api/dashboard", headers=headers).json()
        timeline = client.get(f"/api/cases/{case_spec(2).case_id}", headers=headers).json()
    assert after_replay == before_replay
    assert timeline["timeline"][-1]["event_type"] == "ViewAction.ADD_NOTE"


async def test_not_caught_up_before_the_group_assigns_partitions(
        bootstrap: str, registry_url: str) -> None:
    """Nothing assigned yet is not "caught up": a slow group join once let the view report
    an empty store as complete (and a replay test read a half-built dashboard)."""
    from hub.view.bus import BusRunner

    runner = BusRunner(context=None, bootstrap=bootstrap, registry_url=registry_url)
    assert runner.assigned == []
    assert await runner._at_end() is False
    with pytest.raises(TimeoutError):
        await runner.wait_caught_up(timeout=0.3)
