"""Topics as data: the manifest in ``topics.yaml`` and its idempotent application.

aiokafka's admin client reports per-topic failures in the response instead of raising, so
``apply_topics`` reads every error code and distinguishes "already exists" (fine, then
compared for drift) from real failures (raised, naming the topic).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from aiokafka.admin import NewTopic
from pydantic import BaseModel, ConfigDict, Field

from hub.config import KafkaSecurity
from hub.errors import ConfigError, RetriableError
from hub.kafka import admin_client

__all__ = [
    "ApplyReport",
    "TopicManifest",
    "TopicSpec",
    "apply_topics",
    "delete_namespace",
    "ingest_topic",
    "load_manifest",
    "replication_for_brokers",
    "sized_for_cluster",
    "source_progress_topic",
]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_MANIFEST = Path(__file__).with_name("topics.yaml")


class TopicSpec(BaseModel):
    """One topic's wanted shape."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    partitions: int = Field(4, ge=1)
    replication_factor: int = Field(1, ge=1)
    min_insync_replicas: int = Field(1, ge=1)
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"
    retention_ms: int = -1
    configs: dict[str, str] = Field(default_factory=dict)

    def topic_configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": str(self.min_insync_replicas),
            **self.configs,
        }


class _Template(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str
    partitions: int | None = None
    cleanup_policy: Literal["delete", "compact", "compact,delete"] | None = None
    retention_ms: int | None = None


class TopicManifest(BaseModel):
    """The parsed manifest; ``expand`` turns templates into concrete topics."""

    model_config = ConfigDict(extra="forbid")

    defaults: dict[str, Any] = Field(default_factory=dict)
    topics: list[dict[str, Any]] = Field(default_factory=list)
    per_unit: list[_Template] = Field(default_factory=list)
    per_connector: list[_Template] = Field(default_factory=list)

    def _spec(self, values: dict[str, Any]) -> TopicSpec:
        merged = {**self.defaults, **{k: v for k, v in values.items() if v is not None}}
        return TopicSpec(**merged)

    def expand(
        self, *, units: Sequence[str] = (), connectors: Sequence[str] = ()
    ) -> list[TopicSpec]:
        specs = [self._spec(t) for t in self.topics]
        for template in self.per_unit:
            for unit in units:
                specs.append(self._spec({**template.model_dump(exclude={"template"}),
                                         "name": template.template.format(unit=unit)}))
        for template in self.per_connector:
            for connector in connectors:
                specs.append(self._spec({**template.model_dump(exclude={"template"}),
                                         "name": template.template.format(connector=connector)}))
        return specs

    def for_brokers(self, brokers: int) -> TopicManifest:
        """The manifest sized for a cluster of ``brokers``.

        Why: a topic cannot have more replicas than brokers, and with three replicas
        ``min.insync.replicas`` 2 lets one broker die without losing an acknowledged
        write or stopping producers (issue #15 item 4). RF = min(3, brokers);
        min.insync = 2 when RF is 3, else 1.
        """
        replication, min_insync = replication_for_brokers(brokers)
        defaults = {**self.defaults, "replication_factor": replication,
                    "min_insync_replicas": min_insync}
        return self.model_copy(update={"defaults": defaults})

    def spec_for(self, name: str) -> TopicSpec:
        """A spec for one topic by name: a per-unit template's settings when the name is
        one of its topics (a unit's progress topic is compacted), else the defaults (an
        ingest topic)."""
        for template in self.per_unit:
            head, _, tail = template.template.partition("{unit}")
            if name.startswith(head) and name.endswith(tail) and len(name) > len(head + tail):
                unit = name[len(head):len(name) - len(tail)]
                if "." not in unit:
                    return self._spec({**template.model_dump(exclude={"template"}),
                                       "name": name})
        return self._spec({"name": name})


def replication_for_brokers(brokers: int) -> tuple[int, int]:
    """(replication factor, ``min.insync.replicas``) of a topic on ``brokers`` brokers.

    The one rule behind ``TopicManifest.for_brokers``, the multi-broker stack's internal
    topics (``hub.local.broker``) and ``apply_topics``: RF = min(3, brokers), min.insync
    2 at RF 3 (one broker may die without losing an acknowledged write), else 1.
    """
    if brokers < 1:
        raise ConfigError(f"broker count must be at least 1, got {brokers}")
    replication = min(3, brokers)
    return replication, 2 if replication == 3 else 1


def sized_for_cluster(spec: TopicSpec, brokers: int) -> TopicSpec:
    """``spec`` with at least the replication ``replication_for_brokers`` gives.

    Why: workers (changelogs, inboxes), connectors and the view create their own topics
    from the shipped single-broker manifest; on a cluster a replication factor of 1
    would make such a topic unavailable whenever its one broker dies (issue #15 item 4).
    A spec asking for more is left as it is.
    """
    replication, min_insync = replication_for_brokers(brokers)
    if spec.replication_factor >= replication:
        return spec
    return spec.model_copy(update={"replication_factor": replication,
                                   "min_insync_replicas": max(spec.min_insync_replicas,
                                                              min_insync)})


def load_manifest(path: Path | None = None) -> TopicManifest:
    """Read and validate the topic manifest (the shipped one by default)."""
    source = path or _MANIFEST
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        return TopicManifest.model_validate(raw)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"invalid topic manifest {source}: {exc}") from exc


