"""Three ways around the entitlement check, closed (real broker, registry and worker).

- A producer picks its record's partition. An event put on a partition of its ingest
  topic whose task does not own its case used to be forwarded to ``lf.case-events``
  before any check (the two-hop path), where the view and the public feed read it. It now
  goes to its case's task through the engine's own ``lf.streams.case-intake`` and is
  checked there like any other.
- The unit operating the hub (a procuratorate) has ingest topics like every unit. What
  its connector writes there must not pass as what the hub derives: a forged
  FeedbackMatchWithdrawn would take the police's decision out of any case.
- A referral number is printed on paper the agency keeps. Any police unit quoting it had
  its decision matched to the referral's case and joined to it; now only the organ the
  referral went to (or was forwarded to) reports on the case.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.dlq.records import Selection, read_dead_letters
from hub.dlq.replay import replay
from hub.identity import case_id_for
from hub.models import (
    Alert,
    AlertKind,
    AuditOperation,
    AuditRecorded,
    CaseForwarded,
    CaseReferred,
    CaseState,
    ConsultationAnswered,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FilingDecided,
    FilingDecision,
    MatchMethod,
)
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_HUB_UNIT, EXAMPLE_POLICE
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde
from streams._alerts import uuid_for
from tests.integration.test_streams_harness import (
    ROGUE_AGENCY,
    ROGUE_POLICE,
    UNITS_WITH_ROGUE_YAML,
    StreamsDeployment,
    example_of,
    fresh_referral,
    headers_of,
    partition_not_owning,
    penalty_of,
    produce_events,
    produce_on_partition,
    read_events_until,
    read_until,
    wait_until_read,
)

pytestmark = pytest.mark.integration


async def _an_agency_case(deployment: StreamsDeployment, sender_topic: str
                          ) -> tuple[str, str]:
    """A worker running, the example agency's case on it; (decision number, case id)."""
    topics = deployment.topics
    owner_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    await deployment.create_topics([owner_topic, sender_topic])
    deployment.start_worker("w1")
    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    await produce_events(deployment.bootstrap, deployment.registry_url, owner_topic,
                         [penalty_of(EXAMPLE_AGENCY, decision, case_id)])
    await read_events_until(deployment.bootstrap, deployment.registry_url, topics.case_state,
                            lambda found: any(e.case_id == case_id for _, e in found))
    return decision, case_id


def _refused(records: list) -> list:  # type: ignore[type-arg]
    return [r for r in records if headers_of(r).get("error.type") == b"not-entitled"]


async def test_an_event_on_a_partition_of_its_choosing_is_checked_before_it_is_published(
        rogue_county: StreamsDeployment) -> None:
    deployment = rogue_county
    topics = deployment.topics
    rogue_topic = topics.ingest(ROGUE_AGENCY, "cases")
    decision, case_id = await _an_agency_case(deployment, rogue_topic)

    forged = penalty_of(ROGUE_AGENCY, decision, case_id).model_copy(
        update={"violation_type": "伪造的违法类型"})
    own_decision = f"示例烟罚〔2025〕{uuid.uuid4().hex[:6]}号"
    own = penalty_of(ROGUE_AGENCY, own_decision, case_id_for(ROGUE_AGENCY, own_decision))
    # Both on a partition their case's task does not read: the forgery must be refused,
    # the unit's own event (a producer with another partitioner) still taken, once.
    await produce_on_partition(deployment, rogue_topic, forged, partition_not_owning(forged))
    await produce_on_partition(deployment, rogue_topic, own, partition_not_owning(own))

    dead = _refused(await read_until(deployment.bootstrap, topics.dead_letters,
                                     lambda records: bool(_refused(records))))
    assert [headers_of(r)["error.reason"] for r in dead], deployment.log_of("w1")
    letter = headers_of(dead[0])
    assert ROGUE_AGENCY.encode() in letter["error.reason"]
    # The letter names where the unit wrote it, not the engine's internal topic: a
    # replay (``liangfa dlq replay``) goes back through normalize.
    assert (letter["source.topic"], letter["source.partition"]) == (
        rogue_topic.encode(), str(partition_not_owning(forged)).encode())
    published = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_events,
        lambda found: any(e.event_id == own.event_id for _, e in found))
    ids = [e.event_id for _, e in published]
    assert forged.event_id not in ids, deployment.log_of("w1")
    assert ids.count(own.event_id) == 1
    states = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: any(e.case_id == own.case_id for _, e in found))
    for _, state in states:
        if isinstance(state, CaseState) and state.case_id == case_id:
            assert ROGUE_AGENCY not in state.units_involved
            assert state.owning_unit_code == EXAMPLE_AGENCY
    assert deployment.workers["w1"].poll() is None


