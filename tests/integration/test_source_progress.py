"""Timed judgements wait for the connectors to read their sources, not only the bus.

A police decision quoting a referral is held for a grace, then parked for a person. When
the agency's connector has not yet read the export that holds the referral, the referral
is on no topic and the input frontier has nothing to wait for: the decision was parked,
the prosecutor read an "unmatched feedback" alert, and the hub took it back when the
agency's export was read. Connectors now say how far they have read
(``connectors.progress``) and the worker judges no later than that
(``streams.engine.sources``).

Real broker, registry, worker process and connector.
"""

from __future__ import annotations

import csv
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.config import parse_config
from connectors.progress import ProgressMark
from connectors.runner import ConnectorRunner
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_rows
from hub.config import HubSettings
from hub.identity import case_id_for
from hub.kafka import make_producer
from hub.models import CaseEvent, CaseReferred, FeedbackMatched, FeedbackUnmatched, FilingDecided
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE
from hub.topics import TopicSpec, apply_topics, source_progress_topic
from streams.engine.matching import MATCH_GRACE_S
from tests.conftest import run_sync
from tests.integration.test_connector_standard import read_topic
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    produce_events,
    read_events_until,
    wait_until_read,
)

pytestmark = pytest.mark.integration


def _pair() -> tuple[CaseReferred, FilingDecided]:
    """A referral and the police decision quoting its number."""
    number = uuid.uuid4().int % 90_000 + 10_000
    referral = example_of(CaseReferred).model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_AGENCY, f"示例市监罚〔2024〕{number}号"),
        "referral_number": f"示例市监移〔2024〕{number}号",
        "decision_number": f"示例市监罚〔2024〕{number}号",
        "agency_case_number": f"示例市监立〔2024〕{number}号"})
    police_number = f"A42118100000020241{number:05d}"
    decision = example_of(FilingDecided).model_copy(update={
        "event_id": str(uuid.uuid4()),
        "case_id": case_id_for(EXAMPLE_POLICE, police_number),
        "referral_number": referral.referral_number, "agency_decision_number": None,
        "referring_unit_code": None, "police_case_number": police_number, "parties": []})
    return referral, decision


async def write_mark(deployment: StreamsDeployment, unit: str, *, running: bool,
                     read_to_end_at: float | None, connector: str = "agency-cases",
                     stream: str = "cases") -> None:
    """A progress mark of ``unit``'s ``connector``, as the connector writes it."""
    producer = make_producer(deployment.bootstrap)
    await producer.start()
    try:
        mark = ProgressMark(connector, unit, stream, running, read_to_end_at,
                            time.time(), time.time() - 1)
        await producer.send_and_wait(deployment.topics.prefix + source_progress_topic(unit),
                                     mark.encode(), key=connector.encode())
    finally:
        await producer.stop()


async def create_progress_topic(deployment: StreamsDeployment, unit: str) -> None:
    """``unit``'s progress topic, as ``liangfa topics apply`` makes it."""
    await apply_topics(deployment.bootstrap, [TopicSpec(
        name=deployment.topics.prefix + source_progress_topic(unit), partitions=1,
        cleanup_policy="compact")])


def _about(decision: FilingDecided, kind: type[CaseEvent]) -> Any:
    def found(events: list[tuple[Any, CaseEvent]]) -> bool:
        return any(isinstance(event, kind) and getattr(event, "feedback_event_id", None)
                   == decision.event_id for _, event in events)
    return found


async def _decision_while_the_agency_reads(deployment: StreamsDeployment
                                           ) -> tuple[CaseReferred, FilingDecided]:
    """The agency's connector running, through no pass yet; the police decision on the
    bus, its referral not: the decision must not be parked for three graces."""
    topics = deployment.topics
    await create_progress_topic(deployment, EXAMPLE_AGENCY)
    await deployment.create_topics([topics.ingest(EXAMPLE_AGENCY, "cases"),
                                    topics.ingest(EXAMPLE_POLICE, "feedback")])
    deployment.env["LIANGFA_ENGINE_SOURCE_STALE_S"] = "600"
    await write_mark(deployment, EXAMPLE_AGENCY, running=True, read_to_end_at=None)
    deployment.start_worker("w1")
    referral, decision = _pair()
    await produce_events(deployment.bootstrap, deployment.registry_url,
                         topics.ingest(EXAMPLE_POLICE, "feedback"), [decision])
    # Read (the group committed past it), then three graces and a frontier round more.
    await wait_until_read(deployment, topics.ingest(EXAMPLE_POLICE, "feedback"))
    parked = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                     topics.unmatched, _about(decision, FeedbackUnmatched),
                                     timeout_s=3 * MATCH_GRACE_S + 3)
    assert not _about(decision, FeedbackUnmatched)(parked), deployment.log_of("w1")
    return referral, decision


