"""Mapping configuration: what a preset or an inline ``mapping:`` block may say.

These are the pydantic models a connector's configuration is checked against when it
loads, so that an unknown event type, a field the event does not have or a key without a
rule stops the connector at start-up, naming its path, rather than refusing every row
later. Nothing here runs per row: :mod:`connectors.mapping.rules` compiles these models
into the callables that do. ``plausibility.yaml`` (next to the package) holds the
defaults of :class:`Plausibility`, as data an operator can read without Python.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.mapping.conversions import Conversion
from hub.errors import MappingError
from hub.models import EVENT_TYPES, CaseEvent

__all__ = [
    "CaseKey",
    "DispatchSpec",
    "FieldRule",
    "MappingSpec",
    "OrderRule",
    "Plausibility",
    "merge_mappings",
]


class FieldRule(BaseModel):
    """How one target field (dotted path, e.g. ``parties.0.name``) gets its value.

    ``column`` (or the first non-empty of ``columns``) is read from the row; ``value`` is a
    constant (``{unit}`` and ``{connector_id}`` are substituted). ``codes`` maps source
    codes to target values (unknown codes fall to ``default`` or reject the row when
    ``strict_codes``); ``split`` turns one cell into a list.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str | None = None
    columns: tuple[str, ...] = ()
    value: Any = None
    convert: Conversion = "text"
    formats: tuple[str, ...] = ()
    codes: dict[str, Any] = Field(default_factory=dict)
    strict_codes: bool = False
    otherwise: Any = None
    split: str | None = None
    default: Any = None
    required: bool = False
    known_codes: Literal["violation_types"] | None = None
    #: The field this one's column used to fill, for event ids: the value is hashed under
    #: that field's name when it is empty, and left out of the hash when it has a value.
    #: A field split off another (货值金额 from 违法经营额) then keeps the ids of every row
    #: read before the split: a cumulative export read again is no "correction".
    hash_as: str | None = None

    @model_validator(mode="after")
    def _has_a_source(self) -> FieldRule:
        if self.column is None and not self.columns and self.value is None \
                and self.default is None:
            raise ValueError("give column, columns, value or default")
        if self.hash_as is not None and "." in self.hash_as:
            raise ValueError("hash_as names a top-level field")
        return self

    def source_columns(self) -> tuple[str, ...]:
        return ((self.column,) if self.column else ()) + self.columns


