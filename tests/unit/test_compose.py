"""deploy/compose/: the single-host production install, checked by the compose client.

``docker-compose config`` (Debian's ``docker-compose``, installed by
``scripts/ensure-compose.sh``) parses the file, resolves anchors and interpolation and
validates it against the compose schema, without a Docker engine. The test then reads the
resolved file back for what the install promises: three KRaft brokers that replicate three
times with two in sync, state on volumes, the view on PostgreSQL, Prometheus with the hub's
rules and job names, Grafana with its dashboards, and no secret left without a value.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"
SECRETS = {"LIANGFA_KAFKA_CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk",
           "LIANGFA_POSTGRES_PASSWORD": "fictional-password",
           "LIANGFA_GRAFANA_PASSWORD": "fictional-password",
           "LIANGFA_PUBLIC_ID_KEY": "fictional-public-id-key-0123"}


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    client = shutil.which("docker-compose")
    assert client, "docker-compose missing: run scripts/ensure-compose.sh"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIANGFA_")}
    return subprocess.run([client, "-f", str(COMPOSE / "compose.yaml"), "config"],
                          capture_output=True, text=True, env={**clean, **env}, timeout=60,
                          check=False)


def test_compose_config_resolves_the_install() -> None:
    result = _config(SECRETS)
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    services = resolved["services"]
    assert {"kafka-1", "kafka-2", "kafka-3", "registry", "worker", "view", "postgres",
            "public-feeds", "audit-sealer", "prometheus", "grafana"} <= set(services)
    voters = services["kafka-1"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    for n in (1, 2, 3):
        env = services[f"kafka-{n}"]["environment"]
        assert str(env["KAFKA_NODE_ID"]) == str(n) and f"{n}@kafka-{n}:9093" in voters
        assert str(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == "3"
        assert str(env["KAFKA_MIN_INSYNC_REPLICAS"]) == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert any("/var/lib/kafka/data" in str(v) for v in services[f"kafka-{n}"]["volumes"])
        assert "ports" not in services[f"kafka-{n}"], "a broker port is published"
    assert any("/var/lib/liangfa/worker" in str(v) for v in services["worker"]["volumes"])
    view_env = services["view"]["environment"]
    assert "@postgres:5432/" in view_env["LIANGFA_VIEW_DATABASE_URL"]
    assert view_env["LIANGFA_BOOTSTRAP"].count(":9092") == 3
    for name in ("worker", "view", "public-feeds", "audit-sealer"):
        assert set(services[name]["depends_on"]) >= {"kafka-1", "registry"}, name
        # /metrics on the container's address: Prometheus is another container
        assert services[name]["environment"]["LIANGFA_METRICS_HOST"] == "0.0.0.0", name
    # The view's /metrics wants a token from another container: the view and Prometheus
    # read the same file, the one Prometheus's view job presents.
    token_in_view = view_env["LIANGFA_VIEW_METRICS_TOKEN_FILE"]
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text("utf-8"))
    [view_job] = [j for j in prometheus["scrape_configs"] if j["job_name"] == "liangfa-view"]
    token_in_prometheus = view_job["authorization"]["credentials_file"]

    def source_of(service: str, target: str) -> str:
        [source] = [v["source"] if isinstance(v, dict) else v.split(":")[0]
                    for v in services[service]["volumes"]
                    if (v["target"] if isinstance(v, dict) else v.split(":")[1]) == target]
        return str(source)

    assert source_of("view", token_in_view) == source_of("prometheus", token_in_prometheus)
    assert source_of("view", token_in_view).endswith("view-metrics-token")


def test_prometheus_of_the_install_uses_the_hub_rules_and_job_names() -> None:
    local = yaml.safe_load((ROOT / "deploy/monitoring/prometheus.yml").read_text("utf-8"))
    compose = yaml.safe_load((COMPOSE / "prometheus.yml").read_text("utf-8"))
    local_jobs = {job["job_name"] for job in local["scrape_configs"]}
    compose_jobs = {job["job_name"] for job in compose["scrape_configs"]}
    assert compose_jobs <= local_jobs and {"liangfa-streams", "liangfa-view"} <= compose_jobs
    assert compose["rule_files"] == local["rule_files"]
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: run scripts/ensure-prometheus.sh"
    checked = subprocess.run([promtool, "check", "config", "--syntax-only",
                              str(COMPOSE / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_missing_secret_stops_the_install() -> None:
    result = _config({k: v for k, v in SECRETS.items() if k != "LIANGFA_POSTGRES_PASSWORD"})
    assert result.returncode != 0
    assert "view database password" in result.stderr
