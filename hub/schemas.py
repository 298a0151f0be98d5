"""The Avro contract on disk, and the checks that keep its evolution safe.

Loading: ``schemas/*.avsc`` (``hub/_schemas`` in a wheel), one self-contained schema per
event type, keyed by full Avro name. Self-contained (no references) so that any standard
Confluent deserializer pointed at the registry reads the hub's records as they are.

Evolution: every schema change must be **BACKWARD_TRANSITIVE** compatible, the
registry's rule: the new schema (reader) must read data written with *every* earlier
version (writer), by the Avro schema resolution rules:

- a field the reader has and the writer lacks needs a default (adding a field without a
  default breaks);
- a field the writer has and the reader lacks is skipped (removing a field is allowed);
- a changed type must be a promotion the spec allows (int→long→float→double,
  int→float/double, long→double, string↔bytes); a named type keeps its full name (or the
  reader lists the old name in ``aliases``);
- an enum may add symbols; a writer symbol missing in the reader needs the reader
  enum's ``default``;
- unions: every writer branch must be readable by some reader branch; a non-union
  writer must match some reader branch;
- fixed types keep their size.

Two additions, on purpose stricter than Confluent, both reported with rule names of
their own so they are never confused with a registry break:

- ``REMOVED_REQUIRED_FIELD``: removing a field that has no default. BACKWARD allows it,
  but consumers still on the previous schema read new data with that schema, find the
  field absent and have no default to fill in: it is a FORWARD break that would crash
  every consumer not yet upgraded. Give the field a default in one release, remove it in
  a later one.
- ``LOGICAL_TYPE_CHANGED``: Avro resolution ignores logical types, so ``timestamp-millis``
  → ``timestamp-micros`` "resolves" while silently scaling every instant by 1000.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.paths import schemas_dir

__all__ = [
    "BACKWARD",
    "INVALID",
    "LOGICAL_TYPE_CHANGED",
    "REGISTRY",
    "REMOVED_REQUIRED_FIELD",
    "Incompatibility",
    "backward_problems",
    "check_backward_transitive",
    "committed_versions",
    "full_name",
    "load_schema_file",
    "local_schema",
    "local_schemas",
    "offline_check",
    "ordered_schemas",
    "register_all",
    "registry_check",
    "render_catalogue",
    "resolution_form",
    "schema_files",
    "strip_documentation",
    "validity_problems",
]

log = logging.getLogger(__name__)

BACKWARD = "BACKWARD"
REMOVED_REQUIRED_FIELD = "REMOVED_REQUIRED_FIELD"
LOGICAL_TYPE_CHANGED = "LOGICAL_TYPE_CHANGED"

_PRIMITIVES = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
#: writer type → reader types that can read it (Avro 1.11 spec, "Schema Resolution").
_PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"int", "long", "float", "double"}),
    "long": frozenset({"long", "float", "double"}),
    "float": frozenset({"float", "double"}),
    "string": frozenset({"string", "bytes"}),
    "bytes": frozenset({"bytes", "string"}),
}
_NAMED = frozenset({"record", "enum", "fixed", "error"})


# --------------------------------------------------------------------------- loading


def full_name(schema: Mapping[str, Any]) -> str:
    """Full name of a named schema: ``namespace.name`` unless the name already has dots."""
    name = str(schema["name"])
    namespace = schema.get("namespace")
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def load_schema_file(path: Path) -> dict[str, Any]:
    """One ``.avsc`` file; a broken file is a :class:`ConfigError` naming it."""
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read Avro schema {path}: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise ConfigError(f"{path}: an event schema must be one Avro record")
    return schema


def schema_files(directory: Path | None = None) -> dict[str, Path]:
    """Full Avro name → ``.avsc`` path, for every schema in ``directory``."""
    directory = directory or schemas_dir()
    files: dict[str, Path] = {}
    for path in sorted(directory.glob("*.avsc")):
        name = full_name(load_schema_file(path))
        if name in files:
            raise ConfigError(f"{path}: {name} is already defined in {files[name]}")
        files[name] = path
    return files


@cache
def _default_schemas() -> dict[str, dict[str, Any]]:
    return {name: load_schema_file(path) for name, path in schema_files().items()}


def local_schemas(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Full Avro name → schema, as shipped (cached for the default directory)."""
    if directory is None:
        return dict(_default_schemas())
    return {name: load_schema_file(path) for name, path in schema_files(directory).items()}


