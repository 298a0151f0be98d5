"""The connector loop: read → map → encode → send → collect acks → checkpoint.

One process runs one config. A session starts from the last durable checkpoint, learns
which records after it are already in the topics (so none is written twice), and runs
until the source has nothing more (``once``) or the process is asked to stop. A broker,
registry or HTTP failure (:class:`~hub.errors.RetriableError`) ends the session; the
runner backs off and starts a new session from the checkpoint: nothing acked is lost,
nothing unacked is skipped. SIGTERM finishes the record in hand, waits for in-flight
acks, writes the checkpoint and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from connectors import rowpath
from connectors.checkpoint import Checkpoint, CheckpointStore
from connectors.chunks import EventHeaders, RowItem, dead_letter_for, map_rows
from connectors.config import ConnectorConfig
from connectors.delivery import (
    DeadLetter,
    Delivery,
    read_written_ids,
    topic_end_offsets,
)
from connectors.kinds.dropfolder import FileRejected
from connectors.mapping import build_mapper
from connectors.metrics import ConnectorMetrics
from connectors.parallel import MappingPool, default_workers, outcomes_of
from connectors.progress import ALIVE_EVERY_S, SourceProgress
from connectors.source import Source, SourceRecord
from connectors.topics import BACKOFF_MAX, BACKOFF_START, ensure_topics
from hub.config import HubSettings, KafkaSecurity
from hub.errors import FatalError, HubError, MappingError, RecordRejected, RetriableError
from hub.kafka import make_producer
from hub.models import CHINA_TZ
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from hub.topics import apply_topics, ingest_topic, load_manifest, source_progress_topic

__all__ = ["ConnectorRunner", "RunSummary", "dlq_topic", "make_source"]

log = logging.getLogger(__name__)

_MAX_IN_FLIGHT = 20_000


def dlq_topic(connector_id: str) -> str:
    """The dead-letter topic of a connector (DESIGN.md)."""
    return f"lf.dlq.{connector_id}"


def make_source(config: ConnectorConfig) -> Source:
    """The source kind of a config (imported lazily: a kind's libraries load only if used)."""
    if config.kind == "file":
        from connectors.kinds.file import FileSource
        return FileSource(config.source)  # type: ignore[arg-type]
    if config.kind == "http":
        from connectors.kinds.http import HttpSource
        return HttpSource(config.source)  # type: ignore[arg-type]
    if config.kind == "sql":
        from connectors.kinds.sql import SqlSource
        return SqlSource(config.source)  # type: ignore[arg-type]
    if config.kind == "xml":
        from connectors.kinds.xml import XmlSource
        return XmlSource(config.source)  # type: ignore[arg-type]
    raise FatalError(f"unknown connector kind {config.kind!r}")


@dataclass
class _PassState:
    """What the housekeeping between records of a pass carries along."""

    checkpoint: Checkpoint
    last_checkpoint_time: float
    recorded_at: datetime
    read: int = 0


@dataclass
class RunSummary:
    """What a run did (the CLI prints it; tests assert on it)."""

    read: int = 0
    produced: int = 0
    rejected: int = 0
    sessions: int = 0


class ConnectorRunner:
    """Runs one connector config against a broker and registry."""

    def __init__(self, config: ConnectorConfig, *, settings: HubSettings | None = None,
                 metrics: ConnectorMetrics | None = None,
                 source_factory: Callable[[ConnectorConfig], Source] = make_source,
                 topic_prefix: str = "") -> None:
        """``topic_prefix`` namespaces the ingest and dead-letter topics (a benchmark's own
        topics: a running hub's workers subscribe to ``lf.ingest.*`` and never see them)."""
        settings = settings or HubSettings()
        self.config = config
        self.bootstrap = config.bootstrap or settings.bootstrap
        self.registry_url = config.registry_url or settings.registry_url
        self.security: KafkaSecurity = settings.kafka_security
        self.registry_auth = settings.registry_auth
        self.metrics = metrics or ConnectorMetrics(config.id, unit=config.unit)
        self.mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id,
                             validate=config.validate_events)
        self.topic = topic_prefix + ingest_topic(config.unit, config.stream)
        self.dlq = topic_prefix + dlq_topic(config.id)
        self.progress = SourceProgress(topic_prefix + source_progress_topic(config.unit),
                                       config.id, config.unit, config.stream)
        self.store = CheckpointStore(config.state_dir, config.id)
        self.source_factory = source_factory
        self.workers = config.workers or default_workers(config.kind)
        self.chunk_rows = config.worker_chunk_rows
        self.stopping = asyncio.Event()
        self.summary = RunSummary()

    def install_signal_handlers(self) -> None:
        """SIGTERM / SIGINT: finish in-flight records, checkpoint, exit cleanly."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)

    def stop(self) -> None:
        log.info("connector %s: stop requested", self.config.id)
        self.stopping.set()

    async def run(self, *, once: bool = False) -> RunSummary:
        """Run sessions until done (``once``) or stopped, retrying retriable failures."""
        if self.config.metrics_port is not None:
            self.metrics.serve(self.config.metrics_port)
        await self._ensure_topics()
        backoff = BACKOFF_START
        while not self.stopping.is_set():
            self.summary.sessions += 1
            try:
                finished = await self._session(once=once)
                backoff = BACKOFF_START
                if finished:
                    break
            except (RetriableError, KafkaError, OSError) as exc:
                log.warning("connector %s: session failed (%s); retrying in %.1fs",
                            self.config.id, exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        return self.summary

    async def _ensure_topics(self) -> None:
        await ensure_topics(self.bootstrap, [self.topic, self.dlq], security=self.security,
                            stopping=self.stopping, who=f"connector {self.config.id}")
        try:  # the marks are best-effort (connectors.progress): never a stopped feed
            await apply_topics(self.bootstrap, [load_manifest().spec_for(self.progress.topic)],
                               security=self.security)
        except (HubError, KafkaError, OSError) as exc:
            self.progress.enabled = False
            log.warning("connector %s: no progress topic %s (%s); the workers judge "
                        "deadlines without waiting for this connector", self.config.id,
                        self.progress.topic, exc)

    async def _resume_state(self) -> tuple[Checkpoint, set[str]]:
        checkpoint = self.store.load()
        topics = [self.topic, self.dlq]
        if checkpoint is None:
            ends = await topic_end_offsets(self.bootstrap, topics, self.security)
            checkpoint = self.store.save(Checkpoint({}, ends))
            return checkpoint, set()
        written, _ = await read_written_ids(self.bootstrap, topics, checkpoint.topic_offsets,
                                            self.security)
        return checkpoint, written

    async def _session(self, *, once: bool) -> bool:
        checkpoint, written = await self._resume_state()
        registry = SchemaRegistryClient(self.registry_url, auth=self.registry_auth)
        producer = make_producer(self.bootstrap, security=self.security,
                                 client_id=f"connector-{self.config.id}", linger_ms=20)
        source = self.source_factory(self.config)
        pool: MappingPool | None = None
        try:
            serde = AvroSerde(registry)
            await serde.prepare(self.mapper.avro_names())
            native = rowpath.enabled() and self.config.kind == "file"
            if self.workers > 1 or native:
                # Chunks the native core takes are mapped in this process, the rest by
                # the workers (or here too, with one worker).
                pool = MappingPool(functools.partial(map_rows, self.mapper, serde.local,
                                                     EventHeaders()),
                                   self.workers if self.workers > 1 else 0,
                                   functools.partial(rowpath.covers, self.mapper,
                                                     serde.local) if native else None)
                source.defer_rows = True  # the CSV kind: workers parse the rows too
            await producer.start()
            delivery = Delivery(producer, self.topic, self.dlq, self.config.id,
                                self.config.unit, self.metrics, already_written=written,
                                topic_offsets=dict(checkpoint.topic_offsets))
            await delivery.start()
            delivery.acked_position = dict(checkpoint.position)
            last = checkpoint
            self.progress.attach(producer)
            await self.progress.started()
            # What exists now (modules, models, compiled mappers and writers: ~100 MiB)
            # lives as long as the session: kept out of the collector's generations, a
            # full collection scans only the objects made since. Each one scanned the
            # whole heap: ~100 ms, 7 times in 100,000 rows, a third of this process's CPU
            # (connectors/PERFORMANCE.md, eighth pass). Unfrozen when the session ends,
            # so the garbage of a failed session is still collected.
            gc.freeze()
            while True:
                pass_started_at = time.time()
                if pool is None:
                    last = await self._pass(source, serde, delivery, last)
                else:
                    last = await self._pass_parallel(source, serde, delivery, last, pool)
                if not source.failed_poll:
                    self.metrics.last_success.set(time.time())
                    if not self.stopping.is_set():  # read to its end, every record acked
                        await self.progress.read_to_end(pass_started_at)
                if once or self.stopping.is_set():
                    await self.progress.stopped()
                    return True
                lag = await source.lag(last.position)
                if lag is not None:
                    self.metrics.source_lag.set(lag)
                await self._wait_for_next_poll()
                if self.stopping.is_set():
                    await self.progress.stopped()
                    return True
        finally:
            self.progress.attach(None)
            gc.unfreeze()
            # Nested, so that a cancellation arriving while the producer stops still
            # closes the registry's and the source's connections (an unclosed socket).
            try:
                if pool is not None:
                    pool.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 10)
            finally:
                try:
                    await registry.aclose()
                finally:
                    await source.aclose()

    async def _wait_for_next_poll(self) -> None:
        """The poll interval, saying every :data:`ALIVE_EVERY_S` that the connector lives."""
        until = time.monotonic() + self.config.poll_interval_seconds
        while not self.stopping.is_set() and (left := until - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), min(left, ALIVE_EVERY_S))
            await self.progress.alive()

    async def _pass(self, source: Source, serde: AvroSerde, delivery: Delivery,
                    checkpoint: Checkpoint) -> Checkpoint:
        """Read everything available now; return the last durable checkpoint."""
        local = serde.local
        mapper = self.mapper
        headers = EventHeaders()
        state = _PassState(checkpoint, time.monotonic(), datetime.now(CHINA_TZ))
        async for record in source.read(checkpoint):
            if record.marker:
                self._marker(delivery, record)
                continue
            state.read += 1
            if record.problem is not None or record.row is None:
                await self._dead_letter(delivery, record, record.problem
                                        or RecordRejected("unparseable record"))
            else:
                try:
                    mapped = mapper.map(record.row, record.reference, state.recorded_at)
                    value = local.encode_dict(mapped.avro_name, mapped.record)
                except (RecordRejected, MappingError, ValidationError) as exc:
                    await self._dead_letter(delivery, record, exc)
                else:
                    try:
                        await delivery.send_event(mapped.key, value,
                                                  headers.of(mapped.avro_name, mapped.record),
                                                  mapped.event_id, record.position)
                    except RecordRejected as exc:  # an event too large to send
                        await self._dead_letter(delivery, record, exc)
            if state.read % 512 == 0:
                await self._housekeeping(source, delivery, state)
                if self.stopping.is_set():
                    break
        return await self._end_pass(source, delivery, state)

    async def _housekeeping(self, source: Source, delivery: Delivery,
                            state: _PassState) -> None:
        """Every 512 records: count, collect acks, bound what is in flight, checkpoint."""
        self.metrics.read.inc(512)
        delivery.collect()
        while delivery.in_flight > _MAX_IN_FLIGHT:
            await delivery.wait_for_head()
            delivery.collect()
        now = time.monotonic()
        if (delivery.handled_since_checkpoint >= self.config.checkpoint_every_records
                or now - state.last_checkpoint_time >= self.config.checkpoint_every_seconds):
            state.checkpoint = await self._checkpoint(source, delivery, state.checkpoint)
            state.last_checkpoint_time = now
            state.recorded_at = datetime.now(CHINA_TZ)
            await self.progress.alive()  # a long pass: still reading

    async def _end_pass(self, source: Source, delivery: Delivery,
                        state: _PassState) -> Checkpoint:
        self.metrics.read.inc(state.read % 512)
        self.summary.read += state.read
        await delivery.drain()
        return await self._checkpoint(source, delivery, state.checkpoint)

    async def _pass_parallel(self, source: Source, serde: AvroSerde, delivery: Delivery,
                             checkpoint: Checkpoint, pool: MappingPool) -> Checkpoint:
        """:meth:`_pass` with mapping in worker processes (``connectors.parallel``).

        Records are read here and grouped in chunks; each chunk's rows are mapped by a
        worker while the next chunks are read; chunks are delivered strictly in read
        order, record by record exactly as :meth:`_pass` delivers them (events, dead
        letters, end-of-file markers), so positions, acks and checkpoints are unchanged.
        A pass too small to fill one chunk is mapped here (no process is started for it).
        """
        state = _PassState(checkpoint, time.monotonic(), datetime.now(CHINA_TZ))
        limit = 2 * pool.processes + 1
        queue: deque[tuple[list[SourceRecord], asyncio.Future[list[Any]] | None]] = deque()
        records: list[SourceRecord] = []
        rows: list[RowItem] = []
        async for record in source.read(checkpoint):
            records.append(record)
            if not record.marker and record.problem is None:
                if record.row is not None:
                    rows.append((record.row, record.reference, None))
                elif record.parser is not None:
                    rows.append((record.raw, record.reference, record.parser))
            if len(records) < self.chunk_rows:
                continue
            queue.append((records, pool.submit(rows, datetime.now(CHINA_TZ))
                          if rows else None))
            records, rows = [], []
            while queue and (len(queue) >= limit or queue[0][1] is None
                             or queue[0][1].done()):
                await self._deliver_chunk(source, delivery, state, *queue.popleft())
            if self.stopping.is_set():
                break
        if records:
            if rows and not queue and not pool.started:
                done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
                done.set_result(map_rows(self.mapper, serde.local, EventHeaders(), rows,
                                         state.recorded_at))
                queue.append((records, done))
            else:
                queue.append((records, pool.submit(rows, datetime.now(CHINA_TZ))
                              if rows else None))
        while queue:  # chunks already read and mapped are delivered, even when stopping
            await self._deliver_chunk(source, delivery, state, *queue.popleft())
        return await self._end_pass(source, delivery, state)

    async def _deliver_chunk(self, source: Source, delivery: Delivery, state: _PassState,
                             records: list[SourceRecord],
                             future: asyncio.Future[list[Any]] | None) -> None:
        outcomes = iter(await outcomes_of(future) if future is not None else ())
        for record in records:
            if record.marker:
                self._marker(delivery, record)
                continue
            state.read += 1
            if record.problem is not None or (record.row is None and record.parser is None):
                await self._dead_letter(delivery, record, record.problem
                                        or RecordRejected("unparseable record"))
            else:
                outcome = next(outcomes)
                if isinstance(outcome, DeadLetter):
                    await self._send_letter(delivery, record, outcome)
                else:
                    key, value, headers, event_id, hashed = outcome
                    try:
                        await delivery.send_event(key, value, headers, event_id,
                                                  record.position, hashed)
                    except RecordRejected as exc:  # an event too large to send
                        await self._dead_letter(delivery, record, exc)
            if state.read % 512 == 0:
                await self._housekeeping(source, delivery, state)

    async def _dead_letter(self, delivery: Delivery, record: SourceRecord,
                           exc: Exception) -> None:
        if isinstance(exc, FileRejected):
            self.metrics.quarantined(exc.error_type)
            log.warning("connector %s: file %s refused (%s: %s); it goes to quarantine",
                        self.config.id, record.location.get("source.file", "?"),
                        exc.error_type, exc.reason)
        await self._send_letter(delivery, record, dead_letter_for(exc))

    def _marker(self, delivery: Delivery, record: SourceRecord) -> None:
        """End of a file: its position, and a count when it held no data row."""
        if record.location.get("source.rows") == "0":
            self.metrics.files_without_rows.inc()
        delivery.mark(record.position)

    async def _send_letter(self, delivery: Delivery, record: SourceRecord,
                           letter: DeadLetter) -> None:
        log.info("connector %s: %s refused (%s: %s)", self.config.id, record.reference,
                 letter.error_type, letter.reason)
        await delivery.send_dead_letter(record.raw, letter, record.reference, record.location,
                                        record.position)

    async def _checkpoint(self, source: Source, delivery: Delivery,
                          previous: Checkpoint) -> Checkpoint:
        delivery.collect()
        if delivery.handled_since_checkpoint == 0 or delivery.acked_position is None:
            return previous
        checkpoint = self.store.save(Checkpoint(dict(delivery.acked_position),
                                                dict(delivery.topic_offsets)))
        self.metrics.checkpointed()
        delivery.handled_since_checkpoint = 0
        await source.committed(checkpoint.position)
        return checkpoint


def summary_counts(metrics: ConnectorMetrics) -> dict[str, Any]:
    """Counter values of a run, for the CLI's final line."""
    return {"read": metrics.read._value.get(), "produced": metrics.produced._value.get(),
            "rejected": metrics.rejected_total()}


async def run_config(config: ConnectorConfig, *, once: bool,
                     settings: HubSettings | None = None) -> RunSummary:
    """Run a config in this process with signal handling (what ``run`` and ``-m`` use)."""
    runner = ConnectorRunner(config, settings=settings)
    runner.install_signal_handlers()
    try:
        summary = await runner.run(once=once)
    except HubError:
        log.exception("connector %s failed", config.id)
        raise
    counts = summary_counts(runner.metrics)
    summary.produced = int(counts["produced"])
    summary.rejected = int(counts["rejected"])
    return summary
