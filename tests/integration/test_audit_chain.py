"""The chained audit log on the real broker and registry.

Two writers (the CLI's admin-change producer and a second, view-like producer) write to
the intake; the sealer appends to the audit topic; ``liangfa audit verify`` finds the
chain intact. Copies of the topic with one record altered, one removed, two swapped, or
a modified copy appended to the real topic are each found and named (partition, offset,
audit id), exit code 1. A sealer started again (as after a crash before it committed
its intake offsets) continues the chain and seals nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from typer.testing import CliRunner

from hub.audit.chain import ChainEntry
from hub.audit.cli import app
from hub.audit.record import admin_change_record
from hub.audit.sealer import AuditSealer
from hub.audit.verify import VerifyReport, read_entries, verify_topic
from hub.config import HubSettings
from hub.identity import case_id_for
from hub.kafka import make_consumer, make_producer
from hub.models import AuditOperation, AuditRecorded
from hub.models.examples import EXAMPLE_HUB_UNIT, EXAMPLE_PROCURATORATE
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde

pytestmark = pytest.mark.integration

PARTITIONS = 2


@dataclass(frozen=True)
class AuditTopics:
    audit: str
    intake: str
    dead_letters: str


@dataclass(frozen=True)
class Raw:
    """One record of a topic as bytes, to copy it (changed or not) elsewhere."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@pytest.fixture
def topics(topic_factory: Callable[..., str]) -> AuditTopics:
    return AuditTopics(audit=topic_factory("audit", partitions=PARTITIONS),
                       intake=topic_factory("audit-intake", partitions=PARTITIONS),
                       dead_letters=topic_factory("audit-dlq"))


@pytest.fixture
def settings(bootstrap: str, registry_url: str) -> HubSettings:
    return HubSettings(bootstrap=bootstrap, registry_url=registry_url)


def _view_record(index: int) -> AuditRecorded:
    """What the view's outbox writes: a case view by a prosecutor."""
    now = datetime.now(UTC)
    audit_id = str(uuid.uuid4())
    return AuditRecorded(
        event_id=audit_id, case_id=case_id_for(EXAMPLE_HUB_UNIT, f"audit-case-{index}"),
        source_unit=EXAMPLE_PROCURATORATE, occurred_at=now, recorded_at=now,
        source_system="liangfa-view", source_record=f"audit:{audit_id}", connector_id="view",
        actor=f"prosecutor.{index}", actor_unit_code=EXAMPLE_PROCURATORATE,
        operation=AuditOperation.VIEW, target=f"case-{index}", client_address="127.0.0.1")


def _admin_record(index: int) -> AuditRecorded:
    """What ``liangfa acl apply`` writes."""
    return admin_change_record(unit_code=EXAMPLE_PROCURATORATE, command="acl apply",
                               target=f"binding {index}", detail="created 1", count=1,
                               actor=f"os:operator{index}@host")


async def _produce(settings: HubSettings, topic: str, records: list[AuditRecorded],
                   client_id: str, partition: int | None = None) -> None:
    """One writer: its own idempotent producer (to ``partition``, else by key)."""
    async with SchemaRegistryClient(settings.registry_url) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(settings.bootstrap, client_id=client_id)
        await producer.start()
        try:
            for record in records:
                serialized = await serde.serialize(record)
                await producer.send(topic, value=serialized.value, key=serialized.key,
                                    headers=serialized.headers, partition=partition)
            await producer.flush()
        finally:
            await producer.stop()


async def _seal_until(sealer: AuditSealer, sealed: int, dead_lettered: int = 0) -> None:
    """Run the sealer until it sealed ``sealed`` records in this run, then stop it."""
    task = asyncio.create_task(sealer.run())
    try:
        async with asyncio.timeout(120):
            while (sealer.counts.sealed < sealed
                   or sealer.counts.dead_lettered < dead_lettered):
                if task.done():
                    task.result()
                await asyncio.sleep(0.2)
    finally:
        sealer.stopping.set()
        await task


