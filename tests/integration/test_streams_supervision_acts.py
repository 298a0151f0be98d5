"""Supervision acts through the real engine (issue #13, item 1), on the real broker.

A procuratorial recommendation sent on the procuratorate's ingest topic (where the view
and the procuratorate-outbox connector put acts) reaches the addressed agency's inbox,
raises its reply clock once overdue with the justice-bureau copy named on the alert,
and the agency's answer stops it. A correction notice goes to the police inbox and the
police's answer reaches the procuratorate's inbox. An order to file addressed to an
agency is refused as not entitled (entitlements.yaml, acts).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from connectors.config import parse_config
from connectors.mapping import build_mapper
from hub.calendar import CHINA_TZ
from hub.identity import case_id_for
from hub.models import (
    AgencyReplied,
    Alert,
    AlertStatus,
    CaseEvent,
    CaseState,
    FilingDecided,
    FilingDecision,
    FilingSupervisionRequested,
    ProsecutorialAction,
    ProsecutorialActionKind,
)
from hub.models.examples import (
    EXAMPLE_AGENCY,
    EXAMPLE_POLICE,
    EXAMPLE_PROCURATORATE,
    example_events,
)
from hub.units import load_unit_registry
from streams.routing_logic import alert_copies
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    headers_of,
    penalty_of,
    produce_events,
    read_events_until,
    read_until,
)
from tests.support.supervision_county import EXAMPLE_JUSTICE

pytestmark = pytest.mark.integration

JUSTICE = EXAMPLE_JUSTICE


@pytest.fixture
def deployment(supervision_county: StreamsDeployment) -> StreamsDeployment:
    """The county with a justice bureau (the escalation copy's receiver)."""
    return supervision_county


#: The acts sent besides the recommendation and the correction notice: addressee and clock.
OTHER_ACTS = {"SUGGEST_REFERRAL": EXAMPLE_AGENCY, "REQUIRE_NON_FILING_REASONS": EXAMPLE_POLICE,
              "ORDER_FILING": EXAMPLE_POLICE, "OPINION": EXAMPLE_AGENCY,
              "URGE_PROSECUTION": EXAMPLE_AGENCY}
OTHER_RULES = {"SUGGEST_REFERRAL": "suggested-referral-not-acted-on",
               "REQUIRE_NON_FILING_REASONS": "non-filing-reasons-overdue",
               "ORDER_FILING": "ordered-filing-overdue", "OPINION": "recommendation-unanswered",
               "URGE_PROSECUTION": "urge-prosecution-unanswered"}


def _holding(event_id: str) -> Callable[[list[tuple[Any, CaseEvent]]], bool]:
    """Until the records read hold the event."""
    return lambda found: any(e.event_id == event_id for _, e in found)


def _template(name: str) -> CaseEvent:
    return next(e for e in example_events().values() if type(e).__name__ == name)


def act(case_id: str, action: str, target: str, number: str, occurred: datetime
        ) -> ProsecutorialAction:
    template = _template("ProsecutorialAction")
    assert isinstance(template, ProsecutorialAction)
    return template.model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id, "occurred_at": occurred,
        "recorded_at": datetime.now(CHINA_TZ), "action": ProsecutorialActionKind(action),
        "target_unit_code": target, "document_number": number, "reply_due_date": None,
        "referral_number": None, "content": f"{action} 内容"})


def reply(case_id: str, unit: str, to_event: str, occurred: datetime) -> AgencyReplied:
    template = _template("AgencyReplied")
    assert isinstance(template, AgencyReplied)
    return template.model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id, "source_unit": unit,
        "occurred_at": occurred, "recorded_at": datetime.now(CHINA_TZ),
        "addressed_to_unit_code": EXAMPLE_PROCURATORATE, "in_reply_to_event_id": to_event,
        "in_reply_to_document_number": None})


