"""A chunk of rows through mapping, validation and encoding: what a mapping process runs.

The runner reads and delivers; this is the part between, run on a chunk of rows in a
mapping process (``connectors.parallel``) or in the runner's own process when a pass is
too small for one. Each row comes out as the Kafka record it will be (key, Avro value,
CloudEvents headers, event id, partition hash) or as the dead letter that says why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from connectors.delivery import DeadLetter, key_hashes
from connectors.mapping import (
    AnyMapper,
    DispatchMapper,
    Mapper,
    describe_validation_error,
)
from connectors.rowpath import map_native
from connectors.source import RowParser
from hub.errors import MappingError, RecordRejected
from hub.serde import LocalSerde, cloudevent_headers

__all__ = ["EventHeaders", "MappedRow", "RowItem", "dead_letter_for", "map_rows"]


class EventHeaders:
    """CloudEvents headers exactly as :func:`hub.serde.cloudevent_headers` makes them,
    with the parts that repeat across an export (source, type, the decision date's
    ``ce_time``) encoded once instead of on every record."""

    _LIMIT = 4096

    def __init__(self) -> None:
        self._constant: dict[tuple[str, str, str], tuple[tuple[str, bytes], ...]] = {}
        self._times: dict[tuple[Any, Any], tuple[str, bytes]] = {}

    def of(self, avro_name: str, record: Mapping[str, Any]) -> list[tuple[str, bytes]]:
        """The headers of one encoded event record."""
        unit, connector = record["source_unit"], record["connector_id"]
        constant = self._constant.get((avro_name, unit, connector))
        if constant is None:
            sample = cloudevent_headers(avro_name, record)
            constant = self._constant[(avro_name, unit, connector)] = (
                sample[0], sample[2], sample[3], sample[6])
        occurred = record["occurred_at"]
        # Equal instants in different zones print differently: the zone is part of the key.
        time_key = (occurred, getattr(occurred, "tzinfo", None))
        time_header = self._times.get(time_key)
        if time_header is None:
            time_header = ("ce_time", cloudevent_headers(avro_name, record)[4][1])
            if len(self._times) < self._LIMIT:
                self._times[time_key] = time_header
        return [constant[0], ("ce_id", str(record["event_id"]).encode()), constant[1],
                constant[2], time_header, ("ce_subject", str(record["case_id"]).encode()),
                constant[3]]


def dead_letter_for(exc: Exception) -> DeadLetter:
    """The DLQ headers of a refused record, from the error that refused it."""
    if isinstance(exc, RecordRejected):
        value = "" if exc.value is None else str(exc.value)
        return DeadLetter(exc.error_type, exc.reason, exc.field or "", value)
    if isinstance(exc, ValidationError):
        field, reason, value = describe_validation_error(exc)
        return DeadLetter("validation", reason, field, value)
    return DeadLetter("mapping" if isinstance(exc, MappingError) else "unparseable",
                      str(exc), "", "")


#: Rows taken through the steps together: enough for each step's code and tables to stay
#: in the CPU caches, few enough that a step's intermediate results (a few KiB per row)
#: stay small (2,000 at a time added ~16 MiB to a mapping process).
_STAGE_ROWS = 256

#: One mapped row as a worker hands it back: Kafka key, Confluent value, headers, event
#: id and the key's partitioning hash (computed where the CPU is spare).
MappedRow = tuple[bytes, bytes, list[tuple[str, bytes]], str, int]


#: A row handed to a mapping process: (row, reference, None), or (raw bytes, reference,
#: parser) when the source deferred parsing to the mapping process.
RowItem = tuple[Any, str, RowParser | None]


def map_rows(mapper: AnyMapper, local: LocalSerde, headers: EventHeaders,
             rows: list[RowItem], recorded_at: datetime) -> list[MappedRow | DeadLetter]:
    """Parse (when deferred), map, validate and encode a chunk of rows: what a mapping
    process runs.

    A refused row becomes its :class:`DeadLetter` (field, value, reason), exactly what the
    in-process path puts in the DLQ headers; other exceptions propagate as they would there.

    The chunk goes through one step at a time (parse every row, then map, then
    validate, then encode; :data:`_STAGE_ROWS` rows at a time) rather than row by row:
    each step's generated code, inline caches and memo tables stay in the CPU caches
    across the rows instead of being evicted by the other steps' on every row. Same
    functions, same calls per row, same results
    (``tests/unit/test_connector_chunk_stages.py``); measured ~15-20 % less CPU per row
    in a mapping process (``connectors/PERFORMANCE.md``). The validated model is encoded
    as it is (``LocalSerde.encode``: no Avro record dict).

    Rows of an export the native core knows (:mod:`connectors.rowpath`) go through it
    first; only the rows it doubts take the steps above, in their places in the chunk.
    """
    native = map_native(mapper, local, rows, recorded_at)
    if native is None:
        return _map_python(mapper, local, headers, rows, recorded_at)
    doubted = [index for index, outcome in enumerate(native) if outcome is None]
    if doubted:
        mapped = _map_python(mapper, local, headers, [rows[index] for index in doubted],
                             recorded_at)
        for index, outcome in zip(doubted, mapped, strict=True):
            native[index] = outcome
    return native


def _map_python(mapper: AnyMapper, local: LocalSerde, headers: EventHeaders,
                rows: list[RowItem], recorded_at: datetime) -> list[MappedRow | DeadLetter]:
    """:func:`map_rows` by the Python steps alone."""
    outcomes: list[Any] = [None] * len(rows)
    for offset in range(0, len(rows), _STAGE_ROWS):
        _map_stages(mapper, local, headers, rows[offset:offset + _STAGE_ROWS], recorded_at,
                    outcomes, offset)
    return outcomes


def _map_stages(mapper: AnyMapper, local: LocalSerde, headers: EventHeaders,
                rows: list[RowItem], recorded_at: datetime, outcomes: list[Any],
                offset: int) -> None:
    """:func:`map_rows` of up to :data:`_STAGE_ROWS` rows, step by step; each row's
    outcome goes to ``outcomes[offset + its index]``."""
    refused = (RecordRejected, MappingError, ValidationError)
    parsed: list[tuple[int, Any, str]] = []
    keep = parsed.append
    for index, (row, reference, parser) in enumerate(rows, offset):
        if parser is not None:
            try:
                row = parser.parse(row)
            except refused as exc:
                outcomes[index] = dead_letter_for(exc)
                continue
        keep((index, row, reference))
    # Field rules, keys, ids and content hash of every row, then the model's checks.
    payloads: list[tuple[int, Mapper, dict[str, Any]]] = []
    add = payloads.append
    single = mapper if isinstance(mapper, Mapper) else None
    route = mapper.route if isinstance(mapper, DispatchMapper) else None
    for index, row, reference in parsed:
        try:
            target = route(row) if route is not None else single
            assert target is not None  # a mapper is a Mapper or a DispatchMapper
            add((index, target, target.payload(row, reference, recorded_at)))
        except refused as exc:
            outcomes[index] = dead_letter_for(exc)
    del parsed
    events: list[tuple[int, Any]] = []
    add_event = events.append
    for index, target, payload in payloads:
        try:
            add_event((index, target.validated(payload)))
        except refused as exc:
            outcomes[index] = dead_letter_for(exc)
    del payloads
    encode = local.encode
    encoded: list[tuple[int, Any, bytes]] = []
    add_encoded = encoded.append
    for index, event in events:
        try:
            add_encoded((index, event, encode(event)))
        except refused as exc:
            outcomes[index] = dead_letter_for(exc)
    del events
    header_of = headers.of
    keys = [event.kafka_key() for _, event, _ in encoded]
    for (index, event, value), key, hashed in zip(encoded, keys, key_hashes(keys),
                                                  strict=True):
        fields = event.__dict__  # the header fields, as ``to_avro()`` would copy them
        outcomes[index] = (key, value, header_of(event.avro_name, fields),
                           str(fields["event_id"]), hashed)
