"""Missing entries 应录未录 through the real engine: a native worker, the real broker.

Three agencies enter penalty decisions; one skips a number, one stops entering, and the
police answer a referral the first agency never entered. The statistics processor (one
partition, every counted event) raises one MISSING_ENTRY alert for each on ``lf.alerts``,
charged to the agency, and ``liangfa demo check``'s comparison counts them found with
nothing extra; the skipped decision entered at last resolves its alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from deploy.demo.check import compare_alerts
from hub.calendar import CHINA_TZ, WorkingDayCalendar
from hub.identity import case_id_for
from hub.models import Alert, AlertKind, AlertStatus, CaseEvent, ReferralReceived
from hub.models.examples import EXAMPLE_AGENCY, EXAMPLE_POLICE, EXAMPLE_PROCURATORATE
from streams.missing_entry_logic import (
    RULE_NUMBER_GAP,
    RULE_SILENT_UNIT,
    RULE_UNENTERED_REFERRAL,
    silent_unit_case_id,
)
from tests.integration.test_streams_harness import (
    ROGUE_AGENCY,
    UNITS_WITH_ROGUE_YAML,
    StreamsDeployment,
    penalty_of,
    produce_events,
    read_events_until,
)

pytestmark = pytest.mark.integration

THIRD_AGENCY = "11421181MB0000008Q"
UNITS_YAML = UNITS_WITH_ROGUE_YAML + (
    f'  - {{code: "{THIRD_AGENCY}", name: 示例县生态环境分局, name_en: Example environment,\n'
    '     kind: agency, role: enforcement_agency, domains: [environment], '
    'division: "421181"}\n')
CAL = WorkingDayCalendar()
START = date(2025, 3, 3)
GHOST_REFERRAL = "示例市监移〔2025〕99号"
GHOST_CASE = case_id_for(EXAMPLE_AGENCY, "示例市监立〔2025〕99号")


@pytest.fixture
def deployment(bootstrap: str, registry_url: str, tmp_path: Path) -> Iterator[StreamsDeployment]:
    deployment = StreamsDeployment(bootstrap, registry_url, tmp_path)
    units = tmp_path / "units.yaml"
    units.write_text(UNITS_YAML, encoding="utf-8")
    deployment.units_file = units
    deployment.hub_unit = EXAMPLE_PROCURATORATE
    try:
        yield deployment
    finally:
        deployment.stop_all()


def _workdays(count: int) -> list[date]:
    days = [START]
    while len(days) < count:
        days.append(CAL.add_working_days(days[-1], 1))
    return days


def _penalties(unit: str, word: str, count: int, skip: int | None = None) -> list[CaseEvent]:
    events: list[CaseEvent] = []
    for serial, day in enumerate(_workdays(count), start=1):
        if serial == skip:
            continue
        number = f"{word}〔2025〕{serial}号"
        event = penalty_of(unit, number, case_id_for(unit, number))
        occurred = datetime.combine(day, time(10), CHINA_TZ)
        events.append(event.model_copy(update={
            "occurred_at": occurred, "recorded_at": occurred + timedelta(hours=2),
            "decision_date": day}))
    return events


def _latest(found: list[tuple[Any, CaseEvent]]) -> dict[str, Alert]:
    latest: dict[str, Alert] = {}
    for _, event in found:
        if isinstance(event, Alert) and event.kind is AlertKind.MISSING_ENTRY:
            latest[event.alert_id] = event
    return latest


def _open_rules(found: list[tuple[Any, CaseEvent]]) -> set[str]:
    return {a.rule_id for a in _latest(found).values() if a.status is AlertStatus.RAISED}


async def test_missing_entries_are_raised_charged_and_counted_by_demo_check(
    deployment: StreamsDeployment,
) -> None:
    topics = deployment.topics
    bootstrap, registry = deployment.bootstrap, deployment.registry_url
    ingest = {unit: topics.ingest(unit, "cases")
              for unit in (EXAMPLE_AGENCY, ROGUE_AGENCY, THIRD_AGENCY, EXAMPLE_POLICE)}
    await deployment.create_topics(ingest.values())
    deployment.start_worker("w1")

    market = _penalties(EXAMPLE_AGENCY, "示例市监罚", 80, skip=13)
    await produce_events(bootstrap, registry, ingest[EXAMPLE_AGENCY], market)
    # The tobacco agency stops after 30 decisions; the environment agency goes on.
    await produce_events(bootstrap, registry, ingest[ROGUE_AGENCY],
                         _penalties(ROGUE_AGENCY, "示例烟罚", 30))
    await produce_events(bootstrap, registry, ingest[THIRD_AGENCY],
                         _penalties(THIRD_AGENCY, "示例环罚", 80))
    receipt_day = _workdays(5)[-1]
    received_at = datetime.combine(receipt_day, time(15), CHINA_TZ)
    receipt = ReferralReceived(
        event_id="5b0f7a34-9f0e-5d8e-a7b1-3c0b6c1d2e01", case_id=GHOST_CASE,
        source_unit=EXAMPLE_POLICE, occurred_at=received_at,
        recorded_at=received_at + timedelta(hours=1), source_system="police-test",
        source_record="receipt#1", connector_id="police-feedback",
        referral_number=GHOST_REFERRAL, referring_unit_code=EXAMPLE_AGENCY)
    await produce_events(bootstrap, registry, ingest[EXAMPLE_POLICE], [receipt])

    wanted = {RULE_NUMBER_GAP, RULE_SILENT_UNIT, RULE_UNENTERED_REFERRAL}
    found = await read_events_until(bootstrap, registry, topics.alerts,
                                    lambda found: _open_rules(found) >= wanted,
                                    timeout_s=240)
    latest = _latest(found)
    raised = {a.rule_id: a for a in latest.values() if a.status is AlertStatus.RAISED}
    assert set(raised) == wanted, deployment.log_of("w1")
    gap, silent, ghost = (raised[RULE_NUMBER_GAP], raised[RULE_SILENT_UNIT],
                          raised[RULE_UNENTERED_REFERRAL])
    assert (gap.responsible_unit_code, gap.case_id) == (
        EXAMPLE_AGENCY, case_id_for(EXAMPLE_AGENCY, "示例市监罚〔2025〕13号"))
    assert (silent.responsible_unit_code, silent.case_id) == (
        ROGUE_AGENCY, silent_unit_case_id(ROGUE_AGENCY))
    assert silent.details["last_entry"] == _workdays(30)[-1].isoformat()
    assert (ghost.responsible_unit_code, ghost.case_id) == (EXAMPLE_AGENCY, GHOST_CASE)
    assert ghost.details["feedback_unit"] == EXAMPLE_POLICE
    assert len(latest) == 3, [a.message for a in latest.values()]

    # liangfa demo check's comparison: the three planted, found, nothing extra.
    manifest = {"gaps": [{"alert_kind": "MISSING_ENTRY", "case_id": case}
                         for case in (gap.case_id, silent.case_id, ghost.case_id)],
                "pending_clocks": []}
    alerts = [a.model_dump(mode="json") for a in latest.values()]
    row = next(r for r in compare_alerts(alerts, manifest, date(2026, 12, 4))
               if r.kind == "MISSING_ENTRY")
    assert (row.planted, row.found, row.missed, row.extra_open, row.extra_resolved) == (
        3, 3, 0, 0, 0)

    # The skipped decision entered at last resolves its alert.
    late = _penalties(EXAMPLE_AGENCY, "示例市监罚", 13)[-1]
    await produce_events(bootstrap, registry, ingest[EXAMPLE_AGENCY], [late])
    found = await read_events_until(
        bootstrap, registry, topics.alerts,
        lambda found: _latest(found)[gap.alert_id].status is AlertStatus.RESOLVED,
        timeout_s=120)
    assert _latest(found)[gap.alert_id].status is AlertStatus.RESOLVED
    assert _latest(found)[silent.alert_id].status is AlertStatus.RAISED
