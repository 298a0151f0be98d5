"""deploy/k8s: the Kubernetes manifests parse and every cross-reference resolves.

No cluster runs here, so nothing is applied: the test reads every resource the
kustomization lists and checks what a typo would break at apply time or at start-up —
Secrets, ConfigMaps (and their keys), volumes and claims that exist; Services whose
selectors and target ports reach a pod; a headless Service per StatefulSet; three KRaft
brokers that name each other; a SCRAM Secret for every service principal of
``hub.security.acl`` and for each connector's unit; connector configs that load; the
``liangfa`` commands the containers run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
WORKLOADS = {"Deployment", "StatefulSet", "Job"}


def _resources() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")):
            if doc:
                doc["_file"] = name
                docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return _resources()


def _named(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _pod_specs(resources: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for resource in resources:
        if resource["kind"] in WORKLOADS:
            yield resource, resource["spec"]["template"]


def _data_keys(resource: dict[str, Any]) -> set[str]:
    return set(resource.get("data") or {}) | set(resource.get("stringData") or {})


def test_every_file_is_listed_and_every_resource_is_well_formed(
        resources: list[dict[str, Any]]) -> None:
    listed = {r["_file"] for r in resources}
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, "a manifest file is not in the kustomization (or missing)"
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        assert resource.get("apiVersion") and resource.get("kind"), resource["_file"]
        key = (resource["kind"], resource["metadata"]["name"])
        assert key not in seen, f"{key} defined twice"
        seen.add(key)
    assert {"Namespace", "StatefulSet", "Deployment", "Service", "Secret", "Job"} <= {
        kind for kind, _ in seen}


def test_secrets_config_maps_and_claims_referenced_exist(
        resources: list[dict[str, Any]]) -> None:
    secrets = _named(resources, "Secret")
    config_maps = _named(resources, "ConfigMap")
    claims = _named(resources, "PersistentVolumeClaim")
    problems: list[str] = []
    for workload, template in _pod_specs(resources):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = template["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        templates = {t["metadata"]["name"]
                     for t in workload["spec"].get("volumeClaimTemplates", [])}
        for volume in volumes.values():
            if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                problems.append(f"{where}: ConfigMap {volume['configMap']['name']}")
            if "secret" in volume and volume["secret"]["secretName"] not in secrets:
                problems.append(f"{where}: Secret {volume['secret']['secretName']}")
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim is not None and claim not in claims:
                problems.append(f"{where}: PVC {claim}")
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes and mount["name"] not in templates:
                    problems.append(f"{where}: volume {mount['name']} not defined")
            for source in container.get("envFrom", []):
                if "secretRef" in source and source["secretRef"]["name"] not in secrets:
                    problems.append(f"{where}: Secret {source['secretRef']['name']}")
                if "configMapRef" in source and source["configMapRef"]["name"] not in config_maps:
                    problems.append(f"{where}: ConfigMap {source['configMapRef']['name']}")
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in _data_keys(secrets.get(ref["name"], {})):
                    problems.append(f"{where}: {variable['name']} ← {ref['name']}/{ref['key']}")
    assert problems == []


def test_services_reach_pods_and_statefulsets_have_headless_services(
        resources: list[dict[str, Any]]) -> None:
    pods = [(w, t) for w, t in _pod_specs(resources) if w["kind"] != "Job"]
    for workload, template in pods:
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items(), workload["metadata"]
    for service in _named(resources, "Service").values():
        name = service["metadata"]["name"]
        matching = [t for _, t in pods
                    if service["spec"]["selector"].items() <= t["metadata"]["labels"].items()]
        assert matching, f"Service {name} selects no pod"
        ports = {p.get("name") for t in matching for c in t["spec"]["containers"]
                 for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service {name}: no port {port['targetPort']}"
    services = _named(resources, "Service")
    for stateful in _named(resources, "StatefulSet").values():
        headless = services[stateful["spec"]["serviceName"]]
        assert headless["spec"].get("clusterIP") == "None" or stateful["metadata"]["name"] in {
            "liangfa-postgres"}, stateful["metadata"]["name"]


def test_three_kraft_brokers_replicate_three_times_with_two_in_sync(
        resources: list[dict[str, Any]]) -> None:
    kafka = _named(resources, "StatefulSet")["kafka"]
    assert kafka["spec"]["replicas"] == 3
    headless = kafka["spec"]["serviceName"]
    start = _named(resources, "ConfigMap")["kafka-start"]["data"]["start.sh"]
    assert f'DNS="{headless}.' in start
    voters = [f"{n}@kafka-{n}.${{DNS}}:9093" for n in range(3)]
    assert f'VOTERS="{",".join(voters)}"' in start
    for line in ("process.roles=broker,controller", "default.replication.factor=3",
                 "min.insync.replicas=2", "offsets.topic.replication.factor=3",
                 "allow.everyone.if.no.acl.found=false", "auto.create.topics.enable=false",
                 "unclean.leader.election.enable=false"):
        assert f"\n{line}\n" in start, line
    budget = _named(resources, "PodDisruptionBudget")["kafka"]
    assert budget["spec"]["maxUnavailable"] == 1
    job = _named(resources, "Job")["liangfa-bootstrap"]
    script = " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "replication_factor: 3" in script and "min_insync_replicas: 2" in script


def test_every_principal_has_its_scram_secret_and_runs_under_it(
        resources: list[dict[str, Any]]) -> None:
    from connectors.config import parse_config
    from hub.security.acl import ServicePrincipals, unit_user

    secrets = _named(resources, "Secret")
    users = {s["stringData"]["LIANGFA_KAFKA_SASL_USERNAME"]: name
             for name, s in secrets.items()
             if "LIANGFA_KAFKA_SASL_USERNAME" in s.get("stringData", {})}
    principals = ServicePrincipals()
    assert set(principals.users()) <= set(users), "a service principal has no Secret"
    uses = {
        "liangfa-worker": principals.streams, "liangfa-view": principals.view,
        "liangfa-public-feeds": principals.public, "liangfa-audit-sealer":
            principals.audit_sealer,
    }
    workloads = {w["metadata"]["name"]: t for w, t in _pod_specs(resources)}
    for workload, principal in uses.items():
        refs = {s["secretRef"]["name"] for s in
                workloads[workload]["spec"]["containers"][0]["envFrom"] if "secretRef" in s}
        assert users[principal.removeprefix("User:")] in refs, workload
    passwords = yaml.safe_load(secrets["liangfa-scram-passwords"]["stringData"]["scram.json"])
    # Connectors are rendered (`liangfa deploy render k8s --connector-config`), not listed.
    rendered = _rendered_connectors()
    config_maps = _named(rendered, "ConfigMap")
    connectors = [w for w in _named(rendered, "Deployment").values()
                  if w["spec"]["template"]["metadata"]["labels"].get(
                      "app.kubernetes.io/component") == "connector"]
    assert connectors
    for deployment in connectors:
        spec = deployment["spec"]["template"]["spec"]
        [config_volume] = [v for v in spec["volumes"] if "configMap" in v]
        [(_, text)] = config_maps[config_volume["configMap"]["name"]]["data"].items()
        config = parse_config(yaml.safe_load(text))
        refs = {s["secretRef"]["name"] for s in spec["containers"][0]["envFrom"]
                if "secretRef" in s}
        assert users[unit_user(config.unit)] in refs, "a connector runs as another principal"
        assert unit_user(config.unit) in passwords
        ports = {p["containerPort"] for p in spec["containers"][0]["ports"]}
        assert config.metrics_port in ports
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(config.metrics_port)
    assert set(principals.users()) - {"liangfa-registry"} <= set(passwords)


def _rendered_connectors() -> list[dict[str, Any]]:
    from connectors.config import load_config
    from hub.deploy.render import render_k8s
    from hub.topics import load_manifest
    from hub.units import load_unit_registry

    configs = [(load_config(path), path.read_text(encoding="utf-8"))
               for path in sorted((K8S / "connectors").glob("*.yaml"))]
    return render_k8s(load_unit_registry(ROOT / "deploy" / "demo" / "units.yaml"),
                      load_manifest(), connector_configs=configs)["connectors.yaml"]


def test_rendered_connectors_use_claims_secrets_and_the_env_of_the_manifests(
        resources: list[dict[str, Any]]) -> None:
    rendered = _rendered_connectors()
    assert not any(r["kind"] == "Deployment" and r["metadata"]["name"].startswith(
        "connector-") for r in resources), "a hand-kept connector beside the rendered ones"
    claims = _named(rendered, "PersistentVolumeClaim")
    config_maps = {**_named(resources, "ConfigMap"), **_named(rendered, "ConfigMap")}
    secrets = _named(resources, "Secret")
    deployments = _named(rendered, "Deployment")
    assert deployments
    for deployment in deployments.values():
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert deployment["spec"]["replicas"] == 1
        spec = deployment["spec"]["template"]["spec"]
        for volume in spec["volumes"]:
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
            else:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
        for source in spec["containers"][0]["envFrom"]:
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets
            else:
                assert source["configMapRef"]["name"] in config_maps


def _selected_by(policy: dict[str, Any], template: dict[str, Any]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels") or {}
    labels = template["metadata"].get("labels") or {}
    return all(labels.get(key) == value for key, value in wanted.items())


def _ports(template: dict[str, Any]) -> set[str]:
    return {port.get("name", "") for container in template["spec"]["containers"]
            for port in container.get("ports", [])}


def test_pods_that_serve_only_metrics_take_connections_from_prometheus_alone(
        resources: list[dict[str, Any]]) -> None:
    """Workers, publisher, sealer, exporter and connectors listen on 0.0.0.0 for their
    metrics alone: a NetworkPolicy admits the monitoring namespace to that port and
    nothing else, and leaves the pods that serve clients (Kafka, registry, view,
    PostgreSQL) to their own."""
    policies = list(_named(resources, "NetworkPolicy").values())
    assert policies
    pods = [(r["metadata"]["name"], t) for r, t in _pod_specs(resources) if r["kind"] != "Job"]
    pods += [(r["metadata"]["name"], r["spec"]["template"]) for r in _rendered_connectors()
             if r["kind"] == "Deployment"]
    selected = {name for name, template in pods
                if any(_selected_by(policy, template) for policy in policies)}
    metrics_only = {name for name, template in pods if _ports(template) <= {"metrics"}}
    assert selected == metrics_only
    assert {"liangfa-worker", "liangfa-public-feeds", "liangfa-audit-sealer",
            "liangfa-dlq-exporter"} <= selected
    assert any(name.startswith("connector-") for name in selected)
    assert not selected & {"kafka", "liangfa-registry", "liangfa-view", "liangfa-postgres"}
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"]["ingress"]:
            assert [port["port"] for port in rule["ports"]] == ["metrics"]
            assert rule["from"] and all(set(peer) == {"namespaceSelector"}
                                        for peer in rule["from"])


def test_clients_point_at_the_services(resources: list[dict[str, Any]]) -> None:
    env = _named(resources, "ConfigMap")["liangfa-hub-env"]["data"]
    services = _named(resources, "Service")
    host, port = env["LIANGFA_BOOTSTRAP"].split(":")
    assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
    registry = env["LIANGFA_REGISTRY_URL"].removeprefix("http://").split("/", 1)[0]
    host, port = registry.split(":")
    assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
    assert env["LIANGFA_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"


def test_the_liangfa_commands_the_containers_run_exist(
        resources: list[dict[str, Any]]) -> None:
    from hub.cli import _attach_groups, app

    _attach_groups()
    runner = CliRunner()
    checked = 0
    for _, template in _pod_specs(resources):
        for container in template["spec"]["containers"]:
            args = container.get("args") or []
            if args[:1] != ["liangfa"]:
                continue
            words = [a for a in args[1:3] if not a.startswith("-")]
            result = runner.invoke(app, [*words, "--help"])
            assert result.exit_code == 0, (args, result.output)
            for option in (a.split("=")[0] for a in args if a.startswith("--")):
                assert option in result.output, f"{' '.join(args[:3])}: no option {option}"
            checked += 1
    assert checked >= 3
