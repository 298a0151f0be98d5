"""Assessment (考核) and circulars (通报) of member units over a month, quarter, half-year
or year: figures, points per indicator, one-vote vetoes, a grade and a rank.

The monthly statistics (``view_unit_stats``) give entries, late entries, referrals,
receipts and filing decisions; the alerts (``view_alerts``) give what went wrong, counted
on the unit responsible for them and dated by when the duty fell due (the alert's due
date, else when it was raised). An alert the deadline monitor resolved as "done in time"
(raised before the hub read the act) is no failure and is not counted. Indicators,
weights, vetoes and grades are data (``hub/rules/assessment.yaml``), so the assessing body
changes points without a release.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

from fontTools.ttLib import TTCollection  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import FontFace
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.errors import ConfigError
from hub.rules.assessment import AssessmentRules, Indicator
from hub.spreadsheet import make_formulas_inert
from hub.view.i18n import Translator
from hub.view.library import source_text, veto_scope
from hub.view.queries import CHINA_TZ
from hub.view.store import AlertRow, UnitStatsRow
from hub.view.units import UnitDirectory

__all__ = [
    "Assessment",
    "AssessmentRow",
    "Figures",
    "IndicatorScore",
    "Period",
    "PeriodKind",
    "build_assessment",
    "parse_period",
    "period_containing",
    "periods_back",
    "to_pdf",
    "to_xlsx",
]

PeriodKind = Literal["month", "quarter", "half", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("month", "quarter", "half", "year")


@dataclass(frozen=True, slots=True)
class Period:
    """A period of assessment: ``2025-07``, ``2025-Q3``, ``2025-H2`` or ``2025``."""

    kind: PeriodKind
    key: str
    year: int
    months: tuple[str, ...]

    @property
    def first_day(self) -> date:
        """The period's first day."""
        return date(self.year, int(self.months[0][5:]), 1)

    @property
    def day_after(self) -> date:
        """The first day after the period."""
        year, month = int(self.months[-1][:4]), int(self.months[-1][5:])
        return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)

    @property
    def last_month(self) -> str:
        """The period's last month (YYYY-MM)."""
        return self.months[-1]

    def covers(self, day: date) -> bool:
        """Whether ``day`` falls in the period."""
        return f"{day:%Y-%m}" in self.months

    def label(self, translate: Translator) -> str:
        """"2025年第三季度" / "2025 Q3"."""
        if self.kind == "year":
            return translate("assessment.label_year", year=self.year)
        if self.kind == "month":
            return translate("assessment.label_month", year=self.year,
                             month=int(self.months[0][5:]))
        number = int(self.key[-1])
        chinese = ("一二三四" if self.kind == "quarter" else "上下")[number - 1]
        return translate(f"assessment.label_{self.kind}", year=self.year, number=number,
                         cn=chinese)


def _months(year: int, first: int, count: int) -> tuple[str, ...]:
    return tuple(f"{year:04d}-{month:02d}" for month in range(first, first + count))


def parse_period(key: str) -> Period:
    """The period a key names; ValueError (naming the key) for anything else."""
    text = key.strip().upper()
    try:
        year = int(text[:4])
        if len(text) == 4:
            return Period("year", text, year, _months(year, 1, 12))
        if len(text) == 7 and text[4:6] == "-Q" and text[6] in "1234":
            quarter = int(text[6])
            return Period("quarter", text, year, _months(year, 3 * quarter - 2, 3))
        if len(text) == 7 and text[4:6] == "-H" and text[6] in "12":
            half = int(text[6])
            return Period("half", text, year, _months(year, 6 * half - 5, 6))
        if len(text) == 7 and text[4] == "-" and 1 <= int(text[5:]) <= 12:
            return Period("month", text, year, (text,))
    except ValueError:
        pass
    raise ValueError(f"period {key!r}: expected YYYY, YYYY-Qn, YYYY-Hn or YYYY-MM")


def period_containing(month: str, kind: PeriodKind) -> Period:
    """The period of ``kind`` that contains ``month`` (YYYY-MM)."""
    year, number = month[:4], int(month[5:7])
    if kind == "year":
        return parse_period(year)
    if kind == "half":
        return parse_period(f"{year}-H{1 if number <= 6 else 2}")
    if kind == "quarter":
        return parse_period(f"{year}-Q{(number - 1) // 3 + 1}")
    return parse_period(month[:7])


