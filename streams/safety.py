"""Keep the engine's loop alive: a record that fails goes to the dead-letter topic instead.

An exception that escaped the loop would either stop the worker on the same record at
every restart (a poison message) or, if skipped, lose the record silently. Every
processor therefore runs its per-record work through one :class:`Guard`: transient
failures (:class:`RetriableError`) are retried a few times, anything else, and retries
that ran out, are written to
``lf.dlq.streams`` with the original key, value and headers plus error headers that say
what failed where, and the loop carries on with the next record.

Example::

    guard = Guard("routing", dead_letter_topic, produce)
    async for event in stream.events():
        async with guard.record(RawRecord.from_event(event)):
            ...  # decode and handle; exceptions end up in the DLQ
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from hub.errors import HubError, RecordRejected, RetriableError
from streams.metrics import DEAD_LETTERED, HANDLE_SECONDS, PROCESSED

__all__ = [
    "DLQ_HEADER_PREFIX",
    "ERROR_HEADERS",
    "Guard",
    "Produce",
    "RawRecord",
    "dead_letter_headers",
    "describe_error",
    "guarded",
    "headers_dict",
    "original_headers",
]

log = logging.getLogger(__name__)

#: Headers every dead-lettered record carries, in this order.
ERROR_HEADERS: tuple[str, ...] = (
    "error.type",
    "error.reason",
    "source.topic",
    "source.partition",
    "source.offset",
    "processor",
)
_MAX_REASON_BYTES = 2000

#: ``produce(topic, key, value, headers)``: send one record and wait for the broker's ack.
Produce = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A consumed record as bytes plus where it came from (enough to dead-letter it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)
    #: Where a record the engine handed on between its own tasks was first read (its
    #: ingest topic, partition, offset): what its dead letter names, so a replay goes
    #: back through the ingest topic rather than to the engine's internal one.
    origin: tuple[str, int, int] | None = None

    def header(self, name: str) -> bytes | None:
        """The first header called ``name``, if any."""
        for header_name, value in self.headers:
            if header_name == name:
                return value
        return None


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(error type, reason) of an exception, as they go into the DLQ headers.

    A :class:`RecordRejected` already knows its type (``bad-magic``, ``source-mismatch``...)
    and the offending field; other errors are named by their class so an operator can
    group them on a dashboard.
    """
    if isinstance(exc, RecordRejected):
        reason = exc.reason
        if exc.field:
            reason = f"{reason} (field {exc.field}={exc.value!r})"
        return exc.error_type, reason
    if isinstance(exc, HubError):
        return type(exc).__name__, str(exc) or type(exc).__name__
    return f"unexpected:{type(exc).__name__}", str(exc) or repr(exc)


def _truncate(text: str) -> bytes:
    encoded = text.encode("utf-8")
    if len(encoded) <= _MAX_REASON_BYTES:
        return encoded
    return encoded[:_MAX_REASON_BYTES].decode("utf-8", errors="ignore").encode() + b"..."


#: Headers of the dead-letter tooling's settlement markers (``hub.dlq``: ``dlq.settled``,
#: ``dlq.settled-how``, ``dlq.settled-by``): a record arriving with one did not get it
#: from the tooling.
DLQ_HEADER_PREFIX = "dlq.settled"


def original_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """A record's own headers as a dead letter keeps them: without the error headers of
    an earlier dead-lettering and without settlement-marker headers. Why the latter: the
    record's writer (a unit, on its own ingest topic) sets its headers freely, and a
    planted ``dlq.settled`` made its dead letter a settlement marker that hid other
    units' dead letters. A replay mark (``dlq.replay-of``) stays: a replayed copy that
    fails again says so in its new dead letter."""
    return [(name, value) for name, value in headers
            if name not in ERROR_HEADERS and not name.startswith(DLQ_HEADER_PREFIX)
            and value is not None]


