"""Masking personal information out of a decoded event for the public feeds.

The rules (``hub/rules/masking.yaml``) name fields by Avro record and field; a decoded
record is a plain dict that no longer says which record type a nested dict is, so each
event schema is compiled once into a walker that follows only the paths leading to a
masked field (a penalty's ``parties[*]``, a case state's ``parties[*]``…). It fails
closed: a text field that no rule masks and no ``keep`` names is withheld, so a field a
schema gains later reaches subscribers only once someone has judged it. The masked
record keeps its schema: downstream subscribers decode it with the same registry schema,
and its event id becomes a keyed pseudonym (the same for the same event), so they
deduplicate and evolve exactly as internal consumers do. Records that must not be
published even masked are judged before masking (:mod:`streams.publication_logic`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from hub.rules.masking import FieldMask, MaskingRules, is_text
from hub.schemas import local_schemas

__all__ = ["PersonalDataMasker", "mask_id_number", "mask_name", "public_id"]

#: A mainland resident ID (居民身份证): its division code (GB/T 2260) starts with a
#: province's first digit, 1–6. Numbers of the same shape that start otherwise are other
#: documents: 81/82/83 the residence permits of Hong Kong, Macao and Taiwan residents,
#: 9 the foreign permanent resident ID card (2023), whose first digits say where the
#: holder comes from.
_RESIDENT_ID = re.compile(r"^[1-6]\d{16}[\dXx]$")
_GIVEN_NAME_MARK = "某"
#: Every document number other than a resident ID is masked to this many stars.
_MASKED_LENGTH = 18

#: Masks a record in place; returns how many values it changed.
_Walker = Callable[[dict[str, Any]], int]


def mask_name(name: str, compound_surnames: frozenset[str] = frozenset()) -> str:
    """张三 → 张某, 欧阳明 → 欧阳某: the surname stays, the given name becomes 某.

    A two-character name is one surname and one given name even when the two read as a
    compound surname (欧阳 may be 欧 + 阳): kept whole, it would be the whole name."""
    name = name.strip()
    if not name:
        return name
    compound = len(name) > 2 and name[:2] in compound_surnames
    surname = name[:2] if compound else name[:1]
    return surname + _GIVEN_NAME_MARK


def public_id(key: bytes, event_id: str) -> str:
    """The pseudonym of an event id on the public feeds: a UUID from a keyed hash, the
    same for the same id and key, and without the key no way back to the id (which is
    a hash of the unmasked event, see ``masking.yaml``)."""
    digest = hmac.new(key, event_id.encode("utf-8"), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def mask_id_number(number: str) -> str:
    """A mainland resident ID keeps its 6-digit division code (the birth date and serial
    go); any other document number (an 18-digit cross-border permit or foreign permanent
    resident ID included) is masked entirely, to a resident ID's length whatever its
    own: a passport's 9 characters, a Hong Kong or Macao permit's 11 and a Taiwan
    permit's 8 would otherwise tell which document a foreign or cross-border party
    holds, a fact that, beside a masked name and the case, narrows who it is."""
    number = number.strip()
    if _RESIDENT_ID.match(number):
        return number[:6] + "*" * 12
    return "*" * _MASKED_LENGTH if number else number


def _nullable(field_type: Any) -> bool:
    return isinstance(field_type, list) and "null" in field_type


def _is_array(field_type: Any) -> bool:
    branches = field_type if isinstance(field_type, list) else [field_type]
    return any(isinstance(b, dict) and b.get("type") == "array" for b in branches)


def _is_map(field_type: Any) -> bool:
    branches = field_type if isinstance(field_type, list) else [field_type]
    return any(isinstance(b, dict) and b.get("type") == "map" for b in branches)


class PersonalDataMasker:
    """Masks the personal information of decoded events, one compiled walker per type."""

    def __init__(self, rules: MaskingRules,
                 schemas: Mapping[str, Mapping[str, Any]] | None = None, *,
                 id_key: bytes | None = None) -> None:
        """``id_key``: the key of the event ids' pseudonyms (the public feeds); without
        one the ids stay (an operator reading a dead letter must find its event)."""
        self.rules = rules
        self.id_key = id_key
        self._by_record: dict[str, list[FieldMask]] = {}
        for rule in rules.fields:
            self._by_record.setdefault(rule.record, []).append(rule)
        self._walkers: dict[str, _Walker | None] = {}
        for avro_name, schema in (schemas or local_schemas()).items():
            self._walkers[avro_name] = self._compile(schema, {})

    def mask(self, avro_name: str, record: dict[str, Any]) -> int:
        """Mask ``record`` (a decoded ``avro_name``) in place; returns values changed.

        An event type the masker was not compiled for is refused rather than passed on
        unmasked: a new type must be reviewed before it reaches subscribers.
        """
        try:
            walker = self._walkers[avro_name]
        except KeyError:
            raise LookupError(f"no masking plan for {avro_name!r}: not published") from None
        return walker(record) if walker is not None else 0

    # ------------------------------------------------------------------ compilation

    def _compile(self, schema: Any, named: dict[str, Any]) -> _Walker | None:
        """A walker for a record schema, or None when nothing under it is masked."""
        full_name = str(schema["name"])
        if "." not in full_name and schema.get("namespace"):
            full_name = f"{schema['namespace']}.{full_name}"
        short_name = full_name.rsplit(".", 1)[-1]
        named[full_name] = named[short_name] = schema
        steps: list[_Walker] = []
        rules = {rule.field: rule for rule in self._by_record.get(short_name, [])}
        for field in schema["fields"]:
            name, field_type = str(field["name"]), field["type"]
            rule = rules.get(name)
            if rule is not None:
                steps.append(self._leaf(name, field_type, rule))
                continue
            if name in self.rules.pseudonymise_everywhere:
                if self.id_key is not None:
                    steps.append(_pseudonymise(name, self.id_key))
                continue
            if is_text(field_type) and not self.rules.kept(short_name, name):
                steps.append(_withhold(name, field_type))  # not judged yet: fail closed
                continue
            nested = self._compile_type(field_type, named)
            if nested is not None:
                steps.append(_descend(name, nested))
        if not steps:
            return None

        def walk(record: dict[str, Any]) -> int:
            return sum(step(record) for step in steps)
        return walk

    def _compile_type(self, field_type: Any, named: dict[str, Any]) -> Callable[[Any], int] | None:
        """A function masking a value of ``field_type`` (record, array, map, union)."""
        if isinstance(field_type, list):
            branches = [w for w in (self._compile_type(b, named) for b in field_type) if w]
            if not branches:
                return None
            if len(branches) == 1:
                return branches[0]
            return lambda value: sum(branch(value) for branch in branches)
        if isinstance(field_type, str):
            referenced = named.get(field_type) or named.get(field_type.rsplit(".", 1)[-1])
            if referenced is None:
                return None  # a primitive
            walker = self._record_walker(referenced, named)
            return _on_dict(walker) if walker else None
        if isinstance(field_type, dict):
            kind = field_type.get("type")
            if kind == "record":
                walker = self._compile(field_type, named)
                return _on_dict(walker) if walker else None
            if kind == "array":
                item = self._compile_type(field_type["items"], named)
                return _each(item) if item else None
            if kind == "map":
                value = self._compile_type(field_type["values"], named)
                return _each_value(value) if value else None
            if isinstance(kind, dict | list | str):
                return self._compile_type(kind, named) if kind not in _PRIMITIVES else None
        return None

    def _record_walker(self, schema: Any, named: dict[str, Any]) -> _Walker | None:
        # A named record seen before in this schema: compile it again (cheap, at start-up).
        return self._compile(schema, dict(named))

    def _leaf(self, name: str, field_type: Any, rule: FieldMask) -> _Walker:
        compound = self.rules.compound_surnames
        natural = self.rules.natural_person_categories
        if rule.mask == "withhold":
            return _withhold(name, field_type)
        masker: Callable[[str], str] = (
            (lambda text: mask_name(text, compound)) if rule.mask == "surname"
            else mask_id_number)
        only_people = rule.natural_persons_only

        def mask_leaf(record: dict[str, Any]) -> int:
            value = record.get(name)
            if not value:
                return 0
            # A party without a category is masked: only a known organisation is not.
            category = record.get("category")
            if only_people and category is not None and str(category) not in natural:
                return 0
            if isinstance(value, list):
                record[name] = [masker(item) if isinstance(item, str) else item
                                for item in value]
                return len(value)
            record[name] = masker(str(value))
            return 1
        return mask_leaf


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes",
                         "string"})


def _pseudonymise(name: str, key: bytes) -> _Walker:
    """Replace the event id (or ids) in ``name`` by their :func:`public_id`."""
    def pseudonymise(record: dict[str, Any]) -> int:
        value = record.get(name)
        if isinstance(value, str) and value:
            record[name] = public_id(key, value)
            return 1
        if isinstance(value, list):
            record[name] = [public_id(key, item) if isinstance(item, str) else item
                            for item in value]
            return len(value)
        return 0
    return pseudonymise


def _withhold(name: str, field_type: Any) -> _Walker:
    """Empty ``name``: null where the field allows it, else an empty list, map or text."""
    empty: Any = (None if _nullable(field_type) else [] if _is_array(field_type)
                  else {} if _is_map(field_type) else "")

    def withhold(record: dict[str, Any]) -> int:
        if record.get(name) in (None, "", [], {}):
            return 0
        record[name] = empty
        return 1
    return withhold


def _descend(name: str, nested: Callable[[Any], int]) -> _Walker:
    def step(record: dict[str, Any]) -> int:
        value = record.get(name)
        return nested(value) if value is not None else 0
    return step


def _on_dict(walker: _Walker) -> Callable[[Any], int]:
    return lambda value: walker(value) if isinstance(value, dict) else 0


def _each(item: Callable[[Any], int]) -> Callable[[Any], int]:
    return lambda value: sum(item(v) for v in value) if isinstance(value, list) else 0


def _each_value(item: Callable[[Any], int]) -> Callable[[Any], int]:
    return (lambda value: sum(item(v) for v in value.values())
            if isinstance(value, dict) else 0)
