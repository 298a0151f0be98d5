"""DLQ depth as Prometheus series: what waits on ``lf.dlq.*`` for a person to fix.

``liangfa dlq exporter`` tails every dead-letter topic from its beginning and keeps, per
topic, the dead letters that no settlement marker (:data:`~hub.dlq.records.SETTLED_HEADER`,
written by ``liangfa dlq replay`` and ``resolve``) has settled yet. Records that the
topic's retention deleted are dropped from the count at each refresh (the log start offset
moved past them): they can no longer be replayed, and the rule on the oldest pending
dead letter fires before that happens.

The dead-letter topics are small (bad rows, 30 days), so the exporter holds one small
entry per pending dead letter; it reads each record once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from hub.config import KafkaSecurity
from hub.dlq.records import DLQ_PREFIX, DeadLetterRecord, dead_letter_topics, partitions_of
from hub.kafka import make_consumer

__all__ = [
    "LAST_REFRESH",
    "OLDEST_PENDING",
    "PENDING",
    "REFRESH_ERRORS",
    "SETTLED",
    "DlqCensus",
    "DlqExporter",
]

log = logging.getLogger(__name__)

PENDING = Gauge(
    "liangfa_dlq_pending",
    "Dead letters on a dead-letter topic not yet replayed or resolved, by error type.",
    ["topic", "reason"],
)
OLDEST_PENDING = Gauge(
    "liangfa_dlq_oldest_pending_timestamp_seconds",
    "Unix time the oldest pending dead letter of a topic was written (absent: none pending).",
    ["topic"],
)
SETTLED = Gauge(
    "liangfa_dlq_settled",
    "Dead letters still on a topic that were replayed or resolved.",
    ["topic"],
)
REFRESH_ERRORS = Counter(
    "liangfa_dlq_refresh_errors_total",
    "Refreshes of the DLQ census that failed (broker unreachable or refusing).",
)
LAST_REFRESH = Gauge(
    "liangfa_dlq_last_refresh_timestamp_seconds",
    "Unix time of the last complete refresh of the DLQ census.",
)


@dataclass(slots=True)
class _Letter:
    timestamp_ms: int
    error_type: str


@dataclass(slots=True)
class DlqCensus:
    """Pending and settled dead letters per topic, fed record by record (no I/O)."""

    letters: dict[str, dict[tuple[int, int], _Letter]] = field(default_factory=dict)
    settled: dict[str, set[str]] = field(default_factory=dict)

    def add(self, record: DeadLetterRecord) -> None:
        if record.settles:
            topic = record.settles.rsplit("/", 2)[0]
            self.settled.setdefault(topic, set()).add(record.settles)
            return
        self.letters.setdefault(record.topic, {})[(record.partition, record.offset)] = _Letter(
            record.timestamp_ms, record.error_type)

    def trim(self, topic: str, partition: int, log_start: int) -> None:
        """Forget dead letters of ``topic``/``partition`` below ``log_start`` (deleted)."""
        letters = self.letters.get(topic, {})
        for key in [k for k in letters if k[0] == partition and k[1] < log_start]:
            del letters[key]

    def pending(self, topic: str) -> tuple[Tally[str], int | None, int]:
        """(pending by error type, oldest pending timestamp in ms, settled count)."""
        settled = self.settled.get(topic, set())
        by_error: Tally[str] = Tally()
        oldest: int | None = None
        done = 0
        for (partition, offset), letter in self.letters.get(topic, {}).items():
            if f"{topic}/{partition}/{offset}" in settled:
                done += 1
                continue
            by_error[letter.error_type] += 1
            oldest = letter.timestamp_ms if oldest is None else min(oldest, letter.timestamp_ms)
        return by_error, oldest, done

    def publish(self) -> None:
        """Set the gauges from the census (one refresh's consistent view)."""
        PENDING.clear()
        OLDEST_PENDING.clear()
        SETTLED.clear()
        for topic in sorted(self.letters.keys() | self.settled.keys()):
            by_error, oldest, done = self.pending(topic)
            for error_type, count in by_error.items():
                PENDING.labels(topic, error_type).set(count)
            if oldest is not None:
                OLDEST_PENDING.labels(topic).set(oldest / 1000)
            SETTLED.labels(topic).set(done)
        LAST_REFRESH.set(time.time())


@dataclass
class DlqExporter:
    """Tails the dead-letter topics into a :class:`DlqCensus` and publishes it."""

    bootstrap: str
    security: KafkaSecurity | None = None
    prefix: str = DLQ_PREFIX
    census: DlqCensus = field(default_factory=DlqCensus)
    _consumer: AIOKafkaConsumer | None = None
    _next: dict[TopicPartition, int] = field(default_factory=dict)

    async def refresh(self) -> None:
        """Read what was written since the last refresh, trim what retention deleted,
        publish. A broker error counts in ``liangfa_dlq_refresh_errors_total`` and the
        gauges keep their last values."""
        try:
            await self._refresh()
        except (KafkaError, OSError, LookupError) as exc:
            REFRESH_ERRORS.inc()
            log.warning("DLQ census refresh failed: %r", exc)
            return
        self.census.publish()

    async def _refresh(self) -> None:
        topics = await dead_letter_topics(self.bootstrap, security=self.security,
                                          prefix=self.prefix)
        partitions = await partitions_of(self.bootstrap, topics, self.security) if topics else []
        if self._consumer is None:
            self._consumer = make_consumer(self.bootstrap, group_id=None,
                                           security=self.security)
            await self._consumer.start()
        consumer = self._consumer
        if not partitions:
            return
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        todo: dict[TopicPartition, int] = {}
        for tp in partitions:
            self.census.trim(tp.topic, tp.partition, starts[tp])
            position = max(self._next.get(tp, 0), starts[tp])
            if ends[tp] > position:
                consumer.seek(tp, position)
                todo[tp] = ends[tp]
            else:
                self._next[tp] = position
                consumer.pause(tp)
        for tp in todo:
            consumer.resume(tp)
        idle = 0
        while todo and idle < 10:
            batches = await consumer.getmany(*todo, timeout_ms=500, max_records=5000)
            idle = 0 if batches else idle + 1
            for messages in batches.values():
                for message in messages:
                    self.census.add(DeadLetterRecord(
                        message.topic, message.partition, message.offset, message.timestamp,
                        message.key, message.value, tuple(message.headers or ())))
            for tp in list(todo):
                position = await consumer.position(tp)
                self._next[tp] = position
                if position >= todo[tp]:
                    todo.pop(tp)
                    consumer.pause(tp)

    async def run(self, interval_s: float, stopping: asyncio.Event) -> None:
        """Refresh every ``interval_s`` until ``stopping`` is set."""
        try:
            while not stopping.is_set():
                await self.refresh()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=interval_s)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
