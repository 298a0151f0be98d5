"""What a batch produces: records gathered per partition, handed over as record batches.

Outputs are never awaited one by one: the worker awaits them all at the checkpoint, before
the changelogs and before the offsets (see :mod:`streams.engine.worker`).
"""


from __future__ import annotations

import itertools
import logging
from typing import Any

import orjson
from aiokafka.partitioner import murmur2
from confluent_kafka import Producer

from hub.dlq.records import REPLAY_HEADER
from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
)
from hub.serde import AvroSerde, SerializedEvent, cloudevent_headers
from streams._events import MATCHED_HEADER, ORIGIN_HEADER, PROCESSED_HEADER
from streams.engine.delivery import Acknowledgements, flush, produce
from streams.metrics import ALERTS
from streams.safety import RawRecord
from streams.stats_facts import FACTS_HEADER, StatsFact, encode_facts

__all__ = ["DECODED_CACHE", "Outputs", "partition_of", "remember"]

log = logging.getLogger(__name__)

#: Decoded events kept for reuse by value bytes: a record's bytes come back on
#: ``lf.case-events`` or ``lf.alerts`` one or a few batches later.
DECODED_CACHE = 4096
#: Statistics facts per feed record: a fact is ~300 bytes of JSON, so ~300 KB a record.
FACTS_PER_RECORD = 1000


class Outputs:
    """Records a batch produces, handed to librdkafka at once and acknowledged together.

    ``send`` returns as soon as librdkafka queued the record (it batches per partition in
    C and places a keyed record with Java's murmur2, see
    :func:`hub.kafka.make_engine_producer`); :meth:`wait` flushes and checks every
    delivery report before the worker sends its changelogs or commits an offset.
    """

    def __init__(self, producer: Producer, serde: AvroSerde, *,
                 stats_feed: str | None = None) -> None:
        self.producer = producer
        self.serde = serde
        #: The statistics feed the counted events' facts go to (see :meth:`count`).
        self.stats_feed = stats_feed
        self._facts: list[StatsFact] = []
        self.acknowledgements = Acknowledgements()
        self._alert_counters: dict[tuple[AlertKind, AlertStatus], Any] = {}
        #: The processors' decoded-value cache (see ``Processors.decode``): alerts are
        #: read back from ``lf.alerts`` by this worker.
        self.decoded: dict[bytes, CaseEvent] | None = None

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]]) -> None:
        """Queue one record (the :data:`streams.safety.Produce` signature, for guards)."""
        produce(self.producer, topic, key, value, self.acknowledgements, headers=headers)

    async def event(self, topic: str, event: CaseEvent, *, key: bytes | None = None,
                    counted: bool = True, processed: bool = False) -> SerializedEvent:
        """Encode ``event`` with the hub serde and queue it with CloudEvents headers.

        ``counted=False`` for a copy of an alert (the procuratorate's inbox): an alert
        counts once in ``liangfa_streams_alerts_total``. ``processed``: the task that
        raised the alert has put it on its case already; read back, it is skipped."""
        serialized = await self.serde.serialize(event)
        headers = serialized.headers
        if processed:
            headers = [*headers, (PROCESSED_HEADER, b"1")]
        await self.send(topic, key if key is not None else serialized.key, serialized.value,
                        headers)
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
        return serialized

    async def forward(self, topic: str, record: RawRecord, event: CaseEvent, *,
                      processed: bool = False, handed_on: bool = False,
                      matched: bool = False) -> None:
        """Queue a decoded event's original bytes, with CloudEvents headers rebuilt.

        ``processed``: the case processors of the task that forwards it handle the event
        now (one hop); its copy on ``lf.case-events`` is marked so it is not handled again.
        ``handed_on``: to the task that owns its case (``lf.streams.case-intake``), with
        where it was read (:data:`ORIGIN_HEADER`) and a replay's mark, as a record
        handed on within a task keeps them.
        ``matched``: the matcher's re-keyed copy of feedback (:data:`MATCHED_HEADER`), so
        a subscriber tells it from the original, which has the same event id.
        """
        header = {"event_id": event.event_id, "case_id": event.case_id,
                  "source_unit": event.source_unit, "connector_id": event.connector_id,
                  "occurred_at": event.occurred_at}
        headers = cloudevent_headers(event.avro_name, header)
        if processed:
            headers.append((PROCESSED_HEADER, b"1"))
        if matched:
            headers.append((MATCHED_HEADER, b"1"))
        if handed_on:
            headers.append((ORIGIN_HEADER, orjson.dumps(
                list(record.origin or (record.topic, record.partition, record.offset)))))
            replay = record.header(REPLAY_HEADER)
            if replay is not None:
                headers.append((REPLAY_HEADER, replay))
        await self.send(topic, event.kafka_key(), record.value, headers)

    def count(self, fact: StatsFact) -> None:
        """Give a counted event's fact to the statistics: it goes out with the batch.

        One feed record per checkpoint carries the facts of every counted event the batch
        saw (:mod:`streams.stats_facts`), where each event used to be forwarded as its
        own record and decoded again by the statistics task.
        """
        self._facts.append(fact)

    def send_facts(self) -> None:
        """Queue the gathered facts as feed records (bounded well under 1 MiB each)."""
        facts, self._facts = self._facts, []
        if not facts or self.stats_feed is None:
            return
        for start in range(0, len(facts), FACTS_PER_RECORD):
            produce(self.producer, self.stats_feed, None,
                    encode_facts(facts[start:start + FACTS_PER_RECORD]),
                    self.acknowledgements, partition=0, headers=[(FACTS_HEADER, b"1")])

    def wait(self) -> None:
        """Wait for every queued record's acknowledgement (raises if one failed); the
        batch's statistics facts are queued first, so they are acknowledged with it."""
        self.send_facts()
        # Replaced only once they all arrived: a failed report stays, so a later wait
        # (a flush on the way out) raises it again instead of finding nothing to check.
        flush(self.producer, self.acknowledgements)
        self.acknowledgements = Acknowledgements()


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

