"""`liangfa schemas check` and `register` against the real registry."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli.schemas import app
from hub.registry import SchemaRegistryClient
from hub.schemas import BACKWARD, REGISTRY, REMOVED_REQUIRED_FIELD, local_schemas, registry_check

pytestmark = pytest.mark.integration


def _schema(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "cn.liangfa.tests",
            "doc": "Check test record 测试记录.", "fields": list(fields)}


ID = {"name": "id", "type": "string", "doc": "Id 编号."}
AMOUNT = {"name": "amount_fen", "type": "long", "doc": "Amount 金额 in fen."}
NOTE = {"name": "note", "type": ["null", "string"], "default": None, "doc": "Note 备注."}


@pytest.fixture
def record_name() -> str:
    return f"C{uuid.uuid4().hex[:12]}"


async def test_registry_check_names_schema_and_field(registry_url, record_name):
    full = f"cn.liangfa.tests.{record_name}"
    async with SchemaRegistryClient(registry_url) as registry:
        await registry.set_compatibility("BACKWARD_TRANSITIVE", full)
        await registry.register(full, _schema(record_name, ID, AMOUNT))

        assert await registry_check(registry, {full: _schema(record_name, ID, AMOUNT, NOTE)}) == []

        removed = await registry_check(registry, {full: _schema(record_name, ID)})
        assert [(p.schema, p.path, p.rule) for p in removed] == [
            (full, "amount_fen", REMOVED_REQUIRED_FIELD)]

        required = dict(NOTE, type="string")
        del required["default"]
        added = await registry_check(registry, {full: _schema(record_name, ID, AMOUNT, required)})
        assert [(p.schema, p.path, p.rule) for p in added] == [(full, "note", BACKWARD)]
        assert (await registry.check_compatibility(
            full, _schema(record_name, ID, AMOUNT, required))).is_compatible is False
        assert REGISTRY not in {p.rule for p in added}


def _write(directory: Path, schema: dict[str, Any]) -> None:
    directory.mkdir(exist_ok=True)
    (directory / f"{schema['name']}.avsc").write_text(json.dumps(schema), encoding="utf-8")


def test_cli_register_then_check_against_the_registry(registry_url, record_name, tmp_path):
    runner = CliRunner()
    schemas = tmp_path / "schemas"
    _write(schemas, _schema(record_name, ID, AMOUNT))
    options = ["--schemas-dir", str(schemas), "--registry-url", registry_url]
    registered = runner.invoke(app, ["register", *options])
    assert registered.exit_code == 0, registered.output
    assert f"cn.liangfa.tests.{record_name}: id " in registered.output
    assert "BACKWARD_TRANSITIVE" in registered.output

    listed = runner.invoke(app, ["list", "--registry", *options])
    assert listed.exit_code == 0, listed.output
    assert "[v1 id " in listed.output

    _write(schemas, _schema(record_name, ID, AMOUNT, NOTE))
    assert runner.invoke(app, ["check", *options]).exit_code == 0

    _write(schemas, _schema(record_name, ID))
    broken = runner.invoke(app, ["check", *options])
    assert broken.exit_code == 1
    assert f"cn.liangfa.tests.{record_name}: amount_fen: required field (no default) " \
           "removed" in broken.output
    refused = runner.invoke(app, ["register", *options])
    assert refused.exit_code == 1
    assert "nothing registered" in refused.output


def test_cli_check_passes_for_the_shipped_schemas(registry_url):
    result = CliRunner().invoke(app, ["check", "--registry-url", registry_url])
    assert result.exit_code == 0, result.output


def test_register_all_is_idempotent_and_matches_the_serde(registry_url, tmp_path, record_name):
    from hub.schemas import register_all

    schemas = tmp_path / "schemas"
    _write(schemas, _schema(record_name, ID, AMOUNT))
    first = register_all(registry_url, directory=schemas)
    again = register_all(registry_url, directory=schemas)
    assert first == again
    assert list(first) == [f"cn.liangfa.tests.{record_name}"]
    shipped = register_all(registry_url)
    assert len(shipped) == len(local_schemas())
