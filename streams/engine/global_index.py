"""The matching indexes every worker needs in full, replicated from two compacted topics.

Police feedback quotes the police's own case number and the referral letter's number,
not the hub's case id, so it arrives on another case's partition than its referral. The
indexes of referrals (``engine-referrals``: ``r|…`` referral records, ``p|…`` police case
numbers already linked) and of feedback parked for a person (``engine-pending``, by event
id) are therefore global: whoever indexes a referral writes it to the topic (awaited
before its offsets are committed) and applies it locally at once; every worker tails
both topics from the beginning into memory. A worker waits until it has read both to
their end before it processes anything, so a restart never matches against a partial
index. As with Kafka Streams' global tables, a feedback handled on one worker a moment after
its referral was indexed on another may not see it yet and goes to a person instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from hub.config import KafkaSecurity
from hub.kafka import make_consumer
from hub.rules import MatchingParameters
from streams.matching_logic import FeedbackMatcher, ReferralRecord

__all__ = ["GlobalIndex"]

log = logging.getLogger(__name__)


class GlobalIndex:
    """The referral matcher and the parked-feedback entries, fed by their topics."""

    def __init__(self, referrals_topic: str, pending_topic: str,
                 parameters: MatchingParameters) -> None:
        self.referrals_topic = referrals_topic
        self.pending_topic = pending_topic
        self.matcher = FeedbackMatcher(parameters)
        self.pending: dict[str, dict[str, Any]] = {}
        #: A digest of each referral entry applied (what :meth:`knows` compares): the
        #: matcher holds the records themselves, so keeping every entry's JSON dict too
        #: doubled the index's memory, which grows with the cases the hub has seen.
        self._referral_keys: dict[str, bytes] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def apply(self, topic: str, key: str, value: dict[str, Any] | None) -> None:
        """Apply one index entry (from the topic, or written locally a moment ago)."""
        if value is None:
            return
        if topic == self.pending_topic:
            # Read back from the topic, an entry this worker wrote (one dict under the
            # feedback's and the unmatched event's ids) stays one object, not two copies.
            if self.pending.get(key) != value:
                self.pending[key] = value
            return
        digest = _digest(value)
        if self._referral_keys.get(key) == digest:
            return
        self._referral_keys[key] = digest
        if key.startswith("r|"):
            self.matcher.add(ReferralRecord.from_dict(value))
        elif key.startswith("p|"):
            self.matcher.link_police_case(value["unit"], value["number"], value["case_id"])

    def knows(self, key: str, value: dict[str, Any]) -> bool:
        """True when the referral index already holds exactly this entry."""
        return self._referral_keys.get(key) == _digest(value)

    async def start(self, bootstrap: str, security: KafkaSecurity | None) -> None:
        """Read both topics to their current end, then keep tailing them in the background."""
        consumer = make_consumer(bootstrap, group_id=None, security=security,
                                 isolation_level="read_uncommitted")
        await consumer.start()
        self._consumer = consumer
        partitions = [
            TopicPartition(topic, number)
            for topic in (self.referrals_topic, self.pending_topic)
            for number in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                self._apply_records(tp, records)
                if records and records[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
        log.info("matching index loaded: %d referrals, %d parked feedback",
                 len(self.matcher), len(self.pending))
        self._task = asyncio.create_task(self._tail(consumer), name="global-index")

    def _apply_records(self, tp: TopicPartition, records: list[Any]) -> None:
        for record in records:
            if record.key is None or record.value is None:
                continue
            self.apply(tp.topic, record.key.decode("utf-8"), orjson.loads(record.value))

    async def _tail(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                self._apply_records(tp, records)

    async def stop(self) -> None:
        """Stop tailing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


def _digest(value: dict[str, Any]) -> bytes:
    """16 bytes that differ when the entries differ (canonical JSON, sorted keys)."""
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS),
                           digest_size=16).digest()
