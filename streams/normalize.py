"""Normalize: ``lf.ingest.<unit>.<stream>`` → ``lf.case-events``, checked and deduplicated.

Two checks happen here and nowhere else. The declared ``source_unit`` must be the unit
whose ingest prefix the record arrived on: a unit's principal may write only there, so a
mismatch means one unit speaks for another (a security finding, counted in
``liangfa_streams_source_mismatch_total`` and dead-lettered). And an ``event_id`` seen
before is dropped: connectors re-read exports, and deterministic event ids make the
re-read harmless here.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from hub.errors import RecordRejected
from streams.metrics import DUPLICATES, SOURCE_MISMATCH
from streams.safety import RawRecord

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["PROCESSOR", "register"]

log = logging.getLogger(__name__)

PROCESSOR = "normalize"


def register(runtime: Runtime) -> None:
    """Add the normalize agent (when ingest topics exist) and its seen-event table."""
    topics = runtime.topics
    seen = runtime.table("normalize-seen")
    guard = runtime.guard(PROCESSOR)

    async def handle(record: RawRecord) -> None:
        event = await runtime.decode(record)
        topic_unit = topics.ingest_unit(record.topic)
        if topic_unit is not None and event.source_unit != topic_unit:
            SOURCE_MISMATCH.labels(topic_unit).inc()
            raise RecordRejected(
                f"event declares source unit {event.source_unit} but arrived on "
                f"{record.topic}, the ingest topic of unit {topic_unit}",
                field="source_unit", value=event.source_unit, error_type="source-mismatch",
            )
        if seen.get(event.event_id) is not None:
            DUPLICATES.labels(PROCESSOR).inc()
            return
        await runtime.forward(topics.case_events, record, event)
        seen[event.event_id] = record.offset

    async def normalize(stream: Any) -> None:
        async for event in stream.events():
            record = RawRecord.from_event(event)
            await guard.run(record, functools.partial(handle, record))

    if not runtime.ingest_topics:
        return
    log.info("normalize reads %d ingest topics", len(runtime.ingest_topics))
    runtime.app.agent(runtime.source_topic(*runtime.ingest_topics), name=PROCESSOR,
                      concurrency=1)(normalize)
