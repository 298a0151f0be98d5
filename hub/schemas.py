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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.paths import package_root, schemas_dir

__all__ = [
    "BACKWARD",
    "LOGICAL_TYPE_CHANGED",
    "REMOVED_REQUIRED_FIELD",
    "Incompatibility",
    "backward_problems",
    "check_backward_transitive",
    "committed_versions",
    "full_name",
    "load_schema_file",
    "local_schema",
    "local_schemas",
    "resolution_form",
    "schema_files",
    "strip_documentation",
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
    new: Mapping[str, Any], history: list[tuple[str, Mapping[str, Any]]]
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


def default_repository() -> Path:
    """The checkout the shipped schemas belong to (for ``git show``)."""
    return package_root()
