"""The standard connector suite: every source kind passes the same checks on the real broker.

Checks: good rows become events and bad rows reach the DLQ with their reason (metrics count
both); a re-run over the same input adds nothing; a ``kill -9`` of the connector process
mid-source, then a restart, leaves every expected event in the topic exactly once; a
``kill -9`` and restart of the broker mid-run loses nothing and duplicates nothing.

"Exactly once" is checked on the topic itself (record count == distinct event ids ==
expected ids): on restart the connector reads the records written after its checkpoint and
does not send them again (see ``connectors.delivery``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import TopicPartition

from connectors.cli import sample_records
from connectors.config import ConnectorConfig, load_config
from connectors.mapping import build_mapper
from connectors.runner import ConnectorRunner, dlq_topic
from connectors.testing import KINDS, KindHarness
from hub.config import HubSettings, KafkaSecurity
from hub.kafka import admin_client, make_consumer
from hub.local.processes import find_stack_processes
from hub.topics import ingest_topic
from tests.conftest import run_sync, start_private_stack
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def _read_all(bootstrap: str, topic: str, *,
                    security: KafkaSecurity | None = None) -> list[Any]:
    """Every record of ``topic`` up to its end now (as ``security``'s principal)."""
    consumer = make_consumer(bootstrap, group_id=None, security=security)
    await consumer.start()
    try:
        admin = admin_client(bootstrap, security=security)
        await admin.start()
        try:
            described = await admin.describe_topics([topic])
        finally:
            await admin.close()
        partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                records.extend(messages)
        return records
    finally:
        await consumer.stop()


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    return run_sync(_read_all(bootstrap, topic))


def event_ids(records: list[Any]) -> list[str]:
    return [dict(r.headers)["ce_id"].decode() for r in records]


def expected_ids(config: ConnectorConfig, samples: list[Path]) -> set[str]:
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    ids = set()
    for sample in samples:
        for record in sample_records(config, sample):
            if record.row is None or record.marker:
                continue
            try:
                ids.add(mapper.map(record.row, record.reference).event.event_id)
            except Exception:
                continue
    return ids


@pytest.fixture(params=sorted(KINDS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KindHarness]:
    resources: dict[str, Any] = {}
    if request.param == "sql-postgres":
        resources["database_url"] = fresh_database(request.getfixturevalue("postgres_url"))
    kind = KINDS[request.param](tmp_path, **resources)
    yield kind
    kind.close()


def _config_file(harness: KindHarness, tmp_path: Path, bootstrap: str, registry_url: str,
                 **extra: Any) -> Path:
    suffix = uuid.uuid4().hex[:8]
    raw = harness.config(f"std-{harness.name}-{suffix}")
    raw["mapping"] = {**raw.get("mapping", {}), "stream": f"std-{suffix}"}
    raw.update(bootstrap=bootstrap, registry_url=registry_url, state_dir=str(tmp_path / "state"),
               poll_interval_seconds=0.2, checkpoint_every_records=500,
               checkpoint_every_seconds=0.2, **extra)
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _run_once(path: Path) -> ConnectorRunner:
    runner = ConnectorRunner(load_config(path), settings=HubSettings())
    run_sync(runner.run(once=True))
    return runner


def test_good_rows_flow_bad_rows_reach_the_dlq_and_metrics_count_both(
        harness: KindHarness, tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    path = _config_file(harness, tmp_path, bootstrap, registry_url)
    config = load_config(path)
    samples = harness.write_batch(40, bad=True)
    expected = expected_ids(config, samples)
    assert len(expected) == 40

    runner = _run_once(path)

    events = read_topic(bootstrap, ingest_topic(config.unit, config.stream))
    assert sorted(event_ids(events)) == sorted(expected)
    letters = read_topic(bootstrap, dlq_topic(config.id))
    assert len(letters) == harness.bad_rows
    reasons = set()
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert headers["connector.id"] == config.id
        assert headers["unit"] == config.unit
        assert headers["error.reason"]
        assert headers["source.reference"]
        assert letter.value  # the original record
        reasons.add(headers["error.type"])
    assert reasons == harness.bad_reasons
    assert runner.metrics.produced._value.get() == 40
    assert runner.metrics.rejected_total() == harness.bad_rows
    assert runner.metrics.read._value.get() == 40 + harness.bad_rows


def test_a_rerun_over_the_same_input_adds_nothing(
        harness: KindHarness, tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    path = _config_file(harness, tmp_path, bootstrap, registry_url)
    config = load_config(path)
    harness.write_batch(25, bad=True)
    _run_once(path)
    topic = ingest_topic(config.unit, config.stream)
    first = read_topic(bootstrap, topic)
    harness.replay()  # the same export again (re-dropped file, reset cursor…)
    second_runner = _run_once(path)
    assert len(read_topic(bootstrap, topic)) == len(first) == 25
    assert len(read_topic(bootstrap, dlq_topic(config.id))) == harness.bad_rows
    assert second_runner.metrics.produced._value.get() == 0


def _start_process(path: Path, *args: str) -> subprocess.Popen[bytes]:
    log = path.with_suffix(".log")
    with log.open("ab") as stderr:
        return subprocess.Popen([sys.executable, "-m", "connectors", "run", str(path), *args],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr)


def _log_tail(path: Path) -> str:
    return path.with_suffix(".log").read_text(encoding="utf-8", errors="replace")[-3000:]


def _checkpoint_progress(state: Path) -> int:
    files = list(state.glob("*.checkpoint.json"))
    if not files:
        return 0
    try:
        position = json.loads(files[0].read_text(encoding="utf-8"))["position"]
    except (ValueError, KeyError):
        return 0
    return int(position.get("row") or position.get("count") or 0)


def test_resume_after_kill_9_of_the_connector_keeps_every_event_exactly_once(
        harness: KindHarness, tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    path = _config_file(harness, tmp_path, bootstrap, registry_url)
    config = load_config(path)
    samples = harness.write_batch(harness.large, bad=False)
    expected = expected_ids(config, samples)

    process = _start_process(path)
    deadline = time.monotonic() + 120
    while _checkpoint_progress(tmp_path / "state") < harness.large // 4:
        assert process.poll() is None, _log_tail(path)
        assert time.monotonic() < deadline, "connector made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _checkpoint_progress(tmp_path / "state") < harness.large, "killed too late"

    restarted = _start_process(path, "--once")
    assert restarted.wait(timeout=300) == 0, _log_tail(path)

    ids = event_ids(read_topic(bootstrap, ingest_topic(config.unit, config.stream)))
    assert set(ids) == expected
    assert len(ids) == len(set(ids)) == len(expected)


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("broker-kill")
    stack = start_private_stack(home)
    yield stack
    stack.down()


def test_carries_on_through_a_kill_9_and_restart_of_the_broker(
        harness: KindHarness, tmp_path: Path, private_stack: Any) -> None:
    path = _config_file(harness, tmp_path, private_stack.bootstrap, private_stack.registry_url)
    config = load_config(path)
    samples = harness.write_batch(harness.large, bad=False)
    expected = expected_ids(config, samples)

    async def scenario() -> None:
        runner = ConnectorRunner(config, settings=HubSettings())
        task = asyncio.create_task(runner.run(once=True))
        deadline = time.monotonic() + 120
        while _checkpoint_progress(tmp_path / "state") < harness.large // 4:
            assert not task.done(), task.exception() if task.done() else ""
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        for pid in find_stack_processes(private_stack.home, "kafka"):
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(1)
        await asyncio.to_thread(private_stack.up)
        await asyncio.wait_for(task, 300)

    run_sync(scenario())
    ids = event_ids(read_topic(private_stack.bootstrap, ingest_topic(config.unit, config.stream)))
    assert set(ids) == expected
    assert len(ids) == len(set(ids)) == len(expected)