def periods_back(latest_month: str, kind: PeriodKind, count: int) -> list[Period]:
    """``count`` periods of ``kind`` ending with the one containing ``latest_month``,
    newest first (the choices of the page's period selector)."""
    periods: list[Period] = []
    current = period_containing(latest_month, kind)
    while len(periods) < count:
        periods.append(current)
        before = current.first_day.replace(day=1)
        year, month = (before.year, before.month - 1) if before.month > 1 else (
            before.year - 1, 12)
        if year < 2000:
            break
        current = period_containing(f"{year:04d}-{month:02d}", kind)
    return periods


@dataclass(frozen=True, slots=True)
class Figures:
    """What a unit did in the period (the measures of hub/rules/assessment.py)."""

    months: int
    active_months: int
    months_since_activity: int | None
    entered: int
    entered_late: int
    missing_entries: int
    referrals: int
    receipts: int
    filing_decisions: int
    alerts_by_kind: dict[str, int] = field(default_factory=dict)

    def measure(self, name: str) -> int:
        """A measure by name; ``months_since_activity`` of a never-active unit is huge."""
        if name == "months_since_activity":
            return 10_000 if self.months_since_activity is None else self.months_since_activity
        value = getattr(self, name)
        return int(value)

    def alerts(self, kinds: tuple[str, ...]) -> int:
        """Failures of the listed alert kinds."""
        return sum(self.alerts_by_kind.get(kind, 0) for kind in kinds)


@dataclass(frozen=True, slots=True)
class IndicatorScore:
    """One indicator of one unit: the figure it reads, the points, or not applicable."""

    indicator_id: str
    weight: float
    value: float | None
    score: float | None

    @property
    def applicable(self) -> bool:
        """False when the unit had nothing the indicator could measure."""
        return self.score is not None


@dataclass(frozen=True, slots=True)
class AssessmentRow:
    """A unit's line of the assessment."""

    unit_code: str
    unit_name: str
    unit_kind: str
    figures: Figures
    scores: dict[str, IndicatorScore]
    total: float
    grade_id: str
    grade_name: str
    vetoes: tuple[str, ...]
    rank: int


@dataclass(frozen=True, slots=True)
class Assessment:
    """The assessment of one period, ranked."""

    period: Period
    rules: AssessmentRules
    rows: list[AssessmentRow]

    def indicators(self) -> tuple[Indicator, ...]:
        """The indicators, in the rule file's order."""
        return self.rules.indicators


def _score(indicator: Indicator, figures: Figures) -> IndicatorScore:
    weight = indicator.weight
    value: float | None
    score: float | None
    if indicator.method == "continuity":
        value = figures.active_months / figures.months
        score = weight * value
    elif indicator.method == "freshness":
        months = figures.months_since_activity
        value = None if months is None else float(months)
        score = 0.0 if months is None else max(0.0, weight - indicator.deduction * months)
    elif indicator.method == "completeness":
        base = figures.entered + figures.missing_entries
        value = figures.entered / base if base else None
        score = None if value is None else weight * value
    elif indicator.method == "timeliness":
        entered = figures.entered
        value = (entered - min(figures.entered_late, entered)) / entered if entered else None
        score = None if value is None else weight * value
    else:
        count = figures.alerts(indicator.alert_kinds)
        value = float(count)
        score = max(0.0, weight - indicator.deduction * count)
    return IndicatorScore(indicator.id, weight, value, score)


def _alert_day(alert_due: date | None, raised: object) -> date:
    if alert_due is not None:
        return alert_due
    assert hasattr(raised, "astimezone")
    return raised.astimezone(CHINA_TZ).date()  # type: ignore[no-any-return]


def _counted_kinds(rules: AssessmentRules) -> set[str]:
    kinds = {"MISSING_ENTRY"}
    for indicator in rules.indicators:
        kinds.update(indicator.alert_kinds)
    return kinds


def _months_between(earlier: str, later: str) -> int:
    return (int(later[:4]) - int(earlier[:4])) * 12 + int(later[5:7]) - int(earlier[5:7])