async def test_the_hub_operators_ingest_topic_cannot_send_what_only_the_hub_derives(
        rogue_county: StreamsDeployment) -> None:
    deployment = rogue_county
    topics = deployment.topics
    operator_topic = topics.ingest(EXAMPLE_HUB_UNIT, "cases")
    _, case_id = await _an_agency_case(deployment, operator_topic)
    now = datetime.now(UTC)
    forged = FeedbackMatchWithdrawn(
        event_id=str(uuid.uuid4()), case_id=case_id, source_unit=EXAMPLE_HUB_UNIT,
        occurred_at=now, recorded_at=now, source_system="operator-cms",
        source_record="forged", connector_id="operator-cms",
        feedback_event_id=str(uuid.uuid4()), feedback_type="FilingDecided",
        method=MatchMethod.PARTY_IDENTIFIER, reason="forged", candidate_case_ids=[])
    await produce_events(deployment.bootstrap, deployment.registry_url, operator_topic,
                         [forged])

    dead = _refused(await read_until(deployment.bootstrap, topics.dead_letters,
                                     lambda records: bool(_refused(records))))
    assert len(dead) == 1, deployment.log_of("w1")
    assert b"FeedbackMatchWithdrawn" in headers_of(dead[0])["error.reason"]
    published = await read_until(deployment.bootstrap, topics.case_events,
                                 lambda _: False, timeout_s=2)
    assert forged.event_id.encode() not in {headers_of(r).get("ce_id") for r in published}
    assert deployment.workers["w1"].poll() is None


def _a_referral() -> tuple[CaseReferred, Callable[[str, FilingDecision], FilingDecided]]:
    """The example agency's referral to the county's bureau, and a police unit's filing
    decision quoting its number (keyed by the police's own case number)."""
    referral, number = fresh_referral()
    assert referral.receiving_unit_code == EXAMPLE_POLICE

    def decision_of(unit: str, decision: FilingDecision) -> FilingDecided:
        police_number = f"A42118{'2' if unit == ROGUE_POLICE else '1'}00000020242{number:05d}"
        decided: FilingDecided = example_of(FilingDecided).model_copy(update={
            "event_id": str(uuid.uuid4()), "source_unit": unit,
            "case_id": case_id_for(unit, police_number), "decision": decision,
            "referral_number": referral.referral_number,
            "agency_decision_number": None, "referring_unit_code": EXAMPLE_AGENCY,
            "police_case_number": police_number, "parties": []})
        return decided

    return referral, decision_of


async def _state_holding(deployment: StreamsDeployment, case_id: str, event_id: str, *,
                         timeout_s: float = 120.0) -> CaseState:
    """The latest CaseState of ``case_id`` whose timeline holds ``event_id``, once the
    worker published one."""
    def holding(found: list[Any]) -> list[CaseState]:
        return [e for _, e in found if isinstance(e, CaseState) and e.case_id == case_id
                and event_id in {t.event_id for t in e.timeline}]

    states = holding(await read_events_until(
        deployment.bootstrap, deployment.registry_url, deployment.topics.case_state,
        lambda found: bool(holding(found)), timeout_s=timeout_s))
    assert states, deployment.log_of("w1")
    return states[-1]