async def test_acts_reach_their_inbox_their_clock_runs_and_the_answer_stops_it(
        deployment: StreamsDeployment) -> None:
    topics = deployment.topics
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    acts_topic = topics.ingest(EXAMPLE_PROCURATORATE, "view-acts")
    await deployment.create_topics([agency_topic, police_topic, acts_topic])
    deployment.start_worker("w1")
    bootstrap, registry_url = deployment.bootstrap, deployment.registry_url

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    await produce_events(bootstrap, registry_url, agency_topic,
                         [penalty_of(EXAMPLE_AGENCY, decision, case_id)])
    sent_on = datetime(2025, 3, 10, 9, tzinfo=CHINA_TZ)
    recommendation = act(case_id, "RECOMMENDATION", EXAMPLE_AGENCY, "示检建〔2025〕1号", sent_on)
    misdirected = act(case_id, "ORDER_FILING", EXAMPLE_AGENCY, "示检立〔2025〕2号", sent_on)
    yesterday = datetime.now(CHINA_TZ) - timedelta(days=1)
    notice = act(case_id, "CORRECTION_NOTICE", EXAMPLE_POLICE, "示检纠〔2025〕3号", yesterday)
    # the other acts, sent long ago and never answered: each to its inbox, each clock raised
    others = {kind: act(case_id, kind, target, f"示检{n}〔2025〕{n}号", sent_on)
              for n, (kind, target) in enumerate(OTHER_ACTS.items(), start=4)}
    await produce_events(bootstrap, registry_url, acts_topic,
                         [recommendation, misdirected, notice, *others.values()])

    # Routed: the recommendation to the agency's inbox, the notice to the police's.
    agency_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_AGENCY),
        lambda found: any(e.event_id == recommendation.event_id for _, e in found))
    assert recommendation.event_id in {e.event_id for _, e in agency_inbox}, \
        deployment.log_of("w1")
    assert misdirected.event_id not in {e.event_id for _, e in agency_inbox}
    police_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_POLICE),
        lambda found: any(e.event_id == notice.event_id for _, e in found))
    assert notice.event_id in {e.event_id for _, e in police_inbox}
    for kind, sent in others.items():
        inbox = await read_events_until(bootstrap, registry_url, topics.inbox(OTHER_ACTS[kind]),
                                        _holding(sent.event_id))
        assert sent.event_id in {e.event_id for _, e in inbox}, kind

    # The order to file addressed to an agency is refused, with the reason.
    def refused(records: list) -> list:  # type: ignore[type-arg]
        return [r for r in records if headers_of(r).get("error.type") == b"not-entitled"]

    dead = refused(await read_until(bootstrap, topics.dead_letters,
                                    lambda records: bool(refused(records))))
    assert len(dead) == 1
    assert b"ORDER_FILING" in headers_of(dead[0])["error.reason"]

    # Two months later and unanswered (the batch evaluates at the recording time, today):
    # raised on the agency, naming the justice bureau copy.
    def alerts_of(found: list, rule_id: str, status: AlertStatus,  # type: ignore[type-arg]
                  trigger: ProsecutorialAction = recommendation) -> list[Alert]:
        return [e for _, e in found if isinstance(e, Alert) and e.case_id == case_id
                and e.rule_id == rule_id and e.status is status
                and e.trigger_event_id == trigger.event_id]

    def all_raised(found: list) -> bool:  # type: ignore[type-arg]
        return bool(alerts_of(found, "recommendation-unanswered", AlertStatus.RAISED)) and all(
            alerts_of(found, OTHER_RULES[kind], AlertStatus.RAISED, sent)
            for kind, sent in others.items())

    alerts = await read_events_until(bootstrap, registry_url, topics.alerts, all_raised)
    for kind, sent in others.items():
        [other] = alerts_of(alerts, OTHER_RULES[kind], AlertStatus.RAISED, sent)
        assert other.responsible_unit_code == OTHER_ACTS[kind], kind
        assert ("copy_to_roles" in other.details) == (kind in ("OPINION", "URGE_PROSECUTION"))
    [raised] = alerts_of(alerts, "recommendation-unanswered", AlertStatus.RAISED)
    assert raised.responsible_unit_code == EXAMPLE_AGENCY
    assert raised.trigger_event_id == recommendation.event_id
    assert raised.details["copy_to_roles"] == "justice_bureau"
    assert deployment.units_file is not None
    registry = load_unit_registry(deployment.units_file)
    assert alert_copies(raised, registry).topics == (f"lf.inbox.{JUSTICE}",)
    # The engine delivers that copy: the justice bureau finds the alert in its inbox.
    justice_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(JUSTICE),
        lambda found: any(isinstance(e, Alert) and e.alert_id == raised.alert_id
                          for _, e in found))
    assert [e for _, e in justice_inbox
            if isinstance(e, Alert) and e.alert_id == raised.alert_id], deployment.log_of("w1")
    # so is the unanswered opinion urging prosecution (督促起诉意见书)
    [urged] = alerts_of(alerts, "urge-prosecution-unanswered", AlertStatus.RAISED,
                        others["URGE_PROSECUTION"])
    justice_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(JUSTICE),
        lambda found: any(isinstance(e, Alert) and e.alert_id == urged.alert_id
                          for _, e in found))
    assert [e for _, e in justice_inbox if isinstance(e, Alert) and e.alert_id == urged.alert_id]

    # The agency answers (late): the clock stops, the alert resolves as done late; the
    # police answer the notice in time, and their answer reaches the procuratorate.
    answer = reply(case_id, EXAMPLE_AGENCY, recommendation.event_id,
                   sent_on + timedelta(days=75))
    police_answer = reply(case_id, EXAMPLE_POLICE, notice.event_id, datetime.now(CHINA_TZ))
    await produce_events(bootstrap, registry_url, agency_topic, [answer])
    # 撤案 (item 5): the police cancel the case; routed to the agency, copied to the
    # procuratorate, and on the timeline
    filing = _template("FilingDecided")
    assert isinstance(filing, FilingDecided)
    cancelled = filing.model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id, "source_unit": EXAMPLE_POLICE,
        "occurred_at": datetime.now(CHINA_TZ), "recorded_at": datetime.now(CHINA_TZ),
        "decision": FilingDecision.CANCELLED, "agency_decision_number": decision,
        "referral_number": None, "referring_unit_code": EXAMPLE_AGENCY,
        "police_case_number": "示例公刑立〔2025〕7号"})
    await produce_events(bootstrap, registry_url, police_topic, [police_answer, cancelled])
    alerts = await read_events_until(
        bootstrap, registry_url, topics.alerts,
        lambda found: bool(alerts_of(found, "recommendation-unanswered",
                                     AlertStatus.RESOLVED)))
    [resolved] = alerts_of(alerts, "recommendation-unanswered", AlertStatus.RESOLVED)
    assert resolved.resolved_by_event_id == answer.event_id
    assert resolved.details["late"] == "true"
    procuratorate_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_PROCURATORATE),
        lambda found: any(e.event_id == police_answer.event_id for _, e in found))
    assert police_answer.event_id in {e.event_id for _, e in procuratorate_inbox}
    for unit in (EXAMPLE_AGENCY, EXAMPLE_PROCURATORATE):
        inbox = await read_events_until(bootstrap, registry_url, topics.inbox(unit),
                                        _holding(cancelled.event_id))
        assert cancelled.event_id in {e.event_id for _, e in inbox}, unit
    # the agency objects (建议立案监督): to the procuratorate's inbox and the police's
    objection = FilingSupervisionRequested(
        event_id=str(uuid.uuid4()), case_id=case_id, source_unit=EXAMPLE_AGENCY,
        occurred_at=datetime.now(CHINA_TZ), recorded_at=datetime.now(CHINA_TZ),
        source_system="test", source_record="test", connector_id="test",
        procuratorate_unit_code=EXAMPLE_PROCURATORATE, police_unit_code=EXAMPLE_POLICE,
        request_number="示例市监督〔2025〕1号", reasons="撤案理由不能成立")
    await produce_events(bootstrap, registry_url, agency_topic, [objection])
    for unit in (EXAMPLE_PROCURATORATE, EXAMPLE_POLICE):
        inbox = await read_events_until(bootstrap, registry_url, topics.inbox(unit),
                                        _holding(objection.event_id))
        assert objection.event_id in {e.event_id for _, e in inbox}, unit

    # On the case timeline: the acts with their numbers and the answers, not the refused one.
    states = await read_events_until(
        bootstrap, registry_url, topics.case_state,
        lambda found: any(isinstance(e, CaseState) and e.case_id == case_id
                          and police_answer.event_id in {t.event_id for t in e.timeline}
                          and cancelled.event_id in {t.event_id for t in e.timeline}
                          and answer.event_id in {t.event_id for t in e.timeline}
                          for _, e in found))
    [state] = [e for _, e in states if isinstance(e, CaseState) and e.case_id == case_id][-1:]
    assert isinstance(state, CaseState)
    summaries = {entry.event_id: entry.summary for entry in state.timeline}
    assert "示检建〔2025〕1号" in summaries[recommendation.event_id]
    assert summaries[recommendation.event_id].startswith("检察建议书 procuratorial recommendation")
    assert "示检纠〔2025〕3号" in summaries[notice.event_id]
    assert misdirected.event_id not in summaries
    assert summaries[cancelled.event_id] == "撤案 filed case cancelled 示例公刑立〔2025〕7号"
    for kind, sent in others.items():
        assert str(sent.document_number) in summaries[sent.event_id], kind
    # The notice was answered in time: its clock never raised anything.
    assert not alerts_of(alerts, "correction-notice-unanswered", AlertStatus.RAISED)
    assert deployment.workers["w1"].poll() is None


