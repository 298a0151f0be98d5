"""Delivery reports of the engine's producer: what ``flush`` proved durable.

librdkafka acknowledges records asynchronously and reports each one's fate to a callback
while the producer is polled or flushed. Nothing the engine commits (a local state write,
a consumer offset) may depend on a record whose report has not arrived or was an error:
the worker flushes, then asks :meth:`Acknowledgements.check`.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException, Message, Producer

__all__ = ["ANY_PARTITION", "Acknowledgements", "flush", "produce"]

log = logging.getLogger(__name__)

#: librdkafka's "no partition chosen": its configured partitioner picks one by key.
ANY_PARTITION = -1
#: How long a producer whose queue is full is polled before the record is tried again.
_QUEUE_FULL_POLL_S = 0.05
#: How long one ``flush`` waits before it logs that acknowledgements are still missing.
_FLUSH_WAIT_S = 30.0


class Acknowledgements:
    """Delivery reports of records handed to the engine's producer.

    librdkafka reports each record's fate from ``poll``/``flush``; this keeps the highest
    acknowledged offset and the first error, so whoever waited (``flush``) can tell whether
    everything it sent is durable before it commits anything that depends on it.
    """

    __slots__ = ("error", "last_offset", "pending")

    def __init__(self) -> None:
        self.last_offset: int | None = None
        self.error: KafkaError | None = None
        self.pending = 0

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        self.pending -= 1
        if error is not None:
            if self.error is None:
                self.error = error
            return
        offset = message.offset()
        if offset is not None and (self.last_offset is None or offset > self.last_offset):
            self.last_offset = offset

    def sent(self) -> None:
        """Count one record handed to the producer with this object as its callback."""
        self.pending += 1

    def check(self) -> None:
        """Raise if a record failed or was never reported (nothing may be committed)."""
        if self.error is not None:
            raise KafkaException(self.error)
        if self.pending:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT,
                                            f"{self.pending} records not acknowledged"))


def produce(producer: Producer, topic: str, key: bytes | None, value: bytes | None,
            acknowledgements: Acknowledgements, *, partition: int = ANY_PARTITION,
            headers: list[tuple[str, bytes]] | None = None) -> None:
    """Hand one record to librdkafka, serving delivery reports while its queue is full."""
    while True:
        try:
            producer.produce(topic, value, key, partition=partition,
                             headers=headers,  # type: ignore[arg-type]  # list is accepted
                             on_delivery=acknowledgements)
        except BufferError:
            producer.poll(_QUEUE_FULL_POLL_S)
            continue
        acknowledgements.sent()
        return


def flush(producer: Producer, *acknowledgements: Acknowledgements) -> None:
    """Wait until every record handed to ``producer`` is reported, then check the reports.

    A record is reported within librdkafka's ``delivery.timeout.ms`` (acknowledged or
    failed), so the loop ends; while the broker is away the worker waits here rather
    than commit anything.
    """
    while producer.flush(_FLUSH_WAIT_S) > 0:
        log.warning("producer still waiting for acknowledgements of %d records", len(producer))
    for item in acknowledgements:
        item.check()