async def _police_county(deployment: StreamsDeployment) -> tuple[str, str, str]:
    """The agency's, the bureau's and the neighbouring county's ingest topics, and a
    worker running."""
    topics = deployment.topics
    agency, police, rogue = (topics.ingest(EXAMPLE_AGENCY, "cases"),
                             topics.ingest(EXAMPLE_POLICE, "feedback"),
                             topics.ingest(ROGUE_POLICE, "feedback"))
    await deployment.create_topics([agency, police, rogue])
    deployment.start_worker("w1")
    return agency, police, rogue


async def _a_referred_case(deployment: StreamsDeployment) -> tuple[
        tuple[str, str, str], CaseReferred, Callable[[str, FilingDecision], FilingDecided]]:
    """The county's topics with a worker running, and the agency's referral read (its
    case's first state published); with the police decisions quoting it."""
    topics = await _police_county(deployment)
    referral, decision_of = _a_referral()
    await produce_events(deployment.bootstrap, deployment.registry_url, topics[0],
                         [referral])
    await read_events_until(deployment.bootstrap, deployment.registry_url,
                            deployment.topics.case_state,
                            lambda found: any(e.case_id == referral.case_id
                                              for _, e in found))
    return topics, referral, decision_of


async def test_a_police_unit_the_referral_did_not_go_to_cannot_decide_on_its_case(
        rogue_county: StreamsDeployment) -> None:
    deployment = rogue_county
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    (_, police, rogue), referral, decision_of = await _a_referred_case(deployment)
    case_id = referral.case_id

    # The neighbouring county's police first "answer a consultation" on the case naming
    # itself as the unit that asked (routed to itself, it would have become the case's
    # addressee), then "decline to file" the referral, quoting its number; then the
    # bureau it went to files it.
    answer = example_of(ConsultationAnswered).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id, "source_unit": ROGUE_POLICE,
        "requested_by_unit_code": ROGUE_POLICE})
    forged = decision_of(ROGUE_POLICE, FilingDecision.NOT_FILED)
    real = decision_of(EXAMPLE_POLICE, FilingDecision.FILED)
    await produce_events(bootstrap, registry, rogue, [answer, forged])
    await produce_events(bootstrap, registry, police, [real])

    dead = _refused(await read_until(bootstrap, topics.dead_letters,
                                     lambda records: len(_refused(records)) >= 2,
                                     timeout_s=90))
    reasons = sorted(headers_of(r)["error.reason"].decode() for r in dead)
    assert len(reasons) == 2, deployment.log_of("w1")
    assert ["ConsultationAnswered" in reasons[0], "FilingDecided" in reasons[1]] == [
        True, True], reasons
    assert all(ROGUE_POLICE in reason and EXAMPLE_POLICE in reason for reason in reasons)
    joined = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(e.event_id == real.event_id and e.case_id == case_id
                          for _, e in found), timeout_s=90)
    on_case = [e for _, e in joined if e.case_id == case_id]
    assert real.event_id in {e.event_id for e in on_case}, deployment.log_of("w1")
    assert forged.event_id not in {e.event_id for e in on_case}
    # The matcher had tied the forged decision to the case (by the referral number): the
    # match is undone by an event the case's timeline shows.
    withdrawals = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatchWithdrawn)
                          and e.feedback_event_id == forged.event_id for _, e in found),
        timeout_s=60)
    [withdrawal] = [e for _, e in withdrawals if isinstance(e, FeedbackMatchWithdrawn)
                    and e.feedback_event_id == forged.event_id]
    assert withdrawal.case_id == case_id and ROGUE_POLICE in withdrawal.reason
    states = await read_events_until(
        bootstrap, registry, topics.case_state,
        lambda found: any(isinstance(e, CaseState) and e.case_id == case_id
                          and {withdrawal.event_id, real.event_id} <= {
                              t.event_id for t in e.timeline} for _, e in found))
    mine = [state for _, state in states
            if isinstance(state, CaseState) and state.case_id == case_id]
    assert mine, deployment.log_of("w1")
    for state in mine:
        assert ROGUE_POLICE not in state.units_involved
    # whichever was read first, the case carries the bureau's number, not the forger's
    # nor none
    assert mine[-1].police_case_number == real.police_case_number
    assert deployment.workers["w1"].poll() is None