async def test_a_consultation_and_an_invitation_reach_their_inbox_and_their_answer_stops_them(
        deployment: StreamsDeployment) -> None:
    """Items 2 and 3: the agency asks the police (3 working days, a complex case exempt)
    and invites the procuratorate (3 days); the procuratorate's attendance, recorded in its
    own system as a procuratorial act, stops the invitation's clock."""
    from hub.models import ConsultationAnswered, ConsultationRequested, EarlyInterventionInvited

    topics = deployment.topics
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "view-acts")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    acts_topic = topics.ingest(EXAMPLE_PROCURATORATE, "actions")
    await deployment.create_topics([agency_topic, police_topic, acts_topic])
    deployment.start_worker("w1")
    bootstrap, registry_url = deployment.bootstrap, deployment.registry_url

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    asked_on = datetime(2025, 3, 10, 9, tzinfo=CHINA_TZ)
    header = {"case_id": case_id, "source_unit": EXAMPLE_AGENCY, "occurred_at": asked_on,
              "recorded_at": datetime.now(CHINA_TZ), "source_system": "test",
              "source_record": "test", "connector_id": "test"}
    question = ConsultationRequested(
        **header, event_id=str(uuid.uuid4()), consultation_id="ZX-1",
        addressed_to_unit_code=EXAMPLE_POLICE, question="是否达到立案追诉标准？")
    invitation = EarlyInterventionInvited(
        **header, event_id=str(uuid.uuid4()), invitation_id="JR-1",
        invited_unit_code=EXAMPLE_PROCURATORATE, reason="涉案金额已达立案标准的八成")
    # and asks the procuratorate, which answers from its own system (procuratorate-outbox)
    asked_procuratorate = ConsultationRequested(
        **header, event_id=str(uuid.uuid4()), consultation_id="ZX-2",
        addressed_to_unit_code=EXAMPLE_PROCURATORATE, question="是否构成犯罪？")
    await produce_events(bootstrap, registry_url, agency_topic,
                         [penalty_of(EXAMPLE_AGENCY, decision, case_id), question, invitation,
                          asked_procuratorate])

    police_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_POLICE),
        lambda found: any(e.event_id == question.event_id for _, e in found))
    assert question.event_id in {e.event_id for _, e in police_inbox}, deployment.log_of("w1")
    procuratorate_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_PROCURATORATE),
        lambda found: any(e.event_id == invitation.event_id for _, e in found))
    assert invitation.event_id in {e.event_id for _, e in procuratorate_inbox}

    def alerts_of(found: list, rule_id: str, status: AlertStatus,  # type: ignore[type-arg]
                  trigger: CaseEvent | None = None) -> list[Alert]:
        """The rule's alerts of that status: of ``trigger`` if given, else of the other
        requests (the police's consultation, the invitation)."""
        return [e for _, e in found if isinstance(e, Alert) and e.case_id == case_id
                and e.rule_id == rule_id and e.status is status
                and (e.trigger_event_id == trigger.event_id if trigger is not None
                     else e.trigger_event_id != asked_procuratorate.event_id)]

    rules = ("consultation-unanswered", "early-intervention-unattended")
    alerts = await read_events_until(
        bootstrap, registry_url, topics.alerts,
        lambda found: all(alerts_of(found, rule, AlertStatus.RAISED) for rule in rules)
        and bool(alerts_of(found, rules[0], AlertStatus.RAISED, asked_procuratorate)))
    [asked] = alerts_of(alerts, rules[0], AlertStatus.RAISED)
    [asked_of_us] = alerts_of(alerts, rules[0], AlertStatus.RAISED, asked_procuratorate)
    assert asked_of_us.responsible_unit_code == EXAMPLE_PROCURATORATE
    [invited] = alerts_of(alerts, rules[1], AlertStatus.RAISED)
    assert (asked.responsible_unit_code, invited.responsible_unit_code) == (
        EXAMPLE_POLICE, EXAMPLE_PROCURATORATE)

    answer = ConsultationAnswered(
        **{**header, "source_unit": EXAMPLE_POLICE,
           "occurred_at": asked_on + timedelta(days=20)},
        event_id=str(uuid.uuid4()), consultation_id="ZX-1",
        requested_by_unit_code=EXAMPLE_AGENCY, answer="重大复杂案件，已会商", complex_case=True)
    attended = act(case_id, "EARLY_INTERVENTION", EXAMPLE_AGENCY, "示检介〔2025〕1号",
                   asked_on + timedelta(days=2))
    outbox = build_mapper(parse_config({
        "id": "outbox", "unit": EXAMPLE_PROCURATORATE, "kind": "sql",
        "preset": "procuratorate-outbox",
        "source": {"url": "sqlite:///unused.sqlite", "table": "outbox", "watermark_column": "id",
                   "tie_breaker_column": "id", "payload_column": "payload"}}).mapping,
        unit=EXAMPLE_PROCURATORATE, connector_id="outbox")
    our_answer = outbox.map({
        "id": 12, "type": "ConsultationAnswered", "aggregate_id": "示检咨〔2025〕2号",
        "created_at": datetime.now(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        "payload.decided_on": "2025-03-12", "payload.consultation_id": "ZX-2",
        "payload.answer": "已达立案追诉标准，建议移送",
        "payload.case_ref.agency_unit_code": EXAMPLE_AGENCY,
        "payload.case_ref.decision_number": decision}, "outbox#12").event
    assert isinstance(our_answer, ConsultationAnswered) and our_answer.case_id == case_id
    await produce_events(bootstrap, registry_url, police_topic, [answer])
    await produce_events(bootstrap, registry_url, acts_topic, [attended, our_answer])
    alerts = await read_events_until(
        bootstrap, registry_url, topics.alerts,
        lambda found: all(alerts_of(found, rule, AlertStatus.RESOLVED) for rule in rules)
        and bool(alerts_of(found, rules[0], AlertStatus.RESOLVED, asked_procuratorate)))
    [ours] = alerts_of(alerts, rules[0], AlertStatus.RESOLVED, asked_procuratorate)
    assert (ours.resolved_by_event_id, ours.details["late"]) == (our_answer.event_id, "false")
    [answered] = alerts_of(alerts, rules[0], AlertStatus.RESOLVED)
    assert answered.resolved_by_event_id == answer.event_id
    assert answered.details["late"] == "false"  # a complex case is exempt
    [intervened] = alerts_of(alerts, rules[1], AlertStatus.RESOLVED)
    assert intervened.resolved_by_event_id == attended.event_id
    assert intervened.details["late"] == "false"
    agency_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_AGENCY),
        lambda found: any(e.event_id == answer.event_id for _, e in found))
    assert answer.event_id in {e.event_id for _, e in agency_inbox}
    agency_inbox = await read_events_until(
        bootstrap, registry_url, topics.inbox(EXAMPLE_AGENCY),
        lambda found: any(e.event_id == our_answer.event_id for _, e in found))
    assert our_answer.event_id in {e.event_id for _, e in agency_inbox}
    assert deployment.workers["w1"].poll() is None
