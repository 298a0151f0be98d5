"""Field rules compiled: each :class:`~connectors.mapping.spec.FieldRule` becomes a getter
and a setter, and all the rules of a mapping one generated function.

This is where the per-row cost of mapping is, so it is written for speed: conversions
remembered, the common cells read by generated code rather than through a getter call,
the result the same as calling each rule's getter and setter in turn. Every name is
private: :class:`~connectors.mapping.mapper.Mapper` is the one user.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from connectors.mapping.conversions import convert_value
from connectors.mapping.spec import FieldRule, Plausibility
from hub.errors import MappingError, RecordRejected
from hub.models import CHINA_TZ

_INDEX_RE = re.compile(r"^\d+$")
# Conversions whose result is immutable and a pure function of the text: worth remembering.
_CACHED_CONVERSIONS = frozenset({"date", "date_start", "datetime", "wan_yuan_to_fen",
                                 "yuan_to_fen", "decimal", "integer", "boolean"})
_CACHE_LIMIT = 16_384
# The generated code's marker of a miss in a code table or remembered conversions.
_MISSING: Any = object()


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
            raw = _cell_text(raw, name)
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


def _cell_text(value: Any, field: str) -> str:
    """XLSX and SQL cells arrive typed; the rules work on text (dates ISO, numbers exact).

    A float may be infinite or NaN (an XLSX ``<v>1e999</v>``, JSON ``NaN``), which no
    text of a number stands for: the row is refused, naming the field.
    """
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RecordRejected(f"{field}: {value!r} is not a finite number", field=field,
                                 value=repr(value), error_type="not_a_number")
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
