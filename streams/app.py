"""The faust-streaming worker: one app, one agent per processor, state in RocksDB tables.

Why it looks the way it does (see LOCAL_STACK.md, faust section):

- agents read raw bytes and decode inside the loop, so a bad record is dead-lettered by
  :mod:`streams.safety` instead of crashing the agent (which would commit past it);
- ``processing_guarantee="at_least_once"`` with ``concurrency=1``, and every handler
  deduplicates by ``event_id``: a replay after a crash never doubles an output;
- topics and changelogs are created here, before faust starts, with equal partition
  counts (faust raises ``PartitionsMismatch`` otherwise and the broker does not
  auto-create);
- faust's pattern subscription does not work, so the ingest topics are listed from the
  broker at start; a new unit's topic is picked up at the next restart (and reported).

Several workers share the load by partitions: each has its own data dir and web port.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from hub.config import HubSettings, KafkaSecurity
from hub.errors import RecordRejected
from hub.kafka import admin_client
from hub.models import CaseEvent
from hub.registry import SchemaRegistryClient
from hub.rules import load_rule_set
from hub.serde import AvroSerde, cloudevent_headers
from hub.topics import TopicSpec, apply_topics
from hub.units import UnitRegistry, load_unit_registry
from streams._events import (
    FEEDBACK_TYPES,
    MATCHED_HEADER,
    decode_stored,
    dumps_json,
    stored_form,
)
from streams.metrics import ALERTS, CONSUMER_LAG
from streams.safety import Guard, RawRecord
from streams.topics import TopicNames, internal_topic_specs

__all__ = [
    "DEFAULT_APP_ID",
    "FEEDBACK_TYPES",
    "MATCHED_HEADER",
    "Runtime",
    "StreamSettings",
    "create_app",
    "decode_stored",
    "dumps_json",
    "prepare_topics",
    "stored_form",
]

log = logging.getLogger(__name__)

DEFAULT_APP_ID = "liangfa-streams"
#: The unit operating the hub (source_unit of derived events) when no registry says otherwise.
DEFAULT_HUB_UNIT = "11421181MB00000039"
T = TypeVar("T")
#: aiokafka keeps one produce request in flight per broker, so throughput is batch size
#: per round trip: 16 KiB batches (the default) cap a worker near a few hundred records
#: a second; 512 KiB per partition batch stays under the broker's 1 MiB message limit.
PRODUCER_MAX_BATCH_BYTES = 512 * 1024
PRODUCER_MAX_REQUEST_BYTES = 4 * 1024 * 1024
PRODUCER_LINGER_S = 0.01
#: faust queues every table write's changelog record in a buffer and stops all streams
#: ("producer buffer full") once it holds 100; commits flush it anyway, so let it hold
#: a commit interval's worth.
PRODUCER_BUFFER_MAX_MESSAGES = 20_000
_DECODE_CACHE_SIZE = 512


@dataclass(frozen=True)
class StreamSettings:
    """Everything a worker needs besides its own id, data dir and web port."""

    hub: HubSettings = field(default_factory=HubSettings)
    topics: TopicNames = field(default_factory=TopicNames)
    app_id: str = DEFAULT_APP_ID
    partitions: int = 4
    units_file: Path | None = None
    hub_unit_code: str = DEFAULT_HUB_UNIT
    #: How often the deadline timer looks for clocks that ran out (seconds).
    deadline_tick_interval_s: float = 30.0
    #: Broker session timeout: how long a dead worker's partitions wait before moving.
    session_timeout_s: float = 10.0
    table_standby_replicas: int = 1

    @property
    def bootstrap(self) -> str:
        """The broker address."""
        return self.hub.bootstrap


def _run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code (the app is built before faust's loop runs)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def prepare_topics(settings: StreamSettings) -> list[str]:
    """Create outputs and changelogs (idempotent); return the ingest topics that exist now."""
    topics = settings.topics
    specs = topics.output_specs(settings.partitions)
    specs += internal_topic_specs(settings.app_id, settings.partitions)
    unit_codes = {settings.hub_unit_code}
    if settings.units_file:
        unit_codes |= {unit.code for unit in load_unit_registry(settings.units_file)}
    specs += [TopicSpec(name=topics.inbox(code), partitions=settings.partitions)
              for code in sorted(unit_codes)]
    await apply_topics(settings.bootstrap, specs)
    admin = admin_client(settings.bootstrap, security=settings.hub.kafka_security)
    try:
        await admin.start()
        names = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(name for name in names if topics.ingest_pattern.match(name))


def _broker_credentials(security: KafkaSecurity) -> Any:
    if security.security_protocol == "PLAINTEXT":
        return None
    context: ssl.SSLContext | None = None
    if security.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(security.ssl_cafile) if security.ssl_cafile else None)
        if security.ssl_certfile:
            context.load_cert_chain(
                str(security.ssl_certfile),
                str(security.ssl_keyfile) if security.ssl_keyfile else None)
    if security.sasl_mechanism:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=(security.sasl_password.get_secret_value()
                      if security.sasl_password else None),
            mechanism=security.sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context)


_Processor = tuple[str, tuple[str, ...], Guard, Callable[[RawRecord], Awaitable[None]]]


class Runtime:
    """What every processor module needs: the app, topics, serde, output and guards.

    Processors call :meth:`send_event` for outputs: faust's producer flushes before every
    offset commit, so an output is on the broker before its input counts as processed.
    """

    def __init__(self, app: faust.App, settings: StreamSettings, ingest_topics: list[str]
                 ) -> None:
        self.app = app
        self.settings = settings
        self.topics = settings.topics
        self.ingest_topics = ingest_topics
        self.registry = SchemaRegistryClient(settings.hub.registry_url,
                                             auth=settings.hub.registry_auth)
        self.serde = AvroSerde(self.registry)
        self.worker_id = "worker"
        self.rules = load_rule_set()
        self.units = (load_unit_registry(settings.units_file, roles=self.rules.unit_roles,
                                         violation_types=self.rules.violation_types)
                      if settings.units_file else UnitRegistry([]))
        self._decoded: OrderedDict[tuple[str, int, int], CaseEvent] = OrderedDict()
        self._processors: list[_Processor] = []

    def source_topic(self, *names: str) -> faust.TopicT:
        """A raw-bytes topic: decoding happens inside the guarded loop."""
        return self.app.topic(
            *names,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    def table(self, name: str, *, partitions: int | None = None) -> Any:
        """A RocksDB-backed table with JSON values, co-partitioned with its source topics."""
        return self.app.Table(
            name,
            default=None,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
            partitions=partitions or self.settings.partitions,
        )

    def guard(self, processor: str) -> Guard:
        """The dead-letter guard of one processor."""
        return Guard(processor, self.topics.dead_letters, self.produce)

    async def produce(self, topic: str, key: bytes | None, value: bytes | None,
                      headers: list[tuple[str, bytes]]) -> None:
        """Queue one record on faust's producer (flushed before the next offset commit)."""
        await self.app.producer.send(topic, key, value, None, None, headers)

    async def decode(self, record: RawRecord) -> CaseEvent:
        """The event in a raw record; :class:`RecordRejected` when it is not one.

        Several agents read ``lf.case-events``; a small cache keyed by record position
        decodes each record once for all of them (events are immutable models).
        """
        if record.value is None:
            raise RecordRejected("record has no value (tombstone)", field="value",
                                 error_type="tombstone")
        position = (record.topic, record.partition, record.offset)
        cached = self._decoded.get(position)
        if cached is not None:
            return cached
        event = await self.serde.decode(record.value)
        self._decoded[position] = event
        if len(self._decoded) > _DECODE_CACHE_SIZE:
            self._decoded.popitem(last=False)
        return event

    def add_agent(self, processor: str, topics: Sequence[str],
                  handle: Callable[[RawRecord], Awaitable[None]]) -> None:
        """Register a guarded processor: ``handle`` gets each raw record; failures go to DLQ.

        Processors are not given one faust agent each: those whose topics overlap are
        merged into one agent by :meth:`start_agents`, so a record read by six
        processors is iterated, decoded and acknowledged once instead of six times (faust's
        per-event stream overhead, not the processors' logic, dominated the profile). Each
        processor keeps its own guard: one failing dead-letters the record under its own
        name and the others still process it.
        """
        self._processors.append((processor, tuple(topics), self.guard(processor), handle))

    def start_agents(self) -> None:
        """Create one faust agent per group of processors that share a topic."""
        groups: list[tuple[set[str], list[_Processor]]] = []
        for entry in self._processors:
            topics = set(entry[1])
            merged = [group for group in groups if group[0] & topics]
            for group in merged:
                groups.remove(group)
                topics |= group[0]
            members = [member for group in merged for member in group[1]]
            groups.append((topics, [*members, entry]))
        for topics, members in groups:
            order = {entry[0]: index for index, entry in enumerate(self._processors)}
            members.sort(key=lambda entry: order[entry[0]])
            self._register_group(sorted(topics), members)
        self._processors.clear()

    def _register_group(self, topics: list[str], members: list[_Processor]) -> None:
        by_topic: dict[str, list[tuple[Guard, Callable[[RawRecord], Awaitable[None]]]]] = {
            topic: [(guard, handle) for _, reads, guard, handle in members if topic in reads]
            for topic in topics
        }
        name = members[0][0] if len(members) == 1 else "case-processors"

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                record = RawRecord.from_event(event)
                for guard, handle in by_topic[record.topic]:
                    await guard.run(record, functools.partial(handle, record))

        agent.__name__ = agent.__qualname__ = name.replace("-", "_")
        log.info("agent %s runs %s on %d topics", name,
                 ", ".join(member[0] for member in members), len(topics))
        self.app.agent(self.source_topic(*topics), name=name, concurrency=1)(agent)

    async def send_event(self, topic: str, event: CaseEvent, *, key: bytes | None = None
                         ) -> None:
        """Encode ``event`` with the hub serde and send it with CloudEvents headers."""
        serialized = await self.serde.serialize(event)
        await self.produce(topic, key if key is not None else serialized.key,
                           serialized.value, serialized.headers)
        kind = getattr(event, "kind", None)
        status = getattr(event, "status", None)
        if topic == self.topics.alerts and kind is not None and status is not None:
            ALERTS.labels(str(kind), str(status)).inc()

    async def forward(self, topic: str, record: RawRecord, event: CaseEvent) -> None:
        """Send a decoded event's original bytes on, with CloudEvents headers rebuilt."""
        header = {
            "event_id": event.event_id,
            "case_id": event.case_id,
            "source_unit": event.source_unit,
            "connector_id": event.connector_id,
            "occurred_at": event.occurred_at,
        }
        await self.produce(topic, event.kafka_key(), record.value,
                           cloudevent_headers(event.avro_name, header))

    @staticmethod
    def is_rekeyed(record: RawRecord) -> bool:
        """True for feedback the matcher re-keyed to its case (header ``lf_matched``)."""
        return record.header(MATCHED_HEADER) is not None

    def accepts(self, record: RawRecord, event: CaseEvent, case_known: bool) -> bool:
        """Whether a case processor should fold ``event`` into its case.

        Police feedback arrives keyed by whatever case id the police system quoted; until
        the matcher ties it to a case it must not open a phantom case. It counts when the
        case is already known under that id or when it is the matcher's re-keyed copy.
        """
        if not isinstance(event, FEEDBACK_TYPES):
            return True
        return case_known or self.is_rekeyed(record)

    def derived_header(self, *, case_id: str, event_id: str, occurred_at: datetime,
                       processor: str, source_record: str) -> dict[str, Any]:
        """The common header of an event a processor derives (source = the hub's unit)."""
        return {
            "event_id": event_id,
            "case_id": case_id,
            "source_unit": self.settings.hub_unit_code,
            "occurred_at": occurred_at,
            "recorded_at": datetime.now(UTC),
            "source_system": "liangfa-streams",
            "source_record": source_record,
            "connector_id": f"streams.{processor}",
        }


