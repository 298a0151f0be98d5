"""Confluent-format Avro serde for case events, with CloudEvents binary-mode headers.

Wire format: magic byte ``0``, the writer schema's 4-byte big-endian registry id, then
the Avro binary body (schemaless). Subjects follow **RecordNameStrategy**: the subject is
the record's full name, so several event types share one topic (``lf.case-events``)
and each type evolves on its own. Schemas are registered self-contained (no references):
any standard Confluent deserializer pointed at the registry reads the hub's records.

Decoding resolves the writer's schema (fetched by id, cached) against the reader's, the
local current schema, so records written with any earlier compatible version decode
into today's model. When the two schemas are the same for decoding purposes, resolution
is skipped: it is the common case and the expensive path.

Layers:

- :class:`LocalSerde` does the work with what it already knows (no I/O, synchronous):
  the hot path, usable on its own with fixed schema ids in tests or tools;
- :class:`AvroSerde` (async) and :class:`SyncAvroSerde` (sync, for the
  CLI) wrap it and ask the registry only on a cache miss.

Errors: a record that cannot be encoded or decoded is :class:`~hub.errors.RecordRejected`
(skippable: dead-letter it), with ``error_type`` one of ``bad-magic``, ``truncated``,
``unknown-schema-id``, ``unknown-event-type``, ``undecodable``, ``unencodable``;
registry outages surface as :class:`~hub.errors.RetriableError`.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from hub.errors import RecordRejected
from hub.models import EVENT_TYPES, AvroRecord, CaseEvent
from hub.models._avro import construct
from hub.registry import (
    RegistryRequestError,
    SchemaNotFoundError,
    SchemaRegistryClient,
    SyncSchemaRegistryClient,
)
from hub.schemas import full_name, local_schemas, resolution_form

__all__ = [
    "CLOUDEVENTS_SPEC_VERSION",
    "CONTENT_TYPE",
    "MAGIC_BYTE",
    "AvroSerde",
    "LocalSerde",
    "SerializedEvent",
    "SyncAvroSerde",
    "UnknownSchemaError",
    "cloudevent_headers",
    "cloudevent_source",
    "schema_id_of",
    "subject_for",
]

log = logging.getLogger(__name__)

MAGIC_BYTE = 0
CONTENT_TYPE = "application/avro"
CLOUDEVENTS_SPEC_VERSION = "1.0"
_PREFIX = struct.Struct(">bI")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class UnknownSchemaError(LookupError):
    """The local serde lacks a schema id or writer binding; the registry may know it."""

    def __init__(self, *, schema_id: int | None = None, avro_name: str | None = None) -> None:
        super().__init__(f"unknown schema id {schema_id}" if schema_id is not None
                         else f"no schema id bound for {avro_name}")
        self.schema_id = schema_id
        self.avro_name = avro_name


@dataclass(frozen=True, slots=True)
class SerializedEvent:
    """What a producer sends: key (case_id), value (Confluent Avro) and CloudEvents headers."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


#: Statuses of a registry that lets this client read but not register: the secured embedded
#: registry (``hub/local/registry.py``) registers every schema as the hub's admin at
#: ``liangfa up`` and answers a component's registration with 401. The serde then looks
#: the schema up instead, and keeps doing so.
_REGISTRATION_REFUSED = frozenset({401, 403})


def _not_registered(avro_name: str, subject: str) -> SchemaNotFoundError:
    return SchemaNotFoundError(
        f"schema of {avro_name} is not registered under subject {subject!r}",
        status_code=404, error_code=40403,
    )


def subject_for(avro_name: str) -> str:
    """RecordNameStrategy: the subject is the record's full name, whatever the topic."""
    return avro_name


def schema_id_of(data: bytes) -> int:
    """The writer schema id of a Confluent-format record."""
    if len(data) < _PREFIX.size:
        raise RecordRejected(
            f"record of {len(data)} bytes is too short for the Confluent wire format",
            field="value", value=data[:16].hex(), error_type="truncated",
        )
    magic, schema_id = _PREFIX.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise RecordRejected(
            f"record starts with byte {magic}, not the Confluent magic byte 0",
            field="value", value=data[:16].hex(), error_type="bad-magic",
        )
    return int(schema_id)


