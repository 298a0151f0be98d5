"""Hypothesis strategies that generate records from an Avro schema itself.

Generating from the schema (rather than from the models) means every shape the contract
allows is exercised, including values the models' validators would refuse: the serde
must carry whatever the schema admits. The serde property tests (unit and integration)
import :func:`records_for`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.schemas import local_schemas

__all__ = ["records_for"]

_MIN_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
_MAX_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)
_TEXT = st.text(max_size=12)


def _instants() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=_MIN_INSTANT.replace(tzinfo=None),
        max_value=_MAX_INSTANT.replace(tzinfo=None),
        timezones=st.just(UTC),
    )


class _Builder:
    def __init__(self) -> None:
        self.named: dict[str, Any] = {}
        self.strategies: dict[str, st.SearchStrategy[Any]] = {}

    def build(self, schema: Any, namespace: str | None) -> st.SearchStrategy[Any]:
        if isinstance(schema, list):
            return st.one_of([self.build(branch, namespace) for branch in schema])
        if isinstance(schema, str):
            return self._named_or_primitive(schema, namespace)
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical in ("timestamp-micros", "timestamp-millis"):
            instants = _instants()
            if logical == "timestamp-millis":
                instants = instants.map(lambda t: t.replace(microsecond=t.microsecond // 1000
                                                            * 1000))
            return instants
        if logical == "date":
            return st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1))
        if kind == "array":
            return st.lists(self.build(schema["items"], namespace), max_size=3)
        if kind == "map":
            return st.dictionaries(_TEXT, self.build(schema["values"], namespace), max_size=3)
        if kind in ("record", "enum", "fixed"):
            return self._define(schema, namespace)
        return self.build(kind, namespace)

    def _named_or_primitive(self, name: str, namespace: str | None) -> st.SearchStrategy[Any]:
        primitives: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": st.integers(-(2**31), 2**31 - 1),
            "long": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "bytes": st.binary(max_size=12),
            "string": _TEXT,
        }
        if name in primitives:
            return primitives[name]
        qualified = name if "." in name or not namespace else f"{namespace}.{name}"
        key = qualified if qualified in self.named else name
        return st.deferred(lambda: self.strategies[key])

    def _define(self, schema: dict[str, Any], namespace: str | None) -> st.SearchStrategy[Any]:
        name = schema["name"]
        own = schema.get("namespace", namespace)
        qualified = name if "." in name or not own else f"{own}.{name}"
        self.named[qualified] = schema
        inner_namespace = qualified.rsplit(".", 1)[0] if "." in qualified else None
        strategy: st.SearchStrategy[Any]
        if schema["type"] == "enum":
            strategy = st.sampled_from(schema["symbols"])
        elif schema["type"] == "fixed":
            strategy = st.binary(min_size=schema["size"], max_size=schema["size"])
        else:
            strategy = st.fixed_dictionaries({
                field["name"]: self.build(field["type"], inner_namespace)
                for field in schema["fields"]
            })
        self.strategies[qualified] = strategy
        return strategy


def records_for(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Records that ``schema`` admits, as fastavro writes and reads them."""
    strategy: st.SearchStrategy[dict[str, Any]] = _Builder().build(schema, None)
    return strategy


@pytest.mark.parametrize("avro_name", sorted(local_schemas()))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_generated_records_are_valid_for_their_schema(avro_name, data):
    schema = local_schemas()[avro_name]
    record = data.draw(records_for(schema))
    assert fastavro.validate(record, fastavro.parse_schema(schema), raise_errors=True)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_recursive_and_union_schemas_generate(data):
    schema = {"type": "record", "name": "Node", "namespace": "cn.liangfa.tests", "fields": [
        {"name": "value", "type": ["null", "int", "string"]},
        {"name": "next", "type": ["null", "Node"], "default": None},
    ]}
    record = data.draw(records_for(schema))
    assert fastavro.validate(record, fastavro.parse_schema(schema), raise_errors=True)
