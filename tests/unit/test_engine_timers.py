"""The native engine's due index: the sweep sees only due cases, each once, latest time
wins; a freshly assigned partition's times are read from its store in steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from streams.engine.state import PartitionStore
from streams.engine.timers import DueIndex, DueScan

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_only_due_cases_are_popped_and_each_once() -> None:
    index = DueIndex()
    index.set(0, "case-a", NOW - timedelta(minutes=1))
    index.set(1, "case-b", NOW + timedelta(hours=1))
    index.set(2, "case-c", NOW)
    assert sorted(index.pop_due(NOW)) == [(0, "case-a"), (2, "case-c")]
    assert index.pop_due(NOW) == []
    assert len(index) == 1


def test_a_moved_due_time_replaces_the_old_one() -> None:
    index = DueIndex()
    index.set(0, "case-a", NOW - timedelta(minutes=5))
    index.set(0, "case-a", NOW + timedelta(days=1))
    assert index.pop_due(NOW) == []
    assert index.pop_due(NOW + timedelta(days=1)) == [(0, "case-a")]


def test_cleared_and_revoked_cases_are_not_swept() -> None:
    index = DueIndex()
    index.set(0, "case-a", NOW)
    index.set(0, "case-a", None)
    index.set(3, "case-d", NOW)
    index.drop_partition(3)
    assert index.has_due(NOW)  # stale heap entries are dropped lazily, when popped
    assert not index.pop_due(NOW)
    assert not index.has_due(NOW)


def test_superseded_due_times_do_not_pile_up() -> None:
    index = DueIndex()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for step in range(10_000):
        index.set(0, "case", start + timedelta(minutes=step))
    assert len(index) == 1
    assert len(index._heap) <= 2 + 1024
    assert index.pop_due(start + timedelta(days=30)) == [(0, "case")]


def test_a_limited_pop_takes_the_earliest_and_leaves_the_rest() -> None:
    """After a restore every clock of a backfill may be due at once: a sweep takes them in
    slices (earliest first) so the worker never holds them all in one batch."""
    index = DueIndex()
    for number in range(10):
        index.set(number % 4, f"case-{number}", NOW - timedelta(days=10 - number))
    first = index.pop_due(NOW, limit=4)
    assert first == [(number % 4, f"case-{number}") for number in range(4)]
    assert index.has_due(NOW)
    rest = index.pop_due(NOW, limit=100)
    assert sorted(rest) == sorted((number % 4, f"case-{number}") for number in range(4, 10))
    assert not index.has_due(NOW)


def _stored_times(key: bytes, value: bytes) -> tuple[str, datetime | None, datetime | None]:
    due, held = value.decode("ascii").split("|")
    return (key[2:].decode("utf-8"), datetime.fromisoformat(due) if due else None,
            datetime.fromisoformat(held) if held else None)


def test_the_due_scan_reads_a_real_store_in_steps_and_never_overrides_a_fresher_time(
        tmp_path: Path) -> None:
    """A freshly assigned partition's due times come from its RocksDB store a step at a
    time while batches run; a time a batch set meanwhile stays (it is fresher)."""
    store = PartitionStore(tmp_path / "engine-cases-0", "changelog", 0)
    try:
        for number in range(5):
            due = (NOW + timedelta(minutes=number)).isoformat()
            store.put(f"c|case-{number}".encode(), f"{due}|".encode())
        store.put(b"c|case-held", f"|{(NOW - timedelta(minutes=1)).isoformat()}".encode())
        store.put(b"d|not-a-case", b"ignored")
        store.commit_local(last_offset=5)
        due, held = DueIndex(), DueIndex()
        scan = DueScan(0, store.prefixed(b"c|"), _stored_times, due, held)
        assert scan.advance(2) is False
        assert len(due) == 2
        # A batch touched case-4 before the scan reached it: its clocks stopped early
        # (the batch's time, one hour on) and that time is kept.
        due.set(0, "case-4", NOW + timedelta(hours=1))
        assert scan.advance(10) is True
        assert len(due) == 5 and len(held) == 1
        assert sorted(due.pop_due(NOW + timedelta(minutes=10))) == [
            (0, f"case-{number}") for number in range(4)]
        assert due.pop_due(NOW + timedelta(hours=1)) == [(0, "case-4")]
        assert held.pop_due(NOW) == [(0, "case-held")]
    finally:
        store.close()


def test_the_count_follows_sets_clears_and_a_partition_moving_away() -> None:
    """The index counts cases, not heap entries: a time set again, moved, cleared or
    dropped with its partition changes the count as the cases do; times in another
    zone compare as the instants they are."""
    index = DueIndex()
    china = timezone(timedelta(hours=8))
    index.set(0, "case-a", NOW)
    index.set(0, "case-a", NOW.astimezone(china))  # the same instant: no change
    index.set(0, "case-b", NOW + timedelta(minutes=1))
    index.set(1, "case-c", NOW - timedelta(minutes=1))
    index.set(1, "case-d", NOW)
    assert len(index) == 4
    index.set(1, "case-d", None)
    index.set(1, "case-d", None)
    assert len(index) == 3
    index.drop_partition(0)
    assert len(index) == 1
    assert index.pop_due((NOW + timedelta(hours=1)).astimezone(china)) == [(1, "case-c")]
    assert len(index) == 0 and not index.has_due(NOW + timedelta(days=1))
