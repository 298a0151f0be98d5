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
import time
import unicodedata
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "HUB_NAMESPACE",
    "PROVINCE_CODES",
    "case_id_for",
    "content_hash",
    "content_hash_safe",
    "credit_code_check_char",
    "credit_code_problem",
    "division_code_problem",
    "event_id_for",
    "identifier_key",
    "is_valid_credit_code",
    "is_valid_division_code",
    "is_valid_resident_id",
    "resident_id_check_char",
    "resident_id_problem",
    "sole_trader_placeholder",
]

_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_VALUES = {c: i for i, c in enumerate(CREDIT_CODE_ALPHABET)}
# ASCII digits spelled out and fullmatch: ``\d`` matches any Unicode digit (full-width,
# Arabic-Indic), and ``$`` matches before a final newline.
_CREDIT_RE = re.compile(rf"[{CREDIT_CODE_ALPHABET}]{{18}}")
_DIGITS = frozenset("0123456789")
_CHINA_TZ = ZoneInfo("Asia/Shanghai")

#: Province-level codes (the first two digits) of GB/T 2260 《中华人民共和国行政区划代码》:
#: 11-15 (Beijing … Inner Mongolia), 21-23 (Liaoning … Heilongjiang), 31-37 (Shanghai …
#: Shandong), 41-46 (Henan … Hainan), 50-54 (Chongqing … Tibet), 61-65 (Shaanxi …
#: Xinjiang), 71 Taiwan, 81 Hong Kong, 82 Macao. The shared domain notes do not list
#: them; the standard is the source. A code outside them routes to no unit.
PROVINCE_CODES = frozenset(
    f"{code}" for first, last in ((11, 15), (21, 23), (31, 37), (41, 46), (50, 54),
                                  (61, 65), (71, 71), (81, 82))
    for code in range(first, last + 1))
#: Address codes a resident-ID-shaped number may start with besides the provinces: 83,
#: the residence permits of Taiwan residents (港澳台居民居住证, 国务院办公厅
#: 《港澳台居民居住证申领发放办法》 2018), numbered like a resident ID (Hong Kong and
#: Macao residents' permits use 81 and 82, already provinces). Agencies file them in the
#: ID number column; refusing them would dead-letter real people.
_ID_ADDRESS_PREFIXES = PROVINCE_CODES | {"83"}
#: Earliest birth year accepted in a resident ID. The 18-digit number (GB 11643-1999) is
#: issued to living residents; someone born before 1900 would be over 125 in 2025, older
#: than anyone ever verified (122), so an earlier year is a typo (1799 for 1979), not a
#: party. Not later than today (China date): nobody is penalised before being born.
EARLIEST_BIRTH_YEAR = 1900
#: GB 32100-2015 登记管理部门代码 (the first character): the standard's table assigns
#: 1 机构编制, 5 民政, 9 工商, Y 其他 and, in later assignments, further digits and
#: letters (3 司法行政 for law firms, N 农业 …). The shared domain notes do not list the
#: table and the public lists disagree on the later assignments, so only what no list
#: assigns is refused: 0 (the 双公示 sole-trader placeholder's 17 zeros are the one
#: sanctioned use of a leading 0, see :func:`sole_trader_placeholder`).
_UNASSIGNED_REGISTRATION_DEPARTMENTS = frozenset("0")

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


def _ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also takes full-width and other scripts' digits."""
    return bool(text) and _DIGITS.issuperset(text)


@lru_cache(maxsize=16_384)
def _resident_id_shape(value: str) -> tuple[str | None, date | None]:
    """What is wrong with an ID number apart from the clock (problem, birth date).

    Cached (rows repeat people); the comparison with today is not, so that a process
    running past midnight does not keep yesterday's answer.
    """
    if len(value) != 18:
        return f"{len(value)} characters, not 18", None
    first17, check = value[:17], value[17].upper()
    if not _ascii_digits(first17) or check not in _RESIDENT_CHECK:
        if (value.isdigit() or first17.isdigit()) and not value.isascii():
            return "digits other than ASCII 0-9 (full-width or another script's)", None
        return "not 17 digits 0-9 and a check character 0-9 or X", None
    if first17[:2] not in _ID_ADDRESS_PREFIXES:
        return f"address code {first17[:6]} has no province {first17[:2]} (GB/T 2260)", None
    text = first17[6:14]
    try:
        born = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return f"birth date {text} is not a date", None
    if born.year < EARLIEST_BIRTH_YEAR:
        return f"birth date {text} is before {EARLIEST_BIRTH_YEAR}", None
    expected = resident_id_check_char(first17)
    if check != expected:
        return (f"check character {value[17]} does not match, GB 11643-1999 gives "
                f"{expected}"), None
    return None, born


