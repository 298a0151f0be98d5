"""Statistics in the engine: the counted events folded into per unit-month figures.

The figures are global (a referral counts for the agency, its receipt for the police, the
days between them need both), so the case tasks send what the figures need of each counted
event (its :class:`~streams.stats_facts.StatsFact`), a batch's facts in one record, to a
single-partition internal feed; the worker that owns it folds the feed into a
:class:`~streams.stats_logic.StatsAccumulator` and snapshots it every few seconds with
the feed offset it covers. After a move the new owner loads the snapshot and re-reads
the rest of the feed (each figure counts an item of a case once, by its case, document or
alert id, so re-reading changes nothing).

The same fold keeps the missing-entry tracker (:mod:`streams.missing_entry_logic`): this
processor alone sees every counted event of every unit, so after each batch it judges
the units the batch touched (and all of them when the county's clock moved) and emits
the ``MISSING_ENTRY`` alerts raised or resolved. Its clocks are event time, so nothing
new can fall due while the feed is idle. A raised finding is held for the file's
``settle_seconds`` of wall time before it is emitted, and dropped if it heals meanwhile:
a backlog is read partition by partition, so a unit's later decisions can be read before
its earlier ones and a number looks missing for a moment (:meth:`emit_settled`, called
by the worker between batches). The held alerts are kept with the snapshot, so a restart
neither loses nor repeats them.
"""


from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.calendar import china_date
from hub.models import (
    Alert,
    AlertStatus,
    CaseEvent,
)
from streams.engine.batch import Batch
from streams.engine.outputs import Outputs
from streams.engine.state import PartitionStore, decode_value, encode_value
from streams.safety import RawRecord
from streams.stats_facts import FACTS_HEADER, decode_facts
from streams.stats_logic import BUCKET_PREFIX, StatsAccumulator
from streams.topics import TopicNames

__all__ = ["StatisticsProcessor"]

log = logging.getLogger(__name__)

_STATS_SNAPSHOT_EVERY_S = 5.0
_STATS_KEY = b"accumulator"
#: The raised findings held back to settle (see the module docstring), with the snapshot.
_SETTLING_KEY = b"settling"
#: The snapshot is split into records well under the broker's 1 MiB message limit.
_STATS_CHUNK_BYTES = 256 * 1024

