"""How far a connector has read its source, said on the bus for the workers' clocks.

The workers judge deadlines at their input frontier (``streams.engine.frontier``): never
before every record on the bus has been processed. A record no connector has read yet is
not on the bus, though: when the agency's connector has read its referrals and the
police's connector has not yet reached the filing decision in its own folder, the
deadline sweep raised "filing decision overdue" and took it back a minute later ("raised,
then done in time": ~220 alerts in a demo run, every clock of a province's backfill).

So each connector says how far it has read, as Flink's sources send watermarks: one
compacted record per connector on its unit's progress topic
(:func:`hub.topics.source_progress_topic`), written

* when a session starts (``running``, with the last instant it confirmed, none at first),
* after a pass over the source ended and every record of it was acknowledged: the pass's
  start is then confirmed (``read_to_end_at``: everything the source held at that instant
  is on the bus),
* every :data:`ALIVE_EVERY_S` while it reads or waits (``alive_at``: a crashed connector
  goes stale and stops holding anyone back),
* when it stops cleanly (``running`` false: it holds nothing back until it starts again).

The workers read every unit's progress topic (``streams.engine.sources``) and judge at
most as late as the slowest live connector has confirmed. Writing the marks is
best-effort: a deployment whose operator has not created the progress topic yet (an
upgrade) runs as before, with a warning, never a stopped feed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

__all__ = ["ALIVE_EVERY_S", "ProgressMark", "SourceProgress"]

log = logging.getLogger(__name__)

#: Seconds between two marks that only say the connector is alive (while a long pass
#: reads, or while it waits for its next poll). The workers count a connector silent for
#: several of these as gone (``LIANGFA_ENGINE_SOURCE_STALE_S``).
ALIVE_EVERY_S = 10.0
#: How long the connector waits for a mark's acknowledgement before it goes on (the
#: mark stays queued in its producer).
_SEND_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ProgressMark:
    """One connector's progress, as the value of its record (JSON, keyed by its id)."""

    connector: str
    unit: str
    stream: str
    running: bool
    #: POSIX seconds: every record the source held at this instant is acknowledged on the
    #: bus (None: nothing confirmed yet).
    read_to_end_at: float | None
    #: POSIX seconds the connector wrote this mark.
    alive_at: float
    #: POSIX seconds the process started writing marks: how long an unconfirmed
    #: connector has held the workers back.
    since: float

    def encode(self) -> bytes:
        return orjson.dumps({
            "connector": self.connector, "unit": self.unit, "stream": self.stream,
            "running": self.running, "read_to_end_at": self.read_to_end_at,
            "alive_at": self.alive_at, "since": self.since})


class SourceProgress:
    """The marks of one connector process; :attr:`read_to_end_at` outlives its sessions
    (a session that failed and started again has not lost what the last one confirmed)."""

    def __init__(self, topic: str, connector: str, unit: str, stream: str) -> None:
        self.topic = topic
        self.connector = connector
        self.unit = unit
        self.stream = stream
        self.read_to_end_at: float | None = None
        self.enabled = True
        self._producer: AIOKafkaProducer | None = None
        self._alive_sent = 0.0
        self._since = time.time()

    def attach(self, producer: AIOKafkaProducer | None) -> None:
        """Marks go through the session's producer (None: the session ended)."""
        self._producer = producer

    async def started(self) -> None:
        await self._send(running=True)

    async def read_to_end(self, pass_started_at: float) -> None:
        """A pass that began at ``pass_started_at`` (POSIX seconds) read the source to its
        end and every record of it is acknowledged."""
        self.read_to_end_at = pass_started_at
        await self._send(running=True)

    async def alive(self) -> None:
        """Say so when the last mark is :data:`ALIVE_EVERY_S` old."""
        if time.monotonic() - self._alive_sent >= ALIVE_EVERY_S:
            await self._send(running=True)

    async def stopped(self) -> None:
        await self._send(running=False)

    async def _send(self, *, running: bool) -> None:
        producer = self._producer
        if producer is None or not self.enabled:
            return
        mark = ProgressMark(self.connector, self.unit, self.stream, running,
                            self.read_to_end_at, time.time(), self._since)
        try:
            await asyncio.wait_for(producer.send_and_wait(
                self.topic, mark.encode(), key=self.connector.encode()), _SEND_TIMEOUT_S)
        except TimeoutError:  # a broker slow to answer (a topic just created): the mark
            # stays queued in the producer, in order; the next one says it again
            log.info("connector %s: a progress mark was not acknowledged within %.0f s",
                     self.connector, _SEND_TIMEOUT_S)
            return
        except KafkaError as exc:  # not allowed, no such topic: not for this session
            self.enabled = False
            log.warning("connector %s: progress marks to %s failed (%r); the workers "
                        "judge deadlines without waiting for this connector until it "
                        "restarts (has the operator created the topic?)",
                        self.connector, self.topic, exc)
            return
        self._alive_sent = time.monotonic()
