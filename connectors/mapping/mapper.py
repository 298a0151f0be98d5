"""Mapping: a source row (column → text) becomes a validated case event.

A mapping is data (a preset YAML or an inline ``mapping:`` block), compiled once into
plain Python callables so that the per-row work is dictionary look-ups and conversions.
Money is converted with :class:`~decimal.Decimal` only: a 双公示 amount in 万元 becomes
integer fen exactly or the row is rejected, never rounded through a float.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.validation import compile_validator
from hub.errors import MappingError, RecordRejected
from hub.identity import case_id_for, content_hash, content_hash_safe, event_id_for
from hub.models import CHINA_TZ, EVENT_TYPES, CaseEvent
from hub.models._avro import construct

__all__ = [
    "AnyMapper",
    "CaseKey",
    "ColumnMatcher",
    "Conversion",
    "DispatchMapper",
    "DispatchSpec",
    "FieldRule",
    "MappedEvent",
    "Mapper",
    "MappingSpec",
    "OrderRule",
    "Plausibility",
    "build_mapper",
    "convert_value",
    "merge_mappings",
    "normalize_header",
]

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
_INDEX_RE = re.compile(r"^\d+$")
# Conversions whose result is immutable and a pure function of the text: worth remembering.
_CACHED_CONVERSIONS = frozenset({"date", "date_start", "datetime", "wan_yuan_to_fen",
                                 "yuan_to_fen", "decimal", "integer", "boolean"})
_CACHE_LIMIT = 16_384


class FieldRule(BaseModel):
    """How one target field (dotted path, e.g. ``parties.0.name``) gets its value.

    ``column`` (or the first non-empty of ``columns``) is read from the row; ``value`` is a
    constant (``{unit}`` and ``{connector_id}`` are substituted). ``codes`` maps source
    codes to target values (unknown codes fall to ``default`` or reject the row when
    ``strict_codes``); ``split`` turns one cell into a list.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str | None = None
    columns: tuple[str, ...] = ()
    value: Any = None
    convert: Conversion = "text"
    formats: tuple[str, ...] = ()
    codes: dict[str, Any] = Field(default_factory=dict)
    strict_codes: bool = False
    otherwise: Any = None
    split: str | None = None
    default: Any = None
    required: bool = False
    known_codes: Literal["violation_types"] | None = None

    @model_validator(mode="after")
    def _has_a_source(self) -> FieldRule:
        if self.column is None and not self.columns and self.value is None \
                and self.default is None:
            raise ValueError("give column, columns, value or default")
        return self

    def source_columns(self) -> tuple[str, ...]:
        return ((self.column,) if self.column else ()) + self.columns