_today: tuple[float, date] = (0.0, date.min)


def _china_today() -> date:
    """Today in China, read from the clock at most once a minute: every resident ID of
    every row and event asks, and reading the clock in a zone was most of the check."""
    global _today
    moment = time.monotonic()
    if moment >= _today[0]:
        _today = (moment + 60.0, datetime.now(_CHINA_TZ).date())
    return _today[1]


def resident_id_problem(value: str) -> str | None:
    """What makes ``value`` no 居民身份证号码 (GB 11643-1999), or None when it is one.

    The 18 characters are a 6-digit address code (GB/T 2260, a province that exists),
    an 8-digit birth date YYYYMMDD (a real date, from 1900, not after today in China),
    a 3-digit sequence and the check character (0-9 or X; a lower-case x is the same
    character). ASCII digits only: a full-width number is how an agency's system typed
    it, not another person, and is refused rather than stored as a second spelling.
    """
    problem, born = _resident_id_shape(value)
    if problem is None and born is not None:
        today = _china_today()
        if born > today:
            problem = f"birth date {born:%Y%m%d} is after today ({today:%Y%m%d})"
    return problem


def is_valid_resident_id(value: str) -> bool:
    """True for a resident ID number :func:`resident_id_problem` finds nothing wrong with."""
    return resident_id_problem(value) is None


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
def credit_code_problem(value: str, *, allow_placeholder: bool = False) -> str | None:
    """What makes ``value`` no 统一社会信用代码 (GB 32100-2015), or None when it is one.

    Layout: registration department (1), institution type (1), the registering
    authority's GB/T 2260 division code (6 digits), organisation code (9), check (1).
    Case is not significant (the models store the upper-case form). The sole-trader
    placeholder is accepted only where the 双公示 format allows it (``allow_placeholder``).
    """
    code = value.upper()
    if allow_placeholder and code == sole_trader_placeholder():
        return None
    if len(code) != 18:
        return f"{len(value)} characters, not 18"
    if not _CREDIT_RE.fullmatch(code):
        return f"a character outside {CREDIT_CODE_ALPHABET}"
    if code[0] in _UNASSIGNED_REGISTRATION_DEPARTMENTS:
        return f"registration department code {code[0]} is assigned to no registering body"
    if not _ascii_digits(code[2:8]):
        return f"division code part {code[2:8]} (characters 3-8) is not 6 digits"
    expected = credit_code_check_char(code[:17])
    if code[17] != expected:
        return (f"check character {value[17]} does not match, GB 32100-2015 gives "
                f"{expected}")
    return None


def is_valid_credit_code(value: str, *, allow_placeholder: bool = False) -> bool:
    """True for a 统一社会信用代码 :func:`credit_code_problem` finds nothing wrong with."""
    return credit_code_problem(value, allow_placeholder=allow_placeholder) is None


def division_code_problem(value: str) -> str | None:
    """What makes ``value`` no GB/T 2260 行政区划代码, or None when it is one: six ASCII
    digits (a full-width code was stored as typed and routed to no unit) whose first two
    are a province that exists (:data:`PROVINCE_CODES`)."""
    if len(value) != 6 or not _ascii_digits(value):
        return "not 6 ASCII digits 0-9"
    if value[:2] not in PROVINCE_CODES:
        return f"no province {value[:2]} in GB/T 2260"
    return None


def is_valid_division_code(value: str) -> bool:
    """True for a division code :func:`division_code_problem` finds nothing wrong with."""
    return division_code_problem(value) is None


_WHITESPACE = re.compile(r"\s+")


def identifier_key(value: str) -> str:
    """A party identifier as the hub compares and keys it (penalty history, feedback
    matching, the view's party search): full-width folded (NFKC), no whitespace, upper
    case.

    The same person must give the same key whichever spelling an export used: a
    lower-case x check character, full-width digits or a padded column made two parties
    of one, and a third 非法行医 penalty counted one prior instead of two. Stored events
    keep the spelling they were validated with (their ids are hashes of it); only the
    key is normalised, so events written before this rule still find their party. For a
    well-formed identifier (ASCII, upper case, no spaces) the key is the value itself,
    so keys already stored do not change.
    """
    if value.isascii() and value.isalnum():
        return value.upper()  # nearly every identifier: no folding, no space to take out
    text = value if value.isascii() else unicodedata.normalize("NFKC", value)
    return _WHITESPACE.sub("", text).upper()


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
