"""Pages of oversight (issue #14, items 2 and 3): assessment 考核 and circulars 通报, the
random re-check of penalty cases 随机抽案复查, and the legal library 法律法规 / 执法依据.

Kept apart from ``web.py`` so that work on these pages does not collide with the daily
pages; rendering, CSRF and language handling are web.py's own helpers.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from hub.models import AuditOperation, ViewActionKind
from hub.rules.assessment import load_assessment
from hub.view import queries
from hub.view.assessment import (
    PERIOD_KINDS,
    PeriodKind,
    build_assessment,
    parse_period,
    period_containing,
    periods_back,
    to_pdf,
    to_xlsx,
)
from hub.view.context import LoggedIn, ProsecutorPrincipal, actor_of, context_of
from hub.view.i18n import Translator
from hub.view.library import (
    SECTIONS,
    library_entries,
    search_library,
    source_text,
    veto_scope,
)
from hub.view.recheck import (
    RESULT_KEY,
    RESULTS,
    SAMPLE_KEY,
    RecheckSampleRow,
    draw_sample,
    recheck_items,
)
from hub.view.web import _back, _check_csrf, _labels, _language, _render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

#: Periods offered in the selector, per kind.
_CHOICES: dict[str, int] = {"month": 24, "quarter": 8, "half": 4, "year": 3}


def _kind(value: str) -> PeriodKind:
    for kind in PERIOD_KINDS:
        if kind == value:
            return kind
    return "quarter"


@router.get("/assessment", response_class=HTMLResponse)
def assessment_page(
    request: Request,
    principal: ProsecutorPrincipal,
    kind: Annotated[str, Query(max_length=10)] = "quarter",
    period: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """The assessment of a period on screen: ranking with a chart, each unit's points.

    It opens on the period of the latest month with data (a quarter by default), not on
    the calendar's: the exports may end months before today.
    """
    context = context_of(request)
    language = _language(request)
    rules = load_assessment()
    with context.store.session() as session:
        latest = queries.trend_end_month(session)
        try:
            chosen = parse_period(period) if period else period_containing(latest, _kind(kind))
        except ValueError:
            chosen = period_containing(latest, _kind(kind))
        result = build_assessment(session, chosen, context.units, rules, language)
    translate = Translator(language)
    choices = periods_back(latest, chosen.kind, _CHOICES[chosen.kind])
    if chosen.key not in {p.key for p in choices}:
        choices.insert(0, chosen)
    chart = {
        "labels": [row.unit_name for row in result.rows],
        "totals": [row.total for row in result.rows],
        "vetoed": [bool(row.vetoes) for row in result.rows],
        "label": translate("assessment.columns.total"),
    }
    veto_names = {veto.id: (veto.name_en if language == "en" else veto.name_zh)
                  for veto in rules.vetoes}
    veto_periods = {veto.id: translate("library.list_sep").join(
        translate(f"assessment.kind.{kind}") for kind in veto.periods) for veto in rules.vetoes}
    any_figures = any(row.figures.active_months or row.figures.alerts_by_kind
                      for row in result.rows)
    return _render(request, "assessment.html", principal, assessment=result, period=chosen,
                   period_label=chosen.label(translate), kinds=PERIOD_KINDS,
                   choices=[(p.key, p.label(translate)) for p in choices],
                   chart=chart, veto_names=veto_names, veto_periods=veto_periods,
                   sources={**{item.id: source_text(item.source, language)
                               for item in rules.indicators},
                            **{veto.id: source_text(veto.source, language)
                               for veto in rules.vetoes}},
                   indicators=rules.indicators, any_figures=any_figures,
                   veto_scopes={v.id: veto_scope(translate, v, rules) for v in rules.vetoes})


@router.get("/assessment/units/{code}", response_class=HTMLResponse)
def assessment_unit_page(
    request: Request,
    principal: ProsecutorPrincipal,
    code: str,
    period: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """One unit's scorecard of a period: each indicator's figure, points, method and source,
    and the vetoes it hit (what a unit is told when the circular names it)."""
    context = context_of(request)
    language = _language(request)
    rules = load_assessment()
    with context.store.session() as session:
        latest = queries.trend_end_month(session)
        try:
            chosen = parse_period(period) if period else period_containing(latest, "quarter")
        except ValueError:
            chosen = period_containing(latest, "quarter")
        result = build_assessment(session, chosen, context.units, rules, language)
    row = next((row for row in result.rows if row.unit_code == code.upper()[:18]), None)
    if row is None:
        return _render(request, "not_found.html", principal, status_code=404)
    translate = Translator(language)
    return _render(request, "assessment_unit.html", principal, row=row, period=chosen,
                   period_label=chosen.label(translate), rules=rules,
                   units_count=len(result.rows),
                   sources={item.id: source_text(item.source, language)
                            for item in rules.indicators},
                   veto_names={veto.id: (veto.name_en if language == "en" else veto.name_zh)
                               for veto in rules.vetoes},
                   # only a veto that would judge the period for other units spares this
                   # one: a monthly page is not told a yearly veto spares the police
                   spared_by=[(veto.id, veto.scope_en if language == "en" else veto.scope_zh)
                              for veto in rules.vetoes if row.unit_kind not in veto.applies_to
                              and chosen.kind in veto.periods])


@router.get("/assessment/export")
def assessment_export(
    request: Request,
    principal: ProsecutorPrincipal,
    period: Annotated[str, Query(max_length=10)],
    export_format: Annotated[Literal["xlsx", "pdf"], Query(alias="format")] = "xlsx",
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
) -> Response:
    """The assessment as XLSX (ranking, figures, rules) or the circular as PDF; audited."""
    try:
        chosen = parse_period(period)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    context = context_of(request)
    translate = Translator(lang)
    with context.store.session() as session:
        result = build_assessment(session, chosen, context.units, load_assessment(), lang)
    context.outbox.audit(actor_of(request, principal), AuditOperation.EXPORT,
                         target=f"report:assessment:{chosen.key}.{export_format}",
                         result_count=len(result.rows))
    filename = f"liangfa-assessment-{chosen.key}.{export_format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if export_format == "pdf":
        return Response(to_pdf(result, translate), media_type="application/pdf",
                         headers=headers)
    return Response(
        to_xlsx(result, translate),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=headers)


# -- random re-check ----------------------------------------------------------------------


def _default_year() -> int:
    """Last year in China: the re-check looks at last year's penalty cases."""
    return datetime.now(queries.CHINA_TZ).year - 1


