"""What a worker writes when the statistics feed's partition leaves it: a snapshot on a clean
hand-over, nothing after a failed batch or a lost partition.

The stores are real RocksDB stores. The producer is a stand-in: these tests need a
delivery that fails on demand (a record timing out while the broker is away), which a
real local broker cannot be made to do within a unit test; it reports each record's
fate to the engine's real delivery callbacks, as librdkafka does from ``flush``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.engine.batch import Batch
from streams.engine.outputs import Outputs
from streams.engine.state import PartitionStore, decode_value
from streams.engine.statistics import StatisticsProcessor
from streams.engine.worker import StreamWorker
from streams.topics import TopicNames

Report = Callable[[KafkaError | None, Any], None]


class _Delivered:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset


class _Producer:
    """Queues records; ``flush`` reports each as acknowledged, or as timed out while
    ``failing`` is set."""

    def __init__(self) -> None:
        self.queued: list[Report] = []
        self.failing = False
        self.offset = 0

    def produce(self, topic: str, value: bytes | None, key: bytes | None, *,
                partition: int = -1, headers: Any = None, on_delivery: Report) -> None:
        self.queued.append(on_delivery)

    def flush(self, timeout: float | None = None) -> int:
        queued, self.queued = self.queued, []
        for report in queued:
            if self.failing:
                report(KafkaError(KafkaError._MSG_TIMED_OUT), None)
            else:
                self.offset += 1
                report(None, _Delivered(self.offset))
        return 0

    def __len__(self) -> int:
        return len(self.queued)


class _Setup:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.topics = TopicNames()
        self.producer = _Producer()
        self.outputs = Outputs(self.producer, serde=None)  # type: ignore[arg-type]
        self.stats_store = PartitionStore(directory / "engine-stats-0", "changelog-stats", 0)
        self.case_store = PartitionStore(directory / "engine-cases-0", "changelog-cases", 0)
        self.statistics = StatisticsProcessor(
            topics=self.topics, hub_unit_code="11420999MB0000000X", outputs=self.outputs,
            decode=None, dead_letter=None)  # type: ignore[arg-type]  # nothing decoded
        self.statistics.store = self.stats_store
        self.statistics.load()
        settings = SimpleNamespace(topics=self.topics,
                                   hub=SimpleNamespace(kafka_security=None))
        self.worker = StreamWorker(settings, "worker-1", directory, [])
        self.worker.producer = self.producer  # type: ignore[assignment]
        self.worker.processors = SimpleNamespace(  # type: ignore[assignment]
            statistics=self.statistics, case_stores={0: self.case_store},
            outputs=self.outputs, forget_partition=lambda partition: None,
            due=SimpleNamespace(drop_partition=lambda partition: None),
            held=SimpleNamespace(drop_partition=lambda partition: None))
        self.worker.assigned = {(self.topics.stats_feed, 0), (self.topics.case_events, 0)}

    async def first_batch(self) -> None:
        """A checkpoint that went through: snapshot at feed offset 9."""
        await self.statistics.finish(Batch(stats_offset=9))
        self.worker._flush(self.producer)  # type: ignore[arg-type]

    async def second_batch(self, *, delivered: bool) -> None:
        """An alert, a case marked as having seen its event, the feed counted to 30."""
        await self.outputs.send("lf.alerts", b"case", b"alert", [])
        self.case_store.put(b"seen|event-1", b"1")
        await self.statistics.finish(Batch(stats_offset=30))
        self.statistics.save_after = float("inf")  # no periodic snapshot in this batch
        if delivered:
            self.worker._flush(self.producer)  # type: ignore[arg-type]
            return
        self.producer.failing = True
        with pytest.raises(KafkaException):
            self.worker._flush(self.producer)  # type: ignore[arg-type]
        self.producer.failing = False  # the broker answers again

    def release_all(self, *, lost: bool = False) -> None:
        self.worker.release([(self.topics.stats_feed, 0), (self.topics.case_events, 0)],
                            lost=lost)

    def durable(self) -> tuple[int, bytes | None]:
        """(snapshot offset, the case's seen marker) as reopened stores hold them."""
        stats = PartitionStore(self.directory / "engine-stats-0", "changelog-stats", 0)
        cases = PartitionStore(self.directory / "engine-cases-0", "changelog-cases", 0)
        try:
            header = decode_value(stats.get(b"accumulator") or b"{}")
            return int(header["offset"]), cases.get(b"seen|event-1")
        finally:
            stats.close()
            cases.close()


async def test_a_clean_hand_over_saves_everything_counted(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    await setup.first_batch()
    await setup.second_batch(delivered=True)
    setup.release_all()
    assert setup.statistics.store is None  # closed
    assert setup.durable() == (30, b"1")


async def test_after_a_failed_batch_nothing_of_it_becomes_durable(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    await setup.first_batch()
    await setup.second_batch(delivered=False)
    setup.worker.failed = True  # the loop ended on the batch's exception
    setup.release_all()
    assert setup.statistics.store is None
    # The next owner re-counts the feed from offset 9 and the batch is replayed: its
    # alert, whose delivery failed, is raised again instead of being lost.
    assert setup.durable() == (9, None)


async def test_a_failed_delivery_is_not_forgotten_by_a_later_flush(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    setup = _Setup(tmp_path)
    await setup.first_batch()
    await setup.second_batch(delivered=False)
    # Even without the loop's flag, the release's flush finds the failed report again:
    # the snapshot is not saved and the stores are closed all the same.
    with caplog.at_level(logging.ERROR, logger="streams.engine.assignment"):
        setup.release_all()
    assert "could not be saved" in caplog.text
    assert setup.statistics.store is None
    assert setup.durable() == (9, None)


async def test_lost_partitions_are_closed_without_writing(tmp_path: Path) -> None:
    setup = _Setup(tmp_path)
    await setup.first_batch()
    await setup.second_batch(delivered=True)
    await setup.statistics.finish(Batch(stats_offset=44))  # counted, not yet saved
    sent = setup.producer.offset
    setup.release_all(lost=True)
    assert setup.producer.offset == sent and not setup.producer.queued  # nothing produced
    assert setup.statistics.store is None
    # The second batch's checkpoint went through (its case marker is durable); what was
    # counted since the last snapshot (offset 9) is re-counted by the new owner.
    assert setup.durable() == (9, b"1")