def _figures(session: Session, period: Period, rules: AssessmentRules
             ) -> dict[str, Figures]:
    """Figures of every unit with statistics or counted alerts in the period."""
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    active: dict[str, set[str]] = defaultdict(set)
    for row in session.scalars(select(UnitStatsRow).where(UnitStatsRow.month.in_(period.months))):
        totals = sums[row.unit_code]
        totals["entered"] += row.penalty_cases_entered
        totals["entered_late"] += row.penalty_cases_entered_late
        totals["referrals"] += row.referrals
        totals["receipts"] += row.receipts
        totals["filing_decisions"] += row.filing_decisions
        if row.penalty_cases_entered or row.referrals or row.receipts or row.filing_decisions:
            active[row.unit_code].add(row.month)
    last_active: dict[str, str] = {}
    for code, month in session.execute(
        select(UnitStatsRow.unit_code, UnitStatsRow.month).where(
            UnitStatsRow.month <= period.last_month,
            (UnitStatsRow.penalty_cases_entered > 0) | (UnitStatsRow.referrals > 0)
            | (UnitStatsRow.receipts > 0) | (UnitStatsRow.filing_decisions > 0),
        )
    ):
        if month > last_active.get(code, ""):
            last_active[code] = month
    alerts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    first, after = period.first_day, period.day_after
    # Raised (UTC) a day either side of the period: the China date decides below.
    around = (datetime.combine(first - timedelta(days=1), time(), UTC),
              datetime.combine(after + timedelta(days=1), time(), UTC))
    for unit_code, kind, due, raised, details in session.execute(
        select(AlertRow.unit_code, AlertRow.kind, AlertRow.due_date, AlertRow.raised_at,
               AlertRow.details).where(
            AlertRow.kind.in_(_counted_kinds(rules)),
            or_(and_(AlertRow.due_date >= first, AlertRow.due_date < after),
                and_(AlertRow.due_date.is_(None), AlertRow.raised_at >= around[0],
                     AlertRow.raised_at < around[1])),
        )
    ):
        if (details or {}).get("late") == "false":
            continue
        if period.covers(_alert_day(due, raised)):
            alerts[unit_code][kind] += 1
    codes = set(sums) | set(alerts)
    result: dict[str, Figures] = {}
    for code in codes:
        totals = sums.get(code, {})
        last = last_active.get(code)
        result[code] = Figures(
            months=len(period.months),
            active_months=len(active.get(code, ())),
            months_since_activity=None if last is None else _months_between(
                last, period.last_month),
            entered=totals.get("entered", 0),
            entered_late=totals.get("entered_late", 0),
            missing_entries=alerts.get(code, {}).get("MISSING_ENTRY", 0),
            referrals=totals.get("referrals", 0),
            receipts=totals.get("receipts", 0),
            filing_decisions=totals.get("filing_decisions", 0),
            alerts_by_kind=dict(alerts.get(code, {})),
        )
    return result


def _empty(period: Period, code: str, session: Session) -> Figures:
    last = session.scalar(
        select(UnitStatsRow.month).where(
            UnitStatsRow.unit_code == code, UnitStatsRow.month <= period.last_month,
            (UnitStatsRow.penalty_cases_entered > 0) | (UnitStatsRow.referrals > 0)
            | (UnitStatsRow.receipts > 0) | (UnitStatsRow.filing_decisions > 0),
        ).order_by(UnitStatsRow.month.desc()).limit(1)
    )
    return Figures(len(period.months), 0,
                   None if last is None else _months_between(last, period.last_month),
                   0, 0, 0, 0, 0, 0, {})


