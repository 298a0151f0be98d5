"""The serde without a registry: wire format, headers, round trips, evolution, rejections.

:class:`hub.serde.LocalSerde` is the hot path of the registry-backed serde, bound here to
local schema ids; the integration tests repeat the round trips through the real registry.
"""

from __future__ import annotations

import copy
import io
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import RecordRejected
from hub.models import (
    EVENT_TYPES,
    CaseReferred,
    FilingDecided,
    FilingDecision,
    PenaltyCaseRecorded,
    PenaltyProcedure,
)
from hub.models.examples import example_events
from hub.schemas import local_schemas
from hub.serde import (
    LocalSerde,
    UnknownSchemaError,
    cloudevent_headers,
    schema_id_of,
    subject_for,
)
from tests.unit.test_serde_strategies import records_for

LOCAL_IDS = {name: 1000 + index for index, name in enumerate(sorted(EVENT_TYPES))}


@pytest.fixture(scope="module")
def serde() -> LocalSerde:
    local = LocalSerde()
    for name, schema_id in LOCAL_IDS.items():
        local.bind_writer(name, schema_id)
    return local


def test_wire_format_is_magic_byte_then_big_endian_schema_id(serde):
    event = example_events()[PenaltyCaseRecorded.avro_name]
    data = serde.encode(event)
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == LOCAL_IDS[PenaltyCaseRecorded.avro_name]
    assert schema_id_of(data) == LOCAL_IDS[PenaltyCaseRecorded.avro_name]


def test_subjects_follow_record_name_strategy():
    assert subject_for("cn.liangfa.events.CaseReferred") == "cn.liangfa.events.CaseReferred"


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
def test_every_example_event_round_trips_as_model_and_as_dict(serde, avro_name):
    event = example_events()[avro_name]
    data = serde.encode(event)
    assert serde.decode(data) == event
    name, record = serde.decode_raw(data)
    assert name == avro_name
    assert record == event.to_avro()
    assert serde.encode_dict(avro_name, record) == data


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_schema_round_trips_generated_records(serde, avro_name, data):
    """Property: whatever the schema admits survives encode → decode, raw and as a model."""
    record = data.draw(records_for(local_schemas()[avro_name]))
    wire = serde.encode_dict(avro_name, record)
    assert serde.decode_raw(wire) == (avro_name, record)
    model = serde.decode(wire)
    assert type(model) is EVENT_TYPES[avro_name]
    assert model.to_avro() == record


def test_cloudevents_headers_of_an_event(serde):
    event = example_events()[CaseReferred.avro_name]
    serialized = serde.serialize(event)
    headers = dict(serialized.headers)
    assert serialized.key == event.case_id.encode()
    assert serialized.value == serde.encode(event)
    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": event.event_id.encode(),
        "ce_source": f"/units/{event.source_unit}/{event.connector_id}".encode(),
        "ce_type": b"cn.liangfa.events.CaseReferred",
        "ce_time": b"2024-03-07T10:00:00+08:00",
        "ce_subject": event.case_id.encode(),
        "content-type": b"application/avro",
    }


def test_cloudevents_time_of_a_raw_record_in_microseconds():
    header = {"event_id": "e", "case_id": "c", "source_unit": "U", "connector_id": "k",
              "occurred_at": 1_709_600_400_000_001}
    headers = dict(cloudevent_headers("cn.liangfa.events.Alert", header))
    assert headers["ce_time"] == b"2024-03-05T01:00:00.000001+00:00"
    assert datetime.fromisoformat(headers["ce_time"].decode()).tzinfo is not None


def test_serialize_dict_uses_the_case_id_as_key(serde):
    record = example_events()[CaseReferred.avro_name].to_avro()
    serialized = serde.serialize_dict(CaseReferred.avro_name, record)
    assert serialized.key == record["case_id"].encode()
    assert dict(serialized.headers)["ce_type"] == b"cn.liangfa.events.CaseReferred"


# ---------------------------------------------------------------- evolution


def _old_penalty_schema() -> dict[str, Any]:
    """PenaltyCaseRecorded as it might have been before remarks/quantities/procedure."""
    schema = copy.deepcopy(local_schemas()[PenaltyCaseRecorded.avro_name])
    schema["fields"] = [f for f in schema["fields"]
                        if f["name"] not in ("remarks", "quantities", "procedure")]
    return schema


def test_old_version_record_decodes_with_the_current_schema():
    old_schema = _old_penalty_schema()
    writer = LocalSerde({PenaltyCaseRecorded.avro_name: old_schema})
    writer.bind_writer(PenaltyCaseRecorded.avro_name, 7)
    event = example_events()[PenaltyCaseRecorded.avro_name]
    old_record = {k: v for k, v in event.to_avro().items()
                  if k not in ("remarks", "quantities", "procedure")}
    wire = writer.encode_dict(PenaltyCaseRecorded.avro_name, old_record)

    reader = LocalSerde()
    reader.bind_reader(7, old_schema)
    decoded = reader.decode(wire)
    assert isinstance(decoded, PenaltyCaseRecorded)
    assert decoded.procedure is PenaltyProcedure.UNKNOWN
    assert decoded.quantities == []
    assert decoded.remarks is None
    assert decoded.decision_number == event.decision_number


def test_new_enum_symbol_from_a_newer_writer_reads_as_unknown():
    newer = copy.deepcopy(local_schemas()[FilingDecided.avro_name])
    decision = next(f for f in newer["fields"] if f["name"] == "decision")
    decision["type"]["symbols"].insert(0, "TRANSFERRED")
    writer = LocalSerde({FilingDecided.avro_name: newer})
    writer.bind_writer(FilingDecided.avro_name, 8)
    record = example_events()[FilingDecided.avro_name].to_avro()
    record["decision"] = "TRANSFERRED"
    wire = writer.encode_dict(FilingDecided.avro_name, record)

    reader = LocalSerde()
    reader.bind_reader(8, newer)
    decoded = reader.decode(wire)
    assert isinstance(decoded, FilingDecided)
    assert decoded.decision is FilingDecision.UNKNOWN


