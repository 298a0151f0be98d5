"""``liangfa deploy render k8s``: the rendered Strimzi layer says what the registry says, and
every Kubernetes resource validates against the Kubernetes 1.37 OpenAPI schemas offline.

``kubernetes-validate`` bundles the Kubernetes schemas; it has none for CRDs. The Strimzi
CRD schemas could not be obtained from a registry reachable here (``io.strimzi:api`` on
Maven Central holds Java classes, no CRD YAML), so the Strimzi and ServiceMonitor resources
are checked field by field against what the operators read, not against their schemas.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from connectors.config import load_config, parse_config
from hub.deploy.render import ClusterShape, k8s_name, render_k8s
from hub.security.acl import ServicePrincipals, acl_bindings, scram_users
from hub.topics import load_manifest
from hub.units import load_unit_registry

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "demo" / "units.yaml"
K8S = ROOT / "deploy" / "k8s"
CONNECTOR = "demo-csv"
CONNECTOR_UNIT = "11429901030089405N"
K8S_VERSION = "1.37.0"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


CONNECTOR_CONFIG = K8S / "connectors" / f"{CONNECTOR}.yaml"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    text = CONNECTOR_CONFIG.read_text(encoding="utf-8")
    return render_k8s(load_unit_registry(UNITS), load_manifest(),
                      connector_configs=[(load_config(CONNECTOR_CONFIG), text)])


def _all(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [r for resources in rendered.values() for r in resources]


def _kind(rendered: dict[str, list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [r for r in _all(rendered) if r["kind"] == kind]


def _static_resources() -> list[dict[str, Any]]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    return [doc for name in listed["resources"]
            for doc in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if doc]


def test_kubernetes_resources_validate_against_the_schemas(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    core = [r for r in _all(rendered) + _static_resources()
            if "." not in r["apiVersion"].split("/")[0] or r["apiVersion"].startswith(
                ("apps/", "batch/", "policy/"))]
    assert {"Service", "StatefulSet", "Deployment", "Secret", "Job"} <= {r["kind"] for r in core}
    for resource in core:
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
    broken = {**_kind(rendered, "Service")[0], "spec": {"ports": [{"port": "metrics"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(_kind(rendered, "Kafka")[0], K8S_VERSION, strict=True)


def test_every_name_is_a_kubernetes_name_and_unique(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    seen: set[tuple[str, str]] = set()
    for resource in _all(rendered):
        name = resource["metadata"]["name"]
        assert DNS_SUBDOMAIN.match(name) and len(name) <= 253, name
        assert (resource["kind"], name) not in seen
        seen.add((resource["kind"], name))
    with pytest.raises(ValueError):
        k8s_name("…")


def test_kraft_cluster_with_scram_over_tls_and_three_replicas(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    [kafka] = _kind(rendered, "Kafka")
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1beta2"
    assert kafka["metadata"]["annotations"] == {"strimzi.io/node-pools": "enabled",
                                                "strimzi.io/kraft": "enabled"}
    [listener] = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["auto.create.topics.enable"] is False
    assert config["unclean.leader.election.enable"] is False
    assert set(kafka["spec"]["entityOperator"]) == {"topicOperator", "userOperator"}
    [pool] = _kind(rendered, "KafkaNodePool")
    assert pool["spec"]["replicas"] == 3 and pool["spec"]["roles"] == ["controller", "broker"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    province = render_k8s(load_unit_registry(UNITS), load_manifest(),
                          shape=ClusterShape(brokers=6))["strimzi-kafka.yaml"]
    pools = {p["metadata"]["name"]: p["spec"] for p in province if p["kind"] == "KafkaNodePool"}
    assert pools["controllers"]["replicas"] == 3 and pools["controllers"]["roles"] == [
        "controller"]
    assert pools["brokers"]["replicas"] == 6 and pools["brokers"]["roles"] == ["broker"]


def test_topics_follow_the_manifest_at_replication_three(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    registry = load_unit_registry(UNITS)
    specs = {s.name: s for s in load_manifest().expand(
        units=[u.code for u in registry], connectors=[CONNECTOR])}
    topics = {t["spec"]["topicName"]: t for t in _kind(rendered, "KafkaTopic")}
    assert set(topics) == set(specs)
    assert f"lf.inbox.{CONNECTOR_UNIT}" in topics and f"lf.dlq.{CONNECTOR}" in topics
    for name, topic in topics.items():
        spec = topic["spec"]
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == "2", name
        assert spec["partitions"] == specs[name].partitions, name
        assert spec["config"]["cleanup.policy"] == specs[name].cleanup_policy, name
        assert spec["config"]["retention.ms"] == str(specs[name].retention_ms), name
    assert topics["lf.case-state"]["spec"]["config"]["cleanup.policy"] == "compact"


_OPERATIONS = {"READ": "Read", "WRITE": "Write", "CREATE": "Create",
               "DESCRIBE_CONFIGS": "DescribeConfigs", "DELETE": "Delete", "ALL": "All"}


def test_users_carry_exactly_the_acls_of_hub_security_acl(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    registry = load_unit_registry(UNITS)
    services = ServicePrincipals()
    users = {u["metadata"]["name"]: u["spec"] for u in _kind(rendered, "KafkaUser")}
    assert set(users) == {k8s_name(u) for u in scram_users(registry, services)}
    granted = {(name, acl["type"], acl["resource"]["type"], acl["resource"]["name"],
                acl["resource"]["patternType"], op)
               for name, spec in users.items() for acl in spec["authorization"]["acls"]
               for op in acl["operations"]}
    wanted = {(k8s_name(b.principal.removeprefix("User:")), b.permission.lower(),
               b.resource_type.lower(), b.name,
               "prefix" if b.pattern_type == "PREFIXED" else "literal",
               _OPERATIONS[b.operation])
              for b in acl_bindings(registry, services, connectors={CONNECTOR: CONNECTOR_UNIT})}
    assert granted == wanted
    unit = users[k8s_name(f"unit-{CONNECTOR_UNIT}")]
    assert unit["authentication"] == {"type": "scram-sha-512"}
    assert ("topic", f"lf.dlq.{CONNECTOR}") in {
        (a["resource"]["type"], a["resource"]["name"]) for a in unit["authorization"]["acls"]}
    with pytest.raises(KeyError):
        render_k8s(registry, load_manifest(), connectors={"stray": "91000000000000000X"})


def test_the_workloads_are_rendered_with_state_on_volumes(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    workloads = {(r["kind"], r["metadata"]["name"]): r
                 for r in rendered["workloads.yaml"] + rendered["connectors.yaml"]}
    assert {r["metadata"]["namespace"] for r in workloads.values()} == {"liangfa"}
    workers = workloads[("StatefulSet", "liangfa-worker")]
    [claim] = workers["spec"]["volumeClaimTemplates"]
    mounts = {m["name"] for c in workers["spec"]["template"]["spec"]["containers"]
              for m in c.get("volumeMounts", [])}
    assert claim["metadata"]["name"] in mounts
    assert ("StatefulSet", "liangfa-postgres") in workloads
    assert ("Deployment", "liangfa-view") in workloads
    assert ("Deployment", "liangfa-public-feeds") in workloads
    deployment = workloads[("Deployment", f"connector-{CONNECTOR}")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-1] == f"/etc/liangfa/connector/{CONNECTOR}.yaml"
    assert {"secretRef": {"name": f"unit-{CONNECTOR_UNIT.lower()}-scram"}} in container[
        "envFrom"]
    [(_, text)] = workloads[("ConfigMap", f"connector-{CONNECTOR}")]["data"].items()
    assert load_config(CONNECTOR_CONFIG).model_dump() == parse_config(
        yaml.safe_load(text)).model_dump()
    drop = str(load_config(CONNECTOR_CONFIG).source.path)  # type: ignore[union-attr]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "drop"]
    assert drop.startswith(mount["mountPath"] + "/")
    assert ("PersistentVolumeClaim", f"connector-{CONNECTOR}-drop") in workloads
    # The hand-written set keeps no connector: the rendered one is the only definition.
    assert not (K8S / "connectors.yaml").exists()


def test_a_service_monitor_scrapes_every_metrics_endpoint(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    pods = {}
    for doc in rendered["workloads.yaml"] + rendered["connectors.yaml"]:
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            template = doc["spec"]["template"]
            port = (template["metadata"].get("annotations") or {}).get("prometheus.io/port")
            if port:
                pods[doc["metadata"]["name"]] = (int(port), template)
    assert {"liangfa-worker", "liangfa-view", "liangfa-public-feeds",
            "liangfa-audit-sealer"} <= set(pods)
    assert any("connector" in name for name in pods)
    services = {s["metadata"]["name"]: s for s in _kind(rendered, "Service")}
    monitors = _kind(rendered, "ServiceMonitor")
    assert len(monitors) == len(pods)
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        [service] = [s for s in services.values() if monitor["spec"]["selector"][
            "matchLabels"].items() <= s["metadata"].get("labels", {}).items()]
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        [port] = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        matched = [(p, t) for p, t in pods.values()
                   if service["spec"]["selector"].items() <= t["metadata"]["labels"].items()]
        assert len(matched) == 1, service["metadata"]["name"]
        pod_port, template = matched[0]
        assert port["targetPort"] == pod_port
        assert pod_port in {p["containerPort"] for c in template["spec"]["containers"]
                            for p in c.get("ports", [])}


def test_the_views_metrics_are_scraped_with_the_token_the_view_reads(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The view's port faces every unit's users, so its /metrics answers another pod only
    with the metrics token: its ServiceMonitor presents the key of the Secret the view's
    container reads its token from, and that Secret is in secrets.yaml."""
    [view] = [d for d in rendered["workloads.yaml"]
              if d["kind"] == "Deployment" and d["metadata"]["name"] == "liangfa-view"]
    [monitor] = [m for m in _kind(rendered, "ServiceMonitor")
                 if m["spec"]["selector"]["matchLabels"]["liangfa.io/metrics"]
                 == "liangfa-view"]
    [endpoint] = monitor["spec"]["endpoints"]
    credentials = endpoint["authorization"]["credentials"]
    assert endpoint["authorization"]["type"] == "Bearer"
    assert credentials["key"] == "LIANGFA_VIEW_METRICS_TOKEN"
    [container] = view["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": credentials["name"]}} in container["envFrom"]
    [secret] = [d for d in _static_resources()
                if d["kind"] == "Secret" and d["metadata"]["name"] == credentials["name"]]
    assert "LIANGFA_VIEW_METRICS_TOKEN" in secret["stringData"]
    others = [m for m in _kind(rendered, "ServiceMonitor") if m is not monitor]
    assert others and all("authorization" not in m["spec"]["endpoints"][0] for m in others)