class CaseKey(BaseModel):
    """Which mapped fields make the case id: the owning unit's code and its case number.

    The case number is the first non-empty of ``number_fields`` (e.g. the decision number,
    else the agency's case number: the hub's case-id rule). ``unit_field`` names a target
    field holding the owning unit's code; without it (or when it is empty) the connector's
    own unit owns the case. When every number field is empty, the first non-empty of
    ``fallback_number_fields`` is used under the connector's own unit (police feedback
    quoting only the police's own case number: the matcher re-keys it later).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit_field: str | None = None
    number_fields: tuple[str, ...] = Field(min_length=1)
    fallback_number_fields: tuple[str, ...] = ()


class OrderRule(BaseModel):
    """Field ``later`` may not fall on a day before field ``earlier`` (China time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    later: str
    earlier: str
    reason: str


_PLAUSIBILITY_FILE = Path(__file__).parent.parent / "plausibility.yaml"


class Plausibility(BaseModel):
    """Values no real export holds, refused with their reason (``plausibility.yaml``).

    ``earliest_date`` bounds every date and date-time conversion, ``amount_ceiling_fen``
    every amount conversion; ``order`` rules compare two mapped top-level fields by
    calendar day. Defaults come from ``connectors/plausibility.yaml``; a mapping's
    ``plausibility:`` block replaces them key by key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    earliest_date: date
    earliest_date_reason: str
    amount_ceiling_fen: int = Field(gt=0)
    amount_ceiling_reason: str
    order: tuple[OrderRule, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**_plausibility_defaults(), **data}
        return data


@functools.cache
def _plausibility_defaults() -> dict[str, Any]:
    loaded = yaml.safe_load(_PLAUSIBILITY_FILE.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise MappingError(f"{_PLAUSIBILITY_FILE} is not a mapping")
    return loaded


class MappingSpec(BaseModel):
    """A whole mapping: event type, stream, case and natural keys, and field rules.

    A field whose name starts with ``_`` is a helper: it feeds the case or natural key but
    is not part of the event (a source record id, say).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: str
    stream: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    source_system: str = "agency export"
    case_key: CaseKey
    natural_key: tuple[str, ...] = Field(min_length=1)
    fields: dict[str, FieldRule] = Field(min_length=1)
    plausibility: Plausibility = Field(default_factory=lambda: Plausibility.model_validate({}))

    @model_validator(mode="after")
    def _names_are_known(self) -> MappingSpec:
        problems: list[str] = []
        model = _resolve_event_type(self.event_type)
        if model is None:
            problems.append(f"event_type: unknown event type {self.event_type!r}")
        else:
            for name in self.fields:
                if name.startswith("_"):
                    continue  # a helper: used for keys, not part of the event
                top = name.split(".", 1)[0]
                if top not in model.model_fields:
                    problems.append(f"fields.{name}: {model.__name__} has no field {top!r}")
        for name in (*self.natural_key, *self.case_key.number_fields,
                     *self.case_key.fallback_number_fields):
            if name not in self.fields:
                problems.append(f"{name!r} is a key but has no rule in fields")
        if self.case_key.unit_field and self.case_key.unit_field not in self.fields:
            problems.append(f"case_key.unit_field {self.case_key.unit_field!r} has no rule")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def model_class(self) -> type[CaseEvent]:
        model = _resolve_event_type(self.event_type)
        if model is None:
            raise MappingError(f"unknown event type {self.event_type!r}")
        return model


class DispatchSpec(BaseModel):
    """Several event types in one feed, told apart by a column (``record_type``, ``type``).

    ``common`` is merged under every route (routes override it field by field, as an
    inline mapping overrides a preset). A record whose discriminator has no route is
    rejected to the DLQ (``unknown_record_type``): nothing is dropped silently.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    discriminator: str
    routes: dict[str, MappingSpec] = Field(min_length=1)
    #: The route of a record whose discriminator column is absent or empty, so that a
    #: preset can gain a record type while exports written before it map as they did.
    default_route: str | None = None

    @model_validator(mode="after")
    def _known_default(self) -> DispatchSpec:
        if self.default_route is not None and self.default_route not in self.routes:
            raise ValueError(f"default_route {self.default_route!r} is not a route")
        return self

    @model_validator(mode="before")
    @classmethod
    def _merge_common(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        common = data.pop("common", None) or {}
        stream = data.get("stream")
        routes = data.get("routes")
        if isinstance(routes, dict):
            data["routes"] = {
                str(key): merge_mappings({**common, "stream": stream}, route)
                if isinstance(route, dict) else route
                for key, route in routes.items()}
        return data


def _resolve_event_type(name: str) -> type[CaseEvent] | None:
    if name in EVENT_TYPES:
        return EVENT_TYPES[name]
    for full_name, model in EVENT_TYPES.items():
        if full_name.rsplit(".", 1)[-1] == name:
            return model
    return None


def merge_mappings(preset: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """An inline mapping over a preset: scalars replace, ``fields`` merge rule by rule.

    A field rule set to ``null`` in the override removes the preset's rule.
    """
    merged = dict(preset)
    for key, value in override.items():
        if key == "fields" and isinstance(value, Mapping):
            fields = dict(merged.get("fields") or {})
            for name, rule in value.items():
                if rule is None:
                    fields.pop(name, None)
                else:
                    fields[name] = rule
            merged["fields"] = fields
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------- conversions


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


# --------------------------------------------------------------------------- header matching

_BRACKETED = re.compile(r"\(([^()]*)\)$")
_SPACE = re.compile(r"\s+")
_MISSING: Any = object()
_MATCH_CACHE_LIMIT = 1024
#: Header sets a mapper compiles its own rules for (CSV/XLSX exports have one per file).
_PLAN_LIMIT = 64


def normalize_header(header: str) -> str:
    """A header as people write it, reduced to one spelling: NFKC (full-width brackets,
    letters, digits and spaces become half-width), whitespace removed, lower case."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", header)).casefold()


