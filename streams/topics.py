"""Topic names the stream processors read and write, with one optional prefix.

The defaults are the manifest's names (``hub/topics.yaml``). Tests and parallel
deployments on one cluster give every name a prefix so that their workers never see each
other's records; the names stay otherwise identical, so a prefix is the only difference.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from hub.kafka import ENGINE_MAX_MESSAGE_BYTES
from hub.topics import TopicSpec, load_manifest

__all__ = [
    "CHANGELOG_CONFIGS",
    "ENGINE_STORES",
    "REPARTITION_CONFIGS",
    "SINGLE_PARTITION_TABLES",
    "TopicNames",
    "changelog_topic",
    "internal_topic_specs",
]

#: The engine's stores (see ``streams/engine``): per-case state (with normalize's
#: seen ids) per partition, the statistics snapshot, and the two matching indexes every
#: worker replicates in full.
ENGINE_STORES: tuple[str, ...] = (
    "engine-cases",
    "engine-stats",
    "engine-referrals",
    "engine-pending",
)
#: Tables fed by a single-partition topic (their changelog has one partition too).
SINGLE_PARTITION_TABLES: frozenset[str] = frozenset({"engine-stats"})


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog topic of a store (``<app id>-<store>-changelog``, Kafka Streams' form)."""
    return f"{app_id}-{table}-changelog"


@dataclass(frozen=True)
class TopicNames:
    """Names of every topic the worker touches; ``prefix`` namespaces them all."""

    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def case_events(self) -> str:
        """Normalized, deduplicated case events (the processors' common input)."""
        return self._name("lf.case-events")

    @property
    def alerts(self) -> str:
        """Deadline alerts, screening leads and unroutable items."""
        return self._name("lf.alerts")

    @property
    def case_state(self) -> str:
        """One compacted record per case."""
        return self._name("lf.case-state")

    @property
    def stats(self) -> str:
        """Per unit per month figures, compacted."""
        return self._name("lf.stats")

    @property
    def unmatched(self) -> str:
        """Police feedback waiting for a person to match it."""
        return self._name("lf.unmatched")

    @property
    def view_actions(self) -> str:
        """Actions taken in the prosecutor view (manual matches among them)."""
        return self._name("lf.view-actions")

    @property
    def dead_letters(self) -> str:
        """Records a processor could not decode or process."""
        return self._name("lf.dlq.streams")

    @property
    def audit(self) -> str:
        """The hash-chained audit log (written by the audit sealer only, hub/audit)."""
        return self._name("lf.audit")

    @property
    def audit_intake(self) -> str:
        """Where the engine writes its audit records (events a unit was not entitled to
        send), unchained: the audit sealer appends them to :attr:`audit`."""
        return self._name("lf.audit-intake")

    @property
    def case_intake(self) -> str:
        """Internal: ingest events on their way to the task that owns their case, when
        it is not the task that read them (a repartition). Only the engine writes it:
        its records are checked for entitlement by that task before anything publishes
        them on :attr:`case_events`."""
        return self._name("lf.streams.case-intake")

    @property
    def stats_feed(self) -> str:
        """Internal: the events statistics count, on one partition (the figures are global)."""
        return self._name("lf.streams.stats-feed")

    def inbox(self, unit_code: str) -> str:
        """What ``unit_code`` must act on."""
        return self._name(f"lf.inbox.{unit_code}")

    def ingest(self, unit_code: str, stream: str) -> str:
        """The ingest topic of one unit's stream."""
        return self._name(f"lf.ingest.{unit_code}.{stream}")

    @property
    def ingest_pattern(self) -> re.Pattern[str]:
        """Matches every ingest topic; group 1 is the unit code, group 2 the stream."""
        return re.compile(rf"^{re.escape(self.prefix)}lf\.ingest\.([^.]+)\.([^.]+)$")

    def ingest_unit(self, topic: str) -> str | None:
        """The unit an ingest topic belongs to (its principal is the only one who may write)."""
        # Asked several times per record by the engine: the answer per topic is cached.
        return _ingest_unit(self.prefix, topic)

    def output_specs(self, partitions: int = 4) -> list[TopicSpec]:
        """Specs of the fixed topics, from the manifest, renamed with the prefix."""
        manifest = load_manifest()
        wanted = {
            "lf.case-events", "lf.alerts", "lf.case-state", "lf.stats", "lf.unmatched",
            "lf.view-actions", "lf.dlq.streams", "lf.audit-intake",
        }
        specs = [
            spec.model_copy(update={"name": self._name(spec.name), "partitions": partitions})
            for spec in manifest.expand() if spec.name in wanted
        ]
        specs.append(TopicSpec(name=self.stats_feed, partitions=1,
                               configs=REPARTITION_CONFIGS))
        specs.append(TopicSpec(name=self.case_intake, partitions=partitions,
                               configs=REPARTITION_CONFIGS))
        return specs


#: The engine's repartition topics (:attr:`TopicNames.case_intake`,
#: :attr:`TopicNames.stats_feed`): the workers delete what their group committed
#: (:mod:`streams.engine.purge`), but the broker frees a segment's disk only once the
#: whole segment lies below the deleted offset, and never the active one: with its
#: defaults (1 GiB, 7 days) nothing would be freed for days. Kafka Streams gives its
#: repartition topics 50 MB and 10 minutes for the same reason.
REPARTITION_CONFIGS: dict[str, str] = {
    "segment.bytes": str(64 * 1024 * 1024),
    "segment.ms": str(10 * 60 * 1000),
}


#: Changelog segments: the log cleaner compacts only closed segments, and with the
#: broker's default of 1 GiB a store's changelog was never compacted before it held every
#: version of every document (3.7 GB of case changelogs for 1,000,000 bench events, ~4
#: versions per case), which a worker starting on an empty disk then read back in full.
CHANGELOG_CONFIGS: dict[str, str] = {
    "segment.bytes": str(64 * 1024 * 1024),
    "segment.ms": str(60 * 60 * 1000),
    # A case document may be 3.5 MiB (``MAX_DOCUMENT_BYTES``); the broker's default limit
    # (~1 MiB) would refuse it on the changelog and stop the worker. The producer's own
    # limit, so whatever it sends the topic takes.
    "max.message.bytes": str(ENGINE_MAX_MESSAGE_BYTES),
}


def internal_topic_specs(app_id: str, partitions: int) -> list[TopicSpec]:
    """Compacted changelog topics of every store, co-partitioned with the case topics."""
    return [
        TopicSpec(name=changelog_topic(app_id, table),
                  partitions=1 if table in SINGLE_PARTITION_TABLES else partitions,
                  cleanup_policy="compact", configs=CHANGELOG_CONFIGS)
        for table in ENGINE_STORES
    ]


@functools.lru_cache(maxsize=4096)
def _ingest_unit(prefix: str, topic: str) -> str | None:
    match = TopicNames(prefix).ingest_pattern.match(topic)
    return match.group(1) if match else None
