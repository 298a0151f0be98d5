"""Produce events to, and read events back from, the real broker in the view's tests.

Synchronous wrappers (each runs its own event loop in a worker thread) so that tests
driving the view through TestClient or a browser can talk to Kafka too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from hub.kafka import make_consumer, make_producer
from hub.models import (
    AgencyCaseOpened,
    Alert,
    CaseEvent,
    CaseState,
    FeedbackUnmatched,
    PenaltyCaseRecorded,
    UnitMonthlyStats,
    ViewAction,
)
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from hub.view.settings import Topics

T = TypeVar("T")


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def topic_for(topics: Topics) -> Callable[[CaseEvent], str]:
    """Which topic the streams would write an event to."""

    def choose(event: CaseEvent) -> str:
        if isinstance(event, CaseState):
            return topics.case_state
        if isinstance(event, PenaltyCaseRecorded | AgencyCaseOpened):
            return topics.case_events
        if isinstance(event, Alert):
            return topics.alerts
        if isinstance(event, UnitMonthlyStats):
            return topics.stats
        if isinstance(event, FeedbackUnmatched):
            return topics.unmatched
        if isinstance(event, ViewAction):
            return topics.view_actions
        raise TypeError(type(event).__name__)

    return choose


async def _produce(bootstrap: str, registry_url: str, events: list[CaseEvent],
                   choose: Callable[[CaseEvent], str]) -> None:
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(bootstrap, client_id="view-tests")
        await producer.start()
        try:
            for event in events:
                serialized = await serde.serialize(event)
                await producer.send(choose(event), value=serialized.value, key=serialized.key,
                                    headers=serialized.headers)
            await producer.flush()
        finally:
            await producer.stop()


def produce(bootstrap: str, registry_url: str, events: Iterable[CaseEvent],
            choose: Callable[[CaseEvent], str]) -> None:
    """Produce events (Confluent Avro + CloudEvents headers), each to its topic."""
    run_in_thread(_produce(bootstrap, registry_url, list(events), choose))


async def _read(bootstrap: str, registry_url: str, topic: str, expect: int,
                timeout: float) -> list[CaseEvent]:
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        # No group: every partition of the topic, from the beginning (earliest).
        consumer = make_consumer(bootstrap, topic, group_id=None)
        await consumer.start()
        try:
            events: list[CaseEvent] = []
            deadline = time.monotonic() + timeout
            while len(events) < expect and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for messages in batch.values():
                    for message in messages:
                        assert message.value is not None
                        events.append(await serde.decode(message.value))
            return events
        finally:
            await consumer.stop()


def read_events(bootstrap: str, registry_url: str, topic: str, *, expect: int,
                timeout: float = 30.0) -> list[CaseEvent]:
    """Decode the topic from the beginning until ``expect`` events arrived (or timeout)."""
    return run_in_thread(_read(bootstrap, registry_url, topic, expect, timeout))


def wait_for(condition: Callable[[], bool], *, timeout: float = 60.0,
             interval: float = 0.2) -> None:
    """Poll until the condition holds; the timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