def cloudevent_source(source_unit: str, connector_id: str) -> str:
    """The CloudEvents ``source`` of an event: which unit's which connector produced it."""
    return f"/units/{source_unit}/{connector_id}"


def _rfc3339(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):  # micros since the epoch, as a raw Avro record carries it
        return (_EPOCH + timedelta(microseconds=value)).isoformat()
    return str(value)


def cloudevent_headers(avro_name: str, header: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """CloudEvents binary-mode Kafka headers of an event (its header fields as a mapping).

    ``ce_time`` is when the occurrence happened (``occurred_at``), per the spec's meaning
    of ``time``; ``ce_subject`` is the case id, so a consumer can filter without decoding.
    """
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(header["event_id"]).encode()),
        ("ce_source", cloudevent_source(header["source_unit"], header["connector_id"]).encode()),
        ("ce_type", avro_name.encode()),
        ("ce_time", _rfc3339(header["occurred_at"]).encode()),
        ("ce_subject", str(header["case_id"]).encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]


# --------------------------------------------------------------------------- compiled writer
#
# fastavro's writer spends most of its time choosing union branches (it validates the
# datum against each branch) and dispatching on schema types; an event record with 40
# optional fields costs it about 30 µs. The writer below is generated once per schema as
# straight-line Python (one function per named record, no per-field dispatch) and
# handles only the exact Python types the hub's records use (str, int, bool, float,
# None, date, aware datetime, list, dict); for anything else it gives up and fastavro
# writes the record, so the bytes are always the ones fastavro would write (tests
# compare them) and errors are fastavro's own.


class _GiveUp(Exception):
    """The compiled writer does not handle this datum: fastavro writes the record."""


_Encode = Callable[[Any, bytearray], None]
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_DAYS_SHIFT = date(1970, 1, 1).toordinal()


def _zigzag(value: int) -> bytes:
    if not _LONG_MIN <= value <= _LONG_MAX:
        raise _GiveUp
    number = (value << 1) ^ (value >> 63)
    out = []
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


# Lengths, small longs and dates (days since 1970: 32768 reaches 2059), encoded once.
_SMALL = tuple(_zigzag(n) for n in range(32768))


#: Larger longs seen (instants in micros, amounts in fen): an export repeats a few dates
#: and amounts on every row, and encoding one costs a Python loop of up to 10 steps.
_BIG: dict[int, bytes] = {}
_BIG_LIMIT = 16_384


def _zigzag_remembered(value: int) -> bytes:
    encoded = _zigzag(value)
    if len(_BIG) < _BIG_LIMIT:
        _BIG[value] = encoded
    return encoded


