"""An agency's open case (立案登记, issue #13 item 3) through the real engine, on the real
broker: amounts found so far at 84% of the filing threshold raise the early-intervention
candidate during the investigation, against the agency, and the procuratorate's inbox
gets it; the case's timeline shows the open case."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from hub.calendar import CHINA_TZ
from hub.identity import case_id_for
from hub.models import AgencyCaseOpened, Alert, AlertKind, AlertStatus, CaseState
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_PROCURATORATE, example_events
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    produce_events,
    read_events_until,
)

pytestmark = pytest.mark.integration


def open_case() -> AgencyCaseOpened:
    """The example open case (货值 42,000 yuan against 50,000: 84%) under a fresh number,
    its violation type one the screening maps to 生产、销售伪劣产品罪 (the example's own
    code is a catalogue code no offence is mapped to)."""
    template = next(e for e in example_events().values() if isinstance(e, AgencyCaseOpened))
    number = f"示例市监立〔2026〕{uuid.uuid4().hex[:6]}号"
    return template.model_copy(update={
        "event_id": str(uuid.uuid4()), "agency_case_number": number,
        "violation_type_code": "MR-FAKE-PRODUCT",
        "case_id": case_id_for(EXAMPLE_AGENCY, number),
        "recorded_at": datetime.now(CHINA_TZ)})


async def test_an_open_case_near_the_threshold_raises_early_intervention_while_open(
        example_county: StreamsDeployment) -> None:
    deployment = example_county
    topics = deployment.topics
    open_cases_topic = topics.ingest(EXAMPLE_AGENCY, "open-cases")
    await deployment.create_topics([open_cases_topic])
    deployment.start_worker("w1")
    opened = open_case()
    await produce_events(deployment.bootstrap, deployment.registry_url, open_cases_topic,
                         [opened])

    def candidates(found: list) -> list[Alert]:  # type: ignore[type-arg]
        return [e for _, e in found if isinstance(e, Alert) and e.case_id == opened.case_id
                and e.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE]

    alerts = await read_events_until(deployment.bootstrap, deployment.registry_url,
                                     topics.alerts, lambda found: bool(candidates(found)))
    [alert] = candidates(alerts)
    assert alert.status is AlertStatus.RAISED, deployment.log_of("w1")
    assert alert.responsible_unit_code == EXAMPLE_AGENCY
    assert alert.trigger_event_id == opened.event_id
    inbox = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.inbox(EXAMPLE_PROCURATORATE),
        lambda found: bool(candidates(found)))
    assert [a.alert_id for a in candidates(inbox)] == [alert.alert_id]
    states = await read_events_until(
        deployment.bootstrap, deployment.registry_url, topics.case_state,
        lambda found: any(isinstance(e, CaseState) and e.case_id == opened.case_id
                          for _, e in found))
    [state] = [e for _, e in states if isinstance(e, CaseState)
               and e.case_id == opened.case_id][-1:]
    assert isinstance(state, CaseState)
    assert opened.event_id in {entry.event_id for entry in state.timeline}
    assert state.owning_unit_code == EXAMPLE_AGENCY
    assert deployment.workers["w1"].poll() is None
