"""Delivery: events to the ingest topic, bad records to the DLQ, checkpoints after acks.

Guarantees, stated precisely:

* A record is handled when its event or its dead-letter record is acknowledged
  (acks=all, idempotent producer). The checkpoint only moves past handled records, in
  source order, so a crash or a ``kill -9`` loses nothing.
* Records acknowledged after the last checkpoint but before a crash are *not* sent
  again: on start the connector reads its topics from the offsets stored with the
  checkpoint and skips every record whose id (``ce_id`` header for events,
  ``dlq.id`` for dead letters) is already there. So a restart adds no copy to the topic.
  The one window left is a second writer (another process with the same config running
  at the same time), which "one process per config" rules out; deterministic event ids
  let downstream deduplication absorb even that.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from connectors.metrics import ConnectorMetrics
from hub.config import KafkaSecurity
from hub.errors import RetriableError
from hub.identity import event_id_for
from hub.kafka import admin_client, make_consumer

__all__ = ["DeadLetter", "Delivery", "dead_letter_id", "read_written_ids", "topic_end_offsets"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a record was refused, as the DLQ headers carry it."""

    error_type: str
    reason: str
    field: str = ""
    value: str = ""


def dead_letter_id(connector_id: str, reference: str, raw: bytes) -> str:
    """Deterministic id of a dead letter: the same bad row gives the same id."""
    return event_id_for(f"dlq:{connector_id}", reference, hashlib.sha256(raw).hexdigest())


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Any] | None
    position: dict[str, Any]
    topic: str
    reason: str | None  # None for an event, the error type for a dead letter


@dataclass
class Delivery:
    """Sends in source order and reports the position up to which everything is acked."""

    producer: AIOKafkaProducer
    topic: str
    dlq_topic: str
    connector_id: str
    unit: str
    metrics: ConnectorMetrics
    already_written: set[str] = field(default_factory=set)
    topic_offsets: dict[str, int] = field(default_factory=dict)
    _pending: deque[_Pending] = field(default_factory=deque)
    acked_position: dict[str, Any] | None = None
    handled_since_checkpoint: int = 0

    async def send_event(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]],
                         event_id: str, position: dict[str, Any]) -> None:
        """Send one event (skipped when a previous run already wrote it)."""
        if event_id in self.already_written:
            self.already_written.discard(event_id)
            self._pending.append(_Pending(None, position, self.topic, None))
            return
        try:
            future = await self.producer.send(self.topic, value, key=key, headers=headers)
        except KafkaError as exc:
            raise RetriableError(f"send to {self.topic} failed: {exc!r}") from exc
        self._pending.append(_Pending(future, position, self.topic, None))

    async def send_dead_letter(self, raw: bytes, problem: DeadLetter, reference: str,
                               location: dict[str, str], position: dict[str, Any]) -> None:
        """Dead-letter the original bytes with headers a clerk can act on."""
        letter_id = dead_letter_id(self.connector_id, reference, raw)
        if letter_id in self.already_written:
            self.already_written.discard(letter_id)
            self._pending.append(_Pending(None, position, self.dlq_topic, problem.error_type))
            return
        headers = [
            ("dlq.id", letter_id.encode()),
            ("error.type", problem.error_type.encode()),
            ("error.reason", problem.reason.encode()),
            ("error.field", problem.field.encode()),
            ("error.value", problem.value[:1000].encode()),
            ("source.reference", reference.encode()),
            ("connector.id", self.connector_id.encode()),
            ("unit", self.unit.encode()),
            *((name, text.encode()) for name, text in location.items()),
        ]
        try:
            future = await self.producer.send(self.dlq_topic, raw, key=None, headers=headers)
        except KafkaError as exc:
            raise RetriableError(f"send to {self.dlq_topic} failed: {exc!r}") from exc
        self._pending.append(_Pending(future, position, self.dlq_topic, problem.error_type))

    def mark(self, position: dict[str, Any]) -> None:
        """A position-only step (end of a file): handled as soon as everything before is."""
        self._pending.append(_Pending(None, position, "", None))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def collect(self) -> int:
        """Advance past every acknowledged record at the front; raise on a failed send."""
        handled = 0
        produced = 0
        pending = self._pending
        while pending:
            head = pending[0]
            future = head.future
            if future is not None:
                if not future.done():
                    break
                exc = future.exception()
                if exc is not None:
                    raise RetriableError(f"delivery to {head.topic} failed: {exc!r}") from exc
                metadata = future.result()
                offset_key = f"{metadata.topic}:{metadata.partition}"
                if metadata.offset + 1 > self.topic_offsets.get(offset_key, 0):
                    self.topic_offsets[offset_key] = metadata.offset + 1
                if head.reason is None:
                    produced += 1
                else:
                    self.metrics.rejected(head.reason)
            elif head.reason is not None:
                self.metrics.rejected(head.reason)
            elif head.topic:
                produced += 1
            pending.popleft()
            if self.acked_position is None:
                self.acked_position = dict(head.position)
            else:
                self.acked_position.update(head.position)
            handled += 1
        if produced:
            self.metrics.produced.inc(produced)
        self.handled_since_checkpoint += handled
        return handled

    async def drain(self) -> None:
        """Wait for every in-flight record, then collect."""
        await self.producer.flush()
        futures = [p.future for p in self._pending if p.future is not None]
        if futures:
            await asyncio.wait(futures)
        self.collect()

    async def wait_for_head(self) -> None:
        """Block until the oldest in-flight send settles (bounds memory of the queue)."""
        for pending in self._pending:
            if pending.future is not None and not pending.future.done():
                await asyncio.wait([pending.future])
                return