def _long_bytes(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 32768 else _zigzag(value)


class _Generator:
    """Writes the Python source of a schema's writer; ``names`` holds its constants."""

    def __init__(self, *, instances: bool = False) -> None:
        #: Instance mode: a record may also be an :class:`AvroRecord` model, written from
        #: its ``__dict__``, the values ``deconstruct`` would copy (see ``_compile_writer``).
        self.instances = instances
        self.names: dict[str, Any] = {
            "GiveUp": _GiveUp, "SMALL": _SMALL, "zigzag": _zigzag_remembered,
            "BIG": _BIG, "date": date, "AvroRecord": AvroRecord,
            "datetime": datetime, "EPOCH": _EPOCH, "SHIFT": _DAYS_SHIFT,
            "DOUBLE": struct.Struct("<d").pack, "FLOAT": struct.Struct("<f").pack,
        }
        self.functions: list[str] = []
        self.records: dict[str, str] = {}  # full name → generated function name
        self.enums: dict[str, str] = {}  # full name → constant holding its codes
        self.depth = 0

    def _constant(self, value: Any) -> str:
        name = f"C{len(self.names)}"
        self.names[name] = value
        return name

    @staticmethod
    def _full_name(schema: dict[str, Any], namespace: str) -> tuple[str, str]:
        name = str(schema["name"])
        if "." in name:
            return name, name.rsplit(".", 1)[0]
        space = str(schema.get("namespace", namespace))
        return (f"{space}.{name}" if space else name), space

    def record(self, schema: dict[str, Any], namespace: str) -> str:
        full, space = self._full_name(schema, namespace)
        function = f"write_{len(self.records)}"
        self.records[full] = function
        body = ["if type(d) is not dict:", "    raise GiveUp"]
        if self.instances:
            body = ["if type(d) is not dict:", "    if not isinstance(d, AvroRecord):",
                    "        raise GiveUp", "    d = d.__dict__"]
        for field in schema["fields"]:
            body.append(f"v = d[{str(field['name'])!r}]")
            body.extend(self.value(field["type"], "v", space))
        lines = [f"def {function}(d, out):", *("    " + line for line in body)]
        self.functions.append("\n".join(lines))
        return function

    def value(self, schema: Any, var: str, namespace: str) -> list[str]:
        """Statements appending the encoding of ``var`` (of type ``schema``) to ``out``."""
        if isinstance(schema, list):
            return self._union(schema, var, namespace)
        if isinstance(schema, dict):
            kind = schema.get("type")
            logical = schema.get("logicalType")
            if kind == "int" and logical == "date":
                return [f"if type({var}) is not date:", "    raise GiveUp",
                        f"x = {var}.toordinal() - SHIFT",
                        "out += SMALL[x] if 0 <= x < 32768 else BIG.get(x) or zigzag(x)"]
            if kind == "long" and logical == "timestamp-micros":
                return [f"if type({var}) is not datetime or {var}.tzinfo is None:",
                        "    raise GiveUp",
                        f"t = {var} - EPOCH",
                        "x = (t.days * 86400 + t.seconds) * 1000000 + t.microseconds",
                        "out += SMALL[x] if 0 <= x < 32768 else BIG.get(x) or zigzag(x)"]
            if logical is not None:
                raise _GiveUp
            if kind == "record":
                return [f"{self.record(schema, namespace)}({var}, out)"]
            if kind == "enum":
                full, _ = self._full_name(schema, namespace)
                self.enums[full] = self._constant(
                    {str(symbol): _long_bytes(index)
                     for index, symbol in enumerate(schema["symbols"])})
                return self._enum(self.enums[full], var)
            if kind == "array":
                return self._array(schema["items"], var, namespace)
            if kind == "map":
                return self._map(schema["values"], var, namespace)
            return self.value(kind, var, namespace)
        return self._named(str(schema), var, namespace)

    def _named(self, name: str, var: str, namespace: str) -> list[str]:
        if name == "string" or name == "bytes":
            kind = "str" if name == "string" else "bytes"
            encoded = f"{var}.encode()" if name == "string" else var
            return [f"if type({var}) is not {kind}:", "    raise GiveUp",
                    f"b = {encoded}", "n = len(b)",
                    "out += SMALL[n] if n < 32768 else zigzag(n)", "out += b"]
        if name == "long" or name == "int":
            lines = [f"if type({var}) is not int:", "    raise GiveUp"]
            if name == "int":
                lines += [f"if not {_INT_MIN} <= {var} <= {_INT_MAX}:", "    raise GiveUp"]
            return [*lines, f"out += SMALL[{var}] if 0 <= {var} < 32768 "
                            f"else BIG.get({var}) or zigzag({var})"]
        if name == "boolean":
            return [f"if {var} is True:", "    out.append(1)", f"elif {var} is False:",
                    "    out.append(0)", "else:", "    raise GiveUp"]
        if name == "double" or name == "float":
            pack = "DOUBLE" if name == "double" else "FLOAT"
            return [f"if type({var}) is not float:", "    raise GiveUp",
                    f"out += {pack}({var})"]
        if name == "null":
            return [f"if {var} is not None:", "    raise GiveUp"]
        full = name if "." in name else f"{namespace}.{name}"
        if full in self.records:
            return [f"{self.records[full]}({var}, out)"]
        if full in self.enums:
            return self._enum(self.enums[full], var)
        raise _GiveUp  # a type this generator does not know

    @staticmethod
    def _enum(codes: str, var: str) -> list[str]:
        return [f"c = {codes}.get({var}) if isinstance({var}, str) else None",
                "if c is None:", "    raise GiveUp", "out += c"]

    def _array(self, items: Any, var: str, namespace: str) -> list[str]:
        self.depth += 1
        item = f"i{self.depth}"
        inner = self.value(items, item, namespace)
        self.depth -= 1
        return [f"if type({var}) is not list:", "    raise GiveUp",
                f"if {var}:", f"    n = len({var})",
                "    out += SMALL[n] if n < 32768 else zigzag(n)",
                f"    for {item} in {var}:", *("        " + line for line in inner),
                "out.append(0)"]

    def _map(self, values: Any, var: str, namespace: str) -> list[str]:
        self.depth += 1
        key, item = f"k{self.depth}", f"i{self.depth}"
        inner = self._named("string", key, namespace) + self.value(values, item, namespace)
        self.depth -= 1
        return [f"if type({var}) is not dict:", "    raise GiveUp",
                f"if {var}:", f"    n = len({var})",
                "    out += SMALL[n] if n < 32768 else zigzag(n)",
                f"    for {key}, {item} in {var}.items():",
                *("        " + line for line in inner), "out.append(0)"]

    def _union(self, branches: list[Any], var: str, namespace: str) -> list[str]:
        # The hub's unions are [null, X] (optional fields): None is the null branch, any
        # other datum X's. A wider union is left to fastavro's branch matching.
        if len(branches) != 2 or "null" not in branches:
            raise _GiveUp
        null_index = branches.index("null")
        inner = self.value(branches[1 - null_index], var, namespace)
        return [f"if {var} is None:", f"    out += {_SMALL[null_index]!r}", "else:",
                f"    out += {_SMALL[1 - null_index]!r}", *("    " + line for line in inner)]


def _compile_writer(schema: Mapping[str, Any], *, instances: bool = False) -> _Encode | None:
    """The generated writer of a record schema, or None when it uses what is not handled.

    ``instances``: the writer also takes the event model itself (and nested record
    models) instead of its ``to_avro()`` dict. ``deconstruct`` copies a model's
    ``__dict__`` and turns only nested records into dicts, so reading the ``__dict__``s
    directly writes the same values, hence the same bytes, without building the dicts
    (issue #12: one intermediate step less per row)."""
    generator = _Generator(instances=instances)
    try:
        top = generator.record(dict(schema), "")
    except (_GiveUp, KeyError, TypeError):
        return None
    names = dict(generator.names)
    exec("\n\n".join(generator.functions), names)  # noqa: S102 - source generated above
    writer: _Encode = names[top]
    return writer


@dataclass(frozen=True, slots=True)
class _Writer:
    schema_id: int
    parsed: Any
    prefix: bytes
    compiled: _Encode | None = None
    #: The same writer in instance mode (takes the model itself), or None.
    instances: _Encode | None = None


@dataclass(frozen=True, slots=True)
class _Reader:
    avro_name: str
    writer: Any
    #: None when writer and local schema decode identically (no resolution needed).
    reader: Any
    model: type[CaseEvent] | None


class LocalSerde:
    """Encode and decode with schema ids already known; never does I/O.

    ``schemas`` defaults to the shipped ``.avsc`` files (full name → schema).
    """

    def __init__(self, schemas: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        source = local_schemas() if schemas is None else schemas
        self.schemas: dict[str, dict[str, Any]] = {k: dict(v) for k, v in source.items()}
        self._parsed: dict[str, Any] = {}
        self._forms: dict[str, str] = {}
        self._writers: dict[str, _Writer] = {}
        self._readers: dict[int, _Reader] = {}

    def parsed(self, avro_name: str) -> Any:
        """The fastavro-parsed local schema of an event type (parsed once)."""
        parsed = self._parsed.get(avro_name)
        if parsed is None:
            try:
                schema = self.schemas[avro_name]
            except KeyError:
                raise RecordRejected(
                    f"no local schema for event type {avro_name!r}",
                    field="avro_name", value=avro_name, error_type="unknown-event-type",
                ) from None
            parsed = parse_schema(schema)
            self._parsed[avro_name] = parsed
            self._forms[avro_name] = resolution_form(schema)
        return parsed

    def bind_writer(self, avro_name: str, schema_id: int) -> None:
        """Encode ``avro_name`` with its local schema under registry id ``schema_id``."""
        parsed = self.parsed(avro_name)
        schema = self.schemas[avro_name]
        self._writers[avro_name] = _Writer(schema_id, parsed, _PREFIX.pack(MAGIC_BYTE, schema_id),
                                           _compile_writer(schema),
                                           _compile_writer(schema, instances=True))
        if schema_id not in self._readers:
            self.bind_reader(schema_id, self.schemas[avro_name])

    def bind_reader(self, schema_id: int, writer_schema: Any) -> None:
        """Decode records of id ``schema_id``, written with ``writer_schema``."""
        if not isinstance(writer_schema, dict) or "name" not in writer_schema:
            raise RecordRejected(
                f"schema id {schema_id} is not a named Avro record",
                field="schema_id", value=schema_id, error_type="unknown-event-type",
            )
        avro_name = full_name(writer_schema)
        writer = parse_schema(writer_schema)
        reader: Any = None
        if avro_name in self.schemas:
            local = self.parsed(avro_name)
            if resolution_form(writer_schema) != self._forms[avro_name]:
                reader = local
        self._readers[schema_id] = _Reader(avro_name, writer, reader, EVENT_TYPES.get(avro_name))

    def writer_id(self, avro_name: str) -> int | None:
        """The schema id records of ``avro_name`` are encoded with, if bound."""
        writer = self._writers.get(avro_name)
        return None if writer is None else writer.schema_id

    def writer_prefix(self, avro_name: str) -> bytes | None:
        """The Confluent framing (magic byte, schema id) records of ``avro_name`` start
        with, if bound: what a compiled encoder outside this class must write first."""
        writer = self._writers.get(avro_name)
        return None if writer is None else bytes(writer.prefix)

    def knows_reader(self, schema_id: int) -> bool:
        """True once records of this id can be decoded without the registry."""
        return schema_id in self._readers

    def encode_dict(self, avro_name: str, record: Mapping[str, Any]) -> bytes:
        """Confluent-format bytes of a plain record (fastavro types: datetimes, dates…)."""
        writer = self._writers.get(avro_name)
        if writer is None:
            raise UnknownSchemaError(avro_name=avro_name)
        if writer.compiled is not None:
            out: bytearray | None = bytearray(writer.prefix)
            try:
                writer.compiled(record, out)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - anything unusual: fastavro decides below
                out = None
            if out is not None:
                return bytes(out)
        buffer = BytesIO()
        buffer.write(writer.prefix)
        try:
            schemaless_writer(buffer, writer.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise RecordRejected(
                f"{avro_name} record does not fit its schema: {exc}",
                field=avro_name, value=None, error_type="unencodable",
            ) from exc
        return buffer.getvalue()

    def encode(self, event: CaseEvent) -> bytes:
        """Confluent-format bytes of an event model.

        Written straight from the model's fields by the instance-mode writer (no
        ``to_avro()`` dict); anything it does not handle takes ``encode_dict(to_avro())``,
        so bytes and errors are those of the dict path."""
        avro_name = event.avro_name
        writer = self._writers.get(avro_name)
        if writer is not None and writer.instances is not None:
            out: bytearray | None = bytearray(writer.prefix)
            try:
                writer.instances(event, out)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - anything unusual: the dict path decides
                out = None
            if out is not None:
                return bytes(out)
        return self.encode_dict(avro_name, event.to_avro())

    def serialize(self, event: CaseEvent) -> SerializedEvent:
        """Key, value and CloudEvents headers of an event, ready for a producer."""
        record = event.to_avro()
        value = self.encode_dict(event.avro_name, record)
        return SerializedEvent(
            event.kafka_key(), value, cloudevent_headers(event.avro_name, record)
        )

    def serialize_dict(self, avro_name: str, record: Mapping[str, Any]) -> SerializedEvent:
        """Key, value and CloudEvents headers of a plain record."""
        value = self.encode_dict(avro_name, record)
        return SerializedEvent(
            str(record["case_id"]).encode(), value, cloudevent_headers(avro_name, record)
        )

    def _decode(self, data: bytes) -> tuple[_Reader, dict[str, Any]]:
        schema_id = schema_id_of(data)
        entry = self._readers.get(schema_id)
        if entry is None:
            raise UnknownSchemaError(schema_id=schema_id)
        buffer = BytesIO(data)
        buffer.seek(_PREFIX.size)
        try:
            record: dict[str, Any] = schemaless_reader(  # type: ignore[assignment]
                buffer, entry.writer, entry.reader
            )
        except Exception as exc:  # fastavro raises anything on garbage bytes
            raise RecordRejected(
                f"cannot decode {entry.avro_name} (schema id {schema_id}): {exc!r}",
                field="value", value=data[:32].hex(), error_type="undecodable",
            ) from exc
        if buffer.tell() != len(data):
            raise RecordRejected(
                f"{len(data) - buffer.tell()} trailing bytes after the {entry.avro_name} "
                f"record (schema id {schema_id})",
                field="value", value=data[:32].hex(), error_type="undecodable",
            )
        return entry, record

    def decode_raw(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(full Avro name, record as fastavro returns it) of Confluent-format bytes."""
        entry, record = self._decode(data)
        return entry.avro_name, record

    def decode(self, data: bytes) -> CaseEvent:
        """The event model of Confluent-format bytes."""
        entry, record = self._decode(data)
        if entry.model is None:
            raise RecordRejected(
                f"event type {entry.avro_name!r} has no model in this version of the hub",
                field="ce_type", value=entry.avro_name, error_type="unknown-event-type",
            )
        # construct() is what from_avro() does, minus a classmethod call that costs a
        # noticeable share of decoding a small record.
        return construct(entry.model, record, owned=True)


class AvroSerde:
    """Async serde against a registry: registers (or looks up) each local schema once.

    ``register=False`` only looks schemas up, for consumers and producers whose
    credentials may not register (production registries are usually read-only for them).
    """

    def __init__(
        self,
        registry: SchemaRegistryClient,
        *,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
        register: bool = True,
    ) -> None:
        self.registry = registry
        self.local = LocalSerde(schemas)
        self.register = register

    async def prepare(self, avro_names: list[str] | None = None) -> dict[str, int]:
        """Register or look up the schemas of ``avro_names`` (default: all), up front."""
        return {name: await self.schema_id(name) for name in avro_names or list(self.local.schemas)}

    async def schema_id(self, avro_name: str) -> int:
        """The registry id of the local schema of ``avro_name`` (registered if allowed)."""
        known = self.local.writer_id(avro_name)
        if known is not None:
            return known
        self.local.parsed(avro_name)  # unknown type: rejected before any I/O
        schema = self.local.schemas[avro_name]
        subject = subject_for(avro_name)
        schema_id: int | None = None
        if self.register:
            try:
                schema_id = await self.registry.register(subject, schema)
            except RegistryRequestError as exc:
                if exc.status_code not in _REGISTRATION_REFUSED:
                    raise
                log.info("the registry refuses registrations from this client (%s): "
                         "looking schemas up instead", exc.status_code)
                self.register = False
        if schema_id is None:
            found = await self.registry.lookup(subject, schema)
            if found is None:
                raise _not_registered(avro_name, subject)
            schema_id = found.schema_id
        log.info("schema %s has registry id %s", avro_name, schema_id)
        self.local.bind_writer(avro_name, schema_id)
        return schema_id

    async def _ensure_reader(self, data: bytes) -> None:
        schema_id = schema_id_of(data)
        if self.local.knows_reader(schema_id):
            return
        try:
            writer_schema = await self.registry.get_schema(schema_id)
        except SchemaNotFoundError as exc:
            raise RecordRejected(
                f"schema id {schema_id} is unknown to the registry",
                field="schema_id", value=schema_id, error_type="unknown-schema-id",
            ) from exc
        self.local.bind_reader(schema_id, writer_schema)

    async def encode(self, event: CaseEvent) -> bytes:
        """Confluent-format bytes of an event model."""
        if self.local.writer_id(event.avro_name) is None:
            await self.schema_id(event.avro_name)
        return self.local.encode(event)

    async def encode_dict(self, avro_name: str, record: Mapping[str, Any]) -> bytes:
        """Confluent-format bytes of a plain record."""
        if self.local.writer_id(avro_name) is None:
            await self.schema_id(avro_name)
        return self.local.encode_dict(avro_name, record)

    async def serialize(self, event: CaseEvent) -> SerializedEvent:
        """Key, value and CloudEvents headers of an event."""
        if self.local.writer_id(event.avro_name) is None:
            await self.schema_id(event.avro_name)
        return self.local.serialize(event)

    async def serialize_dict(self, avro_name: str, record: Mapping[str, Any]) -> SerializedEvent:
        """Key, value and CloudEvents headers of a plain record."""
        if self.local.writer_id(avro_name) is None:
            await self.schema_id(avro_name)
        return self.local.serialize_dict(avro_name, record)

    async def decode(self, data: bytes) -> CaseEvent:
        """The event model of Confluent-format bytes (writer schema fetched once per id)."""
        try:
            return self.local.decode(data)
        except UnknownSchemaError:
            await self._ensure_reader(data)
            return self.local.decode(data)

    async def decode_raw(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(full Avro name, record dict) of Confluent-format bytes."""
        try:
            return self.local.decode_raw(data)
        except UnknownSchemaError:
            await self._ensure_reader(data)
            return self.local.decode_raw(data)


class SyncAvroSerde:
    """Blocking twin of :class:`AvroSerde` (the CLI calls synchronously)."""

    def __init__(
        self,
        registry: SyncSchemaRegistryClient,
        *,
        schemas: Mapping[str, Mapping[str, Any]] | None = None,
        register: bool = True,
    ) -> None:
        self.registry = registry
        self.local = LocalSerde(schemas)
        self.register = register

    def prepare(self, avro_names: list[str] | None = None) -> dict[str, int]:
        """Register or look up the schemas of ``avro_names`` (default: all), up front."""
        return {name: self.schema_id(name) for name in avro_names or list(self.local.schemas)}

    def schema_id(self, avro_name: str) -> int:
        """The registry id of the local schema of ``avro_name`` (registered if allowed)."""
        known = self.local.writer_id(avro_name)
        if known is not None:
            return known
        self.local.parsed(avro_name)
        schema = self.local.schemas[avro_name]
        subject = subject_for(avro_name)
        schema_id: int | None = None
        if self.register:
            try:
                schema_id = self.registry.register(subject, schema)
            except RegistryRequestError as exc:
                if exc.status_code not in _REGISTRATION_REFUSED:
                    raise
                log.info("the registry refuses registrations from this client (%s): "
                         "looking schemas up instead", exc.status_code)
                self.register = False
        if schema_id is None:
            found = self.registry.lookup(subject, schema)
            if found is None:
                raise _not_registered(avro_name, subject)
            schema_id = found.schema_id
        log.info("schema %s has registry id %s", avro_name, schema_id)
        self.local.bind_writer(avro_name, schema_id)
        return schema_id

    def _ensure_reader(self, data: bytes) -> None:
        schema_id = schema_id_of(data)
        if self.local.knows_reader(schema_id):
            return
        try:
            writer_schema = self.registry.get_schema(schema_id)
        except SchemaNotFoundError as exc:
            raise RecordRejected(
                f"schema id {schema_id} is unknown to the registry",
                field="schema_id", value=schema_id, error_type="unknown-schema-id",
            ) from exc
        self.local.bind_reader(schema_id, writer_schema)

    def encode(self, event: CaseEvent) -> bytes:
        """Confluent-format bytes of an event model."""
        if self.local.writer_id(event.avro_name) is None:
            self.schema_id(event.avro_name)
        return self.local.encode(event)

    def encode_dict(self, avro_name: str, record: Mapping[str, Any]) -> bytes:
        """Confluent-format bytes of a plain record."""
        if self.local.writer_id(avro_name) is None:
            self.schema_id(avro_name)
        return self.local.encode_dict(avro_name, record)

    def serialize(self, event: CaseEvent) -> SerializedEvent:
        """Key, value and CloudEvents headers of an event."""
        if self.local.writer_id(event.avro_name) is None:
            self.schema_id(event.avro_name)
        return self.local.serialize(event)

    def serialize_dict(self, avro_name: str, record: Mapping[str, Any]) -> SerializedEvent:
        """Key, value and CloudEvents headers of a plain record."""
        if self.local.writer_id(avro_name) is None:
            self.schema_id(avro_name)
        return self.local.serialize_dict(avro_name, record)

    def decode(self, data: bytes) -> CaseEvent:
        """The event model of Confluent-format bytes (writer schema fetched once per id)."""
        try:
            return self.local.decode(data)
        except UnknownSchemaError:
            self._ensure_reader(data)
            return self.local.decode(data)

    def decode_raw(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(full Avro name, record dict) of Confluent-format bytes."""
        try:
            return self.local.decode_raw(data)
        except UnknownSchemaError:
            self._ensure_reader(data)
            return self.local.decode_raw(data)