def test_metrics_are_served_on_the_pods_address(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The hub's processes serve /metrics on this host only unless told otherwise
    (``LIANGFA_METRICS_HOST``); in a pod, Prometheus and the readiness probes on the
    metrics port reach the pod's address, so every process reading the hub's environment
    is told 0.0.0.0."""
    [environment] = [d for d in _static_resources()
                     if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "liangfa-hub-env"]
    assert environment["data"]["LIANGFA_METRICS_HOST"] == "0.0.0.0"
    probed = [d for d in rendered["workloads.yaml"] if d["kind"] in {"Deployment", "StatefulSet"}
              and any((c.get("readinessProbe") or {}).get("httpGet", {}).get("path")
                      == "/metrics" for c in d["spec"]["template"]["spec"]["containers"])]
    assert probed
    for workload in probed:
        [container] = workload["spec"]["template"]["spec"]["containers"]
        assert {"configMapRef": {"name": "liangfa-hub-env"}} in container["envFrom"]


def test_the_cli_writes_the_files(tmp_path: Path) -> None:
    from hub.cli import _attach_groups, app

    _attach_groups()
    result = CliRunner().invoke(app, [
        "deploy", "render", "k8s", "--out", str(tmp_path), "--units", str(UNITS),
        "--connector-config", str(CONNECTOR_CONFIG), "--brokers", "4"])
    assert result.exit_code == 0, result.output
    kinds = [d["kind"] for p in sorted(tmp_path.glob("*.yaml"))
             for d in yaml.safe_load_all(p.read_text(encoding="utf-8"))]
    assert kinds.count("KafkaNodePool") == 2 and "KafkaUser" in kinds
    assert kinds.count("StatefulSet") == 2 and "PersistentVolumeClaim" in kinds
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\n", encoding="utf-8")
    refused = CliRunner().invoke(app, [
        "deploy", "render", "k8s", "--out", str(tmp_path), "--units", str(UNITS),
        "--connector-config", str(broken)])
    assert refused.exit_code != 0 and "--connector-config" in refused.output
    bad = CliRunner().invoke(app, [
        "deploy", "render", "k8s", "--out", str(tmp_path), "--units", str(UNITS),
        "--connector", "stray=91000000000000000X"])
    assert bad.exit_code != 0 and "--connector" in bad.output
