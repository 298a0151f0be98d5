"""The matching race closed: a later referral of the same party overturns an identifier match.

A police decision that names only the party is matched automatically when that party has
one referral in the date window. Exports are read in any order (a backfill, an agency that
exports weekly), so a second referral of the party can be read after the decision was
matched. The worker must then judge the match again: the decision (and what was matched
since through the police case number it linked) leaves the first case by an event, and a
person chooses among the candidates.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from hub.identity import case_id_for
from hub.kafka import make_producer
from hub.models import (
    Alert,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    FilingDecided,
    MatchMethod,
)
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE
from streams.engine.state import encode_value
from streams.matching import indexed_entries
from streams.topics import changelog_topic
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    latest_state,
    produce_events,
    read_events_until,
)

pytestmark = pytest.mark.integration

POLICE_NUMBER = "A4211810000002024037777"


async def _matched_by_the_party(deployment: StreamsDeployment
                                ) -> tuple[CaseReferred, FilingDecided]:
    """A worker running; the agency's referral, and a police decision that quotes
    neither the referral letter nor the decision, only the party: matched to the
    referral by the party's identifier (its only referral so far)."""
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([agency_topic, police_topic])
    deployment.start_worker("w1")
    first: CaseReferred = example_of(CaseReferred)
    decision: FilingDecided = example_of(FilingDecided).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id_for(EXAMPLE_POLICE, POLICE_NUMBER),
        "referral_number": None, "agency_decision_number": None,
        "referring_unit_code": None, "police_case_number": POLICE_NUMBER,
        "offence": first.suspected_offence})
    await produce_events(bootstrap, registry, agency_topic, [first])
    await produce_events(bootstrap, registry, police_topic, [decision])
    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatched) for _, e in found))
    [matched] = [e for _, e in found if isinstance(e, FeedbackMatched)]
    assert (matched.case_id, matched.method) == (first.case_id, MatchMethod.PARTY_IDENTIFIER)
    return first, decision


