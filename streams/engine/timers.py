"""When each owned case next needs a look: the punctuators' due-time indexes.

Clocks that run out while nothing arrives need wall time. Every worker sweeps only the
partitions it owns (the consumer group gives each partition to one worker), so two
workers never evaluate the same case. Instead of scanning every case at each tick, the
sweep reads a time-ordered index up to now.

The index lives in the partition's own state store, as Kafka Streams keeps a punctuator's
state: two keys per case, written in the same batch as the case document, so they reach
the changelog, are restored with the store and move with the partition.

- ``<by time><time><case>`` → empty: the sweep seeks to the prefix and reads up to now;
- ``<by case><case>`` → time: what :meth:`DueIndex.set` must delete when a time moves.

It was a heap on the Python heap, rebuilt after every assignment by reading every stored
case document: ~70 MiB and 15 s of CPU after each start at a million events, and the
one structure of the worker that grew with the number of cases.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from streams.engine.state import PartitionStore

__all__ = ["DUE_KEYS", "HELD_KEYS", "INDEX_BUILT", "INDEX_VERSION", "DueIndex", "DueScan",
           "IndexKeys"]

#: A stored case's (case id, next due time, held-until time), from its store key and value.
CaseTimes = Callable[[bytes, bytes], tuple[str, datetime | None, datetime | None]]

#: Written once a store's indexes hold every stored case (see :class:`DueScan`): a store
#: written by a worker from before the indexes were kept in it is indexed once. Its value
#: is the index's format (:data:`INDEX_VERSION`); a store marked with another is indexed
#: again. Version 2: a case's due time includes the end of its public disclosure (the
#: twenty-fifth pass), so a store indexed before is read once more and its penalty cases
#: are scheduled.
INDEX_BUILT = b"due-index-built"
INDEX_VERSION = b"2"

#: Milliseconds since the epoch, big-endian with the sign bit flipped: byte order is
#: time order, for times before 1970 too (a backfill's clocks may be that old).
_TIME = struct.Struct(">Q")
_SIGN = 1 << 63


@dataclass(frozen=True)
class IndexKeys:
    """The key prefixes of one index in a partition store."""

    by_time: bytes
    by_case: bytes


#: Deadline clocks and screening windows (``CaseDocument.next_due``).
DUE_KEYS = IndexKeys(b"dt|", b"dc|")
#: Held feedback and events awaiting their case (``CaseDocument.held_until``).
HELD_KEYS = IndexKeys(b"ht|", b"hc|")


def _packed(moment: datetime) -> bytes:
    """An entry's time, rounded up: an entry is never due before its time."""
    return _TIME.pack(math.ceil(moment.timestamp() * 1000) + _SIGN)


def _packed_now(moment: datetime) -> bytes:
    """A sweep's time, rounded down (see :func:`_packed`)."""
    return _TIME.pack(math.floor(moment.timestamp() * 1000) + _SIGN)


