"""Identifiers: check digits of Chinese ID numbers and the hub's deterministic ids.

Check digits follow GB 11643-1999 (resident ID, ISO 7064 MOD 11-2) and GB 32100-2015
(统一社会信用代码, unified social credit code). Ids are deterministic so that re-reading
an export, or re-running a connector after a crash, yields the same ``case_id`` and
``event_id`` and therefore no duplicate downstream.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any

import orjson

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "HUB_NAMESPACE",
    "case_id_for",
    "content_hash",
    "content_hash_safe",
    "credit_code_check_char",
    "event_id_for",
    "is_valid_credit_code",
    "is_valid_division_code",
    "is_valid_resident_id",
    "resident_id_check_char",
    "sole_trader_placeholder",
]

_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUES = {c: i for i, c in enumerate(CREDIT_CODE_ALPHABET)}
_CREDIT_RE = re.compile(rf"^[{CREDIT_CODE_ALPHABET}]{{18}}$")
_RESIDENT_RE = re.compile(r"^\d{17}[\dX]$")

#: Namespace of every UUIDv5 the hub derives. Changing it changes every id: never do.
HUB_NAMESPACE = uuid.UUID("6f1c2a54-3b7e-5d2a-9c41-7a0e2b9d5f13")


@lru_cache(maxsize=65_536)
def resident_id_check_char(first17: str) -> str:
    """Check character of an 18-digit resident ID from its first 17 digits.

    Cached: an export repeats the same people and units on many rows, and connectors
    check every identifier of every row (pure function of its argument, so caching is safe).
    """
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(map(operator.mul, map(int, first17), _RESIDENT_WEIGHTS))
    return _RESIDENT_CHECK[total % 11]


@lru_cache(maxsize=16_384)
def is_valid_resident_id(value: str) -> bool:
    """True for an 18-character resident ID whose check character matches."""
    value = value.upper()
    if not _RESIDENT_RE.match(value):
        return False
    return resident_id_check_char(value[:17]) == value[17]


@lru_cache(maxsize=65_536)
def credit_code_check_char(first17: str) -> str:
    """Check character of a 统一社会信用代码 from its first 17 characters (cached, as above)."""
    if len(first17) != 17 or not _CREDIT_VALUES.keys() >= set(first17):
        raise ValueError(f"expected 17 characters of the credit-code alphabet, got {first17!r}")
    total = sum(map(operator.mul, map(_CREDIT_VALUES.__getitem__, first17), _CREDIT_WEIGHTS))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def sole_trader_placeholder() -> str:
    """The code a sole trader without a credit code files: 17 zeros and X (双公示 format)."""
    return "0" * 17 + "X"


@lru_cache(maxsize=16_384)
def is_valid_credit_code(value: str, *, allow_placeholder: bool = False) -> bool:
    """True for a 统一社会信用代码 with a matching check character.

    The sole-trader placeholder is accepted only where the disclosure format allows it.
    """
    value = value.upper()
    if allow_placeholder and value == sole_trader_placeholder():
        return True
    if not _CREDIT_RE.match(value):
        return False
    return credit_code_check_char(value[:17]) == value[17]


def is_valid_division_code(value: str) -> bool:
    """Six digits, GB/T 2260 administrative division code shape (province part non-zero)."""
    return len(value) == 6 and value.isdigit() and value[:2] != "00"


#: The hex digit of a UUID's 17th nibble once the RFC 4122 variant bits (10xx) are set.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _uuid5(prefix: Any, name: str) -> str:
    """``str(uuid.uuid5(HUB_NAMESPACE, prefix_text + name))``, the same text, 4-5 times
    cheaper: ``prefix`` is a SHA-1 already fed the namespace and the prefix (copied, not
    recomputed) and the UUID is cut from the digest's hex text, its version nibble
    written as ``5`` and its variant nibble looked up, without a ``UUID`` object."""
    digest = prefix.copy()
    digest.update(name.encode("utf-8"))
    text = digest.hexdigest()
    return (f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{_VARIANT_DIGIT[text[16]]}"
            f"{text[17:20]}-{text[20:32]}")


_CASE_PREFIX = hashlib.sha1(HUB_NAMESPACE.bytes + b"case:", usedforsecurity=False)
_EVENT_PREFIX = hashlib.sha1(HUB_NAMESPACE.bytes + b"event:", usedforsecurity=False)


def case_id_for(unit_code: str, case_number: str) -> str:
    """Deterministic case id: UUIDv5 of the owning unit code and its case/decision number.

    Whitespace is normalised so that an export that pads a column does not fork a case.
    """
    return _uuid5(_CASE_PREFIX, f"{unit_code.strip().upper()}|{' '.join(case_number.split())}")


#: Types whose orjson form is byte for byte the form ``json.dumps`` gives them below
#: (dates and Decimals go through ``default=str`` in both). Floats are not among them:
#: the two print exponents and non-finite values differently.
_ORJSON_SAFE = frozenset({str, int, bool, type(None), date, datetime, Decimal})
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _orjson_safe(value: Any) -> bool:
    """True when orjson writes ``value`` exactly as the json module does (see above)."""
    if type(value) is dict:
        if not set(map(type, value)) <= _STR_ONLY:
            return False
        items = value.values()
    else:
        items = value
    if set(map(type, items)) <= _ORJSON_SAFE:  # the common case, scanned in C
        return True
    for item in items:
        kind = type(item)
        if kind in _ORJSON_SAFE:
            continue
        if kind is dict or kind is list or kind is tuple:
            if not _orjson_safe(item):
                return False
        elif not (isinstance(item, Enum) and isinstance(item, str)):
            return False
    return True


_STR_ONLY = frozenset({str})


def content_hash_safe(value: Any) -> bool:
    """True when ``value`` (a dict, list or tuple, at any depth) holds only the types
    :func:`content_hash` may skip checking (``checked=True``)."""
    return _orjson_safe(value)


def _json_text(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


_TEXT_LIMIT = 4096
_texts: dict[tuple[Any, ...], str] = {}


def _text_of(value: Any) -> str:
    """``str(value)``, what ``default=str`` writes for dates and instants, remembered:
    an export repeats a few dates on every row and ``str`` of an instant in a zone costs
    more than the rest of its JSON. The key holds type, zone and fold besides the value
    (equal instants in different zones, or either side of a DST fold, print differently)."""
    kind = type(value)
    if kind is datetime:
        key: tuple[Any, ...] = (value, kind, value.tzinfo, value.fold)
    elif kind is date:
        key = (value, kind)
    else:
        return str(value)
    text = _texts.get(key)
    if text is None:
        text = str(value)
        if len(_texts) < _TEXT_LIMIT:
            _texts[key] = text
    return text


def content_hash(payload: dict[str, Any], *, checked: bool = False) -> str:
    """Stable SHA-256 of a record's content (sorted keys, compact JSON, str() for others).

    The JSON text is the one ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, default=str)`` writes, so hashes (and the event ids made from
    them) do not change between versions. orjson writes it about 5 times faster for the
    types it renders identically (checked first); anything else takes the json module.
    ``checked=True`` skips that check (about a third of the cost) for a caller that
    guarantees every value, at any depth, is of those types (str, int, bool, None, date,
    datetime, Decimal, a str enum; dicts with str keys, lists, tuples): a connector
    mapping whose conversions and configured constants produce nothing else.
    """
    blob: bytes | None = None
    if checked or _orjson_safe(payload):
        try:
            blob = orjson.dumps(payload, default=_text_of, option=_ORJSON_OPTIONS)
        except TypeError:  # an integer beyond 64 bits, a lone surrogate, a non-str key
            blob = None
    if blob is None:
        blob = _json_text(payload)
    return hashlib.sha256(blob).hexdigest()


def event_id_for(source: str, natural_key: str, payload_hash: str) -> str:
    """Deterministic event id from source, natural key and content hash.

    The same row read twice gives the same id (deduplicated downstream); a corrected row
    (different content) gives a new id, so corrections are never mistaken for repeats.
    """
    return _uuid5(_EVENT_PREFIX, f"{source}|{natural_key}|{payload_hash}")