async def _partitions(bootstrap: str, topics: list[str],
                      security: KafkaSecurity | None) -> list[TopicPartition]:
    """Partitions of ``topics`` from the broker (the consumer's cache knows only assigned ones)."""
    admin = admin_client(bootstrap, security=security)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(d["topic"], p["partition"]) for d in described
            for p in sorted(d.get("partitions") or (), key=lambda p: p["partition"])]


async def topic_end_offsets(bootstrap: str, topics: list[str],
                            security: KafkaSecurity | None = None) -> dict[str, int]:
    """``topic:partition`` → end offset, for the first checkpoint of a new connector."""
    consumer = make_consumer(bootstrap, group_id=None, security=security)
    await consumer.start()
    try:
        partitions = await _partitions(bootstrap, topics, security)
        ends = await consumer.end_offsets(partitions)
        return {f"{tp.topic}:{tp.partition}": int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def read_written_ids(bootstrap: str, topics: list[str], since: dict[str, int],
                           security: KafkaSecurity | None = None,
                           ) -> tuple[set[str], dict[str, int]]:
    """Ids of records written after ``since`` (``ce_id`` / ``dlq.id`` headers) and the ends.

    Read with ``read_uncommitted`` is not needed: the producer is not transactional.
    """
    consumer = make_consumer(bootstrap, group_id=None, isolation_level="read_uncommitted",
                             security=security)
    await consumer.start()
    found: set[str] = set()
    try:
        partitions = await _partitions(bootstrap, topics, security)
        if not partitions:
            return found, {}
        ends = await consumer.end_offsets(partitions)
        todo = {}
        consumer.assign(partitions)
        for tp in partitions:
            start = since.get(f"{tp.topic}:{tp.partition}", 0)
            if ends[tp] > start:
                consumer.seek(tp, start)
                todo[tp] = ends[tp]
        for tp in partitions:
            if tp not in todo:
                consumer.pause(tp)
        while todo:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for messages in batches.values():
                for message in messages:
                    for name, value in message.headers or ():
                        if name in ("ce_id", "dlq.id"):
                            found.add(value.decode())
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    todo.pop(tp)
                    consumer.pause(tp)
        log.info("%d records already written after the checkpoint will not be re-sent",
                 len(found))
        return found, {f"{tp.topic}:{tp.partition}": int(o) for tp, o in ends.items()}
    finally:
        await consumer.stop()
