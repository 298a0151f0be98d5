"""Parked police feedback joins its referral's case in the batch that brings the referral.

The police's decision was read before the agency's referral: it waited out its grace
and was parked for a person. When the referral came, the batch evaluated the referral's
case without the decision (its re-keyed copy reached the case a batch or more later)
and raised "filing decision overdue", resolved as done in time a moment later: most of
the demo's "raised, then done in time" column. Real broker, registry and worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.identity import case_id_for
from hub.models import (
    AlertKind,
    CaseEvent,
    CaseReferred,
    CourtJudgment,
    FeedbackMatched,
    FeedbackUnmatched,
    FilingDecided,
    ReferralReceived,
)
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_COURT, EXAMPLE_POLICE
from streams.engine.matching import MATCH_GRACE_S
from tests.integration.test_source_progress import create_progress_topic, write_mark
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    fresh_referral,
    produce_events,
    read_events_until,
    wait_until_read,
)

pytestmark = pytest.mark.integration

RECEIVED = datetime(2024, 3, 8, 2, 0, tzinfo=UTC)


def _about(event_id: str, kind: type[CaseEvent]) -> Any:
    def found(events: list[tuple[Any, CaseEvent]]) -> bool:
        return any(isinstance(event, kind) and getattr(event, "feedback_event_id", None)
                   == event_id for _, event in events)
    return found


def _case() -> tuple[CaseReferred, ReferralReceived, FilingDecided]:
    """A referral entered in the agency's system weeks after it was sent (so its case is
    judged as of then, past every deadline of the referral), the police's receipt the
    next day, and the police's decision the day after: both in time."""
    referral, number = fresh_referral(occurred_at=RECEIVED - timedelta(hours=12),
                                      recorded_at=RECEIVED + timedelta(days=40))
    case_id = referral.case_id
    receipt = example_of(ReferralReceived).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id,
        "referral_number": referral.referral_number, "referring_unit_code": EXAMPLE_AGENCY,
        "occurred_at": RECEIVED, "recorded_at": RECEIVED + timedelta(hours=1)})
    police_number = f"A42118100000020242{number:05d}"
    decision = example_of(FilingDecided).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id_for(EXAMPLE_POLICE, police_number),
        "referral_number": referral.referral_number, "agency_decision_number": None,
        "referring_unit_code": None, "police_case_number": police_number, "parties": [],
        "occurred_at": RECEIVED + timedelta(days=1),
        "recorded_at": RECEIVED + timedelta(days=1, hours=1)})
    return referral, receipt, decision


async def test_a_referral_takes_its_parked_decision_before_its_clocks_are_judged(
    example_county: StreamsDeployment,
) -> None:
    deployment = example_county
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    agency, police = topics.ingest(EXAMPLE_AGENCY, "cases"), \
        topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([agency, police])
    deployment.start_worker("w1")
    referral, receipt, decision = _case()
    # The police's export first: the decision waits out its grace and is parked; the
    # receipt waits for the case it names.
    await produce_events(bootstrap, registry, police, [decision, receipt])
    parked = await read_events_until(bootstrap, registry, topics.unmatched,
                                     _about(decision.event_id, FeedbackUnmatched),
                                     timeout_s=90)
    assert _about(decision.event_id, FeedbackUnmatched)(parked), deployment.log_of("w1")
    # Then the agency's referral: the receipt starts the 3-day clock, the decision stops
    # it, in the same batch.
    await produce_events(bootstrap, registry, agency, [referral])
    matched = await read_events_until(bootstrap, registry, topics.case_events,
                                      _about(decision.event_id, FeedbackMatched),
                                      timeout_s=90)
    [link] = [e for _, e in matched if isinstance(e, FeedbackMatched)
              and e.feedback_event_id == decision.event_id]
    assert link.case_id == referral.case_id



    def alerts_of(events: list[tuple[Any, CaseEvent]], kind: AlertKind) -> list[Any]:
        return [e for _, e in events if getattr(e, "case_id", None) == referral.case_id
                and getattr(e, "kind", None) is kind]

    # The case was judged as of its referral's entry, weeks past the deadlines: the
    # agency's own hand-over is overdue (nothing in this test hands it over) ...
    alerts = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda events: bool(alerts_of(events, AlertKind.HANDOVER_OVERDUE)), timeout_s=60)
    assert alerts_of(alerts, AlertKind.HANDOVER_OVERDUE), deployment.log_of("w1")
    # ... but the police's receipt and decision were parked and joined the case before it
    # was judged: no "receipt missing", no "filing decision overdue", not even for a
    # moment (before, both were raised and then resolved as done in time).
    for kind in (AlertKind.ACKNOWLEDGEMENT_OVERDUE, AlertKind.FILING_DECISION_OVERDUE):
        assert alerts_of(alerts, kind) == [], [(e.status, e.details)
                                               for e in alerts_of(alerts, kind)]


