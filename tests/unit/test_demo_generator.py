"""The demo county generator: deterministic, fictional, and honest about what it planted.

One full-size county (10,000 penalty cases, the default) is generated per module and read
back the way a connector would read it: CSV in the declared encoding line by line, XLSX
with openpyxl, JSON, SQLite, XML through defusedxml. The manifest must describe exactly
what is in the files.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
import openpyxl
import pytest
from defusedxml import DTDForbidden, EntitiesForbidden

from deploy.demo import generate as demo
from deploy.demo.identities import (
    BUSINESS_WORDS,
    COUNTY_NAME,
    GB18030_ONLY_GIVEN_CHARACTERS,
    GIVEN_FIRST_CHARACTERS,
    GIVEN_SECOND_CHARACTERS,
    SHOP_KINDS,
    SURNAMES,
    TOWNS,
)
from deploy.demo.manifest import DemoManifest, ExportFile
from deploy.demo.violations import load_catalogue
from hub.calendar import CHINA_TZ, WorkingDayCalendar, load_calendar_overrides
from hub.identity import (
    case_id_for,
    is_valid_credit_code,
    is_valid_division_code,
    is_valid_resident_id,
)
from hub.rules.screening import load_matching
from hub.rules.thresholds import load_thresholds
from hub.rules.violations import classify_violation, load_violation_types
from hub.units import load_unit_registry

TEMPLATE_TO_DOMAIN = dict(
    zip(demo.PENALTY_COLUMNS_TEMPLATE_2021, demo.PENALTY_COLUMNS, strict=True)
)


@dataclass
class Row:
    """One data record of an export file, as a connector would see it."""

    path: str
    row: int
    values: dict[str, Any]
    decodes: bool


@dataclass
class County:
    root: Path
    manifest: DemoManifest

    def file(self, path: str) -> Path:
        return self.root / path

    def files(self, kind: str) -> list[ExportFile]:
        return [f for f in self.manifest.files if f.kind == kind]


def _csv_rows(path: Path, export: ExportFile) -> list[Row]:
    """Decode line by line, as a tolerant connector does: one bad row, not a bad file."""
    data = path.read_bytes()
    encoding = export.encoding or "utf-8"
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
        data = data[3:]
        encoding = "utf-8"
    lines = data.split(b"\n")
    assert lines[-1] == b""
    header = next(csv.reader([lines[0].decode(encoding).rstrip("\r")]))
    header = [TEMPLATE_TO_DOMAIN.get(name, name) for name in header]
    rows = []
    for index, raw in enumerate(lines[1:-1], start=1):
        try:
            text = raw.decode(encoding)
            decodes = True
        except UnicodeDecodeError:
            text = raw.decode(encoding, errors="replace")
            decodes = False
        values = next(csv.reader([text.rstrip("\r")]))
        assert len(values) == len(header), (export.path, index)
        rows.append(Row(export.path, index, dict(zip(header, values, strict=True)), decodes))
    return rows


def _xlsx_rows(path: Path, export: ExportFile) -> list[Row]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        sheet = workbook.active
        assert sheet is not None
        raw_rows = list(sheet.iter_rows(values_only=True))
    finally:
        workbook.close()
    header = [TEMPLATE_TO_DOMAIN.get(str(name), str(name)) for name in raw_rows[0]]
    return [
        Row(export.path, index, dict(zip(header, values, strict=True)), True)
        for index, values in enumerate(raw_rows[1:], start=1)
    ]


def _rows(county: County, export: ExportFile) -> list[Row]:
    path = county.file(export.path)
    return _xlsx_rows(path, export) if export.format == "xlsx" else _csv_rows(path, export)


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> County:
    root = tmp_path_factory.mktemp("demo-county")
    return County(root, demo.generate(root))


@pytest.fixture(scope="module")
def penalty_rows(county: County) -> dict[tuple[str, int], Row]:
    rows: dict[tuple[str, int], Row] = {}
    for export in county.files("penalties"):
        for row in _rows(county, export):
            rows[(row.path, row.row)] = row
    return rows


@pytest.fixture(scope="module")
def referral_rows(county: County) -> dict[tuple[str, int], Row]:
    return {
        (row.path, row.row): row
        for export in county.files("referrals")
        for row in _rows(county, export)
    }


@pytest.fixture(scope="module")
def feedback(county: County) -> dict[tuple[str, int], dict[str, Any]]:
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for export in county.files("police_feedback"):
        for record in json.loads(county.file(export.path).read_text(encoding="utf-8")):
            records[(export.unit_code, record["cursor"])] = record
    return records


@pytest.fixture(scope="module")
def outbox(county: County) -> list[sqlite3.Row]:
    connection = sqlite3.connect(county.file("exports/procuratorate/actions.sqlite"))
    connection.row_factory = sqlite3.Row
    try:
        return list(connection.execute("SELECT * FROM outbox ORDER BY id"))
    finally:
        connection.close()


def _bad(county: County, prefix: str) -> dict[tuple[str, int | None], str]:
    """Planted bad records: (path, row or cursor) → kind."""
    found = {}
    for gap in county.manifest.gaps:
        if gap.alert == "dead_letter" and gap.kind.startswith(prefix):
            position = gap.source.row if gap.source.row is not None else gap.source.cursor
            found[(gap.source.path, position)] = gap.kind.split(".", 1)[1]
    return found


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).replace("/", "-"))


# ------------------------------------------------------------------------- units


def test_units_file_is_a_valid_hub_registry_of_a_fictional_county() -> None:
    registry = load_unit_registry(demo.UNITS_FILE)
    county, units = demo.load_units()
    assert len(registry) == len(units) >= 24
    assert county.name == COUNTY_NAME
    assert is_valid_division_code(county.division_code)
    assert all(u.division == county.division_code for u in units)
    assert all(is_valid_credit_code(u.code) and u.code.startswith("11") for u in units)
    kinds = Counter(u.kind for u in units)
    assert kinds["agency"] >= 14
    assert {"police", "procuratorate", "court", "supervision", "justice", "political_legal"} <= set(
        kinds
    )
    roles = {u.role for u in units}
    assert {"county_psb", "economic_crime_unit", "forest_police", "county_procuratorate"} <= roles
    domains = {d for u in units if u.kind == "agency" for d in u.domains}
    assert {
        "market_regulation",
        "tobacco",
        "environment",
        "forestry",
        "natural_resources",
        "tax",
        "emergency_safety",
        "agriculture",
        "health",
        "human_resources",
        "culture",
        "transport",
        "housing",
        "water",
    } <= domains
    codes = {u.code for u in units}
    assert all(u.parent is None or u.parent in codes for u in units)


# ------------------------------------------------------------------------- determinism


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = demo.generate(tmp_path / "a", seed=7, penalty_cases=400)
    second = demo.generate(tmp_path / "b", seed=7, penalty_cases=400)
    assert first == second
    tree_a, tree_b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert tree_a.keys() == tree_b.keys()
    assert [name for name in tree_a if tree_a[name] != tree_b[name]] == []
    demo.generate(tmp_path / "c", seed=8, penalty_cases=400)
    tree_c = _tree(tmp_path / "c")
    assert tree_c["manifest.json"] != tree_a["manifest.json"]


def test_command_line_writes_the_county(tmp_path: Path) -> None:
    assert demo.main([str(tmp_path), "--cases", "250", "--seed", "11"]) == 0
    manifest = DemoManifest.model_validate_json((tmp_path / "manifest.json").read_text())
    assert manifest.seed == 11
    # planted missing entries (应录未录) are decided but never exported
    assert manifest.totals["penalties"] + manifest.totals["penalties_never_entered"] == 250
    assert manifest.totals["penalties_never_entered"] >= 6
    # 250 cases over two years give no agency a rhythm 75 silent days would break
    # ... nor three referrals not filed for the reasons requests and orders to file
    assert manifest.not_planted == [
        "act late or never: REQUIRE_NON_FILING_REASONS / ORDER_FILING (too few referrals "
        "not filed)", "missing_entry: silent unit (its rhythm is too sparse)"]


# ------------------------------------------------------------------------- counts


def test_counts_reach_the_required_minimums(county: County) -> None:
    manifest = county.manifest
    totals = manifest.totals
    assert totals["penalties"] + totals["penalties_never_entered"] == 10_000
    assert 200 <= totals["referrals"] <= 500
    assert totals["feedback"] >= 500
    assert totals["outbox"] >= 100
    assert totals["judgments"] >= 20
    assert 40 <= totals["penalties_bad"] <= 70
    assert manifest.not_planted == []
    agencies = [u for u in demo.load_units()[1] if u.kind == "agency"]
    assert all(manifest.counts[u.code]["penalties"] > 0 for u in agencies)
    minimums = {
        "entry_late": 100,
        "suspected_non_referral": 20,
        "early_intervention_candidate": 20,
        "receipt_missing": 10,
        "filing_decision_overdue": 10,
        "referral_not_filed_6_months": 5,
        "filed_not_concluded_1_year": 3,
        "recommendation_unanswered": 3,
        "feedback_unmatched": 5,
        "missing_entry": 10,
        "dead_letter": 50,
    }
    planted = Counter(gap.alert for gap in manifest.gaps)
    for alert, minimum in minimums.items():
        assert planted[alert] >= minimum, alert
    # missing entries 应录未录: six skipped numbers, one silent agency, two referrals never
    # entered; the dead-lettered rows leave the same traces (as the hub sees them)
    missing = Counter(gap.kind for gap in manifest.gaps if gap.alert == "missing_entry")
    assert missing["number_gap.never_entered"] == 6
    assert missing["silent_unit"] == 1
    assert missing["silent_unit.natural"] == 0
    assert missing["unentered_referral"] == 2
    assert missing["number_gap.dead_lettered"] >= 30
    formats = {(f.format, f.encoding) for f in manifest.files if f.kind == "penalties"}
    assert {
        ("csv", "gbk"),
        ("csv", "gb18030"),
        ("csv", "utf-8"),
        ("csv", "utf-8-sig"),
        ("xlsx", None),
    } <= formats


def test_manifest_lists_every_file_with_its_digest_and_record_count(
    county: County,
    penalty_rows: dict[tuple[str, int], Row],
    referral_rows: dict[tuple[str, int], Row],
) -> None:
    import hashlib

    listed = {f.path for f in county.manifest.files}
    on_disk = {
        str(p.relative_to(county.root))
        for p in county.root.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    per_file = Counter(path for path, _ in [*penalty_rows, *referral_rows])
    for export in county.manifest.files:
        data = county.file(export.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == export.sha256, export.path
        if export.kind in {"penalties", "referrals"}:
            assert per_file[export.path] == export.records, export.path


# ------------------------------------------------------------------------- identifiers


def _party_ids_ok(values: dict[str, Any]) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    code = str(values.get("行政相对人代码_1") or "")
    if code:
        checks["行政相对人代码_1"] = is_valid_credit_code(code, allow_placeholder=True)
    for field in ("法定代表人证件号码", "证件号码"):
        number = str(values.get(field) or "")
        if number:
            checks[field] = is_valid_resident_id(number)
    return checks


def test_good_identifiers_pass_and_planted_bad_ones_fail(
    county: County,
    penalty_rows: dict[tuple[str, int], Row],
    referral_rows: dict[tuple[str, int], Row],
    feedback: dict[tuple[str, int], dict[str, Any]],
) -> None:
    bad = _bad(county, "bad_row.")
    for key, row in penalty_rows.items():
        checks = _party_ids_ok(row.values)
        assert is_valid_credit_code(str(row.values["处罚机关统一社会信用代码"]))
        kind = bad.get(key)
        if kind == "invalid_resident_id":
            assert False in checks.values(), key
            assert checks.get("行政相对人代码_1", True)
        elif kind == "invalid_credit_code":
            assert checks["行政相对人代码_1"] is False, key
        else:
            assert all(checks.values()), (key, checks)
    for key, row in referral_rows.items():
        assert is_valid_resident_id(
            row.values["当事人证件号码"] or row.values["法定代表人证件号码"]
        )
        receiving_ok = is_valid_credit_code(row.values["接收单位代码"])
        assert receiving_ok == (bad.get(key) != "invalid_receiving_unit_code"), key
    bad_feedback = _bad(county, "bad_record.")
    paths = {f.unit_code: f.path for f in county.files("police_feedback")}
    for (unit, cursor), record in feedback.items():
        for party in record.get("parties", []):
            valid = is_valid_resident_id(party["id_number"])
            assert valid == (bad_feedback.get((paths[unit], cursor)) != "invalid_resident_id")
            if party["credit_code"]:
                assert is_valid_credit_code(party["credit_code"])
    for export in county.files("court_judgment"):
        if export.bad_records:
            continue
        root = SafeET.parse(county.file(export.path)).getroot()
        for defendant in root.iter("defendant"):
            number = defendant.findtext("idNumber") or ""
            if defendant.findtext("idType") == "居民身份证":
                assert is_valid_resident_id(number)
            else:
                assert is_valid_credit_code(number)


# ------------------------------------------------------------------------- gaps vs files


def test_penalty_gaps_match_their_rows(
    county: County, penalty_rows: dict[tuple[str, int], Row]
) -> None:
    calendar = WorkingDayCalendar(load_calendar_overrides())
    hub_codes = load_violation_types().codes()
    for gap in county.manifest.gaps:
        key = (gap.source.path, gap.source.row or 0)
        if key not in penalty_rows:
            continue
        row = penalty_rows[key]
        values = row.values
        if gap.alert == "missing_entry":
            continue  # its row is a neighbour's or the unit's last (see the test below)
        assert gap.case_id == case_id_for(
            str(values["处罚机关统一社会信用代码"]), str(values["行政处罚决定书文号"])
        )
        assert gap.source.line == gap.source.row + 1  # type: ignore[operator]
        if gap.alert == "entry_late":
            decided, entered = _as_date(values["处罚决定日期"]), _as_date(values["录入日期"])
            assert entered > calendar.add_working_days(decided, 3)
            assert values["程序类型"] == "普通"
        elif gap.alert in {"suspected_non_referral", "early_intervention_candidate"}:
            assert values["违法行为类型代码"] in hub_codes
            assert values["备注"] != "已移送公安机关"
        elif gap.alert == "dead_letter":
            kind = gap.kind.split(".", 1)[1]
            value = values[TEMPLATE_TO_DOMAIN.get(gap.field or "", gap.field or "")]
            assert row.decodes == (kind != "encoding"), key
            if kind == "impossible_date":
                with pytest.raises(ValueError):
                    _as_date(value)
            elif kind == "future_date":
                assert _as_date(value).year >= 2200
            elif kind == "negative_amount":
                assert float(value) < 0
            elif kind == "unknown_violation_code":
                assert value not in hub_codes
    late = [g for g in county.manifest.gaps if g.alert == "entry_late"]
    assert all((g.source.path, g.source.row) in penalty_rows for g in late)


def test_no_unplanned_late_entries(
    county: County, penalty_rows: dict[tuple[str, int], Row]
) -> None:
    calendar = WorkingDayCalendar(load_calendar_overrides())
    planted = {
        (g.source.path, g.source.row) for g in county.manifest.gaps if g.alert == "entry_late"
    }
    bad = _bad(county, "bad_row.")
    for key, row in penalty_rows.items():
        if key in bad or row.values["程序类型"] != "普通":
            continue
        decided = _as_date(row.values["处罚决定日期"])
        late = _as_date(row.values["录入日期"]) > calendar.add_working_days(decided, 3)
        assert late == (key in planted), key


def test_referral_and_feedback_gaps_point_at_real_records(
    county: County,
    referral_rows: dict[tuple[str, int], Row],
    feedback: dict[tuple[str, int], dict[str, Any]],
    outbox: list[sqlite3.Row],
) -> None:
    paths = {f.path: f.unit_code for f in county.files("police_feedback")}
    outbox_by_id = {row["id"]: row for row in outbox}
    replies: set[str] = set()
    for export in county.files("replies"):
        replies |= {row.values["来文文号"] for row in _rows(county, export)}
    for gap in county.manifest.gaps:
        if "/penalties/" in gap.source.path:
            continue  # test_penalty_gaps_match_their_rows
        if gap.alert == "missing_entry" and gap.source.row is None:
            continue  # a referral row never written: test_missing_entries_are_absent…
        if gap.alert == "consultation_unanswered":
            continue  # test_consultations_are_answered_as_the_manifest_says
        if gap.alert in _LATE_ACT_ALERTS:
            continue  # test_acts_answered_late_or_never_point_at_their_rows
        if gap.kind == "open_case_near_threshold":
            continue  # test_the_open_case_register_raises_early_intervention_before_…
        if gap.source.path in paths:
            record = feedback[(paths[gap.source.path], gap.source.cursor or 0)]
            if gap.alert == "feedback_unmatched":
                assert record["referral_number"] is None or gap.kind in {
                    "feedback_for_dead_lettered_referral", "feedback_for_unentered_referral"}
                assert record["police_case_number"] == gap.detail["police_case_number"]
                # The hub's UNMATCHED_FEEDBACK alert carries the case the record arrives
                # under: the quoted referral's, else the police case number's.
                arrived = (
                    case_id_for(
                        record["referring_unit_code"],
                        record["agency_decision_number"] or record["agency_case_number"],
                    )
                    if record["referral_number"]
                    else case_id_for(paths[gap.source.path], record["police_case_number"])
                )
                assert gap.case_id == arrived
        elif (gap.source.path, gap.source.row or 0) in referral_rows:
            values = referral_rows[(gap.source.path, gap.source.row or 0)].values
            expected = case_id_for(
                values["移送单位统一社会信用代码"],
                values["行政处罚决定书文号"] or values["案件编号"],
            )
            assert gap.case_id == expected
            if gap.alert == "missing_entry":  # a dead-lettered referral: the agency owes it
                assert values["移送书文号"] == gap.detail["referral_number"]
                assert gap.responsible_unit_code == values["移送单位统一社会信用代码"]
            elif gap.alert != "dead_letter":
                assert values["移送书文号"] == gap.detail["referral_number"]
                assert gap.responsible_unit_code == values["接收单位代码"]
        elif gap.source.outbox_id is not None:
            row = outbox_by_id[gap.source.outbox_id]
            if gap.alert == "recommendation_unanswered":
                payload = json.loads(row["payload"])
                assert row["type"] in demo.ANSWERED_OUTBOX_TYPES
                assert gap.detail["act"] == demo.OUTBOX_TYPES[row["type"]][1]
                assert payload["document_number"] == gap.detail["document_number"]
                # answered late (issue #13): the reply is there, after the due date
                assert (payload["document_number"] in replies) == (
                    gap.resolved_on is not None), gap
                assert date.fromisoformat(payload["reply_due_date"]) == gap.due
            else:
                assert gap.alert == "dead_letter"
        else:
            assert gap.source.path.startswith("exports/court/judgments/"), gap


def test_feedback_expectations_cover_every_record(
    county: County, feedback: dict[tuple[str, int], dict[str, Any]]
) -> None:
    expected = {(e.police_unit_code, e.cursor): e for e in county.manifest.feedback}
    assert expected.keys() == feedback.keys()
    for key, record in feedback.items():
        expectation = expected[key]
        assert expectation.record_type == record["record_type"]
        if record.get("referral_number") and expectation.basis == "referral_number":
            assert expectation.expected_case_id is not None
        if expectation.expected_case_id is not None:
            assert expectation.expected_case_id == expectation.true_case_id
        elif expectation.basis in {"party_offence_dates", "ambiguous"}:
            assert expectation.true_case_id is not None
    bases = Counter(e.basis for e in county.manifest.feedback)
    assert bases["referral_number"] > 0
    assert bases["police_case_number"] > 0
    assert bases["party_offence_dates"] > 0
    assert bases["ambiguous"] >= 4
    assert bases["unknown_referral"] >= 2


def test_identifier_only_feedback_of_the_party_sole_case_is_matched_automatically(
    county: County,
) -> None:
    """matching.yaml's sole-candidate bonus lifts a party's only case in the window to the
    confident threshold: the hub matches it by itself, so its referral's clocks stop and
    no decision_not_matched gap or parked record is expected for it."""
    bonus = load_matching().party_identifier_bonus
    assert bonus.sole_candidate > 0
    identifier_only = [e for e in county.manifest.feedback if e.basis == "party_offence_dates"]
    matched = {e.true_case_id for e in identifier_only if e.expected_case_id is not None}
    assert len(matched) >= 10
    assert all(
        e.expected_case_id == e.true_case_id for e in identifier_only if e.expected_case_id
    )
    assert not any(
        g.kind in {"decision_not_matched", "identifier_only_feedback"} and g.case_id in matched
        for g in county.manifest.gaps
    )


def test_a_matched_transfer_for_prosecution_stops_the_one_year_clock(county: County) -> None:
    """filed-case-not-concluded-1-year stops on TransferredForProsecution too (deadlines.yaml):
    a case transferred in the export neither owes a gap nor has a clock pending."""
    transferred = {
        e.expected_case_id
        for e in county.manifest.feedback
        if e.record_type == "transfer_for_prosecution" and e.expected_case_id
    }
    assert transferred
    pending = {c.case_id for c in county.manifest.pending_clocks
               if c.alert_kind == "FILED_NOT_CONCLUDED"}
    open_gaps = {g.case_id for g in county.manifest.gaps
                 if g.alert == "filed_not_concluded_1_year" and g.resolved_on is None}
    assert pending
    assert not transferred & (pending | open_gaps)


def test_about_fifteen_percent_of_referrals_are_answered_only_by_police_case_number(
    feedback: dict[tuple[str, int], dict[str, Any]],
) -> None:
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    receipts_without_case_number = 0
    for record in feedback.values():
        if record["record_type"] not in demo.FEEDBACK_TYPES:
            continue
        if record["police_case_number"] is None:
            assert record["record_type"] == "receipt"
            assert record["referral_number"]
            receipts_without_case_number += 1
            continue
        by_case[record["police_case_number"]].append(record)
    only_own = [
        number
        for number, records in by_case.items()
        if all(r["referral_number"] is None for r in records)
    ]
    assert 0.10 <= len(only_own) / len(by_case) <= 0.25
    assert receipts_without_case_number >= len(only_own) * 0.8
    for number in only_own:
        record = by_case[number][0]
        assert record["parties"][0]["id_number"]
        assert record["suspected_offence"]


def test_ambiguous_feedback_has_two_indistinguishable_referrals(
    county: County,
    referral_rows: dict[tuple[str, int], Row],
    feedback: dict[tuple[str, int], dict[str, Any]],
) -> None:
    ambiguous = [e for e in county.manifest.feedback if e.basis == "ambiguous"]
    assert ambiguous
    for expectation in ambiguous:
        assert expectation.expected_case_id is None
        record = feedback[(expectation.police_unit_code, expectation.cursor)]
        day = date.fromisoformat(record["decision_date"])
        candidates = [
            r
            for r in referral_rows.values()
            if (r.values["当事人证件号码"] or r.values["法定代表人证件号码"])
            == record["parties"][0]["id_number"]
            and r.values["涉嫌罪名"] == record["suspected_offence"]
            and _as_date(r.values["移送日期"]) <= day
        ]
        assert len(candidates) == 2


# ------------------------------------------------------------------------- encodings


def test_declared_encodings_hold_except_for_planted_rows(county: County) -> None:
    bad_lines = {
        (g.source.path, g.source.row) for g in county.manifest.gaps if g.kind == "bad_row.encoding"
    }
    assert bad_lines
    beyond_gbk = False
    for export in county.manifest.files:
        if export.format != "csv":
            continue
        rows = _csv_rows(county.file(export.path), export)
        for row in rows:
            assert row.decodes == ((export.path, row.row) not in bad_lines), (export.path, row.row)
            if export.encoding == "gb18030" and row.decodes:
                text = "".join(str(v) for v in row.values.values())
                try:
                    text.encode("gbk")
                except UnicodeEncodeError:
                    beyond_gbk = True
        if export.encoding == "gbk":
            body = county.file(export.path).read_bytes()
            good = [
                line
                for index, line in enumerate(body.split(b"\n")[:-1])
                if (export.path, index) not in bad_lines
            ]
            for line in good:
                line.decode("gbk")
    assert beyond_gbk, "no GB18030 file needs more than GBK: detection would go untested"


def test_xlsx_exports_use_real_date_and_number_cells(county: County) -> None:
    export = county.files("penalties")[0]
    xlsx = [f for f in county.files("penalties") if f.format == "xlsx"]
    assert xlsx
    rows = _xlsx_rows(county.file(xlsx[0].path), xlsx[0])
    good = [r for r in rows if isinstance(r.values["处罚决定日期"], datetime)]
    assert len(good) >= len(rows) - 1
    assert all(isinstance(r.values["罚款金额（万元）"], (int, float)) for r in good)
    assert export.date_format in {"%Y-%m-%d", "%Y/%m/%d"}


def test_csv_amounts_are_wan_yuan_with_at_most_six_decimals(
    county: County, penalty_rows: dict[tuple[str, int], Row]
) -> None:
    bad = _bad(county, "bad_row.")
    for key, row in penalty_rows.items():
        for field in (
            "罚款金额（万元）",
            "没收违法所得、没收非法财物的金额（万元）",
            "违法经营额（万元）",
            "违法所得（万元）",
        ):
            value = row.values[field]
            if value in ("", None) or isinstance(value, float):
                continue
            amount = Decimal(str(value))
            assert -amount.as_tuple().exponent <= 6  # type: ignore[operator]
            assert amount >= 0 or bad.get(key) == "negative_amount"


# ------------------------------------------------------------------------- fictional names


def _is_fictional_person(name: str) -> bool:
    return (
        len(name) == 3
        and name[0] in SURNAMES
        and name[1] in GIVEN_FIRST_CHARACTERS
        and name[2] in GIVEN_SECOND_CHARACTERS + GB18030_ONLY_GIVEN_CHARACTERS
    )


def _is_fictional_party(name: str, category: str) -> bool:
    if category == "自然人":
        return _is_fictional_person(name)
    if not name.startswith(COUNTY_NAME):
        return False
    rest = name.removeprefix(COUNTY_NAME)
    if category == "法人及非法人组织":
        return rest.endswith("有限公司") and rest[0] in BUSINESS_WORDS
    town = next((t for t in TOWNS if rest.startswith(t)), None)
    if town is None:
        return False
    shop = rest.removeprefix(town)
    kinds = {kind for kinds in SHOP_KINDS.values() for kind in kinds}
    return shop[0] in SURNAMES and shop[1] == "记" and shop[2:] in kinds


def test_every_name_is_built_from_the_fictional_lists(
    county: County,
    penalty_rows: dict[tuple[str, int], Row],
    feedback: dict[tuple[str, int], dict[str, Any]],
) -> None:
    bad = _bad(county, "bad_row.")
    for key, row in penalty_rows.items():
        if bad.get(key) == "encoding":
            continue
        values = row.values
        assert _is_fictional_party(values["行政相对人名称"], values["行政相对人类别"]), key
        if values["法定代表人"]:
            assert _is_fictional_person(values["法定代表人"]), key
    for record in feedback.values():
        for party in record.get("parties", []):
            assert _is_fictional_party(party["name"], party["category"])
            assert _is_fictional_person(party["person_name"])
    for export in county.files("court_judgment"):
        if export.bad_records:
            continue
        root = SafeET.parse(county.file(export.path)).getroot()
        for defendant in root.iter("defendant"):
            name = defendant.findtext("name") or ""
            category = (
                "自然人" if defendant.findtext("category") == "自然人" else "法人及非法人组织"
            )
            assert _is_fictional_party(name, category), name


# ------------------------------------------------------------------------- codes and thresholds


def test_violation_codes_are_the_hubs_and_free_text_labels_do_not_mislead(
    county: County, penalty_rows: dict[tuple[str, int], Row]
) -> None:
    types = load_violation_types()
    bad = _bad(county, "bad_row.")
    used = {
        row.values["违法行为类型代码"] or ""
        for key, row in penalty_rows.items()
        if bad.get(key) != "unknown_violation_code"
    }
    assert used - {""} <= types.codes()
    assert len(used - {""}) >= 15
    for entry in load_catalogue():
        found = classify_violation(entry.label, types)
        assert found is None or found.code == entry.code, entry.key


def test_catalogue_thresholds_agree_with_the_hubs_threshold_file() -> None:
    thresholds = load_thresholds()
    for entry in load_catalogue():
        if entry.offence_id is None:
            continue
        offence = thresholds.offence(entry.offence_id)
        minimums = {c.minimum for a in offence.alternatives for c in a.all_of}
        if entry.amount_threshold is not None and entry.key != "TAX-EVASION":
            assert entry.amount_threshold * 100 in minimums, entry.key
        if entry.quantity_threshold is not None:
            assert entry.quantity_threshold in minimums, entry.key


def test_screening_gaps_sit_where_they_should(county: County) -> None:
    for gap in county.manifest.gaps:
        if gap.alert == "early_intervention_candidate":
            assert Decimal("0.8") <= Decimal(gap.detail["ratio"]) < 1
        elif gap.alert == "suspected_non_referral" and gap.detail["ratio"] != "qualifying":
            assert Decimal(gap.detail["ratio"]) >= 1
    kinds = {g.kind for g in county.manifest.gaps if g.alert == "suspected_non_referral"}
    assert {
        "above_threshold_not_referred",
        "qualifying_violation_not_referred",
        "repeat_offence_not_referred",
    } <= kinds


# ------------------------------------------------------------------------- other formats


def test_outbox_table_shape_and_bad_rows(county: County, outbox: list[sqlite3.Row]) -> None:
    connection = sqlite3.connect(county.file("exports/procuratorate/actions.sqlite"))
    try:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(outbox)")]
    finally:
        connection.close()
    assert columns == ["id", "aggregate_type", "aggregate_id", "type", "payload", "created_at"]
    bad = {
        g.source.outbox_id: g.kind
        for g in county.manifest.gaps
        if g.alert == "dead_letter" and g.source.outbox_id is not None
    }
    assert sorted(bad.values()) == ["bad_row.malformed_payload", "bad_row.unknown_type"]
    created = [datetime.fromisoformat(row["created_at"]) for row in outbox]
    assert created == sorted(created)
    assert all(moment.utcoffset() is not None for moment in created)
    for row in outbox:
        if bad.get(row["id"]) == "bad_row.malformed_payload":
            with pytest.raises(json.JSONDecodeError):
                json.loads(row["payload"])
            continue
        payload = json.loads(row["payload"])
        if bad.get(row["id"]) == "bad_row.unknown_type":
            assert row["type"] not in demo.OUTBOX_TYPES
            continue
        assert row["type"] in demo.OUTBOX_TYPES
        assert is_valid_credit_code(payload["target_unit_code"])
    types = Counter(row["type"] for row in outbox)
    assert {
        "ReferralSuggested",
        "NonFilingReasonsRequested",
        "RecommendationIssued",
        "EarlyInterventionAttended",
        "ProsecutionDecided",
    } <= set(types)


def test_court_xml_parses_safely_and_the_entity_file_is_refused(county: County) -> None:
    bad = {g.source.path: g.kind for g in county.manifest.gaps if g.kind.startswith("bad_file")}
    assert sorted(bad.values()) == ["bad_file.xml_entity_expansion", "bad_file.xml_malformed"]
    for export in county.files("court_judgment"):
        path = county.file(export.path)
        assert path.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        kind = bad.get(export.path)
        if kind == "bad_file.xml_entity_expansion":
            with pytest.raises((DTDForbidden, EntitiesForbidden)):
                SafeET.parse(path, forbid_dtd=True)
            with pytest.raises(EntitiesForbidden):
                SafeET.parse(path)
        elif kind == "bad_file.xml_malformed":
            with pytest.raises(ParseError):
                SafeET.parse(path)
        else:
            root = SafeET.parse(path).getroot()
            judgment = root.find("judgment")
            assert judgment is not None
            assert judgment.findtext("courtCaseNumber")
            assert judgment.find("caseOrigin").get("policeCaseNumber")  # type: ignore[union-attr]
            # A file cannot predate what it carries (the recommendations preset takes
            # its entry time from the export time).
            exported = date.fromisoformat(root.get("exportedAt", "")[:10])
            recommendation = judgment.find("judicialRecommendation")
            if recommendation is not None:
                assert date.fromisoformat(recommendation.get("issuedOn", "")) <= exported


# ------------------------------------------------------------------------- through the preset


def test_good_penalty_rows_map_through_the_shipped_preset_and_bad_rows_are_rejected(
    county: County, penalty_rows: dict[tuple[str, int], Row]
) -> None:
    """The exports are what the hub's own penalty-disclosure preset expects."""
    from pydantic import ValidationError

    from connectors.config import load_preset
    from connectors.mapping import MappingSpec, build_mapper
    from hub.errors import RecordRejected

    spec = MappingSpec.model_validate(load_preset("penalty-disclosure"))
    units = {f.path: f.unit_code for f in county.files("penalties")}
    variants = {f.path: f.header_variant for f in county.files("penalties")}
    mappers = {
        unit: build_mapper(spec, unit=unit, connector_id="demo-test")
        for unit in set(units.values())
    }
    bad = _bad(county, "bad_row.")
    mapped = 0
    for key, row in penalty_rows.items():
        kind = bad.get(key)
        if not row.decodes:
            assert kind == "encoding"
            continue
        values = row.values
        if variants[key[0]] == "template-2021":  # the file's own header spelling
            values = dict(zip(demo.PENALTY_COLUMNS_TEMPLATE_2021, values.values(), strict=True))
        mapper = mappers[units[key[0]]]
        if kind is None:
            event = mapper.map(values, f"{key[0]}#{key[1]}")
            assert event.event.case_id == case_id_for(
                str(row.values["处罚机关统一社会信用代码"]), str(row.values["行政处罚决定书文号"])
            )
            mapped += 1
        else:
            with pytest.raises((RecordRejected, ValidationError)):
                mapper.map(values, f"{key[0]}#{key[1]}")
    totals = county.manifest.totals
    # + the later exports of decisions enforced since (执行到位, issue #13)
    assert mapped == totals["penalties"] - totals["penalties_bad"] + totals["penalties_reexported"]


