"""The view's two connections to Kafka: the store's consumer and the outbox relay.

**Consumer.** The view joins its own consumer group. Offsets live in the SQL store: a
batch's rows and the next offsets are committed in one transaction, and every partition
the group assigns is positioned from the store, so after a crash or a rebalance the view
resumes exactly after the last applied record, neither losing nor applying one twice.
Instances that share one store (PostgreSQL) share the group and split the partitions;
an instance with a store of its own (SQLite) needs a group of its own. Offsets are also
committed to the group (best effort) so that operations see the view's lag with the
usual Kafka tools. A replay drops the bus tables, offsets included, and starts from the
beginning of every topic.

**Relay.** Produces outbox rows (view actions, audit records) in order with the hub's
idempotent, acks=all producer and marks them sent only once the broker acknowledged
them. A crash between the two re-sends a few events after restart; consumers ignore the
repeat (ViewAction by ``action_id``, audit records by ``event_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from prometheus_client import Counter, Gauge
from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DataError, IntegrityError

from hub.config import KafkaSecurity
from hub.errors import RecordRejected, RetriableError
from hub.kafka import make_consumer, make_producer
from hub.models import (
    EVENT_TYPES,
    STORED_CONTEXT,
    AgencyCaseOpened,
    CaseEvent,
    CaseState,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    PenaltyCaseRecorded,
)
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from hub.topics import apply_topics, load_manifest
from hub.view import apply
from hub.view.store import (
    CaseNumberRow,
    CasePartyRow,
    CaseRow,
    CaseUnitRow,
    ConsumerOffsetRow,
    DeadLetterRow,
    OutboxRow,
    TimelineRow,
    utc_now,
)

__all__ = ["BusRunner", "DecodedRecord", "apply_batch", "sanitise"]

logger = logging.getLogger(__name__)

RECORDS_APPLIED = Counter(
    "liangfa_view_records_applied_total", "Bus records applied to the view's store", ["topic"]
)
RECORDS_REJECTED = Counter(
    "liangfa_view_records_rejected_total",
    "Bus records the view could not decode or apply (skipped, logged)",
    ["topic"],
)
RECORDS_SANITISED = Counter(
    "liangfa_view_records_sanitised_total",
    "Bus records whose text the view had to alter for its store (NUL replaced)",
    ["topic"],
)
OUTBOX_SENT = Counter(
    "liangfa_view_outbox_sent_total", "View actions and audit records produced", ["topic"]
)
CONSUMER_LAG = Gauge(
    "liangfa_view_consumer_lag", "Records on the bus not yet applied to the store", ["topic"]
)

#: From lf.case-events the view needs the details of the agencies' own records (a
#: penalty's, an open case's) and the matcher's matches (which close parked feedback it
#: resolved by itself once the referral arrived); nothing else.
_CASE_EVENT_CLASSES = (PenaltyCaseRecorded, AgencyCaseOpened, FeedbackMatched,
                       FeedbackMatchWithdrawn)
_CASE_EVENT_TYPES = {kind.avro_name.encode() for kind in _CASE_EVENT_CLASSES}
#: How long produced outbox rows are kept (to answer "was it sent?"), then deleted.
_OUTBOX_KEEP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    """A record ready to apply: where it came from and what it says (None = tombstone)."""

    topic: str
    partition: int
    offset: int
    key: str
    event: CaseEvent | None


def _delete_case(session: Any, case_id: str) -> None:
    for model in (CasePartyRow, CaseUnitRow, CaseNumberRow, TimelineRow):
        session.execute(delete(model).where(model.case_id == case_id))
    session.execute(delete(CaseRow).where(CaseRow.case_id == case_id))


def _apply_one(session: Any, record: DecodedRecord, context: Any) -> None:
    if record.event is not None:
        apply.apply_event(session, record.event, context.units)


def _clean(value: Any) -> Any:
    """The value with every NUL in its text replaced by U+FFFD; the same object if none.

    PostgreSQL refuses NUL in text and in jsonb; SQLite would keep it. Replacing (rather
    than dropping) it keeps the store the same on both and shows that the text was altered.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            current = getattr(value, name)
            cleaned = _clean(current)
            if cleaned is not current:
                changes[name] = cleaned
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list | tuple):
        items = [_clean(item) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return type(value)(items)
        return value
    if isinstance(value, dict):
        pairs = {_clean(k): _clean(v) for k, v in value.items()}
        if any(k not in value or value[k] is not v for k, v in pairs.items()):
            return pairs
        return value
    return value


def sanitise(record: DecodedRecord) -> tuple[DecodedRecord, bool]:
    """The record with text any supported store accepts, and whether anything changed."""
    if record.event is None:
        return record, False
    cleaned = _clean(record.event)
    if cleaned is record.event:
        return record, False
    return replace(record, event=cleaned), True


def _letter(record: DecodedRecord, outcome: str, reason: str, now: datetime) -> DeadLetterRow:
    return DeadLetterRow(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key[:200],
        event_type=type(record.event).__name__ if record.event is not None else "",
        outcome=outcome,
        reason=reason[:1000],
        recorded_at=now,
    )


def apply_batch(context: Any, records: list[DecodedRecord]) -> int:
    """Apply decoded records and store the next offsets, all in one transaction.

    Case states are applied together after the batch's other records (alerts first, so
    the cases' overdue and lead flags see them), and of several states of one case only
    the last counts (the topic is compacted: latest wins). Returns the number of records
    applied.

    Text the store cannot hold (NUL) is replaced first and the record noted in
    ``view_dead_letters`` as sanitised. If the store still refuses the batch (a value it
    rejects for any other reason), the batch is applied again record by record, each in
    a savepoint, and a refused record is dead-lettered there with the store's reason:
    one bad record must not stop the view, which used to retry the same batch forever.
    """
    if not records:
        return 0
    cleaned: list[DecodedRecord] = []
    notes: list[DecodedRecord] = []
    for record in records:
        record, changed = sanitise(record)
        cleaned.append(record)
        if changed:
            RECORDS_SANITISED.labels(record.topic).inc()
            logger.warning("view replaced NUL characters in %s[%s]@%s", record.topic,
                           record.partition, record.offset)
            notes.append(record)
    try:
        return _apply(context, cleaned, notes, isolate=False)
    except _REFUSED as exc:
        logger.warning("view store refused a batch of %s records (%s); applying them one "
                       "by one", len(cleaned), _reason(exc))
        return _apply(context, cleaned, notes, isolate=True)


#: What a store raises for a value it will not hold; anything else (a lost connection)
#: is transient and the batch is retried as a whole.
_REFUSED = (DataError, IntegrityError)


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return f"{type(original).__name__}: {original}".strip().replace("\n", " ")


def _apply(
    context: Any, records: list[DecodedRecord], sanitised: list[DecodedRecord], *,
    isolate: bool,
) -> int:
    state_topic = context.settings.topics.case_state
    last_state: dict[str, DecodedRecord] = {}
    next_offsets: dict[tuple[str, int], int] = {}
    applied = 0
    now = utc_now()
    with context.store.session() as session:

        def attempt(record: DecodedRecord, work: Any) -> bool:
            if not isolate:
                work()
                return True
            try:
                with session.begin_nested():
                    work()
                return True
            except _REFUSED as exc:
                RECORDS_REJECTED.labels(record.topic).inc()
                reason = _reason(exc)
                logger.warning("view dead-letters %s[%s]@%s: the store refused it: %s",
                               record.topic, record.partition, record.offset, reason)
                session.add(_letter(record, "dead-lettered", reason, now))
                return False

        for record in records:
            next_offsets[(record.topic, record.partition)] = record.offset + 1
            if record.topic == state_topic:
                last_state[record.key] = record
                continue
            applied += attempt(record, lambda r=record: _apply_one(session, r, context))
        states: list[DecodedRecord] = []
        for record in last_state.values():
            if isinstance(record.event, CaseState):
                states.append(record)
            elif record.event is None and record.key:
                _delete_case(session, record.key)
        if isolate:
            for record in states:
                event = record.event
                applied += attempt(
                    record,
                    lambda e=event: apply.apply_case_states(session, [e], context.units),
                )
            applied += len(last_state) - len(states)
        else:
            apply.apply_case_states(
                session, [r.event for r in states if isinstance(r.event, CaseState)],
                context.units,
            )
            applied += len(last_state)
        session.add_all(
            _letter(record, "sanitised", "text contained NUL (U+0000), replaced by U+FFFD", now)
            for record in sanitised
        )
        for (topic, partition), offset in next_offsets.items():
            row = session.get(ConsumerOffsetRow, (topic, partition))
            if row is None:
                session.add(ConsumerOffsetRow(topic=topic, partition=partition,
                                              next_offset=offset, updated_at=now))
            else:
                row.next_offset = offset
                row.updated_at = now
    return applied


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """Offsets live in the store: each newly assigned partition starts where it says.

    Revocation waits for the batch being applied, so a partition handed to another
    instance sharing the store is not applied by both at once.
    """

    def __init__(self, runner: BusRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.runner.batch_lock:
            self.runner.assignment_epoch += 1

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.runner.assignment_epoch += 1
        await self.runner.seek_to_stored(assigned)


@dataclass
class BusRunner:
    """Runs the consumer and the relay as tasks of the web server's event loop."""

    context: Any
    bootstrap: str
    registry_url: str
    consumer: AIOKafkaConsumer | None = None
    producer: AIOKafkaProducer | None = None
    registry: SchemaRegistryClient | None = None
    serde: AvroSerde | None = None
    records_applied: int = 0
    last_applied_at: datetime | None = None
    assigned: list[TopicPartition] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)
    batch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Changes on every rebalance: a batch fetched across one is not applied (see below).
    assignment_epoch: int = 0
    #: The view's own principal; None reads ``LIANGFA_KAFKA_*`` (what ``liangfa up`` sets).
    security: KafkaSecurity | None = None
    #: Ingest topics the relay made sure exist (see :meth:`_ensure_topics`).
    _ensured: set[str] = field(default_factory=set)

    async def start(self) -> None:
        """Connect and start both loops; returns once they run."""
        settings = self.context.settings
        self.registry = SchemaRegistryClient(self.registry_url)
        self.serde = AvroSerde(self.registry)
        security = self.security or KafkaSecurity()
        self.producer = make_producer(self.bootstrap, client_id="liangfa-view",
                                      security=security)
        await self.producer.start()
        loop = asyncio.get_running_loop()
        self.context.outbox.waker = lambda: loop.call_soon_threadsafe(self._wake.set)
        self.consumer = make_consumer(
            self.bootstrap,
            group_id=settings.group_id,
            client_id="liangfa-view",
            security=security,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await self.consumer.start()
        self._tasks = [
            asyncio.create_task(self._consume_forever(), name="view-consumer"),
            asyncio.create_task(self._relay_forever(), name="view-relay"),
        ]
        logger.info("view bus runner started against %s", self.bootstrap)

    async def stop(self) -> None:
        """Stop the loops, flush the producer, close the clients."""
        self._stopping.set()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.context.outbox.waker = None
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.registry is not None:
            await self.registry.aclose()
        logger.info("view bus runner stopped")

    @property
    def running(self) -> bool:
        """Both loops alive."""
        return bool(self._tasks) and all(not task.done() for task in self._tasks)

    # -- consumer -----------------------------------------------------------------------

    async def _subscribe(self) -> None:
        """Join the group; partitions are positioned from the store on every assignment."""
        assert self.consumer is not None
        topics = self.context.settings.topics.consumed()
        while not self._stopping.is_set():
            available = await self.consumer.topics()
            missing = [topic for topic in topics if topic not in available]
            if not missing:
                break
            logger.warning("view waits for topics to exist: %s", ", ".join(missing))
            await asyncio.sleep(2.0)
        self.consumer.subscribe(topics, listener=_SeekToStoredOffsets(self))

    async def seek_to_stored(self, partitions: Iterable[TopicPartition]) -> None:
        """Position partitions after the last record the store holds (start if none)."""
        assert self.consumer is not None
        stored = await asyncio.to_thread(self._stored_offsets)
        resumed = 0
        for partition in partitions:
            offset = stored.get((partition.topic, partition.partition))
            if offset is None:
                await self.consumer.seek_to_beginning(partition)
            else:
                self.consumer.seek(partition, offset)
                resumed += 1
        self.assigned = sorted(self.consumer.assignment())
        logger.info("view consumer has %s partitions (%s resumed from the store)",
                    len(self.assigned), resumed)

    def _stored_offsets(self) -> dict[tuple[str, int], int]:
        with self.context.store.session() as session:
            return {
                (row.topic, row.partition): row.next_offset
                for row in session.scalars(select(ConsumerOffsetRow))
            }

    async def _decode(self, message: ConsumerRecord[bytes, bytes]) -> DecodedRecord | None:
        assert self.serde is not None
        key = message.key.decode("utf-8", "replace") if message.key else ""
        if message.value is None:
            return DecodedRecord(message.topic, message.partition, message.offset, key, None)
        if message.topic == self.context.settings.topics.case_events:
            ce_type = dict(message.headers or ()).get("ce_type")
            if ce_type is not None and ce_type not in _CASE_EVENT_TYPES:
                return DecodedRecord(message.topic, message.partition, message.offset, key, None)
        try:
            event: CaseEvent | None = await self.serde.decode(message.value)
        except RecordRejected as exc:
            RECORDS_REJECTED.labels(message.topic).inc()
            logger.warning("view skips undecodable record %s[%s]@%s: %s", message.topic,
                           message.partition, message.offset, exc)
            return DecodedRecord(message.topic, message.partition, message.offset, key, None)
        if message.topic == self.context.settings.topics.case_events and not isinstance(
            event, _CASE_EVENT_CLASSES
        ):
            event = None
        return DecodedRecord(message.topic, message.partition, message.offset, key, event)

    async def _consume_forever(self) -> None:
        assert self.consumer is not None
        await self._subscribe()
        batch_size = self.context.settings.batch_size
        while not self._stopping.is_set():
            try:
                epoch = self.assignment_epoch
                fetched = await self.consumer.getmany(timeout_ms=500, max_records=batch_size)
                records: list[DecodedRecord] = []
                for messages in fetched.values():
                    for message in messages:
                        decoded = await self._decode(message)
                        if decoded is not None:
                            records.append(decoded)
                if records:
                    async with self.batch_lock:
                        if epoch != self.assignment_epoch:
                            # A rebalance happened while this batch was fetched or decoded:
                            # its records may predate the positions just taken from the
                            # store, or follow them. Drop it and re-read from the store's
                            # offsets, so that nothing is applied twice or skipped.
                            await self.seek_to_stored(self.consumer.assignment())
                            continue
                        applied = await asyncio.to_thread(apply_batch, self.context, records)
                    self.records_applied += applied
                    self.last_applied_at = utc_now()
                    for record in records:
                        RECORDS_APPLIED.labels(record.topic).inc()
                    await self._commit_to_group(records)
                elif not self.caught_up.is_set() and await self._at_end():
                    self.caught_up.set()
            except asyncio.CancelledError:
                raise
            except RetriableError as exc:
                logger.warning("view consumer: transient failure, retrying: %s", exc)
                await asyncio.sleep(1.0)
            except Exception:
                logger.exception("view consumer failed on a batch; retrying from the store")
                await asyncio.sleep(2.0)
                await self.seek_to_stored(self.consumer.assignment())

    async def _commit_to_group(self, records: list[DecodedRecord]) -> None:
        """Tell the group how far the view got (for lag tools); the store stays the truth."""
        assert self.consumer is not None
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - informational commit only
            logger.debug("view: group offset commit skipped: %s", exc)

    async def _at_end(self) -> bool:
        """True when the store holds everything on the assigned partitions.

        Before the group assigned anything there is nothing to compare with: that is not
        "caught up" (a slow join used to set ``caught_up`` on an empty store).
        """
        if not self.assigned:
            return False
        lag = await self.lag()
        return all(value <= 0 for value in lag.values())

    async def lag(self) -> dict[str, int]:
        """Records on the bus not yet applied, per topic."""
        if self.consumer is None or not self.assigned:
            return {}
        ends = await self.consumer.end_offsets(self.assigned)
        positions = await asyncio.to_thread(self._stored_offsets)
        per_topic: dict[str, int] = {}
        for partition, end in ends.items():
            done = positions.get((partition.topic, partition.partition), 0)
            per_topic[partition.topic] = per_topic.get(partition.topic, 0) + max(end - done, 0)
        for topic, value in per_topic.items():
            CONSUMER_LAG.labels(topic).set(value)
        return per_topic

    async def wait_caught_up(self, timeout: float = 60.0) -> None:
        """Wait until the store holds everything on the bus at the time of asking."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self._at_end():
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"view did not catch up with the bus within {timeout} s")

    # -- relay --------------------------------------------------------------------------

    def _pending(self, limit: int = 200) -> list[OutboxRow]:
        with self.context.store.session() as session:
            rows = list(
                session.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.sent_at.is_(None))
                    .order_by(OutboxRow.id)
                    .limit(limit)
                )
            )
            session.expunge_all()
            return rows

    def _mark_sent(self, ids: list[int]) -> None:
        """Mark rows sent; forget rows sent a week ago (the bus holds them now)."""
        now = utc_now()
        with self.context.store.session() as session:
            session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(sent_at=now))
            session.execute(
                delete(OutboxRow).where(OutboxRow.sent_at < now - _OUTBOX_KEEP)
            )

    async def relay_once(self) -> int:
        """Produce one chunk of the outbox; the number of events the broker acknowledged."""
        assert self.producer is not None and self.serde is not None
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        await self._ensure_topics({row.topic for row in rows})
        acknowledgements: list[Awaitable[Any]] = []
        for row in rows:
            # The view's own event, validated when queued: kept as written.
            model = EVENT_TYPES[row.record_type].model_validate(row.payload,
                                                                context=STORED_CONTEXT)
            serialized = await self.serde.serialize(model)
            acknowledgements.append(
                await self.producer.send(
                    row.topic,
                    value=serialized.value,
                    key=serialized.key,
                    headers=serialized.headers,
                )
            )
        await asyncio.gather(*acknowledgements)
        await asyncio.to_thread(self._mark_sent, [row.id for row in rows])
        for row in rows:
            OUTBOX_SENT.labels(row.topic).inc()
        return len(rows)

    async def _ensure_topics(self, topics: set[str]) -> None:
        """Create the operator's ingest topic before its first act is produced.

        Supervision acts created in the view go to ``lf.ingest.<operator>.<stream>``
        (``hub.view.acts``), which the topic manifest does not list (brokers here do not
        auto-create topics); the manifest's and the view's own topics exist already.
        """
        missing = {topic for topic in topics
                   if topic.startswith("lf.ingest.") and topic not in self._ensured}
        if not missing:
            return
        manifest = load_manifest()
        await apply_topics(self.bootstrap, [manifest.spec_for(name) for name in sorted(missing)],
                           security=self.security or KafkaSecurity())
        self._ensured.update(missing)

    async def _relay_forever(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                if await self.relay_once():
                    delay = 0.5
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("view outbox relay failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