async def test_a_police_decision_read_before_the_referral_is_checked_when_it_comes(
        rogue_county: StreamsDeployment) -> None:
    """The police feedback preset keys feedback by the referral it quotes, a case id
    anyone can compute. Read before anything of its case, the neighbouring county's
    decision passes (any police unit may report on a case no referral went through the
    hub) and waits for its case; the referral read next names the organ that answers."""
    deployment = rogue_county
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    agency, _, rogue = await _police_county(deployment)
    referral, decision_of = _a_referral()
    forged = decision_of(ROGUE_POLICE, FilingDecision.NOT_FILED).model_copy(
        update={"case_id": referral.case_id})
    await produce_events(bootstrap, registry, rogue, [forged])
    await wait_until_read(deployment, rogue)
    await produce_events(bootstrap, registry, agency, [referral])

    dead = _refused(await read_until(bootstrap, topics.dead_letters,
                                     lambda records: bool(_refused(records)), timeout_s=90))
    reason = headers_of(dead[0])["error.reason"].decode()
    assert "FilingDecided" in reason and ROGUE_POLICE in reason, reason
    last = await _state_holding(deployment, referral.case_id, referral.event_id)
    assert ROGUE_POLICE not in last.units_involved
    assert forged.event_id not in {entry.event_id for entry in last.timeline}
    assert deployment.workers["w1"].poll() is None


async def test_a_police_answer_taken_before_the_referral_named_another_organ_is_raised(
        rogue_county: StreamsDeployment) -> None:
    """The agency's penalty is known; the neighbouring police's decision on the case is
    read before the referral (any police unit may report on a case no referral went
    through, how an unentered referral shows) and taken. The referral then names the
    county bureau: the decision stays on the case, and a person is asked to review it
    (an ENTITLEMENT_REVIEW alert naming the unit), once."""
    deployment = rogue_county
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    agency, _, rogue = await _police_county(deployment)
    referral, decision_of = _a_referral()
    case_id = referral.case_id
    assert referral.decision_number is not None
    await produce_events(bootstrap, registry, agency,
                         [penalty_of(EXAMPLE_AGENCY, referral.decision_number, case_id)])
    await read_events_until(bootstrap, registry, topics.case_state,
                            lambda found: any(e.case_id == case_id for _, e in found))
    early = decision_of(ROGUE_POLICE, FilingDecision.FILED).model_copy(
        update={"case_id": case_id})
    await produce_events(bootstrap, registry, rogue, [early])
    await _state_holding(deployment, case_id, early.event_id)
    await produce_events(bootstrap, registry, agency, [referral])

    def reviews(found: list[Any]) -> list[Alert]:
        return [e for _, e in found if isinstance(e, Alert) and e.case_id == case_id
                and e.kind is AlertKind.ENTITLEMENT_REVIEW]

    [alert] = reviews(await read_events_until(
        bootstrap, registry, topics.alerts, lambda found: bool(reviews(found)),
        timeout_s=90))
    assert (alert.trigger_event_id, alert.details["unit"]) == (early.event_id, ROGUE_POLICE)
    assert alert.responsible_unit_code == deployment.hub_unit  # the procuratorate reviews
    assert EXAMPLE_POLICE in alert.message, alert.message
    last = await _state_holding(deployment, case_id, referral.event_id)
    assert early.event_id in {t.event_id for t in last.timeline}
    assert alert.alert_id in last.open_alerts
    # A later event of the case changes no relation: nothing is raised again.
    marker = decision_of(EXAMPLE_POLICE, FilingDecision.FILED).model_copy(
        update={"case_id": case_id})
    await produce_events(bootstrap, registry, topics.ingest(EXAMPLE_POLICE, "feedback"),
                         [marker])
    await _state_holding(deployment, case_id, marker.event_id, timeout_s=90)
    everything = await read_events_until(bootstrap, registry, topics.alerts,
                                         lambda found: False, timeout_s=5)  # all there is
    assert len(reviews(everything)) == 1
    assert deployment.workers["w1"].poll() is None


