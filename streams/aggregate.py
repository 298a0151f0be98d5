"""Aggregate: every case's events folded into one CaseState on ``lf.case-state`` (compacted).

Reads the case events, the alerts (for the open-alert list) and the view's actions (an
alert resolved by a person), all keyed by case id and so co-partitioned; the fold itself
is :mod:`streams.aggregate_logic`. State lives per case in a RocksDB table; an event id
already folded in changes nothing and emits nothing (at-least-once replays).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from streams.aggregate_logic import PROCESSOR, CaseAggregate
from streams.metrics import DUPLICATES
from streams.safety import RawRecord

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["PROCESSOR", "register"]

log = logging.getLogger(__name__)


def register(runtime: Runtime) -> None:
    """Add the aggregate agent and its per-case table."""
    topics = runtime.topics
    cases = runtime.table("aggregate-cases")

    async def handle(record: RawRecord) -> None:
        event = await runtime.decode(record)
        stored = cases.get(event.case_id)
        if not runtime.accepts(record, event, stored is not None):
            return
        aggregate = (CaseAggregate.from_dict(stored) if stored is not None
                     else CaseAggregate(event.case_id))
        if not aggregate.apply(event):
            DUPLICATES.labels(PROCESSOR).inc()
            return
        cases[event.case_id] = aggregate.to_dict()
        state = aggregate.to_case_state(hub_unit_code=runtime.settings.hub_unit_code,
                                        now=datetime.now(UTC))
        await runtime.send_event(topics.case_state, state)

    runtime.add_agent(PROCESSOR, [topics.case_events, topics.alerts, topics.view_actions],
                      handle)
