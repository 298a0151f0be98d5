"""``liangfa dlq list | show | replay`` against the real broker and registry.

Dead letters are written exactly as the engine writes them (``streams.safety``'s headers
on the original record) and as a connector writes them (its raw row and ``error.*``
headers), on fresh ``lf.dlq.*`` test topics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from hub.cli.dlq import app
from hub.dlq.exporter import DlqExporter
from hub.dlq.records import REPLAY_HEADER, DeadLetterRecord, Selection, read_dead_letters
from hub.dlq.replay import replay, replay_headers
from hub.kafka import make_producer
from hub.models import AuditOperation, AuditRecorded, CaseEvent
from hub.models.examples import EXAMPLE_PROCURATORATE, example_events
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from streams.safety import RawRecord, dead_letter_headers

pytestmark = pytest.mark.integration

PERSON_ID = "421181198001011238"  # the examples' fictional legal representative
OPERATOR_UNIT = EXAMPLE_PROCURATORATE


def _penalty() -> CaseEvent:
    return next(e for name, e in example_events().items() if name.endswith("PenaltyCaseRecorded"))


async def _write_streams_dead_letters(bootstrap: str, registry_url: str, origin: str,
                                      dlq: str, count: int) -> list[str]:
    """``count`` penalty events dead-lettered as the engine does: 'not-entitled' for the
    first ones, 'bad-magic' for the last; returns their event ids."""
    event = _penalty()
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(bootstrap, client_id="dlq-tests")
        await producer.start()
        ids = []
        try:
            for index in range(count):
                copy = event.model_copy(update={"event_id": f"{event.event_id[:-4]}{index:04d}"})
                serialized = await serde.serialize(copy)
                error = "bad-magic" if index == count - 1 else "not-entitled"
                raw = RawRecord(origin, 0, 100 + index, serialized.key, serialized.value,
                                tuple(serialized.headers))
                headers = dead_letter_headers(raw, processor="entitlement", error_type=error,
                                              reason=f"unit may not add this (#{index})")
                await producer.send_and_wait(dlq, serialized.value, key=serialized.key,
                                             headers=headers)
                ids.append(copy.event_id)
        finally:
            await producer.stop()
    return ids


async def _write_connector_dead_letter(bootstrap: str, dlq: str) -> None:
    row = f"示例罚〔2025〕9号,张示例,{PERSON_ID},\x1b[31mred\x1b[0m\r\n".encode()
    headers = [("dlq.id", b"x1"), ("error.type", b"validation"),
               ("error.reason", f"id_number {PERSON_ID} does not match the party".encode()),
               ("error.field", b"id_number"), ("error.value", PERSON_ID.encode()),
               ("source.reference", b"export.csv#row 7"), ("connector.id", b"demo-csv"),
               ("unit", OPERATOR_UNIT.encode()), ("source.file", b"export.csv"),
               ("source.row", b"7")]
    producer = make_producer(bootstrap, client_id="dlq-tests")
    await producer.start()
    try:
        await producer.send_and_wait(dlq, row, key=None, headers=headers)
    finally:
        await producer.stop()


async def _read_all(bootstrap: str, topic: str) -> list[DeadLetterRecord]:
    """Every record now on ``topic`` (the DLQ reader reads any topic)."""
    return await read_dead_letters(bootstrap, topic)


def _cli(bootstrap: str, registry_url: str, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={
        "LIANGFA_BOOTSTRAP": bootstrap, "LIANGFA_REGISTRY_URL": registry_url})


async def test_list_counts_by_reason_and_show_masks_id_numbers(
        bootstrap: str, registry_url: str, topic_factory: Callable[..., str]) -> None:
    origin = topic_factory("lf.ingest.t")
    streams_dlq = topic_factory("lf.dlq.t")
    connector_dlq = topic_factory("lf.dlq.c")
    await _write_streams_dead_letters(bootstrap, registry_url, origin, streams_dlq, 3)
    await _write_connector_dead_letter(bootstrap, connector_dlq)

    listed = await asyncio.to_thread(_cli, bootstrap, registry_url, "list", streams_dlq)
    assert listed.exit_code == 0, listed.output
    assert f"{streams_dlq}: 3 pending (3 replayable, 0 settled)" in listed.output
    assert "reason not-entitled: 2" in listed.output
    assert "reason bad-magic: 1" in listed.output
    assert f"source {origin}: 3" in listed.output

    shown = await asyncio.to_thread(_cli, bootstrap, registry_url, "show", streams_dlq,
                                    "--offset", "0")
    assert shown.exit_code == 0, shown.output
    assert "PenaltyCaseRecorded, Avro decoded, personal data masked" in shown.output
    assert PERSON_ID not in shown.output
    assert "421181************" in shown.output
    assert "not-entitled: unit may not add this (#0)" in shown.output

    raw = await asyncio.to_thread(_cli, bootstrap, registry_url, "show", connector_dlq)
    assert raw.exit_code == 0, raw.output
    assert PERSON_ID not in raw.output  # payload, error.value and error.reason masked
    assert "\x1b" not in raw.output and "\\x1b[31m" in raw.output
    assert "not replayable as is" in raw.output

    unmasked = await asyncio.to_thread(_cli, bootstrap, registry_url, "show", connector_dlq,
                                       "--unmasked")
    assert PERSON_ID in unmasked.output

    by_reason = await asyncio.to_thread(_cli, bootstrap, registry_url, "show", streams_dlq,
                                        "--reason", "bad-magic")
    assert by_reason.output.count(f"{streams_dlq}/0/") == 1
    assert f"{streams_dlq}/0/2 " in by_reason.output


async def test_replay_sends_back_once_and_audits(
        bootstrap: str, registry_url: str, topic_factory: Callable[..., str]) -> None:
    origin = topic_factory("lf.ingest.t")
    dlq = topic_factory("lf.dlq.t")
    audit = topic_factory("t.audit")
    ids = await _write_streams_dead_letters(bootstrap, registry_url, origin, dlq, 4)

    dry = await asyncio.to_thread(_cli, bootstrap, registry_url, "replay", dlq,
                                  "--reason", "not-entitled", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would replay 3, already replayed 0, refused 0 (of 3 selected)" in dry.output
    assert await _read_all(bootstrap, origin) == []

    selected = await read_dead_letters(bootstrap, dlq, selection=Selection(from_offset=1,
                                                                           to_offset=2))
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        first = await replay(bootstrap, selected, serde=serde, actor="ops-zhang",
                             actor_unit=OPERATOR_UNIT, note="unit registry fixed",
                             audit_topic=audit)
        everything = await read_dead_letters(bootstrap, dlq)
        second = await replay(bootstrap, everything, serde=serde, actor="ops-zhang",
                              actor_unit=OPERATOR_UNIT, audit_topic=audit)
        third = await replay(bootstrap, everything, serde=serde, actor="ops-zhang",
                             actor_unit=OPERATOR_UNIT, audit_topic=audit)

        assert first.replayed == [f"{dlq}/0/1", f"{dlq}/0/2"]
        assert sorted(second.already) == [f"{dlq}/0/1", f"{dlq}/0/2"]
        assert second.replayed == [f"{dlq}/0/0", f"{dlq}/0/3"]
        assert third.replayed == [] and len(third.already) == 4

        copies = await _read_all(bootstrap, origin)
        assert len(copies) == 4  # each dead letter once, though replayed three times
        marks = sorted(dict(m.headers)[REPLAY_HEADER].decode() for m in copies)
        assert marks == [f"{dlq}/0/{n}" for n in range(4)]
        for message in copies:
            names = [name for name, _ in message.headers]
            assert "error.type" not in names and "source.offset" not in names
        event_ids = sorted(dict(m.headers)["ce_id"].decode() for m in copies)
        assert event_ids == sorted(ids)
        decoded = [await serde.decode(m.value) for m in copies]
        assert sorted(e.event_id for e in decoded) == sorted(ids)

        audits = [await serde.decode(m.value) for m in await _read_all(bootstrap, audit)
                  if m.value is not None]
        # A replay that crashed between the copy and the marker: the next replay finds
        # the copy on the target, writes the marker, and sends nothing again.
        await _write_streams_dead_letters(bootstrap, registry_url, origin, dlq, 1)
        crashed = (await read_dead_letters(bootstrap, dlq, selection=Selection(from_offset=4)))
        assert len(crashed) == 1  # the markers after offset 3 are not dead letters
        producer = make_producer(bootstrap, client_id="dlq-tests")
        await producer.start()
        try:
            await producer.send_and_wait(origin, crashed[0].value, key=crashed[0].key,
                                         headers=replay_headers(crashed[0]))
        finally:
            await producer.stop()
        found_on_target = await replay(bootstrap, crashed, serde=serde, actor="ops-zhang",
                                       actor_unit=OPERATOR_UNIT, audit_topic=audit)
        assert found_on_target.replayed == [] and found_on_target.already == [crashed[0].letter_id]
        assert len(await _read_all(bootstrap, origin)) == 5

    listed = await asyncio.to_thread(_cli, bootstrap, registry_url, "list", dlq)
    assert f"{dlq}: nothing pending (5 settled)" in listed.output, listed.output
    shown = await asyncio.to_thread(_cli, bootstrap, registry_url, "show", dlq)
    assert shown.output.count("(settled: replayed)") == 5  # markers are not shown themselves
    assert "(pending)" not in shown.output
    assert len(audits) == 2  # the third replay did nothing, so audited nothing
    assert all(isinstance(a, AuditRecorded) for a in audits)
    record = audits[0]
    assert isinstance(record, AuditRecorded)
    assert record.operation is AuditOperation.ADMIN_CHANGE
    assert record.actor == "ops-zhang" and record.actor_unit_code == OPERATOR_UNIT
    assert record.result_count == 2 and origin in record.target
    assert record.query is not None and "unit registry fixed" in record.query
    assert f"{dlq}/0/1" in record.query


async def test_replay_refuses_connector_rows_and_unselected_topics(
        bootstrap: str, registry_url: str, topic_factory: Callable[..., str]) -> None:
    dlq = topic_factory("lf.dlq.c")
    audit = topic_factory("t.audit")
    await _write_connector_dead_letter(bootstrap, dlq)

    whole = await asyncio.to_thread(_cli, bootstrap, registry_url, "replay", dlq,
                                    "--unit", OPERATOR_UNIT)
    assert whole.exit_code == 2
    assert "select the records" in whole.output

    row = await asyncio.to_thread(_cli, bootstrap, registry_url, "replay", dlq,
                                  "--source", "export.csv", "--dry-run")
    assert row.exit_code == 1, row.output
    assert "refused 1" in row.output
    assert "drop the corrected export again" in row.output

    resolved = await asyncio.to_thread(_cli, bootstrap, registry_url, "resolve", dlq,
                                       "--source", "export.csv", "--unit", OPERATOR_UNIT,
                                       "--note", "corrected export re-dropped 2025-03-02",
                                       "--audit-topic", audit)
    assert resolved.exit_code == 0, resolved.output
    assert "resolved 1, already settled 0 (of 1 selected)" in resolved.output
    again = await asyncio.to_thread(_cli, bootstrap, registry_url, "resolve", dlq,
                                    "--source", "export.csv", "--unit", OPERATOR_UNIT,
                                    "--note", "twice", "--audit-topic", audit)
    assert "resolved 0, already settled 1" in again.output
    listed = await asyncio.to_thread(_cli, bootstrap, registry_url, "list", dlq)
    assert f"{dlq}: nothing pending (1 settled)" in listed.output
    audits = await _read_all(bootstrap, audit)
    assert len(audits) == 1  # the second resolve settled nothing, so audited nothing

    missing = await asyncio.to_thread(_cli, bootstrap, registry_url, "show",
                                      "lf.dlq.no-such-topic-here")
    assert missing.exit_code == 2
    assert "does not exist" in missing.output


async def test_exporter_counts_pending_dead_letters_until_replayed(
        bootstrap: str, registry_url: str, topic_factory: Callable[..., str]) -> None:
    origin = topic_factory("lf.ingest.t")
    streams_dlq = topic_factory("lf.dlq.e")
    connector_dlq = topic_factory("lf.dlq.e")
    audit = topic_factory("t.audit")
    await _write_streams_dead_letters(bootstrap, registry_url, origin, streams_dlq, 3)
    await _write_connector_dead_letter(bootstrap, connector_dlq)
    prefix = streams_dlq.rsplit(".", 1)[0] + "."
    exporter = DlqExporter(bootstrap, prefix=prefix)

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    try:
        await exporter.refresh()
        assert sample("liangfa_dlq_pending", topic=streams_dlq, reason="not-entitled") == 2
        assert sample("liangfa_dlq_pending", topic=streams_dlq, reason="bad-magic") == 1
        assert sample("liangfa_dlq_pending", topic=connector_dlq, reason="validation") == 1
        letters = await read_dead_letters(bootstrap, streams_dlq)
        assert sample("liangfa_dlq_oldest_pending_timestamp_seconds",
                      topic=streams_dlq) == letters[0].timestamp_ms / 1000

        async with SchemaRegistryClient(registry_url) as registry:
            await replay(bootstrap, letters[:2], serde=AvroSerde(registry), actor="ops-li",
                         actor_unit=OPERATOR_UNIT, audit_topic=audit)
        await exporter.refresh()
        assert sample("liangfa_dlq_pending", topic=streams_dlq, reason="not-entitled") is None
        assert sample("liangfa_dlq_pending", topic=streams_dlq, reason="bad-magic") == 1
        assert sample("liangfa_dlq_settled", topic=streams_dlq) == 2
        assert sample("liangfa_dlq_oldest_pending_timestamp_seconds",
                      topic=streams_dlq) == letters[2].timestamp_ms / 1000
    finally:
        await exporter.close()

    errors = sample("liangfa_dlq_refresh_errors_total") or 0.0
    unreachable = DlqExporter("127.0.0.1:9", prefix=prefix)
    try:
        await unreachable.refresh()
    finally:
        await unreachable.close()
    assert sample("liangfa_dlq_refresh_errors_total") == errors + 1
    assert sample("liangfa_dlq_pending", topic=streams_dlq, reason="bad-magic") == 1  # kept


async def test_a_replay_mark_a_unit_planted_does_not_settle_other_letters(
        bootstrap: str, registry_url: str, topic_factory: Callable[..., str]) -> None:
    """A unit writes its own ingest records' headers: one carrying ``dlq.replay-of``
    marks naming other dead letters made replay take them for replayed (marked settled,
    never sent). Only a copy of the letter's own value on its origin counts."""
    origin = topic_factory("lf.ingest.t")
    dlq = topic_factory("lf.dlq.t")
    audit = topic_factory("t.audit")
    await _write_streams_dead_letters(bootstrap, registry_url, origin, dlq, 2)
    letters = await read_dead_letters(bootstrap, dlq)
    producer = make_producer(bootstrap, client_id="dlq-tests")
    await producer.start()
    try:
        await producer.send_and_wait(origin, b"forged", key=b"k", headers=[
            (REPLAY_HEADER, letter.letter_id.encode()) for letter in letters])
    finally:
        await producer.stop()
    async with SchemaRegistryClient(registry_url) as registry:
        report = await replay(bootstrap, letters, serde=AvroSerde(registry),
                              actor="ops-zhang", actor_unit=OPERATOR_UNIT,
                              audit_topic=audit)
    assert report.already == []
    assert report.replayed == [letter.letter_id for letter in letters]
    copies = [m for m in await _read_all(bootstrap, origin) if m.value != b"forged"]
    assert sorted(m.value for m in copies) == sorted(letter.value for letter in letters)
