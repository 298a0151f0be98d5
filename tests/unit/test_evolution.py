"""BACKWARD(_TRANSITIVE) rules of hub.schemas, table-tested, plus the git-based offline check."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli.schemas import app
from hub.schemas import (
    BACKWARD,
    INVALID,
    LOGICAL_TYPE_CHANGED,
    REMOVED_REQUIRED_FIELD,
    backward_problems,
    check_backward_transitive,
    committed_versions,
    local_schemas,
    offline_check,
)

NS = "cn.liangfa.tests"


def record(*fields: dict[str, Any], name: str = "Thing", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": NS, "fields": list(fields), **extra}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def enum(symbols: list[str], default: str | None = None, name: str = "Kind") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "enum", "name": name, "symbols": symbols}
    if default is not None:
        schema["default"] = default
    return schema


BASE = record(field("id", "string"), field("amount", "int"))
NESTED_OLD = record(
    field("id", "string"),
    field("parties", {"type": "array", "items": record(field("name", "string"), name="Party")}),
)

# (description, old (writer), new (reader), expected [(rule, path)])
CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[tuple[str, str]]]] = [
    ("identical", BASE, BASE, []),
    ("add optional field with null default", BASE,
     record(*BASE["fields"], field("note", ["null", "string"], default=None)), []),
    ("add field with a non-null default", BASE,
     record(*BASE["fields"], field("count", "long", default=0)), []),
    ("add field without default", BASE,
     record(*BASE["fields"], field("note", "string")), [(BACKWARD, "note")]),
    ("remove field that has a default",
     record(*BASE["fields"], field("note", ["null", "string"], default=None)), BASE, []),
    ("remove required field", BASE, record(field("id", "string")),
     [(REMOVED_REQUIRED_FIELD, "amount")]),
    ("promote int to long", BASE, record(field("id", "string"), field("amount", "long")), []),
    ("promote int to double", BASE,
     record(field("id", "string"), field("amount", "double")), []),
    ("narrow long to int",
     record(field("id", "string"), field("amount", "long")), BASE, [(BACKWARD, "amount")]),
    ("int to string", BASE, record(field("id", "string"), field("amount", "string")),
     [(BACKWARD, "amount")]),
    ("string to bytes", BASE, record(field("id", "bytes"), field("amount", "int")), []),
    ("float to double", record(field("x", "float")), record(field("x", "double")), []),
    ("double to float", record(field("x", "double")), record(field("x", "float")),
     [(BACKWARD, "x")]),
    ("required becomes nullable", BASE,
     record(field("id", ["null", "string"], default=None), field("amount", "int")), []),
    ("nullable becomes required",
     record(field("id", ["null", "string"], default=None), field("amount", "int")), BASE,
     [(BACKWARD, "id")]),
    ("union widened", record(field("v", ["null", "string"], default=None)),
     record(field("v", ["null", "string", "long"], default=None)), []),
    ("union narrowed", record(field("v", ["null", "string", "long"], default=None)),
     record(field("v", ["null", "string"], default=None)), [(BACKWARD, "v")]),
    ("union branch promoted", record(field("v", ["null", "int"], default=None)),
     record(field("v", ["null", "long"], default=None)), []),
    ("enum gains a symbol", record(field("k", enum(["A", "UNKNOWN"], "UNKNOWN"))),
     record(field("k", enum(["A", "B", "UNKNOWN"], "UNKNOWN"))), []),
    ("enum loses a symbol but has a default",
     record(field("k", enum(["A", "B", "UNKNOWN"], "UNKNOWN"))),
     record(field("k", enum(["A", "UNKNOWN"], "UNKNOWN"))), []),
    ("enum loses a symbol without a default", record(field("k", enum(["A", "B"]))),
     record(field("k", enum(["A"]))), [(BACKWARD, "k")]),
    ("enum renamed", record(field("k", enum(["A"], name="Kind"))),
     record(field("k", enum(["A"], name="Sort"))), [(BACKWARD, "k")]),
    ("enum renamed with alias", record(field("k", enum(["A"], name="Kind"))),
     record(field("k", dict(enum(["A"], name="Sort"), aliases=["Kind"]))), []),
    ("field renamed with alias", BASE,
     record(field("id", "string"), field("total", "int", aliases=["amount"])), []),
    ("field renamed without alias", BASE,
     record(field("id", "string"), field("total", "int")),
     [(BACKWARD, "total"), (REMOVED_REQUIRED_FIELD, "amount")]),
    ("record renamed", BASE, dict(BASE, name="Other"), [(BACKWARD, "")]),
    ("record renamed with alias", BASE, dict(BASE, name="Other", aliases=[f"{NS}.Thing"]), []),
    ("nested field added without default", NESTED_OLD,
     record(field("id", "string"), field("parties", {"type": "array", "items": record(
         field("name", "string"), field("code", "string"), name="Party")})),
     [(BACKWARD, "parties[].code")]),
    ("nested required field removed", NESTED_OLD,
     record(field("id", "string"), field("parties", {"type": "array", "items": record(
         field("alias", ["null", "string"], default=None), name="Party")})),
     [(REMOVED_REQUIRED_FIELD, "parties[].name")]),
    ("map values promoted", record(field("m", {"type": "map", "values": "int"})),
     record(field("m", {"type": "map", "values": "long"})), []),
    ("array to map", record(field("m", {"type": "array", "items": "string"})),
     record(field("m", {"type": "map", "values": "string"})), [(BACKWARD, "m")]),
    ("logical type changed",
     record(field("t", {"type": "long", "logicalType": "timestamp-millis"})),
     record(field("t", {"type": "long", "logicalType": "timestamp-micros"})),
     [(LOGICAL_TYPE_CHANGED, "t")]),
    ("fixed size changed", record(field("f", {"type": "fixed", "name": "F", "size": 4})),
     record(field("f", {"type": "fixed", "name": "F", "size": 8})), [(BACKWARD, "f")]),
    ("non-union writer read by a union reader", record(field("v", "string")),
     record(field("v", ["null", "string"], default=None)), []),
    ("non-union writer missing from the reader union", record(field("v", "int")),
     record(field("v", ["null", "string"], default=None)), [(BACKWARD, "v")]),
    ("named type referenced twice, change seen through the reference",
     record(field("a", record(field("x", "int"), name="Inner")), field("b", "Inner")),
     record(field("a", record(field("x", "int"), field("y", "int"), name="Inner")),
            field("b", "Inner")),
     [(BACKWARD, "a.y")]),
    ("recursive type", record(field("next", ["null", "Thing"], default=None)),
     record(field("next", ["null", "Thing"], default=None),
            field("label", ["null", "string"], default=None)), []),
]


@pytest.mark.parametrize(("old", "new", "expected"),
                         [pytest.param(o, n, e, id=d) for d, o, n, e in CASES])
def test_backward_rules(old, new, expected):
    problems = backward_problems(new, old)
    assert sorted((p.rule, p.path) for p in problems) == sorted(expected)
    for problem in problems:
        assert problem.schema == f"{NS}.Thing" or problem.schema.startswith(NS)


def test_problem_text_names_schema_field_and_rule():
    (problem,) = backward_problems(record(*BASE["fields"], field("note", "string")), BASE,
                                   against="abc123:schemas/Thing.avsc")
    text = str(problem)
    assert text.startswith(f"{NS}.Thing: note: field added without a default")
    assert "[BACKWARD]" in text
    assert "abc123:schemas/Thing.avsc" in text


def test_transitive_catches_a_break_with_an_older_version_only():
    v1 = record(field("id", "string"))
    v2 = record(field("id", "string"), field("b", "string", default="x"))
    v3 = record(field("id", "string"), field("b", "string"))  # default dropped
    assert backward_problems(v3, v2) == []
    problems = check_backward_transitive(v3, [("v2", v2), ("v1", v1)])
    assert [(p.rule, p.path, p.against) for p in problems] == [(BACKWARD, "b", "v1")]


@pytest.mark.parametrize("avro_name", sorted(local_schemas()))
def test_every_shipped_schema_is_compatible_with_itself(avro_name):
    schema = local_schemas()[avro_name]
    assert backward_problems(schema, schema) == []


def _penalty() -> dict[str, Any]:
    return copy.deepcopy(local_schemas()["cn.liangfa.events.PenaltyCaseRecorded"])


def test_removing_a_required_field_of_a_real_schema_is_flagged_by_name():
    old = _penalty()
    new = _penalty()
    new["fields"] = [f for f in new["fields"] if f["name"] != "violation_facts"]
    problems = backward_problems(new, old)
    assert [(p.schema, p.path, p.rule) for p in problems] == [
        ("cn.liangfa.events.PenaltyCaseRecorded", "violation_facts", REMOVED_REQUIRED_FIELD)]


def test_adding_an_optional_field_to_a_real_schema_passes():
    old = _penalty()
    new = _penalty()
    new["fields"].append({"name": "seized_goods_value_fen", "type": ["null", "long"],
                          "default": None, "doc": "Value of seized goods 查扣货值 in fen 分."})
    assert backward_problems(new, old) == []


def test_adding_an_enum_symbol_to_a_nested_enum_of_a_real_schema_passes():
    old = _penalty()
    new = _penalty()
    parties = next(f for f in new["fields"] if f["name"] == "parties")
    category = next(f for f in parties["type"]["items"]["fields"] if f["name"] == "category")
    category["type"]["symbols"].insert(0, "PUBLIC_INSTITUTION")
    assert backward_problems(new, old) == []


# ---------------------------------------------------------------- git-based offline check


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def schema_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "test@example.invalid")
    _git(repo, "config", "user.name", "Test")
    _git(repo, "config", "commit.gpgsign", "false")
    return repo


def _commit(repo: Path, schema: dict[str, Any], message: str) -> None:
    (repo / "schemas" / "Thing.avsc").write_text(json.dumps(schema, indent=2), "utf-8")
    _git(repo, "add", "schemas/Thing.avsc")
    _git(repo, "commit", "-q", "-m", message)


def _write(repo: Path, schema: dict[str, Any]) -> None:
    (repo / "schemas" / "Thing.avsc").write_text(json.dumps(schema, indent=2), "utf-8")


def test_committed_versions_lists_history_newest_first(schema_repo):
    v1 = record(field("id", "string"))
    v2 = record(field("id", "string"), field("b", ["null", "string"], default=None))
    _commit(schema_repo, v1, "v1")
    _commit(schema_repo, v2, "v2")
    versions = list(committed_versions(schema_repo / "schemas" / "Thing.avsc"))
    assert [schema for _label, schema in versions] == [v2, v1]
    assert all(label.endswith(":schemas/Thing.avsc") for label, _ in versions)


def test_offline_check_flags_a_removed_required_field_against_head(schema_repo):
    _commit(schema_repo, BASE, "v1")
    _write(schema_repo, record(field("id", "string")))
    problems = offline_check(schema_repo / "schemas")
    assert [(p.path, p.rule) for p in problems] == [("amount", REMOVED_REQUIRED_FIELD)]


def test_offline_check_is_transitive_over_history_unless_latest_only(schema_repo):
    _commit(schema_repo, record(field("id", "string")), "v1")
    _commit(schema_repo, record(field("id", "string"), field("b", "string", default="x")), "v2")
    _write(schema_repo, record(field("id", "string"), field("b", "string")))
    assert [(p.path, p.rule) for p in offline_check(schema_repo / "schemas")] == [
        ("b", BACKWARD)]
    assert offline_check(schema_repo / "schemas", latest_only=True) == []


def test_offline_check_against_an_older_ref(schema_repo):
    _commit(schema_repo, BASE, "v1")
    _git(schema_repo, "tag", "release-1")
    _commit(schema_repo, record(*BASE["fields"], field("n", "long", default=0)), "v2")
    _write(schema_repo, record(field("id", "string"), field("n", "long", default=0)))
    problems = offline_check(schema_repo / "schemas", ref="release-1", latest_only=True)
    assert [(p.path, p.rule) for p in problems] == [("amount", REMOVED_REQUIRED_FIELD)]


def test_a_new_schema_file_without_history_passes(schema_repo):
    _commit(schema_repo, BASE, "v1")
    (schema_repo / "schemas" / "Other.avsc").write_text(
        json.dumps(record(field("id", "string"), name="Other")), "utf-8")
    assert offline_check(schema_repo / "schemas") == []


def test_an_unparsable_schema_is_reported_not_crashed_on(schema_repo):
    _commit(schema_repo, BASE, "v1")
    _write(schema_repo, record(field("id", "no-such-type")))
    (problem,) = offline_check(schema_repo / "schemas")
    assert problem.rule == INVALID


def test_cli_check_offline_exits_1_naming_schema_and_field(schema_repo):
    _commit(schema_repo, BASE, "v1")
    _write(schema_repo, record(field("id", "string")))
    result = CliRunner().invoke(
        app, ["check", "--offline", "--schemas-dir", str(schema_repo / "schemas")])
    assert result.exit_code == 1
    assert f"{NS}.Thing: amount: required field (no default) removed" in result.output
    _write(schema_repo, record(*BASE["fields"], field("note", ["null", "string"],
                                                      default=None)))
    result = CliRunner().invoke(
        app, ["check", "--offline", "--schemas-dir", str(schema_repo / "schemas")])
    assert result.exit_code == 0, result.output
    assert "all schemas compatible" in result.output


def test_cli_check_offline_passes_on_the_shipped_schemas():
    result = CliRunner().invoke(app, ["check", "--offline"])
    assert result.exit_code == 0, result.output
