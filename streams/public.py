"""The public feeds: PII-masked copies of the case topics for downstream subscribers.

DESIGN.md lets a unit read only its own inbox and the procuratorate read everything;
anyone else (statistics offices, a credit platform, researchers) reads ``lf.public.*``.
This process reads the internal topics named in ``masking.yaml``, masks each record
(``streams/masking_logic.py``) and writes it to its public topic with the same key,
headers and schema. Event ids (in the record and its ``ce_id`` header) are replaced by
keyed pseudonyms (``masking.yaml``, ``pseudonymise_everywhere``): the same for the same
event, so subscribers deduplicate a replay exactly as internal consumers do, but no
oracle for a masked ID number.

Delivery is at-least-once with idempotent output: a batch's offsets are committed only
after the broker acknowledged every record written for it, so a crash replays the batch
and the replay writes records identical to those already there. A record that cannot be
decoded or masked (a type nobody reviewed for publication, garbage bytes) goes to
``lf.dlq.streams`` with the usual error headers, and the feed carries on.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client import Counter

from hub.calendar import china_date
from hub.config import HubSettings
from hub.errors import ConfigError
from hub.kafka import make_consumer, make_producer
from hub.registry import SchemaRegistryClient
from hub.rules.masking import MaskingRules
from hub.serde import AvroSerde
from streams.masking_logic import PersonalDataMasker, public_id
from streams.publication_logic import LATEST_WINS, withheld_reason
from streams.safety import Guard, RawRecord

__all__ = ["ID_KEY_ENV", "MINIMUM_ID_KEY_BYTES", "PUBLIC_GROUP", "PublicFeedPublisher",
           "PublishedCounts", "run_publisher"]

log = logging.getLogger(__name__)

#: Consumer group of the publisher (its committed offsets say what was published). It
#: runs as its own principal, ``User:liangfa-public``, whose ACLs name this group and the
#: topics it reads and writes (hub/security/acl.py, docs/security.md).
PUBLIC_GROUP = "liangfa-streams-public"
_PROCESSOR = "public"
#: The CloudEvents header that carries the event id.
EVENT_ID_HEADER = "ce_id"
#: Where the publisher reads the key of the event ids' pseudonyms (a secret: whoever
#: holds it can tell which public record is which internal event).
ID_KEY_ENV = "LIANGFA_PUBLIC_ID_KEY"
MINIMUM_ID_KEY_BYTES = 16

PUBLISHED = Counter(
    "liangfa_public_published_total",
    "Records written to a public feed, by public topic.",
    ["topic"],
)
WITHHELD = Counter(
    "liangfa_public_withheld_total",
    "Records withheld whole from a public feed (masking.yaml, withhold_records), by "
    "public topic and reason (minor, disclosure-ended).",
    ["topic", "reason"],
)
MASKED_VALUES = Counter(
    "liangfa_public_masked_values_total",
    "Personal values masked or withheld on their way to a public feed.",
    ["topic"],
)


@dataclass
class PublishedCounts:
    """What a publisher did since it started (tests and the log read it)."""

    published: dict[str, int] = field(default_factory=dict)
    masked_values: int = 0
    dead_lettered: int = 0
    #: Records withheld whole, by reason (a withheld state is published as a tombstone).
    withheld: dict[str, int] = field(default_factory=dict)


class PublicFeedPublisher:
    """Reads the internal topics, writes their masked copies; one consumer group."""

    def __init__(self, settings: HubSettings, rules: MaskingRules, *, id_key: bytes,
                 group_id: str = PUBLIC_GROUP, dead_letter_topic: str = "lf.dlq.streams",
                 topics: Mapping[str, str] | None = None,
                 schemas: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.settings = settings
        self.group_id = group_id
        self.dead_letter_topic = dead_letter_topic
        #: internal topic → public topic (tests point it at their own topics).
        self.topics = dict(topics or {feed.internal: feed.public for feed in rules.feeds})
        if len(id_key) < MINIMUM_ID_KEY_BYTES:
            raise ConfigError(f"the public feeds' id key is {len(id_key)} bytes; at least "
                              f"{MINIMUM_ID_KEY_BYTES} are needed")
        self.id_key = id_key
        self.rules = rules
        self.masker = PersonalDataMasker(rules, schemas, id_key=id_key)
        self.counts = PublishedCounts()
        self.stopping = asyncio.Event()

    async def run(self) -> PublishedCounts:
        """Publish until :attr:`stopping` is set (SIGTERM in :func:`run_publisher`)."""
        security = self.settings.kafka_security
        consumer = make_consumer(self.settings.bootstrap, *self.topics, group_id=self.group_id,
                                 security=security, max_poll_records=2000)
        producer = make_producer(self.settings.bootstrap, security=security,
                                 client_id=f"{self.group_id}-producer")
        async with SchemaRegistryClient(self.settings.registry_url,
                                        auth=self.settings.registry_auth) as registry:
            serde = AvroSerde(registry)
            await producer.start()
            await consumer.start()
            guard = Guard(_PROCESSOR, self.dead_letter_topic, _producing(producer))
            try:
                while not self.stopping.is_set():
                    batch = await consumer.getmany(timeout_ms=500)
                    if batch:
                        await self._publish(batch, serde, producer, guard)
                        await consumer.commit({tp: records[-1].offset + 1
                                               for tp, records in batch.items()})
            finally:
                await consumer.stop()
                await producer.stop()
        return self.counts

    async def _publish(self, batch: Mapping[TopicPartition, list[Any]], serde: AvroSerde,
                       producer: AIOKafkaProducer, guard: Guard) -> None:
        """Write a polled batch's masked copies and wait for every acknowledgement."""
        acks: list[asyncio.Future[Any]] = []
        for partition, records in batch.items():
            public = self.topics[partition.topic]
            for record in records:
                raw = RawRecord(record.topic, record.partition, record.offset, record.key,
                                record.value, tuple(record.headers or ()))
                try:
                    value = await self._masked(raw, serde, public)
                    headers = [(name, public_id(self.id_key, data.decode("utf-8")).encode())
                               if name == EVENT_ID_HEADER and data else (name, data)
                               for name, data in raw.headers]
                except Exception as exc:  # noqa: BLE001 - a poison record must not stop the feed
                    await guard.dead_letter(raw, exc)
                    self.counts.dead_lettered += 1
                    continue
                if value is False:  # withheld whole (masking.yaml, withhold_records)
                    continue
                acks.append(await producer.send(public, value, key=record.key,
                                                headers=headers))
                self.counts.published[public] = self.counts.published.get(public, 0) + 1
                PUBLISHED.labels(public).inc()
        await asyncio.gather(*acks)

    async def _masked(self, record: RawRecord, serde: AvroSerde, public: str
                      ) -> bytes | Literal[False] | None:
        """The masked value to publish; None for a tombstone (a withheld state's too);
        False when nothing is published."""
        if record.value is None:
            return None  # a compacted topic's tombstone stays a tombstone
        avro_name, decoded = await serde.decode_raw(record.value)
        reason = withheld_reason(decoded, rules=self.rules,
                                 today=china_date(datetime.now(UTC)))
        if reason is not None:
            self.counts.withheld[reason] = self.counts.withheld.get(reason, 0) + 1
            WITHHELD.labels(public, reason).inc()
            short_name = avro_name.rsplit(".", 1)[-1]
            return None if short_name in LATEST_WINS else False
        masked = self.masker.mask(avro_name, decoded)
        if masked:
            self.counts.masked_values += masked
            MASKED_VALUES.labels(public).inc(masked)
        return await serde.encode_dict(avro_name, decoded)


def _producing(producer: AIOKafkaProducer) -> Any:
    async def produce(topic: str, key: bytes | None, value: bytes | None,
                      headers: list[tuple[str, bytes]]) -> Any:
        return await (await producer.send(topic, value, key=key, headers=headers))
    return produce


def run_publisher(settings: HubSettings, rules: MaskingRules, *, id_key: bytes,
                  metrics_port: int | None = None) -> None:
    """Run a publisher until SIGTERM/SIGINT (the ``liangfa public run`` process)."""
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.metrics_host)

    async def main() -> None:
        publisher = PublicFeedPublisher(settings, rules, id_key=id_key)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, publisher.stopping.set)
        counts = await publisher.run()
        log.info("public feeds stopped: published %s, masked %s values, dead-lettered %s",
                 counts.published, counts.masked_values, counts.dead_lettered)

    asyncio.run(main())
