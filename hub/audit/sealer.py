"""The audit sealer: the one writer of ``lf.audit``, appending each intake record to the
hash chain of its partition.

Why a sealer. Records are chained per partition, so each partition needs exactly one
writer that knows the last hash; the view, every stream worker and the CLI all write
audit records, and would otherwise race for it. They produce plain records to
``lf.audit-intake`` (same partition count, same key: ``case_id``); the sealer reads intake
partition *p* and appends to ``lf.audit`` partition *p*. It runs in a consumer group, so
several sealers share the partitions and never two own one; ``liangfa up`` runs one.

Restart and crash. On each (re)start the sealer reads the tail of every ``lf.audit``
partition it owns: the last record gives the sequence and hash to continue from, the
last :attr:`AuditSealer.dedup_window` records give the audit ids already sealed. It
commits intake offsets only after ``lf.audit`` acknowledged the records (idempotent
producer, acks=all), so a crash between the two re-reads records that are already sealed,
and the dedup skips them: no record is sealed twice, none is lost. A writer that
re-produces a record (the view's outbox after a restart) is deduplicated the same way,
by its audit id (``event_id``).

Bad intake records (not decodable, not an ``AuditRecorded``) go to ``lf.dlq.audit`` with
the reason in headers and count in ``liangfa_audit_dead_lettered_total``; the sealer
carries on. Any other failure (broker gone, produce refused) restarts the sealer from
the tail, after a back-off; it never guesses a hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import OrderedDict
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaPartition
from prometheus_client import Counter, Gauge

from hub.audit.chain import AUDIT_TOPIC, GENESIS_HASH, INTAKE_TOPIC, record_hash, seal
from hub.config import HubSettings
from hub.errors import FatalError, RecordRejected
from hub.kafka import make_consumer, make_producer
from hub.models import AuditRecorded
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from streams.safety import original_headers

__all__ = ["DEAD_LETTER_TOPIC", "GROUP_ID", "AuditSealer", "SealerCounts", "run_sealer"]

log = logging.getLogger(__name__)

GROUP_ID = "liangfa-audit-sealer"
DEAD_LETTER_TOPIC = "lf.dlq.audit"
#: Header on each sealed record: the intake record it came from (``partition:offset``).
INTAKE_HEADER = "lf.audit.intake"

SEALED = Counter("liangfa_audit_sealed_total", "Audit records appended to the chain",
                 ["partition"])
DUPLICATES = Counter("liangfa_audit_duplicates_total",
                     "Intake records skipped: their audit id is already sealed")
DEAD_LETTERED = Counter("liangfa_audit_dead_lettered_total",
                        "Intake records that are not audit records, dead-lettered", ["reason"])
RESTARTS = Counter("liangfa_audit_sealer_restarts_total",
                   "Sealer restarts from the chain's tail after a failure")
HEAD = Gauge("liangfa_audit_chain_head_sequence",
             "Sequence of the last record sealed, per lf.audit partition", ["partition"])


@dataclass(slots=True)
class _Chain:
    """What the sealer knows of one partition: its head and the audit ids recently sealed."""

    sequence: int = -1
    hash: str = GENESIS_HASH
    recent: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def remember(self, audit_id: str, window: int) -> None:
        self.recent[audit_id] = None
        while len(self.recent) > window:
            self.recent.popitem(last=False)


@dataclass(slots=True)
class SealerCounts:
    """What one sealer run did."""

    sealed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    restarts: int = 0


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forgets a partition's chain when the group takes it away: the next owner reads the
    tail itself, and so does this sealer if the partition comes back."""

    def __init__(self, chains: dict[int, _Chain]) -> None:
        self.chains = chains

    async def on_partitions_revoked(self, revoked: list[KafkaPartition]) -> None:
        for tp in revoked:
            self.chains.pop(tp.partition, None)

    async def on_partitions_assigned(self, assigned: list[KafkaPartition]) -> None:
        log.info("audit sealer owns intake partitions %s",
                 sorted(tp.partition for tp in assigned))


