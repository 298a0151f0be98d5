"""Feedback read before its referral waits out its grace, and the wait outlives its worker.

The police often export a decision before the agency's referral is read: the worker holds
the decision in its case's document for a short grace, then parks it for a person. The
time it waits until is a key of the partition store (``streams.engine.timers``), written
to the store's changelog with the case. A worker killed during the grace and replaced by
one with an empty disk must still park the decision when the grace ends: it restores the
key with the store and reads no case document to find it.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from hub.identity import case_id_for
from hub.models import CaseEvent, FeedbackUnmatched, FilingDecided
from hub.models.examples import EXAMPLE_POLICE
from streams.engine.matching import MATCH_GRACE_S
from streams.engine.timers import HELD_KEYS, INDEX_BUILT
from streams.topics import changelog_topic
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    produce_events,
    read_events_until,
    read_until,
)

pytestmark = pytest.mark.integration

POLICE_NUMBER = "A4211810000002024038888"


async def test_feedback_held_by_a_killed_worker_is_parked_by_its_successor(
    example_county: StreamsDeployment,
) -> None:
    deployment = example_county
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([police_topic])
    deployment.start_worker("w1")

    # A filing decision quoting a referral nobody has sent: nothing matches it yet.
    decision: FilingDecided = example_of(FilingDecided).model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_POLICE, POLICE_NUMBER),
        "referral_number": "示例市监移〔2024〕888号", "agency_decision_number": None,
        "referring_unit_code": None, "police_case_number": POLICE_NUMBER, "parties": []})
    await produce_events(bootstrap, registry, police_topic, [decision])

    # The hold reached the changelog: the case's held-until keys among its writes, and
    # the mark that the store's index is complete (so no successor reads documents).
    case = decision.case_id.encode("utf-8")
    held_key = HELD_KEYS.by_case + case
    changelog = changelog_topic(deployment.app_id, "engine-cases")
    written = await read_until(bootstrap, changelog,
                               lambda records: any(r.key == held_key for r in records),
                               timeout_s=60)
    deployment.stop_worker("w1", signal.SIGKILL)
    [time] = [r.value for r in written if r.key == held_key]
    assert time, deployment.log_of("w1")
    keys = {r.key for r in written}
    assert HELD_KEYS.by_time + time + case in keys
    assert INDEX_BUILT in keys

    def parked(found: Sequence[tuple[Any, CaseEvent]]) -> bool:
        return any(isinstance(event, FeedbackUnmatched)
                   and event.feedback_event_id == decision.event_id for _, event in found)

    # Killed within its grace (the key is written before the grace can end), the first
    # worker parked nothing.
    before = await read_events_until(bootstrap, registry, topics.unmatched, parked,
                                     timeout_s=2)
    assert not parked(before), f"parked before the kill; grace {MATCH_GRACE_S} s"

    # A successor on an empty disk restores the store, then parks the decision.
    deployment.start_worker("w2")
    found = await read_events_until(bootstrap, registry, topics.unmatched, parked,
                                    timeout_s=90)
    assert parked(found), deployment.log_of("w2")
