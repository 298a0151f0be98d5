"""The sink loop: read the unit's inbox → deliver → receipt → commit the offset.

Order is the guarantee. An inbox record's offset is committed only after the target
acknowledged it (HTTP 2xx, file renamed, transaction committed) *and* the broker
acknowledged its ``DeliveryAcknowledged`` receipt (or, for a refusal, its dead letter).
A ``kill -9`` anywhere in between leaves the offset uncommitted: the record is delivered
again, and the target's event-id deduplication (``Idempotency-Key``, file name, primary
key) makes that second delivery a no-op; the receipt's event id is derived from the
delivered event's id, so a second copy of it is the same event, which the engine drops
as a duplicate. Nothing is skipped, nothing lands twice in the unit's system.

A target that is down (:class:`~hub.errors.RetriableError` after the target's own
retries) ends the session; the runner backs off and resumes from the committed offset.
A target's refusal (4xx) is dead-lettered on ``lf.dlq.<sink id>`` with the reason in its
headers and the sink moves on, as a source connector does with a bad row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from connectors.delivery import dead_letter_id
from connectors.runner import dlq_topic
from connectors.sinks.config import SinkConfig
from connectors.sinks.targets import Ack, InboxItem, Refused, Target, json_ready, make_target
from connectors.topics import BACKOFF_MAX, BACKOFF_START, ensure_topics
from hub.config import HubSettings, KafkaSecurity
from hub.errors import RetriableError
from hub.identity import event_id_for
from hub.kafka import make_consumer, make_producer
from hub.models import CHINA_TZ, DeliveryAcknowledged
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from hub.topics import ingest_topic

__all__ = ["SinkMetrics", "SinkRunner", "SinkSummary", "receipt_for"]

log = logging.getLogger(__name__)



class SinkMetrics:
    """Delivered, refused and receipted inbox events, per sink and unit."""

    def __init__(self, sink_id: str, unit: str, registry: CollectorRegistry | None = None
                 ) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ("sink", "unit")
        self.delivered = Counter("liangfa_sink_delivered_total",
                                 "Inbox events the unit's system acknowledged", labels,
                                 registry=self.registry).labels(sink_id, unit)
        self._refused = Counter("liangfa_sink_refused_total",
                                "Inbox events the unit's system refused (dead-lettered)",
                                [*labels, "reason"], registry=self.registry)
        #: Set on each acknowledgement: an inbox that stopped flowing shows here.
        self.last_delivery = Gauge("liangfa_sink_last_delivery_timestamp",
                                   "Unix time of the last acknowledged delivery", labels,
                                   registry=self.registry).labels(sink_id, unit)
        self.sink_id, self.unit = sink_id, unit

    def refused(self, reason: str) -> None:
        self._refused.labels(self.sink_id, self.unit, reason).inc()

    def serve(self, port: int) -> None:
        """Expose ``/metrics`` on ``port`` in a daemon thread."""
        start_http_server(port, registry=self.registry)


@dataclass
class SinkSummary:
    """What one run did (the CLI prints it as one JSON line)."""

    delivered: int = 0
    refused: int = 0
    sessions: int = 0


def receipt_for(config: SinkConfig, item: InboxItem, ack: Ack, reference: str,
                now: datetime) -> DeliveryAcknowledged:
    """The receipt of one acknowledged delivery; its id depends only on the sink and the
    delivered event, so a redelivery after a crash yields the very same receipt."""
    return DeliveryAcknowledged(
        event_id=event_id_for(f"sink:{config.id}", item.event_id, "delivery-acknowledged"),
        case_id=str(item.record["case_id"]),
        source_unit=config.unit,
        occurred_at=now,
        recorded_at=now,
        source_system=f"{config.kind} sink",
        source_record=reference,
        connector_id=config.id,
        delivered_event_id=item.event_id,
        delivered_event_type=item.event_type,
        target_kind=ack.kind,
        target=ack.target,
        acknowledgement=ack.acknowledgement,
        receipt_number=ack.receipt_number,
    )


class SinkRunner:
    """Runs one sink config under the unit's principal."""

    def __init__(self, config: SinkConfig, *, settings: HubSettings | None = None,
                 metrics: SinkMetrics | None = None) -> None:
        settings = settings or HubSettings()
        self.config = config
        self.bootstrap = config.bootstrap or settings.bootstrap
        self.registry_url = config.registry_url or settings.registry_url
        self.security: KafkaSecurity = settings.kafka_security
        self.registry_auth = settings.registry_auth
        self.metrics = metrics or SinkMetrics(config.id, config.unit)
        self.receipts = ingest_topic(config.unit, config.receipts_stream)
        self.dlq = dlq_topic(config.id)
        self.stopping = asyncio.Event()
        self.summary = SinkSummary()

    def install_signal_handlers(self) -> None:
        """SIGTERM / SIGINT: finish the event in hand, commit, exit."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)

    def stop(self) -> None:
        self.stopping.set()

    async def run(self, *, once: bool = False) -> SinkSummary:
        """Sessions until stopped (or, with ``once``, until the inbox is read to its end)."""
        if self.config.metrics_port is not None:
            self.metrics.serve(self.config.metrics_port)
        await self._ensure_topics()
        backoff = BACKOFF_START
        while not self.stopping.is_set():
            self.summary.sessions += 1
            try:
                await self._session(once=once)
                break
            except (RetriableError, KafkaError, OSError) as exc:
                log.warning("sink %s: session failed (%s); retrying in %.1fs",
                            self.config.id, exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        return self.summary

    async def _ensure_topics(self) -> None:
        """The inbox, receipts and DLQ topics, retried while the broker is not up yet.

        The inbox too: a unit connected before the hub routed anything to it has no
        ``lf.inbox.<unit>`` yet, and a consumer subscribed to a missing topic is never
        assigned a partition, so ``--once`` waited for an end it could not reach (logging
        "not found in cluster metadata" forever). Created here as the stream worker
        creates it (the manifest's defaults); where the unit's principal may only read
        its inbox (``liangfa acl``), the creation is refused and retried until the
        worker has made it, as a source connector waits for its topics.
        """
        await ensure_topics(self.bootstrap, [self.config.inbox, self.receipts, self.dlq],
                            security=self.security, stopping=self.stopping,
                            who=f"sink {self.config.id}")

    async def _session(self, *, once: bool) -> None:
        registry = SchemaRegistryClient(self.registry_url, auth=self.registry_auth)
        consumer = make_consumer(self.bootstrap, self.config.inbox,
                                 group_id=self.config.group_id, security=self.security,
                                 # a sink restarted after kill -9 waits out its dead
                                 # predecessor's session: the broker's minimum, 6 s
                                 session_timeout_ms=6000, heartbeat_interval_ms=2000)
        producer = make_producer(self.bootstrap, security=self.security,
                                 client_id=f"sink-{self.config.id}")
        target = make_target(self.config.kind, self.config.target)
        try:
            serde = AvroSerde(registry)
            await serde.prepare([DeliveryAcknowledged.avro_name])
            await producer.start()
            await consumer.start()
            ends: dict[TopicPartition, int] | None = None
            while not self.stopping.is_set():
                batches = await consumer.getmany(timeout_ms=int(
                    self.config.poll_interval_seconds * 1000), max_records=100)
                for records in batches.values():
                    for record in records:
                        await self._handle(record, serde, target, producer, consumer)
                        if self.stopping.is_set():
                            return
                if once:
                    if ends is None:
                        assigned = list(consumer.assignment())
                        ends = await consumer.end_offsets(assigned) if assigned else None
                    if ends is not None and all(
                            [await consumer.position(tp) >= end for tp, end in ends.items()]):
                        return
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)
            await target.aclose()
            await registry.aclose()

    async def _handle(self, record: ConsumerRecord[Any, Any], serde: AvroSerde, target: Target,
                      producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> None:
        reference = f"{record.topic}:{record.partition}:{record.offset}"
        raw: bytes = record.value or b""
        try:
            event_type, fields = await serde.decode_raw(raw)
            item = InboxItem(str(fields["event_id"]), event_type, json_ready(fields))
        except (ValueError, KeyError, LookupError) as exc:
            await self._dead_letter(producer, raw, reference, "undecodable",
                                    f"inbox record {reference} cannot be decoded: {exc}", "")
        else:
            try:
                ack = await target.deliver(item)
            except Refused as refusal:
                await self._dead_letter(producer, raw, reference, refusal.error_type,
                                        refusal.reason, refusal.value,
                                        event_id=item.event_id, event_type=event_type)
            else:
                receipt = receipt_for(self.config, item, ack, reference,
                                      datetime.now(CHINA_TZ))
                serialized = await serde.serialize(receipt)
                await self._send(producer, self.receipts, serialized.value,
                                 serialized.key, serialized.headers)
                self.metrics.delivered.inc()
                self.metrics.last_delivery.set_to_current_time()
                self.summary.delivered += 1
        # Only now: the target has it (or it is dead-lettered) and the broker has the receipt.
        partition = TopicPartition(record.topic, record.partition)
        try:
            await consumer.commit({partition: record.offset + 1})
        except KafkaError as exc:
            raise RetriableError(f"commit of {reference} failed: {exc!r}") from exc

    async def _dead_letter(self, producer: AIOKafkaProducer, raw: bytes, reference: str,
                           error_type: str, reason: str, value: str, *,
                           event_id: str = "", event_type: str = "") -> None:
        headers = [
            ("dlq.id", dead_letter_id(self.config.id, reference, raw).encode()),
            ("error.type", error_type.encode()),
            ("error.reason", reason.encode()),
            ("error.field", b"delivery"),
            ("error.value", value[:1000].encode()),
            ("source.reference", reference.encode()),
            ("event.id", event_id.encode()),
            ("event.type", event_type.encode()),
            ("connector.id", self.config.id.encode()),
            ("unit", self.config.unit.encode()),
        ]
        await self._send(producer, self.dlq, raw, None, headers)
        self.metrics.refused(error_type)
        self.summary.refused += 1
        log.warning("sink %s: %s dead-lettered: %s", self.config.id, reference, reason)

    @staticmethod
    async def _send(producer: AIOKafkaProducer, topic: str, value: bytes, key: bytes | None,
                    headers: list[tuple[str, bytes]]) -> None:
        try:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
        except KafkaError as exc:
            raise RetriableError(f"send to {topic} failed: {exc!r}") from exc
