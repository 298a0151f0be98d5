"""Bridge between the pydantic models and their Avro form.

Two jobs: say which Avro type a model field corresponds to (used by the drift test that
keeps ``schemas/*.avsc`` and ``hub.models`` in step, and to draft a schema for a new
event), and build models from decoded Avro quickly, without re-running validators, for
the decoder's hot path.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from pydantic import AwareDatetime

from hub.models.header import AVRO_NAMESPACE, AvroRecord, EventEnum

__all__ = [
    "avro_type_for",
    "construct",
    "deconstruct",
    "draft_schema",
    "enum_default_symbol",
]

_Record = TypeVar("_Record", bound=AvroRecord)
_Converter = Callable[[Any], Any]

_PRIMITIVES: dict[type, Any] = {
    str: "string",
    bool: "boolean",
    int: "long",
    float: "double",
    bytes: "bytes",
}
_TIMESTAMP = {"type": "long", "logicalType": "timestamp-micros"}
_DATE = {"type": "int", "logicalType": "date"}
_plans: dict[type[AvroRecord], _Plan] = {}
_dump_plans: dict[type[AvroRecord], tuple[tuple[str, _Converter], ...]] = {}


def enum_default_symbol() -> str:
    """The symbol every contract enum falls back to for symbols it does not know."""
    return "UNKNOWN"


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) with ``Annotated`` and ``X | None`` peeled off."""
    optional = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"only X | None unions map onto Avro here, got {annotation!r}")
            optional = True
            annotation = args[0]
            continue
        return annotation, optional


def _doc(obj: type) -> str:
    return " ".join(inspect.cleandoc(obj.__doc__ or "").split())


def avro_type_for(annotation: Any, defined: set[str]) -> Any:
    """The Avro type of a model field's annotation.

    ``defined`` holds named types already written in the schema being built: Avro allows
    one definition per name, later uses refer to it by name.
    """
    inner, optional = _unwrap(annotation)
    base = _non_null_type(inner, defined)
    return ["null", base] if optional else base


def _non_null_type(inner: Any, defined: set[str]) -> Any:
    origin = typing.get_origin(inner)
    if origin is list:
        (item,) = typing.get_args(inner)
        return {"type": "array", "items": avro_type_for(item, defined)}
    if origin is dict:
        key, value = typing.get_args(inner)
        if key is not str:
            raise TypeError(f"Avro maps have string keys, got {inner!r}")
        return {"type": "map", "values": avro_type_for(value, defined)}
    if inner is AwareDatetime or inner is datetime:
        return dict(_TIMESTAMP)
    if inner is date:
        return dict(_DATE)
    if isinstance(inner, type) and issubclass(inner, Enum):
        if inner.__name__ in defined:
            return inner.__name__
        defined.add(inner.__name__)
        return {
            "type": "enum",
            "name": inner.__name__,
            "doc": _doc(inner),
            "symbols": [member.value for member in inner],
            "default": enum_default_symbol(),
        }
    if isinstance(inner, type) and issubclass(inner, AvroRecord):
        if inner.__name__ in defined:
            return inner.__name__
        defined.add(inner.__name__)
        return _record(inner, defined)
    if inner in _PRIMITIVES:
        return _PRIMITIVES[inner]
    raise TypeError(f"no Avro mapping for {inner!r}")


def _record(model: type[AvroRecord], defined: set[str]) -> dict[str, Any]:
    fields: list[dict[str, Any]] = []
    for name, info in model.model_fields.items():
        field: dict[str, Any] = {
            "name": name,
            "type": avro_type_for(info.annotation, defined),
            "doc": info.description or "",
        }
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            field["default"] = default.value if isinstance(default, Enum) else default
        fields.append(field)
    return {"type": "record", "name": model.__name__, "doc": _doc(model), "fields": fields}


def draft_schema(model: type[AvroRecord]) -> dict[str, Any]:
    """An Avro schema drafted from a model: the starting point of a new ``.avsc`` file.

    The committed ``.avsc`` stays the contract; this only saves typing it.
    """
    schema = _record(model, {model.__name__})
    return {"type": "record", "name": model.__name__, "namespace": AVRO_NAMESPACE, **{
        k: v for k, v in schema.items() if k not in ("type", "name")
    }}


def _converter(annotation: Any) -> _Converter | None:
    inner, optional = _unwrap(annotation)
    base = _base_converter(inner)
    if base is None or not optional:
        return base

    def maybe(value: Any, convert: _Converter = base) -> Any:
        return None if value is None else convert(value)

    return maybe


