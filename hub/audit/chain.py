"""The hash chain of ``lf.audit``: canonical encoding, sealing, and checking a partition.

Each sealed record carries ``chain_sequence`` (0, 1, 2, … per partition),
``chain_previous_hash`` (the ``chain_hash`` of the record before it in the same
partition; :data:`GENESIS_HASH` for the first) and ``chain_hash``: SHA-256 over the
record's canonical encoding, which covers every other field, the two chain fields above
and the partition. Changing any field breaks the record's own hash; recomputing that hash
breaks the next record's ``chain_previous_hash``; removing, inserting or moving a record
breaks the sequence. So an attacker must rewrite every later record of the partition,
which :func:`check_partition` cannot see only if nothing of the old head was kept
elsewhere: ``liangfa audit verify --write-anchors`` keeps it (docs/security.md).

The canonical encoding is JSON with sorted keys and no spaces, UTF-8, timestamps as
microseconds since the epoch (what Avro's ``timestamp-micros`` stores, so a decoded record
encodes to the same bytes), enums as their symbol, and empty (``None``) fields left out:
a later schema version may add optional fields (default ``null``) and every record sealed
before keeps its hash. It does not depend on the Avro schema id, so a copy of the topic
made with another registry verifies the same.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, Literal

from hub.models import AuditRecorded

__all__ = [
    "AUDIT_TOPIC",
    "GENESIS_HASH",
    "INTAKE_TOPIC",
    "Anchor",
    "ChainEntry",
    "Finding",
    "FindingKind",
    "PartitionSummary",
    "canonical_bytes",
    "check_anchors",
    "check_partition",
    "intake_topic_for",
    "record_hash",
    "seal",
]

#: The sealed, chained audit log (one writer per partition: the sealer).
AUDIT_TOPIC = "lf.audit"
#: Where every other writer produces its audit records, unchained.
INTAKE_TOPIC = "lf.audit-intake"
#: ``chain_previous_hash`` of a partition's first record.
GENESIS_HASH = "0" * 64

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHAIN_FIELDS = ("chain_sequence", "chain_previous_hash", "chain_hash")


def intake_topic_for(audit_topic: str) -> str:
    """The intake topic next to an audit topic (``<prefix>lf.audit`` → ``…-intake``).

    Test and parallel deployments prefix every topic name; the intake keeps the prefix.
    """
    return f"{audit_topic}-intake"


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        delta = moment - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    return value


def canonical_bytes(record: AuditRecorded, partition: int) -> bytes:
    """The bytes ``chain_hash`` is computed over (everything but ``chain_hash`` itself)."""
    data = {name: _canonical_value(value)
            for name, value in record.model_dump(mode="python", exclude={"chain_hash"}).items()
            if value is not None}
    data["partition"] = partition
    return json.dumps(data, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def record_hash(record: AuditRecorded, partition: int) -> str:
    """SHA-256 (hex) of the record's canonical encoding in ``partition``."""
    return hashlib.sha256(canonical_bytes(record, partition)).hexdigest()


def seal(record: AuditRecorded, partition: int, sequence: int,
         previous_hash: str) -> AuditRecorded:
    """The record with its place in the chain: sequence, previous hash and own hash.

    Chain fields a writer may have set are replaced: only the sealer decides them.
    """
    placed = record.model_copy(update={"chain_sequence": sequence,
                                       "chain_previous_hash": previous_hash,
                                       "chain_hash": None})
    return placed.model_copy(update={"chain_hash": record_hash(placed, partition)})


def unsealed(record: AuditRecorded) -> AuditRecorded:
    """The record without chain fields (as a writer produced it)."""
    return record.model_copy(update=dict.fromkeys(_CHAIN_FIELDS))


# --------------------------------------------------------------------------- checking

FindingKind = Literal["altered", "removed", "inserted", "reordered"]


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One record of the topic as read: where it is, and what it decoded to."""

    partition: int
    offset: int
    record: AuditRecorded | None
    #: Why ``record`` is None (not decodable, not an AuditRecorded).
    error: str | None = None

    @property
    def audit_id(self) -> str:
        """The record's ``event_id`` (the audit id writers and the sealer dedup by)."""
        return self.record.event_id if self.record is not None else "?"


@dataclass(frozen=True, slots=True)
class Finding:
    """One record that is not where, or not what, the chain says; named for a person."""

    kind: FindingKind
    partition: int
    offset: int
    audit_id: str
    detail: str

    def __str__(self) -> str:
        offset = str(self.offset) if self.offset >= 0 else "?"
        return (f"{self.kind.upper()}: partition {self.partition} offset {offset} "
                f"audit id {self.audit_id}: {self.detail}")


@dataclass(frozen=True, slots=True)
class Anchor:
    """A chain head written down elsewhere: sequence ``sequence`` of ``partition`` had
    ``chain_hash`` ``hash``. A later verify proves the chain still holds it."""

    partition: int
    sequence: int
    hash: str


