"""The partitions a worker owns: their stores opened on assignment, closed on revocation.

A consumer-group rebalance decides which state this worker holds, and getting it wrong
costs data, not speed: a store opened without its changelog replayed would judge cases
on an old state, and a store saved on a hand-over that was not clean would make durable
what the broker never acknowledged. That logic runs inside the consumer's rebalance
callbacks, apart from the batch loop (:mod:`streams.engine.worker`), which is why it is
kept in a module of its own: what a rebalance may write, and when, is read here in one
place. The loop calls ``consume`` only between batches, so a revoked partition's last
batch has committed before its store closes.

A base class of :class:`~streams.engine.worker.StreamWorker` rather than an object of
its own, like the processors' steps (``docs/decisions.md``): the callbacks read and
change the worker's assigned partitions, processors, producer and failure flag, and
declare those attributes here so mypy checks them.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.engine.commits import OffsetCommits
from streams.engine.processors import Processors
from streams.engine.state import PartitionStore
from streams.metrics import CONSUMER_LAG, RESTORE_SECONDS
from streams.topics import TopicNames, changelog_topic

__all__ = ["PartitionAssignment"]

log = logging.getLogger(__name__)

#: A topic and partition number (confluent-kafka's TopicPartition also carries an offset).
Place = tuple[str, int]


class PartitionAssignment:
    """Opening, recovering, saving and closing the stores of the partitions the group
    assigns and revokes (part of :class:`~streams.engine.worker.StreamWorker`)."""

    settings: Any
    worker_id: str
    data_dir: Path
    topics: TopicNames
    security: Any
    processors: Processors | None
    commits: OffsetCommits | None
    producer: Producer | None
    assigned: set[Place]
    failed: bool
    #: The worker's checkpoint of staged state (outputs, changelogs, then RocksDB).
    _flush: Callable[[Producer], None]

    def _store(self, name: str, partition: int) -> PartitionStore:
        return PartitionStore(self.data_dir / f"{name}-{partition}",
                              changelog_topic(self.settings.app_id, name), partition)

    def _is_case_topic(self, topic: str) -> bool:
        """Co-partitioned with the case stores: an ingest topic or a fixed case topic."""
        topics = self.topics
        return (topic in (topics.case_events, topics.alerts, topics.view_actions,
                          topics.case_intake)
                or topics.ingest_unit(topic) is not None)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.release([(tp.topic, tp.partition) for tp in partitions])

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost (session timeout, poll interval exceeded): another worker may own them
        # already, so nothing more is written to their changelogs.
        self.release([(tp.topic, tp.partition) for tp in partitions], lost=True)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        places = [(tp.topic, tp.partition) for tp in partitions]
        resume = self.acquire(places)
        for tp in partitions:
            offset = resume.get((tp.topic, tp.partition))
            if offset is not None:
                tp.offset = offset
        self.assigned = set(places)
        consumer.assign(partitions)

    def release(self, revoked: list[Place], *, lost: bool = False) -> None:
        """Close the stores of partitions that moved away (their last batch committed).

        The statistics snapshot is saved first on a clean hand-over only: not when the
        partitions were ``lost`` (a new owner may be writing their changelogs) and not
        when the loop failed (:attr:`failed`: a batch's state may be in memory whose
        outputs were never acknowledged). Then the next owner re-counts the feed from
        the last snapshot, as after a crash. A failure while saving is logged and the
        stores are closed all the same: this runs inside the consumer's callback.
        """
        for topic, partition in revoked:  # an owner's lag, not a figure moved away
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(topic, str(partition))
        gone = set(revoked)
        self.assigned -= gone
        if self.commits is not None:
            self.commits.forget(gone)
        processors = self.processors
        if processors is None:
            return
        kept = {partition for topic, partition in self.assigned
                if self._is_case_topic(topic)}
        for topic, partition in revoked:
            statistics = processors.statistics
            if topic == self.topics.stats_feed and statistics.store is not None:
                try:
                    if (self.producer is not None and not lost and not self.failed
                            and statistics.save_before_close()):
                        self._flush(self.producer)
                except Exception:
                    log.exception("%s: the statistics snapshot could not be saved on "
                                  "release; the next owner re-counts from the last one",
                                  self.worker_id)
                finally:
                    statistics.store.close()
                    statistics.store = None
                    statistics.stats = None
            elif partition in processors.case_stores and partition not in kept:
                store = processors.case_stores.pop(partition)
                processors.forget_partition(partition)
                store.close()
                processors.due.drop_partition(partition)
                processors.held.drop_partition(partition)

    def acquire(self, assigned: list[Place]) -> dict[Place, int]:
        """Open and recover the stores of newly assigned partitions (changelog replay).

        Returns the offsets to resume from where the store, not the group, knows them
        (the statistics feed's offset is kept with its state).
        """
        processors = self.processors
        resume: dict[Place, int] = {}
        if processors is None:
            return resume
        started = time.monotonic()
        for topic, partition in sorted(assigned):
            if topic == self.topics.stats_feed:
                if processors.statistics.store is None:
                    store = self._store("engine-stats", 0)
                    store.recover(self.settings.bootstrap, self.security,
                                  group_id=f"{self.settings.app_id}-restore")
                    processors.statistics.store = store
                    resume[(topic, partition)] = processors.statistics.load()
                continue
            # An ingest topic with more partitions than the case topics: its extra
            # partitions have no case store (their events take the two-hop path).
            if (partition not in processors.case_stores
                    and partition in processors.case_partitions):
                store = self._store("engine-cases", partition)
                store.recover(self.settings.bootstrap, self.security,
                                  group_id=f"{self.settings.app_id}-restore")
                processors.case_stores[partition] = store
                processors.forget_partition(partition)
                processors.index_due_times(partition)
        # What recovery loaded (the matching index, kept documents, rules) lives as long
        # as the assignment: out of the collector's sight, full collections stop scanning
        # it again and again (they took 30-40% of the CPU with a large index). Thawed
        # first: what an earlier assignment froze and a revocation let go of since would
        # otherwise never be collected if it holds a cycle.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        RESTORE_SECONDS.set(time.monotonic() - started)
        log.info("%s: assigned %d partitions, stores ready in %.1f s", self.worker_id,
                 len(assigned), time.monotonic() - started)
        return resume
