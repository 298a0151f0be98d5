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
    "WithheldRecords",
    "avro_record_fields",
    "avro_text_fields",
    "is_text",
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


class MinorsWithheld(Sourced):
    """A record naming a natural person younger than ``below_age`` at a date it carries
    is not published at all: masking leaves the case, and the case identifies the child."""

    below_age: int = Field(ge=1, le=30)


class DisclosureEnded(Sourced):
    """A record past its ``field`` date (公示截止期, the last day of public disclosure) is
    not published, and a state published before is withdrawn when it is read again (the
    engine emits a case's state again when its period ends:
    ``streams.engine.evaluation.CaseEvaluation.publish_state``)."""

    field: NonEmptyText


class WithheldRecords(RuleModel):
    """Records that do not reach the public feeds at all (not masked: withheld whole)."""

    minors: MinorsWithheld
    disclosure_ended: DisclosureEnded


class MaskingRules(Sourced):
    """The whole masking file."""

    version: Literal[1] = 1
    feeds: tuple[PublicFeed, ...] = Field(min_length=1)
    natural_person_categories: frozenset[str] = Field(min_length=1)
    fields: tuple[FieldMask, ...] = Field(min_length=1)
    #: Text fields published as they are, in any record (ids, codes, document numbers,
    #: the names of public bodies, categorical texts).
    keep_everywhere: frozenset[str] = frozenset()
    #: Text fields published as they are, by record (short name).
    keep: dict[str, frozenset[str]] = Field(default_factory=dict)
    #: Text fields withheld in any record (judged: they are what an unjudged field is).
    withhold_everywhere: frozenset[str] = frozenset()
    #: Event ids, in any record: replaced by a keyed pseudonym on the public feeds.
    pseudonymise_everywhere: frozenset[str] = frozenset()
    compound_surnames: frozenset[str] = frozenset()
    withhold_records: WithheldRecords

    def kept(self, record: str, field: str) -> bool:
        """Whether the text field ``record.field`` is published unchanged."""
        return field in self.keep_everywhere or field in self.keep.get(record, ())

    def unclassified_fields(self) -> list[str]:
        """Text fields of the shipped schemas no rule masks and no ``keep`` names.

        They are withheld (fail closed): a field a schema gains, or a new event type,
        reaches subscribers only once someone has judged it. The shipped file classifies
        every field (a test holds it to that); an operator's own file may lag behind a
        release, which withholds rather than refuses to start.
        """
        masked = {(rule.record, rule.field) for rule in self.fields}
        return sorted(f"{record}.{field}" for record, fields in avro_text_fields().items()
                      for field in fields
                      if (record, field) not in masked and not self.kept(record, field)
                      and field not in self.withhold_everywhere
                      and field not in self.pseudonymise_everywhere)

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
        known_text = avro_text_fields()
        for record, fields in sorted(self.keep.items()):
            for field in sorted(fields):
                if field not in known_text.get(record, ()):
                    problems.append(f"keep: {record}.{field} is not a text field of the "
                                    "shipped schemas")
        for rule in self.fields:
            if self.kept(rule.record, rule.field):
                problems.append(f"{rule.record}.{rule.field} is both masked and kept")
        for field in sorted(self.withhold_everywhere & self.keep_everywhere):
            problems.append(f"{field} is both withheld and kept everywhere")
        for field in sorted(self.pseudonymise_everywhere
                            & (self.keep_everywhere | self.withhold_everywhere)):
            problems.append(f"{field} is pseudonymised and also kept or withheld")
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


def is_text(field_type: Any) -> bool:
    """Whether an Avro field type holds text of its own: a string, or a union, array or
    map of strings (a record's text is its own fields')."""
    if field_type == "string":
        return True
    if isinstance(field_type, list):
        return any(is_text(branch) for branch in field_type)
    if isinstance(field_type, dict):
        kind = field_type.get("type")
        if kind == "array":
            return is_text(field_type["items"])
        if kind == "map":
            return is_text(field_type["values"])
        if kind == "string":
            return True
    return False


@cache
def _record_fields() -> dict[str, tuple[tuple[str, Any], ...]]:
    """Short record name → its fields' names and types, over the shipped schemas."""
    from hub.schemas import local_schemas

    records: dict[str, tuple[tuple[str, Any], ...]] = {}

    def walk(schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                walk(branch)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind == "record":
                records[str(schema["name"]).rsplit(".", 1)[-1]] = tuple(
                    (str(field["name"]), field["type"]) for field in schema["fields"])
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


def avro_record_fields() -> dict[str, frozenset[str]]:
    """Short record name → field names, over every record the shipped schemas define."""
    return {record: frozenset(name for name, _ in fields)
            for record, fields in _record_fields().items()}


def avro_text_fields() -> dict[str, frozenset[str]]:
    """Short record name → its text fields (:func:`is_text`), over the shipped schemas."""
    return {record: frozenset(name for name, kind in fields if is_text(kind))
            for record, fields in _record_fields().items()}


_FILE = RuleFile("masking.yaml", MASKING_ENV, MaskingRules)


def load_masking(path: str | os.PathLike[str] | None = None) -> MaskingRules:
    """The masking rules in force (argument, ``LIANGFA_RULES_MASKING``, rules dir, shipped)."""
    return _FILE.load(path)
