"""Judicial recommendation after an acquittal (issue #13, item 6) through the real engine,
on the real broker: a referred case the agency never penalised is acquitted; the hub
raises the recommendation to the agency's inbox, its reply clock runs (wall time is long
past its due date) and the agency's answer quoting it stops it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from hub.identity import case_id_for
from hub.models import (
    AgencyReplied,
    Alert,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    CourtJudgment,
    JudicialRecommendation,
)
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_COURT, EXAMPLE_PROCURATORATE
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    produce_events,
    read_events_until,
)

pytestmark = pytest.mark.integration

RULE = "raised-judicial-recommendation-unanswered"


def _clock(found: list[tuple[Any, CaseEvent]], trigger: str) -> AlertStatus | None:
    """The latest status of the recommendation's reply clock."""
    status = None
    for _, alert in found:
        if (isinstance(alert, Alert) and alert.rule_id == RULE
                and alert.trigger_event_id == trigger):
            status = alert.status
    return status


async def test_an_acquittal_raises_the_recommendation_its_clock_and_the_answer_stops_it(
        example_county: StreamsDeployment) -> None:
    deployment = example_county
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    judgments_topic = topics.ingest(EXAMPLE_COURT, "judgments")
    await deployment.create_topics([agency_topic, judgments_topic])
    deployment.start_worker("w1")

    referral: CaseReferred = example_of(CaseReferred)  # no penalty on the case
    await produce_events(bootstrap, registry, agency_topic, [referral])
    court_case_id = case_id_for(EXAMPLE_COURT, "（2024）鄂示例刑初91号")
    judgment = example_of(CourtJudgment).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": court_case_id, "verdict": "ACQUITTED",
        "referral_number": referral.referral_number})
    await produce_events(bootstrap, registry, judgments_topic, [judgment])

    # The hub's act reaches the agency's inbox, sent by the hub, on the referral's case.
    inbox = await read_events_until(
        bootstrap, registry, topics.inbox(EXAMPLE_AGENCY),
        lambda found: any(isinstance(e, JudicialRecommendation) for _, e in found))
    raised = [e for _, e in inbox if isinstance(e, JudicialRecommendation)]
    assert len(raised) == 1, deployment.log_of("w1")
    act = raised[0]
    assert (act.case_id, act.source_unit, act.target_unit_code) == (
        referral.case_id, EXAMPLE_PROCURATORATE, EXAMPLE_AGENCY)
    assert act.court_case_number == judgment.court_case_number

    alerts = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: _clock(found, act.event_id) is AlertStatus.RAISED, timeout_s=180)
    assert _clock(alerts, act.event_id) is AlertStatus.RAISED, deployment.log_of("w1")

    answered_at = act.occurred_at + timedelta(days=90)
    reply = example_of(AgencyReplied).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": referral.case_id,
        "occurred_at": answered_at, "recorded_at": answered_at,
        "addressed_to_unit_code": EXAMPLE_COURT, "in_reply_to_event_id": act.event_id,
        "in_reply_to_document_number": None})
    await produce_events(bootstrap, registry, agency_topic, [reply])
    alerts = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: _clock(found, act.event_id) is AlertStatus.RESOLVED, timeout_s=180)
    assert _clock(alerts, act.event_id) is AlertStatus.RESOLVED, deployment.log_of("w1")