@pytest.mark.parametrize("kind", ["referrals", "handovers", "reconsiderations", "replies",
                                  "consultations"])
def test_agency_side_exports_map_through_the_shipped_agency_presets(
    county: County, kind: str
) -> None:
    """Referral-system exports become CaseReferred, MaterialsHandedOver, … through the
    shipped ``agency-*`` presets with the case id the manifest names; the planted bad
    referral rows are rejected."""
    from pydantic import ValidationError

    from connectors.config import load_preset
    from connectors.mapping import DispatchSpec, MappingSpec, build_mapper
    from hub.errors import RecordRejected

    raw = load_preset(f"agency-{kind}")
    # a preset with routes (reconsiderations: 提请复议 or 建议立案监督 by 申请类型) is a
    # dispatch, each row taking the route its 申请类型 names
    spec: MappingSpec | DispatchSpec = (DispatchSpec.model_validate(raw) if "routes" in raw
                                        else MappingSpec.model_validate(raw))
    bad = _bad(county, "bad_row.")
    exports = county.files(kind)
    assert exports
    mapped = 0
    for export in exports:
        mapper = build_mapper(spec, unit=export.unit_code, connector_id="demo-test")
        for row in _rows(county, export):
            reference = f"{export.path}#{row.row}"
            if (export.path, row.row) in bad:
                with pytest.raises((RecordRejected, ValidationError)):
                    mapper.map(row.values, reference)
                continue
            event = mapper.map(row.values, reference).event
            number = row.values["行政处罚决定书文号"] or row.values["案件编号"]
            # feedback on a lead names the case's agency (案件所属单位代码)
            unit = row.values.get("案件所属单位代码") or export.unit_code
            assert event.case_id == case_id_for(unit, number)
            assert event.recorded_at.date() == _as_date(row.values["录入日期"])
            mapped += 1
    assert mapped == sum(f.records - f.bad_records for f in exports)


