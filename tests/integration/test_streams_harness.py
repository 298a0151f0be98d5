"""Helpers for the stream worker tests: worker subprocesses, producing and reading topics.

Every test gets its own app id (consumer group, changelog names) and topic prefix, so
workers of different tests never see each other's records on the shared broker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord

from hub.identity import case_id_for
from hub.kafka import make_consumer, make_producer
from hub.local.processes import free_port
from hub.models import CaseEvent, CaseReferred, CaseState, PenaltyCaseRecorded
from hub.models.examples import (
    EXAMPLE_AGENCY,
    EXAMPLE_PROCURATORATE,
    EXAMPLE_UNITS_YAML,
    example_events,
)
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from hub.topics import TopicSpec, apply_topics
from streams.engine.outputs import partition_of
from streams.settings import StreamSettings, prepare_topics
from streams.topics import TopicNames

REPO = Path(__file__).resolve().parents[2]


@dataclass
class StreamsDeployment:
    """One test's private namespace on the shared broker."""

    bootstrap: str
    registry_url: str
    tmp: Path
    app_id: str = field(default_factory=lambda: f"lf-test-{uuid.uuid4().hex[:10]}")
    tick_interval_s: float = 1.0
    units_file: Path | None = None
    hub_unit: str | None = None
    #: Extra environment of the worker processes (e.g. the engine's lowered limits).
    env: dict[str, str] = field(default_factory=dict)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(prefix=f"{self.app_id}.")

    def settings(self) -> StreamSettings:
        from hub.config import HubSettings

        extra: dict[str, Any] = {"units_file": self.units_file}
        if self.hub_unit:
            extra["hub_unit_code"] = self.hub_unit
        return StreamSettings(
            hub=HubSettings(bootstrap=self.bootstrap, registry_url=self.registry_url),
            topics=self.topics, app_id=self.app_id, **extra,
        )

    async def create_topics(self, ingest: Iterable[str]) -> None:
        """Outputs, changelogs and the given ingest topics (4 partitions, like production)."""
        await apply_topics(self.bootstrap,
                           [TopicSpec(name=name, partitions=PARTITIONS) for name in ingest])
        await prepare_topics(self.settings())

    def start_worker(self, worker_id: str) -> subprocess.Popen[bytes]:
        log_path = self.tmp / f"{worker_id}.log"
        command = [
            sys.executable, "-m", "streams", "run",
            "--worker-id", worker_id,
            "--data-dir", str(self.tmp / worker_id),
            "--web-port", str(free_port()),
            "--bootstrap", self.bootstrap,
            "--registry-url", self.registry_url,
            "--app-id", self.app_id,
            "--topic-prefix", self.topics.prefix,
            "--deadline-tick-interval", str(self.tick_interval_s),
            "--loglevel", os.environ.get("LF_TEST_WORKER_LOGLEVEL", "warning"),
        ]
        if self.units_file:
            command += ["--units", str(self.units_file)]
        if self.hub_unit:
            command += ["--hub-unit", self.hub_unit]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.workers[worker_id] = process
        return process

    def stop_worker(self, worker_id: str, sig: int = signal.SIGTERM) -> None:
        process = self.workers.pop(worker_id)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)

    def stop_all(self) -> None:
        for worker_id in list(self.workers):
            self.stop_worker(worker_id)

    def log_of(self, worker_id: str) -> str:
        path = self.tmp / f"{worker_id}.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""


#: The partitions of a deployment's topics (``StreamsDeployment.create_topics``).
PARTITIONS = 4


def partition_not_owning(event: CaseEvent) -> int:
    """A partition whose task does not own ``event``'s case: what the worker reads there
    goes to the case's task through ``lf.streams.case-intake``."""
    return (partition_of(event.kafka_key(), list(range(PARTITIONS))) + 1) % PARTITIONS


async def produce_on_partition(deployment: StreamsDeployment, topic: str, event: CaseEvent,
                               partition: int) -> None:
    """Produce ``event`` on a partition of the producer's choosing (any producer may)."""
    async with SchemaRegistryClient(deployment.registry_url) as registry:
        serialized = await AvroSerde(registry).serialize(event)
    producer = make_producer(deployment.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, serialized.value, key=serialized.key,
                                     headers=serialized.headers, partition=partition)
    finally:
        await producer.stop()


async def produce_events(bootstrap: str, registry_url: str, topic: str,
                         events: Iterable[CaseEvent | bytes],
                         extra_headers: list[tuple[str, bytes]] | None = None) -> None:
    """Produce events (serde-encoded, CloudEvents headers, then ``extra_headers``) or raw
    garbage bytes, in order."""
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(bootstrap)
        await producer.start()
        try:
            for item in events:
                if isinstance(item, bytes):
                    await producer.send_and_wait(topic, item, key=b"garbage")
                else:
                    serialized = await serde.serialize(item)
                    await producer.send_and_wait(
                        topic, serialized.value, key=serialized.key,
                        headers=[*serialized.headers, *(extra_headers or [])])
        finally:
            await producer.stop()


