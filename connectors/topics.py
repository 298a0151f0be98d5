"""The topics a connector writes, created before its first session.

A connector is often started with its host, before the broker answers: creating its
topics is retried with backoff until it succeeds or the connector is told to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.errors import KafkaError

from hub.config import KafkaSecurity
from hub.errors import FatalError, RetriableError
from hub.topics import apply_topics, load_manifest

__all__ = ["BACKOFF_MAX", "BACKOFF_START", "ensure_topics"]

log = logging.getLogger(__name__)

#: First wait before a retry, doubled each time up to :data:`BACKOFF_MAX` (seconds).
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


async def ensure_topics(bootstrap: str, topics: list[str], *, security: KafkaSecurity | None,
                        stopping: asyncio.Event, who: str) -> None:
    """Apply the manifest's specs of ``topics``, retrying while the broker is not up.

    ``who`` names the connector in the log; a stop requested meanwhile ends the wait
    with a :class:`~hub.errors.FatalError`.
    """
    manifest = load_manifest()
    backoff = BACKOFF_START
    while True:
        try:
            await apply_topics(bootstrap, [manifest.spec_for(topic) for topic in topics],
                               security=security)
            return
        except (RetriableError, KafkaError, OSError) as exc:
            if stopping.is_set():
                raise FatalError(f"{who}: stopped before its topics could be created"
                                 ) from exc
            log.warning("%s: cannot create topics yet (%s); retrying in %.1fs",
                        who, exc, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
