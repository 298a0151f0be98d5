"""The engine's repartition topics are emptied of what the group committed (real broker,
registry and worker), as Kafka Streams purges its own: before, ``lf.streams.case-intake``
and ``lf.streams.stats-feed`` kept every record for good."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from hub.identity import case_id_for
from hub.kafka import librdkafka_config
from hub.models import CaseEvent
from hub.models.examples import EXAMPLE_AGENCY
from streams.engine.outputs import partition_of
from streams.topics import REPARTITION_CONFIGS
from tests.integration.test_streams_harness import (
    PARTITIONS,
    StreamsDeployment,
    partition_not_owning,
    penalty_of,
    produce_events,
    produce_on_partition,
    read_events_until,
)

pytestmark = pytest.mark.integration


def _penalty() -> CaseEvent:
    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:8]}号"
    return penalty_of(EXAMPLE_AGENCY, decision, case_id_for(EXAMPLE_AGENCY, decision))


def _positions(deployment: StreamsDeployment, places: list[tuple[str, int]]
               ) -> dict[tuple[str, int], tuple[int, int]]:
    """(first offset on the broker, the group's committed offset) of each place; a
    committed offset the coordinator did not give this time (a per-partition error, on
    a loaded broker) is -1, read again by the caller's loop."""
    consumer = Consumer({**librdkafka_config(deployment.bootstrap),
                         "group.id": deployment.app_id, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(t, p) for t, p in places], timeout=10)
        return {(tp.topic, tp.partition): (
            consumer.get_watermark_offsets(tp, timeout=10)[0],
            tp.offset if tp.error is None else -1)
            for tp in committed}
    finally:
        consumer.close()


async def test_consumed_repartition_records_are_deleted_and_a_restart_loses_nothing(
        example_county: StreamsDeployment) -> None:
    deployment = example_county
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    agency = topics.ingest(EXAMPLE_AGENCY, "cases")
    await deployment.create_topics([agency])
    deployment.env["LIANGFA_ENGINE_PURGE_INTERVAL_S"] = "1"
    deployment.start_worker("w1")
    # Penalties on their own partitions (they count in the statistics feed), and one on a
    # partition whose task does not own its case (handed on through case-intake).
    penalties = [_penalty() for _ in range(6)]
    handed = _penalty()
    await produce_events(bootstrap, registry, agency, penalties)
    other = partition_not_owning(handed)
    await produce_on_partition(deployment, agency, handed, other)
    wanted = {event.case_id for event in [*penalties, handed]}
    await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: wanted <= {event.case_id for _, event in found}, timeout_s=90)

    # handed on keyed by its case: on the intake partition of its case's task
    owner = partition_of(handed.kafka_key(), list(range(PARTITIONS)))
    places = [(topics.stats_feed, 0), (topics.case_intake, owner)]
    deadline = time.monotonic() + 60
    positions = _positions(deployment, places)
    while time.monotonic() < deadline and not all(
            first > 0 and committed >= 0 for first, committed in positions.values()):
        await asyncio.sleep(1)
        positions = _positions(deployment, places)
    for place, (first, committed) in positions.items():
        # Deleted, and never past what the group committed (nothing unread is lost; the
        # feed no further than its statistics snapshot, tests/unit/test_engine_purge.py).
        assert 0 < first <= committed, (place, positions, deployment.log_of("w1"))

    # Killed (no snapshot saved on the way out), a worker started again resumes at the
    # committed offsets and the last snapshot's, past the deleted records.
    deployment.stop_worker("w1", signal.SIGKILL)
    deployment.start_worker("w1")
    later = _penalty()
    await produce_events(bootstrap, registry, agency, [later])
    found = await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: any(event.case_id == later.case_id for _, event in found),
        timeout_s=90)
    assert any(event.case_id == later.case_id for _, event in found), \
        deployment.log_of("w1")
    assert deployment.workers["w1"].poll() is None

    # Segments small and young enough that the broker frees the deleted records' disk.
    admin = AdminClient(librdkafka_config(bootstrap))
    for name in (topics.case_intake, topics.stats_feed):
        resource = ConfigResource(ConfigResource.Type.TOPIC, name)
        described = admin.describe_configs([resource])[resource].result(timeout=30)
        assert {key: described[key].value for key in REPARTITION_CONFIGS} == \
            REPARTITION_CONFIGS