def _without_description(normalized: str) -> str | None:
    """``行政相对人代码_1(统一社会信用代码)`` → ``行政相对人代码_1``; ``None`` when there is no
    bracketed tail, or when the bracket holds a unit of money (``罚款金额(元)`` must never
    match ``罚款金额`` read in 万元: a factor of 10,000)."""
    match = _BRACKETED.search(normalized)
    if match is None or "元" in match.group(1):
        return None
    return normalized[:match.start()] or None


class ColumnMatcher:
    """Finds the mapping's columns in a source's headers as people write them.

    An export's header may differ from the preset's spelling by full- or half-width
    brackets, spaces, or a description in brackets (``行政相对人代码_1（统一社会信用代码）``
    for ``行政相对人代码_1``). A header that is not one of the wanted columns is renamed to
    the one wanted column it matches after :func:`normalize_header`, or, failing that,
    without its bracketed description; a header matching none or several is left as it
    is (and listed as unused by the dry run). Synonyms are data: more ``columns`` in the
    preset. Decided once per distinct header set, so a row costs one dictionary look-up.
    """

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = frozenset(wanted)
        self._by_form: dict[str, set[str]] = {}
        for column in wanted:
            normalized = normalize_header(column)
            for form in (normalized, _without_description(normalized)):
                if form:
                    self._by_form.setdefault(form, set()).add(column)
        self._rows: dict[tuple[str, ...], dict[str, str] | None] = {}

    def renames(self, headers: tuple[str, ...]) -> dict[str, str]:
        """Header → wanted column, for the headers that need renaming."""
        present = {h for h in headers if h in self.wanted}
        renames: dict[str, str] = {}
        for header in headers:
            if header in self.wanted or not isinstance(header, str):
                continue
            normalized = normalize_header(header)
            for form in (normalized, _without_description(normalized)):
                candidates = self._by_form.get(form or "", set()) - present
                if len(candidates) == 1:
                    target = next(iter(candidates))
                    if target not in renames.values():
                        renames[header] = target
                    break
        return renames

    def resolve(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        """The row under the mapping's column names (the same row when nothing differs)."""
        headers = tuple(row)
        renames = self._rows.get(headers, _MISSING)
        if renames is _MISSING:
            renames = self.renames(headers) or None
            if len(self._rows) < _MATCH_CACHE_LIMIT:
                self._rows[headers] = renames
        if renames is None:
            return row
        return {renames.get(key, key): value for key, value in row.items()}


# --------------------------------------------------------------------------- compiled mapper


@dataclass(slots=True)
class MappedEvent:
    """A validated event as its Avro record, and the Kafka key it goes under.

    The record is what the serde encodes; the pydantic model is built only when someone
    asks for :attr:`event` (a dry run, a test): the connector's hot path never needs it.
    """

    record: dict[str, Any]
    key: bytes
    model: type[CaseEvent]
    _event: CaseEvent | None = None

    @classmethod
    def of(cls, event: CaseEvent) -> MappedEvent:
        """From a model pydantic validated."""
        return cls(event.to_avro(), event.kafka_key(), type(event), event)

    @property
    def event(self) -> CaseEvent:
        if self._event is None:
            self._event = construct(self.model, self.record)
        return self._event

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])

    @property
    def avro_name(self) -> str:
        return self.model.avro_name


_Getter = Callable[[Mapping[str, Any]], Any]


def _known_codes(list_name: str) -> frozenset[str]:
    from hub.rules import load_violation_types

    if list_name == "violation_types":
        return load_violation_types().codes()
    raise MappingError(f"unknown code list {list_name!r}")


_DATE_CONVERSIONS = frozenset({"date", "date_start", "datetime"})
_AMOUNT_CONVERSIONS = frozenset({"wan_yuan_to_fen", "yuan_to_fen"})