def test_the_open_case_register_raises_early_intervention_before_any_decision(
        county: County) -> None:
    """Issue #13, item 3: the market bureau's open cases (立案登记 / 在办案件) map through
    the agency-open-cases preset under the case id the 立案编号 gives; screened as the
    engine screens a case, exactly the one planted at 85% of the sales threshold raises
    EARLY_INTERVENTION_CANDIDATE, addressed to the bureau, and its gap names that case."""
    from connectors.config import load_preset
    from connectors.mapping import MappingSpec, build_mapper
    from hub.models import AgencyCaseOpened, AlertKind, AlertStatus
    from hub.rules import load_screening, load_violation_offences
    from streams.screening_assessment import ScreeningRules
    from streams.screening_logic import screen_case

    rules = ScreeningRules(load_thresholds(), load_violation_types(),
                           load_violation_offences(), load_screening())
    spec = MappingSpec.model_validate(load_preset("agency-open-cases"))
    [export] = county.files("open-cases")
    mapper = build_mapper(spec, unit=export.unit_code, connector_id="demo-test")
    raised: dict[str, str] = {}
    rows = _rows(county, export)
    assert len(rows) == len(demo.OPEN_CASE_SHARES) == export.records
    for row in rows:
        event = mapper.map(row.values, f"{export.path}#{row.row}").event
        assert isinstance(event, AgencyCaseOpened)
        assert event.case_id == case_id_for(export.unit_code, row.values["立案编号"])
        result = screen_case([event], datetime(2026, 1, 5, tzinfo=CHINA_TZ), rules=rules,
                             hub_unit_code=export.unit_code)
        for state in result.alerts:
            assert state.alert.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE
            assert state.alert.status is AlertStatus.RAISED
            assert state.alert.responsible_unit_code == export.unit_code
            raised[event.case_id] = state.alert.details["ratio"]
    [gap] = [g for g in county.manifest.gaps if g.kind == "open_case_near_threshold"]
    assert gap.alert_kind == "EARLY_INTERVENTION_CANDIDATE"
    assert raised == {gap.case_id: "0.8500"}
    assert gap.source.path == export.path


