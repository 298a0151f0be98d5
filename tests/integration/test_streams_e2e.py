"""A real worker (subprocess) with a scripted case history in and the derived topics out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from hub.identity import case_id_for
from hub.kafka import make_producer
from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    CaseStage,
    ConsultationRequested,
    FeedbackMatched,
    FeedbackUnmatched,
    FilingDecided,
    MatchMethod,
    PenaltyCaseRecorded,
    ReferralReceived,
    UnitMonthlyStats,
)
from hub.models.examples import (
    EXAMPLE_AGENCY,
    EXAMPLE_POLICE,
    EXAMPLE_PROCURATORATE,
    example_events,
)
from streams.stats_facts import FACTS_HEADER
from streams.topics import CHANGELOG_CONFIGS, changelog_topic
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    decode_all,
    headers_of,
    latest_state,
    produce_events,
    read_events_until,
    read_until,
    settle,
    write_example_units,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(bootstrap: str, registry_url: str,
               tmp_path: Path) -> Iterator[StreamsDeployment]:
    deployment = StreamsDeployment(bootstrap, registry_url, tmp_path)
    try:
        yield deployment
    finally:
        deployment.stop_all()


def _examples() -> dict[str, CaseEvent]:
    return {type(event).__name__: event for event in example_events().values()}


async def test_normalize_forwards_once_and_dead_letters_poison_and_impostors(
    deployment: StreamsDeployment,
) -> None:
    examples = _examples()
    topics = deployment.topics
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "penalties")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([agency_topic, police_topic])
    deployment.start_worker("w1")

    penalty = examples[PenaltyCaseRecorded.__name__]
    referral = examples[CaseReferred.__name__]
    consultation = examples[ConsultationRequested.__name__]
    police_decision = examples[FilingDecided.__name__]
    await produce_events(deployment.bootstrap, deployment.registry_url, agency_topic, [
        penalty,
        b"\x07 definitely not a Confluent Avro record",
        referral,
        penalty,               # a connector re-read: same event id
        police_decision,       # the police's event on the agency's topic: an impostor
        consultation,
    ])
    await produce_events(deployment.bootstrap, deployment.registry_url, police_topic,
                         [police_decision])

    wanted = {penalty.event_id, referral.event_id, consultation.event_id,
              police_decision.event_id}
    records = await read_until(
        deployment.bootstrap, topics.case_events,
        lambda found: {headers_of(r).get("ce_id", b"").decode() for r in found} >= wanted)
    events = await decode_all(deployment.registry_url, records)
    ids = [event.event_id for event in events]
    assert sorted(ids) == sorted(wanted), deployment.log_of("w1")
    for record, event in zip(records, events, strict=True):
        assert record.key == event.case_id.encode()
        headers = headers_of(record)
        assert headers["ce_id"] == event.event_id.encode()
        assert headers["ce_type"] == event.avro_name.encode()

    # The statistics feed is internal, but a record on it that is not a batch of facts
    # (a stray producer, a broken older worker) is dead-lettered too, and counting goes on.
    producer = make_producer(deployment.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.stats_feed, b"[[\"not a fact\"]]",
                                     headers=[(FACTS_HEADER, b"1")])
    finally:
        await producer.stop()

    dead = await read_until(deployment.bootstrap, topics.dead_letters,
                            lambda found: len(found) >= 3)
    assert len(dead) == 3
    (feed_poison,) = [r for r in dead if headers_of(r)["processor"] == b"stats"]
    assert headers_of(feed_poison)["source.topic"] == topics.stats_feed.encode()
    assert b"not a statistics fact" in headers_of(feed_poison)["error.reason"]
    dead = [r for r in dead if r is not feed_poison]
    by_type = {headers_of(r)["error.type"].decode(): r for r in dead}
    assert set(by_type) == {"bad-magic", "source-mismatch"}
    poison = headers_of(by_type["bad-magic"])
    assert poison["source.topic"] == agency_topic.encode()
    assert poison["processor"] == b"normalize"
    assert int(poison["source.offset"]) >= 0
    assert int(poison["source.partition"]) in range(4)
    assert by_type["bad-magic"].value == b"\x07 definitely not a Confluent Avro record"
    # The worker's changelogs roll small segments, so the log cleaner can compact them
    # while the worker runs (one 1 GiB default segment was never compacted).
    admin = AdminClient({"bootstrap.servers": deployment.bootstrap})
    changelog = ConfigResource(ConfigResource.Type.TOPIC,
                               changelog_topic(deployment.app_id, "engine-cases"))
    configs = admin.describe_configs([changelog])[changelog].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["segment.bytes"].value == CHANGELOG_CONFIGS["segment.bytes"]
    impostor = headers_of(by_type["source-mismatch"])
    assert EXAMPLE_POLICE.encode() in impostor["error.reason"]
    assert impostor["ce_id"] == police_decision.event_id.encode()


async def test_case_history_flows_to_events_inboxes_alerts_state_and_stats(
    deployment: StreamsDeployment, tmp_path: Path,
) -> None:
    examples = _examples()
    deployment.units_file = write_example_units(tmp_path)
    deployment.hub_unit = EXAMPLE_PROCURATORATE
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([agency_topic, police_topic])
    deployment.start_worker("w1")

    penalty = examples[PenaltyCaseRecorded.__name__]
    referral = examples[CaseReferred.__name__]
    consultation = examples[ConsultationRequested.__name__]
    receipt = examples[ReferralReceived.__name__]
    case_id = penalty.case_id
    # The police system quotes its own case id and the referral letter number only.
    police_case_id = case_id_for(EXAMPLE_POLICE, "A4211810000002024030001")
    filing = examples[FilingDecided.__name__].model_copy(update={"case_id": police_case_id})
    # Feedback quoting nothing the hub knows: a person must match it.
    stray = examples[FilingDecided.__name__].model_copy(update={
        "case_id": case_id_for(EXAMPLE_POLICE, "A4211810000002024039999"),
        "event_id": str(uuid.uuid4()), "referral_number": "示例市监移〔2024〕999号",
        "agency_decision_number": None, "referring_unit_code": None,
        "police_case_number": "A4211810000002024039999", "parties": []})

    # The history in its legal order: the agency's events, then — once the referral has
    # reached the police (and so the matcher) — the police's feedback. Feedback racing
    # its referral is held and re-matched
    # (test_parked_feedback_matches_itself_when_its_referral_arrives_later).
    await produce_events(bootstrap, registry, agency_topic, [penalty, referral, consultation])
    await read_until(bootstrap, topics.inbox(EXAMPLE_POLICE), lambda records: any(
        headers_of(r).get("ce_type") == CaseReferred.avro_name.encode() for r in records))
    await settle(3.0)
    await produce_events(bootstrap, registry, police_topic, [receipt, filing, stray])

    # Case events: the inputs once each, plus the match and the re-keyed feedback.
    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatched) for _, e in found)
        and len(found) >= 8)
    matched = [e for _, e in found if isinstance(e, FeedbackMatched)]
    assert len(matched) == 1, deployment.log_of("w1")
    assert matched[0].case_id == case_id
    assert matched[0].original_case_id == police_case_id
    # Which number matches first depends on whether the referral was indexed yet.
    assert matched[0].method in {MatchMethod.REFERRAL_NUMBER,
                                 MatchMethod.AGENCY_DECISION_NUMBER}
    rekeyed = [r for r, e in found if isinstance(e, FilingDecided) and e.case_id == case_id]
    assert len(rekeyed) == 1
    assert rekeyed[0].key == case_id.encode()
    assert headers_of(rekeyed[0])["lf_matched"] == b"1"
    ids = [e.event_id for _, e in found if not isinstance(e, FilingDecided)]
    assert len(ids) == len(set(ids))

    # Inboxes: the referral and the consultation reach the police.
    police_inbox = await read_until(bootstrap, topics.inbox(EXAMPLE_POLICE),
                                    lambda records: len(records) >= 2)
    police_types = sorted(headers_of(r)["ce_type"].decode() for r in police_inbox)
    assert police_types == [CaseReferred.avro_name, ConsultationRequested.avro_name]
    procuratorate_inbox = await read_until(
        bootstrap, topics.inbox(EXAMPLE_PROCURATORATE), lambda records: len(records) >= 1)
    assert CaseReferred.avro_name.encode() in {
        headers_of(r)["ce_type"] for r in procuratorate_inbox}

    # Alerts: an overdue consultation answer (timer, wall time) and unmatched feedback.
    wanted = {(AlertKind.CONSULTATION_OVERDUE, AlertStatus.RAISED),
              (AlertKind.UNMATCHED_FEEDBACK, AlertStatus.RAISED)}
    alerts = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: wanted <= {(a.kind, a.status) for _, a in found
                                 if isinstance(a, Alert)}, timeout_s=180)
    assert wanted <= {(a.kind, a.status) for _, a in alerts if isinstance(a, Alert)}
    for record, alert in alerts:
        assert record.key == alert.case_id.encode()
    transitions = [(a.alert_id, a.status) for _, a in alerts if isinstance(a, Alert)]
    assert len(transitions) == len(set(transitions)), "an alert state was emitted twice"

    unmatched = await read_events_until(bootstrap, registry, topics.unmatched,
                                        lambda found: len(found) >= 1)
    [(_, parked)] = unmatched
    assert isinstance(parked, FeedbackUnmatched)
    assert parked.feedback_event_id == stray.event_id

    # Case state: the latest record of the case has the police's filing folded in.
    states = await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: latest_state(found, case_id) is not None
        and latest_state(found, case_id).stage is CaseStage.FILED)
    latest = latest_state(states, case_id)
    assert latest is not None
    assert latest.stage is CaseStage.FILED
    assert latest.police_case_number == "A4211810000002024030001"
    # the penalty's 公示截止期: the public feed withdraws the case after it
    assert penalty.disclosure_deadline is not None
    assert latest.disclosure_deadline == penalty.disclosure_deadline
    assert {entry.event_id for entry in latest.timeline} >= {
        penalty.event_id, referral.event_id, receipt.event_id, filing.event_id}
    assert latest_state(states, police_case_id) is None, "feedback opened a phantom case"
    # Nor does the UNMATCHED_FEEDBACK alert about the stray feedback, keyed by the case id
    # the police quoted: no case state of the hub's own unit with no stage and no number.
    assert latest_state(states, stray.case_id) is None, "an alert opened a phantom case"

    # Statistics of the agency's month, keyed <unit>|<month>.
    stats_key = f"{EXAMPLE_AGENCY}|2024-03".encode()
    stats = await read_events_until(
        bootstrap, registry, topics.stats,
        lambda found: any(r.key == stats_key for r, _ in found))
    figures = [e for r, e in stats if r.key == stats_key][-1]
    assert isinstance(figures, UnitMonthlyStats)
    assert figures.penalty_cases_entered == 1
    assert figures.referrals == 1


async def test_parked_feedback_matches_itself_when_its_referral_arrives_later(
    example_county: StreamsDeployment,
) -> None:
    """Police systems often report before the agency's referral export lands: the parked
    feedback is re-keyed, its alert resolved and the agency told once the referral is read."""
    deployment = example_county
    examples = _examples()
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([agency_topic, police_topic])
    deployment.start_worker("w1")

    referral = examples[CaseReferred.__name__]
    early = examples[FilingDecided.__name__].model_copy(update={
        "case_id": case_id_for(EXAMPLE_POLICE, "A4211810000002024038888"),
        "event_id": str(uuid.uuid4()), "referral_number": referral.referral_number,
        "agency_decision_number": None, "referring_unit_code": None,
        "police_case_number": "A4211810000002024038888", "parties": []})
    await produce_events(bootstrap, registry, police_topic, [early])
    [(_, parked)] = await read_events_until(bootstrap, registry, topics.unmatched,
                                            lambda found: len(found) >= 1)
    assert isinstance(parked, FeedbackUnmatched)
    assert parked.feedback_event_id == early.event_id

    await produce_events(bootstrap, registry, agency_topic,
                         [examples[PenaltyCaseRecorded.__name__], referral])
    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatched) for _, e in found))
    [matched] = [e for _, e in found if isinstance(e, FeedbackMatched)]
    assert matched.feedback_event_id == early.event_id
    assert matched.case_id == referral.case_id
    assert matched.method is MatchMethod.REFERRAL_NUMBER

    resolved = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: any(isinstance(a, Alert) and a.kind is AlertKind.UNMATCHED_FEEDBACK
                          and a.status is AlertStatus.RESOLVED for _, a in found))
    assert any(isinstance(a, Alert) and a.resolved_by_event_id == matched.event_id
               for _, a in resolved)
    # the re-keyed decision names the referring agency, so it reaches the agency's inbox
    agency_inbox = await read_until(
        bootstrap, topics.inbox(EXAMPLE_AGENCY),
        lambda records: any(headers_of(r)["ce_type"] == FilingDecided.avro_name.encode()
                            for r in records))
    decisions = [r for r in agency_inbox
                 if headers_of(r)["ce_type"] == FilingDecided.avro_name.encode()]
    [delivered] = [e for e in await decode_all(registry, decisions)
                   if isinstance(e, FilingDecided)]
    assert delivered.case_id == referral.case_id
    assert delivered.referring_unit_code == EXAMPLE_AGENCY


def _open_alerts(found: list[tuple[Any, CaseEvent]], case_id: str, rule_id: str
                 ) -> set[str]:
    """Alert ids of ``rule_id`` on ``case_id`` whose latest state is RAISED."""
    latest: dict[str, AlertStatus] = {}
    for _, alert in found:
        if isinstance(alert, Alert) and alert.case_id == case_id and alert.rule_id == rule_id:
            latest[alert.alert_id] = alert.status
    return {alert_id for alert_id, status in latest.items() if status is AlertStatus.RAISED}


async def test_parked_feedback_quoting_its_own_case_id_joins_the_case_once(
    example_county: StreamsDeployment,
) -> None:
    """A police receipt that already quotes the hub's case id, read before its referral
    (sources are read in parallel), is held, then parked. When the referral arrives the
    matcher's copy has the same key and event id as the refused original: it must join the
    case once (the receipt clock stops, the agency hears of it once), and a replay of both
    records changes nothing."""
    deployment = example_county
    examples = _examples()
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    agency_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    police_topic = topics.ingest(EXAMPLE_POLICE, "feedback")
    await deployment.create_topics([agency_topic, police_topic])
    deployment.start_worker("w1")

    referral = examples[CaseReferred.__name__]
    case_id = referral.case_id
    receipt = examples[ReferralReceived.__name__].model_copy(update={
        "event_id": str(uuid.uuid4())})
    assert receipt.case_id == case_id and receipt.referral_number == referral.referral_number
    await produce_events(bootstrap, registry, police_topic, [receipt])
    unmatched = await read_events_until(
        bootstrap, registry, topics.unmatched,
        lambda found: any(e.feedback_event_id == receipt.event_id for _, e in found
                          if isinstance(e, FeedbackUnmatched)))
    assert any(isinstance(e, FeedbackUnmatched) and e.feedback_event_id == receipt.event_id
               for _, e in unmatched), deployment.log_of("w1")

    await produce_events(bootstrap, registry, agency_topic,
                         [examples[PenaltyCaseRecorded.__name__], referral])
    found = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatched) for _, e in found)
        and sum(isinstance(e, ReferralReceived) for _, e in found) >= 2)
    [matched] = [e for _, e in found if isinstance(e, FeedbackMatched)]
    assert (matched.feedback_event_id, matched.case_id, matched.original_case_id,
            matched.method) == (receipt.event_id, case_id, case_id, MatchMethod.CASE_ID)
    receipts = [r for r, e in found if isinstance(e, ReferralReceived)]
    assert [headers_of(r).get("lf_matched") for r in receipts] == [None, b"1"]
    assert {r.key for r in receipts} == {case_id.encode()}

    states = await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: (state := latest_state(found, case_id)) is not None
        and receipt.event_id in {entry.event_id for entry in state.timeline},
        timeout_s=60)
    state = latest_state(states, case_id)
    assert state is not None and receipt.event_id in {e.event_id for e in state.timeline}, \
        deployment.log_of("w1")

    # At-least-once: the original and the copy are delivered again, then a new event of
    # the case shows the worker got past them.
    consultation = examples[ConsultationRequested.__name__]
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for record in receipts:
            await producer.send_and_wait(topics.case_events, record.value, key=record.key,
                                         headers=list(record.headers))
    finally:
        await producer.stop()
    await produce_events(bootstrap, registry, agency_topic, [consultation])
    states = await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: (state := latest_state(found, case_id)) is not None
        and consultation.event_id in {entry.event_id for entry in state.timeline})
    state = latest_state(states, case_id)
    assert state is not None
    timeline = [entry.event_id for entry in state.timeline]
    assert timeline.count(receipt.event_id) == 1
    await settle(2.0)
    found = await read_events_until(bootstrap, registry, topics.case_events,
                                    lambda found: len(found) >= 8)
    assert sum(isinstance(e, FeedbackMatched) for _, e in found) == 1
    # the receipt reached the referring agency once (it names the agency: on first sight)
    agency_inbox = await read_until(
        bootstrap, topics.inbox(EXAMPLE_AGENCY),
        lambda records: any(headers_of(r)["ce_type"] == ReferralReceived.avro_name.encode()
                            for r in records))
    delivered = [r for r in agency_inbox
                 if headers_of(r)["ce_type"] == ReferralReceived.avro_name.encode()]
    assert len(delivered) == 1
    # its clock stopped: no receipt-missing alert of the case is left raised
    alerts = await read_events_until(bootstrap, registry, topics.alerts,
                                     lambda found: False, timeout_s=5)
    assert not _open_alerts(alerts, case_id, "receipt-missing"), alerts
