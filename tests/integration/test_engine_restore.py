"""A store on an empty disk replays its changelog whole, on a large memtable that it gives
back afterwards (issue #10, recovery). Real broker, real RocksDB."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from confluent_kafka import Producer

from streams.engine.state import PartitionStore

pytestmark = pytest.mark.integration


def _write_buffer_bytes(directory: Path) -> int:
    """The memtable size RocksDB last recorded for the store (its newest OPTIONS file)."""
    newest = max(directory.glob("OPTIONS-*"), key=lambda path: int(path.name.split("-")[1]))
    sizes = re.findall(r"^\s*write_buffer_size=(\d+)$", newest.read_text(), re.MULTILINE)
    assert sizes, newest
    return int(sizes[0])


def test_a_replay_restores_every_record_and_leaves_the_small_memtable(
        bootstrap: str, topic_factory, tmp_path: Path) -> None:
    changelog = topic_factory("restore-changelog", partitions=2, compacted=True)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for number in range(3_000):
        producer.produce(changelog, key=b"case-%d" % number, value=b"v%d" % number,
                         partition=1)
    producer.produce(changelog, key=b"case-7", value=None, partition=1)  # a tombstone
    producer.produce(changelog, key=b"other", value=b"x", partition=0)
    assert producer.flush(30) == 0

    store = PartitionStore(tmp_path / "cases-1", changelog, 1)
    small = _write_buffer_bytes(tmp_path / "cases-1")
    try:
        assert store.recover(bootstrap, None, group_id="restore-test") == 3_001
        assert store.get(b"case-2999") == b"v2999"
        assert store.get(b"case-7") is None
        assert store.get(b"other") is None  # another partition's record
        # The replay ran on the large memtable and gave it back: RocksDB's log records
        # both changes in order, and its newest OPTIONS file the small size again.
        changes = re.findall(r"SetOptions\(\) on column family \[default\], inputs:\n"
                             r".*\] write_buffer_size: (\d+)\n",
                             (tmp_path / "cases-1" / "LOG").read_text())
        assert [int(size) for size in changes] == [64 * 1024 * 1024, small]
        assert _write_buffer_bytes(tmp_path / "cases-1") == small < 64 * 1024 * 1024
    finally:
        store.close()
