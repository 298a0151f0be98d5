"""Session-wide real Kafka broker and schema registry; a fresh topic and group per test.

One stack per test session (starting the JVMs costs ~15 s): under ``make test``'s two
pytest-xdist processes, one per process, on free ports under its own temporary home. With
``LIANGFA_BOOTSTRAP`` and ``LIANGFA_REGISTRY_URL`` set, the tests use that running stack
instead (every process shares it: each test makes its own topics and groups).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hub.local import LocalStack
from hub.local.processes import free_port
from hub.local.stack import StackPorts
from hub.topics import TopicSpec, apply_topics
from tests.support.browser import browser_page  # noqa: F401 - session fixture, shared
from tests.support.postgres import postgres_url  # noqa: F401 - session fixture, shared
from tests.support.view_store import (  # noqa: F401 - fixtures, shared
    view_database_url,
    view_store,
)

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class StackEndpoints:
    bootstrap: str
    registry_url: str
    home: Path | None


def start_private_stack(home: Path) -> LocalStack:
    """A stack on free ports under ``home`` (used by the session and by lifecycle tests)."""
    stack = LocalStack(home, StackPorts(kafka=free_port(), controller=free_port(),
                                        registry=free_port()))
    stack.up()
    return stack


@pytest.fixture(scope="session")
def stack_endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackEndpoints]:
    bootstrap = os.environ.get("LIANGFA_BOOTSTRAP")
    registry = os.environ.get("LIANGFA_REGISTRY_URL")
    if bootstrap and registry:
        yield StackEndpoints(bootstrap, registry, None)
        return
    home = tmp_path_factory.mktemp("stack")
    stack = start_private_stack(home)
    try:
        yield StackEndpoints(stack.bootstrap, stack.registry_url, home)
    finally:
        stack.down()


@pytest.fixture(scope="session")
def bootstrap(stack_endpoints: StackEndpoints) -> str:
    return stack_endpoints.bootstrap


@pytest.fixture(scope="session")
def registry_url(stack_endpoints: StackEndpoints) -> str:
    return stack_endpoints.registry_url


@pytest.fixture
def topic_factory(bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Create a fresh real topic per call: ``topic_factory(prefix, partitions, compacted)``."""
    test_name = request.node.name.split("[")[0][-40:]

    def make(prefix: str = "t", partitions: int = 1, compacted: bool = False) -> str:
        name = f"{prefix}.{test_name}.{uuid.uuid4().hex[:8]}"
        spec = TopicSpec(name=name, partitions=partitions,
                         cleanup_policy="compact" if compacted else "delete")
        run_sync(apply_topics(bootstrap, [spec]))
        return name

    return make


@pytest.fixture
def group_id(request: pytest.FixtureRequest) -> str:
    return f"g.{request.node.name.split('[')[0][-40:]}.{uuid.uuid4().hex[:8]}"
