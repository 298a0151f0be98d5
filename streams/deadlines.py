"""Deadlines: each case's legal clocks, in event time, plus a timer for clocks that run out.

Per case the table keeps the case's events, the alerts already emitted (id → status and
severity) and when the case next needs a look. An arriving event is evaluated at the
latest legal time the case knows (a backfill of last year yields last year's lateness);
:mod:`streams.deadline_logic` decides, and only changes are emitted.

Clocks that run out while nothing arrives need wall time. Timers run on every worker, so
the sweep reads only this worker's active table partitions and, instead of writing the
table from outside an agent (faust ties each write to the partition of the event being
processed), sends a tick keyed by case id to an internal topic co-partitioned with the
case events. The tick is handled by the same agent, on the partition's owner, in order
with the case's events: alert ids are deterministic and emitted states are remembered,
so neither a repeated tick nor a second worker ever raises an alert twice.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.models import (
    Alert,
    AuditRecorded,
    CaseEvent,
    CaseState,
    FeedbackUnmatched,
    UnitMonthlyStats,
    ViewAction,
)
from streams._alerts import snapshot_of
from streams.deadline_logic import PROCESSOR, evaluate_case
from streams.metrics import DUPLICATES
from streams.safety import RawRecord

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["PROCESSOR", "register"]

log = logging.getLogger(__name__)

_NOT_CASE_EVENTS = (Alert, CaseState, UnitMonthlyStats, FeedbackUnmatched, ViewAction,
                    AuditRecorded)


def _latest_legal_time(events: list[CaseEvent]) -> datetime:
    return max(max(event.occurred_at, event.recorded_at) for event in events)


def register(runtime: Runtime) -> None:
    """Add the deadline agent (case events + ticks), its table and the sweep timer."""
    from streams.app import decode_stored, dumps_json, stored_form

    topics = runtime.topics
    rules = runtime.rules
    clocks = runtime.table("deadlines-clocks")

    async def evaluate(case_id: str, stored: dict[str, Any], now: datetime,
                       events: list[CaseEvent] | None = None) -> None:
        if events is None:
            events = decode_stored(stored["events"])
        result = evaluate_case(
            events, now, rules=rules.deadlines, thresholds=rules.thresholds,
            hub_unit_code=runtime.settings.hub_unit_code,
            violation_offences=rules.violation_offences,
        )
        emitted: dict[str, str] = stored["emitted"]
        for alert in result.changes(emitted):
            await runtime.send_event(topics.alerts, alert)
            emitted[alert.alert_id] = snapshot_of(alert)
        stored["next_check"] = (result.next_check_at.isoformat()
                                if result.next_check_at else None)
        clocks[case_id] = stored

    async def on_tick(record: RawRecord) -> None:
        tick = json.loads(record.value or b"{}")
        if tick.get("processor", PROCESSOR) != PROCESSOR:
            return
        case_id = str(tick.get("case_id", ""))
        stored = clocks.get(case_id)
        now = datetime.now(UTC)
        if stored is None or stored.get("next_check") is None:
            return
        if datetime.fromisoformat(stored["next_check"]) > now:
            return  # a stale tick: the case was re-evaluated since
        await evaluate(case_id, stored, now)

    async def handle(record: RawRecord) -> None:
        if record.topic == topics.deadline_ticks:
            await on_tick(record)
            return
        event = await runtime.decode(record)
        if isinstance(event, _NOT_CASE_EVENTS):
            return
        stored = clocks.get(event.case_id)
        if not runtime.accepts(record, event, stored is not None):
            return
        if stored is None:
            stored = {"events": [], "emitted": {}, "next_check": None}
        if any(item[0] == event.event_id for item in stored["events"]):
            DUPLICATES.labels(PROCESSOR).inc()
            return
        stored["events"].append(stored_form(event))
        events = decode_stored(stored["events"][:-1])
        events.append(event)
        await evaluate(event.case_id, stored, _latest_legal_time(events), events)

    async def sweep() -> None:
        """Tick every local case whose next check is due (active partitions only)."""
        now = datetime.now(UTC)
        due = [case_id for case_id, stored in clocks.items()
               if stored and stored.get("next_check")
               and datetime.fromisoformat(stored["next_check"]) <= now]
        for case_id in due:
            await runtime.produce(topics.deadline_ticks, case_id.encode(),
                                  dumps_json({"case_id": case_id, "at": now.isoformat(),
                                              "processor": PROCESSOR}), [])
        if due:
            log.info("deadline sweep: %d cases due", len(due))

    runtime.add_agent(PROCESSOR, [topics.case_events, topics.deadline_ticks], handle)
    runtime.app.timer(runtime.settings.deadline_tick_interval_s, on_leader=False)(sweep)
