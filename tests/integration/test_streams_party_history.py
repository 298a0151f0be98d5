"""A party's earlier penalties counted across units by the engine (issue #14, item 4),
on the real broker: 非法行医 is an offence after two penalties (立案追诉标准（一）
Art. 57). The county health commission penalises a person twice; the health supervision
office's penalty of the same person — another unit, another case, another partition —
is screened with the two earlier ones and raises the suspected non-referral."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from hub.calendar import CHINA_TZ
from hub.identity import case_id_for
from hub.models import Alert, AlertKind, AlertStatus, Party, PartyCategory, PenaltyCaseRecorded
from hub.models.examples import EXAMPLE_UNITS_YAML
from streams.engine.outputs import partition_of
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    example_of,
    produce_events,
    read_events_until,
)

pytestmark = pytest.mark.integration

HEALTH = "11421181MB0000007M"
SUPERVISION = "11421181MB0000008Q"
UNITS = EXAMPLE_UNITS_YAML + f"""\
  - {{code: "{HEALTH}", name: 示例县卫生健康局, name_en: Example health commission,
     kind: agency, role: enforcement_agency, domains: [health], division: "421181"}}
  - {{code: "{SUPERVISION}", name: 示例县卫生健康综合监督执法局, name_en: Example health
     supervision office, kind: agency, role: enforcement_agency, domains: [health],
     division: "421181"}}
"""
PERSON = Party(name="赵某", category=PartyCategory.NATURAL_PERSON, id_type="RESIDENT_ID",
               id_number="421181198001011238")


def _practice(unit: str, number: str, decided: date) -> PenaltyCaseRecorded:
    at = datetime(decided.year, decided.month, decided.day, tzinfo=CHINA_TZ)
    return example_of(PenaltyCaseRecorded).model_copy(update={
        "event_id": str(uuid.uuid4()), "case_id": case_id_for(unit, number),
        "source_unit": unit, "occurred_at": at, "recorded_at": at + timedelta(days=1),
        "decision_number": number, "parties": [PERSON], "violation_type": "非法行医",
        "violation_type_code": "HEA-ILLEGAL-MEDICAL-PRACTICE", "enforcement_domain": "health",
        "violation_facts": "当事人未取得医师执业资格，在其住所开展诊疗活动。",
        "quantities": [], "illegal_turnover_fen": None, "illegal_gains_fen": None,
        "decision_date": decided, "deciding_authority_code": unit,
        "data_source_unit_code": unit})


def _leads(found: list[tuple[object, object]], trigger: str) -> list[Alert]:
    return [alert for _, alert in found
            if isinstance(alert, Alert) and alert.trigger_event_id == trigger
            and alert.kind is AlertKind.SUSPECTED_NON_REFERRAL]


async def test_the_third_penalty_by_another_unit_raises_the_lead(
        example_county: StreamsDeployment, tmp_path: Path) -> None:
    deployment = example_county
    units = tmp_path / "units-health.yaml"
    units.write_text(UNITS, encoding="utf-8")
    deployment.units_file = units
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    health_topic = topics.ingest(HEALTH, "penalties")
    supervision_topic = topics.ingest(SUPERVISION, "penalties")
    await deployment.create_topics([health_topic, supervision_topic])
    deployment.start_worker("w1")

    first = _practice(HEALTH, "示例卫罚〔2024〕3号", date(2024, 5, 6))
    second = _practice(HEALTH, "示例卫罚〔2024〕17号", date(2024, 11, 4))
    third = _practice(SUPERVISION, "示例卫监罚〔2025〕2号", date(2025, 6, 9))
    # the three cases live on different partitions of lf.case-events (different stores)
    partitions = list(range(4))
    assert len({partition_of(e.kafka_key(), partitions) for e in (first, second, third)}) > 1
    await produce_events(bootstrap, registry, health_topic, [first, second])
    # the earlier penalties screened (and recorded) before the third arrives
    await read_events_until(
        bootstrap, registry, topics.case_events,
        lambda found: {e.event_id for _, e in found} >= {first.event_id, second.event_id})
    await produce_events(bootstrap, registry, supervision_topic, [third])

    alerts = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: bool(_leads(found, third.event_id)), timeout_s=180)
    leads = _leads(alerts, third.event_id)
    assert leads, deployment.log_of("w1")
    lead = leads[-1]
    assert lead.status is AlertStatus.RAISED
    assert lead.responsible_unit_code == SUPERVISION
    assert lead.details["offence_id"] == "illegal-medical-practice"
    assert lead.details["value.prior_penalties"] == "2"
    # neither earlier penalty was a lead: one and zero penalties before them
    assert not _leads(alerts, first.event_id) and not _leads(alerts, second.event_id)
