"""docs/runbook.md, "Restore after losing a worker's disk": a worker whose data directory
is gone (disk replaced, volume lost) is started again under the same id with an empty
directory; it rebuilds its state stores from their changelog topics, so a case's next
event lands on the case's whole history, not on an empty case."""

from __future__ import annotations

import shutil
import uuid
from typing import Any

import pytest

from hub.identity import case_id_for
from hub.models import CaseEvent, CaseState, ConsultationRequested, PenaltyCaseRecorded
from hub.models.examples import EXAMPLE_AGENCY, example_events
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    latest_state,
    produce_events,
    read_events_until,
)

pytestmark = pytest.mark.integration


async def test_a_worker_restarted_on_an_empty_disk_keeps_every_case(
        example_county: StreamsDeployment) -> None:
    deployment = example_county
    topics = deployment.topics
    ingest = topics.ingest(EXAMPLE_AGENCY, "cases")
    await deployment.create_topics([ingest])
    templates = {type(e).__name__: e for e in example_events().values()}
    decision = f"失盘罚〔2024〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    penalty = templates[PenaltyCaseRecorded.__name__].model_copy(update={
        "case_id": case_id, "event_id": str(uuid.uuid4()), "decision_number": decision})
    consultation = templates[ConsultationRequested.__name__].model_copy(update={
        "case_id": case_id, "event_id": str(uuid.uuid4()), "consultation_id": "C-disk"})

    deployment.start_worker("w1")
    await produce_events(deployment.bootstrap, deployment.registry_url, ingest, [penalty])
    await read_events_until(deployment.bootstrap, deployment.registry_url, topics.case_state,
                            lambda found: latest_state(found, case_id) is not None)
    deployment.stop_worker("w1")
    data_dir = deployment.tmp / "w1"
    assert any(data_dir.rglob("*")), "the worker kept no local state to lose"
    shutil.rmtree(data_dir)

    deployment.start_worker("w1")
    await produce_events(deployment.bootstrap, deployment.registry_url, ingest,
                         [consultation])
    wanted = {penalty.event_id, consultation.event_id}

    def whole(found: list[tuple[Any, CaseEvent]]) -> bool:
        state = latest_state(found, case_id)
        return state is not None and {e.event_id for e in state.timeline} >= wanted

    found = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                    topics.case_state, whole, timeout_s=240)
    state = latest_state(found, case_id)
    assert isinstance(state, CaseState), deployment.log_of("w1")
    assert {e.event_id for e in state.timeline} == wanted, deployment.log_of("w1")
    assert deployment.workers["w1"].poll() is None
