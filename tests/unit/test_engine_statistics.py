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
