"""Court outcomes reach the referral's case: a real native worker with a real broker.

The court's export keys a judgment and its judicial recommendation by the court case
number under the court's code; the agency answers the recommendation on the referral's
case. Only once the matcher re-keys the court events to that case (by the referral number
the judgment's ``caseOrigin`` quotes) can the reply stop the recommendation's clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from hub.identity import case_id_for
from hub.models import (
    AgencyReplied,
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    CourtJudgment,
    FeedbackMatched,
    JudicialRecommendation,
    MatchMethod,
    PenaltyCaseRecorded,
)
from hub.models.examples import (
    EXAMPLE_AGENCY,
    EXAMPLE_COURT,
    EXAMPLE_POLICE,
)
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    headers_of,
    latest_state,
    produce_events,
    read_events_until,
    read_until,
)

pytestmark = pytest.mark.integration

RULE = "judicial-recommendation-unanswered"


def _reply_alerts(found: list[tuple[Any, CaseEvent]]) -> dict[str, Alert]:
    """The latest state of every judicial-recommendation clock alert, by alert id."""
    latest: dict[str, Alert] = {}
    for _, alert in found:
        if isinstance(alert, Alert) and alert.rule_id == RULE:
            latest[alert.alert_id] = alert
    return latest


async def test_court_events_join_the_referral_case_and_the_reply_stops_the_clock(
    example_county: StreamsDeployment,
) -> None:
    deployment = example_county
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    judgments_topic = topics.ingest(EXAMPLE_COURT, "judgments")
    recommendations_topic = topics.ingest(EXAMPLE_COURT, "judicial-recommendations")
    await deployment.create_topics([agency_topic, judgments_topic, recommendations_topic])
    deployment.start_worker("w1")

    referral: CaseReferred = example_of(CaseReferred)
    case_id = referral.case_id
    await produce_events(bootstrap, registry, agency_topic,
                         [example_of(PenaltyCaseRecorded), referral])
    await read_until(bootstrap, topics.inbox(EXAMPLE_POLICE), lambda records: any(
        headers_of(r).get("ce_type") == CaseReferred.avro_name.encode() for r in records))

    # What the court presets make of a judgment whose caseOrigin quotes the referral.
    court_case_id = case_id_for(EXAMPLE_COURT, "（2024）鄂示例刑初88号")
    origin = {"case_id": court_case_id, "referral_number": referral.referral_number,
              "police_case_number": "A4211810000002024030001"}
    judgment = example_of(CourtJudgment).model_copy(update={**origin, "verdict": "EXEMPTED"})
    answered = example_of(JudicialRecommendation).model_copy(update=origin)
    unanswered = answered.model_copy(update={
        "event_id": str(uuid.uuid4()), "recommendation_number": "（2024）鄂示例司建4号"})
    reply_at: datetime = answered.occurred_at + timedelta(days=15)
    reply = example_of(AgencyReplied).model_copy(update={
        "event_id": str(uuid.uuid4()), "occurred_at": reply_at, "recorded_at": reply_at,
        "in_reply_to_document_number": answered.recommendation_number,
        "addressed_to_unit_code": EXAMPLE_COURT})
    assert reply.case_id == case_id
    # The reply is on the bus first: produced after the court's events, a busy machine
    # let the worker match and judge the recommendation (due long ago) before the reply
    # existed, and its clock was raised, then resolved a moment later.
    await produce_events(bootstrap, registry, agency_topic, [reply])
    await produce_events(bootstrap, registry, judgments_topic, [judgment])
    await produce_events(bootstrap, registry, recommendations_topic, [answered, unanswered])

    # The matcher re-keys the three court events to the referral's case.
    court_ids = {judgment.event_id, answered.event_id, unanswered.event_id}
    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: {e.feedback_event_id for _, e in found
                       if isinstance(e, FeedbackMatched)} >= court_ids)
    matched = [e for _, e in found if isinstance(e, FeedbackMatched)]
    assert sorted(e.feedback_event_id for e in matched) == sorted(court_ids), \
        deployment.log_of("w1")
    assert {(e.case_id, e.original_case_id, e.method) for e in matched} == {
        (case_id, court_case_id, MatchMethod.REFERRAL_NUMBER)}

    # The case's clocks see them: the unanswered recommendation is overdue (wall time is
    # long past its due date) on the referral's case; the answered one's clock stopped.
    alerts = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: any(a.status is AlertStatus.RAISED
                          and a.trigger_event_id == unanswered.event_id
                          for a in _reply_alerts(found).values()), timeout_s=180)
    latest = _reply_alerts(alerts)
    raised = [a for a in latest.values() if a.status is AlertStatus.RAISED]
    assert [(a.case_id, a.kind, a.trigger_event_id) for a in raised] == [
        (case_id, AlertKind.REPLY_OVERDUE, unanswered.event_id)], deployment.log_of("w1")
    assert all(a.case_id == case_id for a in latest.values())

    states = await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: (state := latest_state(found, case_id)) is not None
        and court_ids <= {entry.event_id for entry in state.timeline})
    state = latest_state(states, case_id)
    assert state is not None and court_ids <= {e.event_id for e in state.timeline}
    assert latest_state(states, court_case_id) is None, "court events opened a phantom case"

    # The recommendations reach the agency once each (routed on first sight, not again
    # as the re-keyed copy).
    inbox = await read_until(
        bootstrap, topics.inbox(EXAMPLE_AGENCY),
        lambda records: sum(headers_of(r)["ce_type"]
                            == JudicialRecommendation.avro_name.encode()
                            for r in records) >= 2)
    delivered = [r for r in inbox
                 if headers_of(r)["ce_type"] == JudicialRecommendation.avro_name.encode()]
    assert len(delivered) == 2