def test_penalty_preset_carries_procedure_quantities_domain_and_entry_date(
    county: County, penalty_rows: dict[tuple[str, int], Row]
) -> None:
    """The agency systems' common additions to 双公示 need no overlay on the national preset."""
    from connectors.config import load_preset
    from connectors.mapping import MappingSpec, build_mapper

    spec = MappingSpec.model_validate(load_preset("penalty-disclosure"))
    units = {f.path: f.unit_code for f in county.files("penalties")}
    variants = {f.path: f.header_variant for f in county.files("penalties")}
    bad = _bad(county, "bad_row.")
    seen: Counter[str] = Counter()
    mappers: dict[str, Any] = {}
    for key, row in penalty_rows.items():
        if key in bad or variants[key[0]] != "domain":
            continue
        mapper = mappers.get(units[key[0]])
        if mapper is None:  # generated code per unit, not per row (it took minutes)
            mapper = mappers[units[key[0]]] = build_mapper(spec, unit=units[key[0]],
                                                           connector_id="demo-test")
        event = mapper.map(row.values, f"{key[0]}#{key[1]}").event
        summary = row.values["程序类型"] == "简易"
        assert event.procedure.value == ("SUMMARY" if summary else "GENERAL")
        assert event.enforcement_domain == row.values["执法领域"]
        assert event.division_code == row.values["行政区划代码"]
        assert event.recorded_at.date() == _as_date(row.values["录入日期"])
        if row.values["涉案数量"] not in ("", None):
            quantity = event.quantities[0]
            assert quantity.name == row.values["涉案物品"]
            assert quantity.unit == row.values["数量单位"]
            assert Decimal(quantity.value) == Decimal(str(row.values["涉案数量"]))
            seen["quantity"] += 1
        seen["summary" if summary else "general"] += 1
    assert seen["quantity"] > 500
    assert seen["summary"] > 500


