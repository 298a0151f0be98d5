"""Mapping in worker processes (``workers`` > 1) changes nothing a consumer can see.

The same export, bad rows scattered through it, is ingested twice on the real broker:
once in-process (``workers: 1``) and once by two mapping processes in chunks of 16 rows;
then both again with the native row path on, which maps the chunks it takes in the
connector's own process (``connectors.rowpath``).
Both runs give the same event ids and the same dead letters (type, field, value, reason,
row); within each partition the events are in source row order; a re-run adds nothing.
The standard suite (``file-csv-workers`` harness) adds the ``kill -9`` restarts.
"""

from __future__ import annotations

import csv
import resource
import uuid
from pathlib import Path
from typing import Any

import pytest

from connectors import rowpath
from connectors.config import ConnectorConfig, parse_config
from connectors.mapping import build_mapper
from connectors.runner import ConnectorRunner, dlq_topic
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_rows
from hub.config import HubSettings
from hub.topics import ingest_topic
from tests.conftest import run_sync
from tests.integration.test_connector_standard import event_ids, read_topic

pytestmark = pytest.mark.integration

_ROWS = 300


def _write_export(path: Path) -> None:
    """A GBK export with a bad row every 37 rows (an amount that is no number, a short row)."""
    amount = PENALTY_HEADER.index("罚款金额（万元）")
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PENALTY_HEADER)
        for index, row in enumerate(penalty_rows(_ROWS, 1), start=1):
            if index % 74 == 0:
                writer.writerow(row[:5])
            elif index % 37 == 0:
                writer.writerow([*row[:amount], "很多", *row[amount + 1:]])
            else:
                writer.writerow(row)


def _config(tmp_path: Path, name: str, workers: int, bootstrap: str,
            registry_url: str) -> ConnectorConfig:
    drop = tmp_path / name
    drop.mkdir()
    _write_export(drop / "export.csv")
    suffix = uuid.uuid4().hex[:8]
    return parse_config({
        "id": f"workers-{name}-{suffix}", "unit": DEMO_MARKET_UNIT, "kind": "file",
        "source": {"path": str(drop), "settle_seconds": 0}, "preset": "penalty-disclosure",
        "mapping": {"stream": f"workers-{suffix}"}, "state_dir": str(tmp_path / f"{name}-state"),
        "bootstrap": bootstrap, "registry_url": registry_url, "workers": workers,
        "worker_chunk_rows": 16, "checkpoint_every_records": 50})


def _run(config: ConnectorConfig) -> ConnectorRunner:
    runner = ConnectorRunner(config, settings=HubSettings())
    run_sync(runner.run(once=True))
    return runner


def _letters(bootstrap: str, config: ConnectorConfig) -> list[dict[str, str]]:
    keep = ("error.type", "error.field", "error.value", "error.reason", "source.row")
    letters = []
    for record in read_topic(bootstrap, dlq_topic(config.id)):
        headers = {k: v.decode() for k, v in record.headers}
        letters.append({k: headers[k] for k in keep})
    return sorted(letters, key=lambda letter: int(letter["source.row"]))


def _row_of_event(config: ConnectorConfig, export: Path) -> dict[str, int]:
    """Event id → source row, from mapping the export in this process."""
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    rows: dict[str, int] = {}
    with export.open(encoding="gbk", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        for number, values in enumerate(reader, start=2):
            if len(values) != len(header):
                continue
            try:
                mapped = mapper.map(dict(zip(header, values, strict=True)),
                                    f"{export.name}#row {number}")
            except Exception:  # refused rows have no event
                continue
            rows[mapped.event_id] = number
    return rows


@pytest.mark.parametrize("native", [False, True], ids=["python", "native-core"])
def test_worker_processes_give_the_in_process_events_dead_letters_and_order(
        tmp_path: Path, bootstrap: str, registry_url: str, native: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert rowpath.available(), "the native row path is not built (scripts/build-native.sh)"
    monkeypatch.setenv(rowpath.ENVIRONMENT_SWITCH, "1" if native else "0")
    single = _config(tmp_path, "single", 1, bootstrap, registry_url)
    pooled = _config(tmp_path, "pooled", 2, bootstrap, registry_url)
    single_runner = _run(single)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pooled_runner = _run(pooled)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert single_runner.workers == 1 and pooled_runner.workers == 2
    if native:
        # The core took every chunk: mapped in this process, no worker was started.
        assert children_after.ru_utime == children_before.ru_utime
    else:
        # The mapping ran in child processes, stopped (reaped) with the session.
        assert children_after.ru_utime > children_before.ru_utime

    # Event ids depend on the connector id (the source): compare through the row numbers.
    single_rows = _row_of_event(single, tmp_path / "single" / "archive" / "export.csv")
    pooled_rows = _row_of_event(pooled, tmp_path / "pooled" / "archive" / "export.csv")
    single_events = read_topic(bootstrap, ingest_topic(single.unit, single.stream))
    pooled_events = read_topic(bootstrap, ingest_topic(pooled.unit, pooled.stream))
    assert sorted(single_rows[i] for i in event_ids(single_events)) == \
        sorted(pooled_rows[i] for i in event_ids(pooled_events)) == sorted(single_rows.values())
    assert len(pooled_events) == len(pooled_rows) == _ROWS - _ROWS // 37

    letters = _letters(bootstrap, pooled)
    assert letters == _letters(bootstrap, single)
    assert {letter["error.type"] for letter in letters} == {"not_a_number", "column_count"}
    assert [letter["error.field"] for letter in letters if
            letter["error.type"] == "not_a_number"] == ["fine_amount_fen"] * 4

    by_partition: dict[int, list[Any]] = {}
    for record in pooled_events:
        by_partition.setdefault(record.partition, []).append(record)
    assert len(by_partition) > 1
    for records in by_partition.values():
        rows = [pooled_rows[i] for i in event_ids(sorted(records, key=lambda r: r.offset))]
        assert rows == sorted(rows), "events of a partition out of source order"

    assert pooled_runner.metrics.produced._value.get() == len(pooled_rows)
    assert pooled_runner.metrics.rejected_total() == len(letters) == _ROWS // 37

    # The same export again: recognised by its content, nothing new is written.
    (tmp_path / "pooled" / "archive" / "export.csv").rename(tmp_path / "pooled" / "again.csv")
    again = _run(pooled)
    assert again.metrics.produced._value.get() == 0
    assert len(read_topic(bootstrap, ingest_topic(pooled.unit, pooled.stream))) == \
        len(pooled_events)