@dataclass(slots=True)
class PartitionSummary:
    """What one partition holds: record counts and the chain's head."""

    partition: int
    records: int = 0
    sealed: int = 0
    #: Records before the first sealed one: written before the chain existed, not covered.
    legacy: int = 0
    head_sequence: int | None = None
    head_hash: str | None = None
    head_offset: int | None = None
    #: Every sealed sequence's hash, for anchors.
    hashes: dict[int, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Link:
    sequence: int
    hash: str
    entry: ChainEntry


def _absent_ranges(start: int, stop: int, present: Sequence[int]) -> str:
    """The numbers of ``range(start, stop)`` not in the sorted ``present``, as
    :func:`_ranges` writes them, without listing them: a forged sequence of 2**62 must not
    make verify count to it. "" when none is absent."""
    out: list[str] = []
    expected = start
    for number in _between(present, start, stop):
        if number > expected:
            out.append(str(expected) if number - 1 == expected else f"{expected}-{number - 1}")
        expected = number + 1
    if expected < stop:
        out.append(str(expected) if stop - 1 == expected else f"{expected}-{stop - 1}")
    return ", ".join(out)


def _between(ordered: Sequence[int], start: int, stop: int) -> Sequence[int]:
    """The numbers of the sorted ``ordered`` in ``[start, stop)`` (a slice: no scan)."""
    return ordered[bisect.bisect_left(ordered, start):bisect.bisect_left(ordered, stop)]


def _ranges(numbers: Iterable[int]) -> str:
    """``[3, 4, 5, 9]`` → ``"3-5, 9"``."""
    out: list[str] = []
    ordered = sorted(numbers)
    start = previous = ordered[0]
    for number in ordered[1:]:
        if number != previous + 1:
            out.append(str(start) if start == previous else f"{start}-{previous}")
            start = number
        previous = number
    out.append(str(start) if start == previous else f"{start}-{previous}")
    return ", ".join(out)


def check_partition(partition: int, entries: Sequence[ChainEntry]
                    ) -> tuple[PartitionSummary, list[Finding]]:
    """Walk one partition in offset order; every break of the chain is a finding.

    - **altered**: a record's content no longer gives its ``chain_hash``, or a record's
      ``chain_previous_hash`` differs from the hash of the record before it (that record
      was replaced by one with a recomputed hash), or it is not readable at all;
    - **removed**: sequences missing that appear nowhere in the partition;
    - **inserted**: a record without chain fields after the chain began, or a second
      record with a sequence already seen;
    - **reordered**: a sequence ahead of one that comes later, or behind one already seen.

    Records before the first sealed one are legacy (written before chaining) and counted.
    """
    summary = PartitionSummary(partition)
    findings: list[Finding] = []

    def found(kind: FindingKind, entry: ChainEntry, detail: str) -> None:
        findings.append(Finding(kind, partition, entry.offset, entry.audit_id, detail))

    everywhere = {e.record.chain_sequence for e in entries
                  if e.record is not None and e.record.chain_sequence is not None}
    ordered = sorted(everywhere)
    seen: dict[int, int] = {}
    last: _Link | None = None
    for entry in entries:
        summary.records += 1
        record = entry.record
        if record is None:
            if last is None:
                summary.legacy += 1
            else:
                found("altered", entry, f"not a readable audit record ({entry.error})")
            continue
        sequence, previous, stored = (record.chain_sequence, record.chain_previous_hash,
                                      record.chain_hash)
        if sequence is None or previous is None or stored is None:
            if last is None and not seen:
                summary.legacy += 1
            else:
                found("inserted", entry, "no chain fields: not appended by the audit sealer")
            continue
        summary.sealed += 1
        summary.hashes.setdefault(sequence, stored)
        if record_hash(record, partition) != stored:
            found("altered", entry, f"sequence {sequence}: its content does not match its "
                  "chain_hash (changed after sealing)")
        if sequence in seen:
            found("inserted", entry, f"a second record with sequence {sequence} (the first "
                  f"at offset {seen[sequence]})")
            continue
        seen[sequence] = entry.offset
        if last is None:
            if sequence != 0 or previous != GENESIS_HASH:
                missing = _absent_ranges(0, sequence, ordered)
                if missing:
                    found("removed", entry, f"the chain starts at sequence {sequence}: "
                          f"sequence(s) {missing} missing before it")
            last = _Link(sequence, stored, entry)
            continue
        expected = last.sequence + 1
        if sequence < expected:
            found("reordered", entry, f"sequence {sequence} comes after sequence "
                  f"{last.sequence} (offset {last.entry.offset})")
            continue
        if sequence > expected:
            later = list(_between(ordered, expected, sequence))
            absent = _absent_ranges(expected, sequence, later)
            if later:
                found("reordered", entry, f"sequence {sequence} comes before sequence(s) "
                      f"{_ranges(later)}, which follow later in the partition")
            if absent:
                found("removed", entry, f"sequence(s) {absent} missing between "
                      f"sequence {last.sequence} (offset {last.entry.offset}) and this "
                      f"record (sequence {sequence})")
        elif previous != last.hash:
            findings.append(Finding(
                "altered", partition, last.entry.offset, last.entry.audit_id,
                f"sequence {last.sequence}: its chain_hash is not the one sequence "
                f"{sequence} (offset {entry.offset}) was chained to: the record was "
                "rewritten or replaced"))
        last = _Link(sequence, stored, entry)
    if last is not None:
        summary.head_sequence, summary.head_hash = last.sequence, last.hash
        summary.head_offset = last.entry.offset
    return summary, findings


def check_anchors(summaries: dict[int, PartitionSummary],
                  anchors: Iterable[Anchor]) -> list[Finding]:
    """Anchored heads the chain no longer holds: the tail was cut or the chain rewritten."""
    findings: list[Finding] = []
    for anchor in anchors:
        summary = summaries.get(anchor.partition)
        kept = summary.hashes.get(anchor.sequence) if summary is not None else None
        if kept == anchor.hash:
            continue
        if kept is None:
            head = summary.head_sequence if summary is not None else None
            findings.append(Finding(
                "removed", anchor.partition, -1, "?",
                f"anchored sequence {anchor.sequence} (hash {anchor.hash[:16]}…) is gone; "
                f"the chain now ends at sequence {head}"))
        else:
            findings.append(Finding(
                "altered", anchor.partition, -1, "?",
                f"sequence {anchor.sequence} has hash {kept[:16]}…, the anchor says "
                f"{anchor.hash[:16]}…: the chain was rewritten"))
    return findings
