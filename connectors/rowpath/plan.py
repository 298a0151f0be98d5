"""The native core's plan (JSON) for one export: from the built mapper, its schema and
writer, and the file's CSV parser (header, delimiter, field limit).

Anything the core does not implement exactly as the Python stages do — a conversion, a
validator, a union, a path, a date-order rule on a nested field — raises
:class:`Unsupported` here, once per export, and the export maps in Python. So the core
never meets a rule it would have to guess.
"""

from __future__ import annotations

import codecs
import json
import typing
from datetime import date
from enum import Enum
from typing import Any

from connectors.mapping.mapper import Mapper
from connectors.mapping.rules import _known_codes
from hub.identity import HUB_NAMESPACE
from hub.serde import CONTENT_TYPE, LocalSerde, cloudevent_source

__all__ = ["Unsupported", "build_plan", "gb18030_doubt_pairs"]

EPOCH_ORD = date(1970, 1, 1).toordinal()

#: The hub's AfterValidator functions, by name -> the check the core applies.
CHECKS = {"_check_unit_code": "unit_code", "_check_party_credit_code": "party_credit_code",
          "_check_past_date": "past_date", "_check_past_instant": "past_instant",
          "_check_non_negative": "non_negative", "_check_division_code": "division_code",
          "_check_resident_id": "resident_id", "_check_decimal": "decimal"}
#: Model and field validators the core implements itself.
KNOWN_VALIDATORS = {"_first_party_is_named", "_resident_ids_have_valid_check_characters"}


class Unsupported(Exception):
    """The export has something the core does not implement: it maps in Python."""


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        raise Unsupported(f"constant {value!r}")
    if isinstance(value, Enum):
        return value.value
    if value is None or (isinstance(value, (str, int)) and not isinstance(value, bool)):
        return value
    if isinstance(value, list) and not value:
        return []
    raise Unsupported(f"constant {value!r}")


def _avro_type(schema: Any, model_field: Any | None, named: dict[str, Any]
               ) -> dict[str, Any]:
    opt = False
    if isinstance(schema, list):
        if len(schema) != 2 or schema[0] != "null":
            raise Unsupported(f"union {schema}")
        opt, schema = True, schema[1]
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, dict) and "name" in schema:
        named[schema["name"]] = schema
        named[schema["name"].rsplit(".", 1)[-1]] = schema
    if isinstance(schema, dict) and schema.get("type") == "array" and isinstance(
            schema["items"], str) and schema["items"] in named:
        schema = {**schema, "items": named[schema["items"]]}
    if isinstance(schema, dict) and schema.get("type") == "array" and isinstance(
            schema["items"], dict) and "name" in schema["items"]:
        named[schema["items"]["name"]] = schema["items"]
    kind: dict[str, Any]
    if schema == "string":
        kind = {"k": "string"}
    elif schema == "long":
        kind = {"k": "long"}
    elif isinstance(schema, dict) and schema.get("logicalType") == "date":
        kind = {"k": "date"}
    elif isinstance(schema, dict) and schema.get("logicalType") == "timestamp-micros":
        kind = {"k": "ts"}
    elif isinstance(schema, dict) and schema.get("type") == "enum":
        kind = {"k": "enum", "symbols": schema["symbols"]}
    elif isinstance(schema, dict) and schema.get("type") == "array":
        items = schema["items"]
        if isinstance(items, dict) and items.get("type") == "enum":
            kind = {"k": "array_enum", "symbols": items["symbols"]}
        elif isinstance(items, dict) and items.get("type") == "record":
            if model_field is None:
                raise Unsupported(f"array of records without a model field: {items}")
            sub_model = model_field.annotation.__args__[0]
            kind = {"k": "array_record", "fields": _fields(items, sub_model, named)}
        else:
            raise Unsupported(f"array of {items}")
    else:
        raise Unsupported(f"type {schema}")
    kind["opt"] = opt
    return kind


