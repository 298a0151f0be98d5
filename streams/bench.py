"""Throughput of the whole stream topology on one worker, against a bare passthrough.

The same N events go (a) through a real worker subprocess (normalize and every processor
behind it) and (b) through a plain aiokafka consume → produce loop, on the same broker in
the same run, so the ratio says what the processors cost rather than how fast this
machine is. The worker's peak RSS is sampled while it works, and ``recovery_s`` is how
long a restarted worker with an empty data dir takes to rebuild its tables from the
changelogs and process a probe event; ``recovery_kept_s`` the same with the data dirs kept
(only the tails are read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from hub.config import HubSettings
from hub.identity import case_id_for
from hub.kafka import (
    admin_client,
    consume_available,
    make_consumer,
    make_engine_consumer,
    make_engine_producer,
    make_producer,
)
from hub.local.processes import free_port
from hub.models import CaseEvent
from hub.models.examples import (
    EXAMPLE_AGENCY,
    EXAMPLE_POLICE,
    EXAMPLE_PROCURATORATE,
    EXAMPLE_UNITS_YAML,
)
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde, SerializedEvent
from hub.topics import TopicSpec, apply_topics, delete_namespace
from streams.bench_load import bench_events
from streams.settings import StreamSettings, prepare_topics
from streams.topics import TopicNames

__all__ = ["BenchResult", "bench_namespace", "run_bench"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchResult:
    """What ``liangfa bench streams --json`` prints."""

    events: int
    events_per_case: int
    workers: int
    events_per_s: float
    #: A bare consume → produce → commit passthrough on the engine's own client
    #: (confluent-kafka): what the worker could do if its logic cost nothing.
    baseline_events_per_s: float
    ratio: float
    peak_rss_mib: float
    recovery_s: float
    #: Worker CPU per event (user + system, whole process tree) during the timed run:
    #: unlike events_per_s it barely moves with the load other jobs put on the machine.
    worker_cpu_ms_per_event: float = 0.0
    #: The same passthrough on aiokafka (the engine's client until issue #10), for
    #: comparison with earlier figures.
    baseline_aiokafka_events_per_s: float = 0.0
    #: The 1-minute load average before and after the timed run (other jobs' share).
    load_before: float = 0.0
    load_after: float = 0.0
    #: From a restart with the data directories kept until a new event is processed.
    recovery_kept_s: float = 0.0
    #: The two halves of ``recovery_s`` that run side by side, as the workers' own
    #: metrics tell them: the stores' replay of their changelogs
    #: (``liangfa_streams_restore_seconds``) and the matching index's load, begun as the
    #: worker starts (``liangfa_streams_matching_index_load_seconds``). The longer one is
    #: the recovery's critical path; 0.0 where no worker answered. With several workers
    #: each is the largest over them (the two may come from different workers) and the
    #: restore is each worker's last assignment, which a rebalance may have followed.
    recovery_restore_s: float = 0.0
    recovery_index_s: float = 0.0


def _ingest_unit(event: CaseEvent) -> str:
    return EXAMPLE_POLICE if event.source_unit == EXAMPLE_POLICE else EXAMPLE_AGENCY


async def _serialize(registry_url: str, events: list[CaseEvent]) -> list[SerializedEvent]:
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        return [await serde.serialize(event) for event in events]


async def _produce(bootstrap: str, records: list[tuple[str, SerializedEvent]]) -> None:
    producer = make_producer(bootstrap, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, item.value, key=item.key, headers=item.headers)
                   for topic, item in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _end_offsets(bootstrap: str, topics: list[str], partitions: int = 4,
                       single: frozenset[str] = frozenset()) -> dict[Any, int]:
    """End offsets of ``topics`` (``partitions`` each; one for those in ``single``)."""
    from aiokafka.structs import TopicPartition

    wanted = [TopicPartition(topic, p) for topic in topics
              for p in range(1 if topic in single else partitions)]
    consumer = make_consumer(bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign(wanted)
        return dict(await consumer.end_offsets(wanted))
    finally:
        await consumer.stop()


async def _committed(bootstrap: str, group: str) -> dict[Any, int]:
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def _wait_caught_up(bootstrap: str, group: str, ends: dict[Any, int],
                          watched: _Watched, peak: list[int],
                          timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        peak[0] = max(peak[0], watched.rss())
        committed = await _committed(bootstrap, group)
        if all(end == 0 or committed.get(tp, -1) >= end for tp, end in ends.items()):
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"worker did not catch up within {timeout_s} s")


class _Watched:
    """The worker processes whose CPU and memory the benchmark reads (summed)."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self.processes = processes

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += float(times.user + times.system)
        return total

    def rss(self) -> int:
        total = 0
        for process in self.processes:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss + sum(
                    child.memory_info().rss for child in process.children(recursive=True))
        return total


