"""Mapping: 万元 → fen exactness, dates, code maps, deterministic ids, rejections."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.config import parse_config
from connectors.mapping import Mapper, convert_value
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.errors import RecordRejected
from hub.models import CHINA_TZ, IdDocumentType, PartyCategory, PenaltyCaseRecorded
from tests.support.penalty_mapping import penalty_cells, penalty_mapper


@pytest.mark.parametrize(("text", "fen"), [
    ("0.01", 10_000), ("1", 1_000_000), ("12.345678", 12_345_678), ("0.000001", 1),
    ("1,234.5", 1_234_500_000), (" 3.10 ", 3_100_000), ("0", 0),
])
def test_wan_yuan_become_exact_fen(text: str, fen: int) -> None:
    assert convert_value(text.strip(), "wan_yuan_to_fen", "fine") == fen


def test_a_fraction_of_a_fen_is_rejected_not_rounded() -> None:
    with pytest.raises(RecordRejected) as caught:
        convert_value("0.0000001", "wan_yuan_to_fen", "fine_amount_fen")
    assert caught.value.error_type == "fraction_of_fen"
    assert caught.value.field == "fine_amount_fen"


@given(st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False))
def test_wan_yuan_conversion_is_exact_for_every_six_place_amount(amount: Decimal) -> None:
    assert convert_value(str(amount), "wan_yuan_to_fen", "f") == int(amount * 1_000_000)


@pytest.mark.parametrize("text", ["2024-03-15", "2024/03/15", "20240315", "2024年03月15日",
                                  "2024.03.15"])
def test_date_formats(text: str) -> None:
    assert convert_value(text, "date", "d") == date(2024, 3, 15)
    start = convert_value(text, "date_start", "d")
    assert start == datetime(2024, 3, 15, tzinfo=CHINA_TZ)


def test_local_datetimes_are_china_time() -> None:
    value = convert_value("2024-03-15 09:30:00", "datetime", "t")
    assert value.utcoffset().total_seconds() == 8 * 3600


def test_bad_date_names_the_field_and_value() -> None:
    with pytest.raises(RecordRejected) as caught:
        convert_value("15th March", "date", "decision_date")
    assert (caught.value.field, caught.value.value) == ("decision_date", "15th March")


def test_a_legal_person_row_maps_onto_the_event() -> None:
    mapped = penalty_mapper().map(penalty_cells(7), "a.csv#row 2")
    event = mapped.event
    assert isinstance(event, PenaltyCaseRecorded)
    assert event.fine_amount_fen == 8_070_000
    assert event.confiscation_amount_fen == 500_000
    assert event.parties[0].category is PartyCategory.LEGAL_PERSON
    assert event.parties[0].legal_representative_id_type is IdDocumentType.RESIDENT_ID
    assert event.parties[0].id_type is None
    assert event.occurred_at == datetime(2024, 3, 15, tzinfo=CHINA_TZ)
    assert event.source_record == "a.csv#row 2"
    assert mapped.key == event.case_id.encode()


def test_a_natural_person_row_maps_with_the_same_preset() -> None:
    row = dict(zip(PENALTY_HEADER, penalty_row(10, natural_person=True), strict=True))
    event = penalty_mapper().map(row, "r").event
    party = event.parties[0]  # type: ignore[attr-defined]
    assert party.category is PartyCategory.NATURAL_PERSON
    assert party.id_type is IdDocumentType.RESIDENT_ID
    assert party.credit_code is None


def test_ids_are_deterministic_and_content_sensitive() -> None:
    mapper = penalty_mapper()
    first = mapper.map(penalty_cells(7), "a.csv#row 2").event
    again = mapper.map(penalty_cells(7), "renamed.csv#row 9").event
    corrected = mapper.map(penalty_cells(7, 违法事实="更正后的事实"), "a.csv#row 2").event
    assert first.event_id == again.event_id
    assert first.case_id == corrected.case_id
    assert first.event_id != corrected.event_id


def test_unknown_code_falls_back_and_missing_required_rejects() -> None:
    mapper = penalty_mapper()
    event = mapper.map(penalty_cells(7, 行政相对人类别="外星人"), "r").event
    assert event.parties[0].category is PartyCategory.UNKNOWN  # type: ignore[attr-defined]
    with pytest.raises(RecordRejected) as caught:
        mapper.map(penalty_cells(7, 行政处罚决定书文号=" "), "r")
    assert caught.value.field == "行政处罚决定书文号"


def test_a_wrong_check_digit_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        penalty_mapper().map(penalty_cells(7, 处罚机关统一社会信用代码="11429901030089405A"), "r")
    assert "deciding_authority_code" in str(caught.value)


@settings(deadline=None)  # no wall-clock limits in tests: the machine is shared
@given(st.dictionaries(st.sampled_from(PENALTY_HEADER), st.text(max_size=20)))
def test_mapping_never_crashes_on_arbitrary_rows(row: dict[str, str]) -> None:
    with contextlib.suppress(RecordRejected, ValidationError):
        penalty_mapper().map(row, "fuzz")


def test_a_mapped_recorded_at_is_the_agency_entry_time_else_the_read_time() -> None:
    config = parse_config({
        "id": "m-test", "unit": DEMO_MARKET_UNIT, "kind": "file", "source": {"path": "/tmp"},
        "preset": "penalty-disclosure",
        "mapping": {"fields": {"recorded_at": {"column": "录入日期", "convert": "date_start"}}}})
    mapper = Mapper(config.mapping, unit=config.unit, connector_id=config.id)
    read_time = datetime(2024, 3, 20, 10, 0, tzinfo=CHINA_TZ)
    entered = mapper.map(penalty_cells(7, 录入日期="2024-03-18"), "r", read_time).event
    assert entered.recorded_at == datetime(2024, 3, 18, tzinfo=CHINA_TZ)
    not_entered = mapper.map(penalty_cells(7, 录入日期=""), "r", read_time).event
    assert not_entered.recorded_at == read_time
    assert penalty_mapper().map(penalty_cells(7), "r", read_time).event.recorded_at == read_time
