"""Ingest benchmark: the file connector against a bare aiokafka producer, same broker.

Generates an N-row 双公示 GBK CSV, ingests it through the file connector (decode, map,
validate, encode, produce with acks=all, DLQ, checkpoints) and, in the same run, sends
pre-encoded records of the same shape and size with a bare idempotent producer. The
ratio says what the connector's work costs on top of the unavoidable producing.

The baseline is the strongest bare use of aiokafka: the same per-partition record
batches the connector sends (``create_batch``/``send_batch``), same producer settings.
The issue's original baseline, per-message pipelined ``send()``, is reported beside it.
Each cycles through the first 10,000 encoded records instead of holding N of
them, so that its memory does not distort the peak RSS, which is measured for the
connector phase alone (``ru_maxrss`` before the baseline starts).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from connectors import rowpath
from connectors.config import parse_config
from connectors.kinds.file import FileSource
from connectors.mapping import build_mapper
from connectors.runner import ConnectorRunner
from connectors.samples import DEMO_MARKET_UNIT, write_penalty_csv
from hub.config import HubSettings
from hub.kafka import make_producer
from hub.models import CHINA_TZ
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde, SerializedEvent
from hub.topics import apply_topics, delete_namespace, load_manifest

__all__ = ["run_ingest_benchmark"]

log = logging.getLogger(__name__)

_BASELINE_DISTINCT = 10_000


def _namespace(suffix: str) -> str:
    """The run's own topic prefix: its ingest topics and both baselines' topics."""
    return f"lf-bench-{suffix}."


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds(who: int) -> float:
    """User + system CPU of this process (``RUSAGE_SELF``) or of its reaped children
    (``RUSAGE_CHILDREN``: the mapping processes, reaped when the connector stops)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def _encoded_sample(registry_url: str, sample: Path, config: Any) -> list[SerializedEvent]:
    """The first rows of the export, mapped and encoded exactly as the connector does."""
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        await serde.prepare(mapper.avro_names())
    now = datetime.now(CHINA_TZ)
    encoded = []
    source = FileSource(config.source)
    for record in source._csv(sample, "baseline", {}):
        if record.row is None:
            continue
        mapped = mapper.map(record.row, record.reference, now)
        encoded.append(serde.local.serialize_dict(mapped.avro_name, mapped.record))
        if len(encoded) >= _BASELINE_DISTINCT:
            break
    return encoded


async def _baseline_producer(bootstrap: str, suffix: str) -> tuple[AIOKafkaProducer, str]:
    topic = f"{_namespace(suffix)}baseline.{uuid.uuid4().hex[:8]}"
    await apply_topics(bootstrap, [load_manifest().spec_for(topic)])
    producer = make_producer(bootstrap, client_id="bench-baseline", linger_ms=20)
    await producer.start()
    return producer, topic


async def _baseline_batches(bootstrap: str, encoded: list[SerializedEvent],
                            records: int, suffix: str) -> float:
    """Bare aiokafka, the way the connector produces: per-partition record batches
    (default partitioner), submitted when full or every 2,048 records, acks awaited in
    windows of 20,000. Same producer settings (idempotent, acks=all, 512 KiB batches)."""
    producer, topic = await _baseline_producer(bootstrap, suffix)
    try:
        partitions = sorted(await producer.partitions_for(topic))
        partitioner = DefaultPartitioner()
        started = time.perf_counter()
        open_batches: dict[int, Any] = {}
        futures: list[asyncio.Future[Any]] = []
        waiting = 0
        for index in range(records):
            item = encoded[index % len(encoded)]
            partition = partitioner(item.key, partitions, partitions)
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = producer.create_batch()
            if batch.append(key=item.key, value=item.value, timestamp=None,
                            headers=item.headers) is None:
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[partition] = producer.create_batch()
                batch.append(key=item.key, value=item.value, timestamp=None,
                             headers=item.headers)
            waiting += 1
            if waiting >= 2048:
                for number, full in open_batches.items():
                    futures.append(await producer.send_batch(full, topic, partition=number))
                open_batches.clear()
                waiting = 0
            if index % 20_000 == 19_999:
                await asyncio.gather(*futures)
                futures.clear()
        for number, full in open_batches.items():
            futures.append(await producer.send_batch(full, topic, partition=number))
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _baseline_send(bootstrap: str, encoded: list[SerializedEvent], records: int,
                         suffix: str) -> float:
    """Bare aiokafka with pipelined per-message ``send()`` (the issue's original baseline)."""
    producer, topic = await _baseline_producer(bootstrap, suffix)
    try:
        started = time.perf_counter()
        pending = []
        for index in range(records):
            item = encoded[index % len(encoded)]
            pending.append(await producer.send(topic, item.value, key=item.key,
                                               headers=item.headers))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await producer.flush()
        await asyncio.gather(*pending)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _run(records: int, bootstrap: str, registry_url: str, root: Path,
               workers: int | None, keep_topics: bool) -> dict[str, Any]:
    """The run, then its topics deleted (unless ``keep_topics``): a 1,000,000-row run
    writes ~300 MB to its ingest topic and as much again to each baseline's."""
    suffix = uuid.uuid4().hex[:8]
    try:
        return await _measure(records, bootstrap, registry_url, root, workers, suffix)
    finally:
        if not keep_topics:
            await _delete_bench_topics(bootstrap, suffix)