def _start_worker(settings: StreamSettings, data_dir: Path, log_path: Path,
                  worker_id: str = "bench", web_port: int | None = None,
                  ) -> subprocess.Popen[bytes]:
    """A worker of the example county: its unit registry routes the bench's referrals and
    feedback to their inboxes, as a county's does (without one, every addressed event
    became an "unroutable" alert that was read back, counted and put on its case)."""
    units = log_path.parent / "units.yaml"
    if not units.exists():
        units.write_text(EXAMPLE_UNITS_YAML, encoding="utf-8")
    command = [
        sys.executable, "-m", "streams", "run", "--worker-id", worker_id,
        "--data-dir", str(data_dir), "--web-port", str(web_port or free_port()),
        "--bootstrap", settings.bootstrap, "--registry-url", settings.hub.registry_url,
        "--app-id", settings.app_id, "--topic-prefix", settings.topics.prefix,
        "--units", str(units), "--hub-unit", EXAMPLE_PROCURATORATE,
        "--deadline-tick-interval", "3600", "--loglevel", "warning",
    ]
    with log_path.open("ab") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


_RECOVERY_GAUGES = ("liangfa_streams_restore_seconds",
                    "liangfa_streams_matching_index_load_seconds")


async def _recovery_phases(host: str, web_ports: list[int]) -> tuple[float, float]:
    """The slowest worker's store restore and index load, in seconds, from its /metrics.

    Read from the workers rather than their logs: the benchmark runs them at log level
    warning, and the gauges are what an operator sees of a restart too.
    """
    slowest = dict.fromkeys(_RECOVERY_GAUGES, 0.0)
    async with httpx.AsyncClient(timeout=10.0) as client:
        for port in web_ports:
            # Whatever goes wrong here (no answer, an address httpx refuses, text the
            # parser refuses) costs these two figures, never the run measured before.
            try:
                response = await client.get(f"http://{host}:{port}/metrics")
                response.raise_for_status()
                for family in text_string_to_metric_families(response.text):
                    for sample in family.samples:
                        if sample.name in slowest:
                            slowest[sample.name] = max(slowest[sample.name], sample.value)
            except Exception:  # see above; the warning says which worker
                log.warning("worker on port %d did not give its recovery's phases", port,
                            exc_info=True)
    return slowest[_RECOVERY_GAUGES[0]], slowest[_RECOVERY_GAUGES[1]]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _baseline_librdkafka(bootstrap: str, source: str, target: str, count: int) -> float:
    """Events per second of a bare consume → produce → commit loop on confluent-kafka,
    with the engine's own client settings (idempotent, acks=all)."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

    group = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    consumer = make_engine_consumer(bootstrap, group_id=group, client_id=group)
    producer = make_engine_producer(bootstrap, client_id=group)
    # Assigned, not subscribed: the timer must not include a group join (the broker
    # delays the first join of a new group by 3 s).
    metadata = consumer.list_topics(source, timeout=30)
    consumer.assign([TopicPartition(source, number, OFFSET_BEGINNING)
                     for number in metadata.topics[source].partitions])
    seen = 0
    try:
        started = time.perf_counter()
        while seen < count:
            records = consume_available(consumer, 5000, 0.5)
            offsets: dict[int, int] = {}
            for record in records:
                offsets[record.partition() or 0] = (record.offset() or 0) + 1
                while True:
                    try:
                        producer.produce(target, record.value(), record.key(),
                                         headers=record.headers())
                        break
                    except BufferError:
                        producer.poll(0.05)
            seen += len(records)
            if records:
                if producer.flush(60) > 0:
                    raise KafkaException("baseline: records not acknowledged")
                consumer.commit(offsets=[TopicPartition(source, number, offset)
                                         for number, offset in offsets.items()],
                                asynchronous=False)
        return count / (time.perf_counter() - started)
    finally:
        consumer.close()


async def _baseline(bootstrap: str, source: str, target: str, count: int) -> float:
    """Events per second of a bare consume → produce → commit loop over ``source``."""
    group = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    consumer = make_consumer(bootstrap, source, group_id=group, max_poll_records=1000)
    producer = make_producer(bootstrap)
    await consumer.start()
    await producer.start()
    seen = 0
    try:
        started = time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500)
            futures = []
            for records in batches.values():
                for record in records:
                    futures.append(await producer.send(
                        target, record.value, key=record.key, headers=list(record.headers)))
                seen += len(records)
            await asyncio.gather(*futures)
            if batches:
                await consumer.commit()
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def run_bench(count: int, *, settings: HubSettings | None = None,
                    work_dir: Path | None = None, events_per_case: int = 4,
                    workers: int = 1, keep_topics: bool = False) -> BenchResult:
    """Run both measurements and the recovery probe; topics get a fresh prefix.

    The prefix's topics (inputs, outputs, changelogs, the baselines') are deleted at the
    end unless ``keep_topics``: a 1,000,000-event run writes ~1 GB to them. So is the
    workers' data directory when the run made it (no ``work_dir``) and measured: ~120 MB
    at 100,000 events, ~1.1 GB at 1,000,000; a failed run keeps it, with the workers'
    logs, and says where.
    """
    hub = settings or HubSettings()
    app_id = f"lf-bench-{uuid.uuid4().hex[:8]}"
    directory = work_dir or Path(tempfile.mkdtemp(prefix="liangfa-bench-"))
    try:
        result = await _measure(hub, app_id, count, work_dir=directory,
                                events_per_case=events_per_case, workers=workers)
    except BaseException:
        log.warning("the run failed; its workers' data and logs stay in %s", directory)
        raise
    finally:
        if not keep_topics:
            await _delete_bench_topics(hub, app_id)
    if work_dir is None:
        shutil.rmtree(directory, ignore_errors=True)
    return result


def bench_namespace(app_id: str) -> list[str]:
    """The prefixes of a run's topics: ``<app id>.`` (inputs, outputs, inboxes, the
    baselines') and ``<app id>-`` (the engine's changelogs, Kafka Streams' form)."""
    return [f"{app_id}.", f"{app_id}-"]


