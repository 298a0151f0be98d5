"""The engine's due indexes, kept in real RocksDB partition stores: the sweep sees only
due cases, each once, latest time wins; the entries are store writes (so they reach the
changelog and move with the partition); a store written before the indexes existed is
indexed once, in steps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from streams.engine.case_document import CaseDocument
from streams.engine.evaluation import CaseEvaluation
from streams.engine.state import PartitionStore
from streams.engine.timers import (
    DUE_KEYS,
    HELD_KEYS,
    INDEX_BUILT,
    INDEX_VERSION,
    DueIndex,
    DueScan,
)

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
    are read a step at a time while batches run. An earlier time a batch set meanwhile
    stays; a later one is moved to the document's time (one more look at the case, never
    a missed clock). At the end the store is marked with the index's format."""
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
        # Batches touched two cases the scan has not reached: case-4's clock now runs
        # out sooner, case-3's entry is (say, left by an older worker) a day late.
        due.set(0, "case-4", NOW + timedelta(seconds=30))
        due.set(0, "case-3", NOW + timedelta(days=1))
        assert store.get(INDEX_BUILT) is None
        assert scan.advance(10) is True
        assert store.get(INDEX_BUILT) == INDEX_VERSION
        store.commit_local(last_offset=7)
        assert due.pop_due(NOW + timedelta(seconds=30)) == [(0, "case-0"), (0, "case-4")]
        assert due.pop_due(NOW + timedelta(minutes=10)) == [
            (0, f"case-{number}") for number in range(1, 4)]
        assert held.pop_due(NOW) == [(0, "case-held")]
    finally:
        store.close()


def test_an_empty_partition_is_not_sought_until_a_time_is_set(
        stores: dict[int, PartitionStore]) -> None:
    """After a pop the index knows each partition's first time left (or that it has
    none), so looks while nothing is due cost no seek, and a time set later is seen."""
    index = DueIndex(HELD_KEYS, stores)
    index.set(0, "case-a", NOW)
    index.set(0, "case-b", NOW + timedelta(minutes=5))
    _commit(stores)
    assert index.pop_due(NOW) == [(0, "case-a")]
    _commit(stores)
    assert index._earliest == {0: index._earliest[0], 1: None, 2: None, 3: None}
    assert not index.has_due(NOW + timedelta(minutes=4))
    index.set(2, "case-c", NOW + timedelta(minutes=1))  # staged, not yet written
    assert index.has_due(NOW + timedelta(minutes=1))
    _commit(stores)
    assert index.pop_due(NOW + timedelta(minutes=1)) == [(2, "case-c")]
    _commit(stores)
    assert not index.has_due(NOW + timedelta(minutes=4))
    assert index.pop_due(NOW + timedelta(minutes=5)) == [(0, "case-b")]
    _commit(stores)
    assert index._earliest == {0: None, 1: None, 2: None, 3: None}


def test_a_cut_off_pop_leaves_the_rest_findable(stores: dict[int, PartitionStore]) -> None:
    """Entries a limited pop found but cut off stay in the bound, so the next look finds
    them even though a later entry of their partition was read."""
    index = DueIndex(DUE_KEYS, stores)
    for minute in range(6):
        index.set(minute % 2, f"case-{minute}", NOW + timedelta(minutes=minute))
    _commit(stores)
    assert index.pop_due(NOW + timedelta(hours=1), limit=2) == [(0, "case-0"), (1, "case-1")]
    _commit(stores)
    assert index.has_due(NOW + timedelta(minutes=2))
    assert index.pop_due(NOW + timedelta(hours=1), limit=10) == [
        (minute % 2, f"case-{minute}") for minute in range(2, 6)]


def test_a_time_is_never_due_before_it_comes(stores: dict[int, PartitionStore]) -> None:
    """Times are kept in milliseconds: an entry's rounded up, a sweep's rounded down, so
    a clock is never swept a fraction early (its evaluation would find nothing due and
    put it off to the next tick)."""
    index = DueIndex(DUE_KEYS, stores)
    index.set(0, "case", NOW + timedelta(microseconds=400))
    _commit(stores)
    assert index.pop_due(NOW + timedelta(microseconds=900)) == []
    assert index.pop_due(NOW + timedelta(milliseconds=1)) == [(0, "case")]