class CaseKey(BaseModel):
    """Which mapped fields make the case id: the owning unit's code and its case number.

    The case number is the first non-empty of ``number_fields`` (e.g. the decision number,
    else the agency's case number: the hub's case-id rule). ``unit_field`` names a target
    field holding the owning unit's code; without it (or when it is empty) the connector's
    own unit owns the case. When every number field is empty, the first non-empty of
    ``fallback_number_fields`` is used under the connector's own unit (police feedback
    quoting only the police's own case number: the matcher re-keys it later).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit_field: str | None = None
    number_fields: tuple[str, ...] = Field(min_length=1)
    fallback_number_fields: tuple[str, ...] = ()


class OrderRule(BaseModel):
    """Field ``later`` may not fall on a day before field ``earlier`` (China time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    later: str
    earlier: str
    reason: str


# The package is one directory below ``connectors/``, where the file has always been
# (and what the wheel ships with the ``connectors`` package).
_PLAUSIBILITY_FILE = Path(__file__).parent.parent / "plausibility.yaml"


class Plausibility(BaseModel):
    """Values no real export holds, refused with their reason (``plausibility.yaml``).

    ``earliest_date`` bounds every date and date-time conversion, ``amount_ceiling_fen``
    every amount conversion; ``order`` rules compare two mapped top-level fields by
    calendar day. Defaults come from ``connectors/plausibility.yaml``; a mapping's
    ``plausibility:`` block replaces them key by key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    earliest_date: date
    earliest_date_reason: str
    amount_ceiling_fen: int = Field(gt=0)
    amount_ceiling_reason: str
    order: tuple[OrderRule, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**_plausibility_defaults(), **data}
        return data


@functools.cache
def _plausibility_defaults() -> dict[str, Any]:
    loaded = yaml.safe_load(_PLAUSIBILITY_FILE.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise MappingError(f"{_PLAUSIBILITY_FILE} is not a mapping")
    return loaded


class MappingSpec(BaseModel):
    """A whole mapping: event type, stream, case and natural keys, and field rules.

    A field whose name starts with ``_`` is a helper: it feeds the case or natural key but
    is not part of the event (a source record id, say).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: str
    stream: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    source_system: str = "agency export"
    case_key: CaseKey
    natural_key: tuple[str, ...] = Field(min_length=1)
    fields: dict[str, FieldRule] = Field(min_length=1)
    plausibility: Plausibility = Field(default_factory=lambda: Plausibility.model_validate({}))

    @model_validator(mode="after")
    def _names_are_known(self) -> MappingSpec:
        problems: list[str] = []
        model = _resolve_event_type(self.event_type)
        if model is None:
            problems.append(f"event_type: unknown event type {self.event_type!r}")
        else:
            for name in self.fields:
                if name.startswith("_"):
                    continue  # a helper: used for keys, not part of the event
                top = name.split(".", 1)[0]
                if top not in model.model_fields:
                    problems.append(f"fields.{name}: {model.__name__} has no field {top!r}")
        for name in (*self.natural_key, *self.case_key.number_fields,
                     *self.case_key.fallback_number_fields):
            if name not in self.fields:
                problems.append(f"{name!r} is a key but has no rule in fields")
        if self.case_key.unit_field and self.case_key.unit_field not in self.fields:
            problems.append(f"case_key.unit_field {self.case_key.unit_field!r} has no rule")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def model_class(self) -> type[CaseEvent]:
        model = _resolve_event_type(self.event_type)
        if model is None:
            raise MappingError(f"unknown event type {self.event_type!r}")
        return model


class DispatchSpec(BaseModel):
    """Several event types in one feed, told apart by a column (``record_type``, ``type``).

    ``common`` is merged under every route (routes override it field by field, as an
    inline mapping overrides a preset). A record whose discriminator has no route is
    rejected to the DLQ (``unknown_record_type``): nothing is dropped silently.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    discriminator: str
    routes: dict[str, MappingSpec] = Field(min_length=1)
    #: The route of a record whose discriminator column is absent or empty, so that a
    #: preset can gain a record type while exports written before it map as they did.
    default_route: str | None = None

    @model_validator(mode="after")
    def _known_default(self) -> DispatchSpec:
        if self.default_route is not None and self.default_route not in self.routes:
            raise ValueError(f"default_route {self.default_route!r} is not a route")
        return self

    @model_validator(mode="before")
    @classmethod
    def _merge_common(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        common = data.pop("common", None) or {}
        stream = data.get("stream")
        routes = data.get("routes")
        if isinstance(routes, dict):
            data["routes"] = {
                str(key): merge_mappings({**common, "stream": stream}, route)
                if isinstance(route, dict) else route
                for key, route in routes.items()}
        return data


def _resolve_event_type(name: str) -> type[CaseEvent] | None:
    if name in EVENT_TYPES:
        return EVENT_TYPES[name]
    for full_name, model in EVENT_TYPES.items():
        if full_name.rsplit(".", 1)[-1] == name:
            return model
    return None


def merge_mappings(preset: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """An inline mapping over a preset: scalars replace, ``fields`` merge rule by rule.

    A field rule set to ``null`` in the override removes the preset's rule.
    """
    merged = dict(preset)
    for key, value in override.items():
        if key == "fields" and isinstance(value, Mapping):
            fields = dict(merged.get("fields") or {})
            for name, rule in value.items():
                if rule is None:
                    fields.pop(name, None)
                else:
                    fields[name] = rule
            merged["fields"] = fields
        else:
            merged[key] = value
    return merged
