"""Reading dead letters: which topics, what is on them, and each record rendered safely.

A dead letter holds whatever a source or a processor could not handle: a row with a
resident ID number in it, bytes that are not text, terminal control sequences from a
hostile export. :func:`render_record` therefore never prints raw bytes: control and
format characters are escaped, the payload is truncated, and resident ID numbers are
masked (``mask_id_number`` of :mod:`streams.masking_logic`, the public feeds' masking)
unless the operator asks for them. An Avro payload (Confluent wire format) is decoded
and masked field by field with the public feeds' rules (``hub/rules/masking.yaml``).
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from hub.config import KafkaSecurity
from hub.kafka import admin_client, make_consumer

__all__ = [
    "DLQ_PREFIX",
    "REPLAY_HEADER",
    "SETTLED_HEADER",
    "SETTLED_HOW_HEADER",
    "DeadLetterRecord",
    "Selection",
    "TopicSummary",
    "dead_letter_topics",
    "mask_identifiers",
    "partitions_of",
    "read_dead_letters",
    "render_record",
    "render_text",
    "settled_letters",
    "summarize",
]

#: Every dead-letter topic starts with this (``hub/topics.yaml``).
DLQ_PREFIX = "lf.dlq."

#: Header a replayed record carries: ``<dlq topic>/<partition>/<offset>`` of the dead letter
#: it was replayed from (:mod:`hub.dlq.replay`).
REPLAY_HEADER = "dlq.replay-of"

#: Header of a settlement marker: a record the replay (or ``liangfa dlq resolve``) appends
#: to the dead-letter topic itself, naming the dead letter it settles. Markers let
#: ``list`` and the depth exporter count what is still pending by reading the dead-letter
#: topics alone; they carry no payload and are never shown or replayed as dead letters.
SETTLED_HEADER = "dlq.settled"
#: How a marker settled its dead letter: ``replayed`` or ``resolved`` (fixed at the source).
SETTLED_HOW_HEADER = "dlq.settled-how"

#: A resident ID number standing alone in text (not inside a longer code).
_RESIDENT_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")

#: Headers whose values may hold personal data from the refused record.
_FREE_TEXT_HEADERS = frozenset({"error.value", "error.reason"})

_IDLE_POLLS = 10


@dataclass(frozen=True, slots=True)
class DeadLetterRecord:
    """One record of a dead-letter topic, as bytes, with its headers."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str:
        """The first header called ``name`` as text ("" when absent)."""
        for header_name, value in self.headers:
            if header_name == name:
                return (value or b"").decode("utf-8", errors="replace")
        return ""

    @property
    def settles(self) -> str:
        """The dead letter this record is a settlement marker for ("" for a dead letter).

        A marker is what :mod:`hub.dlq.replay` writes: no value, no error headers, and it
        names a dead letter of its own topic. Anything else carrying the header (a dead
        letter whose original record had it planted, a record naming another topic's
        letters) is not one: it would hide dead letters it does not settle.
        """
        marker = self.header(SETTLED_HEADER)
        if (not marker or self.value is not None or self.header("error.type")
                or marker.rsplit("/", 2)[0] != self.topic):
            return ""
        return marker

    @property
    def error_type(self) -> str:
        return self.header("error.type") or "unknown"

    @property
    def reason(self) -> str:
        return self.header("error.reason")

    @property
    def origin_topic(self) -> str:
        """The topic a stream processor read the record from ("" for a connector's row)."""
        return self.header("source.topic")

    @property
    def source(self) -> str:
        """Where the record came from: its topic, or the connector's file (or reference)."""
        return (self.origin_topic or self.header("source.file")
                or self.header("source.reference") or self.header("connector.id"))

    @property
    def letter_id(self) -> str:
        """``topic/partition/offset``: what a replayed copy names in :data:`REPLAY_HEADER`."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def replayable(self) -> bool:
        """A processor's dead letter (original record + its topic) can go back as it is."""
        return bool(self.origin_topic) and self.value is not None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters a command applies to; every given criterion must match.

    ``source`` matches the origin topic, the connector's file name or its reference.
    Offsets are inclusive.
    """

    partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None
    error_type: str | None = None
    source: str | None = None

    def matches(self, record: DeadLetterRecord) -> bool:
        if self.partition is not None and record.partition != self.partition:
            return False
        if self.from_offset is not None and record.offset < self.from_offset:
            return False
        if self.to_offset is not None and record.offset > self.to_offset:
            return False
        if self.error_type is not None and record.error_type != self.error_type:
            return False
        return self.source is None or self.source in (
            record.origin_topic, record.header("source.file"),
            record.header("source.reference"))


@dataclass(slots=True)
class TopicSummary:
    """Counts of one dead-letter topic, for ``liangfa dlq list``."""

    topic: str
    records: int = 0
    replayable: int = 0
    settled: int = 0
    first: datetime | None = None
    last: datetime | None = None
    by_error: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)


def summarize(topic: str, records: Iterable[DeadLetterRecord],
              settled: Mapping[str, str] | None = None) -> TopicSummary:
    """Counts by error type and by source, and the time range, of the dead letters of
    ``records`` not in ``settled`` (``settled`` counts the others)."""
    summary = TopicSummary(topic)
    settled = settled or {}
    for record in records:
        if record.settles:
            continue
        if record.letter_id in settled:
            summary.settled += 1
            continue
        summary.records += 1
        summary.replayable += record.replayable
        summary.by_error[record.error_type] += 1
        summary.by_source[record.source or "?"] += 1
        when = record.time
        summary.first = when if summary.first is None else min(summary.first, when)
        summary.last = when if summary.last is None else max(summary.last, when)
    return summary


async def dead_letter_topics(bootstrap: str, *, security: KafkaSecurity | None = None,
                             prefix: str = DLQ_PREFIX) -> list[str]:
    """The dead-letter topics on the broker (``lf.dlq.streams``, ``lf.dlq.<connector>``)."""
    admin = admin_client(bootstrap, security=security)
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(name for name in names if name.startswith(prefix))


async def partitions_of(bootstrap: str, topics: list[str],
                        security: KafkaSecurity | None = None) -> list[TopicPartition]:
    """Partitions of ``topics`` from the broker; an unknown topic is a clear error."""
    admin = admin_client(bootstrap, security=security)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    found: list[TopicPartition] = []
    for entry in described:
        if entry.get("error_code"):
            raise LookupError(f"topic {entry['topic']!r} does not exist on {bootstrap} "
                              f"(error code {entry['error_code']})")
        found += [TopicPartition(entry["topic"], p["partition"])
                  for p in sorted(entry.get("partitions") or (), key=lambda p: p["partition"])]
    return found


def settled_letters(records: Iterable[DeadLetterRecord]) -> dict[str, str]:
    """Dead-letter id → how it was settled, from the markers among ``records``."""
    return {record.settles: record.header(SETTLED_HOW_HEADER) or "settled"
            for record in records if record.settles}


async def read_dead_letters(bootstrap: str, topic: str, *,
                            security: KafkaSecurity | None = None,
                            selection: Selection | None = None,
                            markers: bool = False) -> list[DeadLetterRecord]:
    """Every dead letter of ``topic`` now on the broker that ``selection`` matches, in
    partition and offset order (committed records only: an aborted dead letter was
    never one); with ``markers``, every record (selection ignored), markers included."""
    selection = Selection() if markers or selection is None else selection
    partitions = [tp for tp in await partitions_of(bootstrap, [topic], security)
                  if selection.partition is None or tp.partition == selection.partition]
    if not partitions:
        return []
    consumer = make_consumer(bootstrap, group_id=None, security=security)
    await consumer.start()
    found: list[DeadLetterRecord] = []
    try:
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        todo: dict[TopicPartition, int] = {}
        for tp in partitions:
            start = max(starts[tp], selection.from_offset or 0)
            end = ends[tp] if selection.to_offset is None else min(ends[tp],
                                                                   selection.to_offset + 1)
            if end > start:
                consumer.seek(tp, start)
                todo[tp] = end
            else:
                consumer.pause(tp)
        idle = 0
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=500, max_records=5000)
            idle = 0 if batches else idle + 1
            for tp, messages in batches.items():
                for message in messages:
                    if tp not in todo or message.offset >= todo[tp]:
                        continue
                    record = DeadLetterRecord(
                        message.topic, message.partition, message.offset, message.timestamp,
                        message.key, message.value, tuple(message.headers or ()))
                    if markers or (not record.settles and selection.matches(record)):
                        found.append(record)
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    todo.pop(tp)
                    consumer.pause(tp)
            if idle >= _IDLE_POLLS:
                break  # positions stop short of the end only at an open transaction's LSO
    finally:
        await consumer.stop()
    found.sort(key=lambda r: (r.partition, r.offset))
    return found


def mask_identifiers(text: str) -> str:
    """``text`` with every standalone resident ID number masked (division code kept)."""
    from streams.masking_logic import mask_id_number

    return _RESIDENT_ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), text)


def render_text(data: bytes | str, *, limit: int = 4000, masked: bool = True) -> str:
    """Bytes or text made safe for a terminal: invalid UTF-8, control and format
    characters (ANSI escapes, bidirectional overrides) escaped, truncated to ``limit``
    characters, resident ID numbers masked unless ``masked`` is False."""
    text = data.decode("utf-8", errors="backslashreplace") if isinstance(data, bytes) else data
    truncated = len(text) > limit
    text = text[:limit]
    out = []
    for ch in text:
        if ch in "\n\t" or not unicodedata.category(ch).startswith("C"):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    rendered = "".join(out)
    if masked:
        rendered = mask_identifiers(rendered)
    if truncated:
        rendered += f"… ({len(data):,} in all, first {limit:,} shown)"
    return rendered


def _mask_strings(value: Any) -> Any:
    if isinstance(value, str):
        return mask_identifiers(value)
    if isinstance(value, Mapping):
        return {k: _mask_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_strings(v) for v in value]
    return value


def render_record(record: DeadLetterRecord, *, decoded: tuple[str, dict[str, Any]] | None,
                  masked: bool = True, limit: int = 4000, settled: str = "") -> str:
    """The record as an operator reads it: where, when, why, headers, then the payload.

    ``decoded`` is the Avro payload decoded (by the caller, who has the registry), masked
    here with the public feeds' rules; ``None`` renders the bytes as text.
    """
    lines = [
        f"{record.letter_id}  {record.time.isoformat(timespec='seconds')}"
        + (f"  (settled: {render_text(settled)})" if settled else "  (pending)"),
        f"error:  {record.error_type}: {render_text(record.reason, masked=masked)}",
        f"source: {render_text(record.source or '?', masked=masked)}"
        + ("" if record.replayable else "  (a connector's source row: not replayable as is)"),
        "headers:",
    ]
    for name, value in record.headers:
        shown = ("(no value)" if value is None else
                 render_text(value, limit=1000, masked=masked and name in _FREE_TEXT_HEADERS))
        lines.append(f"  {render_text(name, masked=False)}: {shown}")
    if record.key is not None:
        lines.append(f"key: {render_text(record.key, limit=200, masked=masked)}")
    if record.value is None:
        lines.append("payload: (none)")
    elif decoded is not None:
        avro_name, body = decoded
        if masked:
            _mask_decoded(avro_name, body)
            body = _mask_strings(body)
        text = json.dumps(body, ensure_ascii=False, indent=2, default=str)
        lines.append(f"payload ({avro_name}, Avro decoded"
                     + (", personal data masked):" if masked else ", NOT masked):"))
        lines.append(render_text(text, limit=limit, masked=False))
    else:
        lines.append(f"payload ({len(record.value):,} bytes"
                     + (", ID numbers masked):" if masked else ", NOT masked):"))
        lines.append(render_text(record.value, limit=limit, masked=masked))
    return "\n".join(lines)


def _mask_decoded(avro_name: str, body: dict[str, Any]) -> None:
    """Mask ``body`` with the public feeds' rules (names, ID numbers, addresses…)."""
    from hub.rules.masking import load_masking
    from streams.masking_logic import PersonalDataMasker

    # A type without a public plan raises LookupError: the string pass still masks IDs.
    with contextlib.suppress(LookupError):
        PersonalDataMasker(load_masking()).mask(avro_name, body)