class DueIndex:
    """Next due time per case of each owned partition, read in time order.

    Writes are staged in the partition's store with the batch (``PartitionStore.put``)
    and reach RocksDB after the changelog acknowledged them; the sweep runs between
    batches, when nothing is staged but what it pops. A lower bound of each partition's
    earliest time is kept in memory so that :meth:`has_due`, asked at every turn of the
    worker's loop, costs no seek while nothing is due.
    """

    def __init__(self, keys: IndexKeys, stores: Mapping[int, PartitionStore]) -> None:
        self._keys = keys
        self._stores = stores
        #: partition → a time no entry is earlier than (None: no entry); absent: unknown.
        self._earliest: dict[int, bytes | None] = {}

    def set(self, partition: int, case_id: str, due: datetime | None) -> None:
        """Record a case's next due time (None: nothing pending)."""
        store = self._stores.get(partition)
        if store is None:
            return
        case = case_id.encode("utf-8")
        by_case = self._keys.by_case + case
        known = store.get(by_case)
        packed = None if due is None else _packed(due)
        if known == packed:
            return
        # The time key before the case key, the old time's removal last (late): the
        # changelog keeps a partition's records in order, so a restore of part of a batch
        # has a time entry for every case whose case key it has, and at worst an old entry
        # too (one more look at the case, never a missed clock).
        if known is not None:
            store.put(self._keys.by_time + known + case, None, late=True)
        if packed is not None:
            store.put(self._keys.by_time + packed + case, b"")
            if partition in self._earliest:
                earliest = self._earliest[partition]
                if earliest is None or packed < earliest:
                    self._earliest[partition] = packed
        store.put(by_case, packed)

    def set_if_earlier(self, partition: int, case_id: str, due: datetime | None) -> None:
        """Record a due time unless the case has an earlier one (see :class:`DueScan`):
        an earlier time only costs one more look at the case, a later one could miss a
        clock."""
        store = self._stores.get(partition)
        if due is None or store is None:
            return
        known = store.get(self._keys.by_case + case_id.encode("utf-8"))
        if known is None or _packed(due) < known:
            self.set(partition, case_id, due)

    def drop_partition(self, partition: int) -> None:
        """Forget a partition that moved to another worker (its entries move with it)."""
        self._earliest.pop(partition, None)

    def has_due(self, now: datetime) -> bool:
        """Whether anything may be due at ``now`` (no seek while the bound says no)."""
        moment = _packed_now(now)
        for partition, store in self._stores.items():
            if partition not in self._earliest:
                self._earliest[partition] = self._first(store)
            earliest = self._earliest[partition]
            if earliest is not None and earliest <= moment:
                return True
        return False

    def pop_due(self, now: datetime, limit: int | None = None) -> list[tuple[int, str]]:
        """Cases due at ``now``, the earliest ``limit`` of them at most, removed from the
        index (the caller sets them again after evaluating; the rest stay for the next
        call)."""
        moment = _packed_now(now)
        found: list[tuple[bytes, int, bytes]] = []
        #: partition → the first time left after its entries due (None: none left)
        left: dict[int, bytes | None] = {}
        for partition, store in self._stores.items():
            if partition in self._earliest and self._earliest[partition] is None:
                continue  # known to hold nothing: no seek
            following: bytes | None = None
            entries = self._entries(store, self._earliest.get(partition) or b"")
            for taken, (time, case) in enumerate(entries):
                if time > moment or (limit is not None and taken >= limit):
                    following = time
                    break
                found.append((time, partition, case))
            left[partition] = following
        found.sort()
        if limit is not None:
            for time, partition, _ in found[limit:]:  # cut off: still there, found again
                following = left[partition]
                if following is None or time < following:
                    left[partition] = time
            del found[limit:]
        keys = self._keys
        for time, partition, case in found:
            store = self._stores[partition]
            # Late, as in :meth:`set`: the entry stays on the changelog until what the
            # caller sets after evaluating the case (and the case's document) is there.
            store.put(keys.by_time + time + case, None, late=True)
            store.put(keys.by_case + case, None)
        # The bound is the first entry left (what a limit cut off is found again), so the
        # next look seeks only when something is due and from where the entries begin.
        for partition, following in left.items():
            earliest = self._staged_first(self._stores[partition])
            if following is not None and earliest is not None:
                earliest = min(following, earliest)
            self._earliest[partition] = following if earliest is None else earliest
        return [(partition, case.decode("utf-8")) for _, partition, case in found]

    def _entries(self, store: PartitionStore,
                 start: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """(time, case) in time order from ``start``: the stored entries the batch has
        not deleted."""
        offset = len(self._keys.by_time)
        staged = store.staged
        for key, _ in store.prefixed(self._keys.by_time, start):
            if key in staged and staged[key] is None:
                continue
            yield key[offset:offset + _TIME.size], key[offset + _TIME.size:]

    def _staged_first(self, store: PartitionStore) -> bytes | None:
        """The earliest time staged and not yet written."""
        prefix = self._keys.by_time
        offset = len(prefix)
        return min((key[offset:offset + _TIME.size] for key, value in store.staged.items()
                    if value is not None and key.startswith(prefix)), default=None)

    def _first(self, store: PartitionStore) -> bytes | None:
        """The earliest time stored or staged (a lower bound: a staged time may be
        deleted again before it is written)."""
        stored = next((time for time, _ in self._entries(store)), None)
        staged = self._staged_first(store)
        if stored is None or staged is None:
            return stored if staged is None else staged
        return min(stored, staged)


class DueScan:
    """Indexes the stored cases of a store written before the indexes were kept in it.

    Why in steps: the due times are read from every stored case document (~60 µs each:
    15 s for a 1,000,000-event county's 250,000 cases), and processing need not wait
    for them. The worker advances the scan between batches and writes what it staged.
    The store iterator reads a snapshot taken when the scan began; a case a batch touched
    since then has its fresh due time in the index already, so the scan only adds times
    for cases that have none or a later one (an old time it adds for a case whose clocks have since
    stopped costs one more look at the case, never a missed clock). An entry the scan
    finds later than the document's time is moved earlier (an index written by an older
    format, or left behind while an older worker wrote the store). At the end it marks
    the store (:data:`INDEX_BUILT`), so the scan runs once per store, not per start.
    """

    def __init__(self, partition: int, store: PartitionStore, documents: bytes,
                 times: CaseTimes, due: DueIndex, held: DueIndex) -> None:
        self.partition = partition
        self._store = store
        self._stored = store.prefixed(documents)
        self._times = times
        self._due = due
        self._held = held

    def advance(self, budget: int) -> bool:
        """Read up to ``budget`` stored cases; True once the whole store has been read."""
        partition = self.partition
        for _ in range(budget):
            item = next(self._stored, None)
            if item is None:
                self._store.put(INDEX_BUILT, INDEX_VERSION)
                return True
            case_id, due, held_until = self._times(*item)
            self._due.set_if_earlier(partition, case_id, due)
            self._held.set_if_earlier(partition, case_id, held_until)
        return False
