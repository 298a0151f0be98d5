"""Pieces shared by the rule-file models: sources, event-type names, unit kinds."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Literal

from pydantic import Field

from hub.models import EVENT_TYPES, CaseEvent
from hub.rules._loader import RuleModel

__all__ = [
    "NonEmptyText",
    "Severity",
    "Sourced",
    "UnitKind",
    "duplicate_ids",
    "event_model",
    "event_model_names",
]

#: What a unit is, institutionally; roles refine it (unit_roles.yaml).
UnitKind = Literal[
    "agency", "police", "procuratorate", "court", "supervision", "justice", "political_legal"
]

Severity = Literal["INFO", "WARNING", "CRITICAL"]

NonEmptyText = Annotated[str, Field(min_length=1)]


class Sourced(RuleModel):
    """A rule that names the legal text it rests on; ``verified`` is False when unchecked.

    Every rule carries its source so that a prosecutor who sees an alert can cite the
    article, and an operator can tell a legal period from a local setting.
    """

    source: NonEmptyText
    verified: bool = True


@cache
def event_model_names() -> dict[str, type[CaseEvent]]:
    """Event models by class name (``CaseReferred``), as rule files spell them."""
    return {model.__name__: model for model in EVENT_TYPES.values()}


def event_model(name: str) -> type[CaseEvent] | None:
    """The model of an event class name, or None when the contract has no such event."""
    return event_model_names().get(name)


def duplicate_ids(path: str, ids: list[str]) -> list[str]:
    """Problems for ids used twice in the list at ``path`` (the second use is named)."""
    seen: dict[str, int] = {}
    problems: list[str] = []
    for index, value in enumerate(ids):
        if value in seen:
            problems.append(
                f"{path}[{index}].id: {value!r} already used by {path}[{seen[value]}]"
            )
        else:
            seen[value] = index
    return problems
