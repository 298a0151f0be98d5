"""A mapping process's chunk path gives exactly what the row-by-row reference path gives.

``connectors.chunks.map_rows`` runs a chunk one step at a time (parse every row, then
rules/keys/ids, then validation, then encoding) and encodes the validated model itself
(``LocalSerde.encode``, no ``to_avro()`` dict). The reference below is the row-by-row
path it replaced: parse, ``Mapper.map``, ``encode_dict`` of the Avro record, headers of
the record. Both must give the same outcome for every row of a chunk (key, Avro bytes,
headers, event id, partition hash; or the same dead letter: type, reason, field, value),
on generated rows and on hostile ones mixed into the same chunk, for a CSV preset with
deferred parsing and for a dispatching (several event types) JSON preset.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors import chunks
from connectors.chunks import EventHeaders, RowItem, dead_letter_for, map_rows
from connectors.config import parse_config
from connectors.delivery import key_hash
from connectors.kinds.file import CsvRowParser
from connectors.mapping import AnyMapper, build_mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from connectors.testing import feedback_record
from hub.errors import MappingError, RecordRejected
from hub.models import CHINA_TZ, EVENT_TYPES
from hub.models._avro import construct
from hub.schemas import local_schemas
from hub.serde import LocalSerde
from tests.unit.test_serde_strategies import records_for

_RECORDED_AT = datetime(2024, 7, 1, 9, 30, tzinfo=CHINA_TZ)

#: Cell values an exporter gets wrong: empty, padded, out of range, wrong type of text,
#: characters outside GBK, control characters, numbers too big for Avro or for the
#: plausibility ceiling, dates before the earliest date, invalid check characters.
_HOSTILE = st.sampled_from([
    "", " ", "　", "\x00", "𠮷", "无", "N/A", "-1", "0", "1e308", "99999999999", "1.234567",
    "１２３", "2024-02-30", "1900-01-01", "2099-12-31", "20240315", "2024年3月15日",
    "91429900000000000X", "914299000000000001", "11010119900307", "自然人", "法人及非法人组织",
    "个体工商户", "罚款", "警告", "x" * 300, "演示县市监处罚〔2024〕1号", "nan", "inf",
    "2024-03-15T25:00:00", "2024-03-15 08:00:00+08:00",
])


def _reference(mapper: AnyMapper, local: LocalSerde, headers: EventHeaders,
               rows: list[RowItem]) -> list[Any]:
    """The row-by-row path ``map_rows`` had before issue #12's chunk stages."""
    outcomes: list[Any] = []
    for row, reference, parser in rows:
        try:
            if parser is not None:
                row = parser.parse(row)
            mapped = mapper.map(row, reference, _RECORDED_AT)
            value = local.encode_dict(mapped.avro_name, mapped.record)
        except (RecordRejected, MappingError, ValidationError) as exc:
            outcomes.append(dead_letter_for(exc))
        else:
            key = mapped.key
            outcomes.append((key, value, headers.of(mapped.avro_name, mapped.record),
                             mapped.event_id, key_hash(key)))
    return outcomes


def _setup(config: dict[str, Any]) -> tuple[AnyMapper, LocalSerde]:
    parsed = parse_config(config)
    mapper = build_mapper(parsed.mapping, unit=parsed.unit, connector_id=parsed.id)
    local = LocalSerde()
    for number, name in enumerate(sorted(mapper.avro_names()), start=101):
        local.bind_writer(name, number)
    return mapper, local


_PENALTY = _setup({"id": "stage-csv", "unit": DEMO_MARKET_UNIT, "kind": "file",
                   "source": {"path": "/nonexistent"}, "preset": "penalty-disclosure",
                   "mapping": {"stream": "stage-csv"}})
_FEEDBACK = _setup({"id": "stage-http", "unit": DEMO_MARKET_UNIT, "kind": "http",
                    "source": {"url": "http://127.0.0.1:9/feedback"},
                    "preset": "police-feedback"})
_PARSER = CsvRowParser(tuple(PENALTY_HEADER), "gb18030", ",", 131_072)


