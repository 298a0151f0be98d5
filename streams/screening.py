"""Screening: penalty cases that look criminal and were not referred (有案不移 / 以罚代刑).

:mod:`streams.screening_logic` compares a penalty's amounts with the filing threshold of
its offence: early-intervention candidates are raised at once, suspected non-referrals
once the no-referral window has passed; a referral withdraws both. Leads go to
``lf.alerts`` and to the procuratorate's inbox. Like the deadline monitor, per-case state
remembers what was emitted, and the window's end is checked by the shared tick topic.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.models import AlertStatus, CaseEvent, CaseReferred, PenaltyCaseRecorded
from streams._alerts import snapshot_of
from streams.metrics import DUPLICATES
from streams.safety import RawRecord
from streams.screening_logic import PROCESSOR, ScreeningRules, screen_case

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["PROCESSOR", "register"]

log = logging.getLogger(__name__)

_SCREENED = (PenaltyCaseRecorded, CaseReferred)


def register(runtime: Runtime) -> None:
    """Add the screening agent (case events + its ticks), table and sweep timer."""
    from streams.app import decode_stored, dumps_json, stored_form

    topics = runtime.topics
    rules = runtime.rules
    screening_rules = ScreeningRules(
        thresholds=rules.thresholds, violation_types=rules.violation_types,
        violation_offences=rules.violation_offences, screening=rules.screening,
    )
    cases = runtime.table("screening-seen")
    procuratorate_inbox = topics.inbox(runtime.settings.hub_unit_code)

    async def evaluate(case_id: str, stored: dict[str, Any], now: datetime,
                       events: list[CaseEvent] | None = None) -> None:
        if events is None:
            events = decode_stored(stored["events"])
        result = screen_case(events, now, rules=screening_rules,
                             hub_unit_code=runtime.settings.hub_unit_code)
        emitted: dict[str, str] = stored["emitted"]
        for alert in result.changes(emitted):
            await runtime.send_event(topics.alerts, alert)
            if alert.status is AlertStatus.RAISED:
                await runtime.send_event(procuratorate_inbox, alert)
            emitted[alert.alert_id] = snapshot_of(alert)
        stored["next_check"] = (result.next_check_at.isoformat()
                                if result.next_check_at else None)
        cases[case_id] = stored

    async def handle(record: RawRecord) -> None:
        if record.topic == topics.deadline_ticks:
            tick = json.loads(record.value or b"{}")
            if tick.get("processor") != PROCESSOR:
                return
            stored = cases.get(str(tick.get("case_id")))
            now = datetime.now(UTC)
            if stored and stored.get("next_check") and (
                    datetime.fromisoformat(stored["next_check"]) <= now):
                await evaluate(str(tick["case_id"]), stored, now)
            return
        event = await runtime.decode(record)
        if not isinstance(event, _SCREENED):
            return
        stored = cases.get(event.case_id) or {"events": [], "emitted": {}, "next_check": None}
        if any(item[0] == event.event_id for item in stored["events"]):
            DUPLICATES.labels(PROCESSOR).inc()
            return
        stored["events"].append(stored_form(event))
        events = [*decode_stored(stored["events"][:-1]), event]
        latest = max(max(e.occurred_at, e.recorded_at) for e in events)
        await evaluate(event.case_id, stored, latest, events)

    async def sweep() -> None:
        now = datetime.now(UTC)
        for case_id, stored in cases.items():
            if stored and stored.get("next_check") and (
                    datetime.fromisoformat(stored["next_check"]) <= now):
                await runtime.produce(topics.deadline_ticks, case_id.encode(), dumps_json(
                    {"case_id": case_id, "at": now.isoformat(), "processor": PROCESSOR}), [])

    runtime.add_agent(PROCESSOR, [topics.case_events, topics.deadline_ticks], handle)
    runtime.app.timer(runtime.settings.deadline_tick_interval_s, on_leader=False)(sweep)
