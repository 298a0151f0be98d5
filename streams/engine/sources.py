"""How far the connectors have read their sources: the other half of the input frontier.

The input frontier (:mod:`streams.engine.frontier`) waits for every record on the bus.
A record a connector has not read yet is not on the bus: the police's filing decision
still in its export folder while the agency's referral was read long ago. Judged then,
"filing decision overdue" is raised and taken back when the decision is read. So every
connector says how far it has read (:mod:`connectors.progress`: one mark per connector on
its unit's progress topic), and the worker judges at most as late as the slowest live
connector has confirmed:

* a connector whose last pass read its source to the end confirms that pass's start;
* a connector running but not through its first pass yet confirms nothing: timed work
  waits until it is (a start, a restart, a backfill's first long pass);
* a connector stopped cleanly, or silent for :data:`DEFAULT_STALE_S` (crashed, its host
  gone), holds nothing back;
* nor does one whose confirmed instant (or, unconfirmed, its start) is more than the
  frontier's ``max_wait_s`` behind the clock: a stuck source costs an alert's timeliness
  at most that long, then the hub judges without it and logs it (the same limit, and the
  same choice, as for a partition no worker reads).

A mark counts only on its own unit's topic: a unit may write nothing but its own ingest
prefix, and a mark naming another unit is ignored. The worst a unit can do with its
marks is hold judgements back for ``max_wait_s``; ``liangfa_streams_source_progress_lag_
seconds`` shows which connector does.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from streams.engine.tuning import EngineTuning
from streams.metrics import SOURCE_PROGRESS_LAG

__all__ = ["DEFAULT_STALE_S", "SourceMarks", "progress_pattern"]

log = logging.getLogger(__name__)

#: Seconds without a mark after which a connector counts as gone (connectors write one at
#: least every ``connectors.progress.ALIVE_EVERY_S``; ``LIANGFA_ENGINE_SOURCE_STALE_S``).
DEFAULT_STALE_S = EngineTuning.source_stale_s
#: Seconds a list of the progress topics is used before it is read again.
_TOPICS_MAX_AGE_S = 30.0
_READ_AT_ONCE = 500


def progress_pattern(prefix: str = "") -> re.Pattern[str]:
    """Matches every unit's progress topic (``hub.topics.source_progress_topic``); group 1
    is the unit code."""
    return re.compile(rf"^{re.escape(prefix)}lf\.ingest\.([^.]+)\.sources\.progress$")


@dataclass(frozen=True, slots=True)
class _Mark:
    running: bool
    read_to_end_at: float | None
    since: float
    alive_at: float


def _mark(value: bytes, unit: str) -> _Mark | None:
    """The mark a record carries, or None when it is not one of ``unit``'s."""
    try:
        raw = orjson.loads(value)
        if not isinstance(raw, dict) or raw.get("unit") != unit:
            return None
        read_to_end_at = raw.get("read_to_end_at")
        mark = _Mark(bool(raw["running"]),
                     None if read_to_end_at is None else float(read_to_end_at),
                     float(raw.get("since") or raw["alive_at"]), float(raw["alive_at"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    finite = [mark.since, mark.alive_at] + ([] if mark.read_to_end_at is None
                                             else [mark.read_to_end_at])
    return mark if all(math.isfinite(number) for number in finite) else None


class SourceMarks:
    """The latest mark of every connector, and the instant they let the worker judge at.

    ``consumer`` is an assign-only consumer of its own; :meth:`refresh` reads what came
    in without waiting, so the worker's loop calls it at the start of a frontier round.
    """

    def __init__(self, consumer: Consumer | None, pattern: re.Pattern[str], *,
                 stale_s: float = DEFAULT_STALE_S,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._consumer = consumer
        self._pattern = pattern
        self.stale_s = stale_s
        self._wall_clock = wall_clock
        self._marks: dict[tuple[str, str], _Mark] = {}
        #: Per connector that has confirmed nothing since: the earliest instant it was
        #: seen so, by its marks' ``since`` or this worker's clock when it first read
        #: one. A connector that writes "running, nothing confirmed, since now" over and
        #: over would otherwise hold every judgement back for ever; measured from here,
        #: it holds them for the frontier's limit at most.
        self._unconfirmed_since: dict[tuple[str, str], float] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._topics_read_at = -_TOPICS_MAX_AGE_S
        self._shown: set[tuple[str, str]] = set()
        self._warned: set[tuple[str, str]] = set()  # behind more than the limit
        self._refused: set[tuple[str, str]] = set()  # wrote what is not a mark

    def refresh(self) -> None:
        """Follow new progress topics; apply every mark fetched since the last call."""
        consumer = self._consumer
        if consumer is None:
            return
        if time.monotonic() - self._topics_read_at >= _TOPICS_MAX_AGE_S:
            self._follow_new_topics(consumer)
        while True:
            records = consumer.consume(num_messages=_READ_AT_ONCE, timeout=0)
            for record in records:
                error = record.error()
                if error is not None:
                    log.info("source progress: %s", error)
                    continue
                self.apply(record.topic() or "", record.key(), record.value())
            if len(records) < _READ_AT_ONCE:
                return

    def _follow_new_topics(self, consumer: Consumer) -> None:
        metadata = consumer.list_topics(timeout=1.0)
        new = [TopicPartition(name, number, OFFSET_BEGINNING)
               for name, topic in metadata.topics.items()
               if topic.error is None and self._pattern.match(name)
               for number in topic.partitions if (name, number) not in self._assigned]
        if new:
            consumer.incremental_assign(new)
            self._assigned.update((tp.topic, tp.partition) for tp in new)
        self._topics_read_at = time.monotonic()

    def apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """One record of a progress topic (a null value forgets the connector)."""
        match = self._pattern.match(topic)
        if match is None or not key:
            return
        unit = match.group(1)
        place = (unit, key.decode("utf-8", "replace"))
        if value is None:
            self._marks.pop(place, None)
            self._unconfirmed_since.pop(place, None)
            return
        mark = _mark(value, unit)
        if mark is None:
            if place not in self._refused:
                self._refused.add(place)
                log.warning("source progress: a record of %s on %s is not a mark of that "
                            "unit; ignored", place[1], topic)
            return
        self._marks[place] = mark
        first = self._unconfirmed_since.get(place)
        if mark.read_to_end_at is None:
            seen = min(mark.since, self._wall_clock())
            self._unconfirmed_since[place] = seen if first is None else min(first, seen)
        elif first is not None and mark.read_to_end_at >= first:
            del self._unconfirmed_since[place]  # a pass begun since has read to its end

    def bound(self, max_wait_s: float) -> float | None:
        """POSIX seconds the worker may judge at, as far as the sources go (None: no
        live connector holds anything back)."""
        now = self._wall_clock()
        bound: float | None = None
        shown: set[tuple[str, str]] = set()
        for place, mark in self._marks.items():
            if not mark.running or now - mark.alive_at > self.stale_s:
                continue
            basis = (self._unconfirmed_since.get(place, mark.since)
                     if mark.read_to_end_at is None else mark.read_to_end_at)
            lag = max(now - basis, 0.0)
            SOURCE_PROGRESS_LAG.labels(*place).set(lag)
            shown.add(place)
            if lag > max_wait_s:
                if place not in self._warned:
                    self._warned.add(place)
                    log.warning("source progress: connector %s of %s is %.0f s behind "
                                "(limit %.0f s); judging without waiting for it",
                                place[1], place[0], lag, max_wait_s)
                continue
            self._warned.discard(place)
            held = 0.0 if mark.read_to_end_at is None else mark.read_to_end_at
            bound = held if bound is None else min(bound, held)
        for place in self._shown - shown:
            SOURCE_PROGRESS_LAG.remove(*place)
        self._shown = shown
        return bound

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except KafkaException:
                log.info("source progress: the consumer did not close cleanly")
            self._consumer = None
