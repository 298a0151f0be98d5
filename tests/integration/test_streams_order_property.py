"""The same case histories give the same outcome in any source order, on one worker or two.

Agencies and police export on their own schedules, and a province's backfill reads years
of exports in whatever order the files arrive. The hub's answer must not depend on it:
the same histories, fed once in source order to one worker and once shuffled (police
first, each source in random order) to two workers sharing the partitions, must end with
the same open alerts, the same late acts and the same final state of every case.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.identity import case_id_for
from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseState,
    FilingDecided,
    ReferralReceived,
)
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE
from streams.bench_load import bench_events
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    produce_events,
    read_events_until,
    settle,
    write_example_units,
)

pytestmark = pytest.mark.integration

CASES = 24


def _histories() -> list[list[CaseEvent]]:
    """Cases of penalty → referral → receipt → filing decision, varied: every second
    police decision quotes only the police's own case id and the referral letter (the
    matcher must find the case); every third case has no receipt, every fifth no
    decision (clocks that stay open)."""
    events = list(bench_events(CASES * 4))
    histories = [events[start:start + 4] for start in range(0, len(events), 4)]
    varied = []
    for number, history in enumerate(histories):
        kept: list[CaseEvent] = []
        for event in history:
            if isinstance(event, ReferralReceived) and number % 3 == 0:
                continue
            if isinstance(event, FilingDecided):
                if number % 5 == 0:
                    continue
                if number % 2:
                    event = event.model_copy(update={
                        "case_id": case_id_for(EXAMPLE_POLICE, event.police_case_number or ""),
                        "referring_unit_code": None, "agency_decision_number": None})
            kept.append(event)
        varied.append(kept)
    return varied


def _source(event: CaseEvent) -> str:
    return "police" if event.source_unit == EXAMPLE_POLICE else "agency"


async def _run(deployment: StreamsDeployment, workers: int,
               order: Callable[[list[CaseEvent]], list[CaseEvent]],
               histories: list[list[CaseEvent]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Feed the histories; the final outcome per alert and the final state per case."""
    topics = deployment.topics
    ingest = {"agency": topics.ingest(EXAMPLE_AGENCY, "cases"),
              "police": topics.ingest(EXAMPLE_POLICE, "feedback")}
    await deployment.create_topics(ingest.values())
    for number in range(workers):
        deployment.start_worker(f"w{number + 1}")
    for event in order([event for history in histories for event in history]):
        await produce_events(deployment.bootstrap, deployment.registry_url,
                             ingest[_source(event)], [event])
    expected = {history[0].case_id: {e.event_id for e in history} for history in histories}

    def settled(found: list[tuple[Any, CaseEvent]]) -> bool:
        latest: dict[str, CaseState] = {}
        for _, event in found:
            if isinstance(event, CaseState):
                latest[event.case_id] = event
        return all(case_id in latest
                   and {entry.event_id for entry in latest[case_id].timeline} >= event_ids
                   for case_id, event_ids in expected.items())

    states = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                     topics.case_state, settled, timeout_s=300)
    assert settled(states), deployment.log_of("w1")
    await settle(4)  # the sweeps of every worker have run over the final states
    alerts = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                     topics.alerts, lambda found: False, timeout_s=4)
    final_alerts: dict[str, Alert] = {}
    for _, alert in alerts:
        if isinstance(alert, Alert) and alert.kind is not AlertKind.UNMATCHED_FEEDBACK:
            final_alerts[alert.alert_id] = alert  # the feedback order itself is the point
    final_states: dict[str, str] = {}
    states = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                     topics.case_state, lambda found: False, timeout_s=4)
    for _, state in states:
        if isinstance(state, CaseState) and state.case_id in expected:
            final_states[state.case_id] = state.event_id  # a digest of the whole state
    return final_alerts, final_states


def _outcome(alerts: dict[str, Alert]) -> dict[str, tuple[str, str | None]]:
    """What a prosecutor sees: every alert still open, and every act done late."""
    return {alert_id: (alert.status.value, alert.details.get("late"))
            for alert_id, alert in alerts.items()
            if alert.status is not AlertStatus.RESOLVED
            or alert.details.get("late") in ("true", "True", True)}


async def test_shuffled_sources_on_two_workers_end_like_source_order_on_one(
        bootstrap: str, registry_url: str, tmp_path: Path) -> None:
    histories = _histories()

    def in_order(events: list[CaseEvent]) -> list[CaseEvent]:
        return events

    def shuffled(events: list[CaseEvent]) -> list[CaseEvent]:
        police = [e for e in events if _source(e) == "police"]
        agency = [e for e in events if _source(e) == "agency"]
        rng = random.Random(20261204)
        rng.shuffle(police)
        rng.shuffle(agency)
        return police + agency

    outcomes = []
    for name, workers, order in (("ordered", 1, in_order), ("shuffled", 2, shuffled)):
        directory = tmp_path / name
        directory.mkdir()
        deployment = StreamsDeployment(bootstrap, registry_url, directory)
        deployment.units_file = write_example_units(directory)
        deployment.hub_unit = "11421181MB00000039"
        try:
            outcomes.append(await _run(deployment, workers, order, histories))
        finally:
            deployment.stop_all()
    (alerts_a, states_a), (alerts_b, states_b) = outcomes
    assert _outcome(alerts_a), "the histories were meant to leave clocks open"
    outcome_a, outcome_b = _outcome(alerts_a), _outcome(alerts_b)
    assert outcome_a == outcome_b, {
        alert_id: (outcome_a.get(alert_id), outcome_b.get(alert_id),
                   (alerts_a.get(alert_id) or alerts_b[alert_id]).rule_id)
        for alert_id in set(outcome_a) ^ set(outcome_b)
        | {a for a in set(outcome_a) & set(outcome_b) if outcome_a[a] != outcome_b[a]}}
    assert len(states_a) == CASES
    assert states_a == states_b, sorted(case_id for case_id in states_a
                                        if states_a[case_id] != states_b.get(case_id))
