"""The engine's due indexes, kept in real RocksDB partition stores: the sweep sees only
due cases, each once, latest time wins; the entries are store writes (so they reach the
changelog and move with the partition); a store written before the indexes existed is
indexed once, in steps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from streams.engine.state import PartitionStore
from streams.engine.timers import DUE_KEYS, HELD_KEYS, INDEX_BUILT, DueIndex, DueScan

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[dict[int, PartitionStore]]:
    opened = {number: PartitionStore(tmp_path / f"engine-cases-{number}", "changelog", number)
              for number in range(4)}
    yield opened
    for store in opened.values():
        store.close()


def _commit(stores: dict[int, PartitionStore]) -> None:
    """What the worker's flush does once the changelog acknowledged the writes."""
    for store in stores.values():
        store.commit_local(last_offset=1)


def test_only_due_cases_are_popped_and_each_once(stores: dict[int, PartitionStore]) -> None:
    index = DueIndex(DUE_KEYS, stores)
    index.set(0, "case-a", NOW - timedelta(minutes=1))
    index.set(1, "case-b", NOW + timedelta(hours=1))
    index.set(2, "case-c", NOW)
    _commit(stores)
    assert sorted(index.pop_due(NOW)) == [(0, "case-a"), (2, "case-c")]
    assert index.pop_due(NOW) == []  # removed at once, before the write
    _commit(stores)
    assert index.pop_due(NOW) == []
    assert index.pop_due(NOW + timedelta(hours=1)) == [(1, "case-b")]


def test_a_moved_due_time_replaces_the_old_one(stores: dict[int, PartitionStore]) -> None:
    index = DueIndex(DUE_KEYS, stores)
    index.set(0, "case-a", NOW - timedelta(minutes=5))
    _commit(stores)
    index.set(0, "case-a", NOW + timedelta(days=1))
    _commit(stores)
    assert index.pop_due(NOW) == []
    assert index.pop_due(NOW + timedelta(days=1)) == [(0, "case-a")]


def test_times_moved_within_one_batch_leave_one_entry(
        stores: dict[int, PartitionStore]) -> None:
    """A case touched by several records of a batch is set several times before any of it
    is written: only the last time stays, in the store as in the staged writes."""
    index = DueIndex(DUE_KEYS, stores)
    for step in range(50):
        index.set(0, "case", NOW + timedelta(minutes=step))
    _commit(stores)
    keys = [key for key, _ in stores[0].prefixed(DUE_KEYS.by_time)]
    assert len(keys) == 1 and keys[0].endswith(b"case")
    assert index.pop_due(NOW + timedelta(minutes=48)) == []
    assert index.pop_due(NOW + timedelta(days=30)) == [(0, "case")]


def test_cleared_cases_and_partitions_moved_away_are_not_swept(
        stores: dict[int, PartitionStore]) -> None:
    index = DueIndex(DUE_KEYS, stores)
    index.set(0, "case-a", NOW)
    index.set(0, "case-a", None)
    index.set(3, "case-d", NOW)
    _commit(stores)
    assert index.has_due(NOW)
    moved = stores.pop(3)
    index.drop_partition(3)
    try:
        assert not index.has_due(NOW)
        assert index.pop_due(NOW) == []
    finally:
        moved.close()


def test_a_limited_pop_takes_the_earliest_and_leaves_the_rest(
        stores: dict[int, PartitionStore]) -> None:
    """After a restore every clock of a backfill may be due at once: a sweep takes them in
    slices (earliest first, across partitions) so the worker never holds them all in one
    batch."""
    index = DueIndex(DUE_KEYS, stores)
    for number in range(10):
        index.set(number % 4, f"case-{number}", NOW - timedelta(days=10 - number))
    _commit(stores)
    first = index.pop_due(NOW, limit=4)
    assert first == [(number % 4, f"case-{number}") for number in range(4)]
    _commit(stores)
    assert index.has_due(NOW)
    rest = index.pop_due(NOW, limit=100)
    assert sorted(rest) == sorted((number % 4, f"case-{number}") for number in range(4, 10))
    _commit(stores)
    assert not index.has_due(NOW)


