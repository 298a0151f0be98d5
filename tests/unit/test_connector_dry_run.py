"""``connector test`` / ``connector validate`` on sample files written to disk: the dry run
is the pipeline of ``run`` (Avro encoding included), headers are matched as people write
them, and a column no rule reads, or a mapped field empty in every row, is said aloud."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connectors.cli import app
from connectors.config import parse_config
from connectors.mapping import ColumnMatcher, build_mapper, normalize_header
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.errors import RecordRejected

runner = CliRunner()


def _config(tmp_path: Path, **extra: object) -> Path:
    path = tmp_path / "connector.yaml"
    raw = {"id": "dry-run", "unit": DEMO_MARKET_UNIT, "kind": "file",
           "source": {"path": str(tmp_path)}, "preset": "penalty-disclosure", **extra}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


FULL_WIDTH = [h.replace("行政相对人代码_1", "行政相对人代码_1（统一社会信用代码）")
              .replace("行政相对人代码_2", "行政相对人代码_2（工商注册号）")
              .replace("处罚决定日期", "处罚决定日期 ") for h in PENALTY_HEADER]


def test_full_width_bracketed_headers_map_and_their_codes_are_checked(tmp_path: Path) -> None:
    config = parse_config({"id": "dry-run", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": str(tmp_path)},
                           "preset": "penalty-disclosure"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    row = dict(zip(FULL_WIDTH, penalty_row(3), strict=True))
    row["行政相对人代码_2（工商注册号）"] = "429901000012345"
    event = mapper.map(row, "a.csv#row 2").event
    party = event.parties[0]  # type: ignore[attr-defined]
    assert party.credit_code == penalty_row(3)[2]
    assert party.business_registration_number == "429901000012345"
    row["行政相对人代码_1（统一社会信用代码）"] = "91429900000000001X"  # wrong check character
    with pytest.raises((RecordRejected, ValueError)):
        mapper.map(row, "a.csv#row 3")


def test_header_matching_rules() -> None:
    assert normalize_header("罚款金额（万元） ") == normalize_header("罚款金额(万元)")
    matcher = ColumnMatcher({"行政相对人代码_1", "罚款金额", "罚款金额（万元）"})
    renames = matcher.renames(("行政相对人代码_1 (统一社会信用代码)", "罚款金额（元）",
                               "罚款金额 (万元)"))
    # a description in brackets is dropped; a unit of money never is (元 is not 万元)
    assert renames == {"行政相对人代码_1 (统一社会信用代码)": "行政相对人代码_1",
                       "罚款金额 (万元)": "罚款金额（万元）"}
    assert matcher.resolve({"行政相对人代码_1": "x"}) == {"行政相对人代码_1": "x"}


def test_dry_run_lists_unused_columns_and_fields_left_empty(tmp_path: Path) -> None:
    header = [*PENALTY_HEADER, "统计口径"]
    rows = [[*penalty_row(n), "年度"] for n in (1, 2)]
    for row in rows:
        row[PENALTY_HEADER.index("备注")] = ""
    sample = _csv(tmp_path / "s.csv", header, rows)
    result = runner.invoke(app, ["test", str(_config(tmp_path)), "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert "WARNING unused column '统计口径'" in result.output
    assert "field remarks stays empty: column(s) 备注 empty in every row" in result.output
    assert "field agency_case_number stays empty" in result.output  # absent column
    assert "2 event(s) mapped, 0 rejected" in result.output
    validated = runner.invoke(app, ["validate", str(_config(tmp_path)), "--sample",
                                    str(sample)])
    assert validated.exit_code == 0, validated.output
    assert "WARNING unused column '统计口径'" in validated.output


def test_dry_run_reports_full_width_headers_as_read_not_unused(tmp_path: Path) -> None:
    sample = _csv(tmp_path / "s.csv", FULL_WIDTH, [penalty_row(1)])
    result = runner.invoke(app, ["test", str(_config(tmp_path)), "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert "unused column" not in result.output
    assert "column '行政相对人代码_1（统一社会信用代码）' read as" in result.output
    assert "field parties.0.credit_code stays empty" not in result.output


def test_a_row_the_run_would_reject_at_encoding_is_rejected_by_the_dry_run(
        tmp_path: Path) -> None:
    row = penalty_row(1)
    row[PENALTY_HEADER.index("罚款金额（万元）")] = "1e308"
    sample = _csv(tmp_path / "s.csv", PENALTY_HEADER, [row, penalty_row(2)])
    result = runner.invoke(app, ["test", str(_config(tmp_path)), "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert "REJECTED s.csv#row 2" in result.output
    assert "1 event(s) mapped, 1 rejected" in result.output


@pytest.mark.parametrize("content", ['[{"a": 1}', "{}", "\xff"])
def test_a_malformed_json_sample_is_a_rejection_not_a_traceback(
        tmp_path: Path, content: str) -> None:
    config = tmp_path / "http.yaml"
    config.write_text(yaml.safe_dump({
        "id": "police", "unit": "114299010313564485", "kind": "http",
        "source": {"url": "http://127.0.0.1:9/feedback", "records_path": "data.items"},
        "preset": "police-feedback"}, allow_unicode=True), encoding="utf-8")
    sample = tmp_path / "feedback.json"
    sample.write_bytes(content.encode("latin-1"))
    result = runner.invoke(app, ["test", str(config), "--sample", str(sample)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "REJECTED feedback.json#file: malformed_json" in result.output
    assert "0 event(s) mapped, 1 rejected" in result.output


def test_common_synonyms_of_the_penalty_headers_map(tmp_path: Path) -> None:
    config = parse_config({"id": "dry-run", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": str(tmp_path)},
                           "preset": "penalty-disclosure"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    renamed = {"行政相对人名称": "当事人名称", "行政处罚决定书文号": "处罚决定书文号",
               "处罚决定日期": "作出处罚决定日期"}
    row = {renamed.get(h, h): v for h, v in zip(PENALTY_HEADER, penalty_row(4), strict=True)}
    event = mapper.map(row, "a.csv#row 2").event
    assert event.parties[0].name == "演示县虚构商贸有限公司4"  # type: ignore[attr-defined]
    assert event.decision_number == "演示县市监处罚〔2024〕4号"  # type: ignore[attr-defined]
    assert str(event.decision_date) == "2024-03-15"  # type: ignore[attr-defined]
