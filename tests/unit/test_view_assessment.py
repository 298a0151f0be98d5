"""Assessment 考核 and circulars 通报 (issue #14, item 2), checked cell by cell against a small
county computed by hand, on a real SQLite store, through the view's own export routes.

The county, 2025 Q3 (July–September), rules as shipped (hub/rules/assessment.yaml):

甲局 (agency): July 10 entered (2 late) and 1 referral, August 10 entered, September
nothing; one MISSING_ENTRY and one REFERRAL_DELIVERY_OVERDUE due in the quarter; a
REPLY_OVERDUE due 2025-10-02 (next quarter), one without a due date raised on
2025-10-01 China time, and a HANDOVER_OVERDUE done in time (the sweep raised it before
the act was read) do not count.
  continuity 10×2/3 = 6.67 · freshness 10−5×1 = 5 · completeness 20×20/21 = 19.05 ·
  timeliness 20×18/20 = 18 · referral 20−4×1 = 16 · replies 20 → 84.71 → 84.7 良好

乙局 (agency): 5 entered each month, none late; three MISSING_ENTRY in the quarter.
  10 · 10 · 20×15/18 = 16.67 · 20 · 20 · 20 → 96.7, vetoed (3 never entered) → 不合格

丙局 (agency): nothing in the quarter (4 entered in May).
  continuity 0 · freshness 10−5×4 < 0 → 0 · completeness and timeliness n/a · 20 · 20
  → 40/60 → 66.7, vetoed (idle platform) → 不合格

公安局 (police): receipts 2 and 1 filing decision in July, 1 receipt in August; two
FILING_DECISION_OVERDUE and one ACKNOWLEDGEMENT_OVERDUE.
  6.67 · 5 · timeliness n/a · receipt and filing 40−4×3 = 28 · replies 20
  → 59.67/80 → 74.6 合格

Ranking: 甲局 1, 公安局 2, then the vetoed units by score: 乙局 3, 丙局 4. The
procuratorate is not assessed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from hub.errors import ConfigError
from hub.identity import case_id_for, event_id_for
from hub.models import Alert, AlertKind, AlertSeverity, AlertStatus, UnitMonthlyStats
from hub.rules.assessment import load_assessment
from hub.view.app import create_app
from hub.view.assessment import (
    build_assessment,
    parse_period,
    period_containing,
    periods_back,
)
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from tests.support.view_data import (
    CHINA,
    ENVIRONMENT,
    MARKET,
    POLICE,
    PROCURATORATE,
    TOBACCO,
    apply_events,
)

A1, A2, A3 = MARKET, TOBACCO, ENVIRONMENT

UNITS_YAML = f"""
units:
  - {{code: {A1}, name: 甲局, name_en: Bureau A, kind: agency}}
  - {{code: {A2}, name: 乙局, name_en: Bureau B, kind: agency}}
  - {{code: {A3}, name: 丙局, name_en: Bureau C, kind: agency}}
  - {{code: {POLICE}, name: 公安局, name_en: Police, kind: police}}
  - {{code: {PROCURATORATE}, name: 检察院, name_en: Procuratorate, kind: procuratorate}}
