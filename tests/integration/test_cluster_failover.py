"""Three brokers, and a broker, a connector and a worker killed with SIGKILL (issue #15 item 4).

A secured three-node KRaft cluster (``LocalStack(brokers=3)``, what ``liangfa up --brokers
3`` starts) in its own home; one agency of the demo county (its 双公示 penalty exports,
with their planted late entries and bad rows) flows through a real connector process and a
real stream worker, each on its own principal. Exports are dropped in three parts: the
active controller node is killed after the first, the second flows with two brokers left,
then the connector and the worker are killed while the third is being read. Everything is
restarted (the broker by ``LocalStack.up``, as a second ``liangfa up`` would), and then:

* every penalty row the mapping accepts is in ``lf.case-events`` under its event id, and
  nothing else is (a redelivered copy of a record is counted, and must be the same event);
* every late entry the generator planted raised its ``LATE_ENTRY`` alert, under the id
  the engine derives from case, rule and penalty event, and no other; no (case, rule)
  has two alert ids, whatever the kind: nothing lost, nothing doubled;
* the connector's own topic holds each event exactly once (its restart skips what it had
  written after its checkpoint), and ``liangfa status`` and ``down`` see every node.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka.errors import KafkaError
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._metadata import ClusterMetadata

from connectors.cli import sample_records
from connectors.config import ConnectorConfig, load_config
from connectors.mapping import build_mapper
from deploy.demo import generate as demo
from hub.config import KafkaSecurity, RegistryAuth
from hub.local import LocalStack
from hub.local.access import HubAccess, security_env
from hub.local.demo import DemoLayout, connector_configs
from hub.local.hub_services import HubServices
from hub.local.processes import find_stack_processes, free_port
from hub.local.stack import StackPorts
from hub.models import Alert, AlertKind
from hub.registry import SchemaRegistryClient
from hub.security.acl import unit_user
from hub.security.admin import admin_config
from hub.serde import AvroSerde
from hub.topics import apply_topics, ingest_topic, load_manifest
from hub.units import load_unit_registry
from streams._alerts import alert_id_for
from tests.integration.test_connector_standard import _read_all as read_all

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
#: The deadline rule of a penalty entered late (hub/rules/deadlines.yaml, ``entry-late``).
ENTRY_LATE_RULE = "entry-late"
#: Penalty cases of the generated county: enough for an agency with planted late entries.
DEMO_CASES = 2000


async def _read_all(stack: LocalStack, topic: str) -> list[Any]:
    """Every record of ``topic`` up to its end now, read as the admin; tried again while
    the cluster moves leaders away from a dead node (a client error meanwhile)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await read_all(stack.bootstrap, topic, security=stack.admin_security)
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def _alerts(stack: LocalStack) -> list[Alert]:
    records = await _read_all(stack, "lf.alerts")
    async with SchemaRegistryClient(stack.registry_url, auth=stack.registry_auth) as registry:
        serde = AvroSerde(registry)
        decoded = [await serde.decode(record.value) for record in records]
    return [event for event in decoded if isinstance(event, Alert)]


def _ids(records: list[Any]) -> Counter[str]:
    return Counter(dict(r.headers)["ce_id"].decode() for r in records)


def _expected_penalties(config: ConnectorConfig, files: list[Path]) -> dict[str, str]:
    """event id → case id of every row the connector's mapping accepts (bad rows are
    dead-lettered and have no event)."""
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    expected: dict[str, str] = {}
    for path in files:
        for record in sample_records(config, path):
            if record.row is None or record.marker or record.problem is not None:
                continue
            try:
                event = mapper.map(record.row, record.reference).event
            except Exception:  # a refused row: what the DLQ gets
                continue
            expected[event.event_id] = event.case_id
    return expected


class _Hub:
    """The connector and worker processes of the test, each with its own credentials."""

    def __init__(self, stack: LocalStack, tmp: Path, connector_yaml: Path, unit: str) -> None:
        self.stack = stack
        self.tmp = tmp
        self.connector_yaml = connector_yaml
        self.unit = unit
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _env(self, user: str) -> dict[str, str]:
        security = self.stack.client_security(user)
        assert isinstance(security, KafkaSecurity)
        base = {k: v for k, v in os.environ.items() if not k.startswith("LIANGFA_")}
        return {**base, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
                "LIANGFA_BOOTSTRAP": self.stack.bootstrap,
                "LIANGFA_REGISTRY_URL": self.stack.registry_url,
                **security_env(security)}

    def _start(self, name: str, argv: list[str], user: str) -> None:
        with (self.tmp / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, *argv], cwd=REPO, env=self._env(user), stdout=log,
                stderr=subprocess.STDOUT)

    def start_worker(self) -> None:
        services = self.stack.services
        self._start("worker", [
            "-m", "streams", "run", "--worker-id", f"{services.streams_app_id}-w1",
            "--data-dir", str(self.tmp / "worker"), "--web-port", str(free_port()),
            "--units", str(_units_file()), "--bootstrap", self.stack.bootstrap,
            "--registry-url", self.stack.registry_url, "--loglevel", "warning",
        ], services.streams.removeprefix("User:"))

    def start_connector(self) -> None:
        self._start("connector", ["-m", "connectors", "run", str(self.connector_yaml)],
                    unit_user(self.unit))

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited:\n{self.log(name)}"

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        self.processes.clear()