def ingest_topic(unit_code: str, stream: str) -> str:
    """The only topic a unit's connectors may write to for ``stream`` (DESIGN.md)."""
    return f"lf.ingest.{unit_code}.{stream}"


def source_progress_topic(unit_code: str) -> str:
    """Where a unit's connectors say how far they have read their sources (compacted, one
    record per connector; ``connectors.progress``). Under the unit's ingest prefix, so only
    the unit may write it; three names deep, so the workers' ingest subscription
    (``lf.ingest.<unit>.<stream>``) does not take it for a stream of case events."""
    return f"lf.ingest.{unit_code}.sources.progress"


@dataclass
class ApplyReport:
    """What ``apply_topics`` did and found."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)


async def apply_topics(bootstrap: str, specs: list[TopicSpec], *,
                       security: KafkaSecurity | None = None) -> ApplyReport:
    """Create missing topics (replication sized for the cluster: ``sized_for_cluster``);
    report existing ones whose partition count differs."""
    report = ApplyReport()
    admin = admin_client(bootstrap, security=security)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            # Sized for the brokers that answer now: a topic of more replicas than live
            # brokers cannot be created, and one of fewer would die with its broker.
            brokers = len((await admin.describe_cluster()).get("brokers", [])) or 1
            missing = [sized_for_cluster(s, brokers) for s in missing]
        if missing:
            response = await admin.create_topics([
                NewTopic(s.name, s.partitions, s.replication_factor,
                         topic_configs=s.topic_configs()) for s in missing])
            failures = []
            for error in response.topic_errors:
                name, code = error[0], error[1]
                if code == 0:
                    report.created.append(name)
                elif code == _TOPIC_ALREADY_EXISTS:
                    report.existing.append(name)
                else:
                    message = error[2] if len(error) > 2 else ""
                    failures.append(f"{name}: error {code} {message}")
            if failures:
                raise RetriableError("topic creation failed: " + "; ".join(failures))
        present = [s for s in specs if s.name in existing]
        if present:
            described = await admin.describe_topics([s.name for s in present])
            counts = {d["topic"]: len(d["partitions"]) for d in described}
            for spec in present:
                report.existing.append(spec.name)
                if counts.get(spec.name) not in (None, spec.partitions):
                    report.drift.append(
                        f"{spec.name}: has {counts[spec.name]} partitions, manifest says "
                        f"{spec.partitions}")
    finally:
        await admin.close()
    for line in report.drift:
        log.warning("topic drift: %s", line)
    return report


#: The hub's own topic namespace (``lf.…``): no prefix that reaches into it is deleted.
_HUB_NAMESPACE = "lf."


async def delete_namespace(bootstrap: str, prefixes: Sequence[str], *,
                           security: KafkaSecurity | None = None) -> list[str]:
    """Delete every topic whose name starts with one of ``prefixes``; returns their names.

    For a run that brought a namespace of its own (the benchmarks): a 1,000,000-event
    streams run left ~1 GB of topics and changelogs behind, run after run, on whatever
    broker it was pointed at. A prefix that is empty, or that the hub's own ``lf.``
    topics start with (or that starts with ``lf.``), is refused: a typo must not reach a
    county's case topics.
    """
    for prefix in prefixes:
        if not prefix or _HUB_NAMESPACE.startswith(prefix) or prefix.startswith(_HUB_NAMESPACE):
            raise ConfigError(f"refusing to delete topics under {prefix!r}: it reaches the "
                              f"hub's own {_HUB_NAMESPACE} topics")
    admin = admin_client(bootstrap, security=security)
    try:
        await admin.start()
        doomed = sorted(name for name in await admin.list_topics()
                        if any(name.startswith(prefix) for prefix in prefixes))
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
    return doomed