async def test_a_judgment_released_with_the_police_decision_it_depends_on_is_not_parked(
    example_county: StreamsDeployment,
) -> None:
    """A court's judgment quotes only the police case number; the index links that number
    to the referral's case when the police's decision matches. Both were read before the
    referral and held; the agency's connector had not finished its pass, so their graces
    ended together when it had. The judgment, tried first, was parked for a person and
    resolved by the next re-match pass a moment later (an "unmatched feedback" alert a
    prosecutor read for nothing). Now the round matches the decision first."""
    deployment = example_county
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    agency, police = topics.ingest(EXAMPLE_AGENCY, "cases"), \
        topics.ingest(EXAMPLE_POLICE, "feedback")
    court = topics.ingest(EXAMPLE_COURT, "judgments")
    await create_progress_topic(deployment, EXAMPLE_AGENCY)
    await deployment.create_topics([agency, police, court])
    deployment.env["LIANGFA_ENGINE_SOURCE_STALE_S"] = "600"
    await write_mark(deployment, EXAMPLE_AGENCY, running=True, read_to_end_at=None)
    deployment.start_worker("w1")
    referral, _, decision = _case()
    judgment = example_of(CourtJudgment).model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_COURT, f"（2025）鄂示例刑初{uuid.uuid4().int % 999}号"),
        "referral_number": None, "police_case_number": decision.police_case_number,
        "verdict": "EXEMPTED"})
    # Each read in a batch of its own, so that no batch holds the decision's case and
    # the referral together (that batch would match the decision at once).
    for topic, event in ((court, judgment), (police, decision), (agency, referral)):
        await produce_events(bootstrap, registry, topic, [event])
        await wait_until_read(deployment, topic)
    # Both graces are over by the clock; nothing is judged while the agency's
    # connector has not finished its pass.
    await asyncio.sleep(MATCH_GRACE_S + 1)
    early = await read_events_until(bootstrap, registry, topics.unmatched,
                                    lambda _: False, timeout_s=1)
    assert not early
    # The agency's pass is read to the end: the two graces end in one round.
    await write_mark(deployment, EXAMPLE_AGENCY, running=True, read_to_end_at=time.time())
    matched = await read_events_until(bootstrap, registry, topics.case_events,
                                      _about(judgment.event_id, FeedbackMatched),
                                      timeout_s=90)
    links = {e.feedback_event_id: e.case_id for _, e in matched
             if isinstance(e, FeedbackMatched)}
    assert links.get(judgment.event_id) == referral.case_id, deployment.log_of("w1")
    assert links.get(decision.event_id) == referral.case_id
    parked = await read_events_until(bootstrap, registry, topics.unmatched,
                                     lambda _: False, timeout_s=3)
    assert not [e for _, e in parked if isinstance(e, FeedbackUnmatched)], \
        [(type(e).__name__, getattr(e, "feedback_event_id", None)) for _, e in parked]