def local_schema(avro_name: str) -> dict[str, Any]:
    """The shipped schema of one event type; ``KeyError`` names the unknown type."""
    schemas = _default_schemas()
    try:
        return schemas[avro_name]
    except KeyError:
        raise KeyError(f"no schema for {avro_name!r} in {schemas_dir()}") from None


def strip_documentation(schema: Any) -> Any:
    """The schema without ``doc`` and ``x-`` attributes (what a reader actually uses)."""
    if isinstance(schema, dict):
        return {
            key: strip_documentation(value)
            for key, value in schema.items()
            if key != "doc" and not key.startswith("x-")
        }
    if isinstance(schema, list):
        return [strip_documentation(item) for item in schema]
    return schema


def resolution_form(schema: Any) -> str:
    """A text that is equal for two schemas exactly when decoding with either gives the
    same result: documentation, aliases and defaults removed, everything else kept
    (unlike Avro's parsing canonical form, logical types stay)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: strip(value)
                for key, value in node.items()
                if key not in ("doc", "aliases", "default") and not key.startswith("x-")
            }
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    return json.dumps(strip(schema), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- evolution


@dataclass(frozen=True)
class Incompatibility:
    """One reason a new schema cannot replace an old one."""

    schema: str
    path: str
    message: str
    rule: str = BACKWARD
    against: str = ""

    def __str__(self) -> str:
        where = f" (against {self.against})" if self.against else ""
        return f"{self.schema}: {self.path or '<root>'}: {self.message} [{self.rule}]{where}"


def _index(schema: Any, namespace: str | None, names: dict[str, Any]) -> None:
    """Collect every named type of ``schema`` by full name (for name references)."""
    if isinstance(schema, list):
        for branch in schema:
            _index(branch, namespace, names)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind in _NAMED:
        name = str(schema["name"])
        own_namespace = schema.get("namespace", namespace)
        qualified = name if "." in name or not own_namespace else f"{own_namespace}.{name}"
        names[qualified] = schema
        namespace = qualified.rsplit(".", 1)[0] if "." in qualified else None
        for field in schema.get("fields", []):
            _index(field["type"], namespace, names)
    elif kind == "array":
        _index(schema["items"], namespace, names)
    elif kind == "map":
        _index(schema["values"], namespace, names)
    elif isinstance(kind, (dict, list)):
        _index(kind, namespace, names)


@dataclass
class _Side:
    """One schema being compared, with its named types and current namespace."""

    names: dict[str, Any]

    def resolve(self, schema: Any, namespace: str | None) -> tuple[Any, str | None]:
        """Dereference a name; unwrap ``{"type": <complex>}``; track the namespace."""
        while True:
            if isinstance(schema, str) and schema not in _PRIMITIVES:
                qualified = schema
                if "." not in schema and namespace:
                    qualified = f"{namespace}.{schema}"
                target = self.names.get(qualified, self.names.get(schema))
                if target is None:
                    return schema, namespace
                schema = target
                namespace = qualified.rsplit(".", 1)[0] if "." in qualified else None
                continue
            if isinstance(schema, dict):
                kind = schema.get("type")
                if isinstance(kind, (dict, list)) or (
                    isinstance(kind, str) and kind not in _PRIMITIVES and kind not in _NAMED
                    and kind not in ("array", "map")
                ):
                    schema = kind
                    continue
                if kind in _NAMED:
                    name = str(schema["name"])
                    own = schema.get("namespace", namespace)
                    qualified = name if "." in name or not own else f"{own}.{name}"
                    namespace = qualified.rsplit(".", 1)[0] if "." in qualified else None
            return schema, namespace


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema.get("type"))


def _qualified(schema: Mapping[str, Any], namespace: str | None) -> str:
    name = str(schema["name"])
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _logical(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def _describe(schema: Any) -> str:
    kind = _kind(schema)
    logical = _logical(schema)
    if kind in _NAMED and isinstance(schema, dict):
        return f"{kind} {schema.get('name')}"
    if logical:
        return f"{kind} ({logical})"
    return kind


class _Checker:
    """Avro resolution of ``writer`` data with a ``reader`` schema, collecting problems."""

    def __init__(self, schema_name: str, reader: Any, writer: Any, against: str) -> None:
        self.schema_name = schema_name
        self.against = against
        reader_names: dict[str, Any] = {}
        writer_names: dict[str, Any] = {}
        _index(reader, None, reader_names)
        _index(writer, None, writer_names)
        self.reader = _Side(reader_names)
        self.writer = _Side(writer_names)
        self.problems: list[Incompatibility] = []
        self._seen: set[tuple[str, str]] = set()

    def problem(self, path: str, message: str, rule: str = BACKWARD) -> None:
        self.problems.append(
            Incompatibility(self.schema_name, path, message, rule, self.against)
        )

    def matches(self, reader: Any, writer: Any, r_ns: str | None, w_ns: str | None) -> bool:
        """Could ``reader`` read ``writer`` at all (used to pick union branches)."""
        probe = _Checker.__new__(_Checker)
        probe.schema_name = self.schema_name
        probe.against = self.against
        probe.reader = self.reader
        probe.writer = self.writer
        probe.problems = []
        probe._seen = set(self._seen)
        probe.compare(reader, writer, r_ns, w_ns, "", report_removals=False)
        return not [p for p in probe.problems if p.rule == BACKWARD]

    def compare(
        self,
        reader: Any,
        writer: Any,
        r_ns: str | None,
        w_ns: str | None,
        path: str,
        *,
        report_removals: bool = True,
    ) -> None:
        reader, r_ns = self.reader.resolve(reader, r_ns)
        writer, w_ns = self.writer.resolve(writer, w_ns)
        r_kind, w_kind = _kind(reader), _kind(writer)

        if w_kind == "union":
            for index, branch in enumerate(writer):
                if r_kind == "union":
                    if not any(self.matches(rb, branch, r_ns, w_ns) for rb in reader):
                        self.problem(path, f"writer union branch {index} "
                                     f"({_describe(self.writer.resolve(branch, w_ns)[0])}) "
                                     "has no matching branch in the new union")
                    else:
                        match = next(rb for rb in reader if self.matches(rb, branch, r_ns, w_ns))
                        self.compare(match, branch, r_ns, w_ns, path,
                                     report_removals=report_removals)
                else:
                    self.compare(reader, branch, r_ns, w_ns, path,
                                 report_removals=report_removals)
            return
        if r_kind == "union":
            for branch in reader:
                if self.matches(branch, writer, r_ns, w_ns):
                    self.compare(branch, writer, r_ns, w_ns, path,
                                 report_removals=report_removals)
                    return
            self.problem(path, f"type {_describe(writer)} is not among the new union's "
                         f"branches ({', '.join(_describe(b) for b in reader)})")
            return

        if w_kind in _PRIMITIVES or r_kind in _PRIMITIVES:
            allowed = _PROMOTIONS.get(w_kind, frozenset({w_kind}))
            if r_kind not in allowed:
                self.problem(path, f"type changed from {_describe(writer)} to "
                             f"{_describe(reader)}, which is not an Avro promotion")
                return
            if _logical(reader) != _logical(writer):
                self.problem(path, f"logical type changed from {_logical(writer)} to "
                             f"{_logical(reader)}", LOGICAL_TYPE_CHANGED)
            return

        if r_kind != w_kind and not ({r_kind, w_kind} <= {"record", "error"}):
            self.problem(path, f"type changed from {_describe(writer)} to {_describe(reader)}")
            return

        if r_kind in _NAMED:
            r_name, w_name = _qualified(reader, r_ns), _qualified(writer, w_ns)
            aliases = {
                a if "." in a or not r_ns else f"{r_ns}.{a}" for a in reader.get("aliases", [])
            }
            if r_name != w_name and w_name not in aliases:
                self.problem(path, f"named type {w_name} became {r_name} "
                             "(keep the name or list the old one in aliases)")
                return
            if (r_name, w_name) in self._seen:
                return
            self._seen.add((r_name, w_name))

        if r_kind == "array":
            self.compare(reader["items"], writer["items"], r_ns, w_ns, path + "[]",
                         report_removals=report_removals)
        elif r_kind == "map":
            self.compare(reader["values"], writer["values"], r_ns, w_ns, path + "{}",
                         report_removals=report_removals)
        elif r_kind == "enum":
            missing = [s for s in writer.get("symbols", []) if s not in reader.get("symbols", [])]
            if missing and reader.get("default") is None:
                self.problem(path, f"enum {reader['name']} lost symbols {missing} and has no "
                             "default symbol to read them as")
            if _logical(reader) != _logical(writer):
                self.problem(path, "logical type changed", LOGICAL_TYPE_CHANGED)
        elif r_kind == "fixed":
            if reader.get("size") != writer.get("size"):
                self.problem(path, f"fixed {reader['name']} size changed from "
                             f"{writer.get('size')} to {reader.get('size')}")
            if _logical(reader) != _logical(writer):
                self.problem(path, "logical type changed", LOGICAL_TYPE_CHANGED)
        elif r_kind in ("record", "error"):
            self._compare_fields(reader, writer, r_ns, w_ns, path,
                                 report_removals=report_removals)

    def _compare_fields(
        self,
        reader: Mapping[str, Any],
        writer: Mapping[str, Any],
        r_ns: str | None,
        w_ns: str | None,
        path: str,
        *,
        report_removals: bool,
    ) -> None:
        writer_fields = {f["name"]: f for f in writer.get("fields", [])}
        matched: set[str] = set()
        for field in reader.get("fields", []):
            name = field["name"]
            field_path = f"{path}.{name}" if path else name
            candidates = [name, *field.get("aliases", [])]
            source = next((writer_fields[c] for c in candidates if c in writer_fields), None)
            if source is None:
                if "default" not in field:
                    self.problem(field_path, "field added without a default: data written "
                                 "with the old schema has no value for it")
                continue
            matched.add(source["name"])
            self.compare(field["type"], source["type"], r_ns, w_ns, field_path,
                         report_removals=report_removals)
        if not report_removals:
            return
        for name, field in writer_fields.items():
            if name not in matched and "default" not in field:
                field_path = f"{path}.{name}" if path else name
                self.problem(field_path, "required field (no default) removed: consumers "
                             "still on the old schema cannot read new data; give it a "
                             "default first, remove it in a later release",
                             REMOVED_REQUIRED_FIELD)


def backward_problems(
    new: Mapping[str, Any], old: Mapping[str, Any], *, against: str = ""
) -> list[Incompatibility]:
    """Why ``new`` (reader) cannot read data written with ``old`` (writer); empty if it can.

    Includes the stricter ``REMOVED_REQUIRED_FIELD`` and ``LOGICAL_TYPE_CHANGED`` rules
    described in the module docstring.
    """
    name = full_name(new) if isinstance(new, Mapping) and "name" in new else "<schema>"
    checker = _Checker(name, dict(new), dict(old), against)
    checker.compare(dict(new), dict(old), None, None, "")
    return checker.problems


def check_backward_transitive(
    new: Mapping[str, Any], history: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Incompatibility]:
    """BACKWARD_TRANSITIVE: ``new`` must read data of every ``(label, schema)`` in history."""
    problems: list[Incompatibility] = []
    seen: set[str] = set()
    for label, old in history:
        form = resolution_form(old) + json.dumps(strip_documentation(old), sort_keys=True)
        if form in seen:
            continue
        seen.add(form)
        problems.extend(backward_problems(new, old, against=label))
    return problems


# --------------------------------------------------------------------------- git history


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, encoding="utf-8", check=False
    )


def _repository_path(path: Path) -> tuple[Path, str]:
    root = _git(["rev-parse", "--show-toplevel"], path.parent)
    if root.returncode != 0:
        raise ConfigError(f"{path} is not inside a git checkout: {root.stderr.strip()}")
    top = Path(root.stdout.strip())
    return top, path.resolve().relative_to(top.resolve()).as_posix()


def committed_versions(path: Path, ref: str = "HEAD") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every committed version of a schema file reachable from ``ref``, newest first.

    Each is ``("<commit>:<path>", schema)``; the labels name what a problem was found
    against. A file that does not exist at ``ref`` yields nothing (a new event type).
    """
    top, relative = _repository_path(path)
    log_result = _git(["log", "--format=%H", "--follow", ref, "--", relative], top)
    if log_result.returncode != 0:
        raise ConfigError(f"git log {ref} -- {relative} failed: {log_result.stderr.strip()}")
    for commit in log_result.stdout.split():
        shown = _git(["show", f"{commit}:{relative}"], top)
        if shown.returncode != 0:
            continue
        try:
            schema = json.loads(shown.stdout)
        except ValueError:
            log.warning("skipping unparsable %s at %s", relative, commit[:12])
            continue
        yield f"{commit[:12]}:{relative}", schema



