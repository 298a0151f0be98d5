"""Statistics: per unit per month (UnitMonthlyStats) on ``lf.stats``, keyed ``<unit>|<month>``.

The figures are global (a referral counts for the agency, its receipt for the police, the
days between them need both), so the counted events are first funnelled, unchanged, onto
a single-partition internal feed; one worker at a time folds the feed into a
:class:`~streams.stats_logic.StatsAccumulator` held in memory.

Writing the whole accumulator to a table on every event would cost O(state) per event,
so it is snapshotted every few hundred events with the feed offset it covers. After a
restart or a partition move the worker loads the snapshot and re-reads the feed between
the snapshot and its committed position (the accumulator counts an event id once, so
re-reading is harmless); nothing counted before a commit is ever lost.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiokafka.structs import TopicPartition

from hub.kafka import make_consumer
from hub.models import (
    Alert,
    ArrestRequested,
    CaseReferred,
    FilingDecided,
    NonFilingReasonsExplained,
    PenaltyCaseRecorded,
    ReferralReceived,
    TransferredForProsecution,
)
from streams.safety import RawRecord
from streams.stats_logic import PROCESSOR, StatsAccumulator

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["PROCESSOR", "register"]

log = logging.getLogger(__name__)

_COUNTED = (PenaltyCaseRecorded, CaseReferred, ReferralReceived, FilingDecided, Alert,
            ArrestRequested, TransferredForProsecution, NonFilingReasonsExplained)
_SNAPSHOT_EVERY_EVENTS = 500
_SNAPSHOT_EVERY_S = 5.0
_SNAPSHOT_KEY = "accumulator"


class _Folded:
    """The in-memory accumulator and the feed offset it has seen up to."""

    def __init__(self) -> None:
        self.accumulator: StatsAccumulator | None = None
        self.offset = -1
        self.unsaved = 0
        self.saved_at = time.monotonic()


def register(runtime: Runtime) -> None:
    """Add the feed agent (case events + alerts → feed) and the counting agent."""
    from datetime import UTC, datetime

    topics = runtime.topics
    snapshots = runtime.table("stats-units", partitions=1)
    folded = _Folded()

    async def to_feed(record: RawRecord) -> None:
        event = await runtime.decode(record)
        if isinstance(event, _COUNTED):
            await runtime.forward(topics.stats_feed, record, event)

    async def replay(accumulator: StatsAccumulator, start: int, end: int) -> None:
        """Fold feed records [start, end) that the snapshot does not cover yet."""
        if start >= end:
            return
        log.info("stats: re-reading feed offsets %d..%d after a restart", start, end - 1)
        partition = TopicPartition(topics.stats_feed, 0)
        consumer = make_consumer(runtime.settings.bootstrap, group_id=None,
                                 security=runtime.settings.hub.kafka_security)
        await consumer.start()
        try:
            consumer.assign([partition])
            consumer.seek(partition, start)
            position = start
            while position < end:
                batches = await consumer.getmany(partition, timeout_ms=1000)
                for message in batches.get(partition, []):
                    if message.offset >= end:
                        return
                    position = message.offset + 1
                    if message.value is not None:
                        accumulator.add(await runtime.serde.decode(message.value))
        finally:
            await consumer.stop()

    async def load(offset: int) -> StatsAccumulator:
        stored = snapshots.get(_SNAPSHOT_KEY)
        accumulator = (StatsAccumulator.from_dict(stored["state"]) if stored
                       else StatsAccumulator())
        covered = stored["offset"] if stored else -1
        await replay(accumulator, covered + 1, offset)
        folded.accumulator = accumulator
        return accumulator

    async def count(record: RawRecord) -> None:
        accumulator = folded.accumulator
        if accumulator is None or record.offset != folded.offset + 1:
            accumulator = await load(record.offset)
        folded.offset = record.offset
        event = await runtime.decode(record)
        changed = accumulator.add(event)
        now = datetime.now(UTC)
        for unit_code, month in sorted(changed):
            figures = accumulator.stats(unit_code, month,
                                        hub_unit_code=runtime.settings.hub_unit_code, now=now)
            await runtime.send_event(topics.stats, figures,
                                     key=f"{unit_code}|{month}".encode())
        folded.unsaved += 1
        if (folded.unsaved >= _SNAPSHOT_EVERY_EVENTS
                or time.monotonic() - folded.saved_at >= _SNAPSHOT_EVERY_S):
            snapshot: dict[str, Any] = {"offset": record.offset, "state": accumulator.to_dict()}
            snapshots[_SNAPSHOT_KEY] = snapshot
            folded.unsaved = 0
            folded.saved_at = time.monotonic()

    runtime.add_agent(f"{PROCESSOR}-feed", [topics.case_events, topics.alerts], to_feed)
    runtime.add_agent(PROCESSOR, [topics.stats_feed], count)