def _register_lag_timer(runtime: Runtime) -> None:
    app = runtime.app

    async def consumer_lag() -> None:
        """End offset minus committed offset per assigned partition (what operators watch)."""
        consumer = app.consumer
        committed: Mapping[Any, int] = getattr(consumer, "_committed_offset", {})
        for tp in consumer.assignment():
            if tp.topic.startswith(f"{runtime.settings.app_id}-"):
                continue
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            done = committed.get(tp) or 0
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(highwater - done, 0))

    app.timer(15.0, on_leader=False)(consumer_lag)


def create_app(settings: StreamSettings, worker_id: str, data_dir: Path, web_port: int,
               *, ingest_topics: list[str] | None = None) -> faust.App:
    """Build the worker's faust app with every processor registered.

    Topics are created first (idempotently); ``ingest_topics`` skips the broker listing.
    """
    from streams import aggregate, deadlines, matching, normalize, routing, screening, stats

    if ingest_topics is None:
        ingest_topics = _run_blocking(prepare_topics(settings))
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        broker_credentials=_broker_credentials(settings.hub.kafka_security),
        store="rocksdb://",
        datadir=str(data_dir),
        web_port=web_port,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        table_standby_replicas=settings.table_standby_replicas,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 5, 1.0),
        key_serializer="raw",
        value_serializer="raw",
        autodiscover=False,
        producer_acks=-1,
        producer_linger=PRODUCER_LINGER_S,
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        producer_max_request_size=PRODUCER_MAX_REQUEST_BYTES,
    )
    app.producer.buffer.max_messages = PRODUCER_BUFFER_MAX_MESSAGES
    setup_prometheus_sensors(app, name_prefix="liangfa_streams_faust")
    runtime = Runtime(app, settings, ingest_topics)
    runtime.worker_id = worker_id
    if not ingest_topics:
        log.warning("no ingest topic matches %s yet: normalize waits for a restart",
                    settings.topics.ingest_pattern.pattern)
    for module in (normalize, routing, matching, deadlines, screening, aggregate, stats):
        module.register(runtime)
    runtime.start_agents()
    _register_lag_timer(runtime)
    app.runtime = runtime  # type: ignore[attr-defined]
    return app
