"""A delivery receipt 送达回执 end to end on the real broker (issue #13, delivery): an
agency refers a case, a real stream worker routes the referral to the police inbox, the
police unit's HTTP sink delivers it into the police case system, whose answer (with its
receipt number) comes back as ``DeliveryAcknowledged`` on the police ingest topic; the
worker admits it (entitlement ``addressee``) onto ``lf.case-events`` and the case's
timeline in ``lf.case-state``.

The receipt clock (``receipt-missing`` in ``hub/rules/deadlines.yaml``) is stopped by the
police's own ``ReferralReceived`` (签收, Decree 310 Art. 7), not by the system's delivery
receipt: the design does not make a delivery a signature, and this test does not claim so.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from connectors.sinks.config import SinkConfig
from connectors.sinks.runner import SinkRunner
from connectors.sinks.testing import ReceivingServer
from hub.config import HubSettings
from hub.identity import case_id_for
from hub.models import CaseReferred, DeliveryAcknowledged
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    latest_state,
    penalty_of,
    produce_events,
    read_events_until,
)

pytestmark = pytest.mark.integration


async def test_a_sinks_receipt_reaches_the_case_through_the_worker(
        example_county: StreamsDeployment, tmp_path: Path) -> None:
    deployment = example_county
    topics = deployment.topics
    bootstrap, registry_url = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    receipts_topic = topics.ingest(EXAMPLE_POLICE, "receipts")
    await deployment.create_topics([agency_topic, receipts_topic])
    deployment.start_worker("w1")

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    template = example_of(CaseReferred)
    referral = template.model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id, "decision_number": decision,
        "referral_number": f"示例市监移〔2025〕{uuid.uuid4().hex[:6]}号"})
    await produce_events(bootstrap, registry_url, agency_topic,
                         [penalty_of(EXAMPLE_AGENCY, decision, case_id), referral])
    inbox = topics.inbox(EXAMPLE_POLICE)
    routed = await read_events_until(
        bootstrap, registry_url, inbox,
        lambda found: any(e.event_id == referral.event_id for _, e in found))
    assert referral.event_id in {e.event_id for _, e in routed}, deployment.log_of("w1")

    server = ReceivingServer()
    try:
        config = SinkConfig.model_validate({
            "id": f"sink-police-{uuid.uuid4().hex[:8]}", "unit": EXAMPLE_POLICE,
            "direction": "sink", "kind": "http",
            "target": {"url": server.url, "receipt_path": "receipt_number"},
            "topic": inbox, "state_dir": str(tmp_path / "sink"),
            "poll_interval_seconds": 0.5, "bootstrap": bootstrap,
            "registry_url": registry_url})
        runner = SinkRunner(config, settings=HubSettings())
        # the deployment's topics carry its prefix; the worker reads receipts there
        runner.receipts = receipts_topic
        await asyncio.wait_for(runner.run(once=True), 120)  # a guard against a hang
    finally:
        server.close()
    assert referral.event_id in server.stored
    assert runner.summary.delivered >= 1

    def receipt_of(found: list) -> list[DeliveryAcknowledged]:  # type: ignore[type-arg]
        return [e for _, e in found if isinstance(e, DeliveryAcknowledged)
                and e.delivered_event_id == referral.event_id]

    events = await read_events_until(bootstrap, registry_url, topics.case_events,
                                     lambda found: bool(receipt_of(found)))
    receipts = receipt_of(events)
    assert len(receipts) == 1, deployment.log_of("w1")
    receipt = receipts[0]
    assert (receipt.case_id, receipt.source_unit, receipt.acknowledgement,
            receipt.receipt_number) == (case_id, EXAMPLE_POLICE, "HTTP 201",
                                        f"R-{referral.event_id[:8]}")

    def on_timeline(found: list) -> bool:  # type: ignore[type-arg]
        state = latest_state(found, case_id)
        return state is not None and any(
            entry.event_id == receipt.event_id for entry in state.timeline)

    states = await read_events_until(bootstrap, registry_url, topics.case_state, on_timeline)
    state = latest_state(states, case_id)
    assert state is not None and on_timeline(states), deployment.log_of("w1")
    [step] = [entry for entry in state.timeline if entry.event_id == receipt.event_id]
    assert step.unit_code == EXAMPLE_POLICE
    assert "送达回执" in step.summary and f"R-{referral.event_id[:8]}" in step.summary
