"""The processors' pure logic bound to batches: normalize, route, match, clocks, aggregate, stats.

A batch is folded in memory: each record is decoded once (a poison record goes to
``lf.dlq.streams`` through :class:`streams.safety.Guard`, with the same headers as the
faust worker), each case's state document is read once, changed by every record of the
case in offset order, evaluated once (deadline clocks, screening, CaseState) and staged
for writing once. Outputs are queued on the producer without waiting; the consumer loop
awaits them all, then the state changelog, then commits (see ``consumer_loop``).

One state document per case replaces the faust worker's four per-case tables::

    {"seen": [event ids],            # every record the case processors handled
     "events": [stored events],      # the case's legal history (deadlines, screening)
     "aggregate": {...} | null,      # streams.aggregate_logic.CaseAggregate.to_dict()
     "deadlines": {"emitted": {alert id: snapshot}, "next_check": iso | null},
     "screening": {"emitted": {...}, "next_check": iso | null}}

``seen`` keeps the last :data:`MAX_SEEN_IDS` ids: a replay after a crash repeats at most
the uncommitted batches, which are recent; older re-sent events are caught by normalize's
seen ids (one RocksDB key per event, unbounded) and by the aggregate's own event ids.

A document must stay writable: it goes to the changelog as one record, and a record over
the producer's request limit fails the batch on every restart (a poison case). So
``events`` keeps at most :data:`MAX_STORED_EVENTS` (see :meth:`CaseDocument.add_event` for
which go), a document still over the size limit is shrunk further
(:meth:`CaseDocument.shrink`), and one that still does not fit is not written: the records
that changed it go to ``lf.dlq.streams`` and the batch completes. A stored event that no
longer validates is skipped with a warning, not fatal. Each of these counts in
``liangfa_streams_state_dropped_total``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from hub.errors import RecordRejected
from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    AuditRecorded,
    CaseEvent,
    CaseReferred,
    CaseState,
    FeedbackMatched,
    FeedbackUnmatched,
    PenaltyCaseRecorded,
    UnitMonthlyStats,
    ViewAction,
    ViewActionKind,
)
from hub.registry import SchemaRegistryClient
from hub.rules import RuleSet
from hub.serde import AvroSerde, cloudevent_headers
from hub.units import UnitRegistry
from streams._alerts import snapshot_of
from streams._events import (
    COURT_FEEDBACK_TYPES,
    FEEDBACK_TYPES,
    MATCHED_HEADER,
    decode_stored,
    stored_form,
)
from streams.aggregate_logic import CaseAggregate
from streams.deadline_logic import evaluate_case
from streams.engine.global_index import GlobalIndex
from streams.engine.state import PartitionStore, decode_value, encode_value
from streams.engine.timers import DueIndex
from streams.matching import indexed_entries, police_index_key, unmatched_feedback_alert
from streams.matching_logic import manual_match_event, matched_event, unmatched_event
from streams.metrics import ALERTS, DUPLICATES, SOURCE_MISMATCH, STATE_DROPPED
from streams.routing_logic import route_event, unroutable_alert
from streams.safety import Guard, RawRecord
from streams.screening_logic import ScreeningRules, screen_case
from streams.stats import _COUNTED
from streams.stats_logic import StatsAccumulator
from streams.topics import TopicNames

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_SEEN_IDS", "MAX_STORED_EVENTS", "Batch",
           "CaseDocument", "Outputs", "Processors", "decode_tolerant"]

log = logging.getLogger(__name__)

MAX_SEEN_IDS = 2000
#: Stored events a case document keeps (see :meth:`CaseDocument.add_event`). A real
#: case's legal history is tens of events; thousands mean a matching error or a loop.
MAX_STORED_EVENTS = 1000
#: The earliest stored events always kept when the history is trimmed: they start the
#: case's clocks (referral, acceptance, penalty) and name its owner and offence.
STORED_EVENTS_HEAD = 100
#: Default largest encoded case document: under the producer's 4 MiB request limit with
#: room for the record's key, headers and batch overhead.
MAX_DOCUMENT_BYTES = 3 * 1024 * 1024 + 512 * 1024
CASE_PROCESSORS = "case-processors"
#: Seen-id prefixes that let the matcher's re-keyed copy of feedback through exactly once
#: when it comes back to the very case that refused the original (the feedback quoted the
#: hub's case id, but arrived before its referral and was parked): the copy has the same
#: key and event id, so the plain seen id alone would drop it. ``_UNROUTED``: the original
#: was refused and not routed (the copy is); ``_REFUSED``: refused but already routed;
#: ``_MATCHED``: the copy was handled (a replay of it is a duplicate).
_UNROUTED = "unrouted|"
_REFUSED = "refused|"
_MATCHED = "matched|"
_NOT_CASE_EVENTS = (Alert, CaseState, UnitMonthlyStats, FeedbackUnmatched, ViewAction,
                    AuditRecorded)
_SCREENED = (PenaltyCaseRecorded, CaseReferred)
_STATS_SNAPSHOT_EVERY_S = 5.0
#: How long feedback that matches nothing waits for its referral before a person is asked.
#: The referral and the feedback reach ``lf.case-events`` through different ingest topics
#: and partitions, so the feedback may be read first; it is held in its case's state
#: (durable, replayed after a crash) and matched again when the grace ends.
MATCH_GRACE_S = 5.0
_STATS_KEY = b"accumulator"
#: Queued output records handed to the producer in batches this often (see ``Outputs``).
_DISPATCH_EVERY = 2000
#: Case documents kept in memory between batches (see ``Processors.keep_document``).
_DOCUMENT_CACHE = 1024
#: Decoded events kept for reuse by value bytes: a record's bytes come back on
#: ``lf.case-events`` and the statistics feed one or a few batches later.
_DECODED_CACHE = 4096
#: The snapshot is split into records well under the broker's 1 MiB message limit.
_STATS_CHUNK_BYTES = 256 * 1024


class Outputs:
    """Records a batch produces: gathered per partition into record batches, awaited together.

    ``producer.send()`` per record cost a future, a done-callback and a gather slot per
    record (~15% of the worker's CPU at ~8 records per input event). Records are kept per
    topic and partition (chosen by the producer's own default partitioner, so keys land
    where ``send()`` would have put them) and handed over as whole batches with
    ``send_batch``, one future each; order within a partition is kept.
    """

    def __init__(self, producer: AIOKafkaProducer, serde: AvroSerde) -> None:
        self.producer = producer
        self.serde = serde
        self.futures: list[asyncio.Future[Any]] = []
        self._pending: dict[str, list[tuple[bytes | None, bytes | None,
                                            list[tuple[str, bytes]]]]] = {}
        self._queued = 0
        self._partitioner = DefaultPartitioner()
        self._alert_counters: dict[tuple[AlertKind, AlertStatus], Any] = {}
        #: The processors' decoded-value cache (see ``Processors.decode``): alerts are
        #: read back from ``lf.alerts`` and the statistics feed by this worker.
        self.decoded: dict[bytes, CaseEvent] | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]]) -> None:
        """Queue one record (the :data:`streams.safety.Produce` signature, for guards)."""
        self._pending.setdefault(topic, []).append((key, value, headers))
        self._queued += 1
        if self._queued >= _DISPATCH_EVERY:
            await self.dispatch()

    async def dispatch(self) -> None:
        """Hand the queued records to the producer as record batches (not yet acked)."""
        pending, self._pending, self._queued = self._pending, {}, 0
        producer = self.producer
        for topic, records in pending.items():
            partitions = sorted(await producer.partitions_for(topic))
            by_partition: dict[int, list[tuple[bytes | None, bytes | None,
                                               list[tuple[str, bytes]]]]] = {}
            for record in records:
                number = self._partitioner(record[0], partitions, partitions)
                by_partition.setdefault(number, []).append(record)
            for number, items in by_partition.items():
                builder = producer.create_batch()
                count = 0
                for key, value, headers in items:
                    if builder.append(timestamp=None, key=key, value=value,
                                      headers=headers) is not None:
                        count += 1
                        continue
                    if count:
                        self.futures.append(await producer.send_batch(
                            builder, topic, partition=number))
                    builder, count = producer.create_batch(), 0
                    if builder.append(timestamp=None, key=key, value=value,
                                      headers=headers) is not None:
                        count = 1
                    else:  # larger than a whole batch: the producer splits nothing, send it
                        self.futures.append(await producer.send(
                            topic, value, key=key, partition=number, headers=headers))
                        builder = producer.create_batch()
                if count:
                    self.futures.append(await producer.send_batch(builder, topic,
                                                                  partition=number))

    async def event(self, topic: str, event: CaseEvent, *, key: bytes | None = None
                    ) -> None:
        """Encode ``event`` with the hub serde and queue it with CloudEvents headers."""
        serialized = await self.serde.serialize(event)
        await self.send(topic, key if key is not None else serialized.key, serialized.value,
                        serialized.headers)
        if isinstance(event, Alert):
            counter = self._alert_counters.get((event.kind, event.status))
            if counter is None:  # labels() per alert showed in profiles (a lock, checks)
                counter = self._alert_counters[(event.kind, event.status)] = ALERTS.labels(
                    event.kind.value, event.status.value)
            counter.inc()
            # Read back, an alert only feeds the aggregate (id, status) and the statistics
            # (id, status, unit, month of occurred_at in China time): the model that was
            # just encoded answers those exactly as its decoded copy would (the decoded
            # copy differs at most in the time zone its instants are written in).
            if self.decoded is not None:
                remember(self.decoded, serialized.value, event)

    async def forward(self, topic: str, record: RawRecord, event: CaseEvent) -> None:
        """Queue a decoded event's original bytes, with CloudEvents headers rebuilt."""
        header = {"event_id": event.event_id, "case_id": event.case_id,
                  "source_unit": event.source_unit, "connector_id": event.connector_id,
                  "occurred_at": event.occurred_at}
        await self.send(topic, event.kafka_key(), record.value,
                        cloudevent_headers(event.avro_name, header))

    async def wait(self) -> None:
        """Wait for every queued record's acknowledgement (raises if one failed)."""
        await self.dispatch()
        futures, self.futures = self.futures, []
        if futures:
            await asyncio.gather(*futures)


class CaseDocument:
    """One case's state document (see the module docstring) while a batch works on it."""

    def __init__(self, partition: int, case_id: str, data: dict[str, Any] | None) -> None:
        self.partition = partition
        self.case_id = case_id
        self.data: dict[str, Any] = data or {
            "seen": [], "events": [], "aggregate": None,
            "deadlines": {"emitted": {}, "next_check": None},
            "screening": {"emitted": {}, "next_check": None},
        }
        self.seen = set(self.data["seen"])
        self._events: list[CaseEvent] | None = None
        self._aggregate: CaseAggregate | None = None
        self.deadlines_due = False
        self.screening_due = False
        self.aggregate_changed = False
        self.changed = False
        #: The records that touched the document in this batch (dead-lettered together
        #: if the document cannot be written, see :meth:`Processors.stage_document`).
        self.records: list[RawRecord] = []

    def begin_batch(self) -> None:
        """Reset the per-batch flags of a document kept in memory from an earlier batch."""
        self.deadlines_due = False
        self.screening_due = False
        self.aggregate_changed = False
        self.changed = False
        self.records = []

    @property
    def last_record(self) -> RawRecord | None:
        """The last record of this batch that touched the case (error reports name it)."""
        return self.records[-1] if self.records else None

    @last_record.setter
    def last_record(self, record: RawRecord | None) -> None:
        if record is None:
            self.records = []
        else:
            self.records.append(record)

    @property
    def key(self) -> bytes:
        """The store key of the case."""
        return b"c|" + self.case_id.encode("utf-8")

    def mark_seen(self, event_id: str) -> None:
        """Remember a handled record's event id (bounded, oldest dropped)."""
        self.seen.add(event_id)
        seen: list[str] = self.data["seen"]
        seen.append(event_id)
        if len(seen) > MAX_SEEN_IDS:
            del seen[: len(seen) - MAX_SEEN_IDS]
            self.seen = set(seen)
        self.changed = True

    @property
    def has_history(self) -> bool:
        """Whether deadlines already know the case (feedback may then join it)."""
        return bool(self.data["events"])

    def events(self) -> list[CaseEvent]:
        """The case's legal history as models (decoded once per batch).

        A stored event that no longer validates (a model changed under stored state, a
        damaged document) is dropped from the document with a warning and a metric:
        one unreadable event must not stop the worker on every batch of the case.
        """
        if self._events is None:
            stored: list[list[Any]] = self.data["events"]
            events, kept = decode_tolerant(stored, self.case_id)
            if len(kept) != len(stored):
                self.data["events"] = kept
                self.changed = True
            self._events = events
        return self._events

    def add_event(self, event: CaseEvent) -> None:
        """Append an event to the legal history; deadlines (and screening) look again.

        Bounded at :data:`MAX_STORED_EVENTS`: past it the oldest event after the first
        :data:`STORED_EVENTS_HEAD` is dropped. Deadline clocks start at early events
        (the referral, acceptance or penalty kept in the head) or at recent ones (kept in
        the tail) and stop at the first qualifying event after their start; screening
        compares penalties and referrals. What goes is the middle of an abnormally long
        history, whose clocks have long been decided and whose alerts were already
        emitted (their snapshots stay in ``deadlines.emitted``). The aggregate (timeline,
        CaseState) is not affected by this bound; ``dropped_events`` counts what went.
        """
        events = self.events()
        events.append(event)
        stored: list[list[Any]] = self.data["events"]
        stored.append(stored_form(event))
        if len(stored) > MAX_STORED_EVENTS:
            del stored[STORED_EVENTS_HEAD]
            del events[STORED_EVENTS_HEAD]
            self._count_dropped("events", 1)
        self.deadlines_due = True
        self.screening_due = self.screening_due or isinstance(event, _SCREENED)

    def _count_dropped(self, what: str, count: int) -> None:
        dropped: dict[str, int] = self.data.setdefault("dropped", {})
        before = dropped.get(what, 0)
        dropped[what] = before + count
        STATE_DROPPED.labels(f"{what}-trimmed").inc(count)
        if before == 0 or (before + count) // 1000 > before // 1000:
            log.warning("case %s: %d %s dropped from its state document (bounded, "
                        "an abnormally long history)", self.case_id, before + count, what)

    def shrink(self, limit: int) -> bytes | None:
        """The document re-encoded under ``limit`` bytes by trimming history, or None.

        Used when the bounded document is still too large (large events): the middle of
        the stored events goes first (as in :meth:`add_event`), then the middle of the
        aggregate's timeline (the view keeps the first and the latest entries; the
        aggregate's own event ids and stage marks stay, so nothing is applied twice).
        Seen ids are cut to the last few hundred last (replays only repeat recent ones).
        """
        encoded = self.encoded()
        for part in ("events", "timeline", "seen"):
            while len(encoded) > limit:
                if not self._trim(part):
                    break
                encoded = self.encoded()
            if len(encoded) <= limit:
                return encoded
        return None

    def _trim(self, part: str) -> bool:
        """Drop half of the droppable middle of ``part``; False when nothing is left."""
        if part == "seen":
            seen: list[str] = self.data["seen"]
            if len(seen) <= 200:
                return False
            cut = len(seen) // 2
            del seen[:cut]
            self.seen = set(seen)
            self._count_dropped("seen", cut)
            return True
        if part == "events":
            items: list[Any] = self.data["events"]
            head = min(STORED_EVENTS_HEAD, len(items) // 4)
        else:
            if self._aggregate is not None:  # fold the live aggregate into the data first
                self.data["aggregate"] = self._aggregate.to_dict()
            aggregate = self.data.get("aggregate")
            if aggregate is None:
                return False
            items = aggregate["timeline"]
            head = min(STORED_EVENTS_HEAD, len(items) // 4)
        middle = len(items) - head - 1  # the newest entry always stays
        if middle <= 0:
            return False
        cut = max(middle // 2, 1)
        del items[head:head + cut]
        if part == "events":
            self._events = None
        else:
            self._aggregate = None  # re-read from the trimmed dict
        self._count_dropped(part, cut)
        return True

    def aggregate(self) -> CaseAggregate | None:
        """The case's aggregate (None when no event of the case was accepted yet)."""
        if self._aggregate is None and self.data["aggregate"] is not None:
            self._aggregate = CaseAggregate.from_dict(self.data["aggregate"])
        return self._aggregate

    def new_aggregate(self) -> CaseAggregate:
        """The aggregate, created when the case is new."""
        aggregate = self.aggregate()
        if aggregate is None:
            aggregate = self._aggregate = CaseAggregate(self.case_id)
        return aggregate

    def next_due(self) -> datetime | None:
        """The earliest time a clock or screening window needs a look."""
        times = [datetime.fromisoformat(section["next_check"])
                 for section in (self.data["deadlines"], self.data["screening"])
                 if section.get("next_check")]
        return min(times) if times else None

    def hold(self, feedback: CaseEvent, until: datetime) -> None:
        """Keep feedback that matched nothing yet, to be matched again at ``until``."""
        self.data.setdefault("held", []).append([stored_form(feedback), until.isoformat()])
        self.changed = True

    def held_until(self) -> datetime | None:
        """When the earliest held feedback's grace ends."""
        times = [datetime.fromisoformat(until) for _, until in self.data.get("held", [])]
        return min(times) if times else None

    def take_held(self) -> list[CaseEvent]:
        """Remove and return the held feedback."""
        held = self.data.pop("held", [])
        if held:
            self.changed = True
        return decode_tolerant([item for item, _ in held], self.case_id)[0]

    def encoded(self) -> bytes:
        """The document as stored (aggregate folded back in)."""
        if self._aggregate is not None:
            self.data["aggregate"] = self._aggregate.to_dict()
        return encode_value(self.data)


@dataclass
class Batch:
    """What one batch touched: case documents, stats keys, normalize's seen ids."""

    documents: dict[tuple[int, str], CaseDocument] = field(default_factory=dict)
    stats_changed: set[tuple[str, str]] = field(default_factory=set)
    stats_offset: int | None = None


class Processors:
    """Every processor's logic for the native engine, over the stores this worker owns."""

    def __init__(self, *, topics: TopicNames, rules: RuleSet, units: UnitRegistry,
                 hub_unit_code: str, registry: SchemaRegistryClient, serde: AvroSerde,
                 outputs: Outputs, index: GlobalIndex,
                 max_document_bytes: int = MAX_DOCUMENT_BYTES) -> None:
        self.topics = topics
        #: Largest case document written (see :meth:`stage_document`).
        self.max_document_bytes = max_document_bytes
        self.rules = rules
        self.units = units
        self.hub_unit_code = hub_unit_code
        self.registry = registry
        self.serde = serde
        self.outputs = outputs
        self.index = index
        self.screening_rules = ScreeningRules(
            thresholds=rules.thresholds, violation_types=rules.violation_types,
            violation_offences=rules.violation_offences, screening=rules.screening)
        self.case_stores: dict[int, PartitionStore] = {}
        self.stats_store: PartitionStore | None = None
        self.stats: StatsAccumulator | None = None
        self.stats_save_after = 0.0
        self.stats_header: dict[str, Any] | None = None
        self.due = DueIndex()
        #: Held feedback (see :data:`MATCH_GRACE_S`) by partition and case.
        self.held = DueIndex()
        #: Set when a batch indexed a referral the matcher did not know: parked feedback
        #: may match now (see :meth:`rematch_parked`).
        self.index_grew = False
        self.guards = {name: Guard(name, topics.dead_letters, outputs.send)
                       for name in ("normalize", "routing", "matching", "deadlines",
                                    "screening", "aggregate", "stats", CASE_PROCESSORS)}
        self.procuratorate_inbox = topics.inbox(hub_unit_code)
        self._rematch_after = 0.0
        #: Documents of recently finished cases (see :meth:`keep_document`).
        self._documents: dict[tuple[int, str], CaseDocument] = {}
        #: Recently decoded record values (see :meth:`decode`), oldest first.
        self._decoded: dict[bytes, CaseEvent] = {}
        outputs.decoded = self._decoded

    # -- state -------------------------------------------------------------------------

    def document(self, batch: Batch, partition: int, case_id: str) -> CaseDocument:
        """The case's document, read once per batch: from memory when a recent batch
        left it there (see :meth:`keep_document`), else from the store."""
        key = (partition, case_id)
        found = batch.documents.get(key)
        if found is None:
            found = self._documents.pop(key, None)
            if found is not None:
                found.begin_batch()
            else:
                store = self.case_stores[partition]
                stored = store.get(b"c|" + case_id.encode("utf-8"))
                found = CaseDocument(partition, case_id,
                                     decode_value(stored) if stored is not None else None)
            batch.documents[key] = found
        return found

    def keep_document(self, document: CaseDocument) -> None:
        """Keep a finished document (equal to what the store holds or has staged) in memory.

        A case is usually touched again a batch or two later (its alerts and feedback
        come back through ``lf.case-events`` and ``lf.alerts``): reusing the document
        skips decoding its JSON, its stored events (pydantic validation) and its
        aggregate. Bounded (least recently used dropped); a partition's documents are
        forgotten when it moves away (:meth:`forget_partition`); a failed batch ends the
        process, so a kept document never holds state the store did not take.
        """
        documents = self._documents
        documents[(document.partition, document.case_id)] = document
        if len(documents) > _DOCUMENT_CACHE:
            for key in list(itertools.islice(documents, _DOCUMENT_CACHE // 8)):
                del documents[key]

    def forget_partition(self, partition: int) -> None:
        """Drop the kept documents of a partition this worker no longer owns."""
        for key in [key for key in self._documents if key[0] == partition]:
            del self._documents[key]

    def index_due_times(self, partition: int) -> None:
        """Fill the due index from a freshly assigned partition's store (one scan)."""
        store = self.case_stores[partition]
        for key, value in store.items():
            if not key.startswith(b"c|"):
                continue
            data = decode_value(value)
            document = CaseDocument(partition, key[2:].decode("utf-8"), data)
            self.due.set(partition, document.case_id, document.next_due())
            self.held.set(partition, document.case_id, document.held_until())

    # -- decoding ----------------------------------------------------------------------

    async def decode(self, record: RawRecord, processor: str) -> CaseEvent | None:
        """The record's event, or None after dead-lettering it (poison never stops us).

        Most records this worker reads carry bytes it decoded a moment ago: normalize
        forwards the ingest record's bytes to ``lf.case-events`` unchanged, and the case
        processors forward them again to the statistics feed. Decoding is a pure function
        of the bytes (the schema id is in them; events are frozen models), so recently
        decoded values are reused instead of decoded two or three times.
        """
        value = record.value
        if value is not None:
            cached = self._decoded.get(value)
            if cached is not None:
                return cached
        try:
            event = await self.serde.decode(_value_of(record))
        except Exception as exc:  # noqa: BLE001 - every decode failure is dead-lettered
            await self.guards[processor].dead_letter(record, exc)
            return None
        assert value is not None
        remember(self._decoded, value, event)
        return event

    # -- normalize ---------------------------------------------------------------------

    async def normalize(self, record: RawRecord) -> None:
        """Check the source unit, drop a seen event id, forward to ``lf.case-events``."""
        event = await self.decode(record, "normalize")
        if event is None:
            return
        topic_unit = self.topics.ingest_unit(record.topic)
        if topic_unit is not None and event.source_unit != topic_unit:
            SOURCE_MISMATCH.labels(topic_unit).inc()
            await self.guards["normalize"].dead_letter(record, RecordRejected(
                f"event declares source unit {event.source_unit} but arrived on "
                f"{record.topic}, the ingest topic of unit {topic_unit}",
                field="source_unit", value=event.source_unit, error_type="source-mismatch"))
            return
        store = self.case_stores[record.partition]
        key = b"n|" + event.event_id.encode("utf-8")
        if store.get(key) is not None:
            DUPLICATES.labels("normalize").inc()
            return
        await self.outputs.forward(self.topics.case_events, record, event)
        store.put(key, str(record.offset).encode("ascii"))

    # -- matching ----------------------------------------------------------------------

    async def _write_index(self, topic: str, key: str, value: dict[str, Any]) -> None:
        self.index.apply(topic, key, value)
        await self.outputs.send(topic, key.encode("utf-8"), encode_value(value), [])

    async def index_referral(self, event: CaseEvent) -> None:
        """Index a referral or penalty decision for matching (global, idempotent)."""
        for key, value in indexed_entries(event):
            if not self.index.knows(key, value):
                await self._write_index(self.index.referrals_topic, key, value)
                self.index_grew = True

    async def rematch_parked(self) -> int:
        """Match parked feedback again once new referrals are known; returns how many.

        Police systems often report before the agency's referral export lands: feedback
        parked for a person is re-keyed, and its alert resolved, as soon as the referral
        makes the match confident — only what stays unsure waits for a person.
        """
        if not self.index_grew or time.monotonic() < self._rematch_after:
            return 0
        self.index_grew = False
        started = time.monotonic()
        try:
            return await self._rematch_parked()
        finally:
            # Every open entry is tried again, so a pass costs O(parked feedback); after
            # a pass the next waits 20× as long as it took (at most ~5% of the worker),
            # instead of running at every batch that indexed a referral. With little
            # parked, passes still run at (nearly) every batch.
            self._rematch_after = time.monotonic() + 20 * (time.monotonic() - started)

    async def _rematch_parked(self) -> int:
        keys_by_feedback: dict[str, list[str]] = {}
        open_entries: dict[str, dict[str, Any]] = {}
        for key, entry in self.index.pending.items():
            if entry.get("resolved"):
                continue
            feedback_id = str(entry["feedback"][0]) if entry.get("feedback") else key
            keys_by_feedback.setdefault(feedback_id, []).append(key)
            open_entries[feedback_id] = entry
        matched_count = 0
        for feedback_id, entry in open_entries.items():
            [feedback] = decode_stored([entry["feedback"]])
            result = self.index.matcher.match(feedback)
            if not result.confident or result.case_id is None:
                continue
            now = datetime.now(UTC)
            matched = matched_event(result, feedback, hub_unit_code=self.hub_unit_code,
                                    now=now)
            await self._rekey(feedback, matched)
            await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
                feedback, AlertStatus.RESOLVED, now, hub_unit_code=self.hub_unit_code,
                resolved_by=matched.event_id))
            resolved = _resolved_entry(result.case_id)
            for key in keys_by_feedback[feedback_id]:
                await self._write_index(self.index.pending_topic, key, resolved)
            matched_count += 1
        return matched_count

    async def _link(self, feedback: CaseEvent, case_id: str) -> None:
        number = getattr(feedback, "police_case_number", None)
        key = police_index_key(feedback.source_unit, number)
        value = {"unit": feedback.source_unit, "number": number, "case_id": case_id}
        if key and not self.index.knows(key, value):
            await self._write_index(self.index.referrals_topic, key, value)

    async def _rekey(self, feedback: CaseEvent, matched: FeedbackMatched) -> None:
        await self.outputs.event(self.topics.case_events, matched)
        update: dict[str, object] = {"case_id": matched.case_id}
        referring_unit = self.index.matcher.referring_unit_of(matched.case_id)
        if referring_unit and "referring_unit_code" in type(feedback).model_fields and \
                not getattr(feedback, "referring_unit_code", None):
            update["referring_unit_code"] = referring_unit  # so routing can tell the agency
        copy = feedback.model_copy(update=update)
        serialized = await self.serde.serialize(copy)
        await self.outputs.send(self.topics.case_events, serialized.key, serialized.value,
                                [*serialized.headers, (MATCHED_HEADER, b"1")])
        await self._link(feedback, matched.case_id)

    async def match_feedback(self, feedback: CaseEvent,
                             document: CaseDocument | None = None) -> bool:
        """Tie police feedback to its case, or park it for a person.

        With ``document`` (first sight) feedback that matches nothing is held for
        :data:`MATCH_GRACE_S` instead; :meth:`retry_held` matches it again, finally.
        True when the feedback belongs to the case it is keyed by: the case then takes
        it even if the case's own first events are read after it.
        """
        if feedback.event_id in self.index.pending:
            DUPLICATES.labels("matching").inc()
            return False
        result = self.index.matcher.match(feedback)
        now = datetime.now(UTC)
        if not result.confident and document is not None:
            until = now + timedelta(seconds=MATCH_GRACE_S)
            document.hold(feedback, until)
            self.held.set(document.partition, document.case_id, document.held_until())
            return False
        if result.confident and result.case_id == feedback.case_id:
            await self._link(feedback, feedback.case_id)
            return True
        if result.confident:
            await self._rekey(feedback, matched_event(result, feedback,
                                                      hub_unit_code=self.hub_unit_code,
                                                      now=now))
            return False
        unmatched = unmatched_event(result, feedback, hub_unit_code=self.hub_unit_code,
                                    now=now)
        await self.outputs.event(self.topics.unmatched, unmatched)
        await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
            feedback, AlertStatus.RAISED, now, hub_unit_code=self.hub_unit_code,
            candidates=len(result.candidates)))
        entry = {"feedback": stored_form(feedback), "resolved": None}
        await self._write_index(self.index.pending_topic, feedback.event_id, entry)
        await self._write_index(self.index.pending_topic, unmatched.event_id, entry)
        return False

    async def manual_match(self, action: ViewAction) -> None:
        """A person's MANUAL_MATCH: re-key the parked feedback to the chosen case."""
        entry = self.index.pending.get(action.target)
        if entry is None or entry.get("resolved"):
            return
        [feedback] = decode_stored([entry["feedback"]])
        now = datetime.now(UTC)
        matched = manual_match_event(feedback, action, hub_unit_code=self.hub_unit_code,
                                     now=now)
        case_id = matched.case_id
        await self._rekey(feedback, matched)
        await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
            feedback, AlertStatus.RESOLVED, now, hub_unit_code=self.hub_unit_code,
            resolved_by=action.event_id))
        resolved = _resolved_entry(case_id)
        for key in {action.target, feedback.event_id}:
            await self._write_index(self.index.pending_topic, key, resolved)

    # -- the case processors -----------------------------------------------------------

    @staticmethod
    def accepts(record: RawRecord, event: CaseEvent, case_known: bool) -> bool:
        """Feedback joins a case only when the case is known or the matcher re-keyed it."""
        if not isinstance(event, FEEDBACK_TYPES):
            return True
        return case_known or record.header(MATCHED_HEADER) is not None

    def awaits_match(self, record: RawRecord, event: CaseEvent,
                     document: CaseDocument) -> bool:
        """Police feedback keyed by the police's own case number, not yet tied to a case:
        the matcher re-keys it (and fills the agency to notify) or parks it for a person,
        so routing it now would only raise a false "unroutable" alert.

        Court events name their addressee themselves: they are routed on first sight, and
        their re-keyed copy is not routed again."""
        if isinstance(event, COURT_FEEDBACK_TYPES):
            return record.header(MATCHED_HEADER) is not None
        return (isinstance(event, FEEDBACK_TYPES) and record.header(MATCHED_HEADER) is None
                and not document.has_history
                and not getattr(event, "referring_unit_code", None))

    @staticmethod
    def rematched_copy(record: RawRecord, event: CaseEvent, document: CaseDocument) -> bool:
        """The matcher's re-keyed copy of feedback this case refused, not handled yet."""
        if record.header(MATCHED_HEADER) is None or _MATCHED + event.event_id in document.seen:
            return False
        return (_UNROUTED + event.event_id in document.seen
                or _REFUSED + event.event_id in document.seen)

    async def route(self, record: RawRecord, event: CaseEvent) -> None:
        """Deliver to the inboxes that must act; an unroutable event becomes an alert."""
        route = route_event(event, self.units, self.rules.routing, self.rules.thresholds)
        for unit_code in route.destinations:
            await self.outputs.forward(self.topics.inbox(unit_code), record, event)
        if route.unroutable is not None:
            await self.outputs.event(self.topics.alerts, unroutable_alert(
                route, event, hub_unit_code=self.hub_unit_code, now=datetime.now(UTC)))

    async def case_record(self, batch: Batch, record: RawRecord, event: CaseEvent) -> None:
        """Run every case processor that reads ``record``'s topic on it, each guarded."""
        topics = self.topics
        document = self.document(batch, record.partition, event.case_id)
        # A re-keyed copy coming back to the case that refused the original (same event
        # id) is handled once, not dropped as a duplicate: see ``_UNROUTED``.
        rematched = (event.event_id in document.seen
                     and self.rematched_copy(record, event, document))
        if event.event_id in document.seen and not rematched:
            DUPLICATES.labels(CASE_PROCESSORS).inc()
            return
        document.last_record = record
        joined = [False]
        awaited = False
        refused = False
        if record.topic == topics.case_events:
            if self.awaits_match(record, event, document):
                awaited = True  # routed as the matcher's re-keyed copy (or parked)
            elif rematched and _UNROUTED + event.event_id not in document.seen:
                pass  # the original was routed already
            else:
                await self.guards["routing"].run(record, lambda: self.route(record, event))
            if isinstance(event, FEEDBACK_TYPES) and record.header(MATCHED_HEADER) is None:
                async def match() -> None:
                    joined[0] = await self.match_feedback(event, document)

                await self.guards["matching"].run(record, match)
            if not isinstance(event, _NOT_CASE_EVENTS):
                if self.accepts(record, event, document.has_history or joined[0]):
                    document.add_event(event)
                else:
                    refused = True
        elif (record.topic == topics.view_actions and isinstance(event, ViewAction)
              and event.action_kind is ViewActionKind.MANUAL_MATCH):
            await self.guards["matching"].run(record, lambda: self.manual_match(event))
        if self.accepts(record, event, document.aggregate() is not None or joined[0]):
            try:
                if document.new_aggregate().apply(event):
                    document.aggregate_changed = True
            except Exception as exc:  # noqa: BLE001 - dead-lettered, the batch goes on
                await self.guards["aggregate"].dead_letter(record, exc)
        if (record.topic != topics.view_actions and isinstance(event, _COUNTED)
                and not rematched):  # the original was counted
            await self.outputs.forward(topics.stats_feed, record, event)
        if rematched:
            document.mark_seen(_MATCHED + event.event_id)
            return
        document.mark_seen(event.event_id)
        if refused:
            document.mark_seen((_UNROUTED if awaited else _REFUSED) + event.event_id)

    async def evaluate(self, document: CaseDocument, *, wall_time: datetime | None = None
                       ) -> None:
        """Deadlines, screening and the CaseState of a case, once per batch or sweep.

        A batch evaluates at the latest legal time the case knows (a backfill of last year
        yields last year's lateness); a sweep at wall time. Only changes are emitted.
        """
        rules = self.rules
        deadlines, screening = document.data["deadlines"], document.data["screening"]
        if wall_time is not None:
            document.deadlines_due = _is_due(deadlines, wall_time)
            document.screening_due = _is_due(screening, wall_time)
        if document.deadlines_due and document.has_history:
            events = document.events()
            now = wall_time or max(max(e.occurred_at, e.recorded_at) for e in events)
            result = evaluate_case(events, now, rules=rules.deadlines,
                                   thresholds=rules.thresholds,
                                   hub_unit_code=self.hub_unit_code,
                                   violation_offences=rules.violation_offences)
            for alert in result.changes(deadlines["emitted"]):
                await self.outputs.event(self.topics.alerts, alert)
                deadlines["emitted"][alert.alert_id] = snapshot_of(alert)
            deadlines["next_check"] = (result.next_check_at.isoformat()
                                       if result.next_check_at else None)
            document.changed = True
        screened = ([e for e in document.events() if isinstance(e, _SCREENED)]
                    if document.screening_due else [])
        if screened:
            now = wall_time or max(max(e.occurred_at, e.recorded_at) for e in screened)
            outcome = screen_case(screened, now, rules=self.screening_rules,
                                  hub_unit_code=self.hub_unit_code)
            for alert in outcome.changes(screening["emitted"]):
                await self.outputs.event(self.topics.alerts, alert)
                if alert.status is AlertStatus.RAISED:
                    await self.outputs.event(self.procuratorate_inbox, alert)
                screening["emitted"][alert.alert_id] = snapshot_of(alert)
            screening["next_check"] = (outcome.next_check_at.isoformat()
                                       if outcome.next_check_at else None)
            document.changed = True
        aggregate = document.aggregate()
        if document.aggregate_changed and aggregate is not None:
            await self.outputs.event(self.topics.case_state, aggregate.to_case_state(
                hub_unit_code=self.hub_unit_code, now=datetime.now(UTC)))

    async def finish_cases(self, batch: Batch, *, wall_time: datetime | None = None) -> None:
        """Evaluate every touched case once and stage its document for writing."""
        for document in batch.documents.values():
            try:
                await self.evaluate(document, wall_time=wall_time)
            except Exception as exc:
                if document.last_record is None:
                    log.exception("evaluating case %s failed", document.case_id)
                    continue
                await self.guards["deadlines"].dead_letter(document.last_record, exc)
                evaluated = False
            else:
                evaluated = True
            if ((document.changed or document.aggregate_changed)
                    and not await self.stage_document(document)):
                continue
            if evaluated:
                self.keep_document(document)
            self.due.set(document.partition, document.case_id, document.next_due())

    async def stage_document(self, document: CaseDocument) -> bool:
        """Stage the document for writing if it fits; else dead-letter what changed it.

        A changelog record over the producer's request limit would fail the batch on
        every restart. An oversized document is shrunk (:meth:`CaseDocument.shrink`);
        if it still does not fit, the store keeps the case's previous document and every
        record that touched the case in this batch goes to ``lf.dlq.streams``
        (``state-too-large``), so nothing is lost silently and the batch completes.
        """
        limit = self.max_document_bytes
        encoded = document.encoded()
        if len(encoded) > limit:
            log.warning("case %s: state document of %d bytes over the %d-byte limit; "
                        "trimming its history", document.case_id, len(encoded), limit)
            shrunk = document.shrink(limit)
            if shrunk is None:
                await self._reject_document(document, len(encoded))
                return False
            encoded = shrunk
        self.case_stores[document.partition].put(document.key, encoded)
        return True

    async def _reject_document(self, document: CaseDocument, size: int) -> None:
        STATE_DROPPED.labels("document-too-large").inc()
        # The document in memory holds what was not written: drop it, the next batch
        # reads the case's last written document from the store.
        self._documents.pop((document.partition, document.case_id), None)
        error = RecordRejected(
            f"the state document of case {document.case_id} ({size} bytes) stays over "
            f"the {self.max_document_bytes}-byte limit after trimming; the case keeps its "
            "previous state and this record is not part of it",
            field="case_id", value=document.case_id, error_type="state-too-large")
        if not document.records:
            log.error("%s (no record to dead-letter: a deadline sweep or held feedback)",
                      error.reason)
        for record in document.records:
            await self.guards[CASE_PROCESSORS].dead_letter(record, error)

    async def sweep(self, batch: Batch, now: datetime) -> int:
        """Evaluate the owned cases whose clocks are due at wall time ``now``."""
        due = [(partition, case_id) for partition, case_id in self.due.pop_due(now)
               if partition in self.case_stores]
        for partition, case_id in due:
            self.document(batch, partition, case_id)
        await self.finish_cases(batch, wall_time=now)
        return len(due)

    async def retry_held(self, batch: Batch, now: datetime) -> int:
        """Match held feedback whose grace ended; what still matches nothing is parked."""
        due = [(partition, case_id) for partition, case_id in self.held.pop_due(now)
               if partition in self.case_stores]
        for partition, case_id in due:
            document = self.document(batch, partition, case_id)
            for feedback in document.take_held():
                try:
                    if await self.match_feedback(feedback):
                        self._join(document, feedback)
                except Exception:
                    log.exception("matching held feedback %s failed; parked for a person "
                                  "at the next try", feedback.event_id)
                    document.hold(feedback, now + timedelta(seconds=MATCH_GRACE_S))
            self.held.set(partition, case_id, document.held_until())
        await self.finish_cases(batch)
        return len(due)

    @staticmethod
    def _join(document: CaseDocument, feedback: CaseEvent) -> None:
        """Fold held feedback into its own case once the matcher confirmed the case."""
        if all(item[0] != feedback.event_id for item in document.data["events"]):
            document.add_event(feedback)
        if document.new_aggregate().apply(feedback):
            document.aggregate_changed = True

    # -- statistics --------------------------------------------------------------------

    def load_stats(self) -> int:
        """The statistics snapshot; returns the feed offset to resume from."""
        store = self.stats_store
        stored = store.get(_STATS_KEY) if store is not None else None
        self.stats_header = None
        if stored is None:
            self.stats = StatsAccumulator()
            return 0
        header = decode_value(stored)
        assert store is not None
        try:
            parts = [store.get(_chunk_key(header["offset"], number)) or b""
                     for number in range(int(header["chunks"]))]
            self.stats = StatsAccumulator.from_dict(decode_value(b"".join(parts)))
        except Exception:
            log.exception("statistics snapshot unreadable: counting the feed again")
            self.stats = StatsAccumulator()
            return 0
        self.stats_header = header
        return int(header["offset"]) + 1

    async def count(self, batch: Batch, record: RawRecord) -> None:
        """Fold one stats-feed record into the accumulator."""
        event = await self.decode(record, "stats")
        batch.stats_offset = record.offset
        if event is None or self.stats is None:
            return
        batch.stats_changed |= self.stats.add(event)

    async def finish_stats(self, batch: Batch) -> None:
        """Emit the figures of every unit-month the batch changed; snapshot now and then.

        The snapshot is the whole accumulator, so it is written every few seconds, not per
        batch; after a move the new owner resumes the feed from the snapshot's offset and
        re-counts the rest (an event id counts once, so re-reading changes nothing).
        """
        if self.stats is None or batch.stats_offset is None:
            return
        now = datetime.now(UTC)
        for unit_code, month in sorted(batch.stats_changed):
            figures = self.stats.stats(unit_code, month, hub_unit_code=self.hub_unit_code,
                                       now=now)
            await self.outputs.event(self.topics.stats, figures,
                                     key=f"{unit_code}|{month}".encode())
        if self.stats_store is not None and time.monotonic() >= self.stats_save_after:
            started = time.monotonic()
            state = orjson.dumps(self.stats.to_dict(), default=str)
            chunks = [state[start:start + _STATS_CHUNK_BYTES]
                      for start in range(0, len(state), _STATS_CHUNK_BYTES)] or [b""]
            for number, chunk in enumerate(chunks):
                self.stats_store.put(_chunk_key(batch.stats_offset, number), chunk)
            # Chunk keys carry the snapshot's offset and the header goes last, then the
            # previous chunks are deleted: a crash part-way through the changelog writes
            # leaves the previous header pointing at intact previous chunks.
            header = {"offset": batch.stats_offset, "chunks": len(chunks)}
            self.stats_store.put(_STATS_KEY, encode_value(header))
            previous = self.stats_header
            if previous is not None and previous["offset"] != batch.stats_offset:
                for number in range(int(previous["chunks"])):
                    self.stats_store.put(_chunk_key(previous["offset"], number), None)
            self.stats_header = header
            # The snapshot is the whole accumulator, which grows with the events counted:
            # at a fixed 5 s period its serialisation (and the changelog bytes) would take
            # an ever larger share of the worker. Waiting 20× as long as the snapshot took
            # keeps that share under 5%; a new owner re-counts a little more of the feed.
            took = time.monotonic() - started
            self.stats_save_after = time.monotonic() + max(_STATS_SNAPSHOT_EVERY_S,
                                                           20 * took)


