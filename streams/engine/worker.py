"""The engine's main loop: fetch a batch, fold it, await every ack, then commit.

Order per batch (why nothing is lost on SIGKILL and nothing is emitted twice):

1. ``consume`` up to a batch across every assigned partition; each record decoded once;
2. normalize (ingest topics), the referral index (before any feedback of the batch is
   matched), then the case processors record by record, then the statistics feed;
3. each touched case evaluated once, its document staged once;
4. wait for the acknowledgements of all outputs (idempotent producer, ``flush``);
5. only then send the staged state to the changelogs and await those acks (a state that
   says "seen" is never durable before the outputs it stands for);
6. apply the state to RocksDB, then commit the batch's offsets.

A crash anywhere before 6 replays the batch; the seen ids (in the state, written only at
5) and deterministic event and alert ids make the replay harmless.

Kafka clients are librdkafka's (confluent-kafka): its fetcher and producer batch in C,
at a quarter of aiokafka's CPU per record (docs/decisions.md). Consumer-group rebalances
are reported inside ``consume``, which the loop calls only between batches: a revoked
partition's last batch has committed before its store closes, and a newly assigned
partition's store replays its changelog (synchronously, in the callback) before its first
record is processed (:mod:`streams.engine.assignment`).

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
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer

from hub.calendar import unknown_years_seen
from hub.kafka import (
    consume_available,
    make_engine_admin,
    make_engine_consumer,
    make_engine_producer,
    topic_partition_numbers,
)
from hub.registry import SchemaRegistryClient
from hub.rules import load_rule_set
from hub.serde import AvroSerde
from hub.units import UnitRegistry, load_unit_registry
from streams.engine.assignment import PartitionAssignment
from streams.engine.batch import Batch
from streams.engine.case_document import MAX_DOCUMENT_BYTES
from streams.engine.commits import OffsetCommits
from streams.engine.delivery import flush
from streams.engine.frontier import InputFrontier, report_consumer_lag
from streams.engine.global_index import GlobalIndex, IndexLoad
from streams.engine.heap import HeapTrimmer, libc_malloc_trim
from streams.engine.inputs import (
    group_frontier,
    intake_origin,
    is_processed,
    record_headers,
    subscription,
)
from streams.engine.outputs import Outputs
from streams.engine.processors import Processors
from streams.engine.purge import RepartitionPurge
from streams.engine.sweeps import SWEEP_CASES
from streams.engine.tuning import EngineTuning
from streams.metrics import CALENDAR_UNKNOWN_YEARS
from streams.safety import RawRecord
from streams.topics import changelog_topic

__all__ = ["METADATA_MAX_AGE_MS", "StreamWorker"]

log = logging.getLogger(__name__)

_FETCH_TIMEOUT_S = 0.2
#: How long the worker waits for the statistics feed's metadata before subscribing.
_METADATA_WAIT_S = 5.0
#: A topic and partition number (confluent-kafka's TopicPartition also carries an offset).
Place = tuple[str, int]
_MAX_POLL_RECORDS = 5000
#: How often the consumer refreshes topic metadata, i.e. how soon a new ingest topic is
#: subscribed (``EngineTuning.metadata_max_age_ms``; tests use a few seconds).
METADATA_MAX_AGE_MS = EngineTuning.metadata_max_age_ms


class StreamWorker(PartitionAssignment):
    """One worker process of the engine (see the module docstring)."""

    def __init__(self, settings: Any, worker_id: str, data_dir: Path,
                 ingest_topics: list[str]) -> None:
        self.settings = settings
        #: Read once, here: a knob set wrong stops the worker before it joins the group.
        self.tuning = EngineTuning.from_environment()
        self.worker_id = worker_id
        self.data_dir = data_dir
        self.ingest_topics = ingest_topics
        self.topics = settings.topics
        self.stopping = asyncio.Event()
        self.security = settings.hub.kafka_security
        self.processors: Processors | None = None
        self.consumer: Consumer | None = None
        self.commits: OffsetCommits | None = None
        self.purge: RepartitionPurge | None = None
        self.index: GlobalIndex | None = None
        #: Partitions this worker owns now (from the rebalance callbacks).
        self.assigned: set[Place] = set()
        #: The idempotent producer of outputs and changelogs (set by :meth:`run`).
        self.producer: Producer | None = None
        #: Set when the loop ends on an exception: what the processors hold in memory may
        #: then be ahead of what the broker acknowledged (a batch failed half-way), so the
        #: stores are closed on the way out without saving or flushing anything.
        self.failed = False
        self._next_sweep = 0.0
        #: Up to when the group has read its input; timed judgements wait for it.
        self.frontier: InputFrontier | None = None

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT; state and offsets are flushed on the way out."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        # A batch allocates tens of thousands of short-lived objects (decoded events,
        # outputs): collecting the youngest generation every 700 allocations (CPython's
        # default) ran the collector hundreds of times a batch.
        gc.set_threshold(*self.tuning.gc_thresholds)
        settings = self.settings
        rules = load_rule_set()
        units = (load_unit_registry(settings.units_file, roles=rules.unit_roles,
                                    violation_types=rules.violation_types)
                 if settings.units_file else UnitRegistry([]))
        producer = make_engine_producer(settings.bootstrap, security=self.security,
                                        client_id=self.worker_id)
        self.producer = producer
        index = GlobalIndex(changelog_topic(settings.app_id, "engine-referrals"),
                            changelog_topic(settings.app_id, "engine-pending"),
                            rules.matching, directory=self.data_dir / "engine-index")
        async with SchemaRegistryClient(settings.hub.registry_url,
                                        auth=settings.hub.registry_auth) as registry:
            serde = AvroSerde(registry)
            # The index loads while the group is joined and the case stores are replayed
            # (see GlobalIndex.load_in_background); _consume awaits it before any work.
            load = index.load_in_background(settings.bootstrap, self.security,
                                            client_id=self.worker_id,
                                            group_id=f"{settings.app_id}-index")
            try:
                self.index = index
                self.processors = Processors(
                    topics=self.topics, rules=rules, units=units,
                    hub_unit_code=settings.hub_unit_code, registry=registry, serde=serde,
                    outputs=Outputs(producer, serde, stats_feed=self.topics.stats_feed),
                    index=index,
                    max_document_bytes=min(self.tuning.max_document_bytes
                                           or MAX_DOCUMENT_BYTES, MAX_DOCUMENT_BYTES),
                    await_case_s=self.tuning.await_case_s,
                    recheck_refused_s=self.tuning.recheck_refused_s)
                self.processors.case_partitions = topic_partition_numbers(
                    producer, self.topics.case_events)
                await self._consume(producer, load)
            finally:
                with contextlib.suppress(Exception):
                    load.wait()  # never close the index under its loading thread
                index.stop()
                with contextlib.suppress(Exception):
                    flush(producer)
                if self.processors is not None:
                    for partition, store in self.processors.case_stores.items():
                        self.processors.forget_partition(partition)  # its scan reads it
                        store.close()

    def _consumer(self) -> Consumer:
        settings = self.settings
        overrides: dict[str, Any] = {
            # Range assignment gives one worker the same partition number of every
            # co-partitioned topic (the state of partition p is one store).
            "partition.assignment.strategy": "range",
            "session.timeout.ms": int(settings.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(max(settings.session_timeout_s / 5, 1.0) * 1000),
            "max.partition.fetch.bytes": 4 * 1024 * 1024,
            "topic.metadata.refresh.interval.ms": self.tuning.metadata_max_age_ms,
            # A restore of a large store happens inside the assignment callback.
            "max.poll.interval.ms": 600_000,
        }
        return make_engine_consumer(
            settings.bootstrap, group_id=settings.app_id, security=self.security,
            client_id=self.worker_id, **overrides)

    async def _consume(self, producer: Producer, load: IndexLoad | None = None) -> None:
        consumer = self._consumer()
        self.consumer = consumer
        interval_s = self.tuning.purge_interval_s
        purge = self.purge = RepartitionPurge(
            make_engine_admin(self.settings.bootstrap, security=self.security,
                              client_id=f"{self.worker_id}-purge")
            if interval_s > 0 else None,
            (self.topics.case_intake,), self.worker_id, interval_s=interval_s,
            checkpointed_topics=(self.topics.stats_feed,))
        commits = self.commits = OffsetCommits(consumer, self.worker_id, purge)
        # Metadata first: subscribed by pattern before its first broker connection was up,
        # librdkafka postponed the group join to its next timer, two seconds later (half
        # of a kept restart's 3.6 s at a million events; 1.6 s with this call). Waiting
        # for the statistics feed, created last by ``prepare_topics``, also keeps a first
        # start from joining on metadata without it (its partition was then assigned
        # only at the next metadata refresh).
        with contextlib.suppress(KafkaException):  # a few seconds at most: not a must
            topic_partition_numbers(consumer, self.topics.stats_feed, wait_s=_METADATA_WAIT_S)
        consumer.subscribe(subscription(self.topics), on_assign=self._on_assign,
                           on_revoke=self._on_revoke, on_lost=self._on_lost)
        frontier, marks = group_frontier(consumer, self.topics, self.index,
                                         bootstrap=self.settings.bootstrap,
                                         security=self.security, client_id=self.worker_id,
                                         tuning=self.tuning)
        self.frontier = frontier
        if self.processors is not None:
            self.processors.judging_time = self._judging_time
        lag_at = 0.0
        trimmer = HeapTrimmer(self.tuning.heap_trim_s, libc_malloc_trim())
        try:
            while not self.stopping.is_set():
                records = consume_available(consumer, _MAX_POLL_RECORDS, _FETCH_TIMEOUT_S)
                if load is not None:
                    if not records and not self.assigned and not load.done():
                        # Not assigned yet: keep joining the group while the index loads
                        # (the assignment's store replay then overlaps the load).
                        await asyncio.sleep(0)
                        continue
                    await load.ready()
                    load = None
                    frontier.begin()
                    gc.freeze()  # what the index load kept, as acquire() does for the stores
                    log.info("%s: matching index ready", self.worker_id)
                if self.index is not None:
                    self.index.poll()
                frontier.advance()  # the index is read: the frontier may ask how far
                if records:
                    await self._process(producer, records)
                    trimmer.maybe_trim()
                elif commits.retry_due:
                    commits.commit({}, self.assigned)
                purge.maybe_purge()
                if self.processors is not None and self.processors.scanning_due_times:
                    self.processors.advance_due_scans()
                    self._flush(producer)  # the index entries it staged, as a batch's
                elif self.processors is not None and self.processors.rechecking_assigned:
                    await self._recheck_assigned(producer)
                if time.monotonic() >= self._next_sweep:
                    await self._sweep(producer)
                await self._retry_held(producer)
                await self._rematch_pending(producer)
                await self._emit_settled(producer)
                if time.monotonic() - lag_at > 15:
                    lag_at = time.monotonic()
                    self._report_lag()
                # Signals (SIGTERM) are delivered by the event loop between iterations.
                await asyncio.sleep(0)
        except BaseException:
            self.failed = True  # closing revokes the partitions: release() saves nothing
            raise
        finally:
            marks.close()
            with contextlib.suppress(Exception):
                consumer.close()

    async def _process(self, producer: Producer, messages: list[Message]) -> None:
        processors = self.processors
        commits = self.commits
        assert processors is not None and commits is not None
        assigned = self.assigned
        topics = self.topics
        batch = Batch()
        offsets: dict[Place, int] = {}
        decoded: list[tuple[RawRecord, Any]] = []
        feed: list[RawRecord] = []
        kinds: dict[str, tuple[bool, bool, bool, bool]] = {}
        for message in messages:
            if message.error() is not None:
                log.warning("%s: %s", self.worker_id, message.error())
                continue
            topic = message.topic() or ""
            partition = message.partition()
            offset = message.offset()
            if partition is None or offset is None or (topic, partition) not in assigned:
                continue
            offsets[(topic, partition)] = offset + 1
            kind = kinds.get(topic)
            if kind is None:
                kind = kinds[topic] = (topics.ingest_unit(topic) is not None,
                                       topic in (topics.case_events, topics.alerts),
                                       topic == topics.stats_feed,
                                       topic == topics.case_intake)
            is_ingest, may_be_processed, is_feed, is_intake = kind
            headers = message.headers()
            if may_be_processed and is_processed(headers):
                # Handled already by the task that owns the case: an event in one hop by
                # the task that normalized it, an alert by the task that raised it.
                continue
            record = RawRecord(topic, partition, offset, message.key(), message.value(),
                               record_headers(headers),
                               intake_origin(headers) if is_intake else None)
            if is_ingest:
                handed_on = await processors.normalize(record)
                if handed_on is not None:
                    decoded.append(handed_on)
            elif is_feed:
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
        rematched = await self._rematch_parked()
        if rematched:
            log.info("%s: %d parked feedback matched after their referral arrived",
                     self.worker_id, rematched)
        for record, event in decoded:
            await processors.case_record(batch, record, event)
        await processors.join_held(batch)
        # Parked feedback the batch's referrals matched, in their cases before evaluation.
        await processors.join_rekeyed(batch)
        # Refusals the case keeps, checked against the case as the batch left it.
        if await processors.recheck_refused(batch):
            await processors.join_rekeyed(batch)
        await self._reconsider()
        for record in feed:
            await processors.statistics.count(batch, record)
        await processors.finish_cases(batch)
        await processors.statistics.finish(batch)
        self._flush(producer)
        taken = commits.commit(offsets, assigned) if offsets or commits.retry_due else {}
        feed_place = (self.topics.stats_feed, 0)
        statistics = processors.statistics
        if (feed_place in taken and statistics.store is not None
                and self.purge is not None):
            # The snapshot was flushed before this commit, which the broker took: this
            # worker still owns the feed, and a new owner resumes right after it.
            self.purge.checkpointed(
                feed_place, None if statistics.covered is None else statistics.covered + 1)

    def _flush(self, producer: Producer) -> None:
        """Outputs acked, then the changelogs acked, then RocksDB written."""
        processors = self.processors
        assert processors is not None
        processors.outputs.wait()
        stores = [*processors.case_stores.values()]
        if processors.statistics.store is not None:
            stores.append(processors.statistics.store)
        pending = [(store, store.send_changelog(producer)) for store in stores
                   if store.staged]
        if not pending:
            return
        flush(producer, *(acknowledgements for _, acknowledgements in pending))
        for store, acknowledgements in pending:
            store.commit_local(acknowledgements.last_offset)

    async def _sweep(self, producer: Producer) -> None:
        processors = self.processors
        assert processors is not None
        self._next_sweep = time.monotonic() + self.settings.deadline_tick_interval_s
        batch = Batch()
        count = await processors.sweep(batch, self._judging_time())
        if count:
            self._flush(producer)
            log.info("%s: deadline sweep evaluated %d cases", self.worker_id, count)
        if count >= SWEEP_CASES:
            self._next_sweep = 0.0  # more are due: the next slice after the next batch

    async def _retry_held(self, producer: Producer) -> None:
        processors = self.processors
        assert processors is not None
        now = self._judging_time()
        if not processors.held.has_due(now):
            return
        if await processors.retry_held(Batch(), now):
            await self._reconsider()  # for the referrals that waited for their case
            self._flush(producer)

    async def _recheck_assigned(self, producer: Producer) -> None:
        processors = self.processors
        assert processors is not None
        if self.frontier is not None and self.frontier.frontier is None:
            return  # judged as of the first frontier round, like the timed work
        if await processors.recheck_assigned(Batch()):
            await self._reconsider()  # for the referrals a joined refusal indexed
            self._flush(producer)

    def _judging_time(self) -> datetime:
        """The instant timed work is judged at: the clock, bounded by the input frontier
        (:mod:`streams.engine.frontier`) so nothing is judged on input not yet read."""
        now = datetime.now(UTC)
        return now if self.frontier is None else self.frontier.judging_time(now)

    async def _emit_settled(self, producer: Producer) -> None:
        """Missing-entry findings that persisted their settle time, even when idle."""
        processors = self.processors
        assert processors is not None
        if processors.statistics.settled() and await processors.statistics.emit_settled():
            self._flush(producer)

    async def _rematch_pending(self, producer: Producer) -> None:
        """A re-match pass the batches skipped (throttled) runs once the stream is idle."""
        processors = self.processors
        assert processors is not None
        if processors.matching.index_grew and await self._rematch_parked():
            self._flush(producer)

    async def _rematch_parked(self) -> int:
        """The re-match pass of parked feedback; a fault in it is logged, never stops the
        batches (the pass runs again later, see ``MatchingProcessor.rematch_parked``)."""
        assert self.processors is not None
        try:
            return await self.processors.matching.rematch_parked()
        except Exception:  # the point: the worker goes on
            log.exception("%s: re-matching parked feedback failed", self.worker_id)
            return 0

    async def _reconsider(self) -> None:
        """Identifier matches the batch's referrals may overturn, judged again; a fault
        is logged and the same parties are judged at the next batch."""
        assert self.processors is not None
        try:
            withdrawn = await self.processors.matching.reconsider()
        except Exception:  # the point: the worker goes on
            log.exception("%s: judging identifier matches again failed", self.worker_id)
            return
        if withdrawn:
            log.info("%s: %d identifier matches withdrawn after a referral of the same "
                     "party", self.worker_id, withdrawn)

    def _report_lag(self) -> None:
        CALENDAR_UNKNOWN_YEARS.set(len(unknown_years_seen()))
        if self.consumer is not None and self.assigned:
            report_consumer_lag(self.consumer, self.assigned)
