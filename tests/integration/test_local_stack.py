"""The embedded stack: real broker and registry, data surviving down/up, no orphan JVMs."""

from __future__ import annotations

import io
import json
import struct
import uuid
from pathlib import Path

import fastavro
import httpx
import pytest
from aiokafka import TopicPartition

from hub.errors import StackError
from hub.kafka import make_consumer, make_producer
from hub.local import LocalStack
from hub.local.processes import find_stack_processes
from hub.topics import TopicSpec, apply_topics, load_manifest
from tests.conftest import run_sync, start_private_stack

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "record", "name": "Probe", "namespace": "cn.liangfa.tests",
    "fields": [{"name": "case_id", "type": "string"}, {"name": "amount_fen", "type": "long"}],
}


def _register(registry_url: str, subject: str) -> int:
    response = httpx.post(f"{registry_url}/subjects/{subject}/versions",
                          json={"schema": json.dumps(SCHEMA)}, timeout=10)
    response.raise_for_status()
    return int(response.json()["id"])


def _encode(schema_id: int, record: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(SCHEMA), record)
    return buffer.getvalue()


def _decode(registry_url: str, value: bytes) -> dict[str, object]:
    magic, schema_id = struct.unpack(">bI", value[:5])
    assert magic == 0
    writer = httpx.get(f"{registry_url}/schemas/ids/{schema_id}", timeout=10).json()["schema"]
    record = fastavro.schemaless_reader(io.BytesIO(value[5:]),
                                        fastavro.parse_schema(json.loads(writer)), None)
    assert isinstance(record, dict)
    return record


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = make_consumer(bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        values: list[bytes] = []
        while (await consumer.position(partition)) < end:
            batch = await consumer.getmany(partition, timeout_ms=2000)
            values.extend(m.value for msgs in batch.values() for m in msgs if m.value)
        return values
    finally:
        await consumer.stop()


async def test_avro_record_through_registry_round_trips(bootstrap, registry_url, topic_factory):
    topic = topic_factory("probe")
    schema_id = _register(registry_url, f"cn.liangfa.tests.Probe-{uuid.uuid4().hex[:6]}")
    record = {"case_id": str(uuid.uuid4()), "amount_fen": 5_000_000}
    await _produce(bootstrap, topic, _encode(schema_id, record))
    values = await _consume_all(bootstrap, topic)
    assert [_decode(registry_url, v) for v in values] == [record]


def test_registry_compatibility_is_backward_transitive(registry_url):
    config = httpx.get(f"{registry_url}/config", timeout=10).json()
    assert config["compatibilityLevel"] == "BACKWARD_TRANSITIVE"


async def test_broker_does_not_auto_create_topics(bootstrap):
    producer = make_producer(bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(Exception, match=r"(?i)unknown|timeout|metadata"):
            await producer.send_and_wait(f"never.created.{uuid.uuid4().hex}", b"x")
    finally:
        await producer.stop()


async def test_apply_topics_is_idempotent_and_reports_drift(bootstrap):
    name = f"drift.{uuid.uuid4().hex[:8]}"
    first = await apply_topics(bootstrap, [TopicSpec(name=name, partitions=2)])
    second = await apply_topics(bootstrap, [TopicSpec(name=name, partitions=2)])
    drifted = await apply_topics(bootstrap, [TopicSpec(name=name, partitions=3)])
    assert first.created == [name]
    assert second.created == [] and name in second.existing and second.drift == []
    assert drifted.drift and "has 2 partitions" in drifted.drift[0]


def test_data_survives_down_and_up_and_down_leaves_no_jvm(tmp_path: Path):
    """A record produced before `down` is consumed after the next `up` of the same home."""
    stack = start_private_stack(tmp_path / "home")
    try:
        topic = "lf.survival"
        run_sync(apply_topics(stack.bootstrap, [TopicSpec(name=topic, partitions=1)]))
        schema_id = _register(stack.registry_url, "cn.liangfa.tests.Probe")
        record = {"case_id": "before-down", "amount_fen": 42}
        run_sync(_produce(stack.bootstrap, topic, _encode(schema_id, record)))
        stack.down()
        assert find_stack_processes(stack.home) == []
        stack.up()
        values = run_sync(_consume_all(stack.bootstrap, topic))
        # the schema itself survived too: it lives in the broker (kafkasql storage)
        assert [_decode(stack.registry_url, v) for v in values] == [record]
    finally:
        stack.down()
    assert find_stack_processes(stack.home) == []


def test_manifest_topics_share_one_partition_count_for_case_keyed_topics():
    specs = {s.name: s for s in load_manifest().expand(units=["U"], connectors=["c"])}
    keyed = ["lf.case-events", "lf.alerts", "lf.case-state", "lf.inbox.U"]
    assert len({specs[name].partitions for name in keyed}) == 1
    assert specs["lf.case-state"].cleanup_policy == "compact"


def test_a_home_keeps_the_security_mode_it_was_created_with(tmp_path: Path):
    """`liangfa up` on a secured home never silently starts it PLAINTEXT, nor the reverse."""
    secured_home, plain_home = tmp_path / "secured", tmp_path / "plain"
    for home, security in ((secured_home, {"security": "sasl-scram"}), (plain_home, {})):
        home.mkdir()
        (home / "stack.json").write_text(json.dumps({"ports": {}, **security}),
                                         encoding="utf-8")
    assert LocalStack(secured_home).secured is True
    assert LocalStack(plain_home).secured is False
    with pytest.raises(StackError, match="without --insecure"):
        LocalStack(secured_home, secured=False)
    with pytest.raises(StackError, match="with --insecure"):
        LocalStack(plain_home, secured=True)
    assert LocalStack(tmp_path / "fresh", secured=True).secured is True
