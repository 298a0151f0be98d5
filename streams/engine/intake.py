"""A record's first step: decoded once, checked against its ingest topic, deduplicated.

What arrives on an ingest topic is not yet trusted (its unit may claim another's events)
nor unique (connectors redeliver); both are settled here, before any case sees the
record, and the record is handed on to the case processors of the same task or, when
another task owns its case, to that task through the engine's own
``lf.streams.case-intake`` (never straight to ``lf.case-events``: nothing is published
there before it is entitled). Decoding sits here too, with the cache of recently decoded
values every later step reads through.
"""

from __future__ import annotations

from hub.dlq.records import REPLAY_HEADER
from hub.errors import RecordRejected
from hub.models import CaseEvent
from hub.serde import AvroSerde
from streams.engine.outputs import Outputs, partition_of, remember
from streams.engine.state import PartitionStore
from streams.metrics import DUPLICATES, SOURCE_MISMATCH, unit_event_seen
from streams.safety import Guard, RawRecord
from streams.topics import TopicNames

__all__ = ["Intake"]


class Intake:
    """Decoding and normalize (part of :class:`~streams.engine.processors.Processors`)."""

    topics: TopicNames
    serde: AvroSerde
    outputs: Outputs
    guards: dict[str, Guard]
    case_stores: dict[int, PartitionStore]
    case_partitions: list[int]
    _decoded: dict[bytes, CaseEvent]

    # -- decoding ----------------------------------------------------------------------

    async def decode(self, record: RawRecord, processor: str) -> CaseEvent | None:
        """The record's event, or None after dead-lettering it (poison never stops us).

        Many records this worker reads carry bytes it decoded or encoded a moment ago:
        normalize forwards the ingest record's bytes to ``lf.case-events`` unchanged (read
        back by another task when the partitions differ), and alerts raised here come
        back on ``lf.alerts``. Decoding is a pure function
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

    async def normalize(self, record: RawRecord) -> tuple[RawRecord, CaseEvent] | None:
        """Check the source unit, drop a seen event id, publish to ``lf.case-events``.

        Returns the record and event for the case processors of this same task (one hop)
        when the event's case belongs to this partition, i.e. the ingest topic is
        co-partitioned with ``lf.case-events`` (same key, same partition count, as the
        connectors produce it). Its copy on ``lf.case-events`` then carries
        :data:`~streams._events.PROCESSED_HEADER` and is skipped when read back; it is
        published only once the event is entitled to its case (:meth:`entitled`), so a
        refused event never reaches ``lf.case-events`` or its subscribers. An event
        whose case another task owns (an ingest topic that is not co-partitioned, or a
        producer that chose its own partition) goes to that task through
        ``lf.streams.case-intake`` (a repartition, written only by the engine), which
        checks it like a record of its own ingest partition before publishing it.
        The record handed on keeps the ingest position (dead letters name it) but none
        of the ingest headers: a unit cannot smuggle the matcher's header in.
        """
        event = await self.decode(record, "normalize")
        if event is None:
            return None
        topic_unit = self.topics.ingest_unit(record.topic)
        if topic_unit is not None and event.source_unit != topic_unit:
            SOURCE_MISMATCH.labels(topic_unit).inc()
            await self.guards["normalize"].dead_letter(record, RecordRejected(
                f"event declares source unit {event.source_unit} but arrived on "
                f"{record.topic}, the ingest topic of unit {topic_unit}",
                field="source_unit", value=event.source_unit, error_type="source-mismatch"))
            return None
        # An ingest topic with more partitions than the case topics has partitions no
        # case store matches: their events take the two-hop path, deduplicated by the
        # case's own seen ids when they come back on ``lf.case-events``.
        unit_event_seen(topic_unit or event.source_unit)
        store = self.case_stores.get(record.partition)
        key = b"n|" + event.event_id.encode("utf-8")
        # A dead letter replayed by ``liangfa dlq replay`` had its id noted here before a
        # later step refused it: it passes on to that step (the case's own seen ids
        # still drop it if it did join the case).
        if (store is not None and store.get(key) is not None
                and record.header(REPLAY_HEADER) is None):
            DUPLICATES.labels("normalize").inc()
            return None
        one_hop = (store is not None and bool(self.case_partitions)
                   and partition_of(event.kafka_key(), self.case_partitions)
                   == record.partition)
        if store is not None:
            # Late: on the changelog after the case's document, so a restore of part of
            # the batch never holds the mark without what the event did to its case.
            store.put(key, str(record.offset).encode("ascii"), late=True)
        if not one_hop:
            # A producer picks its partition: one that put an event where its case is not
            # must not reach lf.case-events, which the view and the public feed trust.
            await self.outputs.forward(self.topics.case_intake, record, event,
                                       handed_on=True)
            return None
        # Published by the case processors once the event is entitled to its case. Of
        # the ingest headers only a replay's mark goes on (see ``case_record``).
        replay = record.header(REPLAY_HEADER)
        return RawRecord(record.topic, record.partition, record.offset, record.key,
                         record.value,
                         ((REPLAY_HEADER, replay),) if replay is not None else ()), event


def _value_of(record: RawRecord) -> bytes:
    if record.value is None:
        raise RecordRejected("record has no value (tombstone)", field="value",
                             error_type="tombstone")
    return record.value