"""


def _stats(unit: str, month: str, *, entered: int = 0, late: int = 0, referrals: int = 0,
           receipts: int = 0, filings: int = 0) -> UnitMonthlyStats:
    occurred = datetime(int(month[:4]), int(month[5:]), 1, tzinfo=CHINA)
    key = f"stats:{unit}:{month}"
    return UnitMonthlyStats(
        event_id=event_id_for("test", key, key), case_id=case_id_for(unit, "stats:" + month),
        source_unit=PROCURATORATE, occurred_at=occurred, recorded_at=occurred,
        source_system="tests", source_record=key, connector_id="tests",
        unit_code=unit, month=month, penalty_cases_entered=entered,
        penalty_cases_entered_late=late, referrals=referrals, receipts=receipts,
        filing_decisions=filings,
    )


_COUNTER = iter(range(10_000))


def _alert(unit: str, kind: AlertKind, due: date | None, *, in_time: bool = False,
           raised: datetime | None = None) -> Alert:
    number = next(_COUNTER)
    key = f"alert:{number}"
    if raised is None:
        assert due is not None
        raised = datetime.combine(due + timedelta(days=1), time(9), tzinfo=CHINA)
    details = {"late": "false"} if in_time else {}
    return Alert(
        event_id=event_id_for("test", key, key), case_id=case_id_for(unit, f"case-{number}"),
        source_unit=PROCURATORATE, occurred_at=raised, recorded_at=raised,
        source_system="tests", source_record=key, connector_id="tests",
        alert_id=f"a-{number}", kind=kind, severity=AlertSeverity.WARNING,
        status=AlertStatus.RESOLVED if in_time else AlertStatus.RAISED,
        responsible_unit_code=unit, rule_id="test", legal_source="test", due_date=due,
        message="test", details=details,
    )


def county() -> list[object]:
    """The county of the module docstring."""
    return [
        _stats(A1, "2025-07", entered=10, late=2, referrals=1),
        _stats(A1, "2025-08", entered=10),
        _stats(A1, "2025-09"),
        _alert(A1, AlertKind.MISSING_ENTRY, date(2025, 8, 10)),
        _alert(A1, AlertKind.REFERRAL_DELIVERY_OVERDUE, date(2025, 7, 20)),
        _alert(A1, AlertKind.REPLY_OVERDUE, date(2025, 10, 2)),
        _alert(A1, AlertKind.HANDOVER_OVERDUE, date(2025, 8, 1), in_time=True),
        # No due date: dated by when it was raised, in China (2025-10-01 04:00): Q4.
        _alert(A1, AlertKind.REPLY_OVERDUE, None,
               raised=datetime(2025, 9, 30, 20, tzinfo=UTC)),
        *[_stats(A2, f"2025-0{m}", entered=5) for m in (7, 8, 9)],
        *[_alert(A2, AlertKind.MISSING_ENTRY, date(2025, m, 3)) for m in (7, 8, 9)],
        _stats(A3, "2025-05", entered=4),
        _stats(POLICE, "2025-07", receipts=2, filings=1),
        _stats(POLICE, "2025-08", receipts=1),
        _alert(POLICE, AlertKind.FILING_DECISION_OVERDUE, date(2025, 7, 11)),
        _alert(POLICE, AlertKind.FILING_DECISION_OVERDUE, date(2025, 9, 30)),
        _alert(POLICE, AlertKind.ACKNOWLEDGEMENT_OVERDUE, date(2025, 8, 5)),
    ]


class View:
    def __init__(self, client: TestClient, context: ViewContext) -> None:
        self.client = client
        self.context = context

    def login(self) -> None:
        form = self.client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        done = self.client.post("/login", data={"username": "prosecutor",
                                                "password": DEFAULT_DEMO_PASSWORD,
                                                "csrf_token": token.group(1)})
        assert done.status_code == 200


@pytest.fixture
def view(tmp_path: Path) -> Iterator[View]:
    units = tmp_path / "units.yaml"
    units.write_text(UNITS_YAML, encoding="utf-8")
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, bootstrap=None, units_file=units)
    app = create_app(settings)
    with TestClient(app) as client:
        context: ViewContext = app.state.view
        with context.store.session() as session:
            apply_events(session, county(), context.units)  # type: ignore[arg-type]
        yield View(client, context)


RANKING = [
    # rank, unit, total, grade, vetoes, continuity, freshness, completeness, timeliness,
    # referral, receipt and filing, replies ("" not for this kind, "—" nothing to measure)
    [1, "甲局", 84.7, "良好", None, 6.67, 5, 19.05, 18, 16, None, 20],
    [2, "公安局", 74.6, "合格", None, 6.67, 5, None, "—", None, 28, 20],
    [3, "乙局", 96.7, "不合格", "应录未录案件达到 3 件", 10, 10, 16.67, 20, 20, None, 20],
    [4, "丙局", 66.7, "不合格", "整个考核期未报送任何数据（平台闲置）", 0, 0, "—", "—", 20,
     None, 20],
]

FIGURES = [
    # code, unit, active months, months since, entered, late, never entered, referrals,
    # receipts, filing decisions, overdue alerts
    [A1, "甲局", 2, 1, 20, 2, 1, 1, 0, 0, 1],
    [POLICE, "公安局", 2, 1, 0, 0, 0, 0, 3, 1, 3],
    [A2, "乙局", 3, 0, 15, 0, 3, 0, 0, 0, 0],
    [A3, "丙局", 0, 4, 0, 0, 0, 0, 0, 0, 0],
]


def test_the_workbook_matches_the_hand_computed_county(view: View) -> None:
    view.login()
    answer = view.client.get("/assessment/export?period=2025-Q3&format=xlsx&lang=zh")
    assert answer.status_code == 200
    assert "liangfa-assessment-2025-Q3.xlsx" in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["排名", "数据", "考核规则"]
    ranking = book["排名"]
    assert ranking["A1"].value == "两法衔接工作考核通报（2025年第三季度）"
    header = [cell.value for cell in ranking[2]]
    assert header[:5] == ["名次", "单位", "总分", "等次", "一票否决"]
    assert header[5:] == ["报送连续", "更新及时", "录入完整", "录入及时", "案件移送", "受案立案",
                          "文书回复"]
    assert len(header) == 12
    rows = [[cell.value for cell in row] for row in ranking.iter_rows(min_row=3)]
    assert rows == RANKING
    figures = [[cell.value for cell in row] for row in book["数据"].iter_rows(min_row=3)]
    assert figures == FIGURES
    rules = [[cell.value for cell in row] for row in book["考核规则"].iter_rows(min_row=3)]
    assert [row[1] for row in rules[:7]] == [10, 10, 20, 20, 20, 40, 20]
    assert all("银兴党办发〔2018〕18号" in str(row[3]) or "国务院令第310号" in str(row[3])
               for row in rules[:7])
    assert not any(".txt" in str(row[3]) or "DOMAIN.md" in str(row[3]) for row in rules)


def test_the_pdf_circular_carries_the_same_ranking(view: View) -> None:
    view.login()
    answer = view.client.get("/assessment/export?period=2025-Q3&format=pdf&lang=zh")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    # pypdf reads the subset CID font's two-byte codes with a NUL before each character.
    compact = re.sub(r"[\s\x00]+", "", text)
    assert "两法衔接工作考核通报（2025年第三季度）" in compact
    # Rank, unit, total, grade in ranking order.
    positions = [compact.index(f"{rank}{unit}{total}{grade}")
                 for rank, unit, total, grade, *_ in RANKING]
    assert positions == sorted(positions)
    assert "应录未录案件达到3件" in compact
    assert "28.0" in compact and "19.05" in compact


def test_the_page_ranks_units_with_their_points(view: View) -> None:
    view.login()
    page = view.client.get("/assessment?period=2025-Q3")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="assessment-row(?: vetoed)?" data-unit="([^"]+)">', page.text)
    assert rows == [A1, POLICE, A2, A3]
    assert page.text.count('class="assessment-row vetoed"') == 2
    totals = re.findall(r'<td class="num total">([\d.]+)</td>', page.text)
    assert totals == ["84.7", "74.6", "96.7", "66.7"]
    assert "2025年第三季度" in page.text
    english = view.client.get("/assessment?period=2025-Q3&lang=en")
    assert "2025 Q3" in english.text and "Vetoes" in english.text


def test_the_page_opens_on_the_quarter_of_the_latest_data(view: View) -> None:
    view.login()
    page = view.client.get("/assessment")
    assert 'id="assessment-period">2025年第三季度' in page.text
    yearly = view.client.get("/assessment?kind=year")
    assert 'id="assessment-period">2025年度' in yearly.text
    assert view.client.get("/assessment/export?period=2025-Q5&format=pdf").status_code == 422


def test_every_period_kind_computes_from_its_months(view: View) -> None:
    rules = load_assessment()
    with view.context.store.session() as session:
        july = build_assessment(session, parse_period("2025-07"), view.context.units, rules)
        half = build_assessment(session, parse_period("2025-H2"), view.context.units, rules)
        year = build_assessment(session, parse_period("2025"), view.context.units, rules)
    by_unit = {row.unit_code: row for row in july.rows}
    assert by_unit[A1].figures.entered == 10 and by_unit[A1].figures.months_since_activity == 0
    # July: one MISSING_ENTRY of 乙局 does not reach the veto; the idle-platform veto is
    # not applied to a single month.
    assert by_unit[A2].vetoes == ()
    assert by_unit[A3].vetoes == ()
    halves = {row.unit_code: row for row in half.rows}
    assert halves[A1].figures.months == 6 and halves[A1].figures.active_months == 2
    # The reply due 2025-10-02 and the one raised on 2025-10-01 fall in H2.
    assert halves[A1].figures.alerts_by_kind["REPLY_OVERDUE"] == 2
    years = {row.unit_code: row for row in year.rows}
    assert years[A3].figures.active_months == 1 and years[A3].figures.entered == 4
    assert years[A3].vetoes == ()
    assert PROCURATORATE not in years


def test_periods_parse_and_step_back() -> None:
    assert parse_period("2025-q3").months == ("2025-07", "2025-08", "2025-09")
    assert parse_period("2025-H1").months[-1] == "2025-06"
    assert len(parse_period("2024").months) == 12
    assert period_containing("2025-11", "quarter").key == "2025-Q4"
    assert [p.key for p in periods_back("2025-02", "quarter", 3)] == [
        "2025-Q1", "2024-Q4", "2024-Q3"]
    assert [p.key for p in periods_back("2025-01", "month", 2)] == ["2025-01", "2024-12"]
    for bad in ("2025-13", "2025-Q0", "25", "2025-H3", "abcd"):
        with pytest.raises(ValueError, match="period"):
            parse_period(bad)


def test_a_bad_assessment_file_names_every_problem(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "hub" / "rules" / "assessment.yaml").read_text(
        encoding="utf-8")
    broken = text.replace("alert_kinds: [REPLY_OVERDUE,", "alert_kinds: [REPLY_LATE,").replace(
        "min_score: 90}", "min_score: 50}")
    path = tmp_path / "assessment.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_assessment(path)
    problems = "\n".join(caught.value.problems)
    assert "indicators[6].alert_kinds: 'REPLY_LATE' is not a hub.models.AlertKind" in problems
    assert "grades: list them from the highest min_score down" in problems


def test_an_empty_store_says_what_to_do(tmp_path: Path) -> None:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True, bootstrap=None)
    app = create_app(settings)
    with TestClient(app) as client:
        view = View(client, app.state.view)
        view.login()
        page = client.get("/assessment")
        assert page.status_code == 200
        assert 'id="assessment-empty"' in page.text and "make up" in page.text
        # Every registry unit is still listed: silence is what the assessment exposes.
        assert page.text.count('class="assessment-row') > 0


def test_a_units_scorecard_shows_each_indicator_with_its_source(view: View) -> None:
    view.login()
    page = view.client.get(f"/assessment/units/{A1}?period=2025-Q3")
    assert page.status_code == 200
    assert 'id="unit-total">84.7<' in page.text and 'id="unit-rank">1 / 4<' in page.text
    scores = dict(re.findall(r'data-indicator="(\w+)">.*?<td class="num score">([^<]+)<',
                             page.text, re.S))
    assert scores == {"feed_continuity": "6.67", "feed_freshness": "5.00",
                      "entry_completeness": "19.05", "entry_timeliness": "18.00",
                      "referral_handling": "16.00", "document_replies": "20.00"}
    assert "银兴党办发〔2018〕18号" in page.text and "应录未录" in page.text
    vetoed = view.client.get(f"/assessment/units/{A3}?period=2025-Q3")
    assert "整个考核期未报送任何数据（平台闲置）" in vetoed.text
    assert view.client.get(f"/assessment/units/{PROCURATORATE}").status_code == 404


def test_the_pages_say_the_idle_platform_veto_is_for_agencies_only(view: View) -> None:
    """The idle-platform veto applies to administrative agencies only (a police bureau
    sent no referral has nothing to report); the ranking, the rules, a unit's page and
    the legal library say so and why, in both languages, instead of leaving a silent
    police bureau unvetoed beside a vetoed agency without a word."""
    view.login()
    page = view.client.get("/assessment?period=2025-Q3").text
    scope = re.search(r'<li class="veto-scope" data-veto="idle_platform">(.*?)</li>', page,
                      re.S)
    assert scope is not None
    assert "仅适用于行政执法机关，不适用于公安机关" in scope.group(1)
    assert "没有收到移送" in scope.group(1)
    rule = re.search(r'<tr class="veto-rule" data-veto="idle_platform">.*?</tr>', page, re.S)
    assert rule is not None and "仅适用于行政执法机关，不适用于公安机关" in rule.group(0)
    both = re.search(r'<li class="veto-scope" data-veto="missing_entries">(.*?)</li>', page,
                     re.S)
    assert both is not None and "适用于：行政执法机关、公安机关" in both.group(1)
    english = view.client.get("/assessment?period=2025-Q3&lang=en").text
    assert "applies only to: Administrative agency (not to: Police)" in english
    assert "shows no idle platform" in english
    police = view.client.get(f"/assessment/units/{POLICE}?period=2025-Q3").text
    note = re.search(r'id="unit-vetoes-not-applied">(.*?)</', police, re.S)
    assert note is not None and "整个考核期未报送任何数据（平台闲置）" in note.group(1)
    monthly = view.client.get(f"/assessment/units/{POLICE}?period=2025-08").text
    assert 'id="unit-vetoes-not-applied"' not in monthly  # the veto judges no month
    library = view.client.get("/library?section=assessment").text
    entry = re.search(r'data-ref="idle_platform">.*?</tr>', library, re.S)
    assert entry is not None and "仅适用于行政执法机关" in entry.group(0)
    workbook = view.client.get("/assessment/export?period=2025-Q3&format=xlsx&lang=zh")
    items = [str(row[0].value) for row in
             load_workbook(io.BytesIO(workbook.content))["考核规则"].iter_rows(min_row=3)]
    assert ("一票否决：整个考核期未报送任何数据（平台闲置）；仅适用于行政执法机关，"
            "不适用于公安机关；公安机关在平台上的数据主要是对移送案件的回执和立案决定"
            in "\n".join(items))