class StatisticsProcessor:
    """Folds the statistics feed; emits the figures of every unit-month a batch changed."""

    def __init__(self, *, topics: TopicNames, hub_unit_code: str, outputs: Outputs,
                 decode: Callable[[RawRecord, str], Awaitable[CaseEvent | None]],
                 dead_letter: Callable[[RawRecord, Exception], Awaitable[Any]]) -> None:
        self.topics = topics
        self.dead_letter = dead_letter
        self.hub_unit_code = hub_unit_code
        self.outputs = outputs
        self.decode = decode
        self.store: PartitionStore | None = None
        self.stats: StatsAccumulator | None = None
        self.save_after = 0.0
        #: The feed offset of the last record folded in a finished batch.
        self.counted: int | None = None
        self.header: dict[str, Any] | None = None
        #: Raised findings held back, by alert id: (monotonic time first found, alert).
        self.settling: dict[str, tuple[float, Alert]] = {}
        #: The feed offset the last readable snapshot covers, read or written (staged:
        #: the worker's checkpoint writes it); None while there is none. Where the next
        #: owner resumes, so the feed may be purged below it (:mod:`streams.engine.purge`).
        self.covered: int | None = None

    def load(self) -> int:
        """The statistics state; returns the feed offset to resume from.

        The cases and the counters are in the store as the last checkpoint left them;
        the missing-entry tracker is in the snapshot, which may be older: the feed is
        re-read from the snapshot's offset, and counting it again changes no case.
        """
        store = self.store
        assert store is not None
        started = time.monotonic()
        stored = store.get(_STATS_KEY)
        self.header = None
        self.counted = None
        self.covered = None
        self.stats, resume = self._snapshot(store, stored)
        self.stats.load_buckets(store.prefixed(BUCKET_PREFIX))
        if resume:
            # The snapshot just read is current to its offset: writing it again at the
            # first batch cost a restart 0.7 s at a million events. The next one waits as
            # after a write (see finish()), the load's time standing for the write's.
            took = time.monotonic() - started
            self.save_after = time.monotonic() + max(_STATS_SNAPSHOT_EVERY_S, 20 * took)
        else:
            self.save_after = 0.0
        return resume

    def _snapshot(self, store: PartitionStore,
                  stored: bytes | None) -> tuple[StatsAccumulator, int]:
        if stored is None:
            return StatsAccumulator(cases=store), 0
        header = decode_value(stored)
        try:
            parts = [store.get(_chunk_key(header["offset"], number)) or b""
                     for number in range(int(header["chunks"]))]
            stats = StatsAccumulator.from_dict(decode_value(b"".join(parts)), cases=store)
        except Exception:
            # The workers purge the feed below the last snapshot (streams/engine/purge.py):
            # this re-count sees only what is left. A new snapshot format must read the
            # older one (StatsAccumulator.from_dict), not rely on this fallback.
            log.exception("statistics snapshot unreadable or of an older format: "
                          "counting the feed again from its first record left")
            self.header = header  # its chunks are deleted when the next one is written
            return StatsAccumulator(cases=store), 0
        self.header = header
        self.covered = int(header["offset"])
        held = store.get(_SETTLING_KEY)
        self.settling = {}
        for data in (decode_value(held) if held else []):
            alert = Alert.model_validate(data)
            self.settling[alert.alert_id] = (time.monotonic(), alert)
        return stats, int(header["offset"]) + 1

    async def count(self, batch: Batch, record: RawRecord) -> None:
        """Fold one stats-feed record into the accumulator: a batch of facts
        (:mod:`streams.stats_facts`), or one Avro event as an older worker sent it."""
        batch.stats_offset = record.offset
        if self.stats is None:
            return
        if record.header(FACTS_HEADER) is not None:
            try:
                facts = decode_facts(record.value or b"")
            except (ValueError, TypeError) as exc:
                await self.dead_letter(record, exc)
                return
            add = self.stats.add_fact
            for fact in facts:
                batch.stats_changed |= add(fact)
            return
        event = await self.decode(record, "stats")
        if event is not None:
            batch.stats_changed |= self.stats.add(event)

    async def finish(self, batch: Batch) -> None:
        """Emit the figures of every unit-month the batch changed; snapshot now and then.

        The cases and the counters they changed are written with every checkpoint; the
        snapshot (the missing-entry tracker, the counters) every few seconds. After a move
        the new owner resumes the feed from the snapshot's offset and counts the rest again
        (each figure counts an item of a case once, so re-reading changes nothing).
        """
        if self.stats is None or batch.stats_offset is None:
            return
        # The cases and the counters they changed, in this checkpoint (see load()).
        self.stats.write_cases()
        if self.store is not None:
            for key, value in self.stats.bucket_records(batch.stats_changed):
                self.store.put(key, value)
        now = datetime.now(UTC)
        await self.missing_entries(now)
        for unit_code, month in sorted(batch.stats_changed):
            figures = self.stats.stats(unit_code, month, hub_unit_code=self.hub_unit_code,
                                       now=now)
            await self.outputs.event(self.topics.stats, figures,
                                     key=f"{unit_code}|{month}".encode())
        self.counted = batch.stats_offset
        if self.store is not None and time.monotonic() >= self.save_after:
            self.save(batch.stats_offset)

    def save(self, offset: int) -> None:
        """Stage the snapshot of everything counted up to feed ``offset``."""
        assert self.store is not None and self.stats is not None
        started = time.monotonic()
        state = orjson.dumps(self.stats.to_dict(), default=str)
        chunks = [state[start:start + _STATS_CHUNK_BYTES]
                  for start in range(0, len(state), _STATS_CHUNK_BYTES)] or [b""]
        for number, chunk in enumerate(chunks):
            self.store.put(_chunk_key(offset, number), chunk)
        # Chunk keys carry the snapshot's offset and the header goes last, then the
        # previous chunks are deleted: a crash part-way through the changelog writes
        # leaves the previous header pointing at intact previous chunks.
        header = {"offset": offset, "chunks": len(chunks)}
        # Before the header: the tracker in the snapshot counts these as raised.
        self.store.put(_SETTLING_KEY, encode_value(
            [alert.model_dump(mode="json") for _, alert in self.settling.values()]))
        self.store.put(_STATS_KEY, encode_value(header))
        previous = self.header
        if previous is not None and previous["offset"] != offset:
            for number in range(int(previous["chunks"])):
                self.store.put(_chunk_key(previous["offset"], number), None)
        self.header = header
        self.covered = offset
        # The snapshot is the whole accumulator, which grows with the events counted:
        # at a fixed 5 s period its serialisation (and the changelog bytes) would take
        # an ever larger share of the worker. Waiting 20× as long as the snapshot took
        # keeps that share under 5%; a new owner re-counts a little more of the feed.
        took = time.monotonic() - started
        self.save_after = time.monotonic() + max(_STATS_SNAPSHOT_EVERY_S, 20 * took)

    def save_before_close(self) -> bool:
        """Stage a snapshot of all that was counted, if the last one is older; True if
        one was staged (the worker then flushes it, as at a checkpoint).

        Called when the feed's partition leaves this worker (a stop, a deploy, a
        rebalance): its next owner then resumes where this one stopped. Without it, a
        restart re-counted everything since the last periodic snapshot (up to 20× the
        snapshot's own time: at a million events, ~20,000 events and 3 of a kept
        restart's 4-6 seconds). A crash still re-counts from the last snapshot.
        """
        if self.store is None or self.stats is None or self.counted is None:
            return False
        if self.header is not None and self.header["offset"] == self.counted:
            return False
        self.save(self.counted)
        return True


    async def missing_entries(self, now: datetime) -> int:
        """Emit the MISSING_ENTRY alerts the feed read so far raises or resolves.

        Emitted on ``lf.alerts`` like every alert; read back, they count in the
        responsible unit's ``alerts_raised`` (and so in its scorecard) through this feed.
        """
        if self.stats is None:
            return 0
        alerts = self.stats.missing.evaluate(today=china_date(now),
                                             hub_unit_code=self.hub_unit_code, now=now)
        emitted = 0
        for alert in alerts:
            if alert.status is AlertStatus.RAISED:
                self.settling.setdefault(alert.alert_id, (time.monotonic(), alert))
            elif self.settling.pop(alert.alert_id, None) is None:
                await self.outputs.event(self.topics.alerts, alert)
                emitted += 1
            # else: healed before it was raised — never news
        return emitted + await self.emit_settled()

    def settled(self) -> bool:
        """Whether a held finding has waited its ``settle_seconds``."""
        if not self.settling or self.stats is None:
            return False
        cutoff = time.monotonic() - self.stats.missing.parameters.settle_seconds
        return any(since <= cutoff for since, _ in self.settling.values())

    async def emit_settled(self) -> int:
        """Emit the held findings that have settled; returns how many."""
        if not self.settled():
            return 0
        assert self.stats is not None
        cutoff = time.monotonic() - self.stats.missing.parameters.settle_seconds
        ready = sorted(alert_id for alert_id, (since, _) in self.settling.items()
                       if since <= cutoff)
        for alert_id in ready:
            _, alert = self.settling.pop(alert_id)
            await self.outputs.event(self.topics.alerts, alert)
        return len(ready)


def _chunk_key(offset: int, number: int) -> bytes:
    return _STATS_KEY + f"|{offset}|{number}".encode("ascii")

