"""docs/events.md is generated from the schemas and kept up to date."""

from __future__ import annotations

from typer.testing import CliRunner

from hub.cli.schemas import app, default_catalogue_path
from hub.models import EVENT_TYPES
from hub.schemas import local_schemas, ordered_schemas, render_catalogue


def test_docs_events_md_is_up_to_date():
    expected = render_catalogue(ordered_schemas(local_schemas()))
    current = default_catalogue_path().read_text(encoding="utf-8")
    assert current == expected, "docs/events.md is stale: run `liangfa schemas catalogue`"


def test_catalogue_lists_every_event_with_its_chinese_name_producers_and_consumers():
    text = render_catalogue(ordered_schemas(local_schemas()))
    for name, schema in local_schemas().items():
        short = name.rsplit(".", 1)[1]
        assert f"## {short}\n" in text
        assert f"**{schema['x-zh']}** — `{name}`" in text
        assert "; ".join(schema["x-producers"]) in text
        assert "; ".join(schema["x-consumers"]) in text
    assert text.index("## PenaltyCaseRecorded") < text.index("## CaseReferred")
    assert len(EVENT_TYPES) == text.count("\n## ") - 1  # plus the summary section


def test_catalogue_command_writes_and_checks(tmp_path):
    target = tmp_path / "events.md"
    runner = CliRunner()
    stale = runner.invoke(app, ["catalogue", "--check", "--output", str(target)])
    assert stale.exit_code == 1
    assert "out of date" in stale.output
    written = runner.invoke(app, ["catalogue", "--output", str(target)])
    assert written.exit_code == 0, written.output
    fresh = runner.invoke(app, ["catalogue", "--check", "--output", str(target)])
    assert fresh.exit_code == 0, fresh.output
    assert "## AuditRecorded" in target.read_text(encoding="utf-8")


def test_list_command_shows_every_schema():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == len(EVENT_TYPES)
    assert lines[0].startswith("cn.liangfa.events.PenaltyCaseRecorded  行政处罚案件登记")
