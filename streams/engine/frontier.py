"""The input frontier: the instant before which every input record has been processed.

Some judgements are made at wall time, not on a record: a deadline ran out, the referral
that feedback quotes never came, the case an event waits for never came. Made while the
record that settles it sits unread in a topic (a backlog, a worker that fell behind, the
other worker's partition), the judgement is noise: an alert the prosecutor reads and the
hub takes back a moment later, feedback parked for a person that its referral would have
matched. Under load the matching grace alone (:data:`~streams.engine.matching.MATCH_GRACE_S`)
let hundreds of such alerts through in a demo run.

So the worker judges as of its *input frontier*, not of the clock (what Kafka Streams
calls stream time, for punctuators that must not run ahead of the data). A round,
started every :data:`ROUND_INTERVAL_S`:

1. ``T`` := the wall clock; the end offsets of every partition the group consumes
   (anything acknowledged before ``T`` lies below them);
2. wait until the group's committed offsets reach them: the engine commits a batch only
   after its outputs, the referral index entries among them, are acknowledged, so every
   worker's work on those records is done and written;
3. a record processed before ``T`` may have sent another on a second trip through the
   engine's own topics (a record forwarded to its case's partition, police feedback
   re-keyed to the referral's case, an alert for the case's owner): acknowledged before
   the commit of step 2, it lies below their end offsets taken now; wait for the
   committed offsets to reach those too;
4. then the end offsets of the matching index's topics, and wait until this worker's
   index consumer has read that far (the index is how feedback finds referrals indexed
   by another worker);
5. the frontier is ``T``, bounded by what the connectors had confirmed reading when the
   round began (:mod:`streams.engine.sources`: a record still in an export folder is on
   no topic, and no end offset waits for it). Their marks are read before step 1's end
   offsets are taken, so what a mark confirms lies below them.

Idle, a round takes a few milliseconds and the frontier trails the clock by about
:data:`ROUND_INTERVAL_S`. Behind a backlog it trails by the backlog. More than
``max_wait_s`` behind (a partition no member consumes, a stuck worker) the worker judges
at wall time again and says so (a gauge and a log line): better a noisy alert than a
silent clock. An alert a sweep raises carries the judged instant as its ``recorded_at``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from streams.engine.tuning import EngineTuning
from streams.metrics import CONSUMER_LAG, FRONTIER_AT_WALL_TIME, FRONTIER_LAG

__all__ = ["DEFAULT_MAX_WAIT_S", "ROUND_INTERVAL_S", "IndexProgress", "InputFrontier",
           "SourceProgress", "checked_offsets", "report_consumer_lag", "subscribed"]

log = logging.getLogger(__name__)

#: Seconds between the starts of two rounds.
ROUND_INTERVAL_S = 1.0
#: Seconds between two reads of the group's committed offsets within a round.
_CHECK_INTERVAL_S = 0.2
#: Seconds a list of the input topics is used before it is read again (a new unit's
#: ingest topic is subscribed within the engine's metadata refresh, 30 s).
_TOPICS_MAX_AGE_S = 30.0
#: How far behind the clock the frontier may fall before judgements go back to wall time
#: (``LIANGFA_ENGINE_FRONTIER_MAX_WAIT_S``; 0 judges at wall time always).
DEFAULT_MAX_WAIT_S = EngineTuning.frontier_max_wait_s
#: The earliest instant there is: what is judged before the first round ends.
_NOTHING_YET = datetime.min.replace(tzinfo=UTC)
#: A round's broker calls block the worker's loop: short, and a failed one starts the
#: round again.
_BROKER_TIMEOUT_S = 1.0


class IndexProgress(Protocol):
    """What the frontier needs of the matching index (:class:`GlobalIndex`)."""

    def end_offsets(self) -> list[TopicPartition]:
        """The current end offset of every partition the index reads."""
        ...

    def has_read(self, ends: Sequence[TopicPartition]) -> bool:
        """Whether the index has applied every record below ``ends``."""
        ...


class SourceProgress(Protocol):
    """What the frontier needs of the connectors' marks (:class:`SourceMarks`)."""

    def refresh(self) -> None:
        """Apply the marks that came in."""
        ...

    def bound(self, max_wait_s: float) -> float | None:
        """The instant the sources let the worker judge at (None: no bound)."""
        ...


