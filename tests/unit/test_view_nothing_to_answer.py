"""A month with nothing to answer has no feedback rate and earns no points for answering.

The police bureau of a small county on a real SQLite store: in July 2025 it received two
referrals and decided on both (feedback rate 100 %); in August it received none and decided
none, and nothing fell due (no rate: 0/0); in September it received none but one filing
decision fell overdue (something was owed, and late). The feedback rate of August is "—"
on the unit's scorecard, in the monthly report and in its CSV and XLSX files, never 100 %
or 0 %; the assessment's receipt-and-filing line (the police's answer to referrals) is not
applicable in August, so the month neither earns nor loses points, while September loses
them and July earns them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from hub.models import AlertKind
from hub.rules.assessment import load_assessment
from hub.view.app import create_app
from hub.view.assessment import build_assessment, parse_period
from hub.view.context import ViewContext
from hub.view.i18n import Translator
from hub.view.queries import unit_scorecard
from hub.view.reports import build_monthly_report, to_csv, to_xlsx
from hub.view.settings import ViewSettings
from tests.support.view_data import POLICE, apply_events
from tests.unit.test_view_assessment import UNITS_YAML, View, _alert, _stats


def _county() -> list[object]:
    july = _stats(POLICE, "2025-07", receipts=2, filings=2)
    return [
        july.model_copy(update={"feedback_rate": 1.0}),
        _stats(POLICE, "2025-08"),
        _stats(POLICE, "2025-09", entered=1),
        _alert(POLICE, AlertKind.FILING_DECISION_OVERDUE, date(2025, 9, 12)),
    ]


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
            apply_events(session, _county(), context.units)  # type: ignore[arg-type]
        yield View(client, context)


def _police_row(report_rows: list[list[str]]) -> list[str]:
    return next(row for row in report_rows if row[0] == POLICE)


def test_a_month_with_nothing_to_answer_has_no_feedback_rate(view: View) -> None:
    units = view.context.units
    with view.context.store.session() as session:
        card = unit_scorecard(session, POLICE, until_month="2025-09", months=3)
        august = build_monthly_report(session, "2025-08", units)
        july = build_monthly_report(session, "2025-07", units)
    assert card is not None
    assert [month.feedback_rate for month in card.months] == [1.0, None, None]
    assert next(r for r in august.rows if r.unit_code == POLICE).feedback_rate is None
    assert next(r for r in july.rows if r.unit_code == POLICE).feedback_rate == 1.0

    translate = Translator("zh")
    header, *rows = list(csv.reader(io.StringIO(
        to_csv(august, translate).decode("utf-8-sig"))))
    column = header.index("反馈率")
    assert _police_row(rows)[column] == "—"
    assert _police_row(rows)[header.index("及时录入率")] == "—"
    book = load_workbook(io.BytesIO(to_xlsx(august, translate)))
    cells = [[cell.value for cell in row] for row in book.worksheets[0].iter_rows(min_row=3)]
    assert next(row for row in cells if row[0] == POLICE)[column] == "—"
    july_rows = list(csv.reader(io.StringIO(to_csv(july, translate).decode("utf-8-sig"))))
    assert _police_row(july_rows[1:])[column] == "1.0"


def test_nothing_to_answer_neither_earns_nor_loses_assessment_points(view: View) -> None:
    rules = load_assessment()
    units = view.context.units

    def police(period: str) -> tuple[float | None, float]:
        with view.context.store.session() as session:
            result = build_assessment(session, parse_period(period), units, rules)
        row = next(row for row in result.rows if row.unit_code == POLICE)
        return row.scores["receipt_filing"].score, row.total

    # July: two referrals answered, nothing late: full points.
    assert police("2025-07")[0] == 40.0
    # August: nothing received, nothing decided, nothing due: not applicable, and the
    # total is over the other indicators (continuity 0, freshness 10 − 5 × 1 = 5,
    # timeliness n/a, replies 20: 25 of 40), not lifted by 40 free points (65 of 80, 81.3).
    score, total = police("2025-08")
    assert score is None
    assert total == pytest.approx(62.5)
    # September: nothing received but a filing decision fell overdue: 40 − 4.
    assert police("2025-09")[0] == 36.0
    # The quarter had referrals to answer: applicable.
    assert police("2025-Q3")[0] == 36.0


def test_the_pages_show_not_applicable_and_why(view: View) -> None:
    view.login()
    card = view.client.get(f"/units/{POLICE}?month=2025-09").text
    rows = {match[0]: match[1] for match in re.findall(
        r"<tr><td>(2025-0\d)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", card)}
    cells = {month: re.findall(r"<td[^>]*>([^<]*)</td>", row) for month, row in rows.items()}
    feedback = 6  # entered, late, timeliness, referrals, receipts, decisions, feedback rate
    assert cells["2025-07"][feedback] == "100.0%"
    assert cells["2025-08"][feedback] == "—"
    report = view.client.get("/reports?month=2025-08").text
    police = re.search(rf'<a href="/units/{POLICE}\?month=2025-08">.*?</tr>', report, re.S)
    assert police is not None
    assert "100.0%" not in police.group(0) and "0.0%" not in police.group(0)
    answer = view.client.get("/api/reports/monthly?month=2025-08&format=csv&lang=zh")
    header, *rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert _police_row(rows)[header.index("反馈率")] == "—"

    unit = view.client.get(f"/assessment/units/{POLICE}?period=2025-08").text
    line = re.search(r'data-indicator="receipt_filing">.*?</tr>', unit, re.S)
    assert line is not None
    assert "不适用" in line.group(0)
    assert ("考核期内回执、立案决定均为 0 且无超期事项的，本项不适用，不得分也不扣分"
            in line.group(0))
    ranking = view.client.get("/assessment?period=2025-08&lang=en").text
    row = re.search(rf'data-unit="{POLICE}">.*?</tr>', ranking, re.S)
    assert row is not None
    cell = re.search(r'data-indicator="receipt_filing">(.*?)</td>', row.group(0), re.S)
    assert cell is not None and "n/a" in cell.group(1)
    assert "no points earned or lost" in ranking
