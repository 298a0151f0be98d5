"""Feedback's grace ends on the group's input, not on the clock alone.

A police decision read before the referral it quotes is held for a grace, then parked
for a person. When the referral is already on the broker but its partition has not been
processed yet (a backlog, a worker that fell behind, a partition another member holds),
parking the decision raises an alert the prosecutor must read and the hub takes back
when the referral is read. The worker therefore judges as of its input frontier
(``streams.engine.frontier``): the decision waits until every input record written
before its grace ended has been processed by the group.

Here a second member of the workers' consumer group holds half the partitions and
commits nothing (a worker that stopped making progress), and the referral lies on one of
them. Real broker, real worker process; the stalled member is a plain consumer in the
same group.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Consumer, Producer, TopicPartition

from hub.identity import case_id_for
from hub.models import CaseEvent, CaseReferred, FeedbackMatched, FeedbackUnmatched, FilingDecided
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE
from hub.topics import TopicSpec, apply_topics
from streams.engine.frontier import InputFrontier
from streams.engine.inputs import subscription
from streams.engine.matching import MATCH_GRACE_S
from streams.engine.timers import HELD_KEYS
from streams.topics import changelog_topic
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    produce_events,
    read_events_until,
    read_until,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _partition(key: bytes) -> int:
    """The partition the test's producer (aiokafka's default partitioner) picks."""
    return int(DefaultPartitioner()(key, list(range(PARTITIONS)), list(range(PARTITIONS))))


@contextmanager
def stalled_member(deployment: StreamsDeployment) -> Iterator[set[int]]:
    """A member of the workers' group that takes partitions and never commits; yields
    the partition numbers it holds once the worker ``w1`` shares the topics with it."""
    consumer = Consumer({
        "bootstrap.servers": deployment.bootstrap, "group.id": deployment.app_id,
        "client.id": "stalled-member", "partition.assignment.strategy": "range",
        "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    assigned: set[int] = set()
    case_events = deployment.topics.case_events

    def on_assign(_: Consumer, partitions: list[TopicPartition]) -> None:
        assigned.clear()
        assigned.update(tp.partition for tp in partitions if tp.topic == case_events)

    # The consumer is used by its own thread only (librdkafka's calls from two threads
    # at once can block each other); the callbacks tell the test what it holds.
    consumer.subscribe(subscription(deployment.topics), on_assign=on_assign)
    stop = threading.Event()

    def poll() -> None:  # reads, to take part in rebalances; never commits
        while not stop.is_set():
            consumer.poll(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        deployment.start_worker("w1")
        held: set[int] = set()
        for _ in range(300):  # the worker joins: the member keeps half of each topic
            numbers = set(assigned)
            if numbers and len(numbers) < PARTITIONS:
                held = numbers
                break
            stop.wait(0.2)
        assert held, "the worker never joined the group: " + deployment.log_of("w1")
        yield held
    finally:
        stop.set()
        thread.join(timeout=10)
        consumer.close()  # leaves the group: its partitions move to the worker


def _events(deployment: StreamsDeployment, held: set[int]) -> tuple[CaseReferred, FilingDecided]:
    """A referral on a partition the stalled member holds, and a police decision quoting
    it on one the worker holds."""
    template: CaseReferred = example_of(CaseReferred)
    number = next(n for n in range(100, 10_000)
                  if _partition(case_id_for(EXAMPLE_AGENCY, f"示例市监罚〔2024〕{n}号")
                                .encode("utf-8")) in held)
    referral = template.model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_AGENCY, f"示例市监罚〔2024〕{number}号"),
        "referral_number": f"示例市监移〔2024〕{number}号",
        "decision_number": f"示例市监罚〔2024〕{number}号",
        "agency_case_number": f"示例市监立〔2024〕{number}号"})
    police_number = next(
        f"A42118100000020240{n:05d}" for n in range(100, 100_000)
        if _partition(case_id_for(EXAMPLE_POLICE, f"A42118100000020240{n:05d}")
                      .encode("utf-8")) not in held)
    decision = example_of(FilingDecided).model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_POLICE, police_number),
        "referral_number": referral.referral_number, "agency_decision_number": None,
        "referring_unit_code": None, "police_case_number": police_number, "parties": []})
    assert _partition(referral.kafka_key()) in held
    assert _partition(decision.kafka_key()) not in held
    return referral, decision


def _turns(frontier: InputFrontier, turns: int) -> float | None:
    """Advance ``frontier`` up to ``turns`` times, a quarter second apart, until a round
    ends; its frontier (None while no round has ended)."""
    for _ in range(turns):
        frontier.advance()
        if frontier.frontier is not None:
            break
        time.sleep(0.25)
    return frontier.frontier


def _about(decision: FilingDecided, kind: type[CaseEvent]) -> Any:
    def found(events: Sequence[tuple[Any, CaseEvent]]) -> bool:
        return any(isinstance(event, kind) and getattr(event, "feedback_event_id", None)
                   == decision.event_id for _, event in events)
    return found


async def _held_by_the_worker(deployment: StreamsDeployment, decision: FilingDecided) -> None:
    """The worker read the decision and holds it (its held-until key on the changelog)."""
    held_key = HELD_KEYS.by_case + decision.case_id.encode("utf-8")
    written = await read_until(deployment.bootstrap,
                               changelog_topic(deployment.app_id, "engine-cases"),
                               lambda records: any(r.key == held_key for r in records),
                               timeout_s=60)
    assert any(r.key == held_key for r in written), deployment.log_of("w1")


@asynccontextmanager
async def _decision_held_during_a_stall(
    deployment: StreamsDeployment,
) -> AsyncIterator[tuple[CaseReferred, FilingDecided]]:
    """The referral on the stalled member's partition, the police decision quoting it on
    the worker's, and the worker holding the decision; the member leaves on exit."""
    topics = deployment.topics
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([agency_topic, police_topic])
    with stalled_member(deployment) as held:
        referral, decision = _events(deployment, held)
        await produce_events(deployment.bootstrap, deployment.registry_url, agency_topic,
                             [referral])
        await produce_events(deployment.bootstrap, deployment.registry_url, police_topic,
                             [decision])
        await _held_by_the_worker(deployment, decision)
        yield referral, decision