def build_assessment(session: Session, period: Period, units: UnitDirectory,
                     rules: AssessmentRules, language: str = "zh") -> Assessment:
    """Every assessed unit of the period, scored and ranked.

    Assessed are the registry's units of a kind some indicator applies to (a unit that
    entered nothing is assessed: silence is what the 考核 exists to expose), and any unit
    code with figures that the registry does not know (scored as an agency).
    """
    kinds = {kind for indicator in rules.indicators for kind in indicator.applies_to}
    figures = _figures(session, period, rules)
    wanted: list[tuple[str, str]] = [(unit.code, unit.kind) for unit in units.all()
                                     if unit.kind in kinds]
    known = {unit.code for unit in units.all()}
    wanted += [(code, "agency") for code in sorted(figures) if code not in known]
    unranked: list[tuple[tuple[bool, float, str], AssessmentRow]] = []
    for code, kind in wanted:
        unit_figures = figures.get(code) or _empty(period, code, session)
        scores = {indicator.id: _score(indicator, unit_figures)
                  for indicator in rules.indicators if kind in indicator.applies_to}
        applicable = [score for score in scores.values() if score.applicable]
        weight = sum(score.weight for score in applicable)
        points = sum(score.score or 0.0 for score in applicable)
        total = round(100.0 * points / weight, 1) if weight else 0.0
        vetoes = tuple(
            veto.id for veto in rules.vetoes
            if kind in veto.applies_to and period.kind in veto.periods
            and veto.hit(unit_figures.measure(veto.measure))
        )
        grade = rules.grade(total, bool(vetoes))
        name = units.name(code, language)
        row = AssessmentRow(code, name, kind, unit_figures, scores, total, grade.id,
                            grade.name_en if language == "en" else grade.name_zh, vetoes, 0)
        unranked.append(((bool(vetoes), -total, name), row))
    unranked.sort(key=lambda item: item[0])
    rows: list[AssessmentRow] = []
    previous: tuple[bool, float] | None = None
    rank = 0
    for position, (key, row) in enumerate(unranked, start=1):
        if (key[0], key[1]) != previous:
            rank = position
            previous = (key[0], key[1])
        rows.append(AssessmentRow(row.unit_code, row.unit_name, row.unit_kind, row.figures,
                                  row.scores, row.total, row.grade_id, row.grade_name,
                                  row.vetoes, rank))
    return Assessment(period, rules, rows)


# -- exports ------------------------------------------------------------------------------


def _indicator_name(indicator: Indicator, language: str) -> str:
    return indicator.name_en if language == "en" else indicator.name_zh


def _veto_names(assessment: Assessment, row: AssessmentRow, language: str) -> str:
    names = {veto.id: (veto.name_en if language == "en" else veto.name_zh)
             for veto in assessment.rules.vetoes}
    return "; ".join(names[veto] for veto in row.vetoes)


def _points(score: IndicatorScore | None) -> float | str:
    if score is None or score.score is None:
        return "—"
    return round(score.score, 2)


def ranking_table(assessment: Assessment, translate: Translator) -> list[list[object]]:
    """The ranking as rows of cells, header first: what the XLSX's first sheet and the
    PDF show, so both are checked against one hand computation."""
    language = translate.language
    header: list[object] = [translate("assessment.columns.rank"),
                            translate("assessment.columns.unit"),
                            translate("assessment.columns.total"),
                            translate("assessment.columns.grade"),
                            translate("assessment.columns.vetoes")]
    header += [i.short_en if language == "en" else i.short_zh for i in assessment.indicators()]
    rows: list[list[object]] = [header]
    for row in assessment.rows:
        cells: list[object] = [row.rank, row.unit_name, row.total, row.grade_name,
                               _veto_names(assessment, row, language)]
        cells += [_points(row.scores.get(i.id)) if i.id in row.scores else ""
                  for i in assessment.indicators()]
        rows.append(cells)
    return rows


_FIGURE_COLUMNS = ("active_months", "months_since_activity", "entered", "entered_late",
                   "missing_entries", "referrals", "receipts", "filing_decisions")


def figures_table(assessment: Assessment, translate: Translator) -> list[list[object]]:
    """The figures behind the points, one row per unit (header first)."""
    header: list[object] = [translate("assessment.columns.unit_code"),
                            translate("assessment.columns.unit")]
    header += [translate(f"assessment.figures.{name}") for name in _FIGURE_COLUMNS]
    header.append(translate("assessment.figures.overdue_alerts"))
    rows: list[list[object]] = [header]
    for row in assessment.rows:
        figures = row.figures
        cells: list[object] = [row.unit_code, row.unit_name]
        cells += ["" if getattr(figures, name) is None else getattr(figures, name)
                  for name in _FIGURE_COLUMNS]
        cells.append(sum(count for kind, count in figures.alerts_by_kind.items()
                         if kind != "MISSING_ENTRY"))
        rows.append(cells)
    return rows