# --------------------------------------------------------------------------- catalogue

_CATALOGUE_HEAD = """# Event catalogue 事件目录

<!-- Generated from schemas/*.avsc by `liangfa schemas catalogue`; do not edit by hand:
     change the .avsc files (doc, x-zh, x-producers, x-consumers, x-key, x-topics) and
     regenerate. A test fails when this file is out of date. -->

Every event is an Avro record in namespace `cn.liangfa.events`, sent in the Confluent
wire format (magic byte 0, 4-byte schema id, Avro binary) with CloudEvents binary-mode
headers (`ce_id`, `ce_source`, `ce_type`, `ce_time`, `ce_subject`, `ce_specversion`,
`content-type`). Subjects follow RecordNameStrategy (subject = full record name), so
several event types share a topic. Every change must be BACKWARD_TRANSITIVE compatible
(`liangfa schemas check`). Amounts are integer fen (分); instants are
`timestamp-micros` (UTC on the wire); legal dates are Avro `date`.

Every event starts with the common header 公共事件头, flattened at the top level:
"""


def _type_label(schema: Any) -> tuple[str, bool]:
    """(readable type, optional?) of a field type, for the catalogue."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        labels = [_type_label(b)[0] for b in branches]
        return " \\| ".join(labels), len(branches) != len(schema)
    if isinstance(schema, str):
        return (schema if schema in _PRIMITIVES else f"`{schema}`"), False
    kind = schema.get("type")
    logical = schema.get("logicalType")
    if logical:
        return str(logical), False
    if kind == "array":
        return f"array of {_type_label(schema['items'])[0]}", False
    if kind == "map":
        return f"map of {_type_label(schema['values'])[0]}", False
    if kind in _NAMED:
        return f"{kind} `{schema['name']}`", False
    return _type_label(kind)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _named_types(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") in _NAMED:
            found.append(schema)
        for key in ("fields", "items", "values", "type"):
            if key in schema:
                value = schema[key]
                if isinstance(value, list):
                    for item in value:
                        found += _named_types(item.get("type") if key == "fields" else item)
                else:
                    found += _named_types(value)
    elif isinstance(schema, list):
        for item in schema:
            found += _named_types(item)
    return found


def _field_table(record: Mapping[str, Any], *, skip_header: bool) -> list[str]:
    lines = ["| field 字段 | type 类型 | required 必填 | description 说明 |", "|---|---|---|---|"]
    for index, field in enumerate(record["fields"]):
        if skip_header and index < 8:
            continue
        label, optional = _type_label(field["type"])
        required = "no" if optional or "default" in field else "yes"
        doc = _cell(field.get("doc", ""))
        lines.append(f"| `{field['name']}` | {label} | {required} | {doc} |")
    return lines


def render_catalogue(schemas: Mapping[str, Mapping[str, Any]]) -> str:
    """The Markdown event catalogue (docs/events.md) of the given schemas, in file order."""
    lines = [_CATALOGUE_HEAD]
    first = next(iter(schemas.values()), None)
    if first is not None:
        header = dict(first, fields=list(first["fields"])[:8])
        lines.extend(_field_table(header, skip_header=False))
        lines.append("")
    lines.append("## Summary 概览\n")
    lines.append(
        "| event 事件 | 中文 | producers 生产者 | consumers 消费者 | key 键 | topics 主题 |"
    )
    lines.append("|---|---|---|---|---|---|")
    for name, schema in schemas.items():
        short = name.rsplit(".", 1)[1]
        lines.append(
            f"| [{short}](#{short.lower()}) | {_cell(schema.get('x-zh', ''))} | "
            f"{_cell('; '.join(schema.get('x-producers', [])))} | "
            f"{_cell('; '.join(schema.get('x-consumers', [])))} | "
            f"{_cell(schema.get('x-key', ''))} | "
            f"{_cell(', '.join(f'`{t}`' for t in schema.get('x-topics', [])))} |"
        )
    lines.append("")
    for name, schema in schemas.items():
        short = name.rsplit(".", 1)[1]
        lines.append(f"## {short}\n")
        lines.append(f"**{schema.get('x-zh', '')}** — `{name}`\n")
        lines.append(f"{schema.get('doc', '')}\n")
        lines.append(f"- Producers 生产者: {'; '.join(schema.get('x-producers', []))}")
        lines.append(f"- Consumers 消费者: {'; '.join(schema.get('x-consumers', []))}")
        lines.append(f"- Key 键: {schema.get('x-key', '')}")
        lines.append(
            f"- Topics 主题: {', '.join(f'`{t}`' for t in schema.get('x-topics', []))}\n"
        )
        lines.append("Fields after the common header 公共事件头之后的字段:\n")
        lines.extend(_field_table(schema, skip_header=True))
        lines.append("")
        seen: set[str] = set()
        for named in _named_types(schema)[1:]:
            if named["name"] in seen:
                continue
            seen.add(named["name"])
            if named["type"] == "enum":
                lines.append(f"Enum `{named['name']}`: {named.get('doc', '')} "
                             f"Symbols: {', '.join(f'`{s}`' for s in named['symbols'])}; "
                             f"default `{named.get('default')}`.\n")
            elif named["type"] == "record":
                lines.append(f"Record `{named['name']}`: {named.get('doc', '')}\n")
                lines.extend(_field_table(named, skip_header=False))
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- checks


INVALID = "INVALID_SCHEMA"
REGISTRY = "REGISTRY"


def ordered_schemas(schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Schemas in lifecycle order (the order of ``hub.models.EVENT_TYPES``), others after."""
    from hub.models import EVENT_TYPES

    known = [name for name in EVENT_TYPES if name in schemas]
    rest = sorted(name for name in schemas if name not in EVENT_TYPES)
    return {name: schemas[name] for name in known + rest}


