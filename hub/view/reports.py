"""The monthly report (月度通报): each member unit's entry, timeliness and feedback figures.

Every unit of the registry appears, including units that entered nothing that month:
selective entry and idle logins are what the 通报 exists to expose (DOMAIN.md, "Known
failures"). CSV is UTF-8 with a byte-order mark so that spreadsheet programs on Chinese
Windows open it correctly; XLSX adds a second sheet listing the overdue items still open.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.spreadsheet import inert_text, make_formulas_inert
from hub.view.i18n import Translator
from hub.view.queries import OWED_ALERT_STATUSES
from hub.view.store import AlertRow, UnitStatsRow
from hub.view.units import UnitDirectory

__all__ = ["MonthlyReport", "ReportRow", "build_monthly_report", "to_csv", "to_xlsx"]

_COLUMNS = (
    "unit_code",
    "unit_name",
    "penalty_cases_entered",
    "penalty_cases_entered_late",
    "timeliness_rate",
    "referrals",
    "receipts",
    "filing_decisions",
    "feedback_rate",
    "median_days_to_decision",
    "arrest_requests",
    "transfers_for_prosecution",
    "non_filing_explanations",
    "alerts_raised",
    "open_overdue_alerts",
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One unit's line of the report."""

    unit_code: str
    unit_name: str
    penalty_cases_entered: int
    penalty_cases_entered_late: int
    timeliness_rate: float | None
    referrals: int
    receipts: int
    filing_decisions: int
    feedback_rate: float | None
    median_days_to_decision: float | None
    arrest_requests: int
    transfers_for_prosecution: int
    non_filing_explanations: int
    alerts_raised: int
    open_overdue_alerts: int


@dataclass(frozen=True, slots=True)
class OverdueItem:
    """An overdue alert still open when the report is made."""

    unit_code: str
    unit_name: str
    case_id: str
    kind: str
    due_date: date | None
    message: str


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    """The report of one month."""

    month: str
    rows: list[ReportRow]
    overdue: list[OverdueItem]


def build_monthly_report(
    session: Session, month: str, units: UnitDirectory, language: str = "zh"
) -> MonthlyReport:
    """Figures of ``month`` (YYYY-MM) for every known unit, registry order first."""
    stats = {
        row.unit_code: row
        for row in session.scalars(select(UnitStatsRow).where(UnitStatsRow.month == month))
    }
    open_overdue: dict[str, int] = {
        str(code): int(count)
        for code, count in session.execute(
            select(AlertRow.unit_code, func.count())
            .where(AlertRow.status.in_(OWED_ALERT_STATUSES), AlertRow.is_overdue.is_(True))
            .group_by(AlertRow.unit_code)
        )
    }
    codes = [unit.code for unit in units.all()]
    codes += sorted(code for code in stats if code not in set(codes))
    rows: list[ReportRow] = []
    for code in codes:
        row = stats.get(code)
        entered = row.penalty_cases_entered if row else 0
        late = row.penalty_cases_entered_late if row else 0
        rows.append(
            ReportRow(
                unit_code=code,
                unit_name=units.name(code, language),
                penalty_cases_entered=entered,
                penalty_cases_entered_late=late,
                timeliness_rate=round(max(entered - late, 0) / entered, 4) if entered else None,
                referrals=row.referrals if row else 0,
                receipts=row.receipts if row else 0,
                filing_decisions=row.filing_decisions if row else 0,
                feedback_rate=row.feedback_rate if row else None,
                median_days_to_decision=row.median_days_to_decision if row else None,
                arrest_requests=row.arrest_requests if row else 0,
                transfers_for_prosecution=row.transfers_for_prosecution if row else 0,
                non_filing_explanations=row.non_filing_explanations if row else 0,
                alerts_raised=row.alerts_raised if row else 0,
                open_overdue_alerts=int(open_overdue.get(code, 0)),
            )
        )
    overdue = [
        OverdueItem(
            unit_code=alert.unit_code,
            unit_name=units.name(alert.unit_code, language),
            case_id=alert.case_id,
            kind=alert.kind,
            due_date=alert.due_date,
            message=alert.message,
        )
        for alert in session.scalars(
            select(AlertRow)
            .where(AlertRow.status.in_(OWED_ALERT_STATUSES), AlertRow.is_overdue.is_(True))
            .order_by(AlertRow.unit_code, AlertRow.raised_at)
            .limit(10_000)
        )
    ]
    return MonthlyReport(month=month, rows=rows, overdue=overdue)


#: A figure with nothing to compute it from (a rate whose denominator is 0: no referral to
#: answer, nothing entered), as the page shows it.
NOT_APPLICABLE = "—"


def _cell(value: object) -> object:
    """A figure as written to the files: "—" when not applicable, as on the page.

    An empty cell read as "no figure sent" or, summed or averaged by a spreadsheet, as
    nothing at all, and said nothing about why; "—" is what the page shows, so the circular
    a prosecutor prints and the screen agree.
    """
    return NOT_APPLICABLE if value is None else value


def _headers(translate: Translator) -> list[str]:
    return [translate(f"report.columns.{name}") for name in _COLUMNS]


def to_csv(report: MonthlyReport, translate: Translator) -> bytes:
    """The report as CSV (UTF-8 with BOM), one line per unit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_headers(translate))
    for row in report.rows:
        writer.writerow([inert_text(_cell(getattr(row, name))) for name in _COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: MonthlyReport, translate: Translator) -> bytes:
    """The report as a workbook: the figures, then the open overdue items."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = translate("report.sheet_figures")
    title = translate("report.title", month=report.month)
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(_COLUMNS))
    sheet.append(_headers(translate))
    header_fill = PatternFill("solid", fgColor="DDE6F0")
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for row in report.rows:
        sheet.append([_cell(getattr(row, name)) for name in _COLUMNS])
    for row_cells in sheet.iter_rows(min_row=3):
        for cell in row_cells:
            header = _COLUMNS[cell.column - 1]
            if header.endswith("_rate") and isinstance(cell.value, float):
                cell.number_format = "0.0%"
    widths = {"unit_code": 22, "unit_name": 36}
    for index, name in enumerate(_COLUMNS, start=1):
        sheet.column_dimensions[sheet.cell(row=2, column=index).column_letter].width = (
            widths.get(name, 14)
        )
    sheet.freeze_panes = "C3"
    overdue = workbook.create_sheet(translate("report.sheet_overdue"))
    overdue.append(
        [translate(f"report.overdue_columns.{name}")
         for name in ("unit_code", "unit_name", "case_id", "kind", "due_date", "message")]
    )
    for cell in overdue[1]:
        cell.font = Font(bold=True)
        cell.fill = header_fill
    for item in report.overdue:
        overdue.append(
            [
                item.unit_code,
                item.unit_name,
                item.case_id,
                translate.label("alert_kind", item.kind),
                item.due_date,
                item.message,
            ]
        )
    for letter, width in zip("ABCDEF", (22, 36, 38, 24, 12, 60), strict=True):
        overdue.column_dimensions[letter].width = width
    for written in (sheet, overdue):
        make_formulas_inert(cell for cells in written.iter_rows() for cell in cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
