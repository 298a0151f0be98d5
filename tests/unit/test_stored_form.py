"""Events kept in the engine's tables leave their empty fields out (streams._events
``stored_form``): that is lossless only while no event model has a nullable field that is
required or defaults to something else than None. These tests keep it so."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from hub.models import CaseEvent
from hub.models.examples import example_events
from streams._events import EVENT_TYPES, decode_stored, stored_form


def _models() -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.add(model)
        for field in model.model_fields.values():
            for argument in typing.get_args(field.annotation) or (field.annotation,):
                for inner in typing.get_args(argument) or (argument,):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        walk(inner)

    for event_type in EVENT_TYPES.values():
        walk(event_type)
    return found


def test_no_event_model_has_a_nullable_field_that_an_absent_value_would_change() -> None:
    offending = []
    for model in _models():
        for name, field in model.model_fields.items():
            arguments = typing.get_args(field.annotation)
            if field.annotation is not type(None) and type(None) not in arguments:
                continue
            if field.is_required() or field.get_default(call_default_factory=True) is not None:
                offending.append(f"{model.__name__}.{name}")
    assert len(_models()) > len(EVENT_TYPES)  # the nested models (parties, ...) are walked
    assert offending == []


def test_every_example_event_reads_back_equal_from_its_stored_form() -> None:
    events: list[CaseEvent] = list(example_events().values())
    assert {type(event) for event in events} >= {EVENT_TYPES[name] for name in (
        "cn.liangfa.events.PenaltyCaseRecorded", "cn.liangfa.events.CaseReferred")}
    stored = [stored_form(event) for event in events]
    assert any(None in item[2].values() for item in [
        [e.event_id, e.avro_name, e.model_dump(mode="json")] for e in events])
    assert all(None not in item[2].values() for item in stored)
    assert decode_stored(stored) == events
