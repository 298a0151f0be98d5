"""What a stream worker needs besides its own id, data dir and web port, and its topics.

The settings are plain data (no broker client is built here), so the CLI, the benchmark
and the tests construct them the same way; :func:`prepare_topics` creates every topic the
engine reads or writes before a worker joins its group (the broker does not auto-create).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hub.config import HubSettings
from hub.kafka import admin_client
from hub.topics import TopicSpec, apply_topics
from hub.units import load_unit_registry
from streams.topics import TopicNames, internal_topic_specs

__all__ = ["DEFAULT_APP_ID", "DEFAULT_HUB_UNIT", "StreamSettings", "prepare_topics"]

DEFAULT_APP_ID = "liangfa-streams"
#: The unit operating the hub (source_unit of derived events) when no registry says otherwise.
DEFAULT_HUB_UNIT = "11421181MB00000039"


@dataclass(frozen=True)
class StreamSettings:
    """Everything a worker needs besides its own id, data dir and web port."""

    hub: HubSettings = field(default_factory=HubSettings)
    topics: TopicNames = field(default_factory=TopicNames)
    app_id: str = DEFAULT_APP_ID
    #: Partitions of every co-partitioned topic (ingest, case topics, changelogs): the
    #: most workers that can share the load. Sized for a county; see docs/decisions.md
    #: for a province.
    partitions: int = 4
    units_file: Path | None = None
    hub_unit_code: str = DEFAULT_HUB_UNIT
    #: How often the deadline timer looks for clocks that ran out (seconds).
    deadline_tick_interval_s: float = 30.0
    #: Broker session timeout: how long a dead worker's partitions wait before moving.
    session_timeout_s: float = 10.0

    @property
    def bootstrap(self) -> str:
        """The broker address."""
        return self.hub.bootstrap


async def prepare_topics(settings: StreamSettings) -> list[str]:
    """Create outputs and changelogs (idempotent); return the ingest topics that exist now."""
    topics = settings.topics
    specs = topics.output_specs(settings.partitions)
    specs += internal_topic_specs(settings.app_id, settings.partitions)
    unit_codes = {settings.hub_unit_code}
    if settings.units_file:
        unit_codes |= {unit.code for unit in load_unit_registry(settings.units_file)}
    specs += [TopicSpec(name=topics.inbox(code), partitions=settings.partitions)
              for code in sorted(unit_codes)]
    await apply_topics(settings.bootstrap, specs, security=settings.hub.kafka_security)
    admin = admin_client(settings.bootstrap, security=settings.hub.kafka_security)
    try:
        await admin.start()
        names = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(name for name in names if topics.ingest_pattern.match(name))