async def _a_decision_refused(deployment: StreamsDeployment
                              ) -> tuple[FilingDecided, CaseReferred, str]:
    """The neighbouring county's decision on the bureau's referred case, refused (the
    refusal undid the match: its withdrawal took the police case number away). The
    decision, the referral and the police ingest topic."""
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    (_, police, rogue), referral, decision_of = await _a_referred_case(deployment)
    decided = decision_of(ROGUE_POLICE, FilingDecision.FILED)
    await produce_events(bootstrap, registry, rogue, [decided])
    dead = _refused(await read_until(bootstrap, topics.dead_letters,
                                     lambda records: bool(_refused(records)), timeout_s=90))
    assert len(dead) == 1, deployment.log_of("w1")
    await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(isinstance(e, FeedbackMatchWithdrawn)
                          and e.feedback_event_id == decided.event_id for _, e in found))
    return decided, referral, police


async def _a_decision_refused_then_forwarded(deployment: StreamsDeployment
                                             ) -> tuple[FilingDecided, str]:
    """:func:`_a_decision_refused`; then the bureau's forward of the case to that county
    (移送管辖), which makes its police an addressee, read. The decision and the case
    id."""
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    decided, referral, police = await _a_decision_refused(deployment)
    case_id = referral.case_id
    forward = example_of(CaseForwarded).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id, "source_unit": EXAMPLE_POLICE,
        "referral_number": referral.referral_number, "referring_unit_code": EXAMPLE_AGENCY,
        "forwarded_to_unit_code": ROGUE_POLICE, "forwarded_to_unit_name": None})
    await produce_events(bootstrap, registry, police, [forward])
    await _state_holding(deployment, case_id, forward.event_id)
    return decided, case_id


async def _rejoined(deployment: StreamsDeployment, decided: FilingDecided,
                    case_id: str) -> None:
    """The decision joined its case: the match recorded again under its own id (the view
    closes the queue item the withdrawal opened), the case carrying the decision's police
    case number, the admission audited beside the refusal; the worker still running."""
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    rejoined_id = uuid_for("feedback-rejoined", decided.event_id, case_id)
    matches = await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: any(e.event_id == rejoined_id for _, e in found), timeout_s=90)
    [rejoined] = [e for _, e in matches if e.event_id == rejoined_id]
    assert isinstance(rejoined, FeedbackMatched), deployment.log_of("w1")
    assert (rejoined.feedback_event_id, rejoined.case_id) == (decided.event_id, case_id)
    assert rejoined.method is MatchMethod.REFERRAL_NUMBER
    assert any(e.event_id == decided.event_id and e.case_id == case_id for _, e in matches)
    state = await _state_holding(deployment, case_id, decided.event_id)
    assert state.police_case_number == decided.police_case_number

    def of_the_decision(found: list[Any]) -> list[AuditRecorded]:
        return [e for _, e in found if isinstance(e, AuditRecorded)
                and e.actor_unit_code == ROGUE_POLICE and e.target == case_id]

    audits = of_the_decision(await read_events_until(
        bootstrap, registry, topics.audit_intake,
        lambda found: any(e.operation is AuditOperation.WRITE_ADMITTED
                          for e in of_the_decision(found))))
    assert [e.operation for e in audits] == [AuditOperation.WRITE_REFUSED,
                                             AuditOperation.WRITE_ADMITTED]
    assert audits[1].query is not None and "addressee:police" in audits[1].query
    assert deployment.workers["w1"].poll() is None


async def test_a_refused_decision_replayed_once_its_unit_is_entitled_rejoins_its_case(
        rogue_county: StreamsDeployment) -> None:
    """With the hub's own second look switched off (or its week over), an operator
    replays the dead letter once the forward is in: the decision joins its case."""
    deployment = rogue_county
    deployment.env["LIANGFA_ENGINE_RECHECK_REFUSED_S"] = "0"
    decided, case_id = await _a_decision_refused_then_forwarded(deployment)
    topics = deployment.topics
    letters = await read_dead_letters(deployment.bootstrap, topics.dead_letters,
                                      selection=Selection(error_type="not-entitled"))
    assert [letter.origin_topic for letter in letters] == [topics.case_intake]
    async with SchemaRegistryClient(deployment.registry_url) as client:
        report = await replay(deployment.bootstrap, letters, serde=AvroSerde(client),
                              actor="operator", actor_unit=EXAMPLE_HUB_UNIT,
                              audit_topic=topics.audit_intake)
    assert report.replayed == [letters[0].letter_id], report
    await _rejoined(deployment, decided, case_id)


