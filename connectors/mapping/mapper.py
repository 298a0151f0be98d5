"""The compiled mapper: a source row becomes a validated event under its Kafka key.

:class:`Mapper` puts the pieces of the package together for one connector: the columns
an export's headers name (:mod:`~connectors.mapping.columns`), the compiled field rules
(:mod:`~connectors.mapping.rules`), then the case and natural keys, the plausibility
order rules, the ids and content hash, and the event model's own validation.
:class:`DispatchMapper` chooses a mapper per record when one feed carries several event
types. Kept apart from the rules so that what a row becomes reads in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from connectors.mapping.columns import ColumnMatcher
from connectors.mapping.rules import (
    _ABSENT,
    _Apply,
    _compile_path,
    _compile_rule,
    _compile_rules,
    _is_plain,
    _plain_text,
    _Rule,
)
from connectors.mapping.spec import DispatchSpec, MappingSpec, OrderRule
from connectors.source import unencodable_path
from connectors.validation import compile_validator
from hub.errors import RecordRejected
from hub.identity import case_id_for, content_hash, content_hash_safe, event_id_for
from hub.models import CHINA_TZ, CaseEvent
from hub.models._avro import construct

__all__ = [
    "AnyMapper",
    "DispatchMapper",
    "MappedEvent",
    "Mapper",
    "build_mapper",
    "describe_validation_error",
]

_MISSING: Any = object()
#: Header sets a mapper compiles its own rules for (CSV/XLSX exports have one per file).
_PLAN_LIMIT = 64


@dataclass(slots=True)
class MappedEvent:
    """A validated event as its Avro record, and the Kafka key it goes under.

    The record is what the serde encodes; the pydantic model is built only when someone
    asks for :attr:`event` (a dry run, a test): the connector's hot path never needs it.
    """

    record: dict[str, Any]
    key: bytes
    model: type[CaseEvent]
    _event: CaseEvent | None = None

    @classmethod
    def of(cls, event: CaseEvent) -> MappedEvent:
        """From a model pydantic validated."""
        return cls(event.to_avro(), event.kafka_key(), type(event), event)

    @property
    def event(self) -> CaseEvent:
        if self._event is None:
            self._event = construct(self.model, self.record)
        return self._event

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])

    @property
    def avro_name(self) -> str:
        return self.model.avro_name


class Mapper:
    """A compiled mapping for one connector: ``map(row, reference)`` → :class:`MappedEvent`.

    Every row is validated with the model's own checks: by the validator
    :mod:`connectors.validation` generates from the model (the same validator functions,
    no pydantic machinery per row), and by pydantic itself for any row that one is not
    sure of, so a refused row carries pydantic's error. In CPython the generated checks
    cost about what pydantic-core costs (~9 against ~10.5 µs per 双公示 row): the row's
    35 fields and nested party are walked either way. The mapped
    event is kept as its Avro record, the form the serde encodes. ``validate=False``
    builds the record without any validator: only for a mapping whose conversions already
    guarantee types.
    """

    def __init__(self, spec: MappingSpec, *, unit: str, connector_id: str,
                 validate: bool = True) -> None:
        self.spec = spec
        self.unit = unit
        self.connector_id = connector_id
        self.model = spec.model_class()
        self.validate = validate
        # pydantic's checks as generated code (connectors.validation); a row it is not
        # sure of (a refused row above all) is validated by pydantic itself.
        self._compiled = compile_validator(self.model) if validate else None
        self._context = {"unit": unit, "connector_id": connector_id}
        self._setters = {name: _compile_path(name.split(".")) for name in spec.fields}
        self._rules: list[_Rule] = [
            (name, self._setters[name],
             _compile_rule(name, rule, self._context, spec.plausibility),
             not name.startswith("_"), rule.source_columns()[0] if _is_plain(rule) else None)
            for name, rule in spec.fields.items()]
        #: The plausibility rules' date orders this mapping can check (both fields mapped).
        self.order_rules = tuple(rule for rule in spec.plausibility.order
                            if rule.later in spec.fields and rule.earlier in spec.fields)
        case_key = spec.case_key
        keys = {*case_key.number_fields, *case_key.fallback_number_fields, *spec.natural_key}
        if case_key.unit_field:
            keys.add(case_key.unit_field)
        self._keys = keys
        self._apply = _compile_rules(self._rules, keys)
        self._plans: dict[tuple[Any, ...], _Apply | None] = {}
        # Conversions give only types the content hash's orjson path writes as the json
        # module does; configured constants and code tables could give others (a float).
        self.hash_checked = content_hash_safe([
            value for rule in spec.fields.values()
            for value in (rule.value, rule.default, rule.otherwise, *rule.codes.values())])
        #: (field, field it is hashed as): ``FieldRule.hash_as``, top-level fields only.
        self._hashed_as = tuple((name, rule.hash_as) for name, rule in spec.fields.items()
                                if rule.hash_as is not None and "." not in name)
        #: What event ids are derived from with the natural key (``event_id_for``).
        self.event_source = f"{unit}:{self.model.avro_name}"
        self._number_fields = case_key.number_fields
        self._fallback_fields = case_key.fallback_number_fields
        self._unit_field = case_key.unit_field
        self._natural_key = spec.natural_key
        self._source_system = spec.source_system
        self.matcher = ColumnMatcher(self.columns())

    def _plan(self, headers: tuple[Any, ...]) -> _Apply | None:
        """The rules compiled for one header set (an export's, decided once per file):
        each rule reads the one column of its synonyms this export has, under the
        header's own spelling, so a row is neither renamed nor searched synonym by
        synonym. Same values as the general path (the first non-empty of the rule's
        columns present, renamed as :class:`ColumnMatcher` does). ``None`` (the general
        path) once many header sets were seen (JSON records of varying shape)."""
        if len(self._plans) >= _PLAN_LIMIT:
            return None
        renames = self.matcher.renames(headers)
        actual: dict[str, Any] = {}
        for header in headers:
            actual.setdefault(renames.get(header, header), header)
        rules: list[_Rule] = []
        for name, rule in self.spec.fields.items():
            read = tuple(actual[c] for c in rule.source_columns() if c in actual)
            inline = read[0] if len(read) == 1 and _plain_text(rule) else None
            if not read and not rule.required:
                inline = _ABSENT  # a constant, a default or None: the same for every row
            rules.append((name, self._setters[name],
                          _compile_rule(name, rule, self._context, self.spec.plausibility,
                                        read),
                          not name.startswith("_"), inline))
        plan = self._plans[headers] = _compile_rules(rules, self._keys)
        return plan

    def columns(self) -> set[str]:
        """Every source column a rule of this mapping reads."""
        return {column for rule in self.spec.fields.values()
                for column in rule.source_columns()}

    @property
    def stream(self) -> str:
        return self.spec.stream

    def avro_names(self) -> list[str]:
        return [self.model.avro_name]

    def map(self, row: Mapping[str, Any], reference: str,
            recorded_at: datetime | None = None) -> MappedEvent:
        """Map and validate one row; raises RecordRejected / ValidationError on bad rows."""
        return MappedEvent.of(self.event(row, reference, recorded_at))

    def event(self, row: Mapping[str, Any], reference: str,
              recorded_at: datetime | None = None) -> CaseEvent:
        """:meth:`map` without the Avro record: the validated event model itself, which
        a mapping process encodes directly (:meth:`hub.serde.LocalSerde.encode`)."""
        return self.validated(self.payload(row, reference, recorded_at))

    def payload(self, row: Mapping[str, Any], reference: str,
                recorded_at: datetime | None = None) -> dict[str, Any]:
        """The first half of :meth:`event`: field rules, keys, plausibility, ids and
        content hash; the payload :meth:`validated` turns into the event. Apart so that a
        chunk can run each half over all its rows (``connectors.chunks.map_rows``)."""
        payload: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        headers = tuple(row)
        plan = self._plans.get(headers, _MISSING)
        if plan is _MISSING:
            plan = self._plan(headers)
        if plan is None:
            self._apply(self.matcher.resolve(row), payload, flat)
        else:
            plan(row, payload, flat)
        case_unit = self.unit
        case_number = ""
        # Plain loops, not next() over a generator: this runs for every row.
        for name in self._number_fields:
            if flat.get(name):
                case_number = str(flat[name])
                break
        if case_number:
            if self._unit_field and flat.get(self._unit_field):
                case_unit = str(flat[self._unit_field])
        else:
            for name in self._fallback_fields:
                if flat.get(name):
                    case_number = str(flat[name])
                    break
        if not case_number:
            raise RecordRejected("no case number: the case key fields are empty",
                                 field=self._number_fields[0], value="",
                                 error_type="missing_value")
        for order in self.order_rules:
            _check_order(order, payload, reference)
        natural_key = "|".join([str(flat.get(n) or "") for n in self._natural_key])
        try:
            case_id = case_id_for(case_unit, case_number)
            event_id = event_id_for(self.event_source, natural_key,
                                    content_hash(self._hashed(payload),
                                                 checked=self.hash_checked))
        except UnicodeEncodeError as exc:  # a lone surrogate from JSON (HTTP, SQL payload)
            field = unencodable_path(payload) or unencodable_path(flat) or "record"
            raise RecordRejected(f"{field}: text that is not valid Unicode ({exc.reason})",
                                 field=field, error_type="bad_encoding") from None
        # A mapped recorded_at (the agency system's entry time, what the entry-deadline
        # rule measures) is part of the content; otherwise the read time stands in for it.
        if payload.get("recorded_at") is None:
            payload["recorded_at"] = recorded_at or datetime.now(CHINA_TZ)
        payload["event_id"] = event_id
        payload["case_id"] = case_id
        payload["source_unit"] = self.unit
        payload["source_system"] = self._source_system
        payload["source_record"] = reference
        payload["connector_id"] = self.connector_id
        return payload

    def _hashed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload as its content hash sees it: a ``hash_as`` field under the name of
        the field it was split off, when that one is empty (event ids of rows read before
        the split), and not at all when that one has a value."""
        if not self._hashed_as:
            return payload
        hashed = payload
        for name, target in self._hashed_as:
            if name in hashed:
                if hashed is payload:
                    hashed = dict(payload)
                value = hashed.pop(name)
                if hashed.get(target) is None:
                    hashed[target] = value
        return hashed

    def validated(self, payload: dict[str, Any]) -> CaseEvent:
        """The second half of :meth:`event`: the model's checks on a :meth:`payload`."""
        if not self.validate:
            return self.model.from_avro(payload)
        event = self._compiled(payload) if self._compiled is not None else None
        if event is None:
            event = self.model.model_validate(payload)
        return event  # type: ignore[return-value]


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).date()
    return value if isinstance(value, date) else None