def _resolved_entry(case_id: str) -> dict[str, Any]:
    """A parked-feedback entry once resolved: only that it was, and to which case.

    Readers of a resolved entry never look at its feedback (re-matching and manual
    matching skip it, matching only asks whether the id is known), and every worker
    keeps every entry in memory, so the stored event is not carried on.
    """
    return {"feedback": None, "resolved": case_id}


def decode_tolerant(items: list[list[Any]], case_id: str
                    ) -> tuple[list[CaseEvent], list[list[Any]]]:
    """Stored events back as models, skipping any that no longer validate.

    Returns the models and the stored items that produced them (the readable ones, in
    order). A skipped item is logged (its id and type) and counted; it was written by an
    earlier version or damaged, and failing on it would fail every batch of the case.
    """
    try:
        return decode_stored(items), items
    except (ValidationError, KeyError, ValueError, TypeError):
        pass
    events: list[CaseEvent] = []
    kept: list[list[Any]] = []
    for item in items:
        try:
            [event] = decode_stored([item])
        except (ValidationError, KeyError, ValueError, TypeError) as exc:
            STATE_DROPPED.labels("unreadable-event").inc()
            described = item[:2] if isinstance(item, list) else type(item).__name__
            log.warning("case %s: stored event %s no longer validates, skipped: %s",
                        case_id, described, str(exc).splitlines()[0] if str(exc) else exc)
            continue
        events.append(event)
        kept.append(item)
    return events, kept


def remember(cache: dict[bytes, CaseEvent], value: bytes, event: CaseEvent) -> None:
    """Keep a decoded value (bounded: the oldest eighth goes when the cache is full)."""
    cache[value] = event
    if len(cache) > _DECODED_CACHE:
        for key in list(itertools.islice(cache, _DECODED_CACHE // 8)):
            del cache[key]


def _chunk_key(offset: int, number: int) -> bytes:
    return _STATS_KEY + f"|{offset}|{number}".encode("ascii")


def _value_of(record: RawRecord) -> bytes:
    if record.value is None:
        raise RecordRejected("record has no value (tombstone)", field="value",
                             error_type="tombstone")
    return record.value


def _is_due(section: dict[str, Any], now: datetime) -> bool:
    check = section.get("next_check")
    return isinstance(check, str) and datetime.fromisoformat(check) <= now