def test_missing_entries_are_absent_from_the_exports_and_their_neighbours_present(
    county: County, penalty_rows: dict[tuple[str, int], Row],
    referral_rows: dict[tuple[str, int], Row],
) -> None:
    """A skipped number is in no export while the number after it is; a silent agency's
    last exported decision is more than 20 working days before the county's clock; a
    referral never entered is in no referral export."""
    calendar = WorkingDayCalendar(load_calendar_overrides())
    exported = {
        (str(r.values["处罚机关统一社会信用代码"]), str(r.values["行政处罚决定书文号"])): r
        for r in penalty_rows.values()
    }
    numbers = {str(r.values["移送书文号"]) for r in referral_rows.values()}
    gaps = [g for g in county.manifest.gaps if g.alert == "missing_entry"]
    assert gaps
    for gap in gaps:
        assert gap.alert_kind == "MISSING_ENTRY"
        if gap.kind.startswith("number_gap"):
            missing = gap.detail["missing_number"]
            assert gap.case_id == case_id_for(gap.unit_code, missing)
            row = exported.get((gap.unit_code, missing))
            if gap.kind == "number_gap.never_entered":
                assert row is None
            else:  # the row is there, and dead-lettered
                assert any(g.case_id == gap.case_id and g.alert == "dead_letter"
                           for g in county.manifest.gaps)
            prefix, rest = missing.split("〔", 1)
            year, serial = rest.split("〕", 1)
            following = [n for (unit, n) in exported if unit == gap.unit_code
                         and n.startswith(f"{prefix}〔{year}〕")
                         and int(n.split("〕", 1)[1].rstrip("号")) > int(serial.rstrip("号"))]
            assert following, missing
        elif gap.kind == "silent_unit":
            bad = _bad(county, "bad_row.")
            last = max(_as_date(r.values["处罚决定日期"]) for (unit, _), r in exported.items()
                       if unit == gap.unit_code and (r.path, r.row) not in bad)
            assert last.isoformat() == gap.detail["last_entry"]
            county_clock = date.fromisoformat(gap.detail["county_clock"])
            assert calendar.working_days_between(last, county_clock) > 20
        elif gap.kind == "unentered_referral":
            assert gap.detail["referral_number"] not in numbers
            assert gap.responsible_unit_code == gap.unit_code


