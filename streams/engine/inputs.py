"""What a worker reads: its subscription, its input frontier, its records' headers.

The worker subscribes by pattern to every ingest topic, now or later, and to the engine's
fixed input topics. Timed work waits for all of them but the statistics feed (no clock
depends on its one partition), for the engine's own topics a second time (records sent on
a second trip), and for the connectors' progress marks (a record still in an export
folder is on no topic): :func:`group_frontier` puts those together.
"""

from __future__ import annotations

from typing import Any

import orjson
from confluent_kafka import Consumer

from hub.config import KafkaSecurity
from hub.kafka import make_engine_consumer
from streams._events import ORIGIN_HEADER, PROCESSED_HEADER
from streams.engine.frontier import IndexProgress, InputFrontier, subscribed
from streams.engine.sources import SourceMarks, progress_pattern
from streams.engine.tuning import EngineTuning

__all__ = ["group_frontier", "intake_origin", "is_processed", "record_headers",
           "subscription"]

_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")


def subscription(topics: Any) -> list[str]:
    """Every ingest topic (now or later) and the engine's fixed input topics.

    In librdkafka's form: an entry starting with ``^`` is a regular expression (its own
    engine: no ``(?:``, so the prefix is escaped by hand), the others are topic names.
    """
    prefix = "".join(f"\\{char}" if char in _REGEX_SPECIAL else char
                     for char in topics.prefix)
    return [rf"^{prefix}lf\.ingest\.[^.]+\.[^.]+$", topics.case_events, topics.alerts,
            topics.view_actions, topics.stats_feed, topics.case_intake]


def group_frontier(consumer: Consumer, topics: Any, index: IndexProgress | None, *,
                   bootstrap: str, security: KafkaSecurity | None, client_id: str,
                   tuning: EngineTuning) -> tuple[InputFrontier, SourceMarks]:
    """The worker's input frontier over ``consumer``'s group, with the connectors' marks
    read by a consumer of their own (close the :class:`SourceMarks` when done).

    ``tuning`` says how far behind the frontier may fall and how long a silent connector
    still counts.
    """
    marks = SourceMarks(
        make_engine_consumer(bootstrap, group_id=None, security=security,
                             client_id=f"{client_id}-progress"),
        progress_pattern(topics.prefix),
        stale_s=tuning.source_stale_s)
    is_subscribed = subscribed(subscription(topics))
    stats_feed = topics.stats_feed
    relays = {topics.case_events, topics.alerts, topics.case_intake}
    frontier = InputFrontier(
        consumer, lambda name: name != stats_feed and is_subscribed(name),
        relays.__contains__, index, sources=marks,
        max_wait_s=tuning.frontier_max_wait_s)
    return frontier, marks


def record_headers(headers: Any) -> tuple[tuple[str, bytes], ...]:
    """A record's headers as ``(str, bytes)`` pairs (a null header value becomes ``b""``)."""
    if not headers:
        return ()
    for _, value in headers:  # a plain loop: all() over a generator showed in profiles
        if value is None:
            return tuple((str(name), bytes(value or b"")) for name, value in headers)
    return tuple(headers)


def intake_origin(headers: Any) -> tuple[str, int, int] | None:
    """Where an ``lf.streams.case-intake`` record was read as an ingest record
    (:data:`~streams._events.ORIGIN_HEADER`); None when the header is missing or bad."""
    for name, value in headers or ():
        if name == ORIGIN_HEADER and value:
            try:
                topic, partition, offset = orjson.loads(value)
                return str(topic), int(partition), int(offset)
            except (ValueError, TypeError):
                return None
    return None


def is_processed(headers: Any) -> bool:
    """Whether a record carries :data:`PROCESSED_HEADER` (checked before decoding)."""
    if headers:
        for name, _ in headers:
            if name == PROCESSED_HEADER:
                return True
    return False
