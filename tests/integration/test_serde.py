"""The serde against the real local registry and broker.

Every event type registers, encodes and decodes back; Hypothesis records generated from
each schema round-trip through the registry; an old writer version decodes into today's
model; Confluent's own serializer and deserializer interoperate with the hub's records;
one record of each type goes through a real topic with its CloudEvents headers.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient as ConfluentRegistry
from confluent_kafka.schema_registry import record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import RecordRejected
from hub.kafka import make_consumer, make_producer
from hub.models import EVENT_TYPES, CaseReferred, PenaltyCaseRecorded, PenaltyProcedure
from hub.models.examples import example_events
from hub.registry import SchemaRegistryClient, SyncSchemaRegistryClient, schema_text
from hub.schemas import local_schemas
from hub.serde import AvroSerde, LocalSerde, SyncAvroSerde, schema_id_of
from tests.unit.test_serde_strategies import records_for

pytestmark = pytest.mark.integration


async def test_every_event_type_registers_encodes_and_decodes_back(registry_url):
    async with SchemaRegistryClient(registry_url) as writer_registry, \
            SchemaRegistryClient(registry_url) as reader_registry:
        writer = AvroSerde(writer_registry)
        reader = AvroSerde(reader_registry, register=False)
        ids = await writer.prepare()
        assert sorted(ids) == sorted(EVENT_TYPES)
        for avro_name, event in example_events().items():
            data = await writer.encode(event)
            assert schema_id_of(data) == ids[avro_name]
            assert await reader.decode(data) == event
            registered = await reader_registry.get_latest(avro_name)
            assert registered.schema_id == ids[avro_name]
            assert registered.schema == local_schemas()[avro_name]


async def test_lookup_only_serde_finds_the_registered_ids(registry_url):
    async with SchemaRegistryClient(registry_url) as registry:
        registering = AvroSerde(registry)
        expected = await registering.schema_id(CaseReferred.avro_name)
        looking_up = AvroSerde(registry, register=False)
        assert await looking_up.schema_id(CaseReferred.avro_name) == expected


def test_sync_serde_round_trips_through_the_registry(registry_url):
    with SyncSchemaRegistryClient(registry_url) as registry:
        serde = SyncAvroSerde(registry)
        event = example_events()[PenaltyCaseRecorded.avro_name]
        data = serde.encode(event)
        fresh = SyncAvroSerde(registry, register=False)
        assert fresh.decode(data) == event
        assert fresh.decode_raw(data) == (event.avro_name, event.to_avro())


@pytest.fixture(scope="module")
def prepared_serde(registry_url) -> SyncAvroSerde:
    with SyncSchemaRegistryClient(registry_url) as registry:
        serde = SyncAvroSerde(registry)
        serde.prepare()
    return serde


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_records_round_trip_through_the_registry(registry_url, prepared_serde,
                                                           avro_name, data):
    """Property: records generated from each schema survive the registry-backed serde,
    decoded by a serde that knows nothing yet and fetches the writer schema by id."""
    record = data.draw(records_for(local_schemas()[avro_name]))
    wire = prepared_serde.encode_dict(avro_name, record)
    with SyncSchemaRegistryClient(registry_url) as registry:
        fresh = SyncAvroSerde(registry, register=False)
        assert fresh.decode_raw(wire) == (avro_name, record)
        assert fresh.decode(wire).to_avro() == record


def _old_penalty_schema() -> dict[str, Any]:
    """An earlier PenaltyCaseRecorded without procedure, quantities and remarks, and with a
    unique doc so the registry stores it as new content (a fresh id)."""
    schema = copy.deepcopy(local_schemas()[PenaltyCaseRecorded.avro_name])
    schema["fields"] = [f for f in schema["fields"]
                        if f["name"] not in ("procedure", "quantities", "remarks")]
    schema["doc"] = f"{schema['doc']} (test version {uuid.uuid4().hex})"
    return schema


async def test_old_version_record_decodes_with_the_current_schema(registry_url):
    old_schema = _old_penalty_schema()
    event = example_events()[PenaltyCaseRecorded.avro_name]
    old_record = {k: v for k, v in event.to_avro().items()
                  if k not in ("procedure", "quantities", "remarks")}
    async with SchemaRegistryClient(registry_url) as registry:
        # A separate subject: the real subject's history stays untouched on the shared
        # registry; decoding goes by schema id, never by subject.
        old_id = await registry.register(f"tests.old-penalty.{uuid.uuid4().hex}", old_schema)
        current_id = await AvroSerde(registry).schema_id(PenaltyCaseRecorded.avro_name)
        assert old_id != current_id
        old_writer = LocalSerde({PenaltyCaseRecorded.avro_name: old_schema})
        old_writer.bind_writer(PenaltyCaseRecorded.avro_name, old_id)
        wire = old_writer.encode_dict(PenaltyCaseRecorded.avro_name, old_record)

    async with SchemaRegistryClient(registry_url) as registry:
        decoded = await AvroSerde(registry, register=False).decode(wire)
    assert isinstance(decoded, PenaltyCaseRecorded)
    assert decoded.procedure is PenaltyProcedure.UNKNOWN
    assert decoded.quantities == []
    assert decoded.remarks is None
    assert decoded.model_dump(exclude={"procedure", "quantities", "remarks"}) == \
        event.model_dump(exclude={"procedure", "quantities", "remarks"})


async def test_unknown_schema_id_is_rejected_not_retried(registry_url):
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry, register=False)
        with pytest.raises(RecordRejected) as caught:
            await serde.decode(b"\x00\x7f\xff\xff\xf0payload")
    assert caught.value.error_type == "unknown-schema-id"


@pytest.mark.parametrize("avro_name", [PenaltyCaseRecorded.avro_name, CaseReferred.avro_name,
                                       "cn.liangfa.events.CaseState"])
async def test_confluent_deserializer_reads_hub_records(registry_url, avro_name):
    event = example_events()[avro_name]
    async with SchemaRegistryClient(registry_url) as registry:
        data = await AvroSerde(registry).encode(event)
    with ConfluentRegistry({"url": registry_url}) as confluent:
        deserializer = AvroDeserializer(confluent)
        record = deserializer(data, SerializationContext("lf.case-events", MessageField.VALUE))
    assert record == event.to_avro()


async def test_hub_reads_records_of_the_confluent_serializer(registry_url):
    """Confluent's serializer, given the hub's schema and not allowed to register, finds
    the hub's registration (RecordNameStrategy) and writes records the hub decodes."""
    event = example_events()[CaseReferred.avro_name]
    async with SchemaRegistryClient(registry_url) as registry:
        hub_id = await AvroSerde(registry).schema_id(CaseReferred.avro_name)
    with ConfluentRegistry({"url": registry_url}) as confluent:
        serializer = AvroSerializer(
            confluent, schema_text(local_schemas()[CaseReferred.avro_name]),
            conf={"subject.name.strategy": record_subject_name_strategy,
                  "auto.register.schemas": False},
        )
        data = serializer(event.to_avro(), SerializationContext("lf.case-events",
                                                                MessageField.VALUE))
    assert schema_id_of(data) == hub_id
    async with SchemaRegistryClient(registry_url) as registry:
        assert await AvroSerde(registry, register=False).decode(data) == event


