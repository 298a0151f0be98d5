"""The agency-consultations preset (issue #13, 案件咨询) through ``connector test``: the
pipeline of ``run`` (parse, map, validate, Avro-encode) on its shipped sample, and the
mapped event quoting what the answer's ``consultation_id`` must match."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connectors.cli import app
from connectors.config import PRESETS_DIR, parse_config
from connectors.mapping import build_mapper
from hub.errors import RecordRejected
from hub.identity import case_id_for

MARKET = "11429901030089405N"  # 演示县市场监督管理局 (deploy/demo/units.yaml)
COUNTY_PSB = "11429901031277256Q"
PROCURATORATE = "11429901031594016T"
SAMPLE = PRESETS_DIR / "samples" / "agency-consultations.csv"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "consultations.yaml"
    raw = {"id": "consultations", "unit": MARKET, "kind": "file",
           "source": {"path": str(tmp_path), "encoding": "gbk"},
           "preset": "agency-consultations"}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_sample_passes_connector_test(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["test", str(_config(tmp_path)), "--sample", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "2 event(s) mapped, 0 rejected" in result.output
    assert '"consultation_id": "演市监咨〔2025〕2号"' in result.output
    assert '"addressed_to_unit_code": "11429901031594016T"' in result.output
    # the asked unit's name is for people; its code is what routes the event
    assert "WARNING unused column '被咨询单位'" in result.output


def test_a_consultation_maps_to_the_asked_unit_with_its_case() -> None:
    """Before the decision the case is the agency's case number; the asked unit is the
    one whose inbox it reaches and whose clock (3 working days) it starts."""
    config = parse_config({"id": "consultations", "unit": MARKET, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "agency-consultations"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    row = {"咨询编号": "演市监咨〔2025〕1号", "被咨询单位": "演示县公安局",
           "被咨询单位代码": COUNTY_PSB, "行政处罚决定书文号": "",
           "案件编号": "演市监立〔2025〕8号", "咨询事项": "是否达到立案追诉标准？",
           "答复期限": "", "咨询日期": "2025-03-10", "录入日期": "2025-03-11"}
    event = mapper.map(row, "consultations_2025.csv#2").event
    assert type(event).__name__ == "ConsultationRequested"
    assert event.consultation_id == "演市监咨〔2025〕1号"  # type: ignore[attr-defined]
    assert event.addressed_to_unit_code == COUNTY_PSB  # type: ignore[attr-defined]
    assert event.answer_due_date is None  # type: ignore[attr-defined]
    assert event.case_id == case_id_for(MARKET, "演市监立〔2025〕8号")
    row.update({"行政处罚决定书文号": "演市监罚〔2025〕12号", "答复期限": "2025-03-20",
                "被咨询单位代码": PROCURATORATE})
    decided = mapper.map(row, "consultations_2025.csv#3").event
    assert decided.case_id == case_id_for(MARKET, "演市监罚〔2025〕12号")
    assert decided.answer_due_date == date(2025, 3, 20)  # type: ignore[attr-defined]


def test_a_row_without_the_asked_unit_is_refused_naming_the_field() -> None:
    config = parse_config({"id": "consultations", "unit": MARKET, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "agency-consultations"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    row = {"咨询编号": "演市监咨〔2025〕3号", "被咨询单位代码": "",
           "案件编号": "演市监立〔2025〕9号", "咨询事项": "问",
           "咨询日期": "2025-03-10", "录入日期": "2025-03-10"}
    with pytest.raises(RecordRejected) as refused:
        mapper.map(row, "consultations_2025.csv#4")
    assert "被咨询单位代码" in str(refused.value) or "addressed_to_unit_code" in str(refused.value)