def _fields(schema: dict[str, Any], model: Any, named: dict[str, Any]
            ) -> list[dict[str, Any]]:
    decorators = model.__pydantic_decorators__
    for name in [*decorators.field_validators, *decorators.model_validators]:
        if name not in KNOWN_VALIDATORS:
            raise Unsupported(f"{model.__name__}.{name}")
    # The core checks the first party's name on the top-level field named ``parties``
    # (``is_first_named`` in the core): a model naming its list otherwise maps in Python.
    first_named = decorators.field_validators.get("_first_party_is_named")
    if first_named is not None and tuple(first_named.info.fields) != ("parties",):
        raise Unsupported(f"{model.__name__}._first_party_is_named on {first_named.info.fields}")
    out = []
    for field in schema["fields"]:
        name = field["name"]
        info = model.model_fields[name]
        checks = []
        metadata = list(info.metadata)
        # ``X | None`` keeps X's Annotated validators inside the union, not in metadata
        for arg in typing.get_args(info.annotation):
            if typing.get_origin(arg) is typing.Annotated:
                metadata += list(arg.__metadata__)
            elif typing.get_origin(arg) is list:
                for inner in typing.get_args(arg):
                    if typing.get_origin(inner) is typing.Annotated:
                        raise Unsupported(f"{name}: list of annotated")
        for meta in metadata:
            func = getattr(meta, "func", None)
            if func is not None:
                if func.__name__ not in CHECKS:
                    raise Unsupported(f"validator {func.__name__}")
                checks.append(CHECKS[func.__name__])
            elif type(meta).__name__ == "MinLen":
                checks.append(f"min_len:{meta.min_length}")
            else:
                raise Unsupported(f"metadata {meta!r}")
        if info.default_factory is not None:
            default, has_default = _plain(info.default_factory()), True
        elif info.is_required():
            default, has_default = None, False
        else:
            default, has_default = _plain(info.default), True
        out.append({"name": name, "type": _avro_type(field["type"], info, named),
                    "checks": checks,
                    "default": default, "has_default": has_default})
    return out


def _check_targets(rules: list[dict[str, Any]], fields: list[dict[str, Any]]) -> None:
    """Every rule that writes into the event names a field of its schema: one that does
    not is refused by the model in Python (a dead letter), while the core would leave
    it out of the Avro value and keep it in the content hash."""
    by_name = {field["name"]: field for field in fields}
    for rule in rules:
        if not rule["in_event"]:
            continue
        field = by_name.get(rule["top"])
        if field is None:
            raise Unsupported(f"{rule['name']}: no such field in the event")
        sub = rule.get("sub")
        if sub is None:
            continue
        kind = field["type"]
        if kind.get("k") != "array_record" or sub not in {
                item["name"] for item in kind["fields"]}:
            raise Unsupported(f"{rule['name']}: no such field in the event")