def _plausible(name: str, rule: FieldRule, plausibility: Plausibility
               ) -> Callable[[str], Any]:
    """``convert_value`` for one rule, refusing what :class:`Plausibility` says no export
    holds (a check on a value just converted: cached values were checked once)."""
    conversion, formats = rule.convert, rule.formats
    column = " / ".join(rule.source_columns()) or name
    if conversion in _DATE_CONVERSIONS:
        earliest = plausibility.earliest_date

        def dated(text: str) -> Any:
            value = convert_value(text, conversion, name, formats)
            day = value.astimezone(CHINA_TZ).date() if isinstance(value, datetime) else value
            if day < earliest:
                raise RecordRejected(
                    f"{name} (column {column}): {text!r} is before {earliest}: "
                    f"{plausibility.earliest_date_reason}", field=name, value=text,
                    error_type="implausible_date")
            return value
        return dated
    if conversion in _AMOUNT_CONVERSIONS:
        ceiling = plausibility.amount_ceiling_fen

        def amount(text: str) -> Any:
            value = convert_value(text, conversion, name, formats)
            if abs(value) > ceiling:
                raise RecordRejected(
                    f"{name} (column {column}): {text!r} is over {ceiling:,} fen: "
                    f"{plausibility.amount_ceiling_reason}", field=name, value=text,
                    error_type="implausible_amount")
            return value
        return amount
    return lambda text: convert_value(text, conversion, name, formats)


def _compile_rule(name: str, rule: FieldRule, context: Mapping[str, str],
                  plausibility: Plausibility | None = None,
                  read_columns: tuple[str, ...] | None = None) -> _Getter:
    """The getter of one rule. ``read_columns`` are the row keys it reads instead of the
    rule's columns (a header plan: the columns of this export, as its headers spell
    them); messages still name the rule's columns."""
    checked = _plausible(name, rule, plausibility or Plausibility.model_validate({}))
    columns = rule.source_columns()
    read = columns if read_columns is None else read_columns
    constant = rule.value.format(**context) if isinstance(rule.value, str) else rule.value
    codes = rule.codes
    default = rule.default.format(**context) if isinstance(rule.default, str) else rule.default

    known = _known_codes(rule.known_codes) if rule.known_codes else None
    # Dates repeat across an export and strptime is slow: remember parsed values (immutable).
    cache: dict[str, Any] | None = {} if rule.convert in _CACHED_CONVERSIONS else None

    def convert_one(text: str) -> Any:
        if known is not None and text not in known:
            raise RecordRejected(f"{name}: {text!r} is not a code of {rule.known_codes}.yaml",
                                 field=name, value=text, error_type="unknown_code")
        if codes:
            if text in codes:
                return codes[text]
            if rule.otherwise is not None:
                return rule.otherwise
            if rule.strict_codes or default is None:
                raise RecordRejected(
                    f"{name}: {text!r} is not one of the known codes "
                    f"({', '.join(sorted(codes))})", field=name, value=text,
                    error_type="unknown_code")
            return default
        if cache is not None:
            cached = cache.get(text)
            if cached is None:
                cached = checked(text)
                if len(cache) < _CACHE_LIMIT:
                    cache[text] = cached
            return cached
        return checked(text)

    plain = (known is None and not codes and cache is None
             and rule.convert in ("text", "list"))
    convert = (lambda text: text) if plain else convert_one
    split = rule.split
    required = rule.required
    first_column = read[0] if len(read) == 1 else None

    def missing() -> Any:
        if constant is not None:
            return constant
        if required:
            raise RecordRejected(
                f"{name}: required column {' / '.join(columns) or '?'} is empty",
                field=columns[0] if columns else name, value="",
                error_type="missing_value")
        return default

    def finish(raw: Any) -> Any:
        if not isinstance(raw, str):
            raw = _cell_text(raw)
        if split is not None:
            return [convert_one(part.strip()) for part in raw.split(split) if part.strip()]
        return convert(raw)

    def get_one(row: Mapping[str, Any]) -> Any:
        # The common case (one column, a text cell) without the general loop.
        cell = row.get(first_column)  # type: ignore[arg-type]
        if cell is None:
            return missing()
        if isinstance(cell, str):
            cell = cell.strip()
            if not cell:
                return missing()
            if split is None:
                return convert(cell)
        elif cell == "":
            return missing()
        return finish(cell)

    def get(row: Mapping[str, Any]) -> Any:
        raw: Any = None
        for column in read:
            cell = row.get(column)
            if cell is not None:
                cell = cell.strip() if isinstance(cell, str) else cell
                if cell != "":
                    raw = cell
                    break
        if raw is None:
            return missing()
        return finish(raw)

    if first_column is not None:
        if constant is not None or not required:
            # What ``missing`` gives for an empty or absent cell, the same every row.
            setattr(get_one, "empty_value",  # noqa: B010
                    (constant if constant is not None else default,))
        if split is None and known is None and (codes or cache is not None):
            # The generated rules look a trimmed text cell up in this table (the code
            # table, or the conversion's remembered values) before calling the getter.
            setattr(get_one, "inline_table", (first_column, codes or cache))  # noqa: B010
        return get_one
    return get


