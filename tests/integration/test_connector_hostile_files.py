"""Hostile files on the real broker: a refused file is one dead-letter record naming the
connector, the file and the reason, a count in the quarantine metric, the file moved to
quarantine; the good file beside it flows, and a re-run sends nothing twice."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.config import parse_config
from connectors.runner import ConnectorRunner, dlq_topic
from connectors.samples import DEMO_MARKET_UNIT, write_penalty_csv
from hub.config import HubSettings
from hub.topics import ingest_topic
from tests.conftest import run_sync
from tests.integration.test_connector_standard import read_topic

pytestmark = pytest.mark.integration


def test_refused_files_are_dead_lettered_counted_and_quarantined_and_the_feed_flows(
        tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a-fake.xlsx").write_bytes(b"PK\x03\x04 truncated")
    (drop / "b-open-quote.csv").write_bytes(b"a,b\n1,\"" + b"x" * 70_000 + b"\n")
    write_penalty_csv(drop / "c-good.csv", 5)
    suffix = uuid.uuid4().hex[:8]
    config = parse_config({
        "id": f"hostile-{suffix}", "unit": DEMO_MARKET_UNIT, "kind": "file",
        "source": {"path": str(drop), "pattern": "*", "settle_seconds": 0,
                   "limits": {"max_record_bytes": 65_536}},
        "preset": "penalty-disclosure", "mapping": {"stream": f"hostile-{suffix}"},
        "state_dir": str(tmp_path / "state"), "bootstrap": bootstrap,
        "registry_url": registry_url})

    def run() -> ConnectorRunner:
        runner = ConnectorRunner(config, settings=HubSettings())
        run_sync(runner.run(once=True))
        return runner

    runner = run()
    events = read_topic(bootstrap, ingest_topic(config.unit, config.stream))
    assert len(events) == 5
    letters = read_topic(bootstrap, dlq_topic(config.id))
    headers = sorted(({k: v.decode() for k, v in letter.headers} for letter in letters),
                     key=lambda h: h["source.file"])
    assert [(h["source.file"], h["error.type"]) for h in headers] == [
        ("a-fake.xlsx", "not_a_zip"), ("b-open-quote.csv", "record_too_large")]
    for header in headers:
        assert header["connector.id"] == config.id
        assert header["error.field"] == "file"
        assert header["error.reason"]
        assert header["source.reference"] == f"{header['source.file']}#file"
    assert runner.metrics.quarantined_total() == 2
    assert runner.metrics.produced._value.get() == 5
    quarantine = tmp_path / "drop-quarantine"
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "a-fake.xlsx", "a-fake.xlsx.reason.txt", "b-open-quote.csv",
        "b-open-quote.csv.reason.txt"]
    assert sorted(p.name for p in drop.iterdir()) == ["archive"]

    (drop / "a-fake-again.xlsx").write_bytes(b"PK\x03\x04 truncated")
    again = run()
    assert len(read_topic(bootstrap, dlq_topic(config.id))) == 2
    assert again.metrics.quarantined_total() == 0
    assert (quarantine / "a-fake-again.xlsx").is_file()
