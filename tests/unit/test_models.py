"""The pydantic models and the ``.avsc`` contract stay in step; validators catch bad rows."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fastavro
import pytest
from pydantic import ValidationError

from hub.identity import credit_code_check_char
from hub.models import (
    AVRO_NAMESPACE,
    CHINA_TZ,
    EVENT_TYPES,
    CaseEvent,
    EventEnum,
    IdDocumentType,
    Party,
    PartyCategory,
    PenaltyCaseRecorded,
    PenaltyCategory,
    Quantity,
    UnitMonthlyStats,
    event_type_for,
)
from hub.models._avro import draft_schema
from hub.models.examples import EXAMPLE_AGENCY, example_events
from hub.schemas import local_schemas, schema_files, strip_documentation

CJK = re.compile(r"[\u4e00-\u9fff]")
HEADER_FIELDS = [
    "event_id",
    "case_id",
    "source_unit",
    "occurred_at",
    "recorded_at",
    "source_system",
    "source_record",
    "connector_id",
]


def _drift(expected: Any, actual: Any, path: str) -> list[str]:
    """Every difference between the model-derived schema and the .avsc, by path."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for key in sorted(set(expected) | set(actual)):
            if key == "fields":
                problems += _field_drift(expected.get(key, []), actual.get(key, []), path)
            elif key not in actual:
                problems.append(f"{path}: .avsc lacks {key!r} (model says {expected[key]!r})")
            elif key not in expected:
                problems.append(f"{path}: .avsc has {key!r}={actual[key]!r}, model does not")
            else:
                problems += _drift(expected[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [p for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for p in _drift(e, a, f"{path}[{i}]")]
    if expected != actual:
        return [f"{path}: model says {expected!r}, .avsc says {actual!r}"]
    return []


def _field_drift(expected: list[dict[str, Any]], actual: list[dict[str, Any]],
                 path: str) -> list[str]:
    expected_names = [f["name"] for f in expected]
    actual_names = [f["name"] for f in actual]
    if expected_names != actual_names:
        return [f"{path}: field names/order differ: model {expected_names}, "
                f".avsc {actual_names}"]
    return [p for e, a in zip(expected, actual, strict=True)
            for p in _drift(e, a, f"{path}.{e['name']}")]


def test_every_model_has_exactly_one_schema_file_and_back():
    files = schema_files()
    assert sorted(files) == sorted(EVENT_TYPES)
    for name, path in files.items():
        assert path.stem == name.rsplit(".", 1)[1]


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
def test_model_and_avsc_do_not_drift(avro_name):
    """Field names, order, optionality, types, enum symbols and defaults all agree."""
    model = EVENT_TYPES[avro_name]
    expected = strip_documentation(draft_schema(model))
    actual = strip_documentation(local_schemas()[avro_name])
    assert _drift(expected, actual, model.__name__) == []


def test_drift_check_reports_a_changed_field_by_name():
    expected = strip_documentation(draft_schema(PenaltyCaseRecorded))
    actual = json.loads(json.dumps(expected))
    next(f for f in actual["fields"] if f["name"] == "fine_amount_fen")["type"] = "long"
    problems = _drift(expected, actual, "PenaltyCaseRecorded")
    assert problems == ["PenaltyCaseRecorded.fine_amount_fen.type: model says "
                        "['null', 'long'], .avsc says 'long'"]


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
def test_schema_carries_header_namespace_and_catalogue_metadata(avro_name):
    schema = local_schemas()[avro_name]
    assert schema["namespace"] == AVRO_NAMESPACE
    assert [f["name"] for f in schema["fields"][:8]] == HEADER_FIELDS
    for instant in ("occurred_at", "recorded_at"):
        field = next(f for f in schema["fields"] if f["name"] == instant)
        assert field["type"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert CJK.search(schema["x-zh"])
    assert schema["x-producers"]
    assert schema["x-consumers"]
    assert schema["x-key"].startswith("case_id")
    assert schema["x-topics"]


def _walk_named(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") in ("record", "enum"):
            found.append(schema)
        for value in schema.values():
            found += _walk_named(value)
    elif isinstance(schema, list):
        for item in schema:
            found += _walk_named(item)
    return found


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
def test_every_field_is_documented_in_english_with_the_chinese_term(avro_name):
    for named in _walk_named(local_schemas()[avro_name]):
        assert CJK.search(named["doc"]), named["name"]
        for field in named.get("fields", []):
            doc = field.get("doc", "")
            assert re.search(r"[A-Za-z]", doc), f"{named['name']}.{field['name']}"
            assert CJK.search(doc), f"{named['name']}.{field['name']}: {doc!r}"


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
def test_every_enum_defaults_to_unknown_so_consumers_survive_new_symbols(avro_name):
    for named in _walk_named(local_schemas()[avro_name]):
        if named["type"] == "enum":
            assert named["default"] == "UNKNOWN"
            assert "UNKNOWN" in named["symbols"]


def test_every_model_enum_has_an_unknown_member():
    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    enums = subclasses(EventEnum)
    assert len(enums) > 10
    for enum in enums:
        assert enum("UNKNOWN").value == "UNKNOWN"


def test_event_type_lookup_names_unknown_types():
    assert event_type_for("cn.liangfa.events.CaseReferred").__name__ == "CaseReferred"
    with pytest.raises(KeyError, match=r"cn\.liangfa\.events\.Nope"):
        event_type_for("cn.liangfa.events.Nope")


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
def test_examples_are_valid_and_round_trip_through_fastavro(avro_name):
    event = example_events()[avro_name]
    model = type(event)
    assert model.model_validate(event.model_dump()) == event
    parsed = fastavro.parse_schema(local_schemas()[avro_name])
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, event.to_avro())
    buffer.seek(0)
    record = fastavro.schemaless_reader(buffer, parsed)
    fast = model.from_avro(record)
    validated = model.from_avro(record, validate=True)
    assert fast == event
    assert validated == event
    assert fast.model_dump() == validated.model_dump()


def test_from_avro_restores_enum_members_and_nested_models():
    event = example_events()[PenaltyCaseRecorded.avro_name]
    record = event.to_avro()
    record["parties"] = [dict(p, category="LEGAL_PERSON") for p in record["parties"]]
    record["penalty_categories"] = ["FINE"]
    rebuilt = PenaltyCaseRecorded.from_avro(record)
    assert isinstance(rebuilt.parties[0], Party)
    assert rebuilt.parties[0].category is PartyCategory.LEGAL_PERSON
    assert rebuilt.penalty_categories == [PenaltyCategory.FINE]
    assert rebuilt.penalty_categories[0] is PenaltyCategory.FINE


def test_from_avro_fills_defaults_of_fields_an_old_record_lacks():
    record = example_events()[PenaltyCaseRecorded.avro_name].to_avro()
    del record["remarks"], record["quantities"]
    rebuilt = PenaltyCaseRecorded.from_avro(record)
    assert rebuilt.remarks is None
    assert rebuilt.quantities == []


# ---------------------------------------------------------------- validators


def _penalty(**changes: Any) -> dict[str, Any]:
    data = example_events()[PenaltyCaseRecorded.avro_name].model_dump()
    data.update(changes)
    return data


def _error_text(data: dict[str, Any], model: type[CaseEvent] = PenaltyCaseRecorded) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return str(caught.value)


def test_bad_credit_code_check_character_names_field_and_value():
    wrong = EXAMPLE_AGENCY[:17] + ("0" if EXAMPLE_AGENCY[17] != "0" else "1")
    text = _error_text(_penalty(deciding_authority_code=wrong))
    assert "deciding_authority_code" in text
    assert wrong in text
    assert "统一社会信用代码" in text


def test_source_unit_must_be_a_valid_credit_code():
    text = _error_text(_penalty(source_unit="not-a-code"))
    assert "source_unit: 'not-a-code'" in text


def test_credit_codes_are_normalised_to_upper_case():
    first17 = "91421181ma0000001"
    code = first17 + credit_code_check_char(first17.upper())
    party = Party(name="示例", credit_code=code.lower())
    assert party.credit_code == code.upper()


def test_sole_trader_placeholder_is_accepted_for_parties_only():
    party = Party(name="示例个体户", category=PartyCategory.SOLE_TRADER,
                  credit_code="00000000000000000X")
    assert party.credit_code == "00000000000000000X"
    text = _error_text(_penalty(data_source_unit_code="00000000000000000X"))
    assert "data_source_unit_code" in text


@pytest.mark.parametrize("field", ["id_number", "legal_representative_id_number"])
def test_resident_id_with_wrong_check_character_names_field_and_value(field):
    type_field = "id_type" if field == "id_number" else "legal_representative_id_type"
    with pytest.raises(ValidationError) as caught:
        Party(name="张示例", **{type_field: IdDocumentType.RESIDENT_ID,
                                field: "421181198001011230"})
    assert f"{field}: '421181198001011230'" in str(caught.value)
    assert "居民身份证" in str(caught.value)


def test_passport_numbers_are_not_checked_as_resident_ids():
    party = Party(name="John Example", id_type=IdDocumentType.PASSPORT, id_number="E12345678")
    assert party.id_number == "E12345678"


@pytest.mark.parametrize("code", ["42118", "4211811", "00118a", "001181", "991181",
                                  "４２１１８１"])
def test_division_code_must_be_six_digits_with_a_province(code):
    text = _error_text(_penalty(division_code=code))
    assert f"division_code: {code!r}" in text


@pytest.mark.parametrize("field", ["fine_amount_fen", "confiscation_amount_fen",
                                   "illegal_turnover_fen", "illegal_gains_fen"])
def test_amounts_in_fen_cannot_be_negative(field):
    text = _error_text(_penalty(**{field: -1}))
    assert f"{field}: -1 is negative" in text


def test_amounts_must_be_whole_fen_not_fractions():
    text = _error_text(_penalty(fine_amount_fen=12.5))
    assert "fine_amount_fen" in text


def test_decision_date_cannot_be_in_the_future():
    tomorrow = datetime.now(CHINA_TZ).date() + timedelta(days=1)
    text = _error_text(_penalty(decision_date=tomorrow))
    assert f"decision_date: {tomorrow.isoformat()} is in the future" in text


def test_occurred_at_cannot_be_in_the_future_beyond_clock_skew():
    later = datetime.now(CHINA_TZ) + timedelta(hours=1)
    text = _error_text(_penalty(occurred_at=later))
    assert "occurred_at" in text
    assert "in the future" in text
    slightly_later = datetime.now(CHINA_TZ) + timedelta(minutes=1)
    assert PenaltyCaseRecorded.model_validate(_penalty(occurred_at=slightly_later))


def test_naive_datetimes_are_rejected():
    text = _error_text(_penalty(recorded_at=datetime(2024, 3, 5, 10, 0)))
    assert "recorded_at" in text
    assert "timezone" in text.lower()


def test_quantities_are_exact_decimals():
    assert Quantity(name="危险废物", value=" 3.50 ", unit="t").value == "3.50"
    with pytest.raises(ValidationError, match=r"value: '3,5' is not a plain decimal"):
        Quantity(name="危险废物", value="3,5", unit="t")


def test_penalty_needs_a_named_party():
    with pytest.raises(ValidationError, match="parties"):
        PenaltyCaseRecorded.model_validate(_penalty(parties=[]))
    with pytest.raises(ValidationError, match=r"parties\[0\].name"):
        PenaltyCaseRecorded.model_validate(_penalty(parties=[{"name": " "}]))


def test_month_of_statistics_is_year_and_month():
    data = example_events()[UnitMonthlyStats.avro_name].model_dump()
    data["month"] = "2024-13"
    assert "month: '2024-13'" in _error_text(data, UnitMonthlyStats)


def test_events_are_immutable_and_reject_unknown_fields():
    event = example_events()[PenaltyCaseRecorded.avro_name]
    with pytest.raises(ValidationError):
        event.remarks = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        PenaltyCaseRecorded.model_validate(_penalty(surprise="x"))


def test_header_helpers_give_the_key_and_the_china_date():
    event = example_events()[PenaltyCaseRecorded.avro_name]
    assert event.kafka_key() == event.case_id.encode()
    assert event.occurred_on() == date(2024, 3, 5)
    utc_event = event.model_copy(update={"occurred_at": datetime(2024, 3, 4, 16, tzinfo=UTC)})
    assert utc_event.occurred_on() == date(2024, 3, 5)


def test_from_avro_neither_mutates_nor_keeps_the_callers_dict():
    record = example_events()[PenaltyCaseRecorded.avro_name].to_avro()
    record["parties"] = [dict(p, category="LEGAL_PERSON") for p in record["parties"]]
    snapshot = json.loads(json.dumps(record, default=str))
    rebuilt = PenaltyCaseRecorded.from_avro(record)
    assert json.loads(json.dumps(record, default=str)) == snapshot
    assert type(record["parties"][0]["category"]) is str
    record["remarks"] = "changed afterwards"
    record["parties"][0]["name"] = "changed afterwards"
    assert rebuilt.remarks is None
    assert rebuilt.parties[0].name == "示例商贸有限公司"


@pytest.mark.parametrize(("number", "fault"), [
    ("421181199902290016", "birth date 19990229 is not a date"),
    ("１１０１０５１９４９１２３１００２X", "digits other than ASCII 0-9"),
    ("000000198001010013", "address code 000000 has no province 00"),
])
def test_a_refused_resident_id_names_field_value_and_fault(number: str, fault: str) -> None:
    text = _error_text(_penalty(parties=[{"name": "张示例", "id_type": "RESIDENT_ID",
                                          "id_number": number}]))
    assert f"id_number: {number!r}" in text
    assert fault in text


@pytest.mark.parametrize("field", ["id_number", "legal_representative_id_number"])
def test_a_lower_case_x_check_character_is_stored_as_x(field: str) -> None:
    # The penalty history and the feedback matcher key a person on this number.
    type_field = "id_type" if field == "id_number" else "legal_representative_id_type"
    party = Party(name="张示例", **{type_field: IdDocumentType.RESIDENT_ID,
                                   field: "11010519491231002x"})
    assert getattr(party, field) == "11010519491231002X"
    passport = Party(name="John Example", id_type=IdDocumentType.PASSPORT, id_number="e1234x")
    assert passport.id_number == "e1234x"


def test_the_event_id_is_hashed_from_the_row_not_the_normalised_number() -> None:
    from connectors.config import load_preset
    from connectors.mapping import MappingSpec, build_mapper
    from connectors.samples import PENALTY_HEADER, penalty_row

    mapper = build_mapper(MappingSpec.model_validate(load_preset("penalty-disclosure")),
                          unit=EXAMPLE_AGENCY, connector_id="test")
    row = dict(zip(PENALTY_HEADER, penalty_row(5, natural_person=True), strict=True))
    row["证件号码"] = "11010519491231002x"
    payload = mapper.payload(row, "f.csv#2")
    event = mapper.validated(dict(payload))
    assert payload["parties"][0]["id_number"] == "11010519491231002x"
    assert event.parties[0].id_number == "11010519491231002X"  # type: ignore[attr-defined]
    assert event.event_id == payload["event_id"]  # what every earlier version gave the row


def test_stored_parties_are_read_back_as_written() -> None:
    from hub.models import STORED_CONTEXT

    # Written before the birth date was checked (and before x was written X): a case
    # document holding it must stay readable, and its content unchanged.
    stored = {"name": "张示例", "id_type": "RESIDENT_ID", "id_number": "42118119990229001x",
              "credit_code": "91ABCDEFMA01ABCD1L"}
    with pytest.raises(ValidationError):
        Party.model_validate(stored)
    party = Party.model_validate(stored, context=STORED_CONTEXT)
    assert party.id_number == "42118119990229001x"
    assert party.credit_code == "91ABCDEFMA01ABCD1L"
    event = _penalty(division_code="990000")
    with pytest.raises(ValidationError):
        PenaltyCaseRecorded.model_validate(event)
    assert PenaltyCaseRecorded.model_validate(
        event, context=STORED_CONTEXT).division_code == "990000"
