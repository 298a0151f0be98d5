"""Where the statistics processor keeps what grows with the cases: a key-value store.

The engine gives its ``engine-stats`` RocksDB store (changelogged, written with the
batch); anything else gets a dict. The accumulator keeps what it counted of each case
there, the missing-entry tracker the referrals entered; only what stays small (the
per-month counters, the tracker's dates and numbers) lives on the heap and in the
snapshot. Both modules share the protocol, so it lives apart from either.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["CaseStatsStore", "MemoryCaseStats"]


class CaseStatsStore(Protocol):
    """A key-value store of what grows with the cases (see the module docstring).

    At a province's million cases the per-case part was most of the worker's memory
    and of its snapshot, when it lived on the heap.
    """

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes | None) -> None: ...


class MemoryCaseStats:
    """A :class:`CaseStatsStore` in a dict (tests, one-off figures)."""

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = data if data is not None else {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