async def _delete_bench_topics(hub: HubSettings, app_id: str) -> None:
    """Best effort: a failure to clean up is logged, never hides the run's result."""
    try:
        deleted = await delete_namespace(hub.bootstrap, bench_namespace(app_id),
                                         security=hub.kafka_security)
        log.info("deleted the run's %d topics under %s", len(deleted), app_id)
    except Exception:  # the measurement stands; the warning says what is left
        log.warning("could not delete the run's topics under %s.* and %s-*", app_id,
                    app_id, exc_info=True)


async def _measure(hub: HubSettings, app_id: str, count: int, *, work_dir: Path,
                   events_per_case: int, workers: int) -> BenchResult:
    stream_settings = StreamSettings(hub=hub, topics=TopicNames(prefix=f"{app_id}."),
                                     app_id=app_id)
    topics = stream_settings.topics
    ingest = {unit: topics.ingest(unit, "bench") for unit in (EXAMPLE_AGENCY, EXAMPLE_POLICE)}
    baseline_source = f"{app_id}.baseline.in"
    baseline_target = f"{app_id}.baseline.out"
    await apply_topics(hub.bootstrap, [
        TopicSpec(name=name, partitions=stream_settings.partitions)
        for name in [*ingest.values(), baseline_source, baseline_target,
                     f"{baseline_target}.aiokafka"]])
    await prepare_topics(stream_settings)

    events = list(bench_events(count, events_per_case))
    serialized = await _serialize(hub.registry_url, events)
    records = [(ingest[_ingest_unit(event)], item)
               for event, item in zip(events, serialized, strict=True)]

    directory = work_dir
    names = [f"bench-{number}" for number in range(1, workers + 1)]
    web_ports = {name: free_port() for name in names}
    processes = [_start_worker(stream_settings, directory / name, directory / f"{name}.log",
                               name, web_ports[name]) for name in names]
    # A fixed 900 s failed any run slower than N / 900 events/s (1,000,000 events at the
    # ~700/s measured at 100,000): allow 200 events/s, at least 900 s.
    catch_up_s = max(900.0, count / 200)
    try:
        peak = [0]
        watched = _Watched([psutil.Process(process.pid) for process in processes])
        # Warm up: the workers have joined, recovered and processed one case before timing.
        warm_up = next(bench_events(1)).model_copy(update={
            "event_id": str(uuid.uuid4()),
            "case_id": case_id_for(EXAMPLE_AGENCY, f"warm-up-{uuid.uuid4()}")})
        await _produce(hub.bootstrap, [(ingest[EXAMPLE_AGENCY],
                                        (await _serialize(hub.registry_url, [warm_up]))[0])])
        ends = await _end_offsets(hub.bootstrap, list(ingest.values()))
        await _wait_caught_up(hub.bootstrap, app_id, ends, watched, peak, timeout_s=300)
        await _produce(hub.bootstrap, records)
        load_before = round(os.getloadavg()[0], 2)
        started = time.perf_counter()
        cpu_started = watched.cpu_seconds()
        ends = await _end_offsets(hub.bootstrap, list(ingest.values()))
        await _wait_caught_up(hub.bootstrap, app_id, ends, watched, peak,
                              timeout_s=catch_up_s)
        # Then what the events caused: their copies, the alerts and the statistics feed
        # the worker reads back (twice: reading back produces more of them).
        for _ in range(2):
            ends_events = await _end_offsets(
                hub.bootstrap, [topics.case_events, topics.alerts, topics.stats_feed],
                single=frozenset({topics.stats_feed}))
            await _wait_caught_up(hub.bootstrap, app_id, ends_events, watched, peak,
                                  timeout_s=catch_up_s)
        elapsed = time.perf_counter() - started
        cpu_used = watched.cpu_seconds() - cpu_started
        load_after = round(os.getloadavg()[0], 2)
        for process in processes:
            _stop(process)

        # Recovery: empty data dirs force a rebuild of every store from its changelog.
        for name in names:
            shutil.rmtree(directory / name, ignore_errors=True)
        probe = next(bench_events(1)).model_copy(update={
            "event_id": str(uuid.uuid4()),
            "case_id": case_id_for(EXAMPLE_AGENCY, f"probe-{uuid.uuid4()}")})
        probe_record = (await _serialize(hub.registry_url, [probe]))[0]
        await _produce(hub.bootstrap, [(ingest[EXAMPLE_AGENCY], probe_record)])
        restarted = time.perf_counter()
        processes = [_start_worker(stream_settings, directory / name,
                                   directory / f"{name}.log", name, web_ports[name])
                     for name in names]
        ends = await _end_offsets(hub.bootstrap, [*ingest.values(), topics.case_events])
        ends_probe = {tp: end for tp, end in ends.items() if tp.topic != topics.case_events}
        await _wait_caught_up(hub.bootstrap, app_id, ends_probe,
                              _Watched([psutil.Process(p.pid) for p in processes]),
                              peak, timeout_s=900)
        recovery = time.perf_counter() - restarted
        recovery_restore, recovery_index = await _recovery_phases(
            hub.metrics_host, list(web_ports.values()))

        # And with the data directories kept (a restart, a deploy): only the changelogs'
        # and topics' tails are read.
        for process in processes:
            _stop(process)
        probe = probe.model_copy(update={"event_id": str(uuid.uuid4())})
        probe_record = (await _serialize(hub.registry_url, [probe]))[0]
        await _produce(hub.bootstrap, [(ingest[EXAMPLE_AGENCY], probe_record)])
        restarted = time.perf_counter()
        processes = [_start_worker(stream_settings, directory / name,
                                   directory / f"{name}.log", name, web_ports[name])
                     for name in names]
        ends = await _end_offsets(hub.bootstrap, list(ingest.values()))
        await _wait_caught_up(hub.bootstrap, app_id, ends,
                              _Watched([psutil.Process(p.pid) for p in processes]),
                              peak, timeout_s=900)
        recovery_kept = time.perf_counter() - restarted
    finally:
        for process in processes:
            _stop(process)

    await _produce(hub.bootstrap, [(baseline_source, item) for item in serialized])
    baseline = await asyncio.to_thread(_baseline_librdkafka, hub.bootstrap, baseline_source,
                                       baseline_target, count)
    baseline_aiokafka = await _baseline(hub.bootstrap, baseline_source,
                                        f"{baseline_target}.aiokafka", count)
    rate = count / elapsed
    return BenchResult(
        events=count,
        events_per_case=events_per_case,
        workers=workers,
        events_per_s=round(rate, 1),
        baseline_events_per_s=round(baseline, 1),
        ratio=round(rate / baseline, 3),
        peak_rss_mib=round(peak[0] / 2**20, 1),
        recovery_s=round(recovery, 2),
        recovery_kept_s=round(recovery_kept, 2),
        recovery_restore_s=round(recovery_restore, 2),
        recovery_index_s=round(recovery_index, 2),
        worker_cpu_ms_per_event=round(cpu_used * 1000 / count, 3),
        baseline_aiokafka_events_per_s=round(baseline_aiokafka, 1),
        load_before=load_before,
        load_after=load_after,
    )


def result_dict(result: BenchResult) -> dict[str, Any]:
    """The result as a plain dict (for JSON)."""
    return asdict(result)