async def test_feedback_waits_for_the_agency_connector_to_read_its_export(
    example_county: StreamsDeployment,
) -> None:
    deployment = example_county
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    referral, decision = await _decision_while_the_agency_reads(deployment)
    # The agency's pass reaches the referral, then the end of its export.
    await produce_events(bootstrap, registry,
                         deployment.topics.ingest(EXAMPLE_AGENCY, "cases"), [referral])
    await write_mark(deployment, EXAMPLE_AGENCY, running=True, read_to_end_at=time.time())
    matched = await read_events_until(bootstrap, registry, deployment.topics.case_events,
                                      _about(decision, FeedbackMatched), timeout_s=90)
    [event] = [e for _, e in matched if isinstance(e, FeedbackMatched)
               and e.feedback_event_id == decision.event_id]
    assert event.case_id == referral.case_id
    parked = await read_events_until(bootstrap, registry, deployment.topics.unmatched,
                                     _about(decision, FeedbackUnmatched), timeout_s=2)
    assert not _about(decision, FeedbackUnmatched)(parked)


async def test_a_connector_that_stopped_holds_nothing_back(
    example_county: StreamsDeployment,
) -> None:
    deployment = example_county
    _, decision = await _decision_while_the_agency_reads(deployment)
    # The agency's connector stops without the referral: the decision is parked.
    await write_mark(deployment, EXAMPLE_AGENCY, running=False, read_to_end_at=None)
    parked = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                     deployment.topics.unmatched,
                                     _about(decision, FeedbackUnmatched), timeout_s=60)
    assert _about(decision, FeedbackUnmatched)(parked), deployment.log_of("w1")


def test_a_connector_marks_its_start_its_pass_and_its_stop(
    tmp_path: Path, bootstrap: str, registry_url: str,
) -> None:
    """``connector run --once``: a mark that it runs (nothing confirmed), one that its pass
    read the folder to the end after every row was acknowledged, one that it stopped."""
    drop = tmp_path / "drop"
    drop.mkdir()
    with (drop / "export.csv").open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PENALTY_HEADER)
        writer.writerows(penalty_rows(20, 1))
    suffix = uuid.uuid4().hex[:8]
    config = parse_config({
        "id": f"progress-{suffix}", "unit": DEMO_MARKET_UNIT, "kind": "file",
        "source": {"path": str(drop), "settle_seconds": 0}, "preset": "penalty-disclosure",
        "mapping": {"stream": f"progress-{suffix}"}, "state_dir": str(tmp_path / "state"),
        "bootstrap": bootstrap, "registry_url": registry_url})
    runner = ConnectorRunner(config, settings=HubSettings())
    before = time.time()
    run_sync(runner.run(once=True))
    after = time.time()
    assert runner.summary.produced + runner.summary.read >= 20
    records = [r for r in read_topic(bootstrap, source_progress_topic(DEMO_MARKET_UNIT))
               if r.key == config.id.encode()]
    marks = [orjson.loads(r.value) for r in records]
    assert [(m["running"], m["read_to_end_at"] is not None) for m in marks] == [
        (True, False), (True, True), (False, True)]
    assert all(m["unit"] == DEMO_MARKET_UNIT and m["connector"] == config.id for m in marks)
    confirmed = marks[1]["read_to_end_at"]
    assert before <= confirmed <= marks[1]["alive_at"] <= after
    # Every row was on its topic before the pass was confirmed.
    events = read_topic(bootstrap, runner.topic)
    assert len(events) == 20
    assert max(event.timestamp for event in events) <= records[1].timestamp
