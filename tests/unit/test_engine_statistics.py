"""The statistics processor's snapshot over a real RocksDB partition store (no broker:
the store's changelog is only written by a worker's checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.engine.batch import Batch
from streams.engine.state import PartitionStore, decode_value
from streams.engine.statistics import StatisticsProcessor
from streams.topics import TopicNames


async def _never(*_: Any) -> None:
    raise AssertionError("no record is decoded or dead-lettered here")


def _processor(store: PartitionStore) -> StatisticsProcessor:
    # No batch here changes a figure or finds a missing entry, so nothing is emitted:
    # the outputs are never used.
    processor = StatisticsProcessor(topics=TopicNames(), hub_unit_code="11420999MB0000000X",
                                    outputs=None,  # type: ignore[arg-type]
                                    decode=_never, dead_letter=_never)
    processor.store = store
    return processor


async def test_a_snapshot_just_loaded_is_not_written_again_at_the_first_batch(
        tmp_path: Path) -> None:
    """A fresh store snapshots at its first batch; a restarted worker that has just read
    the snapshot does not write the same state again (it cost a million-event restart
    0.7 s), it waits a snapshot period."""
    store = PartitionStore(tmp_path / "engine-stats-0", "changelog", 0)
    try:
        first = _processor(store)
        assert first.load() == 0
        await first.finish(Batch(stats_offset=41))
        assert decode_value(store.get(b"accumulator") or b"") == {"offset": 41, "chunks": 1}
        store.commit_local(last_offset=3)

        restarted = _processor(store)
        assert restarted.load() == 42
        await restarted.finish(Batch(stats_offset=50))
        assert not any(key.startswith(b"accumulator") for key in store.staged)
        assert decode_value(store.get(b"accumulator") or b"") == {"offset": 41, "chunks": 1}
    finally:
        store.close()


async def test_what_was_counted_since_the_last_snapshot_is_saved_when_the_feed_moves_away(
        tmp_path: Path) -> None:
    """A stop or a rebalance stages a snapshot of all that was counted, so the next owner
    resumes where this one stopped instead of counting the feed again since the last
    periodic snapshot; nothing is staged when the last snapshot is current."""
    store = PartitionStore(tmp_path / "engine-stats-0", "changelog", 0)
    try:
        processor = _processor(store)
        processor.load()
        await processor.finish(Batch(stats_offset=9))  # the first snapshot, at once
        store.commit_local(last_offset=1)
        assert processor.save_before_close() is False  # current: nothing to add
        await processor.finish(Batch(stats_offset=30))  # within the snapshot period
        assert not store.staged
        assert processor.save_before_close() is True
        store.commit_local(last_offset=2)
        assert decode_value(store.get(b"accumulator") or b"") == {"offset": 30, "chunks": 1}
        assert not any(key.startswith(b"accumulator|9|") for key, _ in store.items())
        assert _processor(store).load() == 31
    finally:
        store.close()
