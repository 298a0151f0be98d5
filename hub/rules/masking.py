"""Masking of personal information for the public feeds (``masking.yaml``).

Downstream subscribers read ``lf.public.*`` copies of the case topics (DESIGN.md). Which
fields hold personal information, and how each is masked, is a legal judgement that an
operator must be able to read and change without touching code, so it lives here as data;
``streams/masking_logic.py`` applies it.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any, Literal

from pydantic import Field

from hub.rules._common import NonEmptyText, Sourced
from hub.rules._loader import RuleFile, RuleModel

__all__ = [
    "MASKING_ENV",
    "FieldMask",
    "MaskingRules",
    "PublicFeed",
    "avro_record_fields",
    "load_masking",
]

MASKING_ENV = "LIANGFA_RULES_MASKING"

MaskKind = Literal["surname", "id_number", "withhold"]


class PublicFeed(RuleModel):
    """An internal topic and the public topic that carries its masked copy."""

    internal: NonEmptyText
    public: NonEmptyText = Field(pattern=r"^lf\.public\.[a-z0-9][a-z0-9._-]*$")


class FieldMask(RuleModel):
    """One field of one Avro record (short name) and how it is masked."""

    record: NonEmptyText
    field: NonEmptyText
    mask: MaskKind
    #: Only for ``Party.name``: organisations' names are public (双公示), people's are not.
    natural_persons_only: bool = False


class MaskingRules(Sourced):
    """The whole masking file."""

    version: Literal[1] = 1
    feeds: tuple[PublicFeed, ...] = Field(min_length=1)
    natural_person_categories: frozenset[str] = Field(min_length=1)
    fields: tuple[FieldMask, ...] = Field(min_length=1)
    compound_surnames: frozenset[str] = frozenset()

    def cross_check(self) -> list[str]:
        """Every masked field exists in the shipped schemas; no field is masked twice."""
        problems: list[str] = []
        known = avro_record_fields()
        seen: set[tuple[str, str]] = set()
        for index, rule in enumerate(self.fields):
            where = f"fields[{index}]"
            if rule.record not in known:
                problems.append(f"{where}: no Avro record named {rule.record!r}")
            elif rule.field not in known[rule.record]:
                problems.append(f"{where}: record {rule.record} has no field {rule.field!r}")
            if (rule.record, rule.field) in seen:
                problems.append(f"{where}: {rule.record}.{rule.field} is masked twice")
            seen.add((rule.record, rule.field))
            if rule.natural_persons_only and rule.record != "Party":
                problems.append(f"{where}: natural_persons_only applies to Party fields only")
        internal = [feed.internal for feed in self.feeds]
        if len(set(internal)) != len(internal):
            problems.append("feeds: an internal topic is published twice")
        return problems

    def public_topic(self, internal: str) -> str | None:
        """The public topic of an internal one (None: not published)."""
        for feed in self.feeds:
            if feed.internal == internal:
                return feed.public
        return None


@cache
def avro_record_fields() -> dict[str, frozenset[str]]:
    """Short record name → field names, over every record the shipped schemas define."""
    from hub.schemas import local_schemas

    records: dict[str, frozenset[str]] = {}

    def walk(schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                walk(branch)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind == "record":
                records[str(schema["name"]).rsplit(".", 1)[-1]] = frozenset(
                    str(field["name"]) for field in schema["fields"])
                for field in schema["fields"]:
                    walk(field["type"])
            elif kind == "array":
                walk(schema["items"])
            elif kind == "map":
                walk(schema["values"])
            elif isinstance(kind, dict | list):
                walk(kind)

    for schema in local_schemas().values():
        walk(schema)
    return records


_FILE = RuleFile("masking.yaml", MASKING_ENV, MaskingRules)


def load_masking(path: str | os.PathLike[str] | None = None) -> MaskingRules:
    """The masking rules in force (argument, ``LIANGFA_RULES_MASKING``, rules dir, shipped)."""
    return _FILE.load(path)
