"""Sink connectors on the real broker: a unit's inbox delivered into its own system.

The standard checks of a connector, for the other direction: every inbox event lands in
the target (HTTP endpoint, drop folder, SQLite table) once; the target's refusal is
dead-lettered with its reason; each acknowledged delivery is a ``DeliveryAcknowledged``
receipt on the unit's ingest topic; a ``kill -9`` of ``liangfa connector run`` mid-inbox
and a restart deliver the rest and nothing twice (the offsets were committed after each
acknowledgement, the target deduplicates the one event in hand).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.runner import dlq_topic
from connectors.sinks.config import SinkConfig, load_sink_config
from connectors.sinks.runner import SinkRunner
from connectors.sinks.testing import ReceivingServer, inbox_events
from hub.config import HubSettings
from hub.kafka import admin_client, make_producer
from hub.models import DeliveryAcknowledged
from hub.models.examples import EXAMPLE_POLICE
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from hub.topics import ingest_topic
from tests.conftest import run_sync
from tests.integration.test_connector_standard import read_topic

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _fill_inbox(bootstrap: str, registry_url: str, topic: str, count: int) -> list[str]:
    events = inbox_events(count, unit=EXAMPLE_POLICE)

    async def produce() -> None:
        registry = SchemaRegistryClient(registry_url)
        producer = make_producer(bootstrap)
        await producer.start()
        try:
            serde = AvroSerde(registry)
            for event in events:
                serialized = await serde.serialize(event)
                await producer.send_and_wait(topic, serialized.value, key=serialized.key,
                                             headers=serialized.headers)
        finally:
            await producer.stop()
            await registry.aclose()

    run_sync(produce())
    return [event.event_id for event in events]


def _config(tmp_path: Path, topic: str, bootstrap: str, registry_url: str, kind: str,
            target: dict[str, Any]) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    return {"id": f"sink-{kind}-{suffix}", "unit": EXAMPLE_POLICE, "direction": "sink",
            "kind": kind, "target": target, "topic": topic,
            "receipts_stream": f"receipts-{suffix}", "state_dir": str(tmp_path / "state"),
            "poll_interval_seconds": 0.5, "bootstrap": bootstrap,
            "registry_url": registry_url}


def _receipts(bootstrap: str, registry_url: str, config: SinkConfig) -> list[DeliveryAcknowledged]:
    records = read_topic(bootstrap, ingest_topic(config.unit, config.receipts_stream))

    async def decode() -> list[DeliveryAcknowledged]:
        registry = SchemaRegistryClient(registry_url)
        try:
            serde = AvroSerde(registry)
            return [await serde.decode(r.value) for r in records]  # type: ignore[misc]
        finally:
            await registry.aclose()

    return run_sync(decode())


def _run(config: SinkConfig) -> SinkRunner:
    runner = SinkRunner(config, settings=HubSettings())
    run_sync(runner.run(once=True))
    return runner


def test_each_target_kind_gets_the_inbox_once_with_receipts_and_a_refusal_dead_lettered(
        tmp_path: Path, bootstrap: str, registry_url: str,
        topic_factory: Any) -> None:
    topic = topic_factory("lf.inbox-sink")
    ids = _fill_inbox(bootstrap, registry_url, topic, 6)
    refused = ids[2]
    server = ReceivingServer(refuse=frozenset({refused}))
    try:
        http = SinkConfig.model_validate(_config(
            tmp_path, topic, bootstrap, registry_url, "http",
            {"url": server.url, "receipt_path": "receipt_number"}))
        folder = tmp_path / "drop"
        drop = SinkConfig.model_validate(_config(
            tmp_path, topic, bootstrap, registry_url, "file",
            {"path": str(folder), "format": "csv", "encoding": "gbk"}))
        database = tmp_path / "unit.db"
        table = SinkConfig.model_validate(_config(
            tmp_path, topic, bootstrap, registry_url, "sql",
            {"url": f"sqlite:///{database}", "table": "inbox"}))
        runners = [_run(config) for config in (http, drop, table)]
        again = _run(http)  # offsets were committed: nothing is delivered a second time
    finally:
        server.close()

    assert [r.summary.delivered for r in runners] == [5, 6, 6]
    metrics = runners[0].metrics.registry
    assert metrics.get_sample_value("liangfa_sink_delivered_total",
                                    {"sink": http.id, "unit": EXAMPLE_POLICE}) == 5
    assert metrics.get_sample_value("liangfa_sink_refused_total", {
        "sink": http.id, "unit": EXAMPLE_POLICE, "reason": "http_422"}) == 1
    assert again.summary.delivered == again.summary.refused == 0
    assert sorted(server.stored) == sorted(set(ids) - {refused})
    assert server.calls.count(refused) == 1  # a refusal is not retried
    assert server.stored[ids[0]]["event_type"] == "cn.liangfa.events.CaseReferred"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"CaseReferred-{i}.csv" for i in ids)
    assert "示例移〔2024〕1号" in (folder / f"CaseReferred-{ids[0]}.csv").read_bytes().decode(
        "gb18030")
    with sqlite3.connect(database) as connection:
        assert sorted(r[0] for r in connection.execute("select event_id from inbox")) == \
            sorted(ids)

    letters = read_topic(bootstrap, dlq_topic(http.id))
    assert len(letters) == 1
    headers = {k: v.decode() for k, v in letters[0].headers}
    assert headers["error.type"] == "http_422"
    assert "当事人证件号码缺失" in headers["error.reason"]
    assert headers["event.id"] == refused and headers["unit"] == EXAMPLE_POLICE

    receipts = _receipts(bootstrap, registry_url, http)
    assert sorted(r.delivered_event_id for r in receipts) == sorted(server.stored)
    first = next(r for r in receipts if r.delivered_event_id == ids[0])
    assert (first.source_unit, first.acknowledgement, first.receipt_number) == (
        EXAMPLE_POLICE, "HTTP 201", f"R-{ids[0][:8]}")
    assert {r.acknowledgement for r in _receipts(bootstrap, registry_url, table)} == {
        "transaction committed"}


def _start(path: Path, *args: str) -> subprocess.Popen[bytes]:
    with path.with_suffix(".log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "connectors", "run", str(path), *args],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)


def test_resume_after_kill_9_of_the_sink_delivers_the_rest_and_nothing_twice(
        tmp_path: Path, bootstrap: str, registry_url: str, topic_factory: Any) -> None:
    topic = topic_factory("lf.inbox-sink")
    ids = _fill_inbox(bootstrap, registry_url, topic, 30)
    server = ReceivingServer(delay_seconds=0.05)
    path = tmp_path / "sink.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, topic, bootstrap, registry_url, "http",
                                           {"url": server.url})), encoding="utf-8")
    config = load_sink_config(path)
    try:
        process = _start(path)
        deadline = time.monotonic() + 90
        while len(server.stored) < 8:
            assert process.poll() is None, path.with_suffix(".log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the sink delivered nothing"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert len(server.stored) < len(ids), "killed too late"
        restarted = _start(path, "--once")
        assert restarted.wait(timeout=120) == 0, path.with_suffix(".log").read_text()[-3000:]
    finally:
        server.close()

    assert sorted(server.stored) == sorted(ids)
    # Offsets were committed after each acknowledgement: the restart re-sent at most the
    # event in hand at the kill (which the idempotency key absorbed), not the inbox.
    assert len(server.calls) <= len(ids) + 1
    receipts = {r.delivered_event_id for r in _receipts(bootstrap, registry_url, config)}
    assert receipts == set(ids)


def test_once_on_an_inbox_not_created_yet_makes_it_and_ends_then_delivers_what_arrives(
        tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    """A unit connected before the hub routed anything to it: its inbox topic does not
    exist. ``--once`` used to wait forever for a partition of a missing topic; it now
    creates the inbox (as the worker would) and ends with nothing delivered, and the
    next run delivers what the worker put there meanwhile."""
    topic = f"lf.inbox.{uuid.uuid4().hex[:18].upper()}"
    server = ReceivingServer()
    try:
        config = SinkConfig.model_validate(_config(
            tmp_path, topic, bootstrap, registry_url, "http", {"url": server.url}))

        async def once() -> SinkRunner:
            runner = SinkRunner(config, settings=HubSettings())
            # a guard, not a measurement: a sink that hangs again fails here, not in CI's
            # global timeout
            await asyncio.wait_for(runner.run(once=True), 120)
            return runner

        empty = run_sync(once())
        assert (empty.summary.delivered, empty.summary.refused) == (0, 0)
        assert topic in run_sync(_topics(bootstrap))
        ids = _fill_inbox(bootstrap, registry_url, topic, 2)
        later = run_sync(once())
    finally:
        server.close()
    assert later.summary.delivered == 2
    assert sorted(server.stored) == sorted(ids)


async def _topics(bootstrap: str) -> set[str]:
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