def test_times_before_1970_and_in_other_zones_order_as_instants(
        stores: dict[int, PartitionStore]) -> None:
    index = DueIndex(DUE_KEYS, stores)
    china = timezone(timedelta(hours=8))
    index.set(0, "case-old", datetime(1965, 1, 4, tzinfo=UTC))
    index.set(0, "case-now", NOW.astimezone(china))
    staged = dict(stores[0].staged)
    index.set(0, "case-now", NOW)  # the same instant: nothing written
    assert stores[0].staged == staged
    index.set(0, "case-later", NOW + timedelta(seconds=1))
    _commit(stores)
    assert index.pop_due(datetime(1970, 1, 1, tzinfo=UTC)) == [(0, "case-old")]
    assert index.pop_due(NOW.astimezone(china)) == [(0, "case-now")]


def test_has_due_sees_a_time_staged_after_its_bound_was_read(
        stores: dict[int, PartitionStore]) -> None:
    """The in-memory bound only ever lowers: a time set after the bound was read, written
    or not yet, is seen by the next look."""
    index = DueIndex(DUE_KEYS, stores)
    index.set(1, "case-late", NOW + timedelta(days=1))
    _commit(stores)
    assert not index.has_due(NOW)  # the bound is read now: tomorrow
    index.set(1, "case-early", NOW - timedelta(hours=1))
    assert index.has_due(NOW)
    _commit(stores)
    assert index.pop_due(NOW) == [(1, "case-early")]


def test_the_entries_are_store_writes_that_survive_a_restart(tmp_path: Path) -> None:
    """The index is written with the batch (so the changelog carries it) and read back
    from RocksDB by a new worker without reading any case document."""
    store = PartitionStore(tmp_path / "engine-cases-0", "changelog", 0)
    index = DueIndex(HELD_KEYS, {0: store})
    index.set(0, "case-held", NOW + timedelta(minutes=5))
    staged = set(store.staged)
    assert staged == {HELD_KEYS.by_case + b"case-held",
                      next(key for key in staged if key.startswith(HELD_KEYS.by_time))}
    store.commit_local(last_offset=7)
    store.close()
    reopened = PartitionStore(tmp_path / "engine-cases-0", "changelog", 0)
    try:
        fresh = DueIndex(HELD_KEYS, {0: reopened})
        assert not fresh.has_due(NOW)
        assert fresh.has_due(NOW + timedelta(minutes=5))
        assert fresh.pop_due(NOW + timedelta(minutes=5)) == [(0, "case-held")]
        assert DueIndex(DUE_KEYS, {0: reopened}).pop_due(NOW + timedelta(days=1)) == []
    finally:
        reopened.close()


def _stored_times(key: bytes, value: bytes) -> tuple[str, datetime | None, datetime | None]:
    due, held = value.decode("ascii").split("|")
    return (key[2:].decode("utf-8"), datetime.fromisoformat(due) if due else None,
            datetime.fromisoformat(held) if held else None)


def test_a_store_from_before_the_indexes_is_indexed_once_in_steps(tmp_path: Path) -> None:
    """A store written by an older worker has case documents and no index: its due times
    are read a step at a time while batches run; a time a batch set meanwhile stays (it
    is fresher); at the end the store is marked, so the next start reads nothing."""
    store = PartitionStore(tmp_path / "engine-cases-0", "changelog", 0)
    try:
        for number in range(5):
            due = (NOW + timedelta(minutes=number)).isoformat()
            store.put(f"c|case-{number}".encode(), f"{due}|".encode())
        store.put(b"c|case-held", f"|{(NOW - timedelta(minutes=1)).isoformat()}".encode())
        store.put(b"d|not-a-case", b"ignored")
        store.commit_local(last_offset=5)
        stores = {0: store}
        due, held = DueIndex(DUE_KEYS, stores), DueIndex(HELD_KEYS, stores)
        scan = DueScan(0, store, b"c|", _stored_times, due, held)
        assert scan.advance(2) is False
        store.commit_local(last_offset=6)
        assert len(list(store.prefixed(DUE_KEYS.by_case))) == 2
        # A batch touched case-4 before the scan reached it: its clocks stopped early
        # (the batch's time, one hour on) and that time is kept.
        due.set(0, "case-4", NOW + timedelta(hours=1))
        assert store.get(INDEX_BUILT) is None
        assert scan.advance(10) is True
        assert store.get(INDEX_BUILT) is not None
        store.commit_local(last_offset=7)
        assert sorted(due.pop_due(NOW + timedelta(minutes=10))) == [
            (0, f"case-{number}") for number in range(4)]
        assert due.pop_due(NOW + timedelta(hours=1)) == [(0, "case-4")]
        assert held.pop_due(NOW) == [(0, "case-held")]
    finally:
        store.close()
