"""The engine keeps going: a case too large to store, an ingest topic added later."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.structs import ConsumerRecord

from hub.identity import case_id_for
from hub.models import CaseEvent, CaseState, PenaltyCaseRecorded
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_PROCURATORATE, example_events
from hub.topics import TopicSpec, apply_topics
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    decode_all,
    headers_of,
    produce_events,
    read_events_until,
    read_until,
    write_example_units,
)

pytestmark = pytest.mark.integration

#: A document limit the poison case exceeds after a few hundred events (default 3.5 MiB).
_DOCUMENT_LIMIT = 48 * 1024
_POISON_EVENTS = 1200


@pytest.fixture
def deployment(bootstrap: str, registry_url: str, tmp_path: Path
               ) -> Iterator[StreamsDeployment]:
    deployment = StreamsDeployment(bootstrap, registry_url, tmp_path)
    deployment.units_file = write_example_units(tmp_path)
    deployment.hub_unit = EXAMPLE_PROCURATORATE
    deployment.env = {"LIANGFA_ENGINE_MAX_DOCUMENT_BYTES": str(_DOCUMENT_LIMIT),
                      "LIANGFA_ENGINE_METADATA_MAX_AGE_MS": "2000"}
    try:
        yield deployment
    finally:
        deployment.stop_all()


def _penalties(tag: str, cases: int, per_case: int) -> list[list[PenaltyCaseRecorded]]:
    template = next(e for e in example_events().values()
                    if isinstance(e, PenaltyCaseRecorded))
    found = []
    for number in range(cases):
        decision = f"两工作者罚〔2024〕{tag}{number}号"
        case_id = case_id_for(EXAMPLE_AGENCY, decision)
        found.append([template.model_copy(update={
            "case_id": case_id, "event_id": str(uuid.uuid4()), "decision_number": decision})
            for _ in range(per_case)])
    return found


def _latest_states(found: list[tuple[object, CaseEvent]]) -> dict[str, CaseState]:
    return {e.case_id: e for _, e in found if isinstance(e, CaseState)}


async def test_a_case_too_large_to_store_does_not_stop_the_worker(
        deployment: StreamsDeployment) -> None:
    topics = deployment.topics
    ingest = topics.ingest(EXAMPLE_AGENCY, "cases")
    await deployment.create_topics([ingest])
    deployment.start_worker("w1")
    [poison] = _penalties("p", 1, _POISON_EVENTS)
    before, after = _penalties("b", 6, 1), _penalties("a", 6, 1)
    await produce_events(deployment.bootstrap, deployment.registry_url, ingest,
                         [e for case in before for e in case] + poison
                         + [e for case in after for e in case])
    wanted = {case[0].case_id for case in before + after}
    states = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: set(_latest_states(found)) >= wanted, timeout_s=240)
    assert set(_latest_states(states)) >= wanted, deployment.log_of("w1")

    # The poison case's document outgrew the limit: first trimmed, then (the aggregate's
    # own event ids alone exceed the lowered limit) its records dead-lettered, each one
    # with the error headers, so nothing is dropped silently.
    poison_ids = {e.event_id for e in poison}

    def dead_lettered(records: list[ConsumerRecord[bytes, bytes]]
                      ) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for r in records if headers_of(r).get("error.type") == b"state-too-large"]

    dlq = await read_until(deployment.bootstrap, topics.dead_letters,
                           lambda records: bool(dead_lettered(records)), timeout_s=120)
    # Read the whole DLQ once the first rejection is there (the rest follow it).
    rejected = dead_lettered(await read_until(deployment.bootstrap, topics.dead_letters,
                                              lambda records: False, timeout_s=5)
                             if dlq else dlq)
    assert rejected, deployment.log_of("w1")
    for record in rejected:
        headers = headers_of(record)
        assert headers["processor"] == b"case-processors"
        # Processed in one hop: the dead letter names the unit's own ingest record.
        assert headers["source.topic"] == ingest.encode()
        assert b"state document" in headers["error.reason"]
    # Nothing lost silently: every poison event either reached a CaseState of its case
    # (each batch's CaseState is emitted before the document is trimmed or rejected) or
    # went to the DLQ with the error headers.
    rejected_ids = {e.event_id for e in await decode_all(deployment.registry_url, rejected)}

    def covered(found: list[tuple[object, CaseEvent]]) -> set[str]:
        shown = {entry.event_id for _, e in found
                 if isinstance(e, CaseState) and e.case_id == poison[0].case_id
                 for entry in e.timeline}
        return (shown | rejected_ids) & poison_ids

    states = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: covered(found) == poison_ids, timeout_s=120)
    assert covered(states) == poison_ids
    assert rejected_ids < poison_ids  # the first events of the case were stored
    log_text = (deployment.tmp / "w1.log").read_text(errors="replace")
    assert "dropped from its state document" in log_text
    assert deployment.workers["w1"].poll() is None, deployment.log_of("w1")


async def test_an_ingest_topic_created_after_the_worker_started_is_consumed(
        deployment: StreamsDeployment) -> None:
    topics = deployment.topics
    first = topics.ingest(EXAMPLE_AGENCY, "cases")
    await deployment.create_topics([first])
    deployment.start_worker("w1")
    [[early]] = _penalties("e", 1, 1)
    await produce_events(deployment.bootstrap, deployment.registry_url, first, [early])
    await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_events,
        lambda found: any(e.event_id == early.event_id for _, e in found))

    later = topics.ingest(EXAMPLE_AGENCY, "penalties-v2")
    await apply_topics(deployment.bootstrap, [TopicSpec(name=later, partitions=4)])
    new_events = [case[0] for case in _penalties("n", 8, 1)]
    await produce_events(deployment.bootstrap, deployment.registry_url, later, new_events)
    wanted = {e.event_id for e in new_events}
    found = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_events,
        lambda found: {e.event_id for _, e in found} >= wanted, timeout_s=120)
    assert {e.event_id for _, e in found} >= wanted, deployment.log_of("w1")
    states = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: set(_latest_states(found)) >= {e.case_id for e in new_events},
        timeout_s=120)
    assert set(_latest_states(states)) >= {e.case_id for e in new_events}
    assert deployment.workers["w1"].poll() is None


async def test_an_ingest_topic_not_co_partitioned_takes_the_two_hop_path(
        deployment: StreamsDeployment) -> None:
    """8 ingest partitions against the engine's 4: partitions 4-7 have no case store, and
    a key's partition differs between the topics; every case still gets its state once."""
    topics = deployment.topics
    wide = topics.ingest(EXAMPLE_AGENCY, "wide")
    await apply_topics(deployment.bootstrap, [TopicSpec(name=wide, partitions=8)])
    await deployment.create_topics([])
    deployment.start_worker("w1")
    events = [case[0] for case in _penalties("w", 24, 1)]
    await produce_events(deployment.bootstrap, deployment.registry_url, wide, events)
    wanted = {e.case_id for e in events}
    states = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: set(_latest_states(found)) >= wanted, timeout_s=120)
    assert set(_latest_states(states)) >= wanted, deployment.log_of("w1")
    case_events = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_events,
        lambda found: {e.event_id for _, e in found} >= {e.event_id for e in events})
    # At least once on the bus (a replayed batch of a partition without a store may
    # publish again, with the same event id); exactly once in each case.
    assert {e.event_id for _, e in case_events} == {e.event_id for e in events}
    for case_id, state in _latest_states(states).items():
        if case_id in wanted:
            timeline = [entry.event_id for entry in state.timeline]
            assert len(timeline) == len(set(timeline)) == 1, state
    assert deployment.workers["w1"].poll() is None, deployment.log_of("w1")
