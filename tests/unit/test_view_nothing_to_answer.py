"""A month with nothing to answer has no feedback rate: "—", never 100 % or 0 %.

The police bureau of a small county on a real SQLite store: in July 2025 it received two
referrals and decided on both (feedback rate 100 %); in August it received none and decided
none, and nothing fell due (no rate: 0/0); in September it received none but one filing
decision fell overdue (something was owed, and late). The feedback rate of August is "—"
on the unit's scorecard, in the monthly report and in its CSV and XLSX files, never 100 %
or 0 %.
"""

from __future__ import annotations

import csv
import io
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


def test_a_bureau_sent_nothing_is_not_failed_for_it(view: View) -> None:
    """A quarter in which the police bureau was sent no referral: its 受案立案 line keeps
    its points, and the silence alone does not fail it (不合格)."""
    with view.context.store.session() as session:
        apply_events(session, [_stats(POLICE, month) for month in ("2025-10", "2025-11",
                                                                   "2025-12")],
                     view.context.units)
    with view.context.store.session() as session:
        result = build_assessment(session, parse_period("2025-Q4"), view.context.units,
                                  load_assessment())
    row = next(row for row in result.rows if row.unit_code == POLICE)
    assert row.scores["receipt_filing"].score is not None
    assert row.grade_id != "fail"