def test_the_hubs_missing_entry_logic_finds_exactly_the_manifests_gaps(
    county: County, penalty_rows: dict[tuple[str, int], Row],
    feedback: dict[tuple[str, int], dict[str, Any]],
) -> None:
    """The exports mapped through the shipped presets (as the connectors map them) and fed
    to streams/missing_entry_logic.py raise MISSING_ENTRY for exactly the manifest's gaps:
    the generator's expectation and the hub's rule agree on the same exports."""
    from pydantic import ValidationError

    from connectors.config import load_preset
    from connectors.mapping import DispatchSpec, MappingSpec, build_mapper
    from hub.errors import RecordRejected
    from hub.rules.missing_entry import load_missing_entry
    from streams.missing_entry_logic import MissingEntryTracker

    tracker = MissingEntryTracker(load_missing_entry(),
                                  calendar=WorkingDayCalendar(load_calendar_overrides()))
    penalties = MappingSpec.model_validate(load_preset("penalty-disclosure"))
    mappers: dict[str, Any] = {}
    variants = {f.path: f.header_variant for f in county.files("penalties")}
    units = {f.path: f.unit_code for f in county.files("penalties")}
    for key, row in penalty_rows.items():
        if not row.decodes:
            continue
        values = row.values
        if variants[key[0]] == "template-2021":
            values = dict(zip(demo.PENALTY_COLUMNS_TEMPLATE_2021, values.values(), strict=True))
        mapper = mappers.get(units[key[0]])
        if mapper is None:  # generated code per unit, not per row (it took minutes)
            mapper = mappers[units[key[0]]] = build_mapper(penalties, unit=units[key[0]],
                                                           connector_id="demo-test")
        try:
            tracker.observe(mapper.map(values, f"{key[0]}#{key[1]}").event)
        except (RecordRejected, ValidationError):
            continue  # a dead letter: the hub never sees it
    referrals = MappingSpec.model_validate(load_preset("agency-referrals"))
    for export in county.files("referrals"):
        mapper = build_mapper(referrals, unit=export.unit_code, connector_id="demo-test")
        for row in _rows(county, export):
            try:
                tracker.observe(mapper.map(row.values, f"{export.path}#{row.row}").event)
            except (RecordRejected, ValidationError):
                continue
    police = DispatchSpec.model_validate(load_preset("police-feedback"))
    police_mappers: dict[str, Any] = {}
    for (unit, cursor), record in sorted(feedback.items()):
        mapper = police_mappers.get(unit)
        if mapper is None:
            mapper = police_mappers[unit] = build_mapper(police, unit=unit,
                                                         connector_id="demo-test")
        try:
            tracker.observe(mapper.map(record, f"{unit}#{cursor}").event)
        except (RecordRejected, ValidationError):
            continue
    hub = next(u.code for u in demo.load_units()[1] if u.kind == "procuratorate")
    alerts = tracker.evaluate(today=date(2026, 12, 4), hub_unit_code=hub,
                              now=datetime(2026, 12, 4, 9, tzinfo=CHINA_TZ))
    found = {(a.responsible_unit_code, a.case_id) for a in alerts}
    expected = {(g.responsible_unit_code or g.unit_code, g.case_id)
                for g in county.manifest.gaps if g.alert == "missing_entry"}
    assert found == expected


# ------------------------------------------------------------------ acts (issue #13)


