"""Two workers sharing four partitions: no alert twice, nothing lost when one is killed."""

from __future__ import annotations

import signal
import uuid
from typing import Any

import pytest

from hub.identity import case_id_for
from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseState,
    ConsultationRequested,
    PenaltyCaseRecorded,
    UnitMonthlyStats,
)
from hub.models.examples import EXAMPLE_AGENCY, example_events
from streams.stats_logic import month_of
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    produce_events,
    read_events_until,
    settle,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(example_county: StreamsDeployment) -> StreamsDeployment:
    return example_county


def _cases(count: int, tag: str) -> list[list[CaseEvent]]:
    """Cases of a penalty and an unanswered consultation (its clock ran out long ago)."""
    templates = {type(e).__name__: e for e in example_events().values()}
    penalty = templates[PenaltyCaseRecorded.__name__]
    consultation = templates[ConsultationRequested.__name__]
    cases = []
    for number in range(count):
        decision = f"两工作者罚〔2024〕{tag}{number}号"
        case_id = case_id_for(EXAMPLE_AGENCY, decision)
        cases.append([
            penalty.model_copy(update={"case_id": case_id, "event_id": str(uuid.uuid4()),
                                       "decision_number": decision}),
            consultation.model_copy(update={
                "case_id": case_id, "event_id": str(uuid.uuid4()),
                "consultation_id": f"C-{tag}-{number}"}),
        ])
    return cases


def _overdue_consultations(found: list[tuple[object, CaseEvent]]) -> dict[str, list[Alert]]:
    by_case: dict[str, list[Alert]] = {}
    for _, event in found:
        if (isinstance(event, Alert) and event.kind is AlertKind.CONSULTATION_OVERDUE
                and event.status is AlertStatus.RAISED):
            by_case.setdefault(event.case_id, []).append(event)
    return by_case


async def test_two_workers_raise_each_alert_once(deployment: StreamsDeployment) -> None:
    topics = deployment.topics
    ingest = topics.ingest(EXAMPLE_AGENCY, "cases")
    await deployment.create_topics([ingest])
    deployment.start_worker("w1")
    deployment.start_worker("w2")
    cases = _cases(24, "a")
    await produce_events(deployment.bootstrap, deployment.registry_url, ingest,
                         [event for case in cases for event in case])
    case_ids = {case[0].case_id for case in cases}

    found = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.alerts,
        lambda found: set(_overdue_consultations(found)) >= case_ids, timeout_s=240)
    assert set(_overdue_consultations(found)) == case_ids, deployment.log_of("w2")
    # Both workers keep sweeping; give them several more ticks to misbehave.
    await settle(5)
    found = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.alerts,
        lambda found: False, timeout_s=3)
    transitions = [(e.alert_id, e.status) for _, e in found if isinstance(e, Alert)]
    assert len(transitions) == len(set(transitions)), "an alert was raised twice"
    assert all(len(alerts) == 1 for alerts in _overdue_consultations(found).values())
    assert deployment.workers["w1"].poll() is None
    assert deployment.workers["w2"].poll() is None


async def test_nothing_is_lost_when_a_worker_is_killed(deployment: StreamsDeployment) -> None:
    topics = deployment.topics
    ingest = topics.ingest(EXAMPLE_AGENCY, "cases")
    await deployment.create_topics([ingest])
    deployment.start_worker("w1")
    deployment.start_worker("w2")
    first, second = _cases(20, "k1"), _cases(20, "k2")
    await produce_events(deployment.bootstrap, deployment.registry_url, ingest,
                         [event for case in first for event in case])
    first_ids = {case[0].case_id for case in first}
    await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: {e.case_id for _, e in found if isinstance(e, CaseState)} >= first_ids)

    deployment.stop_worker("w2", signal.SIGKILL)
    await produce_events(deployment.bootstrap, deployment.registry_url, ingest,
                         [event for case in second for event in case])

    every_case = {case[0].case_id: {e.event_id for e in case} for case in first + second}

    def complete(found: list[tuple[object, CaseEvent]]) -> bool:
        latest: dict[str, CaseState] = {}
        for _, event in found:
            if isinstance(event, CaseState):
                latest[event.case_id] = event
        return all(
            case_id in latest
            and {entry.event_id for entry in latest[case_id].timeline} >= event_ids
            for case_id, event_ids in every_case.items())

    states = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                     topics.case_state, complete, timeout_s=300)
    assert complete(states), deployment.log_of("w1")
    alerts = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.alerts,
        lambda found: set(_overdue_consultations(found)) >= set(every_case), timeout_s=240)
    assert set(_overdue_consultations(alerts)) == set(every_case)

    # The month's figures count every penalty once, whichever worker held the statistics
    # (its cases and counters restored from the store, the feed re-read past them).
    month = month_of(first[0][0].occurred_at)
    stats_key = f"{EXAMPLE_AGENCY}|{month}".encode()

    def latest_figures(found: list[tuple[Any, CaseEvent]]) -> UnitMonthlyStats | None:
        figures = [e for r, e in found
                   if r.key == stats_key and isinstance(e, UnitMonthlyStats)]
        return figures[-1] if figures else None

    stats = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.stats,
        lambda found: (latest := latest_figures(found)) is not None
        and latest.penalty_cases_entered >= len(every_case), timeout_s=120)
    latest = latest_figures(stats)
    assert latest is not None, deployment.log_of("w1")
    assert latest.penalty_cases_entered == len(every_case)
    assert deployment.workers["w1"].poll() is None
