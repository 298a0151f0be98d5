"""Connector config validation: every problem at once, each with its YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.config import available_presets, load_config, parse_config
from hub.errors import ConfigError

UNIT = "11429901030089405N"


def test_common_case_with_a_preset_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"""
id: demo-market-penalties
unit: {UNIT}
kind: file
source: {{path: exports, pattern: "*.csv"}}
preset: penalty-disclosure
""", encoding="utf-8")
    config = load_config(path)
    assert config.stream == "penalties"
    assert config.source.path == tmp_path / "exports"  # type: ignore[union-attr]
    assert config.mapping.event_type == "PenaltyCaseRecorded"


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"id": "Bad Id", "unit": "123", "kind": "file",
                      "source": {"pattern": 3, "settle_seconds": -1},
                      "preset": "no-such-preset", "poll_interval_seconds": 0})
    problems = caught.value.problems
    paths = sorted(p.split(":")[0] for p in problems)
    assert paths == ["id", "poll_interval_seconds", "preset", "source.path", "source.pattern",
                     "source.settle_seconds", "unit"]
    assert any("统一社会信用代码" in p for p in problems)


def test_mapping_problems_name_their_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"id": "x-1", "unit": UNIT, "kind": "sql",
                      "source": {"url": "sqlite://", "table": "t", "watermark_column": "w",
                                 "tie_breaker_column": "id"},
                      "mapping": {"event_type": "NoSuchEvent", "stream": "s",
                                  "case_key": {"number_fields": ["n"]}, "natural_key": ["n"],
                                  "fields": {"n": {"column": "n", "convert": "roman"}}}})
    text = "\n".join(caught.value.problems)
    assert "mapping.fields.n.convert" in text
    assert "mapping.event_type" not in text or "NoSuchEvent" in text


def test_inline_mapping_overrides_a_preset_field_by_field() -> None:
    config = parse_config({
        "id": "x-2", "unit": UNIT, "kind": "file", "source": {"path": "/tmp"},
        "preset": "penalty-disclosure",
        "mapping": {"stream": "penalties-b", "fields": {
            "remarks": None, "agency_case_number": {"column": "内部编号"}}}})
    assert config.stream == "penalties-b"
    assert "remarks" not in config.mapping.fields
    assert config.mapping.fields["agency_case_number"].column == "内部编号"
    assert "decision_number" in config.mapping.fields


def test_a_missing_mapping_without_preset_is_a_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"id": "x-3", "unit": UNIT, "kind": "file", "source": {"path": "/tmp"}})
    assert caught.value.problems == ["mapping: give a preset or a mapping"]


def test_every_shipped_preset_is_a_valid_mapping() -> None:
    assert "penalty-disclosure" in available_presets()
    for preset in available_presets():
        parse_config({"id": "p-check", "unit": UNIT, "kind": "file",
                      "source": {"path": "/tmp"}, "preset": preset})


def test_mapping_processes_default_to_the_cpus_for_files_and_one_otherwise(
        tmp_path: Path) -> None:
    """``workers`` unset: file exports get up to 4 mapping processes, other kinds 1."""
    from connectors.parallel import default_workers
    from connectors.runner import ConnectorRunner

    file_config = parse_config({"id": "w-file", "unit": UNIT, "kind": "file",
                                "source": {"path": str(tmp_path)},
                                "preset": "penalty-disclosure",
                                "state_dir": str(tmp_path / "state")})
    assert file_config.workers is None
    assert ConnectorRunner(file_config).workers == default_workers("file")
    assert 1 <= default_workers("file") <= 4
    assert default_workers("http") == default_workers("sql") == 1
    pinned = parse_config({"id": "w-one", "unit": UNIT, "kind": "file",
                           "source": {"path": str(tmp_path)}, "preset": "penalty-disclosure",
                           "state_dir": str(tmp_path / "state"), "workers": 1})
    assert ConnectorRunner(pinned).workers == 1
    with pytest.raises(ConfigError) as caught:
        parse_config({"id": "w-bad", "unit": UNIT, "kind": "file",
                      "source": {"path": str(tmp_path)}, "preset": "penalty-disclosure",
                      "workers": 0, "worker_chunk_rows": 0})
    assert sorted(p.split(":")[0] for p in caught.value.problems) == \
        ["worker_chunk_rows", "workers"]
