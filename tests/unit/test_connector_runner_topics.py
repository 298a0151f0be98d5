"""A benchmark's connector writes under its own prefix, never a running hub's unit topics."""

from __future__ import annotations

from pathlib import Path

from connectors.config import parse_config
from connectors.runner import ConnectorRunner
from connectors.samples import DEMO_MARKET_UNIT
from streams.topics import TopicNames


def _config(tmp_path: Path):
    return parse_config({
        "id": "bench-test", "unit": DEMO_MARKET_UNIT, "kind": "file",
        "source": {"path": str(tmp_path)}, "preset": "penalty-disclosure",
        "mapping": {"stream": "bench"}, "state_dir": str(tmp_path / "state")})


def test_a_prefixed_runner_is_outside_the_ingest_pattern(tmp_path: Path) -> None:
    runner = ConnectorRunner(_config(tmp_path), topic_prefix="lf-bench-1234.")
    assert runner.topic == f"lf-bench-1234.lf.ingest.{DEMO_MARKET_UNIT}.bench"
    assert runner.dlq == "lf-bench-1234.lf.dlq.bench-test"
    pattern = TopicNames().ingest_pattern
    assert pattern.match(runner.topic) is None  # a hub's workers never subscribe to it


def test_an_unprefixed_runner_writes_the_units_ingest_topic(tmp_path: Path) -> None:
    runner = ConnectorRunner(_config(tmp_path))
    assert TopicNames().ingest_unit(runner.topic) == DEMO_MARKET_UNIT