def _units_file() -> Path:
    return Path(demo.__file__).with_name("units.yaml")


def _wait(what: str, check: Callable[[], bool], hub: _Hub, timeout_s: float,
          every_s: float = 1.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        hub.alive()
        assert time.monotonic() < deadline, (
            f"{what} not within {timeout_s:.0f}s\nworker:\n{hub.log('worker')}\n"
            f"connector:\n{hub.log('connector')}")
        time.sleep(every_s)


def _metadata(stack: LocalStack) -> ClusterMetadata:
    return AdminClient(admin_config(stack.bootstrap, stack.admin_security)).list_topics(
        timeout=10)


def _controller(stack: LocalStack) -> int:
    """The node id of the active controller (what the metadata names)."""
    return int(_metadata(stack).controller_id)


def _replication(stack: LocalStack) -> dict[str, tuple[int, int]]:
    """(fewest replicas, fewest in-sync replicas) over each topic's partitions."""
    metadata = _metadata(stack)
    return {name: (min(len(p.replicas) for p in topic.partitions.values()),
                   min(len(p.isrs) for p in topic.partitions.values()))
            for name, topic in metadata.topics.items()}


def _prepare(stack: LocalStack, config_path: Path, unit: str) -> None:
    """What ``liangfa up`` does before the services start: principals and ACLs of the
    hub and this connector, the schemas, every topic sized by ``for_brokers(3)``."""
    from hub.schemas import register_all

    connector = load_config(config_path)
    access = HubAccess(load_unit_registry(_units_file()), {connector.id: unit},
                       stack.services)
    stack.up(access=access)
    auth = stack.registry_auth
    assert isinstance(auth, RegistryAuth)
    register_all(stack.registry_url, auth=auth)
    manifest = load_manifest().for_brokers(stack.brokers)
    services = HubServices(stack)
    specs = manifest.expand(units=services.unit_codes(), connectors=[connector.id])
    specs.append(manifest.spec_for(ingest_topic(connector.unit, connector.stream)))
    asyncio.run(apply_topics(stack.bootstrap, specs, security=stack.admin_security))


@pytest.mark.timeout(900)
def test_three_brokers_lose_and_double_nothing_when_a_broker_connector_and_worker_die(
        tmp_path: Path) -> None:
    began = time.monotonic()
    manifest = demo.generate(tmp_path / "demo", seed=2026, penalty_cases=DEMO_CASES)
    layout = DemoLayout(tmp_path / "demo")
    late = Counter(g.unit_code for g in manifest.gaps if g.alert == "entry_late")
    unit = max(late, key=lambda code: (late[code], code))  # the agency with most planted
    files = sorted(tmp_path / "demo" / f.path for f in manifest.files
                   if f.kind == "penalties" and f.unit_code == unit)
    late_cases = {str(g.case_id) for g in manifest.gaps
                  if g.alert == "entry_late" and g.unit_code == unit}
    assert len(files) >= 3 and len(late_cases) >= 3

    # The agency's penalty connector, reading a drop folder the test fills in three parts.
    paths = connector_configs(layout, police_api="http://127.0.0.1:9", police_token="unused")
    (config_path,) = [p for p in paths if p.stem == f"demo-{unit[-6:].lower()}-penalties"]
    drop = tmp_path / "drop"
    drop.mkdir()
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    raw["source"]["path"] = str(drop)
    raw.update(poll_interval_seconds=0.5, checkpoint_every_seconds=0.5,
               state_dir=str(tmp_path / "connector-state"))
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    config = load_config(config_path)
    expected = _expected_penalties(config, files)
    by_case = {case: event for event, case in expected.items()}
    assert late_cases <= set(by_case)
    expected_late = {alert_id_for(case, ENTRY_LATE_RULE, by_case[case]) for case in late_cases}

    home = tmp_path / "home"
    stack = LocalStack(home, StackPorts(kafka=free_port(), controller=free_port(),
                                        registry=free_port()), secured=True, brokers=3)
    hub = _Hub(stack, tmp_path, config_path, unit)
    parts = [files[i::3] for i in range(3)]

    def drop_files(paths: list[Path], pause_s: float = 0.0) -> set[str]:
        """Move exports into the drop folder (as a whole, each); their expected event ids."""
        for path in paths:
            staged = drop / f".{path.name}"
            shutil.copy(path, staged)
            staged.rename(drop / path.name)
            time.sleep(pause_s)
        return set(_expected_penalties(config, paths))

    def ingested() -> set[str]:
        return set(_ids(asyncio.run(_read_all(stack, ingest_topic(config.unit,
                                                                   config.stream)))))

    def arrived(ids: set[str]) -> Callable[[], bool]:
        return lambda: ids <= set(_ids(asyncio.run(_read_all(stack, "lf.case-events"))))

    try:
        _prepare(stack, config_path, unit)
        started = time.monotonic()
        hub.start_worker()
        hub.start_connector()
        first = drop_files(parts[0])
        _wait("the first part in lf.case-events", arrived(first), hub, 120)

        # The active controller (a broker too) dies; the second part flows on two nodes.
        victim = _controller(stack)
        component = "kafka" if victim == 1 else f"kafka-{victim}"
        (broker_pid,) = find_stack_processes(home, component)
        os.kill(broker_pid, signal.SIGKILL)
        second = drop_files(parts[1])
        _wait("the second part with a broker dead", arrived(first | second), hub, 120)

        # The connector and the worker die while the third part arrives, file by file:
        # after its first file was read, before the last ones were dropped.
        third, rest = parts[2][:len(parts[2]) // 2], parts[2][len(parts[2]) // 2:]
        opening = drop_files(third[:1])
        _wait("the third part being read", lambda: bool(opening & ingested()), hub, 60, 0.1)
        drop_files(third[1:], pause_s=0.2)
        hub.kill("connector")
        hub.kill("worker")
        drop_files(rest)

        stack.up()  # what a second `liangfa up` does: the dead node is started again
        hub.start_worker()
        hub.start_connector()
        _wait("every penalty in lf.case-events", arrived(set(expected)), hub, 180)
        _wait("every planted late entry's alert",
              lambda: expected_late <= {a.alert_id for a in asyncio.run(_alerts(stack))},
              hub, 120)
        flowed = time.monotonic() - started

        case_events = asyncio.run(_read_all(stack, "lf.case-events"))
        penalties = [r for r in case_events
                     if dict(r.headers)["ce_type"].decode().endswith("PenaltyCaseRecorded")]
        counted = _ids(penalties)
        assert set(counted) == set(expected)  # none lost, none extra
        copies = sum(counted.values()) - len(counted)
        values: dict[str, bytes] = {}
        for record in penalties:  # a redelivered copy is the same event, byte for byte
            ce_id = dict(record.headers)["ce_id"].decode()
            assert values.setdefault(ce_id, record.value) == record.value, ce_id

        ingest = _ids(asyncio.run(_read_all(stack, ingest_topic(config.unit, config.stream))))
        assert set(ingest) == set(expected)
        assert max(ingest.values()) == 1  # the connector's restart wrote nothing twice

        alerts = asyncio.run(_alerts(stack))
        late_found = {a.alert_id for a in alerts if a.kind is AlertKind.LATE_ENTRY}
        assert late_found == expected_late
        per_rule: dict[tuple[str, str], set[str]] = {}
        for alert in alerts:
            per_rule.setdefault((alert.case_id, alert.rule_id), set()).add(alert.alert_id)
        assert all(len(ids) == 1 for ids in per_rule.values()), per_rule
        transitions = Counter((a.alert_id, a.status) for a in alerts)
        alert_copies = sum(transitions.values()) - len(transitions)

        # Every topic, the workers' changelogs and the registry's included, has three
        # replicas all in sync again, so the next broker to die loses nothing either.
        _wait("three in-sync replicas everywhere",
              lambda: set(_replication(stack).values()) == {(3, 3)}, hub, 60)
        assert len(_replication(stack)) > 10  # the manifest's, the changelogs, the registry's

        status = subprocess.run(
            [sys.executable, "-m", "hub", "status", "--home", str(home), "--json"],
            cwd=REPO, env={**hub._env("admin"), "PYTHONPATH": str(REPO)},
            capture_output=True, text=True, timeout=120, check=False)
        rows = {row["name"]: row for row in json.loads(status.stdout)}
        assert all(rows[name]["healthy"] for name in ("kafka", "kafka-2", "kafka-3")), rows
        skipped = re.findall(r"(\d+) records already written after the checkpoint",
                             hub.log("connector"))
        print(f"\nfailover: node {victim} (controller) killed; {len(expected)} penalties, "
              f"{len(expected_late)} late-entry alerts; redelivered copies: {copies} in "
              f"lf.case-events, {alert_copies} in lf.alerts; connector restarts skipping "
              f"{skipped} already written; flow {flowed:.1f}s, "
              f"test {time.monotonic() - began:.1f}s")
    finally:
        hub.stop()
        down = subprocess.run([sys.executable, "-m", "hub", "down", "--home", str(home)],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                              capture_output=True, text=True, timeout=300, check=False)
        assert down.returncode == 0, down.stderr[-2000:]
    assert find_stack_processes(home) == []