async def _read_raw(bootstrap: str, topic: str, partitions_count: int = PARTITIONS
                    ) -> list[Raw]:
    consumer = make_consumer(bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(partitions_count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[Raw] = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                out += [Raw(tp.partition, m.offset, m.key, m.value, list(m.headers))
                        for m in messages if m.offset < ends[tp]]
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def _copy(bootstrap: str, topic: str, records: list[Raw]) -> None:
    """Write records to ``topic`` in list order, each to its own partition."""
    producer = make_producer(bootstrap, client_id="audit-tamper")
    await producer.start()
    try:
        for raw in records:
            await producer.send_and_wait(topic, value=raw.value, key=raw.key,
                                         headers=raw.headers, partition=raw.partition)
    finally:
        await producer.stop()


async def _altered(registry_url: str, raw: Raw) -> Raw:
    """The same record with its actor changed, chain fields kept (a quiet edit)."""
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        record = await serde.decode(raw.value or b"")
        assert isinstance(record, AuditRecorded) and record.chain_hash
        changed = record.model_copy(update={"actor": "someone.else"})
        return Raw(raw.partition, raw.offset, raw.key, await serde.encode(changed),
                   raw.headers)


async def _verify_cli(bootstrap: str, registry_url: str, topic: str) -> tuple[int, str]:
    """``liangfa audit verify`` (its own event loop, so in a thread)."""

    def invoke() -> tuple[int, str]:
        result = CliRunner().invoke(app, ["verify", "--bootstrap", bootstrap,
                                          "--registry-url", registry_url, "--topic", topic])
        return result.exit_code, result.output

    return await asyncio.to_thread(invoke)


def _names(report: VerifyReport) -> list[tuple[str, int, int, str]]:
    return [(f.kind, f.partition, f.offset, f.audit_id) for f in report.findings]


async def test_two_writers_chain_verifies_and_every_tampering_is_named(
    settings: HubSettings, topics: AuditTopics, group_id: str,
    topic_factory: Callable[..., str],
) -> None:
    view_records = [_view_record(i) for i in range(8)]
    admin_records = [_admin_record(i) for i in range(8)]
    await asyncio.gather(
        _produce(settings, topics.intake, view_records, "audit-writer-view"),
        _produce(settings, topics.intake, admin_records, "audit-writer-cli"))
    sealer = AuditSealer(settings, intake=topics.intake, audit=topics.audit,
                         dead_letters=topics.dead_letters, group_id=group_id)
    await _seal_until(sealer, 16)

    report = await verify_topic(settings.bootstrap, settings.registry_url, topics.audit)
    assert report.ok, [str(f) for f in report.findings]
    assert sum(s.sealed for s in report.partitions.values()) == 16
    assert all(s.sealed >= 2 for s in report.partitions.values())  # both partitions chained
    code, output = await _verify_cli(settings.bootstrap, settings.registry_url, topics.audit)
    assert code == 0 and "chain intact" in output

    raw = await _read_raw(settings.bootstrap, topics.audit)
    partition = max(range(PARTITIONS), key=lambda p: sum(r.partition == p for r in raw))
    chain = [r for r in raw if r.partition == partition]
    others = [r for r in raw if r.partition != partition]
    entries = await read_entries(settings.bootstrap, settings.registry_url, topics.audit)
    ids = [e.audit_id for e in entries[partition]]

    async def tampered(records: list[Raw]) -> tuple[VerifyReport, str]:
        copy = topic_factory("audit-copy", partitions=PARTITIONS)
        await _copy(settings.bootstrap, copy, [*others, *records])
        return (await verify_topic(settings.bootstrap, settings.registry_url, copy), copy)

    # One record altered: named at its own offset.
    altered = [*chain[:1], await _altered(settings.registry_url, chain[1]), *chain[2:]]
    report, copy = await tampered(altered)
    assert _names(report) == [("altered", partition, 1, ids[1])]
    code, output = await _verify_cli(settings.bootstrap, settings.registry_url, copy)
    assert code == 1
    assert f"ALTERED: partition {partition} offset 1 audit id {ids[1]}" in output

    # One record removed: named by the gap, at the record after it.
    report, _ = await tampered([*chain[:1], *chain[2:]])
    assert _names(report) == [("removed", partition, 1, ids[2])]
    assert "sequence(s) 1 missing" in report.findings[0].detail

    # Two records swapped: both named.
    report, _ = await tampered([chain[0], chain[2], chain[1], *chain[3:]])
    assert _names(report) == [("reordered", partition, 1, ids[2]),
                              ("reordered", partition, 2, ids[1])]

    # A modified copy re-produced onto the real topic: named as altered and inserted.
    await _copy(settings.bootstrap, topics.audit,
                [await _altered(settings.registry_url, chain[0])])
    report = await verify_topic(settings.bootstrap, settings.registry_url, topics.audit)
    appended = len(chain)
    assert _names(report) == [("altered", partition, appended, ids[0]),
                              ("inserted", partition, appended, ids[0])]
    code, output = await _verify_cli(settings.bootstrap, settings.registry_url, topics.audit)
    assert code == 1 and f"INSERTED: partition {partition} offset {appended}" in output

    # The sealer, started again after that replayed copy, continues from the true head
    # (the highest sequence), so the chain after it holds: still only those two findings.
    more = [_view_record(100 + i) for i in range(3)]
    await _produce(settings, topics.intake, more, "audit-writer-view", partition=partition)
    await _seal_until(AuditSealer(settings, intake=topics.intake, audit=topics.audit,
                                  dead_letters=topics.dead_letters, group_id=group_id), 3)
    report = await verify_topic(settings.bootstrap, settings.registry_url, topics.audit)
    assert _names(report) == [("altered", partition, appended, ids[0]),
                              ("inserted", partition, appended, ids[0])]
    assert report.partitions[partition].head_sequence == len(chain) + 2


async def test_a_restarted_sealer_continues_the_chain_and_seals_nothing_twice(
    settings: HubSettings, topics: AuditTopics, group_id: str,
) -> None:
    first = [_view_record(i) for i in range(6)]
    await _produce(settings, topics.intake, first, "audit-writer-view")
    await _seal_until(AuditSealer(settings, intake=topics.intake, audit=topics.audit,
                                  dead_letters=topics.dead_letters, group_id=group_id), 6)
    before = (await verify_topic(settings.bootstrap, settings.registry_url,
                                 topics.audit)).partitions
    heads = {p: (s.head_sequence, s.head_hash) for p, s in before.items()}

    # A writer retries two records it already wrote (same audit ids), writes new ones,
    # and something that is not an audit record lands on the intake.
    second = [_view_record(10 + i) for i in range(4)]
    await _produce(settings, topics.intake, [first[0], first[3], *second], "audit-writer-2")
    producer = make_producer(settings.bootstrap, client_id="audit-garbage")
    await producer.start()
    try:
        await producer.send_and_wait(topics.intake, value=b"not avro", key=b"x")
    finally:
        await producer.stop()
    # A new group has no committed offsets: the sealer re-reads the whole intake, as
    # after a crash between appending to the chain and committing.
    restarted = AuditSealer(settings, intake=topics.intake, audit=topics.audit,
                            dead_letters=topics.dead_letters, group_id=f"{group_id}-again")
    await _seal_until(restarted, 4, dead_lettered=1)
    assert restarted.counts.sealed == 4
    assert restarted.counts.duplicates == 6 + 2

    entries = await read_entries(settings.bootstrap, settings.registry_url, topics.audit)
    report = await verify_topic(settings.bootstrap, settings.registry_url, topics.audit)
    assert report.ok, [str(f) for f in report.findings]
    sealed: list[ChainEntry] = [e for p in entries.values() for e in p]
    ids = [e.audit_id for e in sealed]
    assert len(ids) == len(set(ids)) == 10
    assert set(ids) == {r.event_id for r in [*first, *second]}
    for partition, (sequence, head_hash) in heads.items():
        # The chain went on from the old head: same record at the same sequence, and
        # every new record after it.
        assert sequence is not None and head_hash is not None
        assert report.partitions[partition].hashes[sequence] == head_hash
    new_ids = {e.audit_id for p in entries.values() for e in p
               if e.record is not None and (e.record.chain_sequence or 0)
               > (heads[e.partition][0] or 0)}
    assert new_ids == {r.event_id for r in second}
    dead = await _read_raw(settings.bootstrap, topics.dead_letters, 1)
    assert [r.value for r in dead] == [b"not avro"]
    assert dict(dead[0].headers)["error.type"] in {b"bad-magic", b"truncated"}


async def test_topics_apply_leaves_an_admin_change_record_naming_what_it_created(
    settings: HubSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hub.audit.chain import INTAKE_TOPIC
    from hub.cli import app as liangfa

    created = f"audit-admin.{uuid.uuid4().hex[:8]}"
    manifest = tmp_path / "topics.yaml"
    manifest.write_text(f"topics:\n  - name: {INTAKE_TOPIC}\n    partitions: {PARTITIONS}\n"
                        f"  - name: {created}\n    partitions: 1\n", encoding="utf-8")
    monkeypatch.setenv("LIANGFA_REGISTRY_URL", settings.registry_url)

    def invoke() -> tuple[int, str]:
        result = CliRunner().invoke(liangfa, ["topics", "apply", "--bootstrap",
                                              settings.bootstrap, "--manifest", str(manifest)])
        return result.exit_code, result.output

    code, output = await asyncio.to_thread(invoke)
    assert code == 0, output
    entries = await read_entries(settings.bootstrap, settings.registry_url, INTAKE_TOPIC)
    records = [e.record for p in entries.values() for e in p if e.record is not None]
    [record] = [r for r in records if created in (r.query or "")]
    assert record.operation is AuditOperation.ADMIN_CHANGE
    assert record.target.startswith("topics apply: 2 topics of ")
    names = (record.query or "").split("; created: ")[1].split(", ")
    assert created in names and record.result_count == len(names)
    assert record.actor.startswith("os:")
    assert record.chain_hash is None  # the sealer, not the writer, chains it
