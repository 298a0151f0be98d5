"""A real view server (uvicorn in a thread) wired to fresh Kafka topics, for browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from hub.models import CaseEvent
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import Topics, ViewSettings
from tests.support.kafka_io import produce, topic_for, wait_for

__all__ = ["LiveView", "live_view_server", "view_topics"]


@dataclass
class LiveView:
    """A running view: its URL, its settings and its in-process context."""

    url: str
    settings: ViewSettings
    context: ViewContext


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def view_topics(topic_factory: Callable[..., str]) -> Topics:
    """Fresh topics for every input and output of the view."""
    return Topics(
        case_state=topic_factory("view.state", partitions=2, compacted=True),
        case_events=topic_factory("view.events", partitions=2),
        alerts=topic_factory("view.alerts", partitions=2),
        stats=topic_factory("view.stats"),
        unmatched=topic_factory("view.unmatched"),
        view_actions=topic_factory("view.actions"),
        audit=topic_factory("view.audit"),
    )


@contextmanager
def live_view_server(
    directory: Path,
    *,
    bootstrap: str,
    registry_url: str,
    topics: Topics,
    group_id: str,
    events: list[CaseEvent],
    demo_unit_codes: list[str],
) -> Iterator[LiveView]:
    """Produce ``events`` to the bus, start the view, wait until it has applied them."""
    produce(bootstrap, registry_url, events, topic_for(topics))
    settings = ViewSettings(
        database_url=f"sqlite:///{directory / 'view.sqlite3'}",
        bootstrap=bootstrap,
        registry_url=registry_url,
        topics=topics,
        group_id=group_id,
        seed_demo_users=True,
        demo_unit_codes=demo_unit_codes,
    )
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-view", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: server.started, timeout=60)
        context: ViewContext = app.state.view

        def caught_up() -> bool:
            bus = context.bus
            return bus is not None and bus.caught_up.is_set()

        wait_for(caught_up, timeout=120)
        assert httpx.get(f"{url}/healthz", timeout=10).text == "ok"
        yield LiveView(url=url, settings=settings, context=context)
    finally:
        server.should_exit = True
        deadline = time.monotonic() + 30
        while thread.is_alive() and time.monotonic() < deadline:
            thread.join(timeout=0.5)