class AuditSealer:
    """Reads ``intake``, appends to ``audit``; :meth:`run` until :attr:`stopping` is set."""

    def __init__(self, settings: HubSettings, *, intake: str = INTAKE_TOPIC,
                 audit: str = AUDIT_TOPIC, dead_letters: str = DEAD_LETTER_TOPIC,
                 group_id: str = GROUP_ID, dedup_window: int = 100_000,
                 batch_records: int = 500) -> None:
        self.settings = settings
        self.intake = intake
        self.audit = audit
        self.dead_letters = dead_letters
        self.group_id = group_id
        self.dedup_window = dedup_window
        self.batch_records = batch_records
        self.stopping = asyncio.Event()
        self.counts = SealerCounts()
        self._chains: dict[int, _Chain] = {}

    async def run(self, *, backoff_s: float = 1.0) -> SealerCounts:
        """Seal until stopped; after a failure, start again from the chain's tail."""
        while not self.stopping.is_set():
            try:
                await self._run_once()
            except FatalError:
                raise
            except Exception:  # any failure: restart from the tail
                log.exception("audit sealer failed; restarting from the tail of %s",
                              self.audit)
                self.counts.restarts += 1
                RESTARTS.inc()
                self._chains.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), backoff_s)
        return self.counts

    async def _run_once(self) -> None:
        settings = self.settings
        security = settings.kafka_security
        consumer = make_consumer(settings.bootstrap, group_id=self.group_id,
                                 security=security, max_poll_records=self.batch_records)
        producer = make_producer(settings.bootstrap, security=security,
                                 client_id="liangfa-audit-sealer")
        await consumer.start()
        try:
            await producer.start()
            try:
                async with SchemaRegistryClient(settings.registry_url,
                                                auth=settings.registry_auth) as registry:
                    serde = AvroSerde(registry)
                    await self._check_partitions()
                    consumer.subscribe([self.intake], listener=_Revoked(self._chains))
                    while not self.stopping.is_set():
                        batch = await consumer.getmany(timeout_ms=500)
                        for tp, messages in batch.items():
                            await self._seal_batch(consumer, producer, serde, tp, messages)
            finally:
                await producer.stop()
        finally:
            await consumer.stop()

    async def _check_partitions(self) -> None:
        """Intake partition p is sealed into audit partition p: the counts must agree."""
        from hub.dlq.records import partitions_of

        counts: dict[str, int] = {}
        for topic in (self.intake, self.audit):
            try:
                found = await partitions_of(self.settings.bootstrap, [topic],
                                            self.settings.kafka_security)
            except LookupError as exc:
                raise FatalError(f"{exc}: run `liangfa topics apply`") from exc
            counts[topic] = len(found)
        if counts[self.intake] != counts[self.audit]:
            raise FatalError(
                f"{self.intake} has {counts[self.intake]} partitions and {self.audit} "
                f"{counts[self.audit]}: intake partition p is sealed into audit partition p, "
                "so they must have the same number")

    async def _seal_batch(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                          serde: AvroSerde, tp: KafkaPartition, messages: list) -> None:  # type: ignore[type-arg]
        partition = tp.partition
        chain = self._chains.get(partition)
        if chain is None:
            chain = await self.restore(serde, partition)
            self._chains[partition] = chain
        sends = []
        sealed_here = 0
        for message in messages:
            record = await self._decode(producer, serde, message)
            if record is None:
                continue
            if record.event_id in chain.recent:
                self.counts.duplicates += 1
                DUPLICATES.inc()
                continue
            sealed = seal(record, partition, chain.sequence + 1, chain.hash)
            serialized = await serde.serialize(sealed)
            headers = [*serialized.headers,
                       (INTAKE_HEADER, f"{partition}:{message.offset}".encode("ascii"))]
            sends.append(await producer.send(self.audit, value=serialized.value,
                                             key=serialized.key, headers=headers,
                                             partition=partition))
            chain.sequence = sealed.chain_sequence or 0
            chain.hash = sealed.chain_hash or ""
            chain.remember(record.event_id, self.dedup_window)
            sealed_here += 1
        if sends:
            await asyncio.gather(*sends)  # acknowledged by lf.audit before the commit
        await consumer.commit({tp: messages[-1].offset + 1})
        if sealed_here:
            self.counts.sealed += sealed_here
            SEALED.labels(str(partition)).inc(sealed_here)
            HEAD.labels(str(partition)).set(chain.sequence)
            log.debug("sealed %d records into %s[%d], head %d", sealed_here, self.audit,
                      partition, chain.sequence)

    async def _decode(self, producer: AIOKafkaProducer, serde: AvroSerde,
                      message: object) -> AuditRecorded | None:
        try:
            return await _audit_record(serde, getattr(message, "value", None))
        except RecordRejected as exc:
            await self._dead_letter(producer, message, exc)
            return None

    async def _dead_letter(self, producer: AIOKafkaProducer, message: object,
                           exc: RecordRejected) -> None:
        topic, partition, offset = (getattr(message, "topic", ""),
                                    getattr(message, "partition", -1),
                                    getattr(message, "offset", -1))
        log.warning("dead-lettered intake record %s[%s]@%s: %s", topic, partition, offset,
                    exc.reason)
        # the intake record's writer sets its headers freely: its own error headers (a
        # forged source.topic would steer a replay) and dlq.* marks are not kept
        kept = original_headers(getattr(message, "headers", None) or [])
        headers = [*kept,
                   ("error.type", exc.error_type.encode()),
                   ("error.reason", exc.reason[:1000].encode()),
                   ("source.topic", str(topic).encode()),
                   ("source.partition", str(partition).encode()),
                   ("source.offset", str(offset).encode()),
                   ("processor", b"audit-sealer")]
        await (await producer.send(self.dead_letters, value=getattr(message, "value", None),
                                   key=getattr(message, "key", None), headers=headers))
        self.counts.dead_lettered += 1
        DEAD_LETTERED.labels(exc.error_type).inc()

    async def restore(self, serde: AvroSerde, partition: int) -> _Chain:
        """The head and recent audit ids of one ``lf.audit`` partition, from its tail.

        Reads the last ``dedup_window`` records; if none of them is sealed (records from
        before the chain), reads further back, to the start if need be.
        """
        settings = self.settings
        tp = KafkaPartition(self.audit, partition)
        consumer = make_consumer(settings.bootstrap, group_id=None,
                                 security=settings.kafka_security)
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            begin = (await consumer.beginning_offsets([tp]))[tp]
            window = self.dedup_window
            while True:
                start = max(begin, end - window)
                chain = await self._read_tail(consumer, serde, tp, start, end)
                if chain.sequence >= 0 or start <= begin:
                    break
                window *= 4
        finally:
            await consumer.stop()
        if chain.sequence >= 0:
            log.info("audit chain %s[%d] continues after sequence %d (%d audit ids known)",
                     self.audit, partition, chain.sequence, len(chain.recent))
        HEAD.labels(str(partition)).set(chain.sequence)
        return chain

    async def _read_tail(self, consumer: AIOKafkaConsumer, serde: AvroSerde,
                         tp: KafkaPartition, start: int, end: int) -> _Chain:
        chain = _Chain()
        if end <= start:
            return chain
        consumer.seek(tp, start)
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=500)
            for message in batch.get(tp, []):
                if message.offset >= end or message.value is None:
                    continue
                try:
                    event = await serde.decode(message.value)
                except RecordRejected:
                    continue
                if not isinstance(event, AuditRecorded):
                    continue
                chain.remember(event.event_id, self.dedup_window)
                if event.chain_sequence is None or event.chain_hash is None:
                    continue
                if record_hash(event, tp.partition) != event.chain_hash:
                    log.error("%s[%d] offset %d: the tail record does not match its hash; "
                              "chaining on to the hash it carries (`liangfa audit verify` "
                              "names it)", tp.topic, tp.partition, message.offset)
                # The highest sequence, not the last offset: a replayed copy of an old
                # record appended to the topic (verify names it) does not rewind the chain.
                if event.chain_sequence >= chain.sequence:
                    chain.sequence, chain.hash = event.chain_sequence, event.chain_hash
        return chain