def test_consultations_are_answered_as_the_manifest_says(
    county: County, feedback: dict[tuple[str, int], dict[str, Any]]
) -> None:
    """Each consultation row, the police answer quoting its 咨询编号 (or none), and the
    3-working-day clock: in time without a gap, late with a resolved gap, never with an
    open one; the manifest's CONSULTATION tally says the same."""
    answers = {r["in_reply_to"]: r for r in feedback.values()
               if r["record_type"] == "consultation_answer"}
    gaps = {g.detail["consultation_id"]: g for g in county.manifest.gaps
            if g.alert == "consultation_unanswered"}
    calendar = demo._Calendar()
    seen: Counter[str] = Counter()
    for export in county.files("consultations"):
        for row in _rows(county, export):
            number = row.values["咨询编号"]
            asked = _as_date(row.values["咨询日期"])
            due = calendar.add_working_days(asked, 3)
            answer = answers.get(number)
            gap = gaps.get(number)
            if answer is not None:  # the police quote the agency's case in full
                assert answer["referring_unit_code"] == export.unit_code
                assert answer["police_unit_code"] == row.values["被咨询单位代码"]
            answered = _as_date(answer["occurred_at"][:10]) if answer else None
            if gap is None:
                assert answered is not None and answered <= due, number
                seen["in_time"] += 1
            elif gap.resolved_on is not None:
                assert answered == gap.resolved_on and answered > due == gap.due, number
                seen["late"] += 1
            else:
                assert answered is None and gap.due == due <= county.manifest.as_of, number
                seen["unanswered"] += 1
            if gap is not None:
                assert gap.source.path == export.path and gap.source.row == row.row
    tally = county.manifest.acts["CONSULTATION"]
    assert (tally.in_time, tally.late, tally.unanswered, tally.pending) == (
        seen["in_time"], seen["late"], seen["unanswered"], 0)
    assert min(seen.values()) >= 1 and tally.planted == sum(seen.values())
    assert tally.rule_id == "consultation-unanswered"


def test_every_act_tally_adds_up_to_its_gaps_and_names_a_real_rule(county: County) -> None:
    """Per act: planted = in time + late + never + pending; the late and never answered
    are exactly the gaps naming the act; an act without a clock names its inbox; the
    letters the demo sends (suggestion, correction notice, urging prosecution,
    consultation) occur in all three outcomes."""
    from hub.rules import load_deadlines

    rule_ids = {rule.id for rule in load_deadlines().rules}
    late: Counter[str] = Counter()
    never: Counter[str] = Counter()
    for gap in county.manifest.gaps:
        if "act" in gap.detail:
            (late if gap.resolved_on else never)[gap.detail["act"]] += 1
    pending = Counter(c.detail["act"] for c in county.manifest.pending_clocks
                      if "act" in c.detail)
    for act, tally in county.manifest.acts.items():
        if tally.inbox:  # an act with no reply clock: counted where it is delivered
            assert (tally.rule_id, tally.alert_kind, tally.event_type) == (
                "", "", "FilingSupervisionRequested"), act
        else:
            assert tally.rule_id in rule_ids and tally.alert_kind, act
        assert tally.planted == tally.in_time + tally.late + tally.unanswered + tally.pending
        assert (tally.late, tally.unanswered) == (late[act], never[act]), act
    assert set(late) | set(never) <= set(county.manifest.acts)
    for act, count in pending.items():  # clocks running at the export, named by act
        assert county.manifest.acts[act].pending == count, act
    for act in ("SUGGEST_REFERRAL", "CORRECTION_NOTICE", "URGE_PROSECUTION", "CONSULTATION"):
        tally = county.manifest.acts[act]
        assert min(tally.in_time, tally.late, tally.unanswered) >= 1, (act, tally)


def test_a_judgment_whose_court_recommendation_falls_after_the_export_leaves_a_clock(
    tmp_path: Path,
) -> None:
    """The hub raises its own judicial recommendation (routing.yaml raised_acts) at an
    acquittal or exemption on an unpenalised referral; when the court's own would fall
    after the export (a judgment in its last days), that clock is listed as pending —
    ``+due`` in the check once it runs out — never an unplanned extra."""
    import random

    from hub.calendar import add_months

    class Acquitting(random.Random):
        def choices(self, population: Any, *args: Any, **kwargs: Any) -> list[Any]:
            if "ACQUITTED" in population:
                return ["ACQUITTED"]
            return super().choices(population, *args, **kwargs)

    generator = demo._Generator(tmp_path, 2026, 400, demo.DEFAULT_START, demo.DEFAULT_END)
    generator.run()
    referral = next(r for r in generator.referrals if r.penalty is None)
    generator.rng = Acquitting(1)
    generator.pending.clear()
    judged = generator.end  # the court's recommendation comes 3-10 days later
    generator._judgment(referral, judged, "演检诉〔2025〕1号", "演检审〔2025〕1号")
    [clock] = generator.pending
    assert (clock.alert_kind, clock.case_id, clock.unit_code, clock.due) == (
        "REPLY_OVERDUE", referral.case_id, referral.agency.code, add_months(judged, 2))
    assert clock.detail["act"] == "RAISED_JUDICIAL_RECOMMENDATION"
    # judged early enough, the court's own recommendation is answered: no raised clock
    generator.pending.clear()
    generator._judgment(referral, generator.end - demo.timedelta(days=200), "i", "r")
    assert not [c for c in generator.pending if c.detail.get("act")]


_LATE_ACT_ALERTS = {"non_filing_reasons_overdue", "ordered_filing_overdue",
                    "early_intervention_unattended", "penalty_not_enforced",
                    "lead_feedback_overdue"}