def test_event_type_unknown_locally_decodes_raw_but_not_as_model():
    schema = {"type": "record", "name": "FutureEvent", "namespace": "cn.liangfa.events",
              "fields": [{"name": "case_id", "type": "string"}]}
    writer = LocalSerde({"cn.liangfa.events.FutureEvent": schema})
    writer.bind_writer("cn.liangfa.events.FutureEvent", 9)
    wire = writer.encode_dict("cn.liangfa.events.FutureEvent", {"case_id": "c-1"})
    reader = LocalSerde()
    reader.bind_reader(9, schema)
    assert reader.decode_raw(wire) == ("cn.liangfa.events.FutureEvent", {"case_id": "c-1"})
    with pytest.raises(RecordRejected) as caught:
        reader.decode(wire)
    assert caught.value.error_type == "unknown-event-type"


# ---------------------------------------------------------------- rejections


def test_bad_magic_byte_is_rejected(serde):
    data = bytearray(serde.encode(example_events()[CaseReferred.avro_name]))
    data[0] = 1
    with pytest.raises(RecordRejected) as caught:
        serde.decode(bytes(data))
    assert caught.value.error_type == "bad-magic"


def test_truncated_header_is_rejected(serde):
    with pytest.raises(RecordRejected) as caught:
        serde.decode(b"\x00\x00\x01")
    assert caught.value.error_type == "truncated"


def test_unknown_schema_id_asks_for_the_registry(serde):
    with pytest.raises(UnknownSchemaError) as caught:
        serde.decode(b"\x00\x00\x00\x00\x05abc")
    assert caught.value.schema_id == 5


def test_garbage_body_is_rejected_as_undecodable(serde):
    prefix = struct.pack(">bI", 0, LOCAL_IDS[PenaltyCaseRecorded.avro_name])
    with pytest.raises(RecordRejected) as caught:
        serde.decode(prefix + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
    assert caught.value.error_type == "undecodable"


def test_trailing_bytes_are_rejected(serde):
    data = serde.encode(example_events()[CaseReferred.avro_name])
    with pytest.raises(RecordRejected, match="trailing bytes") as caught:
        serde.decode(data + b"\x00")
    assert caught.value.error_type == "undecodable"


def test_record_that_does_not_fit_its_schema_is_rejected(serde):
    record = example_events()[CaseReferred.avro_name].to_avro()
    record["involved_amount_fen"] = "lots"
    with pytest.raises(RecordRejected) as caught:
        serde.encode_dict(CaseReferred.avro_name, record)
    assert caught.value.error_type == "unencodable"


def test_unknown_event_type_cannot_be_encoded(serde):
    with pytest.raises(RecordRejected) as caught:
        LocalSerde().bind_writer("cn.liangfa.events.Nope", 1)
    assert caught.value.error_type == "unknown-event-type"


def test_unbound_writer_asks_for_the_registry():
    with pytest.raises(UnknownSchemaError) as caught:
        LocalSerde().encode(example_events()[CaseReferred.avro_name])
    assert caught.value.avro_name == CaseReferred.avro_name


def test_decoded_instants_are_timezone_aware_utc(serde):
    event = example_events()[CaseReferred.avro_name]
    decoded = serde.decode(serde.encode(event))
    assert decoded.occurred_at.tzinfo is not None
    assert decoded.occurred_at == event.occurred_at
    assert decoded.occurred_at.utcoffset() == UTC.utcoffset(None)


def _fastavro_bytes(serde: LocalSerde, avro_name: str, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, LOCAL_IDS[avro_name]))
    fastavro.schemaless_writer(buffer, serde.parsed(avro_name), record)
    return buffer.getvalue()


def test_every_shipped_schema_gets_a_compiled_writer(serde):
    """The compiled writer covers every event type (else encoding silently stays slow)."""
    assert all(serde._writers[name].compiled is not None for name in EVENT_TYPES)


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_compiled_writer_writes_fastavros_bytes(serde, avro_name, data):
    """Property: for whatever the schema admits, the bytes are the ones fastavro writes."""
    record = data.draw(records_for(local_schemas()[avro_name]))
    assert serde.encode_dict(avro_name, record) == _fastavro_bytes(serde, avro_name, record)


def test_what_the_compiled_writer_does_not_handle_is_written_by_fastavro(serde):
    """Enum members in string fields, a missing field with a default, an int where a
    double goes, a naive instant, a date given as text: fastavro's bytes, not an error."""
    record = example_events()[PenaltyCaseRecorded.avro_name].to_avro()
    odd = [
        {**record, "decision_number": PenaltyProcedure.GENERAL},
        {k: v for k, v in record.items() if k != "remarks"},
        {**record, "decision_date": record["decision_date"].isoformat()},
        {**record, "occurred_at": datetime(2024, 3, 1, 8, 30)},  # naive, on purpose
    ]
    for variant in odd:
        assert serde.encode_dict(PenaltyCaseRecorded.avro_name, variant) == \
            _fastavro_bytes(serde, PenaltyCaseRecorded.avro_name, variant)
    # fastavro's refusals stay refusals (a bool is not a long in an optional field).
    with pytest.raises(RecordRejected):
        serde.encode_dict(PenaltyCaseRecorded.avro_name, {**record, "fine_amount_fen": True})
