"""Leads 线索移送 through the real engine (issue #13, item 4), on the real broker.

A lead sent on the procuratorate's ingest topic (where the view puts it) reaches the
justice bureau's or the supervision commission's inbox; unanswered past its feedback
date it raises lead-feedback-overdue on the receiving unit; the justice bureau's feedback
(AgencyReplied quoting the lead, from its own ingest topic) stops the clock and reaches
the procuratorate's inbox; the timeline names the lead and its receiver.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import pytest

from hub.calendar import CHINA_TZ
from hub.identity import case_id_for
from hub.models import Alert, AlertStatus, CaseState, LeadDestination, LeadTransferred
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_PROCURATORATE
from tests.integration.test_source_progress import create_progress_topic, write_mark
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    headers_of,
    penalty_of,
    produce_events,
    read_events_until,
    read_until,
    wait_until_read,
)
from tests.integration.test_streams_supervision_acts import JUSTICE, _template, reply
from tests.support.supervision_county import EXAMPLE_COMMISSION

pytestmark = pytest.mark.integration

COMMISSION = EXAMPLE_COMMISSION


@pytest.fixture
def deployment(supervision_county: StreamsDeployment) -> StreamsDeployment:
    """The county with a justice bureau and a supervision commission (the receivers)."""
    return supervision_county


def lead(case_id: str, destination: str, to: str, number: str, occurred: datetime
         ) -> LeadTransferred:
    template = _template("LeadTransferred")
    assert isinstance(template, LeadTransferred)
    return template.model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id, "occurred_at": occurred,
        "recorded_at": datetime.now(CHINA_TZ), "source_unit": EXAMPLE_PROCURATORATE,
        "destination": LeadDestination(destination), "receiving_unit_code": to,
        "lead_number": number, "feedback_due_date": None, "summary": f"{destination} 线索"})


async def test_leads_reach_their_receiver_their_feedback_clock_runs_and_feedback_stops_it(
        deployment: StreamsDeployment) -> None:
    topics = deployment.topics
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    acts_topic = topics.ingest(EXAMPLE_PROCURATORATE, "view-acts")
    justice_topic = topics.ingest(JUSTICE, "replies")
    await deployment.create_topics([agency_topic, acts_topic, justice_topic])
    deployment.start_worker("w1")
    bootstrap, registry_url = deployment.bootstrap, deployment.registry_url

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    await produce_events(bootstrap, registry_url, agency_topic,
                         [penalty_of(EXAMPLE_AGENCY, decision, case_id)])
    sent_on = datetime(2025, 3, 10, 9, tzinfo=CHINA_TZ)
    to_justice = lead(case_id, "JUSTICE_BUREAU", JUSTICE, "示检线〔2025〕1号", sent_on)
    recent = datetime.now(CHINA_TZ) - timedelta(days=1)
    to_commission = lead(case_id, "SUPERVISION_COMMISSION", COMMISSION, "示检线〔2025〕2号",
                         recent)
    # a public-interest litigation lead goes to the procuratorate (its 公益诉讼 department)
    to_litigation = lead(case_id, "PUBLIC_INTEREST_LITIGATION", EXAMPLE_PROCURATORATE,
                         "示检线〔2025〕3号", recent)
    await produce_events(bootstrap, registry_url, acts_topic,
                         [to_justice, to_commission, to_litigation])

    justice_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(JUSTICE),
        lambda found: any(e.event_id == to_justice.event_id for _, e in found))
    assert to_justice.event_id in {e.event_id for _, e in justice_inbox}, \
        deployment.log_of("w1")
    commission_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(COMMISSION),
        lambda found: any(e.event_id == to_commission.event_id for _, e in found))
    assert to_commission.event_id in {e.event_id for _, e in commission_inbox}
    assert to_justice.event_id not in {e.event_id for _, e in commission_inbox}
    litigation_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_PROCURATORATE),
        lambda found: any(e.event_id == to_litigation.event_id for _, e in found))
    assert to_litigation.event_id in {e.event_id for _, e in litigation_inbox}
    assert to_justice.event_id not in {e.event_id for _, e in litigation_inbox}

    def alerts_of(found: list, status: AlertStatus) -> list[Alert]:  # type: ignore[type-arg]
        return [e for _, e in found if isinstance(e, Alert) and e.case_id == case_id
                and e.rule_id == "lead-feedback-overdue" and e.status is status]

    alerts = await read_events_until(
        bootstrap, registry_url, topics.alerts,
        lambda found: bool(alerts_of(found, AlertStatus.RAISED)))
    [raised] = alerts_of(alerts, AlertStatus.RAISED)
    assert raised.responsible_unit_code == JUSTICE
    assert raised.trigger_event_id == to_justice.event_id

    feedback = reply(case_id, JUSTICE, to_justice.event_id, sent_on + timedelta(days=40))
    await produce_events(bootstrap, registry_url, justice_topic, [feedback])
    alerts = await read_events_until(
        bootstrap, registry_url, topics.alerts,
        lambda found: bool(alerts_of(found, AlertStatus.RESOLVED)))
    [resolved] = alerts_of(alerts, AlertStatus.RESOLVED)
    assert resolved.resolved_by_event_id == feedback.event_id, deployment.log_of("w1")
    assert resolved.details["late"] == "true"
    procuratorate_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_PROCURATORATE),
        lambda found: any(e.event_id == feedback.event_id for _, e in found))
    assert feedback.event_id in {e.event_id for _, e in procuratorate_inbox}

    states = await read_events_until(
        bootstrap, registry_url, topics.case_state,
        lambda found: any(isinstance(e, CaseState) and e.case_id == case_id
                          and feedback.event_id in {t.event_id for t in e.timeline}
                          for _, e in found))
    [state] = [e for _, e in states if isinstance(e, CaseState) and e.case_id == case_id][-1:]
    assert isinstance(state, CaseState)
    summaries = {entry.event_id: entry.summary for entry in state.timeline}
    assert summaries[to_justice.event_id].startswith(
        f"线索移送 lead transferred 示检线〔2025〕1号 → {JUSTICE}")
    # The commission's lead is a day old: its month has not run out, nothing raised on it.
    assert not [a for a in alerts_of(alerts, AlertStatus.RAISED)
                if a.responsible_unit_code == COMMISSION]
    assert deployment.workers["w1"].poll() is None


async def test_feedback_read_before_its_case_and_lead_waits_for_them_then_counts(
        deployment: StreamsDeployment) -> None:
    """A backfill reads the justice bureau's folder before the agency's penalties and
    the procuratorate's outbox: its feedback names a case the hub knows nothing of yet.
    It waits (not refused), is checked again when the penalty arrives (still no lead to
    the bureau: it waits on), and is taken once the lead makes the bureau its addressee."""
    topics = deployment.topics
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    acts_topic = topics.ingest(EXAMPLE_PROCURATORATE, "view-acts")
    justice_topic = topics.ingest(JUSTICE, "replies")
    await deployment.create_topics([agency_topic, acts_topic, justice_topic])
    deployment.start_worker("w1")
    bootstrap, registry_url = deployment.bootstrap, deployment.registry_url

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    sent_on = datetime.now(CHINA_TZ) - timedelta(days=3)
    to_justice = lead(case_id, "JUSTICE_BUREAU", JUSTICE, "示检线〔2025〕7号", sent_on)
    feedback = reply(case_id, JUSTICE, to_justice.event_id, sent_on + timedelta(days=2))
    await produce_events(bootstrap, registry_url, justice_topic, [feedback])
    await wait_until_read(deployment, justice_topic)
    await produce_events(bootstrap, registry_url, agency_topic,
                         [penalty_of(EXAMPLE_AGENCY, decision, case_id)])
    await wait_until_read(deployment, agency_topic)
    await produce_events(bootstrap, registry_url, acts_topic, [to_justice])

    procuratorate_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_PROCURATORATE),
        lambda found: any(e.event_id == feedback.event_id for _, e in found))
    assert feedback.event_id in {e.event_id for _, e in procuratorate_inbox}, \
        deployment.log_of("w1")
    states = await read_events_until(
        bootstrap, registry_url, topics.case_state,
        lambda found: any(isinstance(e, CaseState) and e.case_id == case_id
                          and feedback.event_id in {t.event_id for t in e.timeline}
                          for _, e in found))
    assert any(isinstance(e, CaseState) and feedback.event_id in
               {t.event_id for t in e.timeline} for _, e in states)
    dead = await read_until(bootstrap, topics.dead_letters, lambda records: False,
                            timeout_s=3)
    assert not [r for r in dead if headers_of(r).get("error.type") == b"not-entitled"]
    assert deployment.workers["w1"].poll() is None


async def test_an_answer_read_a_moment_before_its_lead_waits_for_the_outbox_pass(
        deployment: StreamsDeployment) -> None:
    """The case is known (the agency's penalty was read) and the procuratorate's outbox
    connector is in the middle of a pass. The justice bureau's answer to a lead that sits
    further down that outbox is not refused: it waits, unseen, and is taken when the lead
    comes. An answer from a unit no lead names (the commission's, forged) waits too, but
    only until the outbox's pass is confirmed read to the end: then it is refused."""
    topics = deployment.topics
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    acts_topic = topics.ingest(EXAMPLE_PROCURATORATE, "view-acts")
    justice_topic = topics.ingest(JUSTICE, "replies")
    commission_topic = topics.ingest(COMMISSION, "replies")
    await create_progress_topic(deployment, EXAMPLE_PROCURATORATE)
    await deployment.create_topics([agency_topic, acts_topic, justice_topic,
                                    commission_topic])
    deployment.env["LIANGFA_ENGINE_SOURCE_STALE_S"] = "600"
    await write_mark(deployment, EXAMPLE_PROCURATORATE, running=True, read_to_end_at=None,
                     connector="procuratorate-outbox", stream="view-acts")
    deployment.start_worker("w1")
    bootstrap, registry_url = deployment.bootstrap, deployment.registry_url

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    await produce_events(bootstrap, registry_url, agency_topic,
                         [penalty_of(EXAMPLE_AGENCY, decision, case_id)])
    await read_events_until(bootstrap, registry_url, topics.case_state,
                            lambda found: any(e.case_id == case_id for _, e in found))
    sent_on = datetime.now(CHINA_TZ) - timedelta(days=3)
    to_justice = lead(case_id, "JUSTICE_BUREAU", JUSTICE, "示检线〔2025〕8号", sent_on)
    answer = reply(case_id, JUSTICE, to_justice.event_id, sent_on + timedelta(days=2))
    forged = reply(case_id, COMMISSION, str(uuid.uuid4()), sent_on + timedelta(days=2))
    await produce_events(bootstrap, registry_url, justice_topic, [answer])
    await produce_events(bootstrap, registry_url, commission_topic, [forged])
    await wait_until_read(deployment, justice_topic)
    await wait_until_read(deployment, commission_topic)

    def refused(records: list) -> list:  # type: ignore[type-arg]
        return [r for r in records if headers_of(r).get("error.type") == b"not-entitled"]

    dead = await read_until(bootstrap, topics.dead_letters, lambda records: False,
                            timeout_s=3)
    assert not refused(dead), deployment.log_of("w1")

    await produce_events(bootstrap, registry_url, acts_topic, [to_justice])
    procuratorate_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_PROCURATORATE),
        lambda found: any(e.event_id == answer.event_id for _, e in found))
    assert answer.event_id in {e.event_id for _, e in procuratorate_inbox}, \
        deployment.log_of("w1")
    assert not refused(await read_until(bootstrap, topics.dead_letters,
                                        lambda records: False, timeout_s=2))

    # The outbox's pass is read to the end: nothing can make the commission an
    # addressee any more, and its answer is refused.
    await write_mark(deployment, EXAMPLE_PROCURATORATE, running=True,
                     read_to_end_at=time.time(), connector="procuratorate-outbox",
                     stream="view-acts")
    dead = refused(await read_until(bootstrap, topics.dead_letters,
                                    lambda records: bool(refused(records)), timeout_s=90))
    assert len(dead) == 1, deployment.log_of("w1")
    assert headers_of(dead[0])["source.topic"] == commission_topic.encode()
    assert COMMISSION.encode() in headers_of(dead[0])["error.reason"]
    assert deployment.workers["w1"].poll() is None
