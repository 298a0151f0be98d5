"""Delivery: events to the ingest topic, bad records to the DLQ, checkpoints after acks.

Guarantees, stated precisely:

* A record is handled when its event or its dead-letter record is acknowledged
  (acks=all, idempotent producer). Events travel in per-partition record batches the
  connector builds itself (one future per batch instead of a coroutine and a future per
  record: about 7 times less producer CPU per record than aiokafka's ``send()``); an event counts
  as handled when its batch is acknowledged. The checkpoint only moves past handled
  records, in source order, so a crash or a ``kill -9`` loses nothing.
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
import struct
import sys
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from connectors.metrics import ConnectorMetrics
from connectors.source import DEAD_LETTER_RAW_BYTES, letter_raw
from hub.config import KafkaSecurity
from hub.errors import RecordRejected, RetriableError
from hub.identity import event_id_for
from hub.kafka import admin_client, make_consumer

__all__ = ["DeadLetter", "Delivery", "dead_letter_id", "key_hash", "key_hashes",
           "read_written_ids", "topic_end_offsets"]

log = logging.getLogger(__name__)


#: Characters of a reason or location a dead letter's headers carry.
_LETTER_TEXT_CHARS = 4000
#: The largest event value sent: under the producer's request limit and the broker's
#: default record limit (1 MiB each) with room for the key, the headers and the batch's
#: framing. A larger event is refused before it joins a batch, where the broker's refusal
#: would take the batch's other events with it.
MAX_EVENT_BYTES = 1_000_000

_M = 0x5BD1E995
_WORDS: dict[int, struct.Struct] = {}


def key_hash(key: bytes) -> int:
    """Kafka's murmur2 of a record key, masked positive: ``partitions[hash % count]`` is
    the partition the Java client and aiokafka's ``DefaultPartitioner`` choose.

    The same arithmetic as aiokafka's pure-Python ``murmur2`` with the key read as
    little-endian words in one ``struct`` call instead of byte by byte: about 3 times
    cheaper, and it runs once per event. Mapping processes compute it beside the key.
    """
    length = len(key)
    count = length >> 2
    words = _WORDS.get(count)
    if words is None:
        words = _WORDS[count] = struct.Struct(f"<{count}I")
    h = 0x9747B28C ^ length
    for k in words.unpack_from(key):
        k = (k * _M) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * _M) & 0xFFFFFFFF) ^ ((k * _M) & 0xFFFFFFFF)
    extra = length & 3
    if extra:
        tail = length - extra
        if extra == 3:
            h ^= key[tail + 2] << 16
        if extra >= 2:
            h ^= key[tail + 1] << 8
        h ^= key[tail]
        h = (h * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    h ^= h >> 15
    return h & 0x7FFFFFFF


#: Per lane count: (1 in every 64-bit lane, 0xFFFFFFFF in every lane, 0x7FFFFFFF in every lane).
_LANES: dict[int, tuple[int, int, int]] = {}
_LANES_LIMIT = 64


def key_hashes(keys: list[bytes]) -> list[int]:
    """:func:`key_hash` of every key, computed for all keys at once when they have the
    same length, a multiple of 4 (case ids: 36 bytes).

    Each key gets a 64-bit lane of one Python integer per 4-byte word position; murmur2's
    steps then run once per word position on all the lanes together: a product of a
    32-bit lane value and the 31-bit constant stays inside its 64-bit lane, and every
    shift is masked back to 32 bits per lane, so each lane holds exactly what
    :func:`key_hash` computes for its key (property test against it). About 5 times
    cheaper per key than one call per key on a chunk's 256 keys
    (``connectors/PERFORMANCE.md``, eighth pass). Anything else goes key by key.
    """
    count = len(keys)
    lengths = set(map(len, keys))
    if count < 8 or len(lengths) != 1:
        return [key_hash(key) for key in keys]
    length = lengths.pop()
    if length & 3:
        return [key_hash(key) for key in keys]
    lanes = _LANES.get(count)
    if lanes is None:
        ones = int.from_bytes(b"\1\0\0\0\0\0\0\0" * count, "little")
        lanes = (ones, 0xFFFFFFFF * ones, 0x7FFFFFFF * ones)
        if len(_LANES) < _LANES_LIMIT:
            _LANES[count] = lanes
    ones, mask, positive = lanes
    per_key = length >> 2
    words = struct.unpack(f"<{count * per_key}I", b"".join(keys))
    order = sys.byteorder  # array("Q") holds native-order 64-bit lanes
    h = (0x9747B28C ^ length) * ones
    for index in range(per_key):
        k = (int.from_bytes(array("Q", words[index::per_key]), order) * _M) & mask
        k ^= (k >> 24) & mask
        h = ((h * _M) & mask) ^ ((k * _M) & mask)
    h ^= (h >> 13) & mask
    h = (h * _M) & mask
    h ^= (h >> 15) & mask
    h &= positive
    hashes = array("Q")
    hashes.frombytes(h.to_bytes(8 * count, order))
    return hashes.tolist()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a record was refused, as the DLQ headers carry it."""

    error_type: str
    reason: str
    field: str = ""
    value: str = ""


