"""When each owned case next needs a look: the deadline sweep's index.

Clocks that run out while nothing arrives need wall time. Every worker sweeps only the
partitions it owns (the consumer group gives each partition to one worker), so two
workers never evaluate the same case. Instead of scanning every case at each tick, the
sweep pops a heap of (due time, partition, case); an entry whose case was re-evaluated
since (its due time moved) is dropped when popped (lazy deletion).
"""

from __future__ import annotations

import heapq
from datetime import datetime

__all__ = ["DueIndex"]


class DueIndex:
    """Next due time per (partition, case), with a heap for the earliest ones."""

    def __init__(self) -> None:
        self._due: dict[tuple[int, str], datetime] = {}
        self._heap: list[tuple[datetime, int, str]] = []

    def __len__(self) -> int:
        return len(self._due)

    def set(self, partition: int, case_id: str, due: datetime | None) -> None:
        """Record a case's next due time (None: nothing pending)."""
        key = (partition, case_id)
        if due is None:
            self._due.pop(key, None)
            return
        if self._due.get(key) == due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, partition, case_id))
        if len(self._heap) > 2 * len(self._due) + 1024:
            # Superseded entries are only dropped when popped; a case re-evaluated at
            # every batch would otherwise grow the heap with the events, not the cases.
            self._heap = [(at, p, c) for (p, c), at in self._due.items()]
            heapq.heapify(self._heap)

    def drop_partition(self, partition: int) -> None:
        """Forget a partition that moved to another worker (its heap entries go lazily)."""
        for key in [key for key in self._due if key[0] == partition]:
            del self._due[key]

    def has_due(self, now: datetime) -> bool:
        """Whether anything may be due at ``now`` (cheap: looks at the heap's top only)."""
        return bool(self._heap) and self._heap[0][0] <= now

    def pop_due(self, now: datetime, limit: int | None = None) -> list[tuple[int, str]]:
        """Cases due at ``now``, the earliest ``limit`` of them at most (removed: the
        caller re-sets them after evaluating; the rest stay for the next call)."""
        found: list[tuple[int, str]] = []
        while self._heap and self._heap[0][0] <= now and (limit is None
                                                          or len(found) < limit):
            due, partition, case_id = heapq.heappop(self._heap)
            key = (partition, case_id)
            if self._due.get(key) == due:
                del self._due[key]
                found.append(key)
        return found
