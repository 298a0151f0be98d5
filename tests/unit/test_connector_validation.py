"""The compiled validator (``connectors.validation``) never disagrees with pydantic.

For every event type's example and for each field of it set to hostile values (wrong
types, bad codes, future dates, naive instants, unknown enum symbols, missing or extra
keys), the compiled validator either gives up (``None``: pydantic then validates and
words the error) or returns the instance pydantic returns: same values, same types,
same zones, same nested instances, same fields set. A row pydantic refuses is never
accepted by it.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from connectors.config import available_presets, load_preset
from connectors.validation import compile_validator
from hub.models import CHINA_TZ, EVENT_TYPES
from hub.models.examples import example_events

_NOW = datetime.now(CHINA_TZ)
_HOSTILE: list[Any] = [
    None, "", " ", "x", "UNKNOWN", "LEGAL_PERSON", "11429901030089405N", "11429901030089405A",
    "00000000000000000X", "429901", "42990", "3.5", "-1", 0, -1, 7, 2**70, 1.5, True, False,
    Decimal("1"), b"x", date(2024, 3, 15), date(2099, 1, 1), datetime(2024, 3, 15),
    datetime(2024, 3, 15, tzinfo=CHINA_TZ), datetime(2024, 3, 15, tzinfo=UTC),
    _NOW + timedelta(days=2), "2024-03-15", "2024-03-15T10:00:00+08:00", [], [{}],
    [{"name": "某"}], [{"name": ""}], {}, {"name": "某"},
    [{"name": "某", "id_type": "RESIDENT_ID", "id_number": "429901198101010011"}],
    [{"name": "某", "id_type": "RESIDENT_ID", "id_number": "429901198101010012"}],
    ["FINE"], ["NOPE"], [{"name": "废物", "value": "3.5", "unit": "t"}],
    [{"name": "废物", "value": "3,5", "unit": "t"}],
]


def _signature(value: Any) -> Any:
    """A value with its types and zones spelled out (``==`` ignores both)."""
    if isinstance(value, BaseModel):
        return (type(value), sorted(value.model_fields_set),
                {k: _signature(v) for k, v in value.__dict__.items()})
    if isinstance(value, list):
        return [_signature(v) for v in value]
    if isinstance(value, dict):
        return {k: _signature(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return (datetime, value.isoformat(), repr(value.tzinfo))
    return (type(value), value)


@functools.cache
def _compiled(model: type[BaseModel]) -> Any:
    compiled = compile_validator(model)
    assert compiled is not None, model.__name__
    return compiled


def _same_as_pydantic(model: type[BaseModel], payload: dict[str, Any]) -> bool:
    """True when the compiled validator answered (not just gave up)."""
    compiled = _compiled(model)
    got = compiled(payload)
    try:
        want = model.model_validate(payload)
    except ValidationError:
        assert got is None, f"{model.__name__} accepted what pydantic refuses: {payload}"
        return False
    if got is None:
        return False
    assert _signature(got) == _signature(want)
    return True


@pytest.mark.parametrize("avro_name", sorted(example_events()))
def test_compiled_validation_equals_pydantic_on_hostile_fields(avro_name: str) -> None:
    model = EVENT_TYPES[avro_name]
    example = example_events()[avro_name]
    payload = example.model_dump()
    assert _same_as_pydantic(model, payload), "the valid example takes the compiled path"
    answered = 0
    for field in model.model_fields:
        without = {k: v for k, v in payload.items() if k != field}
        answered += _same_as_pydantic(model, without)
        for value in _HOSTILE:
            answered += _same_as_pydantic(model, {**payload, field: value})
    assert _same_as_pydantic(model, {**payload, "unexpected": "x"}) is False
    assert answered > len(model.model_fields)  # optional fields: many compiled answers


def test_every_event_type_a_preset_maps_is_compiled() -> None:
    names = set()
    for preset in available_presets():
        raw = load_preset(preset)
        routes = raw.get("routes") or {"": raw}
        names |= {{**(raw.get("common") or {}), **route}["event_type"]
                  for route in routes.values()}
    assert len(names) >= 10
    for name in names:
        model = next(m for full, m in EVENT_TYPES.items() if full.endswith(f".{name}"))
        assert compile_validator(model) is not None, name