async def test_feedback_waits_for_a_referral_another_member_has_not_processed(
    example_county: StreamsDeployment,
) -> None:
    deployment = example_county
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    unmatched = deployment.topics.unmatched
    async with _decision_held_during_a_stall(deployment) as (referral, decision):
        # Three graces: the referral is still unprocessed, so the decision is neither
        # parked nor matched.
        parked = await read_events_until(bootstrap, registry, unmatched,
                                         _about(decision, FeedbackUnmatched),
                                         timeout_s=3 * MATCH_GRACE_S)
        assert not _about(decision, FeedbackUnmatched)(parked), deployment.log_of("w1")
    # The member leaves; the worker takes its partitions, reads the referral, and the
    # decision finds it.
    matched = await read_events_until(bootstrap, registry, deployment.topics.case_events,
                                      _about(decision, FeedbackMatched), timeout_s=90)
    [event] = [e for _, e in matched if isinstance(e, FeedbackMatched)
               and e.feedback_event_id == decision.event_id]
    assert event.case_id == referral.case_id
    parked = await read_events_until(bootstrap, registry, unmatched,
                                     _about(decision, FeedbackUnmatched), timeout_s=2)
    assert not _about(decision, FeedbackUnmatched)(parked)


async def test_judged_at_wall_time_when_the_wait_is_switched_off(
    example_county: StreamsDeployment,
) -> None:
    """The same stall with ``LIANGFA_ENGINE_FRONTIER_MAX_WAIT_S=0`` (what a frontier too
    far behind falls back to): the grace ends on the clock and the decision is parked."""
    deployment = example_county
    deployment.env["LIANGFA_ENGINE_FRONTIER_MAX_WAIT_S"] = "0"
    async with _decision_held_during_a_stall(deployment) as (_, decision):
        parked = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                         deployment.topics.unmatched,
                                         _about(decision, FeedbackUnmatched), timeout_s=60)
        assert _about(decision, FeedbackUnmatched)(parked), deployment.log_of("w1")


async def test_a_round_waits_for_every_partition_the_group_has_not_committed(
    bootstrap: str,
) -> None:
    """The frontier's own rule on a topic of its own: a partition with records the group
    never committed holds it back, an empty one does not; committing the end lets it
    pass, and only to the instant its round started."""
    topic, group = f"lf-test-frontier-{uuid.uuid4().hex[:8]}", f"lf-test-{uuid.uuid4().hex[:8]}"
    await apply_topics(bootstrap, [TopicSpec(name=topic, partitions=2)])
    producer = Producer({"bootstrap.servers": bootstrap})
    for _ in range(3):
        producer.produce(topic, b"record", partition=0)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    frontier = InputFrontier(consumer, lambda name: name == topic, lambda name: False, None,
                             interval_s=0.0)
    try:
        before = time.time()
        assert _turns(frontier, 10) is None  # partition 0's three records are unread

        consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
        assert _turns(frontier, 5) is None  # one record short

        consumer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
        reached = _turns(frontier, 20)
        assert reached is not None
        assert before <= reached <= time.time()
    finally:
        consumer.close()


async def test_a_round_waits_for_the_second_trip_of_what_it_read(bootstrap: str) -> None:
    """A record read before the round's instant may send another through the engine's own
    topics (feedback re-keyed to its referral's case): written after the round took its
    end offsets, but before the first record's offset was committed. The round waits
    for that one too."""
    run = uuid.uuid4().hex[:8]
    source, relay, group = f"lf-test-in-{run}", f"lf-test-relay-{run}", f"lf-test-{run}"
    await apply_topics(bootstrap, [TopicSpec(name=source, partitions=1),
                                   TopicSpec(name=relay, partitions=1)])
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(source, b"feedback")
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})
    frontier = InputFrontier(consumer, lambda name: name in (source, relay),
                             lambda name: name == relay, None, interval_s=0.0)
    try:
        before = time.time()
        frontier.advance()  # the round's instant and end offsets: the feedback below them
        # Processing the feedback sends it on, and only then commits it.
        producer.produce(relay, b"feedback, re-keyed")
        assert producer.flush(10) == 0
        consumer.commit(offsets=[TopicPartition(source, 0, 1)], asynchronous=False)
        assert _turns(frontier, 10) is None  # the re-keyed copy is unread

        consumer.commit(offsets=[TopicPartition(relay, 0, 1)], asynchronous=False)
        reached = _turns(frontier, 20)
        assert reached is not None
        assert before <= reached <= time.time()
    finally:
        consumer.close()
