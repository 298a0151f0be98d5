"""Value conversions: the text of one non-empty cell becomes the value a field holds.

Apart from the rules that call them because each is a pure function of the text, the
conversion and the formats, which is what lets a compiled rule remember its results
(:mod:`connectors.mapping.rules`). Money goes through :class:`~decimal.Decimal` only:
an amount becomes integer fen exactly or the row is refused, never rounded through a
float or the default context's 28 digits. A value that does not convert raises
:class:`~hub.errors.RecordRejected` naming the field and the text, which the row's
dead-letter record carries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, Rounded, Underflow
from typing import Any, Literal, cast

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
#: No figure in an export has a digit beyond 10^40 or below 10^-40. Checked on the
#: exponent before any arithmetic: ``1e999990`` takes seconds to multiply or make an int
#: of, and ``1e9999999`` overflows the default context.
_MAX_EXPONENT = 40
#: Wide enough for every number within the bound above times a factor, so arithmetic is
#: exact; the traps turn any rounding there would still be into an error, never a result.
_EXACT = Context(prec=4 * _MAX_EXPONENT, Emax=4 * _MAX_EXPONENT, Emin=-4 * _MAX_EXPONENT,
                 traps=[InvalidOperation, Inexact, Rounded, Overflow, Underflow])


def _decimal(text: str, field: str, too_large: str = "not_a_number") -> Decimal:
    cleaned = text.replace(",", "").replace("，", "").strip()
    try:
        number = Decimal(cleaned)  # the constructor is exact, whatever the context
    except InvalidOperation:
        raise RecordRejected(f"{field}: {text!r} is not a number", field=field, value=text,
                             error_type="not_a_number") from None
    if not number.is_finite():
        raise RecordRejected(f"{field}: {text!r} is not a finite number", field=field,
                             value=text, error_type="not_a_number")
    exponent = cast(int, number.as_tuple().exponent)  # a finite number's is an int
    if number.adjusted() > _MAX_EXPONENT:
        raise RecordRejected(f"{field}: {text!r} is larger than any figure of an export "
                             f"(over 10^{_MAX_EXPONENT})", field=field, value=text,
                             error_type=too_large)
    if exponent < -_MAX_EXPONENT:
        raise RecordRejected(f"{field}: {text!r} has more than {_MAX_EXPONENT} decimal "
                             "places", field=field, value=text, error_type="not_a_number")
    return number


def _to_fen(text: str, field: str, factor: Decimal, unit: str) -> int:
    fen = _EXACT.multiply(_decimal(text, field, "implausible_amount"), factor)
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
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA_TZ)
    try:  # every later step converts it (China day, UTC instant): it must have both
        parsed.astimezone(CHINA_TZ)
        parsed.astimezone(UTC)
    except OverflowError:
        raise RecordRejected(f"{field}: {text!r} is outside the range of dates",
                             field=field, value=text, error_type="bad_datetime") from None
    return parsed


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
        return format(_decimal(text, field).normalize(_EXACT), "f")
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
