"""Records too large to send never stall a connector (``connectors.delivery``).

A row may be up to ``max_record_bytes`` (4 MiB), more than a Kafka record may be (the
producer's ``max_request_size``, 1 MiB, and the topic's ``max.message.bytes``). Its dead
letter is cut to ``DEAD_LETTER_RAW_BYTES`` and says how large the row was; an event the
producer refuses by size is refused as a record (the caller dead-letters it); a letter the
broker refuses by size is counted and the connector goes on, rather than retried forever.
Real broker and aiokafka producer.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from connectors.chunks import dead_letter_for
from connectors.config import FileLimits, FileSourceConfig
from connectors.delivery import DeadLetter, Delivery
from connectors.kinds.file import FileSource
from connectors.metrics import ConnectorMetrics
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row, write_penalty_csv
from connectors.source import DEAD_LETTER_RAW_BYTES
from hub.errors import RecordRejected
from hub.kafka import make_producer
from hub.topics import TopicSpec, apply_topics

pytestmark = pytest.mark.integration


async def _delivery(bootstrap: str, *, dlq_configs: dict[str, str] | None = None
                    ) -> tuple[Delivery, str]:
    run = uuid.uuid4().hex[:8]
    topic, dlq = f"lf-test-size-{run}", f"lf-test-size-dlq-{run}"
    await apply_topics(bootstrap, [TopicSpec(name=topic, partitions=1),
                                   TopicSpec(name=dlq, partitions=1,
                                             configs=dlq_configs or {})])
    producer = make_producer(bootstrap, client_id=f"test-size-{run}")
    await producer.start()
    delivery = Delivery(producer, topic, dlq, f"size-{run}", DEMO_MARKET_UNIT,
                        ConnectorMetrics(f"size-{run}"))
    await delivery.start()
    return delivery, dlq


async def _read_back(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000)
        return [(record.value or b"", dict(record.headers))
                for records in batches.values() for record in records]
    finally:
        await consumer.stop()


async def test_the_dead_letter_of_a_huge_row_is_cut_sent_and_acknowledged(
        bootstrap: str, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    long_row = penalty_row(8)
    long_row[PENALTY_HEADER.index("违法事实")] = "长" * 700_000  # 1.4 MB, under 4 MiB
    write_penalty_csv(drop / "a.csv", 1, extra_rows=[long_row, penalty_row(9)])
    source = FileSource(FileSourceConfig(path=drop, pattern="*", settle_seconds=0,
                                         limits=FileLimits()))
    records = [record async for record in source.read(None) if not record.marker]
    refused = records[1]
    assert getattr(refused.problem, "error_type", None) == "field_too_long"
    assert len(refused.raw) > 1024 * 1024  # over what a record may be
    delivery, dlq = await _delivery(bootstrap)
    try:
        assert refused.problem is not None
        await delivery.send_dead_letter(refused.raw, dead_letter_for(refused.problem),
                                        refused.reference, refused.location,
                                        refused.position)
        await delivery.drain()
        assert delivery.acked_position == refused.position
    finally:
        await delivery.producer.stop()
    [(value, headers)] = await _read_back(bootstrap, dlq)
    assert value == refused.raw[:DEAD_LETTER_RAW_BYTES]
    assert headers["dlq.raw_bytes"] == str(len(refused.raw)).encode()
    assert headers["error.type"] == b"field_too_long"


async def test_an_event_too_large_to_send_is_refused_not_retried(bootstrap: str) -> None:
    delivery, _ = await _delivery(bootstrap)
    try:
        with pytest.raises(RecordRejected) as caught:
            await delivery.send_event(b"k", b"v" * (2 * 1024 * 1024), [], "e1", {"row": 2})
        assert caught.value.error_type == "record_too_large"
        assert delivery.in_flight == 0
    finally:
        await delivery.producer.stop()


async def test_a_letter_the_broker_refuses_by_size_is_counted_and_the_run_goes_on(
        bootstrap: str) -> None:
    """The dead-letter topic takes records of at most 2,000 bytes here (a broker or
    topic configured tighter than the producer): the letter of a 50 kB row is refused
    on every try, so it is counted and its position acknowledged. (The broker refuses a
    whole batch: a letter batched with it would be refused too. With the default limit,
    1 MiB, a letter cut to 256 KiB is never refused.)"""
    delivery, dlq = await _delivery(bootstrap, dlq_configs={"max.message.bytes": "2000"})
    try:
        await delivery.send_dead_letter(b"x" * 50_000, DeadLetter("bad_csv", "x", "row", ""),
                                        "a.csv#row 2", {}, {"row": 2})
        await asyncio.wait_for(delivery.drain(), 60)
        assert delivery.acked_position == {"row": 2}
        await delivery.send_dead_letter(b"short", DeadLetter("bad_csv", "y", "row", ""),
                                        "a.csv#row 3", {}, {"row": 3})
        await asyncio.wait_for(delivery.drain(), 60)
        assert delivery.acked_position == {"row": 3}
        assert delivery.metrics.rejected_total() == 2  # one refused, one written
    finally:
        await delivery.producer.stop()
    assert [value for value, _ in await _read_back(bootstrap, dlq)] == [b"short"]
