"""A failed offset commit is tried again, not forgotten (``streams.engine.commits``).

The broker refuses a commit for a topic it does not know: the test commits offsets of a
topic before creating it, the way a commit fails for a moment when the coordinator moves.
Real broker, a plain consumer of a group of its own.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from hub.topics import TopicSpec, apply_topics
from streams.engine.commits import OffsetCommits

pytestmark = pytest.mark.integration


def _committed(consumer: Consumer, topic: str) -> int:
    [tp] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    return int(tp.offset)


async def test_offsets_of_a_failed_commit_are_committed_later(bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    topic, moved = f"lf-test-commit-{run}", f"lf-test-moved-{run}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lf-test-{run}",
                         "enable.auto.commit": False})
    commits = OffsetCommits(consumer, "test")
    try:
        commits.commit({(topic, 0): 5}, assigned={(topic, 0)})  # refused: no such topic
        assert not commits.retry_due  # not at once: a second later

        await apply_topics(bootstrap, [TopicSpec(name=topic, partitions=1)])
        deadline = time.monotonic() + 30
        while _committed(consumer, topic) != 5 and time.monotonic() < deadline:
            time.sleep(0.5)
            if commits.retry_due:
                commits.commit({}, assigned={(topic, 0)})
        assert _committed(consumer, topic) == 5
        assert not commits.retry_due

        # Kept offsets of a partition this worker no longer owns are not committed: its
        # new owner replays from the last commit.
        commits.commit({(moved, 0): 3}, assigned={(moved, 0)})
        await apply_topics(bootstrap, [TopicSpec(name=moved, partitions=1)])
        time.sleep(1.1)
        assert commits.retry_due
        commits.commit({(topic, 0): 7}, assigned={(topic, 0)})
        assert _committed(consumer, topic) == 7
        assert _committed(consumer, moved) < 0
        assert not commits.retry_due
    finally:
        consumer.close()


async def test_offsets_kept_for_a_partition_that_moved_away_are_forgotten(
        bootstrap: str) -> None:
    """A partition revoked while its failed commit waited, and assigned back later: its
    new owner committed further meanwhile, and the offsets kept from before must not
    move the group's position back."""
    run = uuid.uuid4().hex[:8]
    topic = f"lf-test-back-{run}"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lf-test-{run}",
                         "enable.auto.commit": False})
    commits = OffsetCommits(consumer, "test")
    try:
        commits.commit({(topic, 0): 5}, assigned={(topic, 0)})  # refused: no such topic
        await apply_topics(bootstrap, [TopicSpec(name=topic, partitions=1)])
        commits.forget({(topic, 0)})  # revoked
        consumer.commit(offsets=[TopicPartition(topic, 0, 9)], asynchronous=False)  # owner
        time.sleep(1.1)
        assert not commits.retry_due
        commits.commit({}, assigned={(topic, 0)})  # assigned back, idle
        assert _committed(consumer, topic) == 9
    finally:
        consumer.close()