def _cell_text(value: Any) -> str:
    """XLSX and SQL cells arrive typed; the rules work on text (dates ISO, numbers exact)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    return str(value)


def _assign(target: dict[str, Any], path: list[str], value: Any) -> None:
    key = path[0]
    if len(path) == 1:
        target[key] = value
        return
    nxt = path[1]
    if _INDEX_RE.match(nxt):
        items = target.setdefault(key, [])
        index = int(nxt)
        while len(items) <= index:
            items.append({})
        if len(path) == 2:
            items[index] = value
        else:
            _assign(items[index], path[2:], value)
    else:
        _assign(target.setdefault(key, {}), path[1:], value)


_Setter = Callable[[dict[str, Any], Any], None]


def _compile_path(path: list[str]) -> _Setter:
    """A setter for a dotted target path; ``name`` and ``list.N.name`` get direct code."""
    if len(path) == 1:
        key = path[0]

        def set_top(target: dict[str, Any], value: Any) -> None:
            target[key] = value
        return set_top
    if len(path) == 3 and _INDEX_RE.match(path[1]) and not _INDEX_RE.match(path[2]):
        top, index, sub = path[0], int(path[1]), path[2]

        def set_item(target: dict[str, Any], value: Any) -> None:
            items = target.get(top)
            if items is None:
                items = target[top] = []
            while len(items) <= index:
                items.append({})
            items[index][sub] = value
        return set_item
    return lambda target, value: _assign(target, path, value)


_Apply = Callable[[Mapping[str, Any], dict[str, Any], dict[str, Any]], None]


def _is_plain(rule: FieldRule) -> bool:
    """One column of text taken as it is (trimmed): the rule most fields of an export have."""
    return len(rule.source_columns()) == 1 and _plain_text(rule)


def _plain_text(rule: FieldRule) -> bool:
    """A cell taken as it is (trimmed): no conversion, code table or split."""
    return (rule.convert in ("text", "list") and not rule.codes
            and rule.known_codes is None and rule.split is None)


#: A compiled rule: target name, setter, getter, whether it goes in the event, and the
#: row key the generated code reads inline (plain text of one column), or ``None``, or
#: :data:`_ABSENT` when none of its columns is in the export (the value is then the
#: getter's answer for an empty row, the same for every row: computed once).
_Rule = tuple[str, _Setter, _Getter, bool, Any]
_ABSENT: Any = object()


def _inline_cell(index: int, getter: _Getter, column: str | None,
                 names: dict[str, Any]) -> list[str]:
    """Generated code reading one column's cell the way its getter would: a trimmed text
    cell as it is (plain text, ``column`` given) or looked up in the getter's code table
    or remembered conversions (a miss asks the getter); an empty or absent cell gives the
    getter's constant empty value (a required cell asks the getter, which refuses the
    row); a typed cell (XLSX, SQL, JSON) asks the getter."""
    table = getattr(getter, "inline_table", None)
    empty = getattr(getter, "empty_value", None)
    if empty is not None:
        names[f"E{index}"] = empty[0]
    on_empty = f"v = E{index}" if empty is not None else f"v = G{index}(row)"
    read = column
    if read is None:
        read, names[f"T{index}"] = table  # type: ignore[misc]
    lines = [f"    v = row.get({read!r})", "    if type(v) is str:", "        v = v.strip()",
             "        if not v:", f"            {on_empty}"]
    if column is None:
        lines += ["        else:", f"            v = T{index}.get(v, MISS)",
                  "            if v is MISS:", f"                v = G{index}(row)"]
    return [*lines, "    elif v is None:", f"        {on_empty}", "    else:",
            f"        v = G{index}(row)"]


def _assignment(name: str, index: int) -> list[str]:
    """Statements storing ``v`` at target path ``name`` of ``payload``: what the setter
    ``S{index}`` does, written inline for ``name`` and ``list.N.name`` (a party's fields:
    one call less per field and row), a call to the setter for any other path."""
    if "." not in name:
        return [f"payload[{name!r}] = v"]
    path = name.split(".")
    if len(path) == 3 and _INDEX_RE.match(path[1]) and not _INDEX_RE.match(path[2]):
        top, item, sub = path[0], int(path[1]), path[2]
        return [f"items = payload.get({top!r})", "if items is None:",
                f"    items = payload[{top!r}] = []", f"while len(items) <= {item}:",
                "    items.append({})", f"items[{item}][{sub!r}] = v"]
    return [f"S{index}(payload, v)"]


def _compile_rules(rules: list[_Rule], keys: set[str]) -> _Apply:
    """All field rules of a mapping as one generated function ``apply(row, payload, flat)``.

    Same rules, same order (the first refusing rule names the field), same results as
    calling each compiled getter and setter in a loop, minus the loop: the per-rule
    tuple unpacking, a setter call for every top-level field and a getter call for every
    non-empty plain text cell (about 40 % of mapping a 双公示 row). ``flat`` receives only
    the values the case and natural keys read.
    """
    names: dict[str, Any] = {"MISS": _MISSING}
    lines = ["def apply(row, payload, flat):"]
    for index, (name, setter, getter, in_event, column) in enumerate(rules):
        names[f"G{index}"] = getter
        names[f"S{index}"] = setter
        if column is _ABSENT:
            names[f"K{index}"] = getter({})
            lines.append(f"    v = K{index}")
        elif column is not None or getattr(getter, "inline_table", None) is not None:
            lines += _inline_cell(index, getter, column, names)
        else:
            lines.append(f"    v = G{index}(row)")
        if name in keys:
            lines.append(f"    flat[{name!r}] = v")
        if in_event:
            lines += ["    if v is not None:", *("        " + line
                                                  for line in _assignment(name, index))]
    lines.append("    return None")
    exec("\n".join(lines), names)  # noqa: S102 - source generated above from the rules
    apply: _Apply = names["apply"]
    return apply


class Mapper:
    """A compiled mapping for one connector: ``map(row, reference)`` → :class:`MappedEvent`.

    Every row is validated with the model's own checks: by the validator
    :mod:`connectors.validation` generates from the model (the same validator functions,
    no pydantic machinery per row), and by pydantic itself for any row that one is not
    sure of, so a refused row carries pydantic's error. In CPython the generated checks
    cost about what pydantic-core costs (~9 against ~10.5 µs per 双公示 row): the row's
    35 fields and nested party are walked either way. The mapped
    event is kept as its Avro record, the form the serde encodes. ``validate=False``
    builds the record without any validator: only for a mapping whose conversions already
    guarantee types.
    """

    def __init__(self, spec: MappingSpec, *, unit: str, connector_id: str,
                 validate: bool = True) -> None:
        self.spec = spec
        self.unit = unit
        self.connector_id = connector_id
        self.model = spec.model_class()
        self.validate = validate
        # pydantic's checks as generated code (connectors.validation); a row it is not
        # sure of (a refused row above all) is validated by pydantic itself.
        self._compiled = compile_validator(self.model) if validate else None
        self._context = {"unit": unit, "connector_id": connector_id}
        self._setters = {name: _compile_path(name.split(".")) for name in spec.fields}
        self._rules: list[_Rule] = [
            (name, self._setters[name],
             _compile_rule(name, rule, self._context, spec.plausibility),
             not name.startswith("_"), rule.source_columns()[0] if _is_plain(rule) else None)
            for name, rule in spec.fields.items()]
        self._order = tuple(rule for rule in spec.plausibility.order
                            if rule.later in spec.fields and rule.earlier in spec.fields)
        case_key = spec.case_key
        keys = {*case_key.number_fields, *case_key.fallback_number_fields, *spec.natural_key}
        if case_key.unit_field:
            keys.add(case_key.unit_field)
        self._keys = keys
        self._apply = _compile_rules(self._rules, keys)
        self._plans: dict[tuple[Any, ...], _Apply | None] = {}
        # Conversions give only types the content hash's orjson path writes as the json
        # module does; configured constants and code tables could give others (a float).
        self.hash_checked = content_hash_safe([
            value for rule in spec.fields.values()
            for value in (rule.value, rule.default, rule.otherwise, *rule.codes.values())])
        self._source = f"{unit}:{self.model.avro_name}"
        self._number_fields = case_key.number_fields
        self._fallback_fields = case_key.fallback_number_fields
        self._unit_field = case_key.unit_field
        self._natural_key = spec.natural_key
        self._source_system = spec.source_system
        self.matcher = ColumnMatcher(self.columns())

    def _plan(self, headers: tuple[Any, ...]) -> _Apply | None:
        """The rules compiled for one header set (an export's, decided once per file):
        each rule reads the one column of its synonyms this export has, under the
        header's own spelling, so a row is neither renamed nor searched synonym by
        synonym. Same values as the general path (the first non-empty of the rule's
        columns present, renamed as :class:`ColumnMatcher` does). ``None`` (the general
        path) once many header sets were seen (JSON records of varying shape)."""
        if len(self._plans) >= _PLAN_LIMIT:
            return None
        renames = self.matcher.renames(headers)
        actual: dict[str, Any] = {}
        for header in headers:
            actual.setdefault(renames.get(header, header), header)
        rules: list[_Rule] = []
        for name, rule in self.spec.fields.items():
            read = tuple(actual[c] for c in rule.source_columns() if c in actual)
            inline = read[0] if len(read) == 1 and _plain_text(rule) else None
            if not read and not rule.required:
                inline = _ABSENT  # a constant, a default or None: the same for every row
            rules.append((name, self._setters[name],
                          _compile_rule(name, rule, self._context, self.spec.plausibility,
                                        read),
                          not name.startswith("_"), inline))
        plan = self._plans[headers] = _compile_rules(rules, self._keys)
        return plan

    def columns(self) -> set[str]:
        """Every source column a rule of this mapping reads."""
        return {column for rule in self.spec.fields.values()
                for column in rule.source_columns()}

    @property
    def stream(self) -> str:
        return self.spec.stream

    def avro_names(self) -> list[str]:
        return [self.model.avro_name]

    def map(self, row: Mapping[str, Any], reference: str,
            recorded_at: datetime | None = None) -> MappedEvent:
        """Map and validate one row; raises RecordRejected / ValidationError on bad rows."""
        return MappedEvent.of(self.event(row, reference, recorded_at))

    def event(self, row: Mapping[str, Any], reference: str,
              recorded_at: datetime | None = None) -> CaseEvent:
        """:meth:`map` without the Avro record: the validated event model itself, which
        a mapping process encodes directly (:meth:`hub.serde.LocalSerde.encode`)."""
        return self.validated(self.payload(row, reference, recorded_at))

    def payload(self, row: Mapping[str, Any], reference: str,
                recorded_at: datetime | None = None) -> dict[str, Any]:
        """The first half of :meth:`event`: field rules, keys, plausibility, ids and
        content hash; the payload :meth:`validated` turns into the event. Apart so that a
        chunk can run each half over all its rows (``connectors.runner.map_rows``)."""
        payload: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        headers = tuple(row)
        plan = self._plans.get(headers, _MISSING)
        if plan is _MISSING:
            plan = self._plan(headers)
        if plan is None:
            self._apply(self.matcher.resolve(row), payload, flat)
        else:
            plan(row, payload, flat)
        case_unit = self.unit
        case_number = ""
        # Plain loops, not next() over a generator: this runs for every row.
        for name in self._number_fields:
            if flat.get(name):
                case_number = str(flat[name])
                break
        if case_number:
            if self._unit_field and flat.get(self._unit_field):
                case_unit = str(flat[self._unit_field])
        else:
            for name in self._fallback_fields:
                if flat.get(name):
                    case_number = str(flat[name])
                    break
        if not case_number:
            raise RecordRejected("no case number: the case key fields are empty",
                                 field=self._number_fields[0], value="",
                                 error_type="missing_value")
        for order in self._order:
            _check_order(order, payload, reference)
        natural_key = "|".join([str(flat.get(n) or "") for n in self._natural_key])
        case_id = case_id_for(case_unit, case_number)
        event_id = event_id_for(self._source, natural_key,
                                content_hash(payload, checked=self.hash_checked))
        # A mapped recorded_at (the agency system's entry time, what the entry-deadline
        # rule measures) is part of the content; otherwise the read time stands in for it.
        if payload.get("recorded_at") is None:
            payload["recorded_at"] = recorded_at or datetime.now(CHINA_TZ)
        payload["event_id"] = event_id
        payload["case_id"] = case_id
        payload["source_unit"] = self.unit
        payload["source_system"] = self._source_system
        payload["source_record"] = reference
        payload["connector_id"] = self.connector_id
        return payload

    def validated(self, payload: dict[str, Any]) -> CaseEvent:
        """The second half of :meth:`event`: the model's checks on a :meth:`payload`."""
        if not self.validate:
            return self.model.from_avro(payload)
        event = self._compiled(payload) if self._compiled is not None else None
        if event is None:
            event = self.model.model_validate(payload)
        return event  # type: ignore[return-value]


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.astimezone(CHINA_TZ).date()
    return value if isinstance(value, date) else None


def _check_order(order: OrderRule, payload: Mapping[str, Any], reference: str) -> None:
    later, earlier = _day(payload.get(order.later)), _day(payload.get(order.earlier))
    if later is not None and earlier is not None and later < earlier:
        raise RecordRejected(
            f"{reference}: {order.later} {later} is before {order.earlier} {earlier}: "
            f"{order.reason}", field=order.later, value=later.isoformat(),
            error_type="implausible_order")


class DispatchMapper:
    """Maps each record with the route its discriminator column names."""

    def __init__(self, spec: DispatchSpec, *, unit: str, connector_id: str,
                 validate: bool = True) -> None:
        self.spec = spec
        self.discriminator = spec.discriminator
        self.routes = {key: Mapper(route, unit=unit, connector_id=connector_id,
                                   validate=validate) for key, route in spec.routes.items()}

    @property
    def stream(self) -> str:
        return self.spec.stream

    def avro_names(self) -> list[str]:
        return sorted({m.model.avro_name for m in self.routes.values()})

    def columns(self) -> set[str]:
        """Every source column a route reads, and the discriminator."""
        return {self.discriminator}.union(*(m.columns() for m in self.routes.values()))

    def route(self, row: Mapping[str, Any]) -> Mapper:
        """The route mapping this record (refused when its discriminator has none)."""
        value = row.get(self.discriminator)
        key = str(value).strip() if value is not None else ""
        if not key and self.spec.default_route is not None:
            key = self.spec.default_route
        mapper = self.routes.get(key)
        if mapper is None:
            raise RecordRejected(
                f"{self.discriminator}: {key!r} is not a known record type "
                f"({', '.join(sorted(self.routes))})", field=self.discriminator, value=key,
                error_type="unknown_record_type")
        return mapper

    def map(self, row: Mapping[str, Any], reference: str,
            recorded_at: datetime | None = None) -> MappedEvent:
        return self.route(row).map(row, reference, recorded_at)

    def event(self, row: Mapping[str, Any], reference: str,
              recorded_at: datetime | None = None) -> CaseEvent:
        """:meth:`Mapper.event` of the record's route."""
        return self.route(row).event(row, reference, recorded_at)


AnyMapper = Mapper | DispatchMapper


def build_mapper(spec: MappingSpec | DispatchSpec, *, unit: str, connector_id: str,
                 validate: bool = True) -> AnyMapper:
    """The compiled mapper of a plain or dispatching mapping."""
    if isinstance(spec, DispatchSpec):
        return DispatchMapper(spec, unit=unit, connector_id=connector_id, validate=validate)
    return Mapper(spec, unit=unit, connector_id=connector_id, validate=validate)


def describe_validation_error(error: ValidationError) -> tuple[str, str, str]:
    """First problem of a pydantic error as (field, reason, value) for DLQ headers."""
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error)}
    field = ".".join(str(part) for part in first.get("loc", ()))
    value = first.get("input")
    return field, str(first.get("msg", "")), "" if isinstance(value, dict) else str(value)