async def test_a_later_referral_of_the_party_withdraws_an_identifier_match(
    example_county: StreamsDeployment,
) -> None:
    deployment = example_county
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    first, decision = await _matched_by_the_party(deployment)

    # A later police step quotes only the police case number: it follows the link.
    later = decision.model_copy(update={"event_id": str(uuid.uuid4()), "parties": [],
                                        "occurred_at": decision.occurred_at
                                        + timedelta(days=3)})
    await produce_events(bootstrap, registry, police_topic, [later])
    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatched) and e.feedback_event_id
                          == later.event_id for _, e in found))
    [linked] = [e for _, e in found
                if isinstance(e, FeedbackMatched) and e.feedback_event_id == later.event_id]
    assert (linked.case_id, linked.method) == (first.case_id, MatchMethod.CASE_ID)

    # The clocks the decision started on the first case (hand-over of the seized items,
    # the one-year investigation) are judged overdue before the second referral is read,
    # so that there are alerts to withdraw. They are judged at the worker's judging time,
    # by a batch or a sweep: under load later than the withdrawal the test used to go on
    # to at once, and then no alert was ever raised (rightly).
    def raised(found: list[tuple[object, CaseEvent]]) -> bool:
        return any(isinstance(e, Alert) and e.case_id == first.case_id
                   and e.trigger_event_id in {decision.event_id, later.event_id}
                   and e.status is AlertStatus.RAISED for _, e in found)

    assert raised(await read_events_until(bootstrap, registry, topics.alerts, raised)), \
        deployment.log_of("w1")

    # The agency's second referral of the same party, read only now, dated before the
    # police decision: the decision may belong to either case.
    second = first.model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_AGENCY, "示例市监罚〔2024〕99号"),
        "referral_number": "示例市监移〔2024〕9号", "decision_number": "示例市监罚〔2024〕99号",
        "agency_case_number": "示例市监立〔2024〕99号",
        "occurred_at": first.occurred_at + timedelta(days=1)})
    await produce_events(bootstrap, registry, agency_topic, [second])

    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: sum(isinstance(e, FeedbackMatchWithdrawn) for _, e in found) >= 2,
        timeout_s=60)
    withdrawals = [e for _, e in found if isinstance(e, FeedbackMatchWithdrawn)]
    assert {(w.feedback_event_id, w.case_id, w.method) for w in withdrawals} == {
        (decision.event_id, first.case_id, MatchMethod.PARTY_IDENTIFIER),
        (later.event_id, first.case_id, MatchMethod.CASE_ID),
    }, deployment.log_of("w1")
    assert all(set(w.candidate_case_ids) == {first.case_id, second.case_id}
               for w in withdrawals)

    # The alerts of the clocks the decision had started on the first case are withdrawn
    # with it (hand-over of the seized items, the one-year investigation).
    alerts = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: any(isinstance(e, Alert) and e.case_id == first.case_id
                          and e.details.get("withdrawn") == "feedback_match"
                          for _, e in found), timeout_s=60)
    latest: dict[str, Alert] = {}
    for _, alert in alerts:
        if (isinstance(alert, Alert) and alert.case_id == first.case_id
                and alert.trigger_event_id in {decision.event_id, later.event_id}):
            latest[alert.alert_id] = alert
    assert latest, deployment.log_of("w1")
    assert {(a.rule_id, a.status, a.details.get("withdrawn")) for a in latest.values()} == {
        (a.rule_id, AlertStatus.RESOLVED, "feedback_match") for a in latest.values()}

    # Both go to a person: the decision with the two referrals as candidates, the later
    # step (no party, its link gone) with none.
    parked = await read_events_until(
        bootstrap, registry, topics.unmatched,
        lambda found: {e.feedback_event_id for _, e in found
                       if isinstance(e, FeedbackUnmatched)}
        >= {decision.event_id, later.event_id})
    by_feedback = {e.feedback_event_id: e for _, e in parked if isinstance(e, FeedbackUnmatched)}
    assert {c.case_id for c in by_feedback[decision.event_id].candidates} == {
        first.case_id, second.case_id}

    # The first case no longer holds them: its timeline shows the withdrawal instead.
    withdrawn_ids = {w.event_id for w in withdrawals}
    states = await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: (state := latest_state(found, first.case_id)) is not None
        and withdrawn_ids <= {entry.event_id for entry in state.timeline},
        timeout_s=60)
    state = latest_state(states, first.case_id)
    assert state is not None
    timeline = {entry.event_id for entry in state.timeline}
    assert decision.event_id not in timeline and later.event_id not in timeline
    assert state.police_case_number is None


async def test_a_referral_indexed_before_a_crash_is_still_judged_against_the_matches(
    example_county: StreamsDeployment,
) -> None:
    """The window a crash leaves: the batch that read the second referral wrote its index
    entry, then died before it judged the standing matches again. Read again, the
    referral is known to the index; the match must be judged all the same.

    The dead worker's write is made here, on the real referrals topic, before the
    referral's event is read: what the replayed batch finds after such a crash.
    """
    deployment = example_county
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    first, decision = await _matched_by_the_party(deployment)

    second = first.model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_AGENCY, "示例市监罚〔2024〕98号"),
        "referral_number": "示例市监移〔2024〕8号", "decision_number": "示例市监罚〔2024〕98号",
        "agency_case_number": "示例市监立〔2024〕98号",
        "occurred_at": first.occurred_at + timedelta(days=1)})
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for key, value in indexed_entries(second):
            await producer.send_and_wait(changelog_topic(deployment.app_id, "engine-referrals"),
                                         encode_value(value), key=key.encode("utf-8"))
    finally:
        await producer.stop()
    await asyncio.sleep(3)  # the worker's index reads the entries before the event
    await produce_events(bootstrap, registry, agency_topic, [second])

    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatchWithdrawn) for _, e in found),
        timeout_s=60)
    [withdrawal] = [e for _, e in found if isinstance(e, FeedbackMatchWithdrawn)]
    assert (withdrawal.feedback_event_id, withdrawal.case_id) == (
        decision.event_id, first.case_id), deployment.log_of("w1")
    assert set(withdrawal.candidate_case_ids) == {first.case_id, second.case_id}
