"""The matching indexes every worker needs in full, replicated from two compacted topics.

Police feedback quotes the police's own case number and the referral letter's number,
not the hub's case id, so it arrives on another case's partition than its referral. The
indexes of referrals (``engine-referrals``: ``r|…`` referral records, ``p|…`` police case
numbers already linked) and of feedback parked for a person (``engine-pending``, by event
id) are therefore global: whoever indexes a referral writes it to the topic (awaited
before its offsets are committed) and applies it locally at once; every worker tails
both topics from the beginning into memory (the worker's loop reads what is new before
each batch, see :meth:`GlobalIndex.poll`). A worker waits until it has read both to their
end before it processes anything, so a restart never matches against a partial index.
As with Kafka Streams' global tables, a feedback handled on one worker a moment after its
referral was indexed on another may not see it yet and goes to a person instead.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from hub.config import KafkaSecurity
from hub.kafka import make_engine_consumer
from hub.rules import MatchingParameters
from streams.matching_logic import FeedbackMatcher, ReferralRecord

__all__ = ["GlobalIndex"]

log = logging.getLogger(__name__)

#: Index records applied per read (recovery reads until the topics' ends).
_READ_AT_ONCE = 10_000


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
        self._consumer: Consumer | None = None

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

    def start(self, bootstrap: str, security: KafkaSecurity | None,
              client_id: str = "liangfa") -> None:
        """Read both topics to their current end; :meth:`poll` then keeps up with them."""
        consumer = make_engine_consumer(bootstrap, group_id=None, security=security,
                                        client_id=f"{client_id}-index",
                                        **{"isolation.level": "read_uncommitted"})
        self._consumer = consumer
        metadata = consumer.list_topics(timeout=30)
        partitions: list[TopicPartition] = []
        for topic in (self.referrals_topic, self.pending_topic):
            known = metadata.topics.get(topic)
            numbers = sorted(known.partitions) if known is not None and known.partitions else [0]
            partitions += [TopicPartition(topic, number, OFFSET_BEGINNING)
                           for number in numbers]
        remaining: dict[tuple[str, int], int] = {}
        for tp in partitions:
            _, end = consumer.get_watermark_offsets(tp, timeout=30)
            if end > 0:
                remaining[(tp.topic, tp.partition)] = end
        consumer.assign(partitions)
        position = dict.fromkeys(remaining, 0)
        while remaining:
            # No more than what is left (librdkafka waits for the whole count).
            wanted = sum(remaining[place] - position[place] for place in remaining)
            for record in self._read(consumer, timeout_s=0.5,
                                     count=max(1, min(wanted, _READ_AT_ONCE))):
                name, number, offset = record.topic(), record.partition(), record.offset()
                if name is None or number is None or offset is None:
                    continue
                last = remaining.get((name, number))
                if last is None:
                    continue
                position[(name, number)] = offset + 1
                if offset >= last - 1:
                    del remaining[(name, number)]
        log.info("matching index loaded: %d referrals, %d parked feedback",
                 len(self.matcher), len(self.pending))

    def poll(self) -> None:
        """Apply what other workers (and this one) wrote since the last call; no waiting."""
        if self._consumer is not None:
            while len(self._read(self._consumer, timeout_s=0.0)) >= _READ_AT_ONCE:
                pass

    def _read(self, consumer: Consumer, timeout_s: float,
              count: int = _READ_AT_ONCE) -> list[Message]:
        records = consumer.consume(num_messages=count, timeout=timeout_s)
        for record in records:
            if record.error() is not None:
                log.warning("matching index: %s", record.error())
                continue
            key, value = record.key(), record.value()
            if key is None or value is None:
                continue
            topic = record.topic()
            if topic is not None:
                self.apply(topic, key.decode("utf-8"), orjson.loads(value))
        return records

    def stop(self) -> None:
        """Stop reading the topics."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def _digest(value: dict[str, Any]) -> bytes:
    """16 bytes that differ when the entries differ (canonical JSON, sorted keys)."""
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS),
                           digest_size=16).digest()