async def test_one_record_of_each_type_through_a_real_topic(registry_url, bootstrap,
                                                            topic_factory, group_id):
    topic = topic_factory("serde", partitions=3)
    events = example_events()
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(bootstrap)
        await producer.start()
        try:
            for event in events.values():
                serialized = await serde.serialize(event)
                await producer.send_and_wait(topic, serialized.value, key=serialized.key,
                                             headers=serialized.headers)
        finally:
            await producer.stop()

        consumer = make_consumer(bootstrap, topic, group_id=group_id)
        await consumer.start()
        received: dict[str, Any] = {}
        try:
            async with asyncio.timeout(60):
                while len(received) < len(events):
                    batch = await consumer.getmany(timeout_ms=1000)
                    for messages in batch.values():
                        for message in messages:
                            headers = {k: v.decode() for k, v in message.headers}
                            decoded = await AvroSerde(registry, register=False).decode(
                                message.value)
                            received[headers["ce_type"]] = (message.key, headers, decoded)
        finally:
            await consumer.stop()

    assert sorted(received) == sorted(events)
    for avro_name, (key, headers, decoded) in received.items():
        event = events[avro_name]
        assert decoded == event
        assert key == event.case_id.encode()
        assert headers["ce_id"] == event.event_id
        assert headers["ce_source"] == f"/units/{event.source_unit}/{event.connector_id}"
        assert headers["ce_specversion"] == "1.0"
        assert headers["content-type"] == "application/avro"
        assert headers["ce_time"] == event.occurred_at.isoformat()