def _csv_bytes(cells: list[str]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerow(cells)
    return text.getvalue().rstrip("\r\n").encode("gb18030")


_MUTATIONS = st.lists(st.tuples(st.integers(0, len(PENALTY_HEADER) - 1), _HOSTILE),
                      max_size=3)
_PENALTY_ROWS = st.lists(
    st.tuples(st.integers(1, 10**6), st.booleans(), _MUTATIONS,
              st.sampled_from(["good", "good", "raw", "undecodable", "short"])),
    min_size=1, max_size=12)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(_PENALTY_ROWS)
def test_a_csv_chunk_maps_as_the_row_by_row_path(rows: list[tuple[int, bool, Any, str]]
                                                 ) -> None:
    mapper, local = _PENALTY
    items: list[RowItem] = []
    for index, (number, person, mutations, form) in enumerate(rows):
        cells = penalty_row(number, natural_person=person)
        for column, value in mutations:
            cells[column] = value
        raw = _csv_bytes(cells)
        if form == "undecodable":
            raw = raw + b"\xff\xfe\x80"
        elif form == "short":
            raw = _csv_bytes(cells[:-3])
        reference = f"export.csv#row {index + 2}"
        if form == "good":
            items.append((dict(zip(PENALTY_HEADER, cells, strict=True)), reference, None))
        else:
            items.append((raw, reference, _PARSER))
    expected = _reference(mapper, local, EventHeaders(), items)
    assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == expected
    with patch.object(chunks, "_STAGE_ROWS", 4):  # chunks cut into several step groups
        assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == expected


_FEEDBACK_TYPES = st.sampled_from(["filing_decision", "receipt", "not_filed",
                                   "transfer_for_prosecution", "status_sync", ""])
_FEEDBACK_ROWS = st.lists(
    st.tuples(st.integers(1, 10**6), _FEEDBACK_TYPES,
              st.lists(st.tuples(st.sampled_from(["occurred_at", "updated_at", "record_id",
                                                  "agency_decision_number",
                                                  "referring_unit_code",
                                                  "police_case_number"]), _HOSTILE),
                       max_size=2)),
    min_size=1, max_size=10)


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(_FEEDBACK_ROWS)
def test_a_dispatching_chunk_maps_as_the_row_by_row_path(
        rows: list[tuple[int, str, list[tuple[str, str]]]]) -> None:
    mapper, local = _FEEDBACK
    items: list[RowItem] = []
    for index, (number, record_type, mutations) in enumerate(rows):
        record = feedback_record(number, record_type=record_type)
        for name, value in mutations:
            record[name] = value
        items.append((record, f"feedback#{index}", None))
    expected = _reference(mapper, local, EventHeaders(), items)
    assert map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT) == expected


def test_the_samples_hold_events_and_dead_letters() -> None:
    """The comparisons above are about something: good rows give events, hostile ones
    dead letters, in one chunk."""
    mapper, local = _PENALTY
    good = penalty_row(7)
    bad = penalty_row(8)
    bad[PENALTY_HEADER.index("罚款金额（万元）")] = "1e308"
    items: list[RowItem] = [(_csv_bytes(good), "a#row 2", _PARSER),
                            (_csv_bytes(bad), "a#row 3", _PARSER),
                            (_csv_bytes(good)[:-40] + b"\xff", "a#row 4", _PARSER)]
    outcomes = map_rows(mapper, local, EventHeaders(), items, _RECORDED_AT)
    assert isinstance(outcomes[0], tuple)
    assert outcomes[1].error_type == "implausible_amount"
    assert outcomes[1].field
    assert outcomes[2].error_type == "bad_encoding"
    assert outcomes == _reference(mapper, local, EventHeaders(), items)


@pytest.mark.parametrize("avro_name", sorted(EVENT_TYPES))
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_encoding_the_model_writes_the_bytes_of_its_avro_record(avro_name: str,
                                                               data: st.DataObject) -> None:
    """``LocalSerde.encode`` writes the model's fields directly (instance-mode writer);
    the bytes (or the refusal) are those of ``encode_dict(to_avro())``."""
    local = LocalSerde()
    local.bind_writer(avro_name, 7)
    event = construct(EVENT_TYPES[avro_name], data.draw(records_for(local_schemas()[avro_name])))
    try:
        expected: Any = local.encode_dict(avro_name, event.to_avro())
    except RecordRejected as exc:
        expected = ("refused", exc.error_type)
    try:
        got: Any = local.encode(event)
    except RecordRejected as exc:
        got = ("refused", exc.error_type)
    assert got == expected
