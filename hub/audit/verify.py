"""Read an audit topic back from the broker and check every partition's chain.

The read takes each partition's end offset when it starts and reads up to it, so a
verify of a live topic checks a consistent prefix; records sealed meanwhile are left for
the next run. Transaction markers and aborted records are skipped by the consumer
(read_committed), so offsets may jump: the chain, not the offsets, is what is checked.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from hub.audit.chain import (
    Anchor,
    ChainEntry,
    Finding,
    PartitionSummary,
    check_anchors,
    check_partition,
)
from hub.config import KafkaSecurity, RegistryAuth
from hub.errors import ConfigError, RecordRejected
from hub.kafka import make_consumer
from hub.models import AuditRecorded
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde

__all__ = ["VerifyReport", "load_anchors", "read_entries", "verify_topic", "write_anchors"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class VerifyReport:
    """Every partition's summary and every finding, in partition and offset order."""

    topic: str
    partitions: dict[int, PartitionSummary] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No finding at all."""
        return not self.findings

    def anchors(self) -> list[Anchor]:
        """Each partition's head, to write down elsewhere (``--write-anchors``)."""
        return [Anchor(p, s.head_sequence, s.head_hash)
                for p, s in sorted(self.partitions.items())
                if s.head_sequence is not None and s.head_hash is not None]


async def read_entries(bootstrap: str, registry_url: str, topic: str, *,
                       security: KafkaSecurity | None = None,
                       registry_auth: RegistryAuth | None = None,
                       ) -> dict[int, list[ChainEntry]]:
    """Every record of ``topic`` up to its current end, decoded, per partition."""
    from hub.dlq.records import partitions_of

    try:
        assigned = await partitions_of(bootstrap, [topic], security)
    except LookupError as exc:
        raise ConfigError(str(exc), ["check --topic and --bootstrap"]) from exc
    consumer = make_consumer(bootstrap, group_id=None, security=security,
                             enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        entries: dict[int, list[ChainEntry]] = {tp.partition: [] for tp in assigned}
        pending = {tp for tp in assigned if ends[tp] > 0}
        async with SchemaRegistryClient(registry_url, auth=registry_auth) as registry:
            serde = AvroSerde(registry, register=False)
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500)
                for tp, messages in batch.items():
                    for message in messages:
                        if message.offset >= ends[tp]:
                            break
                        entries[tp.partition].append(
                            await _entry(serde, tp.partition, message.offset, message.value))
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
        return entries
    finally:
        await consumer.stop()


async def _entry(serde: AvroSerde, partition: int, offset: int,
                 value: bytes | None) -> ChainEntry:
    if value is None:
        return ChainEntry(partition, offset, None, "empty value (tombstone)")
    try:
        event = await serde.decode(value)
    except RecordRejected as exc:
        return ChainEntry(partition, offset, None, str(exc))
    if not isinstance(event, AuditRecorded):
        return ChainEntry(partition, offset, None, f"a {type(event).__name__}, not an "
                          "AuditRecorded")
    return ChainEntry(partition, offset, event)


def check_entries(topic: str, entries: dict[int, list[ChainEntry]],
                  anchors: list[Anchor] | None = None) -> VerifyReport:
    """Check every partition's chain (and the anchors, when given)."""
    report = VerifyReport(topic)
    for partition in sorted(entries):
        summary, findings = check_partition(partition, entries[partition])
        report.partitions[partition] = summary
        report.findings += findings
    if anchors:
        report.findings += check_anchors(report.partitions, anchors)
    return report


async def verify_topic(bootstrap: str, registry_url: str, topic: str, *,
                       security: KafkaSecurity | None = None,
                       registry_auth: RegistryAuth | None = None,
                       anchors: list[Anchor] | None = None) -> VerifyReport:
    """Read ``topic`` and check it: the work of ``liangfa audit verify``."""
    entries = await read_entries(bootstrap, registry_url, topic, security=security,
                                 registry_auth=registry_auth)
    return check_entries(topic, entries, anchors)


def load_anchors(path: Path) -> list[Anchor]:
    """Anchors written by :func:`write_anchors`; a broken file is a ConfigError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Anchor(int(item["partition"]), int(item["sequence"]), str(item["hash"]))
                for item in data["anchors"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read audit anchors from {path}: {exc}",
                          ["write them with `liangfa audit verify --write-anchors FILE`"]
                          ) from exc


def write_anchors(path: Path, report: VerifyReport) -> None:
    """Write each partition's head (keep the file off this host: it is the evidence)."""
    data = {"topic": report.topic,
            "anchors": [{"partition": a.partition, "sequence": a.sequence, "hash": a.hash}
                        for a in report.anchors()]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