def _base_converter(inner: Any) -> _Converter | None:
    origin = typing.get_origin(inner)
    if origin is list:
        item = _converter(typing.get_args(inner)[0])
        if item is None:
            return None

        def each(values: list[Any], convert: _Converter = item) -> list[Any]:
            return [convert(v) for v in values]

        return each
    if origin is dict:
        value_converter = _converter(typing.get_args(inner)[1])
        if value_converter is None:
            return None

        def each_value(
            mapping: dict[str, Any], convert: _Converter = value_converter
        ) -> dict[str, Any]:
            return {k: convert(v) for k, v in mapping.items()}

        return each_value
    if isinstance(inner, type) and issubclass(inner, EventEnum):
        members = dict(inner._value2member_map_)
        fallback = inner(enum_default_symbol())
        return lambda value: members.get(value, fallback)
    if isinstance(inner, type) and issubclass(inner, AvroRecord):
        model = inner
        return lambda value: construct(model, value)
    return None


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to turn a decoded record into a model: which fields need converting."""

    fields: tuple[tuple[str, _Converter | None], ...]
    names: frozenset[str]
    conversions: tuple[tuple[str, _Converter], ...]


def _plan(model: type[AvroRecord]) -> _Plan:
    plan = _plans.get(model)
    if plan is None:
        fields = tuple(
            (name, _converter(info.annotation)) for name, info in model.model_fields.items()
        )
        plan = _Plan(
            fields=fields,
            names=frozenset(name for name, _ in fields),
            conversions=tuple((name, c) for name, c in fields if c is not None),
        )
        _plans[model] = plan
    return plan


def construct(model: type[_Record], data: dict[str, Any], *, owned: bool = False) -> _Record:
    """Build ``model`` from schema-checked Avro data without running validators.

    Enums become enum members and nested records models, so the result behaves exactly
    like a validated instance. A complete record (what a decoder with the current schema
    yields) is assembled the way ``model_construct`` does it, converting only the fields
    that need it: ``model_construct``'s per-field default handling would dominate decoding
    time. An incomplete record goes through ``model_construct`` so missing fields take
    their model defaults. ``owned=True`` lets the model keep ``data`` itself (a decoder's
    fresh dict) instead of a copy.
    """
    plan = _plans.get(model) or _plan(model)
    if data.keys() != plan.names:
        values: dict[str, Any] = {}
        for name, convert in plan.fields:
            if name in data:
                value = data[name]
                values[name] = value if convert is None else convert(value)
        return typing.cast(_Record, model.model_construct(**values))
    values = data if owned else dict(data)
    for name, convert in plan.conversions:
        values[name] = convert(values[name])
    instance = model.__new__(model)
    _set = object.__setattr__
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(plan.names))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


def _dump_converter(annotation: Any) -> _Converter | None:
    """How to turn a field value into what fastavro writes (only nested records need it)."""
    inner, optional = _unwrap(annotation)
    base: _Converter | None = None
    origin = typing.get_origin(inner)
    if origin is list:
        item = _dump_converter(typing.get_args(inner)[0])
        if item is not None:
            def each(values: list[Any], convert: _Converter = item) -> list[Any]:
                return [convert(v) for v in values]

            base = each
    elif origin is dict:
        value_converter = _dump_converter(typing.get_args(inner)[1])
        if value_converter is not None:
            def each_value(
                mapping: dict[str, Any], convert: _Converter = value_converter
            ) -> dict[str, Any]:
                return {k: convert(v) for k, v in mapping.items()}

            base = each_value
    elif isinstance(inner, type) and issubclass(inner, AvroRecord):
        base = deconstruct
    if base is None or not optional:
        return base

    def maybe(value: Any, convert: _Converter = base) -> Any:
        return None if value is None else convert(value)

    return maybe


def deconstruct(instance: AvroRecord) -> dict[str, Any]:
    """The record as fastavro writes it, straight from the model's field values.

    Field values are already what fastavro takes (enum members are ``str``, instants
    aware datetimes), so only nested records need turning into dicts; this skips
    ``model_dump``'s general machinery on the encoder's hot path.
    """
    model = type(instance)
    plan = _dump_plans.get(model)
    if plan is None:
        plan = tuple(
            (name, converter)
            for name, info in model.model_fields.items()
            if (converter := _dump_converter(info.annotation)) is not None
        )
        _dump_plans[model] = plan
    values = dict(instance.__dict__)
    for name, convert in plan:
        values[name] = convert(values[name])
    return values
