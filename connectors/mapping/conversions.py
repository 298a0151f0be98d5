"""Value conversions: the text of one non-empty cell becomes the value a field holds.

Apart from the rules that call them because each is a pure function of the text, the
conversion and the formats, which is what lets a compiled rule remember its results
(:mod:`connectors.mapping.rules`). Money goes through :class:`~decimal.Decimal` only:
an amount becomes integer fen exactly or the row is refused, never rounded through a
float. A value that does not convert raises :class:`~hub.errors.RecordRejected` naming
the field and the text, which the row's dead-letter record carries.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from hub.errors import MappingError, RecordRejected
from hub.models import CHINA_TZ

__all__ = ["Conversion", "convert_value"]

Conversion = Literal[
    "text", "integer", "decimal", "wan_yuan_to_fen", "yuan_to_fen", "date", "datetime",
    "date_start", "boolean", "list", "present",
]

_DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d")
_DEFAULT_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S",
                             "%Y-%m-%d %H:%M", "%Y年%m月%d日 %H:%M", "%Y%m%d%H%M%S")
_TRUE = frozenset({"1", "true", "yes", "y", "是", "已生效", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "否", "未生效", "f"})
_FEN_PER_WAN_YUAN = Decimal(1_000_000)
_FEN_PER_YUAN = Decimal(100)


def _decimal(text: str, field: str) -> Decimal:
    cleaned = text.replace(",", "").replace("，", "").strip()
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise RecordRejected(f"{field}: {text!r} is not a number", field=field, value=text,
                             error_type="not_a_number") from None
    if not number.is_finite():
        raise RecordRejected(f"{field}: {text!r} is not a finite number", field=field,
                             value=text, error_type="not_a_number")
    return number


def _to_fen(text: str, field: str, factor: Decimal, unit: str) -> int:
    fen = _decimal(text, field) * factor
    if fen != fen.to_integral_value():
        raise RecordRejected(
            f"{field}: {text!r} {unit} is not a whole number of fen (分)", field=field,
            value=text, error_type="fraction_of_fen")
    return int(fen)


def _parse_date(text: str, field: str, formats: tuple[str, ...]) -> date:
    for pattern in formats or _DEFAULT_DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()  # noqa: DTZ007 - a date only
        except ValueError:
            continue
    if len(text) > 10 and text[10] in " T":  # a spreadsheet date cell with a midnight time
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            pass
    raise RecordRejected(f"{field}: {text!r} is not a date in a known format", field=field,
                         value=text, error_type="bad_date")


def _parse_datetime(text: str, field: str, formats: tuple[str, ...]) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None:
        for pattern in formats or _DEFAULT_DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(text, pattern)  # noqa: DTZ007 - zone added below
                break
            except ValueError:
                continue
    if parsed is None:
        try:
            return datetime.combine(_parse_date(text, field, formats), time(), CHINA_TZ)
        except RecordRejected:
            raise RecordRejected(f"{field}: {text!r} is not a date-time in a known format",
                                 field=field, value=text, error_type="bad_datetime") from None
    # Agency systems record China local time without a zone.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


def convert_value(text: str, conversion: Conversion, field: str,
                  formats: tuple[str, ...] = ()) -> Any:
    """Convert one non-empty cell; raises :class:`RecordRejected` naming field and value."""
    if conversion == "text" or conversion == "list":
        return text
    if conversion == "wan_yuan_to_fen":
        return _to_fen(text, field, _FEN_PER_WAN_YUAN, "万元")
    if conversion == "yuan_to_fen":
        return _to_fen(text, field, _FEN_PER_YUAN, "元")
    if conversion == "decimal":
        return format(_decimal(text, field).normalize(), "f")
    if conversion == "integer":
        number = _decimal(text, field)
        if number != number.to_integral_value():
            raise RecordRejected(f"{field}: {text!r} is not a whole number", field=field,
                                 value=text, error_type="not_an_integer")
        return int(number)
    if conversion == "date":
        return _parse_date(text, field, formats)
    if conversion == "date_start":
        return datetime.combine(_parse_date(text, field, formats), time(), CHINA_TZ)
    if conversion == "datetime":
        return _parse_datetime(text, field, formats)
    if conversion == "present":  # a non-empty cell means yes (e.g. an effective date)
        return True
    if conversion == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise RecordRejected(f"{field}: {text!r} is not yes/no", field=field, value=text,
                             error_type="not_a_boolean")
    raise MappingError(f"unknown conversion {conversion!r}")