async def read_until(bootstrap: str, topic: str,
                     done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
                     *, timeout_s: float = 120.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` from the start, once ``done(records)`` holds (or timeout)."""
    consumer = make_consumer(bootstrap, topic, group_id=None)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
            if done(records):
                break
    finally:
        await consumer.stop()
    return records


async def read_events_until(
    bootstrap: str, registry_url: str, topic: str,
    done: Callable[[list[tuple[ConsumerRecord[bytes, bytes], CaseEvent]]], bool],
    *, timeout_s: float = 120.0,
) -> list[tuple[ConsumerRecord[bytes, bytes], CaseEvent]]:
    """Like :func:`read_until`, with every record decoded (the predicate sees events)."""
    consumer = make_consumer(bootstrap, topic, group_id=None)
    found: list[tuple[ConsumerRecord[bytes, bytes], CaseEvent]] = []
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        await consumer.start()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    for record in batch:
                        found.append((record, await serde.decode(record.value)))
                if done(found):
                    break
        finally:
            await consumer.stop()
    return found


async def decode_all(registry_url: str, records: Iterable[ConsumerRecord[bytes, bytes]]
                     ) -> list[CaseEvent]:
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        return [await serde.decode(record.value) for record in records]


async def wait_until_read(deployment: StreamsDeployment, topic: str,
                          *, timeout_s: float = 120.0) -> None:
    """Until the workers' group has committed every record of ``topic`` produced so far:
    proof a worker read them (the engine commits after each batch)."""
    from confluent_kafka import TopicPartition

    from hub.kafka import end_offset, make_engine_consumer

    def committed_all() -> bool:
        consumer = make_engine_consumer(deployment.bootstrap, group_id=deployment.app_id,
                                        client_id="test-offsets")
        try:
            places = [TopicPartition(topic, number) for number in range(4)]
            ends = [end_offset(consumer, topic, number) for number in range(4)]
            committed = consumer.committed(places, timeout=10)
            # A partition nothing was produced to has no committed offset (negative).
            return all(place.offset >= end or end == 0
                       for place, end in zip(committed, ends, strict=True))
        finally:
            consumer.close()

    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(committed_all):
        assert time.monotonic() < deadline, f"{topic} not read within {timeout_s} s"
        await asyncio.sleep(0.5)


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, bytes]:
    return dict(record.headers)


async def settle(seconds: float) -> None:
    """Let a worker run a little longer (to show that nothing *more* arrives)."""
    await asyncio.sleep(seconds)


def header_value(record: ConsumerRecord[bytes, bytes], name: str) -> str:
    return headers_of(record)[name].decode()


def events_of_type(events: Iterable[CaseEvent], model: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, model)]


def example_of(model: type[Any]) -> Any:
    """The example event of ``model`` (``hub.models.examples``)."""
    return next(e for e in example_events().values() if isinstance(e, model))


def latest_state(found: Iterable[tuple[Any, CaseEvent]], case_id: str) -> CaseState | None:
    """The last CaseState of ``case_id`` among decoded records."""
    mine = [e for _, e in found if isinstance(e, CaseState) and e.case_id == case_id]
    return mine[-1] if mine else None


#: A second, fictional agency of the example county: the rogue unit of entitlement tests.
ROGUE_AGENCY = "11421181MB0000007M"
#: A police bureau of the neighbouring county, which no referral of the example county
#: goes to.
ROGUE_POLICE = "11421182MB0000070M"
#: The example units plus the rogue agency and the neighbouring county's police.
UNITS_WITH_ROGUE_YAML = EXAMPLE_UNITS_YAML + (
    f'  - {{code: "{ROGUE_AGENCY}", name: 示例县烟草专卖局, name_en: Example tobacco,\n'
    '     kind: agency, role: enforcement_agency, domains: [tobacco], division: "421181"}\n'
    f'  - {{code: "{ROGUE_POLICE}", name: 邻县公安局, name_en: Neighbouring county police,\n'
    '     kind: police, role: county_psb, domains: [market_regulation], division: "421182"}\n')


def rogue_county_deployment(bootstrap: str, registry_url: str, tmp: Path
                            ) -> StreamsDeployment:
    """A deployment whose unit registry holds the example units and the rogue agency, run
    by the example procuratorate (entitlement tests)."""
    deployment = StreamsDeployment(bootstrap, registry_url, tmp)
    units = tmp / "units.yaml"
    units.write_text(UNITS_WITH_ROGUE_YAML, encoding="utf-8")
    deployment.units_file = units
    deployment.hub_unit = EXAMPLE_PROCURATORATE
    return deployment


def penalty_of(unit: str, decision: str, case_id: str) -> PenaltyCaseRecorded:
    """The example penalty as ``unit``'s decision ``decision``, put on ``case_id`` (a
    unit's own case, or a forged one)."""
    template = next(e for e in example_events().values()
                    if isinstance(e, PenaltyCaseRecorded))
    return template.model_copy(update={
        "source_unit": unit, "decision_number": decision, "agency_case_number": None,
        "case_id": case_id, "event_id": str(uuid.uuid4())})


def fresh_referral(**update: Any) -> tuple[CaseReferred, int]:
    """The example agency's referral under numbers no other test used (its serial, as
    returned, makes them), with ``update`` applied."""
    number = uuid.uuid4().int % 90_000 + 10_000
    template = next(e for e in example_events().values() if isinstance(e, CaseReferred))
    referral = template.model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_AGENCY, f"示例市监罚〔2024〕{number}号"),
        "referral_number": f"示例市监移〔2024〕{number}号",
        "decision_number": f"示例市监罚〔2024〕{number}号",
        "agency_case_number": f"示例市监立〔2024〕{number}号", **update})
    return referral, number


def write_example_units(directory: Path) -> Path:
    """The fictional units of ``hub.models.examples`` as a unit registry file."""
    path = directory / "units.yaml"
    path.write_text(EXAMPLE_UNITS_YAML, encoding="utf-8")
    return path
