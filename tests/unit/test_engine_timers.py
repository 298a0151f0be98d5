"""The native engine's due index: the sweep sees only due cases, each once, latest time wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.engine.timers import DueIndex

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