async def test_a_decision_read_before_the_forward_that_entitles_it_joins_when_it_comes(
        rogue_county: StreamsDeployment) -> None:
    """Bureau A exports daily, bureau B hourly: B's decision on the case A forwarded to
    it is read, refused and dead-lettered a day before A's CaseForwarded. The case keeps
    the refused decision and checks it again as it changes: the forward brings it in,
    with no replay and no second dead letter."""
    deployment = rogue_county
    decided, case_id = await _a_decision_refused_then_forwarded(deployment)
    await _rejoined(deployment, decided, case_id)
    letters = await read_dead_letters(deployment.bootstrap, deployment.topics.dead_letters,
                                      selection=Selection(error_type="not-entitled"))
    assert len(letters) == 1, deployment.log_of("w1")


async def test_a_refusal_the_unit_registry_caused_joins_when_the_corrected_registry_starts(
        rogue_county: StreamsDeployment) -> None:
    """A unit registered without its bureau (the neighbouring police here) is refused on
    the cases referred to the bureau. The operator corrects the unit registry (the unit
    is registered under the bureau) and restarts the worker: the refusals the cases keep
    are checked at the start and join, though nothing new comes on their cases."""
    deployment = rogue_county
    decided, referral, _ = await _a_decision_refused(deployment)
    assert deployment.units_file is not None
    deployment.stop_worker("w1")
    deployment.units_file.write_text(UNITS_WITH_ROGUE_YAML.replace(
        'division: "421182"}', f'division: "421182", parent: "{EXAMPLE_POLICE}"}}'),
        encoding="utf-8")
    deployment.start_worker("w1")
    await _rejoined(deployment, decided, referral.case_id)


async def test_a_decision_read_with_the_forward_that_entitles_it_stays_on_its_case(
        rogue_county: StreamsDeployment) -> None:
    """The decision and the forward sent together: whichever the case reads first, the
    decision ends on it. (Refused first, the decision used to be able to join by the
    forward before the case had read the withdrawal its refusal published, which then
    took it out again.) A later event of the case shows the state after both."""
    deployment = rogue_county
    bootstrap, registry, topics = deployment.bootstrap, deployment.registry_url, \
        deployment.topics
    (_, police, rogue), referral, decision_of = await _a_referred_case(deployment)
    case_id = referral.case_id
    decided = decision_of(ROGUE_POLICE, FilingDecision.FILED)

    def forward() -> CaseForwarded:
        forwarded: CaseForwarded = example_of(CaseForwarded).model_copy(update={
            "event_id": str(uuid.uuid4()), "case_id": case_id,
            "source_unit": EXAMPLE_POLICE, "referral_number": referral.referral_number,
            "referring_unit_code": EXAMPLE_AGENCY, "forwarded_to_unit_code": ROGUE_POLICE,
            "forwarded_to_unit_name": None})
        return forwarded

    await produce_events(bootstrap, registry, rogue, [decided])
    await produce_events(bootstrap, registry, police, [forward()])
    await _state_holding(deployment, case_id, decided.event_id, timeout_s=90)
    await wait_until_read(deployment, rogue)
    await wait_until_read(deployment, topics.case_events)
    marker = forward()
    await produce_events(bootstrap, registry, police, [marker])
    last = await _state_holding(deployment, case_id, marker.event_id, timeout_s=90)
    assert decided.event_id in {t.event_id for t in last.timeline}, deployment.log_of("w1")
    assert last.police_case_number == decided.police_case_number
    assert deployment.workers["w1"].poll() is None
