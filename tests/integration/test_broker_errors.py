"""``liangfa_broker_errors_total`` (issue #15, item 1): both client families of hub.kafka
count their errors by component and kind — an aiokafka send the broker client refuses (a
record over the producer's request size) and librdkafka's error callback when no broker
answers."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError
from prometheus_client import REGISTRY

from hub.kafka import component_of, make_engine_producer, make_producer
from tests.conftest import run_sync


def _count(component: str, kind: str) -> float:
    value = REGISTRY.get_sample_value("liangfa_broker_errors_total",
                                      {"component": component, "kind": kind})
    return value or 0.0


def test_a_failed_aiokafka_send_is_counted(bootstrap: str,
                                           topic_factory: Callable[..., str]) -> None:
    topic = topic_factory("broker-errors")
    assert component_of("connector-demo-csv") == "connector"
    assert component_of("liangfa-view") == "view"
    before = _count("connector", "message_size_too_large")

    async def send_too_big() -> None:
        producer = make_producer(bootstrap, client_id="connector-demo-csv",
                                 max_request_size=1024)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"x" * 4096)
        finally:
            await producer.stop()

    try:
        run_sync(send_too_big())
    except MessageSizeTooLargeError:
        pass
    else:
        raise AssertionError("a 4 KiB record passed a 1 KiB request limit")
    assert _count("connector", "message_size_too_large") == before + 1


def test_librdkafka_errors_are_counted_when_no_broker_answers() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    before = _count("streams", "all_brokers_down")
    backoff: dict[str, Any] = {"reconnect.backoff.ms": 50}
    producer = make_engine_producer(f"127.0.0.1:{port}", client_id="worker-test", **backoff)
    for _ in range(200):
        producer.poll(0.1)
        if _count("streams", "all_brokers_down") > before:
            break
    assert _count("streams", "all_brokers_down") > before