def _header(text: str) -> bytes:
    """A dead letter's header text: cut to a bound, and a lone surrogate (the very thing
    some letters report) written as its escape instead of failing the letter."""
    return text[:_LETTER_TEXT_CHARS].encode("utf-8", "backslashreplace")


def dead_letter_id(connector_id: str, reference: str, raw: bytes) -> str:
    """Deterministic id of a dead letter: the same bad row gives the same id."""
    return event_id_for(f"dlq:{connector_id}", reference, hashlib.sha256(raw).hexdigest())


@dataclass(slots=True)
class _Batch:
    """Events for one partition, appended to one record batch and sent as one request.

    aiokafka's per-message ``send()`` costs a coroutine, a partitioner call and a future
    per record; a batch costs them once. ``future`` is set once the batch is submitted.
    """

    builder: Any
    partition: int
    count: int = 0
    future: asyncio.Future[Any] | None = None


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Any] | None
    position: dict[str, Any]
    topic: str
    reason: str | None  # None for an event, the error type for a dead letter
    batch: _Batch | None = None
    index: int = 0  # the record's place in its batch: offset = batch base offset + index


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
    #: Open batches are submitted once this many events wait or the oldest waited this
    #: long: the producer's linger, applied to batches the connector builds itself.
    submit_every_records: int = 2048
    linger_seconds: float = 0.02
    _partitions: list[int] = field(default_factory=list)
    _open: dict[int, _Batch] = field(default_factory=dict)
    _unsubmitted: int = 0
    _opened_at: float = 0.0

    async def start(self) -> None:
        """Learn the event topic's partitions (events are batched per partition)."""
        try:
            partitions = await self.producer.partitions_for(self.topic)
        except KafkaError as exc:
            raise RetriableError(f"no metadata for {self.topic}: {exc!r}") from exc
        self._partitions = sorted(partitions)

    async def send_event(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]],
                         event_id: str, position: dict[str, Any],
                         hashed: int | None = None) -> None:
        """Queue one event (skipped when a previous run already wrote it).

        The event goes to the partition the producer's default partitioner gives its key
        (murmur2, as every other hub producer; ``hashed`` is :func:`key_hash` of the key
        when the caller has it already), in a batch submitted when it is full or by
        :meth:`submit`; it counts as handled once that batch is acknowledged.
        """
        if event_id in self.already_written:
            self.already_written.discard(event_id)
            self._pending.append(_Pending(None, position, self.topic, None))
            return
        if len(value) > MAX_EVENT_BYTES:
            # Never sendable, so never retried: the caller dead-letters the record.
            raise RecordRejected(
                f"the event is {len(value):,} bytes, over the {MAX_EVENT_BYTES:,} an event "
                "may be", field="record", value=f"{len(value):,} bytes",
                error_type="record_too_large")
        if not self._partitions:
            await self.start()
        partitions = self._partitions
        partition = partitions[(key_hash(key) if hashed is None else hashed)
                               % len(partitions)]
        batch = self._open.get(partition)
        if batch is None:
            batch = self._new_batch(partition)
        if batch.builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            await self._submit_batch(batch)
            batch = self._new_batch(partition)
            if batch.builder.append(key=key, value=value, timestamp=None,
                                    headers=headers) is None:
                # Larger than a batch may be: send it on its own; the broker decides.
                self._open.pop(partition, None)
                try:
                    future = await self.producer.send(self.topic, value, key=key,
                                                      headers=headers, partition=partition)
                except MessageSizeTooLargeError as exc:
                    # Never sendable, so never retried: the caller dead-letters the record.
                    raise RecordRejected(
                        f"the event is {len(value):,} bytes, over what the producer may "
                        f"send: {exc}", field="record", value=f"{len(value):,} bytes",
                        error_type="record_too_large") from exc
                except KafkaError as exc:
                    raise RetriableError(f"send to {self.topic} failed: {exc!r}") from exc
                self._pending.append(_Pending(future, position, self.topic, None))
                return
        self._pending.append(_Pending(None, position, self.topic, None, batch, batch.count))
        batch.count += 1
        self._unsubmitted += 1
        if self._unsubmitted >= self.submit_every_records or \
                time.monotonic() - self._opened_at >= self.linger_seconds:
            await self.submit()

    def _new_batch(self, partition: int) -> _Batch:
        if not self._open:
            self._opened_at = time.monotonic()
        batch = self._open[partition] = _Batch(self.producer.create_batch(), partition)
        return batch

    async def _submit_batch(self, batch: _Batch) -> None:
        self._open.pop(batch.partition, None)
        self._unsubmitted -= batch.count
        if batch.count == 0:
            return
        try:
            batch.future = await self.producer.send_batch(batch.builder, self.topic,
                                                          partition=batch.partition)
        except KafkaError as exc:
            raise RetriableError(f"send to {self.topic} failed: {exc!r}") from exc

    async def submit(self) -> None:
        """Submit every open batch."""
        for batch in list(self._open.values()):
            await self._submit_batch(batch)

    async def send_dead_letter(self, raw: bytes, problem: DeadLetter, reference: str,
                               location: dict[str, str], position: dict[str, Any]) -> None:
        """Dead-letter the original bytes with headers a clerk can act on.

        The bytes are cut to :data:`DEAD_LETTER_RAW_BYTES` (``dlq.raw_bytes`` says how
        many there were) and the texts too: a letter must always fit the producer's
        limit. One that still does not is logged and counted, not retried: a retry would
        fail the same way on every restart, and the connector would never move on.
        """
        letter_id = dead_letter_id(self.connector_id, reference, raw)
        if letter_id in self.already_written:
            self.already_written.discard(letter_id)
            self._pending.append(_Pending(None, position, self.dlq_topic, problem.error_type))
            return
        headers = [
            ("dlq.id", letter_id.encode()),
            ("error.type", _header(problem.error_type)),
            ("error.reason", _header(problem.reason)),
            ("error.field", _header(problem.field)),
            ("error.value", _header(problem.value[:1000])),
            ("source.reference", _header(reference)),
            ("connector.id", self.connector_id.encode()),
            ("unit", self.unit.encode()),
            *((name, _header(text)) for name, text in location.items()),
        ]
        if len(raw) > DEAD_LETTER_RAW_BYTES:
            headers.append(("dlq.raw_bytes", str(len(raw)).encode()))
        try:
            future = await self.producer.send(self.dlq_topic, letter_raw(raw), key=None,
                                              headers=headers)
        except MessageSizeTooLargeError as exc:
            log.error(  # noqa: TRY400 - the reason says it all, a traceback would not
                "connector %s: the dead letter of %s (%s) is too large to send, counted and "
                "skipped: %s", self.connector_id, reference, problem.error_type, exc)
            self._pending.append(_Pending(None, position, self.dlq_topic, problem.error_type))
            return
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
            if head.batch is not None:
                future = head.batch.future
                if future is None:
                    break  # its batch is not submitted yet
            if future is not None:
                if not future.done():
                    break
                exc = future.exception()
                if isinstance(exc, MessageSizeTooLargeError):
                    # The broker's limit gives the same answer on every retry: logged and
                    # counted, and the connector goes on.
                    log.error("connector %s: the broker refused a record for %s as too "
                              "large (position %s): %s", self.connector_id, head.topic,
                              head.position, exc)
                    self.metrics.rejected("record_too_large")
                elif exc is not None:
                    raise RetriableError(f"delivery to {head.topic} failed: {exc!r}") from exc
                else:
                    metadata = future.result()
                    offset_key = f"{metadata.topic}:{metadata.partition}"
                    end = metadata.offset + head.index + 1
                    if end > self.topic_offsets.get(offset_key, 0):
                        self.topic_offsets[offset_key] = end
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
        """Submit the open batches, wait for every in-flight record, then collect."""
        await self.submit()
        await self.producer.flush()
        futures = {id(f): f for p in self._pending
                   if (f := p.batch.future if p.batch is not None else p.future) is not None}
        if futures:
            await asyncio.wait(futures.values())
        self.collect()

    async def wait_for_head(self) -> None:
        """Block until the oldest in-flight send settles (bounds memory of the queue)."""
        for pending in self._pending:
            if pending.batch is not None and pending.batch.future is None:
                await self.submit()
            future = pending.batch.future if pending.batch is not None else pending.future
            if future is not None and not future.done():
                await asyncio.wait([future])
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