def test_acts_answered_late_or_never_point_at_their_rows(
    county: County,
    feedback: dict[tuple[str, int], dict[str, Any]],
    outbox: list[sqlite3.Row],
    penalty_rows: dict[tuple[str, int], Row],
) -> None:
    """Issue #13: reasons requests, orders to file, opinions, invitations and penalty
    enforcement each answered late once and never once, every gap at its own row, the
    answer (when late) in the exports after the due date; cancellations 撤案 on cases
    that then carry no year-to-conclusion gap or clock."""
    manifest = county.manifest
    outbox_by_id = {row["id"]: row for row in outbox}
    answers = {r["in_reply_to"]: r for r in feedback.values() if r.get("in_reply_to")}
    requested = {"non_filing_reasons_overdue": "NonFilingReasonsRequested",
                 "ordered_filing_overdue": "FilingOrdered"}
    feedback_on_leads = _lead_feedback(county)
    seen: Counter[str] = Counter()
    for gap in manifest.gaps:
        if gap.alert == "lead_feedback_overdue":
            row = outbox_by_id[gap.source.outbox_id]
            payload = json.loads(row["payload"])
            assert row["type"] == "LeadTransferred"
            assert payload["target_unit_code"] == gap.responsible_unit_code
            assert date.fromisoformat(payload["reply_due_date"]) == gap.due
            answer = feedback_on_leads.get(payload["document_number"])
            if gap.resolved_on is None:
                assert answer is None, gap
            else:
                assert answer is not None and gap.due is not None
                assert answer.occurred_at.date() == gap.resolved_on > gap.due
                assert answer.case_id == gap.case_id  # the agency's case, not the receiver's
        elif gap.alert in requested:
            row = outbox_by_id[gap.source.outbox_id]
            payload = json.loads(row["payload"])
            assert row["type"] == requested[gap.alert]
            assert payload["document_number"] == gap.detail["document_number"]
            assert date.fromisoformat(payload["reply_due_date"]) == gap.due
            answer = answers.get(payload["document_number"])
            if gap.resolved_on is None:
                assert answer is None, gap
            else:
                assert answer is not None and gap.due is not None
                assert date.fromisoformat(answer["decision_date"]) == gap.resolved_on > gap.due
        elif gap.alert == "early_intervention_unattended":
            export = next(f for f in manifest.files if f.path == gap.source.path)
            values = _rows(county, export)[(gap.source.row or 0) - 1].values
            assert values["邀请编号"] == gap.detail["invitation_id"]
            assert gap.due == _as_date(values["邀请日期"]) + timedelta(days=3)
            assert values["受邀单位代码"] == gap.responsible_unit_code
        elif gap.alert == "penalty_not_enforced":
            values = penalty_rows[(gap.source.path, gap.source.row or 0)].values
            number = values["行政处罚决定书文号"]
            assert (values["执行情况"], number) == ("未执行", gap.detail["decision_number"])
            again = [r.values for r in penalty_rows.values()
                     if r.values["行政处罚决定书文号"] == number
                     and r.values["执行情况"] == "执行到位"]
            if gap.resolved_on is None:
                assert again == []
            else:
                [enforced] = again
                assert _as_date(enforced["执行到位日期"]) == gap.resolved_on
                # the re-export keeps the record's entry date: no late entry
                assert enforced["录入日期"] == values["录入日期"]
        else:
            continue
        seen[gap.detail["act"]] += 1
    for act in ("REQUIRE_NON_FILING_REASONS", "ORDER_FILING", "OPINION",
                "EARLY_INTERVENTION_INVITATION", "PENALTY_ENFORCEMENT",
                "LEAD_SUPERVISION_COMMISSION", "LEAD_JUSTICE_BUREAU"):
        tally = manifest.acts[act]
        assert tally.late >= 1 and tally.unanswered >= 1, act
        assert tally.planted == tally.in_time + tally.late + tally.unanswered + tally.pending
        if act != "OPINION":  # opinions' gaps sit on the outbox branch above
            assert seen[act] == tally.late + tally.unanswered, act
    assert sum(1 for g in manifest.gaps if g.detail.get("act") == "OPINION") == (
        manifest.acts["OPINION"].late + manifest.acts["OPINION"].unanswered)
    cancelled = manifest.acts["POLICE_CANCELLATION"]
    assert cancelled.planted == cancelled.in_time == len(cancelled.case_ids) >= 2
    cancellations = [r for r in feedback.values() if r.get("decision") == "CANCELLED"]
    assert {case_id_for(r["referring_unit_code"],
                        r["agency_decision_number"] or r["agency_case_number"])
            for r in cancellations} == set(cancelled.case_ids)
    # The agency objects to each cancellation (建议立案监督) in its reconsiderations export,
    # read by the shipped preset into FilingSupervisionRequested to the procuratorate.
    objected = manifest.acts["CANCELLATION_OBJECTION"]
    objections = _objections(county)
    assert objected.event_type == "FilingSupervisionRequested"
    assert objected.planted == objected.in_time == len(objected.case_ids) >= 2
    assert set(objected.case_ids) <= set(cancelled.case_ids)
    assert {event.case_id for event in objections} == set(objected.case_ids)
    assert {event.procuratorate_unit_code for event in objections} == {objected.inbox}
    police_of = {case_id_for(r["referring_unit_code"],
                             r["agency_decision_number"] or r["agency_case_number"]):
                 r["police_unit_code"] for r in cancellations}
    assert all(event.police_unit_code == police_of[event.case_id] for event in objections)
    year = "FILED_NOT_CONCLUDED"
    assert not [g for g in manifest.gaps if g.alert_kind == year
                and g.case_id in cancelled.case_ids]
    assert not [c for c in manifest.pending_clocks if c.alert_kind == year
                and c.case_id in cancelled.case_ids]


def test_public_interest_leads_are_fed_back_in_the_procuratorates_own_outbox(
        county: County, outbox: list[sqlite3.Row], tmp_path: Path) -> None:
    """Issue #13, item 4: two public-interest litigation leads to the procuratorate
    itself; one fed back within its month by a LeadFeedbackGiven row of its own outbox,
    read by the shipped procuratorate-outbox preset into an AgencyReplied that quotes the
    lead on the lead's case; one never, its gap at the lead's row and the last gap."""
    from connectors.cli import sample_records
    from hub.models import AgencyReplied
    from tests.support.supervision_county import outbox_connector

    manifest = county.manifest
    tally = manifest.acts["LEAD_PUBLIC_INTEREST_LITIGATION"]
    assert tally.rule_id == "lead-feedback-overdue"
    assert (tally.planted, tally.in_time, tally.unanswered, tally.late) == (2, 1, 1, 0)
    procuratorate = next(u.code for u in demo.load_units()[1] if u.kind == "procuratorate")
    rows = [dict(row) | {"payload": json.loads(row["payload"])} for row in outbox
            if row["type"] in {"LeadTransferred", "LeadFeedbackGiven"}]
    leads = {r["payload"]["document_number"]: r for r in rows if r["type"] == "LeadTransferred"
             and r["payload"]["destination"] == "PUBLIC_INTEREST_LITIGATION"}
    assert len(leads) == 2
    assert {r["payload"]["target_unit_code"] for r in leads.values()} == {procuratorate}
    sample = tmp_path / "outbox.json"
    sample.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    config, mapper = outbox_connector(procuratorate)
    events = [mapper.map(record.row, record.reference).event
              for record in sample_records(config, sample) if record.row is not None]
    assert len(events) == len(rows)
    lead_events = {e.lead_number: e for e in events if type(e).__name__ == "LeadTransferred"}
    [feedback] = [e for e in events if isinstance(e, AgencyReplied)]
    answered = lead_events[feedback.in_reply_to_document_number or ""]
    assert feedback.case_id == answered.case_id
    assert feedback.addressed_to_unit_code == procuratorate
    assert answered.feedback_due_date is not None
    assert answered.occurred_at <= feedback.occurred_at
    assert feedback.occurred_at.date() <= answered.feedback_due_date
    [gap] = [g for g in manifest.gaps if g.detail.get("act") == "LEAD_PUBLIC_INTEREST_LITIGATION"]
    assert gap == manifest.gaps[-1] and gap.resolved_on is None
    assert gap.detail["document_number"] in leads.keys() - {answered.lead_number}
    assert gap.responsible_unit_code == procuratorate
    assert gap.case_id == lead_events[gap.detail["document_number"]].case_id


def _objections(county: County) -> list[Any]:
    """The agencies' objections to cancellations, read through the shipped
    agency-reconsiderations preset as the demo's connectors read it."""
    from connectors.config import load_preset
    from connectors.mapping import DispatchSpec, build_mapper
    from hub.models import FilingSupervisionRequested, ReconsiderationRequested

    spec = DispatchSpec.model_validate(load_preset("agency-reconsiderations"))
    found: list[Any] = []
    for export in county.files("reconsiderations"):
        mapper = build_mapper(spec, unit=export.unit_code, connector_id="demo-test")
        for row in _rows(county, export):
            event = mapper.map(row.values, f"{export.path}#{row.row}").event
            assert isinstance(event, FilingSupervisionRequested | ReconsiderationRequested)
            if isinstance(event, FilingSupervisionRequested):
                found.append(event)
    return found


def _lead_feedback(county: County) -> dict[str, Any]:
    """The receivers' feedback on leads, read through the shipped agency-replies preset
    as the demo's connectors read it: lead number → AgencyReplied."""
    from connectors.config import parse_config
    from connectors.mapping import build_mapper

    receivers = {u.code for u in demo.load_units()[1]
                 if u.kind in {"supervision", "justice"}}
    found: dict[str, Any] = {}
    for export in county.files("replies"):
        if export.unit_code not in receivers:
            continue
        config = parse_config({"id": "lead-feedback", "unit": export.unit_code,
                               "kind": "file", "source": {"path": "/tmp"},
                               "preset": "agency-replies"})
        mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
        for row in _rows(county, export):
            event = mapper.map(row.values, f"{export.path}#{row.row}").event
            assert event.source_unit == export.unit_code
            found[row.values["来文文号"]] = event
    assert found
    return found