@router.get("/recheck", response_class=HTMLResponse)
def recheck_page(request: Request, principal: ProsecutorPrincipal, notice: str = "") -> Response:
    """Samples drawn so far, and the form to draw one."""
    with context_of(request).store.session() as session:
        samples = list(session.scalars(
            select(RecheckSampleRow).order_by(RecheckSampleRow.drawn_at.desc()).limit(100)))
        session.expunge_all()
    rules = load_assessment()
    return _render(request, "recheck.html", principal, samples=samples, notice=notice,
                   default_year=_default_year(), per_unit=rules.recheck.cases_per_unit)


@router.post("/recheck")
def recheck_draw(
    request: Request,
    principal: ProsecutorPrincipal,
    year: Annotated[int, Form(ge=2000, le=2100)],
    per_unit: Annotated[int, Form(ge=1, le=1000)],
    seed: Annotated[str, Form(max_length=18)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Draw a sample (the seed given, or a fresh random one), record and audit it."""
    _check_csrf(request, principal, csrf_token)
    text = seed.strip()
    if text and not text.isdigit():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "seed: a whole number of up to 18 digits")
    chosen_seed = int(text) if text else secrets.randbelow(10**9)
    context = context_of(request)
    rules = load_assessment()
    codes = [unit.code for unit in context.units.all() if unit.kind in rules.recheck.unit_kinds]
    with context.store.session() as session:
        sample = draw_sample(session, year=year, seed=chosen_seed, per_unit=per_unit,
                             drawn_by=principal.username, unit_codes=codes or None)
        sample_id, drawn = sample.sample_id, len(sample.items)
        digest, size = sample.population_digest, sample.population_size
    context.outbox.audit(
        actor_of(request, principal), AuditOperation.SEARCH, target=f"recheck:{sample_id}",
        query=(f"recheck draw year={year} seed={chosen_seed} per_unit={per_unit} "
               f"population={size} digest={digest}"),
        result_count=drawn,
    )
    return RedirectResponse(f"/recheck/{sample_id}", status_code=303)


@router.get("/recheck/{sample_id}", response_class=HTMLResponse)
def recheck_sample_page(request: Request, principal: ProsecutorPrincipal, sample_id: str,
                        notice: str = "") -> Response:
    """The drawn cases by unit, each with its finding (as it came back through the bus)."""
    with context_of(request).store.session() as session:
        sample = session.get(RecheckSampleRow, sample_id[:36])
        if sample is None:
            return _render(request, "not_found.html", principal, status_code=404)
        items = recheck_items(session, sample)
        session.expunge(sample)
    done = sum(1 for item in items if item.result)
    return _render(request, "recheck_sample.html", principal, sample=sample, items=items,
                   done=done, notice=notice, results=RESULTS,
                   case_labels=_labels(request, [item.case_id for item in items]))


@router.post("/recheck/{sample_id}/cases/{case_id}")
def recheck_mark(
    request: Request,
    principal: ProsecutorPrincipal,
    sample_id: str,
    case_id: str,
    result: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Record a finding on a drawn case: a ViewAction (ADD_NOTE) on the case, via the bus."""
    _check_csrf(request, principal, csrf_token)
    if result not in RESULTS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"result: one of {', '.join(RESULTS)}")
    context = context_of(request)
    with context.store.session() as session:
        sample = session.get(RecheckSampleRow, sample_id[:36])
        if sample is None or case_id not in {str(i["case_id"]) for i in sample.items}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case in this sample")
    label = Translator("zh")(f"recheck.results.{result}")
    context.outbox.action(
        actor_of(request, principal), ViewActionKind.ADD_NOTE, target=case_id,
        case_id=case_id,
        payload={SAMPLE_KEY: sample_id, RESULT_KEY: result,
                 "note": f"随机抽案复查：{label}" + (f"。{note}" if note.strip() else ""),
                 "recheck_note": note.replace("\x00", "")},
    )
    return _back(f"/recheck/{sample_id}", "submitted")


# -- legal library ------------------------------------------------------------------------


@router.get("/library", response_class=HTMLResponse)
def library_page(
    request: Request,
    principal: LoggedIn,
    q: Annotated[str, Query(max_length=100)] = "",
    section: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Every rule the hub applies with its source, searchable (no case data: everyone)."""
    section = section if section in SECTIONS else ""
    entries = library_entries(_language(request))
    found = search_library(entries, q, section)
    return _render(request, "library.html", principal, entries=found, total=len(entries),
                   q=q, section=section, sections=SECTIONS)