def _check_order(order: OrderRule, payload: Mapping[str, Any], reference: str) -> None:
    later, earlier = _day(payload.get(order.later)), _day(payload.get(order.earlier))
    if later is not None and earlier is not None and later < earlier:
        raise RecordRejected(
            f"{reference}: {order.later} {later} is before {order.earlier} {earlier}: "
            f"{order.reason}", field=order.later, value=later.isoformat(),
            error_type="implausible_order")


class DispatchMapper:
    """Maps each record with the route its discriminator column names."""

    def __init__(self, spec: DispatchSpec, *, unit: str, connector_id: str,
                 validate: bool = True) -> None:
        self.spec = spec
        self.discriminator = spec.discriminator
        self.routes = {key: Mapper(route, unit=unit, connector_id=connector_id,
                                   validate=validate) for key, route in spec.routes.items()}

    @property
    def stream(self) -> str:
        return self.spec.stream

    def avro_names(self) -> list[str]:
        return sorted({m.model.avro_name for m in self.routes.values()})

    def columns(self) -> set[str]:
        """Every source column a route reads, and the discriminator."""
        return {self.discriminator}.union(*(m.columns() for m in self.routes.values()))

    def route(self, row: Mapping[str, Any]) -> Mapper:
        """The route mapping this record (refused when its discriminator has none)."""
        value = row.get(self.discriminator)
        key = str(value).strip() if value is not None else ""
        if not key and self.spec.default_route is not None:
            key = self.spec.default_route
        mapper = self.routes.get(key)
        if mapper is None:
            raise RecordRejected(
                f"{self.discriminator}: {key!r} is not a known record type "
                f"({', '.join(sorted(self.routes))})", field=self.discriminator, value=key,
                error_type="unknown_record_type")
        return mapper

    def map(self, row: Mapping[str, Any], reference: str,
            recorded_at: datetime | None = None) -> MappedEvent:
        return self.route(row).map(row, reference, recorded_at)

    def event(self, row: Mapping[str, Any], reference: str,
              recorded_at: datetime | None = None) -> CaseEvent:
        """:meth:`Mapper.event` of the record's route."""
        return self.route(row).event(row, reference, recorded_at)


AnyMapper = Mapper | DispatchMapper


def build_mapper(spec: MappingSpec | DispatchSpec, *, unit: str, connector_id: str,
                 validate: bool = True) -> AnyMapper:
    """The compiled mapper of a plain or dispatching mapping."""
    if isinstance(spec, DispatchSpec):
        return DispatchMapper(spec, unit=unit, connector_id=connector_id, validate=validate)
    return Mapper(spec, unit=unit, connector_id=connector_id, validate=validate)


def describe_validation_error(error: ValidationError) -> tuple[str, str, str]:
    """First problem of a pydantic error as (field, reason, value) for DLQ headers."""
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error)}
    field = ".".join(str(part) for part in first.get("loc", ()))
    value = first.get("input")
    return field, str(first.get("msg", "")), "" if isinstance(value, dict) else str(value)
