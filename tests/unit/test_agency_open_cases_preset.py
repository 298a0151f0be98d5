"""The agency-open-cases preset (issue #13, item 3: 立案登记 / 在办案件) end to end over
the screening logic: the shipped sample through ``connector test``, then its mapped open
cases screened as the engine screens a case, so the 80% rule fires during the
investigation, before any penalty decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from connectors.cli import app, sample_records
from connectors.config import PRESETS_DIR, parse_config
from connectors.mapping import AnyMapper, build_mapper
from hub.errors import RecordRejected
from hub.identity import case_id_for
from hub.models import AgencyCaseOpened, AlertKind, AlertSeverity, AlertStatus
from hub.rules import load_screening, load_thresholds, load_violation_offences, load_violation_types
from streams.screening_assessment import ScreeningRules
from streams.screening_logic import screen_case
from tests.unit.data.case_events import at

MARKET = "11429901030089405N"  # 演示县市场监督管理局 (deploy/demo/units.yaml)
PROCURATORATE = "11429901031594016T"
SAMPLE = PRESETS_DIR / "samples" / "agency-open-cases.csv"
_RAW: dict[str, Any] = {"id": "open-cases", "unit": MARKET, "kind": "file",
                        "source": {"path": str(SAMPLE.parent), "encoding": "gbk"},
                        "preset": "agency-open-cases"}


@pytest.fixture(scope="module")
def mapper() -> AnyMapper:
    config = parse_config(_RAW)
    return build_mapper(config.mapping, unit=config.unit, connector_id=config.id)


@pytest.fixture(scope="module")
def rules() -> ScreeningRules:
    return ScreeningRules(thresholds=load_thresholds(), violation_types=load_violation_types(),
                          violation_offences=load_violation_offences(),
                          screening=load_screening())


def _sample_events(mapper: AnyMapper) -> list[AgencyCaseOpened]:
    config = parse_config(_RAW)
    events = []
    for record in sample_records(config, SAMPLE):
        assert record.problem is None and record.row is not None, record.problem
        event = mapper.map(record.row, record.reference).event
        assert isinstance(event, AgencyCaseOpened)
        events.append(event)
    return events


def test_the_shipped_sample_passes_connector_test(tmp_path: Path) -> None:
    path = tmp_path / "open-cases.yaml"
    path.write_text(yaml.safe_dump(_RAW, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["test", str(path), "--sample", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "3 event(s) mapped, 0 rejected" in result.output
    assert '"illegal_turnover_fen": 4250000' in result.output  # 42500 元, exactly


def test_the_sample_raises_early_intervention_during_the_investigation(
        mapper: AnyMapper, rules: ScreeningRules) -> None:
    """21号 at 85% of the 50,000-yuan sales threshold: the candidate (INFO); 22号 at 120%:
    the same candidate, louder (no non-referral lead without a decision); 23号 at 30%:
    nothing. Each case keyed by the agency's code and its 立案编号."""
    events = _sample_events(mapper)
    found: dict[str, tuple[AlertSeverity, str]] = {}
    for event in events:
        assert event.case_id == case_id_for(MARKET, event.agency_case_number)
        result = screen_case([event], at(2025, 5, 1), rules=rules,
                             hub_unit_code=PROCURATORATE)
        for state in result.alerts:
            alert = state.alert
            assert alert.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE
            assert alert.status is AlertStatus.RAISED
            assert alert.responsible_unit_code == MARKET
            found[event.agency_case_number] = (alert.severity, alert.details["ratio"])
    assert found == {"演市监立〔2025〕21号": (AlertSeverity.INFO, "0.8500"),
                     "演市监立〔2025〕22号": (AlertSeverity.WARNING, "1.2000")}


def test_a_later_export_with_more_found_updates_the_same_case(
        mapper: AnyMapper, rules: ScreeningRules) -> None:
    row = {"立案编号": "演市监立〔2025〕30号", "立案日期": "2025-05-06",
           "当事人名称": "演示县某某五金店", "当事人类别": "个体工商户", "案由": "销售伪劣产品",
           "违法行为类型代码": "MR-FAKE-PRODUCT", "涉案金额（元）": "20000.50",
           "更新日期": "2025-05-10"}
    first = mapper.map(row, "open_cases_2025.csv#2").event
    assert first.illegal_turnover_fen == 2_000_050  # type: ignore[attr-defined]
    later = mapper.map({**row, "涉案金额（元）": "41000", "更新日期": "2025-05-20"},
                       "open_cases_2025-05-20.csv#2").event
    assert later.case_id == first.case_id and later.event_id != first.event_id
    assert mapper.map(row, "again.csv#2").event.event_id == first.event_id  # no duplicate
    assert screen_case([first], at(2025, 5, 11), rules=rules,
                       hub_unit_code=PROCURATORATE).alerts == ()
    [state] = screen_case([first, later], at(2025, 5, 21), rules=rules,
                          hub_unit_code=PROCURATORATE).alerts
    assert state.alert.trigger_event_id == later.event_id


def test_a_row_without_its_case_number_is_refused_naming_the_field(mapper: AnyMapper) -> None:
    row = {"立案编号": "", "立案日期": "2025-05-06", "当事人名称": "某某", "案由": "销售伪劣产品"}
    with pytest.raises(RecordRejected) as refused:
        mapper.map(row, "open_cases_2025.csv#7")
    assert "agency_case_number" in str(refused.value) or "立案编号" in str(refused.value)