def build_plan(mapper: Mapper, local: LocalSerde, parser: Any, gb_doubt_pairs: list[int]
               ) -> str:
    """The plan of ``mapper`` for the export ``parser`` reads (JSON for ``Plan(...)``)."""
    header, delimiter = parser.header, parser.delimiter
    encoding = codecs.lookup(parser.encoding).name
    if encoding not in ("gb18030", "utf-8"):
        # The core decodes GB18030 (what a declared GBK is read as) and UTF-8 (a file's
        # BOM is in its header line only), each by its own plan: a UTF-8 row whose bytes
        # happen to be valid GB18030 would map to other text.
        raise Unsupported(f"encoding {parser.encoding}")
    spec = mapper.spec
    if len(set(header)) != len(header):
        raise Unsupported("duplicate headers")
    renames = mapper.matcher.renames(header)
    actual: dict[str, str] = {}
    for h in header:
        actual.setdefault(renames.get(h, h), h)
    index = {h: i for i, h in enumerate(header)}
    rules = []
    for name, rule in spec.fields.items():
        read = [index[actual[c]] for c in rule.source_columns() if c in actual]
        # the code list the cell must be in (else Python refuses the row: the core doubts)
        known = sorted(_known_codes(rule.known_codes)) if rule.known_codes and read else None
        if rule.formats:
            raise Unsupported(f"{name}: formats")
        context = {"unit": mapper.unit, "connector_id": mapper.connector_id}
        constant = rule.value.format(**context) if isinstance(rule.value, str) else rule.value
        default = rule.default.format(**context) if isinstance(rule.default, str) else rule.default
        empty = constant if constant is not None else default
        required = constant is None and rule.required
        if not read and required:
            raise Unsupported(f"{name}: required and absent")
        kind = rule.convert
        if kind == "list":
            kind = "text"
        if kind not in ("text", "wan_yuan_to_fen", "date", "date_start", "datetime",
                        "decimal"):
            if read:
                raise Unsupported(f"{name}: convert {kind}")
            kind = "text"  # no column: never converted
        # a YAML key that is not text (1, yes -> True) never equals a cell's text in Python
        codes = {k: _plain(v) for k, v in rule.codes.items() if type(k) is str}
        fallback = rule.otherwise if rule.otherwise is not None else (
            None if rule.strict_codes else default)
        if codes and kind != "text":
            raise Unsupported(f"{name}: codes and conversion")
        path = name.split(".")
        if len(path) == 1:
            target = {"top": name}
        elif len(path) == 3 and path[1] == "0":
            target = {"top": path[0], "sub": path[2]}
        else:
            raise Unsupported(f"path {name}")
        if rule.split == "":
            raise Unsupported(f"{name}: empty split")  # Python refuses it (ValueError)
        if rule.hash_as is not None and "sub" in target:
            raise Unsupported(f"{name}: hash_as on a nested field")
        rules.append({"name": name, **target, "cols": read, "kind": kind, "codes": codes,
                      "known": known,
                      "fallback": _plain(fallback) if codes else None, "split": rule.split,
                      "empty": _plain(empty), "required": required,
                      "in_event": not name.startswith("_"), "hash_as": rule.hash_as})
    # Date-order rules (``Mapper.order_rules``): compared by China calendar day when both
    # sides have a date or an instant; a row that breaks one is doubted (Python refuses it).
    order = []
    positions = {rule["name"]: i for i, rule in enumerate(rules)}
    for order_rule in mapper.order_rules:
        later, earlier = order_rule.later, order_rule.earlier
        if "." in later or "." in earlier:
            raise Unsupported(f"order rule {order_rule} on a nested field")
        order.append([positions[later], positions[earlier]])
    case_key = spec.case_key
    if case_key.fallback_number_fields:
        raise Unsupported("fallback number fields")
    model = mapper.model
    schema = local.schemas[model.avro_name]
    prefix = local.writer_prefix(model.avro_name)
    if prefix is None:
        raise Unsupported(f"{model.avro_name}: no writer schema bound")
    fields = _fields(schema, model, {})
    _check_targets(rules, fields)
    plan = {
        "ncols": len(header), "delimiter": delimiter,
        "max_field_chars": parser.max_field_chars,
        "namespace_hex": HUB_NAMESPACE.bytes.hex(),
        "prefix": list(prefix),
        "unit": mapper.unit, "connector_id": mapper.connector_id,
        "source_system": spec.source_system, "source": mapper.event_source,
        "avro_name": model.avro_name,
        "number_fields": list(case_key.number_fields), "unit_field": case_key.unit_field,
        "natural_key": list(spec.natural_key),
        "earliest_days": spec.plausibility.earliest_date.toordinal() - EPOCH_ORD,
        "ceiling_fen": spec.plausibility.amount_ceiling_fen,
        "rules": rules, "fields": fields, "order": order,
        "ce_source": cloudevent_source(mapper.unit, mapper.connector_id),
        "content_type": CONTENT_TYPE,
        "gb_doubt_pairs": gb_doubt_pairs, "utf8": encoding == "utf-8",
    }
    return json.dumps(plan, ensure_ascii=False)


def gb18030_doubt_pairs(native_decode: Any) -> list[int]:
    """Two-byte GB18030 codes the native decoder reads differently from Python's codec
    (or that only one of them accepts): rows holding one are doubted."""
    bad = []
    for lead in range(0x81, 0xFF):
        for trail in range(0x40, 0xFF):
            if trail == 0x7F:
                continue
            raw = bytes([lead, trail])
            try:
                mine = raw.decode("gb18030")
            except UnicodeDecodeError:
                mine = None
            if native_decode(raw) != mine:
                bad.append(lead << 8 | trail)
    return bad
