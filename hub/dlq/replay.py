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

4. After the copies are acknowledged, a settlement marker per dead letter goes to the
   dead-letter topic itself (:data:`~hub.dlq.records.SETTLED_HEADER`, no payload): ``list``
   and the depth exporter (:mod:`hub.dlq.exporter`) count pending dead letters from the
   dead-letter topics alone, and a later replay skips a settled dead letter without
   reading the target. A crash between the copies and the markers loses nothing: the
   next replay finds the copies (step 2) and writes the missing markers.

``resolve`` (:func:`settle` with ``how="resolved"``) marks dead letters fixed another way
(a connector's rows, after the corrected export was dropped again) or deliberately
dropped, with the operator's note; it is audited the same way.

A copy that fails again is dead-lettered again with its ``dlq.replay-of`` header kept
(:func:`streams.safety.original_headers` keeps it, and drops error and settlement-marker
headers the record's writer may have planted), so the new dead letter says it is a
second failure.

Each replay (not a dry run) appends one ``AuditRecorded`` (operation ``ADMIN_CHANGE``)
to ``lf.audit-intake``: who replayed which dead letters to which topics. It is written
before the copies: a replay that breaks half-way is audited (the next run, which finds
the copies already there, audits the letters it marks too).

What may be replayed (:func:`refusal`): a dead letter goes back only to a topic whose
records the engine or the sealer checks again when it reads them, and where a second
reading is a duplicate (a unit's ingest topic, the engine's own ``lf.streams.*`` topics,
case events, the view's actions, the audit intake); never to a compacted or transition
topic (case states, statistics, alerts: a replayed case state would become the case's
latest), the audit log, inboxes or public feeds. And never from a connector's own
dead-letter topic, which its unit writes: there ``source.topic`` is whatever the unit
wrote, and a replay (by an operator's principal) would put its record on another unit's
topic. A letter naming its origin other than once is refused as forged. (A copy sent to
an ``lf.streams.*`` topic is purged by the engine once read: a replay that crashed before
its markers may then send it once more, a duplicate the engine drops.)
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import TopicPartition

from hub.config import KafkaSecurity
from hub.dlq.records import (
    REPLAY_HEADER,
    SETTLED_HEADER,
    SETTLED_HOW_HEADER,
    DeadLetterRecord,
    partitions_of,
    read_dead_letters,
    settled_letters,
)
from hub.identity import case_id_for, content_hash, event_id_for
from hub.kafka import make_consumer, make_producer
from hub.models import AuditOperation, AuditRecorded
from hub.serde import AvroSerde
from streams.safety import ERROR_HEADERS

__all__ = ["AUDIT_INTAKE_TOPIC", "CLOCK_MARGIN_MS", "HUB_DEAD_LETTER_NAMES", "ReplayReport",
           "audit_record", "refusal", "replay", "replay_headers", "replayed_letter_ids",
           "settle"]

log = logging.getLogger(__name__)

#: Where writers append audit records for the sealer (``hub/topics.yaml``).
AUDIT_INTAKE_TOPIC = "lf.audit-intake"

#: How far before a dead letter's timestamp the target topics are searched for copies.
CLOCK_MARGIN_MS = 3_600_000

_SOURCE_SYSTEM = "liangfa-dlq"

#: Topics a dead letter may go back to (after a namespace prefix without dots, as the
#: engine's topic prefix gives): their readers check each record again, and a record
#: read twice is a duplicate there (event ids), not a step back. Not the compacted
#: topics (a replayed case state or statistic becomes the latest), nor alerts (an old
#: transition), the audit log, inboxes, public feeds or dead letters.
_REPLAY_TARGETS = re.compile(
    r"(?:[^.]+\.)?lf\.(?:ingest\..+|streams\.[^.]+|view-actions|audit-intake|case-events)")
#: A connector's own dead-letter topic, ``lf.dlq.<connector id>`` (ids have no dots);
#: ``streams`` and ``audit`` are the hub's (connector ids may not take them).
_CONNECTOR_DEAD_LETTERS = re.compile(r"^(?:[^.]+\.)?lf\.dlq\.([a-z0-9][a-z0-9-]{1,62})$")
HUB_DEAD_LETTER_NAMES = frozenset({"streams", "audit"})


def refusal(record: DeadLetterRecord) -> str | None:
    """Why ``record`` may not be replayed, or None (see the module docstring)."""
    if record.value is None:
        return "no payload"
    connector = _CONNECTOR_DEAD_LETTERS.match(record.topic)
    if connector and connector.group(1) not in HUB_DEAD_LETTER_NAMES:
        return ("on a connector's dead-letter topic: a source row, not an event (and its "
                "unit writes that topic): fix the mapping, drop the corrected export "
                "again, then `liangfa dlq resolve`")
    if not record.origin_topic:
        return ("a connector's source row, not an event: fix the mapping, drop the "
                "corrected export again, then `liangfa dlq resolve`")
    if sum(name == "source.topic" for name, _ in record.headers) != 1:
        return "names its origin twice (forged headers)"
    if not _REPLAY_TARGETS.fullmatch(record.origin_topic):
        return (f"origin {record.origin_topic} is not a topic whose reader checks records "
                "again (a derived topic or a dead-letter topic): run the processor again "
                "instead")
    return None


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


def _copy_of(topic: str, value: bytes | None) -> tuple[str, str]:
    """What identifies a replayed copy: the topic it is on and a digest of its value."""
    return topic, hashlib.sha256(value or b"").hexdigest()


async def replayed_letter_ids(bootstrap: str, since_ms: dict[str, int], *,
                              security: KafkaSecurity | None = None
                              ) -> dict[str, set[tuple[str, str]]]:
    """Dead-letter ids named by :data:`REPLAY_HEADER` on each topic of ``since_ms``, in
    records written at or after its timestamp (milliseconds) minus the clock margin, each
    with the copies that name it (:func:`_copy_of`). Why the copies: a unit writes its
    own ingest records' headers, and a planted mark naming other units' dead letters made
    them count as replayed (marked settled, never sent); a letter counts as replayed only
    by a copy of its own value on its own origin topic."""
    found: dict[str, set[tuple[str, str]]] = {}
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
                    marks = [value for name, value in message.headers or ()
                             if name == REPLAY_HEADER and value is not None]
                    if marks:
                        found.setdefault(marks[0].decode("utf-8", errors="replace"),
                                         set()).add(_copy_of(message.topic, message.value))
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    todo.pop(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return found


def audit_record(*, actor: str, actor_unit: str, replayed: Sequence[DeadLetterRecord],
                 targets: dict[str, int], note: str, verb: str = "replay") -> AuditRecorded:
    """The audit record of one replay or resolve (deterministic id: the same operation
    on the same dead letters is one event)."""
    now = datetime.now(UTC)
    ids = [record.letter_id for record in replayed]
    target = f"dlq {verb} → " + ", ".join(f"{t} ({n})" for t, n in sorted(targets.items()))
    body: dict[str, object] = {"actor": actor, "letters": ids, "targets": targets,
                               "verb": verb}
    natural_key = f"dlq-{verb}:{actor}:{ids[0] if ids else ''}:{len(ids)}"
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


async def _settled(bootstrap: str, records: Sequence[DeadLetterRecord],
                   security: KafkaSecurity | None) -> dict[str, str]:
    settled: dict[str, str] = {}
    for topic in sorted({record.topic for record in records}):
        settled.update(settled_letters(await read_dead_letters(
            bootstrap, topic, security=security, markers=True)))
    return settled


def _marker_headers(record: DeadLetterRecord, how: str, actor: str) -> list[tuple[str, bytes]]:
    return [(SETTLED_HEADER, record.letter_id.encode()), (SETTLED_HOW_HEADER, how.encode()),
            ("dlq.settled-by", actor.encode())]


async def replay(bootstrap: str, records: Sequence[DeadLetterRecord], *,
                 serde: AvroSerde | None, actor: str, actor_unit: str, note: str = "",
                 security: KafkaSecurity | None = None, dry_run: bool = False,
                 audit_topic: str = AUDIT_INTAKE_TOPIC) -> ReplayReport:
    """Send each replayable record of ``records`` back to its origin topic unless it is
    settled or a copy is already there; mark them settled; audit the replay (``serde``
    encodes the audit record; ``None`` only with ``dry_run``)."""
    report = ReplayReport()
    settled = await _settled(bootstrap, records, security)
    todo: list[DeadLetterRecord] = []
    for record in records:
        why = refusal(record)
        if record.letter_id in settled:
            report.already.append(record.letter_id)
        elif why is not None:
            report.refused.append((record.letter_id, why))
        else:
            todo.append(record)
    since: dict[str, int] = {}
    for record in todo:
        since[record.origin_topic] = min(since.get(record.origin_topic, record.timestamp_ms),
                                         record.timestamp_ms)
    done = await replayed_letter_ids(bootstrap, since, security=security)
    fresh: list[DeadLetterRecord] = []
    unmarked: list[DeadLetterRecord] = []
    for record in todo:
        if _copy_of(record.origin_topic, record.value) in done.get(record.letter_id, ()):
            report.already.append(record.letter_id)
            unmarked.append(record)
        else:
            fresh.append(record)
            report.targets[record.origin_topic] = report.targets.get(record.origin_topic, 0) + 1
    if dry_run:
        report.replayed = [record.letter_id for record in fresh]
        return report
    if not fresh and not unmarked:
        return report
    if serde is None:
        raise ValueError("replay needs a serde for its audit record")
    producer = make_producer(bootstrap, security=security, client_id="liangfa-dlq-replay")
    await producer.start()
    try:
        # Audited first: a replay that breaks half-way (a record too large, the broker
        # gone, Ctrl-C) has its audit record; letters whose copies an earlier, broken run
        # left on the target are audited with the ones sent now.
        targets = dict(report.targets)
        for record in unmarked:
            targets[record.origin_topic] = targets.get(record.origin_topic, 0) + 1
        event = audit_record(actor=actor, actor_unit=actor_unit, replayed=[*fresh, *unmarked],
                             targets=targets, note=note)
        serialized = await serde.serialize(event)
        await (await producer.send(audit_topic, serialized.value, key=serialized.key,
                                   headers=serialized.headers))
        report.audit_event_id = event.event_id
        futures = [await producer.send(record.origin_topic, record.value, key=record.key,
                                       headers=replay_headers(record))
                   for record in fresh]
        for record, future in zip(fresh, futures, strict=True):
            await future
            report.replayed.append(record.letter_id)
        markers = [await producer.send(record.topic, None, key=record.letter_id.encode(),
                                       headers=_marker_headers(record, "replayed", actor))
                   for record in [*fresh, *unmarked]]
        for future in markers:
            await future
    finally:
        await producer.stop()
    log.info("replayed %d dead letters to %s (%d already replayed, %d refused)",
             len(report.replayed), ", ".join(sorted(report.targets)), len(report.already),
             len(report.refused))
    return report


async def settle(bootstrap: str, records: Sequence[DeadLetterRecord], *, serde: AvroSerde,
                 actor: str, actor_unit: str, note: str, how: str = "resolved",
                 security: KafkaSecurity | None = None,
                 audit_topic: str = AUDIT_INTAKE_TOPIC) -> ReplayReport:
    """Mark dead letters settled without replaying them (``liangfa dlq resolve``):
    fixed at the source, or deliberately dropped; audited with ``note``."""
    if not note.strip():
        raise ValueError("resolving dead letters needs a note saying how they were fixed")
    report = ReplayReport()
    settled = await _settled(bootstrap, records, security)
    fresh = [record for record in records if record.letter_id not in settled]
    report.already = [record.letter_id for record in records if record.letter_id in settled]
    if not fresh:
        return report
    for record in fresh:
        report.targets[record.topic] = report.targets.get(record.topic, 0) + 1
    producer = make_producer(bootstrap, security=security, client_id="liangfa-dlq-resolve")
    await producer.start()
    try:
        for future in [await producer.send(record.topic, None, key=record.letter_id.encode(),
                                           headers=_marker_headers(record, how, actor))
                       for record in fresh]:
            await future
        report.replayed = [record.letter_id for record in fresh]
        event = audit_record(actor=actor, actor_unit=actor_unit, replayed=fresh,
                             targets=report.targets, note=note, verb=how)
        serialized = await serde.serialize(event)
        await (await producer.send(audit_topic, serialized.value, key=serialized.key,
                                   headers=serialized.headers))
        report.audit_event_id = event.event_id
    finally:
        await producer.stop()
    return report
