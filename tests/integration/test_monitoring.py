"""A real Prometheus, with deploy/monitoring's rules, scraping a real stream worker.

The worker runs on the session's broker and registry (tests/integration harness); the
Prometheus is Debian's binary on a free port, configured from deploy/monitoring/
prometheus.yml with the worker as the liangfa-streams target. The test checks that the
worker's live /metrics declares every liangfa_streams_* series the rules and dashboards
use, that Prometheus stores the key series, and that a rule fires on what the worker
really did: a unit's forged events refused as not entitled raise LiangfaNotEntitled.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.identity import case_id_for
from hub.local.processes import free_port
from hub.models.examples import EXAMPLE_AGENCY
from tests.integration.test_streams_harness import (
    ROGUE_AGENCY,
    StreamsDeployment,
    penalty_of,
    produce_events,
    read_events_until,
    rogue_county_deployment,
)
from tests.unit.test_monitoring import (
    DASHBOARDS,
    MONITORING,
    RULE_FILES,
    _dashboard,
    _dashboard_queries,
    _rules,
    metric_names,
)

pytestmark = pytest.mark.integration

#: How long a condition may take to show (scrape and evaluation every second): a bound on
#: waiting, not a performance threshold.
_WAIT_S = 180.0


@pytest.fixture
def deployment(bootstrap: str, registry_url: str, tmp_path: Path
               ) -> Iterator[StreamsDeployment]:
    deployment = rogue_county_deployment(bootstrap, registry_url, tmp_path)
    try:
        yield deployment
    finally:
        deployment.stop_all()


class Prometheus:
    """Debian's prometheus on a free port, scraping ``targets`` with the repo's rules."""

    def __init__(self, tmp: Path, worker: str) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus not found: run scripts/ensure-prometheus.sh")
        config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [str(path) for path in RULE_FILES]
        [streams] = [job for job in config["scrape_configs"]
                     if job["job_name"] == "liangfa-streams"]
        streams["static_configs"][0]["targets"] = [worker]
        config["scrape_configs"] = [streams]
        tmp.mkdir(parents=True, exist_ok=True)
        path = tmp / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = tmp / "prometheus.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={path}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                 f"--web.listen-address={self.url.removeprefix('http://')}"],
                stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}",
                                        timeout=10) as response:
                body = json.loads(response.read())
        except OSError:
            return None
        return body["data"] if body.get("status") == "success" else None

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list((self.api("query", query=expr) or {}).get("result", []))

    def firing(self, alertname: str) -> list[dict[str, str]]:
        alerts = (self.api("alerts") or {}).get("alerts", [])
        return [a["labels"] for a in alerts
                if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


async def _eventually(what: str, check: Callable[[], Any], prometheus: Prometheus) -> Any:
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(check)
        if result:
            return result
        await asyncio.sleep(1.0)
    log = prometheus.log.read_text(errors="replace")[-3000:]
    pytest.fail(f"{what}: not seen within {_WAIT_S:.0f} s; prometheus log:\n{log}")


def _live_names(metrics_url: str) -> set[str]:
    """Series names a live /metrics declares (its TYPE lines, with the suffixes they get)."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)  # a counter's TYPE line already names it <name>_total
        if kind == "histogram":
            names.update(name + suffix for suffix in ("_bucket", "_count", "_sum"))
    return names


async def test_prometheus_scrapes_a_worker_and_a_rule_fires(
        deployment: StreamsDeployment, tmp_path: Path) -> None:
    topics = deployment.topics
    owner_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    rogue_topic = topics.ingest(ROGUE_AGENCY, "cases")
    await deployment.create_topics([owner_topic, rogue_topic])
    worker = deployment.start_worker("w1")
    args = [str(a) for a in worker.args]
    address = f"127.0.0.1:{args[args.index('--web-port') + 1]}"
    prometheus = Prometheus(tmp_path / "prometheus", address)
    try:
        await _eventually("the worker up in Prometheus", lambda: prometheus.query(
            'up{job="liangfa-streams"} == 1'), prometheus)

        # Every liangfa_streams_* series a rule or a dashboard uses is declared live.
        used = {name for rule in _rules() for name in metric_names(rule["expr"])}
        used |= {name for path in DASHBOARDS
                 for query in _dashboard_queries(_dashboard(path))
                 for name in metric_names(query)}
        streams_used = {name for name in used if name.startswith("liangfa_streams_")}
        live = await asyncio.to_thread(_live_names, f"http://{address}/metrics")
        assert streams_used
        assert streams_used - live == set(), deployment.log_of("w1")

        decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
        case_id = case_id_for(EXAMPLE_AGENCY, decision)
        await produce_events(deployment.bootstrap, deployment.registry_url, owner_topic,
                             [penalty_of(EXAMPLE_AGENCY, decision, case_id)])
        await read_events_until(
            deployment.bootstrap, deployment.registry_url, topics.case_state,
            lambda found: any(e.case_id == case_id for _, e in found))
        # A forged event (the rogue unit writes on the owner's case): refused, counted.
        await produce_events(deployment.bootstrap, deployment.registry_url, rogue_topic,
                             [penalty_of(ROGUE_AGENCY, decision, case_id)])
        refused = f'liangfa_streams_not_entitled_total{{unit="{ROGUE_AGENCY}"}}'
        await _eventually("the first refusal stored", lambda: prometheus.query(
            f"{refused} == 1"), prometheus)
        assert prometheus.firing("LiangfaNotEntitled") == []  # one sample: no increase yet

        # A second forgery: the counter increases, and the rule fires (no `for`).
        await produce_events(deployment.bootstrap, deployment.registry_url, rogue_topic,
                             [penalty_of(ROGUE_AGENCY, decision, case_id)])
        [labels] = await _eventually("LiangfaNotEntitled firing",
                                     lambda: prometheus.firing("LiangfaNotEntitled"),
                                     prometheus)
        assert labels["unit"] == ROGUE_AGENCY
        assert labels["event_type"] == "PenaltyCaseRecorded"
        assert labels["job"] == "liangfa-streams"
        assert labels["severity"] == "warning"

        # The key series of the streams dashboard are stored.
        processed = prometheus.query("sum(liangfa_streams_processed_total) > 0")
        assert processed, "no processed records stored"
        await _eventually("the consumer lag reported", lambda: prometheus.query(
            "liangfa_streams_consumer_lag"), prometheus)
        assert prometheus.firing("LiangfaServiceDown") == []
        assert prometheus.firing("LiangfaNoStreamWorker") == []
    finally:
        prometheus.stop()
    assert prometheus.process.returncode is not None
