"""The demo's court wiring on the real broker: two xml connectors over one drop folder.

The judgment connector reads ``judgments/`` and archives each file once its events are
acknowledged; the recommendations connector reads that archive. Run in one process (as
``liangfa up`` runs a unit), every judgment and every judicial recommendation arrives
exactly once, the two refuse the same planted bad files, and no file is left behind.

The whole demo county also runs under the secured default: ``liangfa up`` in a fresh home
(every process on its own principal), then ``liangfa demo check`` as the admin.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import defusedxml.ElementTree as SafeET
import httpx
import pytest
import yaml

from connectors.config import load_config
from connectors.runner import dlq_topic
from deploy.demo import generate as demo
from hub.local.access import read_env_file
from hub.local.demo import DemoLayout, connector_configs
from hub.local.hub_services import (
    POLICE_API_PORT_OFFSET,
    PUBLIC_FEEDS_PORT_OFFSET,
    WORKER_WEB_PORT_OFFSET,
)
from hub.local.processes import find_stack_processes, free_port, port_is_open
from hub.topics import ingest_topic
from hub.view.settings import DEFAULT_DEMO_PASSWORD
from tests.integration.test_connector_standard import event_ids, read_topic

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_court_judgments_and_recommendations_arrive_once_each_from_one_folder(
        tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    manifest = demo.generate(tmp_path, seed=2026, penalty_cases=300)
    layout = DemoLayout(tmp_path)
    paths = connector_configs(layout, police_api="http://127.0.0.1:9", police_token="unused")
    court = [p for p in paths if p.stem in ("demo-court-judgments",
                                            "demo-court-recommendations")]
    suffix = uuid.uuid4().hex[:8]
    for path in court:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["id"] = f"{raw['id']}-{suffix}"
        raw["mapping"] = {"stream": f"wiring-{path.stem.rsplit('-', 1)[1]}-{suffix}"}
        raw.update(bootstrap=bootstrap, registry_url=registry_url, poll_interval_seconds=0.2,
                   checkpoint_every_seconds=0.2, state_dir=str(tmp_path / "state" / raw["id"]))
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    judgments_config, recommendations_config = (load_config(p) for p in court)

    folder = layout.exports / "court" / "judgments"
    files = [f for f in manifest.files if f.kind == "court_judgment"]
    good = [tmp_path / f.path for f in files if not f.bad_records]
    expected_recommendations = sum(
        1 for path in good
        if SafeET.parse(path).getroot().find("judgment/judicialRecommendation") is not None)
    bad = len(files) - len(good)

    log = tmp_path / "court.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors", "run", *(str(p) for p in court)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=handle)

    def count(config_topic: str) -> int:
        return len(read_topic(bootstrap, config_topic))

    judgment_topic = ingest_topic(judgments_config.unit, judgments_config.stream)
    recommendation_topic = ingest_topic(recommendations_config.unit,
                                        recommendations_config.stream)
    try:
        deadline = time.monotonic() + 180
        while (count(recommendation_topic) < expected_recommendations
               or count(dlq_topic(judgments_config.id)) < bad
               or any(folder.glob("*.xml"))):
            assert process.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")[-3000:]
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0, log.read_text(encoding="utf-8")[-3000:]

    judgment_ids = event_ids(read_topic(bootstrap, judgment_topic))
    assert len(judgment_ids) == len(set(judgment_ids)) == len(good)
    recommendation_ids = event_ids(read_topic(bootstrap, recommendation_topic))
    assert len(recommendation_ids) == len(set(recommendation_ids)) == expected_recommendations
    # A file that cannot be read as a whole (the planted DOCTYPE and truncated exports) is
    # refused once, by the first connector of the chain: one dead letter, then quarantine.
    assert count(dlq_topic(judgments_config.id)) == bad
    assert count(dlq_topic(recommendations_config.id)) == 0
    bad_names = sorted(Path(f.path).name for f in files if f.bad_records)
    quarantine = folder.with_name(f"{folder.name}-quarantine")
    assert sorted(p.name for p in quarantine.glob("*.xml")) == bad_names
    assert all((quarantine / f"{name}.reason.txt").is_file() for name in bad_names)
    # Every good file went through both connectors and ended in the second one's archive.
    archived = folder / "archive" / "recommendations-read"
    assert sorted(p.name for p in archived.glob("*.xml")) == sorted(
        Path(f.path).name for f in files if not f.bad_records)
    results = [json.loads(line) for line in output.decode().splitlines()]
    assert all("error" not in result for result in results)


def _view_port() -> int:
    """A free view port whose neighbours (police API, public feeds, worker) are free too."""
    while True:
        port = free_port()
        offsets = (POLICE_API_PORT_OFFSET, PUBLIC_FEEDS_PORT_OFFSET, WORKER_WEB_PORT_OFFSET)
        if port + WORKER_WEB_PORT_OFFSET < 65536 and not any(
                port_is_open(port + offset) for offset in offsets):
            return port


def _hub(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def _expected_user(component: str) -> str | None:
    if component.startswith("connector-"):
        return f"unit-{component.removeprefix('connector-')}"
    if component.startswith("worker-"):
        return "liangfa-streams"
    return {"view": "liangfa-view", "public-feeds": "liangfa-public",
            "audit-sealer": "liangfa-audit"}.get(component)


@pytest.mark.timeout(2400)  # a whole hub starts, runs the county, stops
def test_demo_county_runs_end_to_end_on_the_secured_default(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("LIANGFA_")} | {"PYTHONPATH": str(REPO)}
    view_port = _view_port()
    ports = ["--kafka-port", str(free_port()), "--controller-port", str(free_port()),
             "--registry-port", str(free_port()), "--view-port", str(view_port)]
    try:
        up = _hub("up", "--home", str(home), "--demo-cases", "300", *ports, env=env,
                  timeout=900)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert "(secured)" in up.stdout

        # Another user of the machine reads nothing of the home (the broker's data, the
        # stores, the view's database), and cannot log in with the README's old password.
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        view_env = home / "secrets" / "view.env"
        assert str(view_env) in up.stdout
        demo_password = read_env_file(view_env)["LIANGFA_VIEW_DEMO_PASSWORD"]
        assert demo_password != DEFAULT_DEMO_PASSWORD
        token = f"http://127.0.0.1:{view_port}/api/auth/token"
        assert httpx.post(token, json={"username": "prosecutor", "password":
                                       DEFAULT_DEMO_PASSWORD}).status_code == 401
        assert httpx.post(token, json={"username": "prosecutor", "password":
                                       demo_password}).status_code == 200

        # Each process runs on its own principal, with its own 0600 credentials file.
        services = json.loads((home / "services.json").read_text(encoding="utf-8"))
        passwords = json.loads((home / "secrets" / "scram.json").read_text(encoding="utf-8"))
        assert not any(password in json.dumps(services) for password in passwords.values())
        checked = 0
        for component, spec in services.items():
            user = _expected_user(component)
            if user is None:
                assert not spec["env_file"], component  # the police API has no Kafka client
                continue
            path = Path(spec["env_file"])
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            credentials = read_env_file(path)
            assert credentials["LIANGFA_KAFKA_SASL_USERNAME"] == user
            assert credentials["LIANGFA_KAFKA_SASL_PASSWORD"] == passwords[user]
            # SCRAM inside TLS, verified against the home's own CA.
            assert credentials["LIANGFA_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
            assert credentials["LIANGFA_KAFKA_SSL_CAFILE"] == str(
                home.resolve() / "secrets" / "tls" / "ca.pem")
            checked += 1
        assert checked >= 24  # 20 connector processes, a worker, the feeds, the view
        operator = home / "secrets" / "operator.env"
        assert stat.S_IMODE(operator.stat().st_mode) == 0o600

        # The admin's check (operator.env) finds every planted gap.
        admin_env = {**env, **read_env_file(operator)}
        deadline = time.monotonic() + 900
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            check = _hub("demo", "check", "--json", env=admin_env, timeout=180)
            assert check.returncode == 0, check.stderr[-3000:]
            rows = json.loads(check.stdout)
            # An act's row expects alerts only for the acts answered late or never
            # (``expected``); one answered in time everywhere is found by raising none.
            if rows and all(row["missed"] == 0 and row["found"] for row in rows
                            if row.get("expected", row["planted"])):
                break
            time.sleep(5)
        assert rows and all(row["missed"] == 0 for row in rows), rows
        assert sum(int(str(row["found"])) for row in rows) >= 30
        # Issue #13: each of these acts is planted answered late once and never once, and
        # the hub raised its own clock on both; the police's cancellations 撤案 leave no
        # open year-to-conclusion alert on their cases.
        acts = {str(row["kind"]).removeprefix("act:"): row for row in rows
                if str(row["kind"]).startswith("act:")}
        for act in ("REQUIRE_NON_FILING_REASONS", "ORDER_FILING", "OPINION",
                    "EARLY_INTERVENTION_INVITATION", "PENALTY_ENFORCEMENT",
                    "LEAD_SUPERVISION_COMMISSION", "LEAD_JUSTICE_BUREAU"):
            row = acts[act]
            assert int(str(row["late"])) >= 1 and int(str(row["unanswered"])) >= 1, row
            assert row["found"] == row["expected"], row
        # the public-interest litigation leads: one fed back in the procuratorate's own
        # outbox (LeadFeedbackGiven), one never, whose clock the hub raised
        public = acts["LEAD_PUBLIC_INTEREST_LITIGATION"]
        assert int(str(public["unanswered"])) >= 1 and public["found"] == public["expected"]
        cancellations = acts["POLICE_CANCELLATION"]
        assert int(str(cancellations["planted"])) >= 1
        assert cancellations["extra_open"] == 0, cancellations
        # The components hold no registry password: their registrations were refused.
        assert "refuses registrations" in (home / "logs" / "worker-1.log").read_text(
            encoding="utf-8")
    finally:
        down = _hub("down", "--home", str(home), env=env, timeout=300)
        assert down.returncode == 0, down.stderr[-2000:]
    assert find_stack_processes(home) == []
