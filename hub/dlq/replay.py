"""Replaying dead letters to the topic they came from, once, audited.

How replaying twice does not double a record:

1. Every replayed copy carries the header :data:`~hub.dlq.records.REPLAY_HEADER`
   (``dlq.replay-of: lf.dlq.streams/0/42``), naming the dead letter it is a copy of.
2. Before sending, :func:`replay` reads the target topics from shortly before the oldest
   selected dead letter was written (a dead letter is always replayed after it was
   written; :data:`CLOCK_MARGIN_MS` covers clocks that disagree) to their end, and
   collects those headers. A dead letter whose id is already there is skipped and
   reported as ``already replayed``. The read is bounded by the dead letters' age (the DLQ
   keeps 30 days), not by the size of the target topic.
3. The copy keeps the original key, value and headers (the CloudEvents ``ce_id`` among
   them), so even two operators replaying the same record at the same moment (both read
   before either wrote) give two copies with one event id, which the workers drop as a
   duplicate (``liangfa_streams_duplicates_total``): nothing is doubled downstream.

A copy that fails again is dead-lettered again with its ``dlq.replay-of`` header kept
(:func:`streams.safety.dead_letter_headers` keeps every non-error header), so the new
dead letter says it is a second failure.

Each replay (not a dry run) appends one ``AuditRecorded`` (operation ``ADMIN_CHANGE``)
to ``lf.audit-intake``: who replayed which dead letters to which topics.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import TopicPartition

from hub.config import KafkaSecurity
from hub.dlq.records import REPLAY_HEADER, DeadLetterRecord, partitions_of
from hub.identity import case_id_for, content_hash, event_id_for
from hub.kafka import make_consumer, make_producer
from hub.models import AuditOperation, AuditRecorded
from hub.serde import AvroSerde
from streams.safety import ERROR_HEADERS

__all__ = ["AUDIT_INTAKE_TOPIC", "CLOCK_MARGIN_MS", "ReplayReport", "audit_record",
           "replay", "replay_headers", "replayed_letter_ids"]

log = logging.getLogger(__name__)

#: Where writers append audit records for the sealer (``hub/topics.yaml``).
AUDIT_INTAKE_TOPIC = "lf.audit-intake"

#: How far before a dead letter's timestamp the target topics are searched for copies.
CLOCK_MARGIN_MS = 3_600_000

_SOURCE_SYSTEM = "liangfa-dlq"


@dataclass(slots=True)
class ReplayReport:
    """What a replay did, by dead-letter id (``topic/partition/offset``)."""

    replayed: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    targets: dict[str, int] = field(default_factory=dict)
    audit_event_id: str | None = None


def replay_headers(record: DeadLetterRecord) -> list[tuple[str, bytes]]:
    """The original headers (error headers and an earlier replay mark dropped), then the
    replay mark naming this dead letter."""
    kept = [(name, value) for name, value in record.headers
            if name not in ERROR_HEADERS and name != REPLAY_HEADER]
    return [*kept, (REPLAY_HEADER, record.letter_id.encode())]


async def replayed_letter_ids(bootstrap: str, since_ms: dict[str, int], *,
                              security: KafkaSecurity | None = None) -> set[str]:
    """Dead-letter ids named by :data:`REPLAY_HEADER` on each topic of ``since_ms``,
    in records written at or after its timestamp (milliseconds) minus the clock margin."""
    found: set[str] = set()
    if not since_ms:
        return found
    partitions = await partitions_of(bootstrap, sorted(since_ms), security)
    consumer = make_consumer(bootstrap, group_id=None, isolation_level="read_uncommitted",
                             security=security)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times(
            {tp: max(0, since_ms[tp.topic] - CLOCK_MARGIN_MS) for tp in partitions})
        todo: dict[TopicPartition, int] = {}
        for tp in partitions:
            start = starts.get(tp)
            if start is not None and ends[tp] > start.offset:
                consumer.seek(tp, start.offset)
                todo[tp] = ends[tp]
            else:
                consumer.pause(tp)
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for message in messages:
                    for name, value in message.headers or ():
                        if name == REPLAY_HEADER:
                            found.add(value.decode("utf-8", errors="replace"))
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    todo.pop(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return found


def audit_record(*, actor: str, actor_unit: str, replayed: Sequence[DeadLetterRecord],
                 targets: dict[str, int], note: str) -> AuditRecorded:
    """The audit record of one replay (deterministic id: the same replay is one event)."""
    now = datetime.now(UTC)
    ids = [record.letter_id for record in replayed]
    target = "dlq replay → " + ", ".join(f"{t} ({n})" for t, n in sorted(targets.items()))
    body: dict[str, object] = {"actor": actor, "letters": ids, "targets": targets}
    natural_key = f"dlq-replay:{actor}:{ids[0] if ids else ''}:{len(ids)}"
    return AuditRecorded(
        event_id=event_id_for(_SOURCE_SYSTEM, natural_key, content_hash(body)),
        case_id=case_id_for(actor_unit, "audit:" + actor),
        source_unit=actor_unit,
        occurred_at=now,
        recorded_at=now,
        source_system=_SOURCE_SYSTEM,
        source_record=natural_key[:200],
        connector_id="dlq",
        actor=actor,
        actor_unit_code=actor_unit,
        operation=AuditOperation.ADMIN_CHANGE,
        target=target[:500],
        query=(note + " | " + " ".join(ids))[:2000],
        result_count=len(ids),
    )


async def replay(bootstrap: str, records: Sequence[DeadLetterRecord], *,
                 serde: AvroSerde | None, actor: str, actor_unit: str, note: str = "",
                 security: KafkaSecurity | None = None, dry_run: bool = False,
                 audit_topic: str = AUDIT_INTAKE_TOPIC) -> ReplayReport:
    """Send each replayable record of ``records`` back to its origin topic unless a copy
    is already there; audit the replay (``serde`` encodes the audit record; ``None``
    only with ``dry_run``)."""
    report = ReplayReport()
    todo: list[DeadLetterRecord] = []
    for record in records:
        if record.value is None:
            report.refused.append((record.letter_id, "no payload"))
        elif not record.origin_topic:
            report.refused.append((record.letter_id, "a connector's source row, not an event: "
                                   "fix the mapping and drop the corrected export again"))
        elif record.origin_topic.startswith("lf.dlq."):
            report.refused.append((record.letter_id, f"origin {record.origin_topic} is a "
                                   "dead-letter topic"))
        else:
            todo.append(record)
    since: dict[str, int] = {}
    for record in todo:
        since[record.origin_topic] = min(since.get(record.origin_topic, record.timestamp_ms),
                                         record.timestamp_ms)
    done = await replayed_letter_ids(bootstrap, since, security=security)
    fresh: list[DeadLetterRecord] = []
    for record in todo:
        if record.letter_id in done:
            report.already.append(record.letter_id)
        else:
            fresh.append(record)
            report.targets[record.origin_topic] = report.targets.get(record.origin_topic, 0) + 1
    if dry_run or not fresh:
        report.replayed = [record.letter_id for record in fresh] if dry_run else []
        return report
    if serde is None:
        raise ValueError("replay needs a serde for its audit record")
    producer = make_producer(bootstrap, security=security, client_id="liangfa-dlq-replay")
    await producer.start()
    try:
        futures = [await producer.send(record.origin_topic, record.value, key=record.key,
                                       headers=replay_headers(record))
                   for record in fresh]
        for record, future in zip(fresh, futures, strict=True):
            await future
            report.replayed.append(record.letter_id)
        event = audit_record(actor=actor, actor_unit=actor_unit, replayed=fresh,
                             targets=report.targets, note=note)
        serialized = await serde.serialize(event)
        await (await producer.send(audit_topic, serialized.value, key=serialized.key,
                                   headers=serialized.headers))
        report.audit_event_id = event.event_id
    finally:
        await producer.stop()
    log.info("replayed %d dead letters to %s (%d already replayed, %d refused)",
             len(report.replayed), ", ".join(sorted(report.targets)), len(report.already),
             len(report.refused))
    return report
