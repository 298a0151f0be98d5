"""The engine's own repartition topics, emptied of what the group has consumed.

``lf.streams.case-intake`` (events on their way to the task that owns their case) and
``lf.streams.stats-feed`` (the statistics' facts, on one partition) are the engine's
repartition topics: only its workers read them, and a record is done with once the
worker that would read it again after a crash is past it. They are created without a
time limit (a worker stopped for a week must not lose what it was handed), so until
this module they kept every record for good: one statistics record per batch and a copy
of every event handed between tasks, which a province's backfill turns into gigabytes
nobody reads.

Kafka Streams deletes its repartition topics' records below the committed offsets
(``repartition.purge.interval.ms``, 30 s by default, through the admin client's
DeleteRecords); this does the same. Only what a successor would not read again goes:

- ``lf.streams.case-intake`` is resumed at the group's committed offset, so it is
  purged below that;
- the statistics feed is resumed at the offset its last snapshot covers (the snapshot
  holds the missing-entry tracker, written every few seconds or less often, and after a
  crash the new owner counts the feed again from there), so it is purged below the
  lower of the committed offset and that snapshot's, and not at all while no readable
  snapshot was written (:meth:`RepartitionPurge.checkpointed`).

A purge that fails (a broker down, an ACL missing) is logged, counted and tried again at
the next interval; it never holds a batch back. A dead letter of an intake record keeps
its own copy, so ``liangfa dlq replay`` does not need the purged record.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Collection, Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from streams.metrics import REPARTITION_PURGE_FAILURES, REPARTITIONS_PURGED

__all__ = ["RepartitionPurge"]

log = logging.getLogger(__name__)

Place = tuple[str, int]


class RepartitionPurge:
    """Deletes the records of ``topics`` below what the group committed, at most once per
    ``interval_s``, without waiting for the broker's answer. ``checkpointed_topics`` are
    resumed from a checkpoint of their own: they are purged no further than it."""

    def __init__(self, admin: AdminClient | None, topics: Collection[str], worker_id: str,
                 *, interval_s: float, checkpointed_topics: Collection[str] = ()) -> None:
        self._admin = admin
        self._topics = frozenset(topics) | frozenset(checkpointed_topics)
        self._checkpointed_topics = frozenset(checkpointed_topics)
        self._worker_id = worker_id
        self._interval_s = interval_s
        self._committed: dict[Place, int] = {}
        self._checkpoints: dict[Place, int] = {}
        #: Offsets the broker confirmed deleted below (written by the admin client's
        #: thread; a dict item assignment, atomic under the interpreter lock).
        self._purged: dict[Place, int] = {}
        self._due_at = time.monotonic() + interval_s

    def committed(self, offsets: Mapping[Place, int]) -> None:
        """Note offsets the group committed (those of other topics are ignored)."""
        for place, offset in offsets.items():
            if place[0] in self._topics and offset > self._committed.get(place, -1):
                self._committed[place] = offset

    def checkpointed(self, place: Place, offset: int | None) -> None:
        """The offset a checkpointed topic's next owner resumes from, as written and
        acknowledged, told after a commit the broker took (a worker that lost the
        group must not move it); None: none it could resume from (nothing is purged)."""
        if offset is None:
            self._checkpoints.pop(place, None)
        else:
            self._checkpoints[place] = offset

    def forget(self, places: Collection[Place]) -> None:
        """Partitions that moved to another worker: their new owner purges them."""
        for place in places:
            self._committed.pop(place, None)
            self._checkpoints.pop(place, None)
            self._purged.pop(place, None)

    def purgeable(self) -> dict[Place, int]:
        """The offsets below which each owned partition may go now."""
        below: dict[Place, int] = {}
        for place, offset in self._committed.items():
            if place[0] in self._checkpointed_topics:
                checkpoint = self._checkpoints.get(place)
                if checkpoint is None:
                    continue
                offset = min(offset, checkpoint)
            if offset > self._purged.get(place, 0):
                below[place] = offset
        return below

    def maybe_purge(self) -> int:
        """Ask the broker to delete what was committed since the last purge, if the
        interval has passed; returns how many partitions were asked for."""
        if self._admin is None or self._interval_s <= 0:
            return 0
        self._admin.poll(0)  # serves the client's error callback (errors counted)
        if time.monotonic() < self._due_at:
            return 0
        self._due_at = time.monotonic() + self._interval_s
        todo = [TopicPartition(topic, partition, offset)
                for (topic, partition), offset in self.purgeable().items()]
        if not todo:
            return 0
        try:
            futures = self._admin.delete_records(todo, request_timeout=15.0)
        except Exception:  # a purge never stops the worker
            log.exception("%s: purging the repartition topics failed; tried again in %.0f s",
                          self._worker_id, self._interval_s)
            for tp in todo:
                REPARTITION_PURGE_FAILURES.labels(tp.topic).inc()
            return 0
        for tp, future in futures.items():
            future.add_done_callback(functools.partial(
                self._settled, (tp.topic, tp.partition), tp.offset))
        return len(todo)

    def _settled(self, place: Place, offset: int, future: Future[Any]) -> None:
        """The broker's answer, on the admin client's thread."""
        error = future.exception()
        if error is not None:
            REPARTITION_PURGE_FAILURES.labels(place[0]).inc()
            log.warning("%s: deleting %s/%d below offset %d failed (%s); tried again in "
                        "%.0f s", self._worker_id, place[0], place[1], offset, error,
                        self._interval_s)
            return
        REPARTITIONS_PURGED.labels(place[0]).inc()
        if place in self._committed and offset > self._purged.get(place, 0):
            self._purged[place] = offset  # not for a partition forgotten meanwhile