def rules_table(assessment: Assessment, translate: Translator) -> list[list[object]]:
    """Indicators and vetoes with their points and sources (the circular's annex)."""
    language = translate.language
    rows: list[list[object]] = [[translate("assessment.columns.item"),
                                 translate("assessment.columns.weight"),
                                 translate("assessment.columns.deduction"),
                                 translate("assessment.columns.source"),
                                 translate("assessment.columns.operator_set")]]
    yes, no = translate("assessment.yes_word"), translate("assessment.no_word")
    for indicator in assessment.indicators():
        rows.append([_indicator_name(indicator, language), indicator.weight,
                     indicator.deduction or "", source_text(indicator.source, language),
                     yes if indicator.operator_set else no])
    for veto in assessment.rules.vetoes:
        rows.append([translate("assessment.veto_prefix")
                     + (veto.name_en if language == "en" else veto.name_zh)
                     + translate("library.sentence_sep")
                     + veto_scope(translate, veto, assessment.rules), "", "",
                     source_text(veto.source, language), yes if veto.operator_set else no])
    return rows


def _sheet(workbook: Workbook, title: str, heading: str, table: list[list[object]],
           first: bool = False) -> None:
    sheet = workbook.active if first else workbook.create_sheet()
    assert sheet is not None
    sheet.title = title
    sheet.append([heading])
    sheet["A1"].font = Font(bold=True, size=14)
    fill = PatternFill("solid", fgColor="DDE6F0")
    for index, cells in enumerate(table):
        sheet.append(cells)
        if index == 0:
            for cell in sheet[2]:
                cell.font = Font(bold=True)
                cell.fill = fill
                cell.alignment = Alignment(wrap_text=True, vertical="center")
    for column in sheet.columns:
        letter = column[0].column_letter
        longest = max(len(str(cell.value or "")) for cell in column[1:]) if column[1:] else 8
        sheet.column_dimensions[letter].width = min(max(longest * 1.6, 8), 60)
    sheet.freeze_panes = "C3"
    make_formulas_inert(cell for cells in sheet.iter_rows() for cell in cells)


def to_xlsx(assessment: Assessment, translate: Translator) -> bytes:
    """The assessment as a workbook: ranking with points, figures, indicators and sources."""
    workbook = Workbook()
    title = translate("assessment.report_title", period=assessment.period.label(translate))
    _sheet(workbook, translate("assessment.sheet_ranking"), title,
           ranking_table(assessment, translate), first=True)
    _sheet(workbook, translate("assessment.sheet_figures"), title,
           figures_table(assessment, translate))
    _sheet(workbook, translate("assessment.sheet_rules"), title,
           rules_table(assessment, translate))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


#: Debian's fonts-noto-cjk (scripts/ensure-chromium.sh installs it with Chromium).
CJK_FONT_FILES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)


def _cjk_font() -> tuple[Path, int]:
    """A font file with Simplified Chinese glyphs and the index of its SC face."""
    for path in CJK_FONT_FILES:
        if path.is_file():
            for index, font in enumerate(TTCollection(str(path)).fonts):
                if font["name"].getDebugName(1).endswith("CJK SC"):
                    return path, index
    raise ConfigError(
        "no Chinese font for PDF reports",
        [f"install Debian's fonts-noto-cjk (looked for {', '.join(map(str, CJK_FONT_FILES))})"],
    )


def to_pdf(assessment: Assessment, translate: Translator) -> bytes:
    """The circular 通报 as a PDF: the ranking with grades and vetoes, then the indicators
    with their points and sources, in Chinese (Noto Sans CJK SC embedded, subset)."""
    path, index = _cjk_font()
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("cjk", fname=str(path), collection_font_number=index)
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    title = translate("assessment.report_title", period=assessment.period.label(translate))
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    pdf.multi_cell(0, 5, translate("assessment.pdf_note"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    plain = FontFace(emphasis="", fill_color=(221, 230, 240))
    ranking = ranking_table(assessment, translate)
    widths = [8, 50, 12, 12, 40] + [22] * (len(ranking[0]) - 5)
    with pdf.table(col_widths=tuple(widths), headings_style=plain, line_height=4.5,
                   text_align="LEFT") as table:
        for cells in ranking:
            line = table.row()
            for cell in cells:
                line.cell(str(cell))
    pdf.ln(4)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 8, translate("assessment.sheet_rules"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=7)
    with pdf.table(col_widths=(60, 12, 12, 160, 16), headings_style=plain, line_height=4,
                   text_align="LEFT") as table:
        for cells in rules_table(assessment, translate):
            line = table.row()
            for cell in cells:
                line.cell(str(cell))
    return bytes(pdf.output())
