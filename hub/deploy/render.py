"""Render the Strimzi layer of a Kubernetes install from the registry and the topic manifest.

Why rendered, not written by hand: the Kafka users, their ACLs and the topics are functions
of the unit registry (``units.yaml``), the connectors and ``hub/topics.yaml``. A hand-kept
copy drifts the day a unit is added; a rendered one is rebuilt by ``liangfa deploy render
k8s`` and reviewed as a diff. The ACLs come from ``hub.security.acl.acl_bindings`` — the same
generator ``liangfa acl apply`` uses — translated to Strimzi's ``KafkaUser`` form, so the
User Operator grants exactly what the registry says.

What is rendered (``kafka.strimzi.io/v1beta2``, ``monitoring.coreos.com/v1``):

- ``Kafka`` in KRaft mode with ``KafkaNodePool`` resources (three combined controller+broker
  nodes, or three controllers and N brokers), a TLS listener with SCRAM-SHA-512, the simple
  authorizer, replication factor 3 and ``min.insync.replicas`` 2;
- a ``KafkaTopic`` per topic of the manifest (its partitions, cleanup and retention), with
  replicas 3 and ``min.insync.replicas`` 2 whatever the single-broker defaults say;
- a ``KafkaUser`` per unit and per service principal, SCRAM-SHA-512, with its ACLs;
- the hub's own workloads, read from ``deploy/k8s`` (the one definition of each, also used
  by its kustomization): stream workers as a StatefulSet with their state stores on
  ``volumeClaimTemplates``, the view with its PostgreSQL StatefulSet, the public-feed
  publisher, the audit sealer and the DLQ exporter, with their Services;
- per connector configuration given (``--connector-config``), a ConfigMap holding it, a
  claim for its drop folder (file and XML sources) and a ``Recreate`` Deployment running it
  under its unit's principal — rendered only, so there is no hand-kept copy per agency;
- a metrics Service and a ``ServiceMonitor`` per rendered workload whose pod declares a
  ``prometheus.io/port``.

Kubernetes names are lowercase: a 统一社会信用代码 has capital letters, so a unit's
``KafkaUser`` is ``unit-<code>`` lowercased, and that lowercased name is the SCRAM user its
connector signs in with on Strimzi (the operator puts it in the user's Secret).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from connectors.config import ConnectorConfig
from hub.security.acl import AclBinding, ServicePrincipals, acl_bindings, scram_users
from hub.topics import TopicManifest, TopicSpec
from hub.units import UnitRegistry

__all__ = ["HUB_WORKLOADS", "ClusterShape", "k8s_name", "render_k8s", "write_k8s"]

Resource = dict[str, Any]

STRIMZI = "kafka.strimzi.io/v1beta2"
CLUSTER = "liangfa"
#: A province's floor: a record is acknowledged by two of three replicas.
REPLICAS = 3
MIN_INSYNC = 2
_K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
#: The files of ``deploy/k8s`` holding the hub's own workloads (not the Kafka layer, which
#: Strimzi replaces, nor the Secrets, which the User Operator and the operator provide).
HUB_WORKLOADS = ("workers.yaml", "view.yaml", "services.yaml", "network-policies.yaml")
#: The container image of the hub's processes in the shipped manifests.
_IMAGE = "registry.example.org/liangfa-hub:0.1.0"
_OPERATIONS = {
    "READ": "Read", "WRITE": "Write", "CREATE": "Create", "DESCRIBE": "Describe",
    "DESCRIBE_CONFIGS": "DescribeConfigs", "ALTER": "Alter", "DELETE": "Delete",
    "IDEMPOTENT_WRITE": "IdempotentWrite", "ALL": "All",
}
_RESOURCES = {"TOPIC": "topic", "GROUP": "group", "CLUSTER": "cluster",
              "TRANSACTIONAL_ID": "transactionalId"}
_PATTERNS = {"LITERAL": "literal", "PREFIXED": "prefix"}


@dataclass(frozen=True)
class ClusterShape:
    """How many nodes in which roles. ``brokers`` 0: three combined controller+broker nodes
    (a county); otherwise three dedicated controllers and that many brokers (a province)."""

    brokers: int = 0
    broker_storage: str = "100Gi"
    controller_storage: str = "10Gi"
    namespace: str = "liangfa"


def k8s_name(value: str) -> str:
    """A DNS-1123 subdomain for ``value`` (lowercase; anything else becomes ``-``)."""
    name = re.sub(r"[^a-z0-9.-]+", "-", value.lower()).strip("-.")
    if not name or len(name) > 253:
        raise ValueError(f"{value!r} cannot be a Kubernetes name")
    return name


def _meta(name: str, namespace: str, **labels: str) -> Resource:
    meta: Resource = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def _storage(size: str, *, shared: bool) -> Resource:
    volume: Resource = {"id": 0, "type": "persistent-claim", "size": size,
                        "deleteClaim": False}
    if shared:
        volume["kraftMetadata"] = "shared"
    return {"type": "jbod", "volumes": [volume]}


def _node_pools(shape: ClusterShape) -> list[Resource]:
    cluster = {"strimzi.io/cluster": CLUSTER}
    if shape.brokers == 0:
        pools = [("combined", REPLICAS, ["controller", "broker"], shape.broker_storage)]
    else:
        pools = [("controllers", REPLICAS, ["controller"], shape.controller_storage),
                 ("brokers", shape.brokers, ["broker"], shape.broker_storage)]
    return [{
        "apiVersion": STRIMZI, "kind": "KafkaNodePool",
        "metadata": _meta(name, shape.namespace, **cluster),
        "spec": {"replicas": replicas, "roles": roles,
                 "storage": _storage(size, shared="broker" in roles)},
    } for name, replicas, roles, size in pools]


def _kafka(shape: ClusterShape) -> Resource:
    metadata = _meta(CLUSTER, shape.namespace)
    metadata["annotations"] = {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"}
    return {
        "apiVersion": STRIMZI, "kind": "Kafka", "metadata": metadata,
        "spec": {
            "kafka": {
                "listeners": [{"name": "tls", "port": 9093, "type": "internal", "tls": True,
                               "authentication": {"type": "scram-sha-512"}}],
                "authorization": {"type": "simple"},
                "config": {
                    "default.replication.factor": REPLICAS,
                    "min.insync.replicas": MIN_INSYNC,
                    "offsets.topic.replication.factor": REPLICAS,
                    "transaction.state.log.replication.factor": REPLICAS,
                    "transaction.state.log.min.isr": MIN_INSYNC,
                    "auto.create.topics.enable": False,
                    "unclean.leader.election.enable": False,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }


def _topic(spec: TopicSpec, namespace: str) -> Resource:
    config = {**spec.topic_configs(), "min.insync.replicas": str(MIN_INSYNC)}
    return {
        "apiVersion": STRIMZI, "kind": "KafkaTopic",
        "metadata": _meta(k8s_name(spec.name), namespace, **{"strimzi.io/cluster": CLUSTER}),
        "spec": {"topicName": spec.name, "partitions": spec.partitions, "replicas": REPLICAS,
                 "config": config},
    }


def _acl(binding: AclBinding) -> Resource:
    resource: Resource = {"type": _RESOURCES[binding.resource_type]}
    if binding.resource_type != "CLUSTER":
        resource["name"] = binding.name
        resource["patternType"] = _PATTERNS[binding.pattern_type]
    return {"type": binding.permission.lower(), "resource": resource, "host": binding.host,
            "operations": [_OPERATIONS[binding.operation]]}


def _users(bindings: Iterable[AclBinding], users: Iterable[str],
           namespace: str) -> list[Resource]:
    by_principal: dict[str, list[AclBinding]] = {}
    for binding in bindings:
        by_principal.setdefault(binding.principal.removeprefix("User:"), []).append(binding)
    resources = []
    for user in users:
        resources.append({
            "apiVersion": STRIMZI, "kind": "KafkaUser",
            "metadata": _meta(k8s_name(user), namespace, **{"strimzi.io/cluster": CLUSTER}),
            "spec": {"authentication": {"type": "scram-sha-512"},
                     "authorization": {"type": "simple",
                                       "acls": [_acl(b) for b in by_principal.get(user, [])]}},
        })
    return resources


def _hub_workloads(base: Path, namespace: str) -> list[Resource]:
    """The resources of :data:`HUB_WORKLOADS`, placed in ``namespace``."""
    resources = []
    for name in HUB_WORKLOADS:
        for doc in yaml.safe_load_all((base / name).read_text(encoding="utf-8")):
            if doc:
                doc["metadata"]["namespace"] = namespace
                resources.append(doc)
    return resources


def _connector(config: ConnectorConfig, text: str, namespace: str) -> list[Resource]:
    """ConfigMap, drop-folder claim and Deployment of one connector configuration.

    One replica with ``Recreate``: two processes on one config would read the same files.
    The claim is mounted at the drop folder's parent, so the archive and quarantine folders
    beside it (``<drop>/archive``, ``<drop>-quarantine``) survive a restart too.
    """
    name = k8s_name(f"connector-{config.id}")
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "connector",
              "app.kubernetes.io/part-of": "liangfa-hub",
              # it serves nothing but its metrics (deploy/k8s/network-policies.yaml)
              "liangfa.io/serves": "metrics-only"}
    file_name = f"{config.id}.yaml"
    resources: list[Resource] = [{
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, namespace),
        "data": {file_name: text},
    }]
    mounts: list[Resource] = [{"name": "config", "mountPath": "/etc/liangfa/connector"}]
    volumes: list[Resource] = [{"name": "config", "configMap": {"name": name}}]
    drop = getattr(config.source, "path", None)
    if drop is not None:
        claim = f"{name}-drop"
        resources.append({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(claim, namespace),
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "10Gi"}}},
        })
        mounts.append({"name": "drop", "mountPath": str(Path(drop).parent)})
        volumes.append({"name": "drop", "persistentVolumeClaim": {"claimName": claim}})
    container: Resource = {
        "name": "connector", "image": _IMAGE,
        "args": ["python", "-m", "connectors", "run", f"/etc/liangfa/connector/{file_name}"],
        "envFrom": [{"secretRef": {"name": f"{k8s_name(f'unit-{config.unit}')}-scram"}},
                    {"configMapRef": {"name": "liangfa-hub-env"}}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                      "limits": {"memory": "1Gi"}},
        "volumeMounts": mounts,
    }
    template_meta: Resource = {"labels": labels}
    if config.metrics_port is not None:
        container["ports"] = [{"name": "metrics", "containerPort": config.metrics_port}]
        template_meta["annotations"] = {"prometheus.io/scrape": "true",
                                        "prometheus.io/port": str(config.metrics_port)}
    resources.append({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace),
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"},
                 "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "template": {"metadata": template_meta,
                              "spec": {"containers": [container], "volumes": volumes}}},
    })
    return resources


#: The pod annotation naming the Secret whose token its /metrics wants as a bearer token
#: (the view's: its port faces every unit's users); the key is :data:`METRICS_TOKEN_KEY`.
METRICS_TOKEN_ANNOTATION = "liangfa.io/metrics-token-secret"  # noqa: S105 - a name
METRICS_TOKEN_KEY = "LIANGFA_VIEW_METRICS_TOKEN"  # noqa: S105 - a name


def _metrics_endpoints(workloads: Iterable[Resource]
                       ) -> list[tuple[str, str, Mapping[str, str], str | None]]:
    """(workload, metrics port, pod labels, token Secret) of every pod that declares one."""
    found = []
    for doc in workloads:
        if doc.get("kind") not in {"Deployment", "StatefulSet"}:
            continue
        template = doc["spec"]["template"]
        annotations = template["metadata"].get("annotations") or {}
        port = annotations.get("prometheus.io/port")
        if port is not None:
            found.append((doc["metadata"]["name"], str(port),
                          doc["spec"]["selector"]["matchLabels"],
                          annotations.get(METRICS_TOKEN_ANNOTATION)))
    return found


def _monitoring(workloads: Iterable[Resource], namespace: str) -> list[Resource]:
    resources: list[Resource] = []
    for workload, port, selector, token_secret in _metrics_endpoints(workloads):
        endpoint: Resource = {"port": "metrics", "path": "/metrics", "interval": "30s"}
        if token_secret:
            endpoint["authorization"] = {
                "type": "Bearer",
                "credentials": {"name": token_secret, "key": METRICS_TOKEN_KEY}}
        name = f"{workload}-metrics"
        labels = {"app.kubernetes.io/part-of": "liangfa-hub", "liangfa.io/metrics": workload}
        resources.append({
            "apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace, **labels),
            "spec": {"selector": dict(selector),
                     "ports": [{"name": "metrics", "port": int(port),
                                "targetPort": int(port)}]},
        })
        resources.append({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": _meta(name, namespace, **labels),
            "spec": {"selector": {"matchLabels": {"liangfa.io/metrics": workload}},
                     "endpoints": [endpoint]},
        })
    return resources


def render_k8s(registry: UnitRegistry, manifest: TopicManifest, *,
               connectors: Mapping[str, str] | None = None,
               connector_configs: Iterable[tuple[ConnectorConfig, str]] = (),
               shape: ClusterShape | None = None,
               workloads: Path = _K8S_DIR) -> dict[str, list[Resource]]:
    """Every rendered resource, by the file it goes in.

    ``connectors`` maps connector id to unit code (each gets its DLQ topic and its ACLs);
    ``connector_configs`` (a parsed config and its YAML text) also get their workloads, and
    join ``connectors``. A connector of an unknown unit is a KeyError from
    ``acl_bindings``: the same refusal ``liangfa acl apply`` makes.
    """
    shape = shape or ClusterShape()
    configs = list(connector_configs)
    connectors = {**dict(connectors or {}), **{c.id: c.unit for c, _ in configs}}
    services = ServicePrincipals()
    bindings = acl_bindings(registry, services, connectors=connectors)
    topics = manifest.expand(units=[unit.code for unit in registry],
                             connectors=sorted(connectors))
    kafka = [_kafka(shape), *_node_pools(shape)]
    hub = _hub_workloads(workloads, shape.namespace)
    agencies = [r for config, text in configs
                for r in _connector(config, text, shape.namespace)]
    return {
        "strimzi-kafka.yaml": kafka,
        "strimzi-topics.yaml": [_topic(spec, shape.namespace) for spec in topics],
        "strimzi-users.yaml": _users(bindings, scram_users(registry, services),
                                     shape.namespace),
        "workloads.yaml": hub,
        "connectors.yaml": agencies,
        "monitoring.yaml": _monitoring([*hub, *agencies], shape.namespace),
    }


def write_k8s(rendered: Mapping[str, list[Resource]], out: Path) -> list[Path]:
    """Write each file as a multi-document YAML stream; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, resources in rendered.items():
        path = out / name
        path.write_text(
            "# Rendered by `liangfa deploy render k8s`; do not edit, re-render.\n"
            + yaml.safe_dump_all(resources, sort_keys=False, allow_unicode=True),
            encoding="utf-8")
        written.append(path)
    return written