async def _delete_bench_topics(bootstrap: str, suffix: str) -> None:
    """Best effort: a failure to clean up is logged, never hides the run's result."""
    try:
        await delete_namespace(bootstrap, [_namespace(suffix)])
    except Exception:  # the measurement stands; the warning says what is left
        log.warning("could not delete the run's topics under %s", _namespace(suffix),
                    exc_info=True)


async def _measure(records: int, bootstrap: str, registry_url: str, root: Path,
                   workers: int | None, suffix: str) -> dict[str, Any]:
    drop = root / "drop"
    drop.mkdir()
    staged = write_penalty_csv(root / "penalties.csv", records, encoding="gbk")
    config = parse_config({
        "id": f"bench-{suffix}", "unit": DEMO_MARKET_UNIT, "kind": "file",
        "source": {"path": str(drop), "settle_seconds": 0}, "preset": "penalty-disclosure",
        "mapping": {"stream": f"bench-{suffix}"}, "state_dir": str(root / "state"),
        "bootstrap": bootstrap, "registry_url": registry_url, "workers": workers})
    # Its own namespace: never under a running hub's `lf.ingest.<unit>.` prefix, where the
    # workers would read the rows as the demo market-regulation unit's cases.
    runner = ConnectorRunner(config, settings=HubSettings(bootstrap=bootstrap,
                                                          registry_url=registry_url),
                             topic_prefix=_namespace(suffix))
    target = drop / staged.name
    staged.rename(target)
    started = time.perf_counter()
    main_started = _cpu_seconds(resource.RUSAGE_SELF)
    children_started = _cpu_seconds(resource.RUSAGE_CHILDREN)
    await runner.run(once=True)
    elapsed = time.perf_counter() - started
    main_cpu = _cpu_seconds(resource.RUSAGE_SELF) - main_started
    workers_cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - children_started
    peak = _peak_rss_mib()
    produced = int(runner.metrics.produced._value.get())
    sample = root / "sample.csv"
    write_penalty_csv(sample, min(records, _BASELINE_DISTINCT), encoding="gbk")
    encoded = await _encoded_sample(registry_url, sample, config)
    baseline_elapsed = await _baseline_batches(bootstrap, encoded, records, suffix)
    send_elapsed = await _baseline_send(bootstrap, encoded, records, suffix)
    rate = produced / elapsed if elapsed else 0.0
    baseline_rate = records / baseline_elapsed if baseline_elapsed else 0.0
    send_rate = records / send_elapsed if send_elapsed else 0.0
    return {
        "records": records,
        "produced": produced,
        "workers": runner.workers,
        # Rows the native core takes map in the connector's own process (no workers).
        "native_core": rowpath.enabled(),
        "seconds": round(elapsed, 3),
        "records_per_s": round(rate, 1),
        # The ratio is against the stronger of the two bare producers: the batch API the
        # connector itself uses; per-message send() is reported for comparison.
        "baseline_records_per_s": round(baseline_rate, 1),
        "baseline_send_records_per_s": round(send_rate, 1),
        "ratio": round(rate / baseline_rate, 3) if baseline_rate else 0.0,
        "peak_rss_mib": round(peak, 1),
        # The largest mapping process (children are reaped when the connector stops).
        "worker_peak_rss_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        # CPU of the connector phase (this process and its worker processes) per record:
        # comparable across runs where wall-clock rates are not (2 shared cores).
        "cpu_us_per_record": round((main_cpu + workers_cpu) / records * 1e6, 1)
        if records else 0.0,
        "main_cpu_us_per_record": round(main_cpu / records * 1e6, 1) if records else 0.0,
        "load_average": os.getloadavg()[0],
    }


def run_ingest_benchmark(records: int, bootstrap: str, registry_url: str,
                         workers: int | None = None, *,
                         keep_topics: bool = False) -> dict[str, Any]:
    """Run the benchmark once (blocking); returns the numbers as a JSON-ready dict.

    ``workers`` is the connector's mapping processes (None: the connector's default);
    ``keep_topics`` leaves the run's private topics on the broker.
    """
    with tempfile.TemporaryDirectory(prefix="liangfa-bench-") as directory:
        return asyncio.run(_run(records, bootstrap, registry_url, Path(directory), workers,
                                keep_topics))
