"""Routing: referrals, leads, consultations and invitations to the inboxes that must act.

:mod:`streams.routing_logic` decides the destinations from the unit registry and
``routing.yaml``; this agent delivers the event's original bytes to each
``lf.inbox.<unit>`` (the procuratorate's copy included) and turns an unroutable event
into an Alert on ``lf.alerts``: nothing that should reach someone is dropped silently.
Deliveries are deduplicated by event id, so a replay never fills an inbox twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from streams.metrics import DUPLICATES
from streams.routing_logic import PROCESSOR, route_event, unroutable_alert
from streams.safety import RawRecord

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["PROCESSOR", "register"]

log = logging.getLogger(__name__)


def register(runtime: Runtime) -> None:
    """Add the routing agent and its table of delivered event ids."""
    topics = runtime.topics
    delivered = runtime.table("routing-seen")

    async def handle(record: RawRecord) -> None:
        event = await runtime.decode(record)
        if delivered.get(event.event_id) is not None:
            DUPLICATES.labels(PROCESSOR).inc()
            return
        route = route_event(event, runtime.units, runtime.rules.routing,
                            runtime.rules.thresholds)
        for unit_code in route.destinations:
            await runtime.forward(topics.inbox(unit_code), record, event)
        if route.unroutable is not None:
            alert = unroutable_alert(route, event, hub_unit_code=runtime.settings.hub_unit_code,
                                     now=datetime.now(UTC))
            await runtime.send_event(topics.alerts, alert)
        if route.destinations or route.unroutable is not None:
            delivered[event.event_id] = list(route.destinations)

    runtime.add_agent(PROCESSOR, [topics.case_events], handle)