def test_a_swept_case_whose_document_is_not_written_keeps_its_clocks(
        stores: dict[int, PartitionStore]) -> None:
    """A sweep takes a case's entries out of the index; when its document is then not
    written (it stays over the size limit, or its evaluation raised), the index gets the
    times of the document the store keeps, and a raising case is put off, not lost."""
    processors = object.__new__(CaseEvaluation)  # only what finish_cases' fallback uses
    processors.case_stores = stores
    processors.due = DueIndex(DUE_KEYS, stores)
    processors.held = DueIndex(HELD_KEYS, stores)
    document = CaseDocument(1, "case-a", None)
    document.data["deadlines"]["next_check"] = NOW.isoformat()
    stores[1].put(document.key, document.encoded())
    processors.due.set(1, "case-a", NOW)
    _commit(stores)

    assert processors.due.pop_due(NOW) == [(1, "case-a")]
    processors._index_stored(document)  # the sweep's document was not staged
    _commit(stores)
    assert processors.due.pop_due(NOW) == [(1, "case-a")]

    later = NOW + timedelta(minutes=10)
    processors._index_stored(document, not_before=later)  # its evaluation raised
    _commit(stores)
    assert processors.due.pop_due(NOW + timedelta(minutes=9)) == []
    assert processors.due.pop_due(later) == [(1, "case-a")]


def _restored_from_part(tmp_path: Path, before: list[tuple[bytes, bytes]],
                        part: list[tuple[bytes, bytes | None]], name: str) -> PartitionStore:
    """A store as a restore leaves it when a batch's changelog reached the broker only in
    part (its first records: the producer is idempotent, the partition keeps order)."""
    store = PartitionStore(tmp_path / name, "changelog", 0)
    for key, value in [*before, *part]:
        store.put(key, value)
    store.commit_local(last_offset=1)
    return store


@pytest.mark.parametrize("keys", [DUE_KEYS, HELD_KEYS], ids=["due", "held"])
def test_a_restore_of_part_of_a_sweep_finds_every_case_again(tmp_path: Path,
                                                             keys: Any) -> None:
    """A sweep takes due cases out of the index and sets what their evaluation leaves (a
    later time, or none). Killed while that batch's changelog was on its way, a worker's
    successor restores some first part of it: for every such part, each case whose
    clocks were not yet written as moved is found again (at worst one more look)."""
    store = PartitionStore(tmp_path / "live", "changelog", 0)
    index = DueIndex(keys, {0: store})
    for case in ("moved", "finished", "untouched"):
        index.set(0, case, NOW - timedelta(minutes=1) if case != "untouched"
                  else NOW + timedelta(days=2))
    store.commit_local(last_offset=1)
    before = list(store.items())
    assert sorted(index.pop_due(NOW)) == [(0, "finished"), (0, "moved")]
    index.set(0, "moved", NOW + timedelta(days=1))  # its next clock
    index.set(0, "finished", None)  # no clock left
    batch = list(store.changelog_records())
    store.commit_local(last_offset=2)
    store.close()
    for cut in range(len(batch) + 1):
        restored = _restored_from_part(tmp_path, before, batch[:cut], f"cut-{cut}")
        try:
            found = {case for _, case in DueIndex(keys, {0: restored}).pop_due(
                NOW + timedelta(days=3))}
            assert {"moved", "untouched"} <= found, (cut, batch[:cut])
            if cut == len(batch):
                assert "finished" not in found
        finally:
            restored.close()


def test_late_writes_reach_the_changelog_after_the_others(tmp_path: Path) -> None:
    """Marks of work done go last; a write staged again goes in its new place."""
    store = PartitionStore(tmp_path / "order", "changelog", 0)
    try:
        store.put(b"n|event", b"1", late=True)
        store.put(b"c|case", b"old")
        store.put(b"dc|case", None)
        store.put(b"dt|1|case", None, late=True)
        store.put(b"dt|2|case", b"")
        store.put(b"dc|case", b"2")  # staged again: after the new time
        store.put(b"c|case", b"new")
        store.put(b"x|was-late", b"", late=True)
        store.put(b"x|was-late", b"now not")  # staged again, not late: in order
        assert [key for key, _ in store.changelog_records()] == [
            b"dt|2|case", b"dc|case", b"c|case", b"x|was-late", b"n|event", b"dt|1|case"]
        assert store.get(b"c|case") == b"new"
        store.commit_local(last_offset=3)
        assert list(store.changelog_records()) == []
        assert store.get(b"dt|1|case") is None and store.get(b"n|event") == b"1"
    finally:
        store.close()
