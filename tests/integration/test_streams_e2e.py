"""A real worker (subprocess) with a scripted case history in and the derived topics out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.models import (
    CaseEvent,
    CaseReferred,
    ConsultationRequested,
    FilingDecided,
    PenaltyCaseRecorded,
)
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE, example_events
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    decode_all,
    headers_of,
    produce_events,
    read_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(bootstrap: str, registry_url: str, tmp_path: Path
               ) -> Iterator[StreamsDeployment]:
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

    dead = await read_until(deployment.bootstrap, topics.dead_letters,
                            lambda found: len(found) >= 2)
    assert len(dead) == 2
    by_type = {headers_of(r)["error.type"].decode(): r for r in dead}
    assert set(by_type) == {"bad-magic", "source-mismatch"}
    poison = headers_of(by_type["bad-magic"])
    assert poison["source.topic"] == agency_topic.encode()
    assert poison["processor"] == b"normalize"
    assert int(poison["source.offset"]) >= 0
    assert int(poison["source.partition"]) in range(4)
    assert by_type["bad-magic"].value == b"\x07 definitely not a Confluent Avro record"
    impostor = headers_of(by_type["source-mismatch"])
    assert EXAMPLE_POLICE.encode() in impostor["error.reason"]
    assert impostor["ce_id"] == police_decision.event_id.encode()