def subscribed(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A test of topic names against a librdkafka subscription (``^`` marks a regex)."""
    names = {pattern for pattern in patterns if not pattern.startswith("^")}
    expressions = [re.compile(pattern) for pattern in patterns if pattern.startswith("^")]
    return lambda name: name in names or any(e.match(name) for e in expressions)


def report_consumer_lag(consumer: Consumer, places: Iterable[tuple[str, int]]) -> None:
    """The lag in records of the partitions this worker owns (the frontier is the
    group's lag in time): end offset minus committed offset, per partition."""
    partitions = [TopicPartition(topic, partition) for topic, partition in places]
    with contextlib.suppress(KafkaException):
        for tp in consumer.committed(partitions, timeout=5):
            _, highwater = consumer.get_watermark_offsets(tp, cached=True)
            if highwater is None or highwater < 0:
                continue
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                max(highwater - max(tp.offset, 0), 0))


class _Round:
    __slots__ = ("checked_at", "earliest", "ends", "index_ends", "relays_taken",
                 "sources_bound", "started_at")

    def __init__(self, started_at: float, ends: list[TopicPartition],
                 sources_bound: float | None) -> None:
        self.started_at = started_at
        self.sources_bound = sources_bound
        #: The end offsets the group's committed offsets must reach (steps 1 and 3).
        self.ends = ends
        self.relays_taken = False
        self.earliest: dict[tuple[str, int], int] = {}
        self.index_ends: list[TopicPartition] | None = None
        self.checked_at = 0.0


class InputFrontier:
    """The group's input frontier, advanced a step at a time by the worker's loop.

    Every step is at most one or two broker round trips (a millisecond on a local broker),
    so the loop calls :meth:`advance` between batches without a thread of its own.
    ``is_input`` tells the topics whose records timed work may wait for, ``is_relay``
    those of them the engine itself writes records to for a second trip.
    """

    def __init__(self, consumer: Consumer, is_input: Callable[[str], bool],
                 is_relay: Callable[[str], bool], index: IndexProgress | None, *,
                 sources: SourceProgress | None = None,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S,
                 interval_s: float = ROUND_INTERVAL_S,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._consumer = consumer
        self._is_input = is_input
        self._is_relay = is_relay
        self._index = index
        self._sources = sources
        self.max_wait_s = max_wait_s
        self._interval_s = interval_s
        self._wall_clock = wall_clock
        self._started = wall_clock()
        #: POSIX seconds before which every input record is processed; None until the
        #: first round ends.
        self.frontier: float | None = None
        #: POSIX seconds the connectors had confirmed reading to when the last round
        #: began (None: no live connector holds anything back).
        self.sources_bound: float | None = None
        self._round: _Round | None = None
        self._next_round = 0.0
        self._partitions: list[tuple[str, int]] = []
        self._partitions_read_at = -_TOPICS_MAX_AGE_S
        self._logged_at = -60.0

    def begin(self) -> None:
        """Count the wait from now: the worker's start (its index load, its stores'
        restore) is not time the frontier fell behind."""
        self._started = self._wall_clock()

    def judging_time(self, now: datetime) -> datetime:
        """The instant to judge at: ``now`` bounded by the frontier, or ``now`` when the
        frontier is more than ``max_wait_s`` behind (reported and logged)."""
        if self.max_wait_s <= 0:
            FRONTIER_LAG.set(0.0)
            return now
        reached = self.frontier if self.frontier is not None else self._started
        lag = max(now.timestamp() - reached, 0.0)
        FRONTIER_LAG.set(lag)
        if lag > self.max_wait_s:
            FRONTIER_AT_WALL_TIME.set(1)
            if time.monotonic() - self._logged_at >= 60:
                self._logged_at = time.monotonic()
                log.warning("the input frontier is %.0f s behind the clock (limit %.0f s): "
                            "judging at wall time; is a partition without a consumer?",
                            lag, self.max_wait_s)
            return now
        FRONTIER_AT_WALL_TIME.set(0)
        if self.frontier is None:
            return _NOTHING_YET
        reached = self.frontier
        if self.sources_bound is not None:
            reached = max(min(reached, self.sources_bound), 0.0)
        return min(now, datetime.fromtimestamp(reached, UTC))

    def advance(self) -> None:
        """Take the current round one step further, or start one when it is time."""
        if self.max_wait_s <= 0:
            return
        try:
            self._step()
        except KafkaException as exc:  # a broker or a partition away: start again later
            log.info("input frontier: %s; the round starts again", exc)
            self._round = None
            self._partitions_read_at = -_TOPICS_MAX_AGE_S  # a topic may have gone
            self._next_round = time.monotonic() + self._interval_s

    def _step(self) -> None:
        clock = time.monotonic()
        current = self._round
        if current is None:
            if clock < self._next_round:
                return
            bound = None
            if self._sources is not None:  # the marks first: what they confirm is below
                self._sources.refresh()    # the end offsets taken next
                bound = self._sources.bound(self.max_wait_s)
            started_at = self._wall_clock()
            self._round = _Round(started_at, self._end_offsets(self._input_partitions()),
                                 bound)
            return
        if clock - current.checked_at < _CHECK_INTERVAL_S:
            return
        current.checked_at = clock
        if current.index_ends is None:
            if not self._committed_reach(current):
                return
            if not current.relays_taken:  # step 3: the second trips of what was read
                current.relays_taken = True
                current.ends = self._end_offsets(
                    [(end.topic, end.partition) for end in current.ends
                     if self._is_relay(end.topic)])
                if not self._committed_reach(current):
                    return
            current.index_ends = self._index.end_offsets() if self._index else []
        if self._index is not None and not self._index.has_read(current.index_ends):
            return
        self.frontier = current.started_at
        self.sources_bound = current.sources_bound
        FRONTIER_LAG.set(max(self._wall_clock() - current.started_at, 0.0))
        self._round = None
        self._next_round = clock + self._interval_s

    def _input_partitions(self) -> list[tuple[str, int]]:
        if time.monotonic() - self._partitions_read_at >= _TOPICS_MAX_AGE_S:
            metadata = self._consumer.list_topics(timeout=_BROKER_TIMEOUT_S)
            self._partitions = sorted(
                (name, number) for name, topic in metadata.topics.items()
                if topic.error is None and self._is_input(name)
                for number in topic.partitions)
            self._partitions_read_at = time.monotonic()
        return self._partitions

    def _end_offsets(self, partitions: Sequence[tuple[str, int]],
                     which: int = OFFSET_END) -> list[TopicPartition]:
        if not partitions:
            return []
        return checked_offsets(self._consumer.offsets_for_times(
            [TopicPartition(name, number, which) for name, number in partitions],
            timeout=_BROKER_TIMEOUT_S))

    def _committed_reach(self, current: _Round) -> bool:
        """Whether the group has committed past every end offset of the round."""
        wanted = [end for end in current.ends if end.offset > 0]
        if not wanted:
            return True
        committed = {(tp.topic, tp.partition): tp.offset for tp in checked_offsets(
            self._consumer.committed(
                [TopicPartition(end.topic, end.partition) for end in wanted],
                timeout=_BROKER_TIMEOUT_S))}
        never = [(end.topic, end.partition) for end in wanted
                 if committed.get((end.topic, end.partition), -1) < 0
                 and (end.topic, end.partition) not in current.earliest]
        if never:  # never committed: caught up only if the partition holds nothing
            for start in self._end_offsets(never, OFFSET_BEGINNING):
                current.earliest[(start.topic, start.partition)] = start.offset
        for end in wanted:
            place = (end.topic, end.partition)
            reached = committed.get(place, -1)
            if reached < 0:
                reached = current.earliest.get(place, 0)
            if reached < end.offset:
                return False
        return True


def checked_offsets(partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
    """The partitions of a reply, or the first partition's error raised: a partition
    whose offset is unknown must not count as empty."""
    for tp in partitions:
        if tp.error is not None:
            raise KafkaException(tp.error)
    return list(partitions)