def dead_letter_headers(
    record: RawRecord, *, processor: str, error_type: str, reason: str
) -> list[tuple[str, bytes]]:
    """The original headers (:func:`original_headers`), then the error headers (names in
    :data:`ERROR_HEADERS`).

    Original headers stay so a replay tool can send the record back unchanged; error
    headers of an earlier dead-lettering are replaced, not repeated.
    """
    kept = original_headers(record.headers)
    topic, partition, offset = record.origin or (record.topic, record.partition,
                                                 record.offset)
    return [
        *kept,
        ("error.type", error_type.encode("utf-8")),
        ("error.reason", _truncate(reason)),
        ("source.topic", topic.encode("utf-8")),
        ("source.partition", str(partition).encode("ascii")),
        ("source.offset", str(offset).encode("ascii")),
        ("processor", processor.encode("utf-8")),
    ]


class Guard:
    """Runs a processor's per-record work so that no exception leaves the agent loop."""

    def __init__(
        self,
        processor: str,
        dead_letter_topic: str,
        produce: Produce,
        *,
        retries: int = 3,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.processor = processor
        self.dead_letter_topic = dead_letter_topic
        self.produce = produce
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        # Labelled metric children looked up once: ``labels()`` per record showed in profiles.
        self._handle_seconds = HANDLE_SECONDS.labels(processor)
        self._processed = PROCESSED.labels(processor)

    async def run(self, record: RawRecord, handler: Callable[[], Awaitable[None]]) -> bool:
        """Run ``handler`` for ``record``; True when it succeeded, False when dead-lettered.

        Retriable errors are retried (handlers are idempotent, so a repeat is harmless);
        ``CancelledError`` is never caught: a stopping worker must stop.
        """
        started = time.perf_counter()  # not ``.time()``: its context manager per record
        try:
            return await self._run(record, handler)
        finally:
            self._handle_seconds.observe(time.perf_counter() - started)

    async def _run(self, record: RawRecord, handler: Callable[[], Awaitable[None]]) -> bool:
        attempt = 0
        while True:
            try:
                await handler()
            except RetriableError as exc:
                attempt += 1
                if attempt > self.retries:
                    await self.dead_letter(record, exc)
                    return False
                log.warning("%s: retriable error on %s[%s]@%s (attempt %s): %s",
                            self.processor, record.topic, record.partition, record.offset,
                            attempt, exc)
                await asyncio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
            except Exception as exc:  # noqa: BLE001 - the point: nothing escapes the loop
                await self.dead_letter(record, exc)
                return False
            else:
                self._processed.inc()
                return True

    @asynccontextmanager
    async def record(self, record: RawRecord) -> AsyncIterator[None]:
        """Context-manager form of :meth:`run` (no retries: the body cannot be re-run)."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the point: nothing escapes the loop
            await self.dead_letter(record, exc)
        else:
            PROCESSED.labels(self.processor).inc()

    async def dead_letter(self, record: RawRecord, exc: BaseException) -> None:
        """Write ``record`` to the DLQ; waits (retrying) until the broker takes it.

        Giving up here would lose the record, and a broker that refuses the DLQ refuses
        every output too, so waiting is the only safe choice.
        """
        error_type, reason = describe_error(exc)
        level = logging.WARNING if isinstance(exc, HubError) else logging.ERROR
        log.log(level, "%s: dead-lettering %s[%s]@%s: %s: %s", self.processor, record.topic,
                record.partition, record.offset, error_type, reason,
                exc_info=not isinstance(exc, HubError))
        headers = dead_letter_headers(record, processor=self.processor,
                                      error_type=error_type, reason=reason)
        delay = self.retry_backoff_s
        while True:
            try:
                await self.produce(self.dead_letter_topic, record.key, record.value, headers)
            except Exception:
                log.exception("%s: cannot write to %s; retrying in %.1f s", self.processor,
                              self.dead_letter_topic, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            else:
                break
        DEAD_LETTERED.labels(self.processor, error_type).inc()


def guarded(processor: str, dead_letter_topic: str, produce: Produce, **options: Any) -> Guard:
    """A :class:`Guard` for ``processor`` (the name that goes into the ``processor`` header)."""
    return Guard(processor, dead_letter_topic, produce, **options)


def headers_dict(headers: Sequence[tuple[str, bytes]]) -> dict[str, bytes]:
    """Headers as a dict (first value of each name), for readers and tests."""
    result: dict[str, bytes] = {}
    for name, value in headers:
        result.setdefault(name, value)
    return result
