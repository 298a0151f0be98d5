"""The consumer group's offsets, committed after each batch and again after a failure.

A batch's offsets are committed once its outputs and state are acknowledged (the order in
:mod:`streams.engine.worker`). A commit that fails leaves the batch to be replayed,
deduplicated, but only if its partition moves to another worker: otherwise nothing reads
those records again, and an idle partition left uncommitted would hold the input frontier
(:mod:`streams.engine.frontier`) back until it fell past its limit. So the offsets are
kept and committed with the next batch's, or on their own a second later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.engine.purge import RepartitionPurge

__all__ = ["RETRY_AFTER_S", "OffsetCommits"]

log = logging.getLogger(__name__)

#: Seconds before a failed commit is tried again on its own.
RETRY_AFTER_S = 1.0

Place = tuple[str, int]


class OffsetCommits:
    """Synchronous commits of a worker's batches, with the offsets of failed ones kept."""

    def __init__(self, consumer: Consumer, worker_id: str,
                 purge: RepartitionPurge | None = None) -> None:
        self._consumer = consumer
        self._worker_id = worker_id
        #: Told what was committed: the repartition topics' records below it can go.
        self._purge = purge
        self._uncommitted: dict[Place, int] = {}
        self._retry_at = 0.0

    @property
    def retry_due(self) -> bool:
        """Whether offsets of a failed commit wait and may be tried again now."""
        return bool(self._uncommitted) and time.monotonic() >= self._retry_at

    def forget(self, places: Collection[Place]) -> None:
        """Drop the kept offsets of partitions that moved away: their new owner commits
        from where it resumed, and should one come back here, offsets kept from before
        would move the group's position backwards."""
        for place in places:
            self._uncommitted.pop(place, None)
        if self._purge is not None:
            self._purge.forget(places)

    def commit(self, offsets: dict[Place, int], assigned: Collection[Place]
               ) -> dict[Place, int]:
        """Commit ``offsets`` and those a failed commit left, of the partitions this
        worker still owns (a moved partition's new owner replays from its last commit);
        returns what the broker took (nothing when the commit failed)."""
        wanted = {place: offset for place, offset in self._uncommitted.items()
                  if place in assigned}
        for place, offset in offsets.items():
            wanted[place] = max(offset, wanted.get(place, 0))
        self._uncommitted = {}
        if not wanted:
            return {}
        try:
            self._consumer.commit(
                offsets=[TopicPartition(topic, partition, offset)
                         for (topic, partition), offset in wanted.items()],
                asynchronous=False)
        except KafkaException as exc:
            self._uncommitted = wanted
            self._retry_at = time.monotonic() + RETRY_AFTER_S
            log.warning("%s: commit failed (%s); tried again with the next batch or in "
                        "%.0f s", self._worker_id, exc, RETRY_AFTER_S)
            return {}
        if self._purge is not None:
            self._purge.committed(wanted)
        return wanted