async def _audit_record(serde: AvroSerde, value: bytes | None) -> AuditRecorded:
    """The intake record as an AuditRecorded, or RecordRejected saying why not."""
    if value is None:
        raise RecordRejected("empty value", field="value", error_type="empty")
    event = await serde.decode(value)
    if not isinstance(event, AuditRecorded):
        raise RecordRejected(f"a {type(event).__name__} is not an audit record",
                             field="ce_type", value=event.avro_name,
                             error_type="not-an-audit-record")
    return event


def run_sealer(settings: HubSettings, *, intake: str = INTAKE_TOPIC,
               audit: str = AUDIT_TOPIC, dead_letters: str = DEAD_LETTER_TOPIC,
               group_id: str = GROUP_ID, metrics_port: int | None = None) -> None:
    """Run a sealer until SIGTERM/SIGINT (the ``liangfa audit seal`` process)."""
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.metrics_host)

    async def main() -> None:
        sealer = AuditSealer(settings, intake=intake, audit=audit,
                             dead_letters=dead_letters, group_id=group_id)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, sealer.stopping.set)
        counts = await sealer.run()
        log.info("audit sealer stopped: sealed %d, duplicates %d, dead-lettered %d, "
                 "restarts %d", counts.sealed, counts.duplicates, counts.dead_lettered,
                 counts.restarts)

    asyncio.run(main())