def validity_problems(schema: Mapping[str, Any]) -> list[Incompatibility]:
    """Problems that make a schema unusable at all (fastavro refuses to parse it)."""
    from fastavro import parse_schema
    from fastavro.schema import SchemaParseException, UnknownType

    try:
        parse_schema(dict(schema))
    except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError) as exc:
        name = full_name(schema) if "name" in schema else "<schema>"
        return [Incompatibility(name, "", f"not a valid Avro schema: {exc}", INVALID)]
    return []


def offline_check(
    directory: Path | None = None, *, ref: str = "HEAD", latest_only: bool = False
) -> list[Incompatibility]:
    """Check the working tree's schemas against their committed history in git.

    BACKWARD_TRANSITIVE against every version of each file reachable from ``ref``
    (``latest_only``: against the version at ``ref`` alone), plus the stricter rules.
    """
    problems: list[Incompatibility] = []
    for _name, path in schema_files(directory).items():
        schema = load_schema_file(path)
        invalid = validity_problems(schema)
        if invalid:
            problems += invalid
            continue
        history = list(committed_versions(path, ref))
        if latest_only:
            history = history[:1]
        problems += check_backward_transitive(schema, history)
    return problems


async def registry_check(
    registry: Any, schemas: Mapping[str, Mapping[str, Any]]
) -> list[Incompatibility]:
    """Check schemas against every version registered under their subject.

    The registry's compatibility endpoint gives the verdict for each version; the local
    rules explain it field by field and add the stricter checks. ``registry`` is a
    :class:`hub.registry.SchemaRegistryClient`.
    """
    problems: list[Incompatibility] = []
    for name, schema in schemas.items():
        invalid = validity_problems(schema)
        if invalid:
            problems += invalid
            continue
        for version in await registry.versions(name):
            registered = await registry.get_version(name, version)
            label = f"registry {name} v{version} (id {registered.schema_id})"
            verdict = await registry.check_compatibility(name, schema, version)
            local = backward_problems(schema, registered.schema, against=label)
            problems += local
            if not verdict.is_compatible and not [p for p in local if p.rule == BACKWARD]:
                detail = "; ".join(verdict.messages) or "no details given"
                problems.append(Incompatibility(
                    name, "", f"the registry reports a break ({detail})", REGISTRY, label))
    return _unique(problems)


def _unique(problems: list[Incompatibility]) -> list[Incompatibility]:
    seen: set[tuple[str, str, str, str]] = set()
    unique: list[Incompatibility] = []
    for problem in problems:
        key = (problem.schema, problem.path, problem.message, problem.rule)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def register_all(
    registry_url: str,
    *,
    auth: Any = None,
    directory: Path | None = None,
) -> dict[str, int]:
    """Register every shipped schema under its RecordNameStrategy subject; full name → id.

    Synchronous, for ``liangfa up`` and scripts. Idempotent: an unchanged schema keeps its
    id. An incompatible change raises :class:`~hub.errors.SchemaCompatibilityError`;
    ``auth`` is a :class:`hub.config.RegistryAuth`.
    """
    from hub.registry import SyncSchemaRegistryClient

    registered: dict[str, int] = {}
    with SyncSchemaRegistryClient(registry_url, auth=auth) as registry:
        for name, schema in ordered_schemas(local_schemas(directory)).items():
            registered[name] = registry.register(name, schema)
    log.info("registered %s schemas at %s", len(registered), registry_url)
    return registered
