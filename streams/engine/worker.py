"""The engine's main loop: fetch a batch, fold it, await every ack, then commit.

Order per batch (why nothing is lost on SIGKILL and nothing is emitted twice):

1. ``getmany`` across every assigned partition; each record decoded once;
2. normalize (ingest topics), the referral index (before any feedback of the batch is
   matched), then the case processors record by record, then the statistics feed;
3. each touched case evaluated once, its document staged once;
4. await the acknowledgements of all outputs (idempotent producer, pipelined ``send``);
5. only then send the staged state to the changelogs and await those acks (a state that
   says "seen" is never durable before the outputs it stands for);
6. apply the state to RocksDB, then commit the batch's offsets.

A crash anywhere before 6 replays the batch; the seen ids (in the state, written only at
5) and deterministic event and alert ids make the replay harmless.

Consumer-group rebalances run while the loop may be mid-batch, so a lock serialises
batches, sweeps and (re)assignment: a revoked partition's batch finishes and commits
before its store closes, and a newly assigned partition's store replays its changelog
before its first record is processed.

Subscription is by pattern (every ``lf.ingest.*`` topic plus the fixed topics), with
metadata refreshed every :data:`METADATA_MAX_AGE_MS`: an ingest topic created after the
worker started (a new unit or connector) is found within that time, the group rebalances
and range assignment hands partition *p* of the new topic to the owner of partition *p*
of the others (ingest topics have the engine's partition count, like every
co-partitioned topic). The normalize source-unit check reads the unit from the topic's
name, so it covers a new topic as it does the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from hub.calendar import unknown_years_seen
from hub.kafka import make_consumer, make_producer
from hub.registry import SchemaRegistryClient
from hub.rules import load_rule_set
from hub.serde import AvroSerde
from hub.units import UnitRegistry, load_unit_registry
from streams._events import PROCESSED_HEADER
from streams.engine.batch import Batch
from streams.engine.case_document import MAX_DOCUMENT_BYTES
from streams.engine.global_index import GlobalIndex
from streams.engine.outputs import Outputs
from streams.engine.processors import Processors
from streams.engine.state import PartitionStore
from streams.metrics import CALENDAR_UNKNOWN_YEARS, CONSUMER_LAG, RESTORE_SECONDS
from streams.safety import RawRecord
from streams.topics import changelog_topic

__all__ = ["METADATA_MAX_AGE_MS", "StreamWorker", "subscription_pattern"]

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_MS = 200
#: The collector's thresholds (CPython's default: 700, 10, 10): a batch allocates tens of
#: thousands of short-lived objects, so the youngest generation is collected less often;
#: the older ones keep their default pace (cyclic garbage reaching them is freed as
#: often as before). ``LIANGFA_ENGINE_GC_THRESHOLDS=a,b,c`` overrides them.
_GC_THRESHOLDS = (20_000, 10, 10)


def _gc_thresholds() -> tuple[int, int, int]:
    value = os.environ.get("LIANGFA_ENGINE_GC_THRESHOLDS", "").strip()
    if not value:
        return _GC_THRESHOLDS
    first, second, third = (int(part) for part in value.split(","))
    return first, second, third
_MAX_POLL_RECORDS = 5000
#: How often the consumer refreshes topic metadata, i.e. how soon a new ingest topic is
#: subscribed (Kafka's default is 5 minutes). ``LIANGFA_ENGINE_METADATA_MAX_AGE_MS``
#: overrides it (tests use a few seconds).
METADATA_MAX_AGE_MS = 30_000
#: The producer's request limit; state documents stay under :data:`MAX_DOCUMENT_BYTES`.
#: ``LIANGFA_ENGINE_MAX_DOCUMENT_BYTES`` lowers the document limit (tests).
_MAX_REQUEST_BYTES = 4 * 1024 * 1024


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def subscription_pattern(topics: Any) -> re.Pattern[str]:
    """Every ingest topic (now or later) and the engine's fixed input topics."""
    ingest = topics.ingest_pattern.pattern.removeprefix("^").removesuffix("$")
    fixed = [re.escape(name) for name in (topics.case_events, topics.alerts,
                                          topics.view_actions, topics.stats_feed)]
    return re.compile(rf"^(?:{ingest}|{'|'.join(fixed)})$")


def _headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """A record's headers as ``(str, bytes)`` pairs (aiokafka gives those already,
    except a null header value, which becomes ``b""``)."""
    if not headers:
        return ()
    for _, value in headers:  # a plain loop: all() over a generator showed in profiles
        if value is None:
            return tuple((str(name), bytes(value or b"")) for name, value in headers)
    return tuple(headers)


