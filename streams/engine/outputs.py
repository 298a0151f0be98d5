"""What a batch produces: records gathered per partition, handed over as record batches.

Outputs are never awaited one by one: the worker awaits them all at the checkpoint, before
the changelogs and before the offsets (see :mod:`streams.engine.worker`).
"""


from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
)
from hub.serde import AvroSerde, cloudevent_headers
from streams._events import PROCESSED_HEADER
from streams.metrics import ALERTS
from streams.safety import RawRecord

__all__ = ["DECODED_CACHE", "Outputs", "partition_of", "remember"]

log = logging.getLogger(__name__)

#: Queued output records handed to the producer in batches this often (see ``Outputs``).
_DISPATCH_EVERY = 2000
#: Decoded events kept for reuse by value bytes: a record's bytes come back on
#: ``lf.case-events`` and the statistics feed one or a few batches later.
DECODED_CACHE = 4096


class Outputs:
    """Records a batch produces: gathered per partition into record batches, awaited together.

    ``producer.send()`` per record cost a future, a done-callback and a gather slot per
    record (~15% of the worker's CPU at ~8 records per input event). Records are kept per
    topic and partition (chosen by the producer's own default partitioner, so keys land
    where ``send()`` would have put them) and handed over as whole batches with
    ``send_batch``, one future each; order within a partition is kept.
    """

    def __init__(self, producer: AIOKafkaProducer, serde: AvroSerde) -> None:
        self.producer = producer
        self.serde = serde
        self.futures: list[asyncio.Future[Any]] = []
        self._pending: dict[str, list[tuple[bytes | None, bytes | None,
                                            list[tuple[str, bytes]]]]] = {}
        self._queued = 0
        self._alert_counters: dict[tuple[AlertKind, AlertStatus], Any] = {}
        #: The processors' decoded-value cache (see ``Processors.decode``): alerts are
        #: read back from ``lf.alerts`` and the statistics feed by this worker.
        self.decoded: dict[bytes, CaseEvent] | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]]) -> None:
        """Queue one record (the :data:`streams.safety.Produce` signature, for guards)."""
        self._pending.setdefault(topic, []).append((key, value, headers))
        self._queued += 1
        if self._queued >= _DISPATCH_EVERY:
            await self.dispatch()

    async def dispatch(self) -> None:
        """Hand the queued records to the producer as record batches (not yet acked)."""
        pending, self._pending, self._queued = self._pending, {}, 0
        producer = self.producer
        for topic, records in pending.items():
            partitions = sorted(await producer.partitions_for(topic))
            by_partition: dict[int, list[tuple[bytes | None, bytes | None,
                                               list[tuple[str, bytes]]]]] = {}
            for record in records:
                number = partition_of(record[0], partitions)
                by_partition.setdefault(number, []).append(record)
            for number, items in by_partition.items():
                builder = producer.create_batch()
                count = 0
                for key, value, headers in items:
                    if builder.append(timestamp=None, key=key, value=value,
                                      headers=headers) is not None:
                        count += 1
                        continue
                    if count:
                        self.futures.append(await producer.send_batch(
                            builder, topic, partition=number))
                    builder, count = producer.create_batch(), 0
                    if builder.append(timestamp=None, key=key, value=value,
                                      headers=headers) is not None:
                        count = 1
                    else:  # larger than a whole batch: the producer splits nothing, send it
                        self.futures.append(await producer.send(
                            topic, value, key=key, partition=number, headers=headers))
                        builder = producer.create_batch()
                if count:
                    self.futures.append(await producer.send_batch(builder, topic,
                                                                  partition=number))

    async def event(self, topic: str, event: CaseEvent, *, key: bytes | None = None,
                    counted: bool = True) -> None:
        """Encode ``event`` with the hub serde and queue it with CloudEvents headers.

        ``counted=False`` for a copy of an alert (the procuratorate's inbox): an alert
        counts once in ``liangfa_streams_alerts_total``."""
        serialized = await self.serde.serialize(event)
        await self.send(topic, key if key is not None else serialized.key, serialized.value,
                        serialized.headers)
        if counted and isinstance(event, Alert):
            counter = self._alert_counters.get((event.kind, event.status))
            if counter is None:  # labels() per alert showed in profiles (a lock, checks)
                counter = self._alert_counters[(event.kind, event.status)] = ALERTS.labels(
                    event.kind.value, event.status.value)
            counter.inc()
            # Read back, an alert only feeds the aggregate (id, status) and the statistics
            # (id, status, unit, month of occurred_at in China time): the model that was
            # just encoded answers those exactly as its decoded copy would (the decoded
            # copy differs at most in the time zone its instants are written in).
            if self.decoded is not None:
                remember(self.decoded, serialized.value, event)

    async def forward(self, topic: str, record: RawRecord, event: CaseEvent, *,
                      processed: bool = False) -> None:
        """Queue a decoded event's original bytes, with CloudEvents headers rebuilt.

        ``processed``: the case processors of the task that forwards it handle the event
        now (one hop); its copy on ``lf.case-events`` is marked so it is not handled again.
        """
        header = {"event_id": event.event_id, "case_id": event.case_id,
                  "source_unit": event.source_unit, "connector_id": event.connector_id,
                  "occurred_at": event.occurred_at}
        headers = cloudevent_headers(event.avro_name, header)
        if processed:
            headers.append((PROCESSED_HEADER, b"1"))
        await self.send(topic, event.kafka_key(), record.value, headers)

    async def wait(self) -> None:
        """Wait for every queued record's acknowledgement (raises if one failed)."""
        await self.dispatch()
        futures, self.futures = self.futures, []
        if futures:
            await asyncio.gather(*futures)


def remember(cache: dict[bytes, CaseEvent], value: bytes, event: CaseEvent) -> None:
    """Keep a decoded value (bounded: the oldest eighth goes when the cache is full)."""
    cache[value] = event
    if len(cache) > DECODED_CACHE:
        for key in list(itertools.islice(cache, DECODED_CACHE // 8)):
            del cache[key]


#: murmur2 of recent keys: aiokafka's is pure Python (~4% of the worker in profiles), and
#: one input event's outputs mostly share its case id as key.
_HASHES: dict[bytes, int] = {}
_HASHES_KEPT = 65_536


def partition_of(key: bytes | None, partitions: list[int]) -> int:
    """The partition a keyed record goes to: ``partitions[murmur2(key) % count]``, exactly
    as the Java client's and aiokafka's default partitioners choose (a keyless record
    goes to the first partition; the engine produces none)."""
    if key is None:
        return partitions[0]
    hashed = _HASHES.get(key)
    if hashed is None:
        if len(_HASHES) >= _HASHES_KEPT:
            _HASHES.clear()
        hashed = _HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return partitions[hashed % len(partitions)]

