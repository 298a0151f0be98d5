"""Schema registry failures are counted (``liangfa_registry_errors_total``), each try,
so a flapping registry shows on the dashboards and in LiangfaRegistryErrors before
anything stops. A refused connection needs no registry at all."""

from __future__ import annotations

import socket

import pytest
from prometheus_client import REGISTRY

from hub.errors import RetriableError
from hub.registry import RetryPolicy, SchemaRegistryClient


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


async def test_every_failed_try_is_counted() -> None:
    before = REGISTRY.get_sample_value("liangfa_registry_errors_total",
                                       {"error": "connection"}) or 0.0
    client = SchemaRegistryClient(f"http://127.0.0.1:{_closed_port()}",
                                  retry=RetryPolicy(attempts=3, initial_delay=0.01))
    async with client:
        with pytest.raises(RetriableError, match="schema registry unavailable"):
            await client.subjects()
    after = REGISTRY.get_sample_value("liangfa_registry_errors_total", {"error": "connection"})
    assert after == before + 3
