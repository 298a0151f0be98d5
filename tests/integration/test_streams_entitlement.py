"""A rogue unit cannot write into, and so cannot see, another unit's case (real broker).

The attack: a case id is UUIDv5 of the owning agency's code and its decision number, both
public, so agency A puts agency B's case id on a penalty event on A's *own* ingest topic
(normalize's source-unit check passes). The engine must refuse it: dead letter with the
reason, an audit record, and B's case state never lists A among its units.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from hub.calendar import CHINA_TZ
from hub.dlq.records import REPLAY_HEADER
from hub.identity import case_id_for
from hub.models import (
    AuditOperation,
    AuditRecorded,
    CaseEvent,
    CaseState,
)
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE
from tests.integration.test_streams_harness import (
    ROGUE_AGENCY,
    StreamsDeployment,
    decode_all,
    headers_of,
    penalty_of,
    produce_events,
    read_events_until,
    read_until,
)
from tests.integration.test_streams_supervision_acts import reply

pytestmark = pytest.mark.integration





async def test_a_forged_event_on_the_rogue_units_own_topic_is_refused(
        rogue_county: StreamsDeployment) -> None:
    deployment = rogue_county
    topics = deployment.topics
    owner_topic = topics.ingest(EXAMPLE_AGENCY, "cases")
    rogue_topic = topics.ingest(ROGUE_AGENCY, "cases")
    await deployment.create_topics([owner_topic, rogue_topic])
    deployment.start_worker("w1")

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    case_id = case_id_for(EXAMPLE_AGENCY, decision)
    owners = penalty_of(EXAMPLE_AGENCY, decision, case_id)
    await produce_events(deployment.bootstrap, deployment.registry_url, owner_topic, [owners])
    await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: any(e.case_id == case_id for _, e in found))

    forged = penalty_of(ROGUE_AGENCY, decision, case_id)
    # The rogue unit's own case, sent after the forgery: proof the worker went on.
    own_decision = f"示例烟罚〔2025〕{uuid.uuid4().hex[:6]}号"
    own = penalty_of(ROGUE_AGENCY, own_decision, case_id_for(ROGUE_AGENCY, own_decision))
    await produce_events(deployment.bootstrap, deployment.registry_url, rogue_topic,
                         [forged, own])

    def refused(records: list) -> list:  # type: ignore[type-arg]
        return [r for r in records if headers_of(r).get("error.type") == b"not-entitled"]

    dead = refused(await read_until(deployment.bootstrap, topics.dead_letters,
                                    lambda records: bool(refused(records))))
    assert len(dead) == 1, deployment.log_of("w1")
    headers = headers_of(dead[0])
    assert headers["processor"] == b"entitlement"
    assert headers["source.topic"] == rogue_topic.encode()
    assert ROGUE_AGENCY.encode() in headers["error.reason"]
    [dead_event] = await decode_all(deployment.registry_url, dead)
    assert dead_event.event_id == forged.event_id

    audits = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.audit_intake,
        lambda found: any(isinstance(e, AuditRecorded) for _, e in found))
    [audit] = [e for _, e in audits if isinstance(e, AuditRecorded)]
    assert audit.operation is AuditOperation.WRITE_REFUSED
    assert (audit.actor_unit_code, audit.target) == (ROGUE_AGENCY, case_id)

    states = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: any(e.case_id == own.case_id for _, e in found))
    owner_states: list[CaseEvent] = [e for _, e in states
                                     if isinstance(e, CaseState) and e.case_id == case_id]
    assert owner_states
    for state in owner_states:
        assert isinstance(state, CaseState)
        assert ROGUE_AGENCY not in state.units_involved
        assert state.owning_unit_code == EXAMPLE_AGENCY
    case_events = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_events,
        lambda found: any(e.event_id == own.event_id for _, e in found))
    # Never published to lf.case-events (its subscribers, the view among them, never see
    # it), and no case took it.
    assert forged.event_id not in {e.event_id for _, e in case_events}
    timeline_ids = {entry.event_id for state in owner_states
                    if isinstance(state, CaseState) for entry in state.timeline}
    assert forged.event_id not in timeline_ids
    assert any(e.event_id == own.event_id for _, e in case_events)
    assert deployment.workers["w1"].poll() is None

    # The same record again is a duplicate (dropped at normalize, no second dead letter);
    # a copy replayed from the dead letters (``liangfa dlq replay`` marks it) reaches the
    # entitlement check again, and is refused again, not dropped as already seen.
    replay_header = (REPLAY_HEADER, f"{topics.dead_letters}/0/{dead[0].offset}".encode())
    later_decision = f"示例烟罚〔2025〕{uuid.uuid4().hex[:6]}号"
    later = penalty_of(ROGUE_AGENCY, later_decision, case_id_for(ROGUE_AGENCY, later_decision))
    await produce_events(deployment.bootstrap, deployment.registry_url, rogue_topic, [forged])
    await produce_events(deployment.bootstrap, deployment.registry_url, rogue_topic, [forged],
                         extra_headers=[replay_header])
    await produce_events(deployment.bootstrap, deployment.registry_url, rogue_topic, [later])
    await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: any(e.case_id == later.case_id for _, e in found))
    dead_again = refused(await read_until(deployment.bootstrap, topics.dead_letters,
                                          lambda records: len(refused(records)) >= 2))
    assert len(dead_again) == 2, deployment.log_of("w1")
    assert headers_of(dead_again[1]).get(REPLAY_HEADER) == replay_header[1]


async def test_an_event_on_a_case_nobody_has_sent_waits_then_is_refused(
        rogue_county: StreamsDeployment) -> None:
    deployment = rogue_county
    """An event not entitled to a case the hub knows nothing of waits for the case (a
    backfill may read its addressee's folder first), but not for ever: at the end of its
    wait (``LIANGFA_ENGINE_AWAIT_CASE_S``, here 2 s) it is refused like any other. Here a
    police unit answers as if it were the agency's addressee, on an agency case no event
    ever opens (an agency could claim such a case; a police unit cannot)."""
    deployment.env["LIANGFA_ENGINE_AWAIT_CASE_S"] = "2"
    topics = deployment.topics
    police_topic = topics.ingest(EXAMPLE_POLICE, "replies")
    await deployment.create_topics([police_topic])
    deployment.start_worker("w1")

    decision = f"示例市监罚〔2025〕{uuid.uuid4().hex[:6]}号"
    answer = reply(case_id_for(EXAMPLE_AGENCY, decision), EXAMPLE_POLICE,
                   str(uuid.uuid4()), datetime.now(CHINA_TZ))
    await produce_events(deployment.bootstrap, deployment.registry_url, police_topic,
                         [answer])

    def refused(records: list) -> list:  # type: ignore[type-arg]
        return [r for r in records if headers_of(r).get("error.type") == b"not-entitled"]

    dead = refused(await read_until(deployment.bootstrap, topics.dead_letters,
                                    lambda records: bool(refused(records))))
    assert len(dead) == 1, deployment.log_of("w1")
    assert EXAMPLE_POLICE.encode() in headers_of(dead[0])["error.reason"]
    assert headers_of(dead[0])["source.topic"] == police_topic.encode()
    [dead_event] = await decode_all(deployment.registry_url, dead)
    assert dead_event.event_id == answer.event_id
    case_events = await read_until(deployment.bootstrap, topics.case_events,
                                   lambda _: False, timeout_s=2)
    assert not [r for r in case_events if r.key == answer.case_id.encode()]
    assert deployment.workers["w1"].poll() is None