def _processed(headers: Any) -> bool:
    """Whether a record carries :data:`PROCESSED_HEADER` (checked before decoding)."""
    if headers:
        for name, _ in headers:
            if name == PROCESSED_HEADER:
                return True
    return False


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: StreamWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.worker.lock:
            self.worker.release(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self.worker.lock:
            await self.worker.acquire(assigned)


class StreamWorker:
    """One worker process of the engine (see the module docstring)."""

    def __init__(self, settings: Any, worker_id: str, data_dir: Path,
                 ingest_topics: list[str]) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.data_dir = data_dir
        self.ingest_topics = ingest_topics
        self.topics = settings.topics
        self.lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.security = settings.hub.kafka_security
        self.processors: Processors | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self._next_sweep = 0.0

    def _store(self, name: str, partition: int) -> PartitionStore:
        return PartitionStore(self.data_dir / f"{name}-{partition}",
                              changelog_topic(self.settings.app_id, name), partition)

    def _is_case_topic(self, topic: str) -> bool:
        """Co-partitioned with the case stores: an ingest topic or a fixed case topic."""
        topics = self.topics
        return (topic in (topics.case_events, topics.alerts, topics.view_actions)
                or topics.ingest_unit(topic) is not None)

    def release(self, revoked: list[TopicPartition]) -> None:
        """Close the stores of partitions that moved away (their last batch committed)."""
        for tp in revoked:  # an owner's lag, not a stale figure of a partition moved away
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(tp.topic, str(tp.partition))
        processors = self.processors
        if processors is None:
            return
        kept = {tp.partition for tp in self._assignment() if tp not in set(revoked)
                and self._is_case_topic(tp.topic)}
        for tp in revoked:
            statistics = processors.statistics
            if tp.topic == self.topics.stats_feed and statistics.store is not None:
                statistics.store.close()
                statistics.store = None
                statistics.stats = None
            elif tp.partition in processors.case_stores and tp.partition not in kept:
                processors.case_stores.pop(tp.partition).close()
                processors.forget_partition(tp.partition)
                processors.due.drop_partition(tp.partition)
                processors.held.drop_partition(tp.partition)

    def _assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment()) if self.consumer is not None else set()

    async def acquire(self, assigned: list[TopicPartition]) -> None:
        """Open and recover the stores of newly assigned partitions (changelog replay)."""
        processors = self.processors
        if processors is None or self.consumer is None:
            return
        started = time.monotonic()
        for tp in sorted(assigned):
            if tp.topic == self.topics.stats_feed:
                if processors.statistics.store is None:
                    store = self._store("engine-stats", 0)
                    await store.recover(self.settings.bootstrap, self.security)
                    processors.statistics.store = store
                    resume = processors.statistics.load()
                    self.consumer.seek(tp, resume)
                continue
            # An ingest topic with more partitions than the case topics: its extra
            # partitions have no case store (their events take the two-hop path).
            if (tp.partition not in processors.case_stores
                    and tp.partition in processors.case_partitions):
                store = self._store("engine-cases", tp.partition)
                await store.recover(self.settings.bootstrap, self.security)
                processors.case_stores[tp.partition] = store
                processors.forget_partition(tp.partition)
                processors.index_due_times(tp.partition)
        # What recovery loaded (the matching index, kept documents, rules) lives as long
        # as the assignment: out of the collector's sight, full collections stop scanning
        # it again and again (they took 30-40% of the CPU with a large index).
        gc.collect()
        gc.freeze()
        RESTORE_SECONDS.set(time.monotonic() - started)
        log.info("%s: assigned %d partitions, stores ready in %.1f s", self.worker_id,
                 len(assigned), time.monotonic() - started)

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT; state and offsets are flushed on the way out."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        # A batch allocates tens of thousands of short-lived objects (decoded events,
        # outputs): collecting the youngest generation every 700 allocations (CPython's
        # default) ran the collector hundreds of times a batch.
        gc.set_threshold(*_gc_thresholds())
        settings = self.settings
        rules = load_rule_set()
        units = (load_unit_registry(settings.units_file, roles=rules.unit_roles,
                                    violation_types=rules.violation_types)
                 if settings.units_file else UnitRegistry([]))
        producer: AIOKafkaProducer = make_producer(
            settings.bootstrap, security=self.security, client_id=f"{self.worker_id}",
            linger_ms=10, max_request_size=_MAX_REQUEST_BYTES)
        index = GlobalIndex(changelog_topic(settings.app_id, "engine-referrals"),
                            changelog_topic(settings.app_id, "engine-pending"),
                            rules.matching)
        async with SchemaRegistryClient(settings.hub.registry_url,
                                        auth=settings.hub.registry_auth) as registry:
            serde = AvroSerde(registry)
            await producer.start()
            try:
                await index.start(settings.bootstrap, self.security)
                self.processors = Processors(
                    topics=self.topics, rules=rules, units=units,
                    hub_unit_code=settings.hub_unit_code, registry=registry, serde=serde,
                    outputs=Outputs(producer, serde), index=index,
                    max_document_bytes=_env_int("LIANGFA_ENGINE_MAX_DOCUMENT_BYTES",
                                                MAX_DOCUMENT_BYTES))
                self.processors.case_partitions = sorted(
                    await producer.partitions_for(self.topics.case_events))
                await self._consume(producer)
            finally:
                await index.stop()
                await producer.stop()
                for store in self.processors.case_stores.values() if self.processors else ():
                    store.close()

    async def _consume(self, producer: AIOKafkaProducer) -> None:
        settings = self.settings
        consumer = make_consumer(
            settings.bootstrap, group_id=settings.app_id, security=self.security,
            client_id=self.worker_id, max_poll_records=_MAX_POLL_RECORDS,
            # Range assignment gives one worker the same partition number of every
            # co-partitioned topic (the state of partition p is one store).
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(max(settings.session_timeout_s / 5, 1.0) * 1000),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            metadata_max_age_ms=_env_int("LIANGFA_ENGINE_METADATA_MAX_AGE_MS",
                                         METADATA_MAX_AGE_MS),
        )
        self.consumer = consumer
        await consumer.start()
        consumer.subscribe(pattern=subscription_pattern(self.topics).pattern,
                           listener=_Rebalance(self))
        lag_at = 0.0
        try:
            while not self.stopping.is_set():
                batches = await consumer.getmany(timeout_ms=_FETCH_TIMEOUT_MS)
                async with self.lock:
                    if batches:
                        await self._process(producer, batches)
                    if time.monotonic() >= self._next_sweep:
                        await self._sweep(producer)
                    await self._retry_held(producer)
                    await self._rematch_pending(producer)
                if time.monotonic() - lag_at > 15:
                    lag_at = time.monotonic()
                    await self._report_lag()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _process(self, producer: AIOKafkaProducer,
                       batches: dict[TopicPartition, list[Any]]) -> None:
        processors = self.processors
        consumer = self.consumer
        assert processors is not None and consumer is not None
        assigned = self._assignment()
        topics = self.topics
        batch = Batch()
        offsets: dict[TopicPartition, int] = {}
        decoded: list[tuple[RawRecord, Any]] = []
        feed: list[RawRecord] = []
        for tp, records in batches.items():
            if tp not in assigned or not records:
                continue
            offsets[tp] = records[-1].offset + 1
            is_ingest = topics.ingest_unit(tp.topic) is not None
            is_case_events = tp.topic == topics.case_events
            for message in records:
                if is_case_events and _processed(message.headers):
                    continue  # handled in one hop by the task that normalized it
                record = RawRecord(tp.topic, tp.partition, message.offset, message.key,
                                   message.value, _headers(message.headers))
                if is_ingest:
                    handed_on = await processors.normalize(record)
                    if handed_on is not None:
                        decoded.append(handed_on)
                elif tp.topic == topics.stats_feed:
                    feed.append(record)
                else:
                    event = await processors.decode(record, "case-processors")
                    if event is not None:
                        decoded.append((record, event))
        # Referrals first: feedback later in the same batch must find them.
        for record, event in decoded:
            if processors.is_case_event(record):
                await processors.guards["matching"].run(
                    record, functools.partial(processors.index_referral, batch, record, event))
        rematched = await processors.matching.rematch_parked()
        if rematched:
            log.info("%s: %d parked feedback matched after their referral arrived",
                     self.worker_id, rematched)
        for record, event in decoded:
            await processors.case_record(batch, record, event)
        for record in feed:
            await processors.statistics.count(batch, record)
        await processors.finish_cases(batch)
        await processors.statistics.finish(batch)
        await self._flush(producer)
        if offsets:
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:
                log.warning("%s: commit failed (%s); the batch will be replayed, "
                            "deduplicated", self.worker_id, exc)

    async def _flush(self, producer: AIOKafkaProducer) -> None:
        """Outputs acked, then the changelogs acked, then RocksDB written."""
        processors = self.processors
        assert processors is not None
        await processors.outputs.wait()
        stores = [*processors.case_stores.values()]
        if processors.statistics.store is not None:
            stores.append(processors.statistics.store)
        pending = [(store, await store.send_changelog(producer)) for store in stores
                   if store.staged]
        for store, futures in pending:
            metadata = await asyncio.gather(*futures)
            store.commit_local(max((item.offset for item in metadata), default=None))

    async def _sweep(self, producer: AIOKafkaProducer) -> None:
        processors = self.processors
        assert processors is not None
        self._next_sweep = time.monotonic() + self.settings.deadline_tick_interval_s
        batch = Batch()
        count = await processors.sweep(batch, datetime.now(UTC))
        if count:
            await self._flush(producer)
            log.info("%s: deadline sweep evaluated %d cases", self.worker_id, count)

    async def _retry_held(self, producer: AIOKafkaProducer) -> None:
        processors = self.processors
        assert processors is not None
        now = datetime.now(UTC)
        if not processors.held.has_due(now):
            return
        if await processors.retry_held(Batch(), now):
            await self._flush(producer)

    async def _rematch_pending(self, producer: AIOKafkaProducer) -> None:
        """A re-match pass the batches skipped (throttled) runs once the stream is idle."""
        processors = self.processors
        assert processors is not None
        if processors.matching.index_grew and await processors.matching.rematch_parked():
            await self._flush(producer)

    async def _report_lag(self) -> None:
        CALENDAR_UNKNOWN_YEARS.set(len(unknown_years_seen()))
        consumer = self.consumer
        if consumer is None:
            return
        for tp in self._assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            with contextlib.suppress(Exception):
                committed = await consumer.committed(tp) or 0
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                    max(highwater - committed, 0))
