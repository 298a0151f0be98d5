"""The web UI: server-rendered pages in Simplified Chinese (English on request).

Pages read the store like the REST API and post forms that queue ViewActions; after a
form the page says the action was submitted and shows it once it has come back through
the bus. Every form carries the session's CSRF token; the login form a pre-session one.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select

from hub.calendar import unscheduled_years
from hub.models import AuditOperation, ViewActionKind
from hub.rules import load_entitlements
from hub.rules.assessment import load_assessment
from hub.view import queries, search
from hub.view.acts import ActRefused, offered_acts, submit_act
from hub.view.api.routes import CaseSearchParams, alert_or_404, search_params_text
from hub.view.assessment import build_assessment, period_containing
from hub.view.auth import Principal
from hub.view.board import (
    lead_explanation,
    missing_entries_by_unit,
    open_leads,
    other_units_penalising,
    repeat_offenders,
)
from hub.view.context import (
    SESSION_COOKIE,
    CasePrincipal,
    LoggedIn,
    ProsecutorPrincipal,
    StatusPrincipal,
    ViewContext,
    actor_of,
    context_of,
    optional_principal,
    scope_of,
)
from hub.view.i18n import LANGUAGES, Translator
from hub.view.library import source_text
from hub.view.login import attempt_login
from hub.view.login import logout as logout_session
from hub.view.reports import build_monthly_report
from hub.view.schemas import FILLED
from hub.view.status import view_status
from hub.view.store import CaseRow, UnmatchedRow
from hub.view.texts import cite, localize, localize_summary

__all__ = ["docs_page", "error_page", "router", "yuan_to_fen"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))

LANG_COOKIE = "lf_lang"
LOGIN_CSRF_COOKIE = "lf_login_csrf"
_CHART_ASSET = Path(__file__).with_name("static") / "vendor" / "chart.umd.min.js"


def _language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return str(chosen)
    return context_of(request).settings.default_language


def _yuan(fen: int | None) -> str:
    """Fen as yuan with thousands separators (amounts are never floats on the bus)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def _china_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(queries.CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _render(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    context = context_of(request)
    language = _language(request)
    translate = Translator(language)
    csrf = context.signer.csrf_token(principal.token) if principal else ""
    labels: dict[str, queries.CaseLabel] = values.pop("case_labels", {})
    repeats: dict[str, int] = values.pop("lead_repeats", {})

    def case_label(case_id: str | None) -> str:
        return _case_label(labels.get(case_id or ""), case_id or "", translate,
                           lambda code: context.units.name(code, language))

    response = templates.TemplateResponse(
        request,
        template,
        {
            "t": translate,
            "lang": language,
            "user": principal,
            "csrf_token": csrf,
            "yuan": _yuan,
            "china_time": _china_time,
            "percent": _percent,
            "unit_name": lambda code: context.units.name(code, language),
            "local": lambda text: localize(text, language),
            "local_summary": lambda text: localize_summary(
                text, language, unit_name=lambda code: context.units.name(code, language),
                label=lambda code: translate(f"prosecutor_action.{code}"),
                code=lambda code: translate.label("summary_code", code)),
            "cite": cite,
            # A legal source as a reader looks it up, in the page's language.
            "source": lambda text: source_text(text or "", language),
            # Why a screening lead was raised: figure beside threshold, rule, source.
            "lead_reason": lambda alert: lead_explanation(
                alert.kind, alert.details or {}, language, repeats.get(alert.case_id, 0)),
            "case_label": case_label,
            "labels": labels,
            "charts_available": _CHART_ASSET.is_file(),
            # Years whose working days are guessed Monday–Friday (issue #14, item 4).
            "calendar_unscheduled": unscheduled_years(),
            "path_with_query": request.url.path
            + (f"?{request.url.query}" if request.url.query else ""),
            **values,
        },
        status_code=status_code,
    )
    response.headers["Content-Language"] = "zh-CN" if language == "zh" else "en"
    return response


def _case_label(label: queries.CaseLabel | None, case_id: str, translate: Translator,
                unit_name: Any) -> str:
    """"演市监罚〔2025〕3号 · 张三 · 演示县市场监督管理局": a case as people name it.

    A UUID names nothing to a reader; it stays in the link and on the case page.
    """
    if label is None:
        return translate("case.unknown", short=case_id[:8]) if case_id else ""
    parts = [label.number or translate("case.no_number"), label.party,
             label.unit_name or unit_name(label.unit_code)]
    return " · ".join(part for part in parts if part)


_ERROR_KINDS = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_found",
                409: "conflict", 422: "invalid"}


def error_page(request: Request, status_code: int) -> HTMLResponse:
    """An error as a page in the user's language (the browser got raw JSON before).

    The page never echoes the exception's text: it is English and meant for API clients.
    """
    kind = _ERROR_KINDS.get(status_code, "error")
    return _render(request, "error.html", optional_principal(request), status_code=status_code,
                   kind=kind, status=status_code, detail=None)


def docs_page(request: Request, title: str, available: bool) -> HTMLResponse:
    """The API documentation page (Swagger UI when its assets are installed)."""
    language = _language(request)
    return templates.TemplateResponse(
        request, "docs.html",
        {"t": Translator(language), "lang": language, "title": title, "available": available},
        status_code=200 if available else 503,
    )


def _labels(request: Request, case_ids: list[str]) -> dict[str, queries.CaseLabel]:
    """Labels of the cases a page shows, for ``case_label`` in its template."""
    with context_of(request).store.session() as session:
        return queries.case_labels(session, case_ids)


def _check_csrf(request: Request, principal: Principal, token: str) -> None:
    if not context_of(request).signer.csrf_valid(principal.token, token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or invalid CSRF token")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _back(path: str, notice: str) -> RedirectResponse:
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}notice={notice}", status_code=303)


# -- session ------------------------------------------------------------------------------


@router.get("/lang/{language}")
def switch_language(request: Request, language: str, next: str = "/") -> Response:
    """Remember the UI language in a cookie and go back."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax",
                            secure=context_of(request).settings.secure_cookies)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", error: str = "") -> Response:
    """The login page; sets the pre-session CSRF cookie the form must echo."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    error = error if error in ("credentials", "csrf", "locked") else ""
    minutes = context_of(request).settings.login_lockout_minutes
    response = _render(request, "login.html", None, next=_safe_next(next), error=error,
                       login_csrf=token, lockout_minutes=minutes)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=context_of(request).settings.secure_cookies)
    return response


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check credentials; on success set the session cookie (HttpOnly, SameSite=Lax)."""
    context = context_of(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return RedirectResponse("/login?error=csrf", status_code=303)
    client = request.client.host if request.client else None
    result = attempt_login(context, username, password, client, "view")
    if result.user is None:
        query = urlencode({"error": result.outcome, "next": _safe_next(next)})
        return RedirectResponse(f"/login?{query}", status_code=303)
    user, token = result.user, result.token
    landing = _safe_next(next)
    if user.role == "operations" and landing == "/":
        landing = "/status"
    response = RedirectResponse(landing, status_code=303)
    # A browser-session cookie (no Max-Age): closing the browser on a shared county
    # workstation ends the login for the next person; the server ends it after
    # ``session_hours`` either way.
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=context.settings.secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request, principal: LoggedIn, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """End the browser session: the session is revoked and the cookie removed."""
    _check_csrf(request, principal, csrf_token)
    logout_session(context_of(request), principal)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- pages --------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def dashboard_page(request: Request) -> Response:
    """Dashboard: what a prosecutor must see on opening the view (issue #14): which units
    are missing what, the quarter's ranking, why each open lead was raised, parties
    penalised by several units; then cases by stage, open work and the trend."""
    principal = optional_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    if not principal.may_see_cases:
        return RedirectResponse("/status", status_code=303)
    context = context_of(request)
    language = _language(request)
    scope = scope_of(principal)
    ranking = None
    offenders: list[Any] = []
    with context.store.session() as session:
        board = queries.dashboard(session, scope)
        missing = missing_entries_by_unit(session, scope, language)
        leads = open_leads(session, scope)
        repeats = other_units_penalising(session, [lead.case_id for lead in leads])
        if principal.sees_all_cases:
            latest = queries.trend_end_month(session)
            ranking = build_assessment(session, period_containing(latest, "quarter"),
                                       context.units, load_assessment(), language)
            offenders = repeat_offenders(session, scope)
    trend = {
        "labels": [point.month for point in board.trend],
        "entered": [point.penalty_cases_entered for point in board.trend],
        "late": [point.penalty_cases_entered_late for point in board.trend],
        "referrals": [point.referrals for point in board.trend],
    }
    case_ids = [a.case_id for a in board.recent_alerts] + [lead.case_id for lead in leads]
    case_ids += [case_id for offender in offenders for case_id in offender.case_ids]
    return _render(request, "dashboard.html", principal, board=board,
                   trend_json=json.dumps(trend), missing=missing, leads=leads,
                   ranking=ranking, offenders=offenders, lead_repeats=repeats,
                   ranking_label=ranking.period.label(Translator(language)) if ranking else "",
                   case_labels=_labels(request, case_ids))


#: Yuan as people type them: digits, optional thousands separators, at most two decimals;
#: no exponent, so no input can make the server build a huge number.
_YUAN = re.compile(r"^\s*(\d{1,3}(?:,\d{3})+|\d{1,16})(?:\.(\d{1,2}))?\s*$")


def yuan_to_fen(text: str) -> int | None:
    """An amount in yuan as whole fen, or None if it is not a plain amount.

    ``Decimal("1e999990") * 100`` turned into an int took the view's only worker thread
    ~26 s under the GIL; parsing stays bounded by refusing exponents and long input before
    any arithmetic.
    """
    if len(text) > 30:
        return None
    match = _YUAN.match(text)
    if match is None:
        return None
    whole = int(match.group(1).replace(",", ""))
    cents = int((match.group(2) or "0").ljust(2, "0"))
    return whole * 100 + cents


def _search_params(request: Request) -> tuple[CaseSearchParams, list[str]]:
    raw = {key: value for key, value in request.query_params.items() if value != ""}
    raw.pop("notice", None)
    raw.pop("lang", None)
    for field in ("amount_min", "amount_max"):
        if field in raw:
            fen = yuan_to_fen(raw.pop(field))
            raw[f"{field}_fen"] = "invalid" if fen is None else str(fen)
    try:
        return CaseSearchParams.model_validate(raw), []
    except ValidationError as exc:
        fields = (str(error["loc"][0]).removesuffix("_fen") for error in exc.errors())
        return CaseSearchParams(), list(dict.fromkeys(fields))


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, principal: CasePrincipal) -> Response:
    """Case search with filters; results paginated, newest decision first."""
    context = context_of(request)
    params, invalid = _search_params(request)
    searched = any(
        key in request.query_params
        for key in ("unit", "stage", "decided_from", "decided_to", "violation_type",
                    "amount_min", "amount_max", "party", "case_number", "page")
    )
    page = None
    if searched and not invalid:
        with context.store.session() as session:
            page = search.search_cases(
                session, params.filters(), scope_of(principal), page=params.page,
                page_size=params.page_size, count_limit=context.settings.search_count_limit,
            )
        context.outbox.audit(
            actor_of(request, principal), AuditOperation.SEARCH, target="cases",
            query=search_params_text(params), result_count=page.total,
        )
    query = {k: v for k, v in request.query_params.items() if k not in ("page", "notice")}
    return _render(
        request, "cases.html", principal,
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT if invalid else 200,
        page=page, params=params, invalid=invalid,
        form=dict(request.query_params), base_query=urlencode(query),
        stages=list(_STAGES), units=context.units.all(),
        case_labels=_labels(request, [case.case_id for case in page.items] if page else []),
        any_cases=_any_cases(request),
    )


def _any_cases(request: Request) -> bool:
    """Whether the store holds any case: an empty search then says how data comes in."""
    with context_of(request).store.session() as session:
        return session.scalars(select(CaseRow.case_id).limit(1)).first() is not None


_STAGES = (
    "OPENED", "RECORDED", "REFERRED", "RECEIVED", "FORWARDED", "FILED", "NOT_FILED", "RETURNED",
    "RECONSIDERATION", "FILING_SUPERVISION", "ARREST_REVIEW", "PROSECUTION", "JUDGED", "CLOSED",
)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, principal: CasePrincipal, case_id: str,
              notice: str = "") -> Response:
    """A case's timeline, parties, units and alerts; prosecutors can record an action."""
    context = context_of(request)
    with context.store.session() as session:
        detail = queries.case_detail(session, case_id[:64], scope_of(principal))
    if detail is None:
        return _render(request, "not_found.html", principal, status_code=404)
    context.outbox.audit(
        actor_of(request, principal), AuditOperation.VIEW, target=case_id, case_id=case_id
    )
    acts = offered_acts(load_entitlements(), context.units,
                        unit_code=actor_of(request, principal).unit_code,
                        operator_unit_code=context.operator_unit_code,
                        case_owner=_requesting_owner(context, detail.case.unit_code))
    return _render(request, "case.html", principal, detail=detail, notice=notice,
                   acts=acts, case_labels=_labels(request, [detail.case.case_id]))


def _requesting_owner(context: ViewContext, owner: str) -> str | None:
    """The case owner, when agencies may send their own requests from the view."""
    return owner if context.settings.agency_requests else None


@router.post("/cases/{case_id}/acts")
def case_act(
    request: Request,
    principal: CasePrincipal,
    case_id: str,
    action: Annotated[str, Form(max_length=80)],
    target_unit_code: Annotated[str, Form(max_length=18)],
    content: Annotated[str, Form(max_length=2000)] = "",
    document_number: Annotated[str, Form(max_length=200)] = "",
    reply_due_date: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Send a supervision act from the case page to the unit that must answer it
    (``hub.view.acts``: a ProsecutorialAction on the bus, not a note)."""
    _check_csrf(request, principal, csrf_token)
    context = context_of(request)
    with context.store.session() as session:
        detail = queries.case_detail(session, case_id[:64], scope_of(principal))
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    try:
        due = date.fromisoformat(reply_due_date) if reply_due_date else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"reply_due_date: {reply_due_date!r} is not a date") from exc
    try:
        submit_act(context, actor_of(request, principal), case_id=case_id,
                   case_owner=_requesting_owner(context, detail.case.unit_code), action=action,
                   target_unit_code=target_unit_code, content=content,
                   document_number=document_number, reply_due_date=due)
    except ActRefused as refused:
        if refused.field == "action":
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(refused)) from refused
        return _back(f"/cases/{case_id}", f"act_refused_{refused.field}")
    return _back(f"/cases/{case_id}", "act_sent")


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    principal: CasePrincipal,
    status_filter: Annotated[str, Query(alias="status")] = "active",
    kind: str = "",
    leads: bool = False,
    overdue: bool = False,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    notice: str = "",
) -> Response:
    """The alert queue; leads (线索) and overdue items (超期事项) are filters of it."""
    allowed = ("active", "open", "assigned", "acknowledged", "resolved", "all")
    status_filter = status_filter if status_filter in allowed else "active"
    with context_of(request).store.session() as session:
        alerts = queries.alert_page(
            session, scope_of(principal),
            status=None if status_filter == "all" else status_filter,
            kind=kind[:60] or None, leads_only=leads, overdue_only=overdue, page=page,
            page_size=50,
        )
    # an empty flag (leads=) is no boolean: the page links would answer 422
    query = urlencode({key: value for key, value in (
        ("status", status_filter), ("kind", kind), ("leads", "1" if leads else ""),
        ("overdue", "1" if overdue else "")) if value})
    return _render(request, "alerts.html", principal, alerts=alerts, status_filter=status_filter,
                   kind=kind, leads=leads, overdue=overdue, notice=notice, base_query=query,
                   case_labels=_labels(request, [a.case_id for a in alerts.items]))


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_form(
    request: Request,
    principal: CasePrincipal,
    alert_id: str,
    csrf_token: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/alerts",
) -> Response:
    """Acknowledge an alert from the queue."""
    _check_csrf(request, principal, csrf_token)
    alert = alert_or_404(request, principal, alert_id)
    context_of(request).outbox.action(
        actor_of(request, principal), ViewActionKind.ACKNOWLEDGE_ALERT,
        target=alert.alert_id, case_id=alert.case_id,
    )
    return _back(_safe_next(back), "submitted")


@router.post("/alerts/{alert_id}/assign")
def assign_form(
    request: Request,
    principal: CasePrincipal,
    alert_id: str,
    assignee: Annotated[str, Form(max_length=100), FILLED],
    csrf_token: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/alerts",
) -> Response:
    """Assign an alert to a person."""
    _check_csrf(request, principal, csrf_token)
    alert = alert_or_404(request, principal, alert_id)
    context_of(request).outbox.action(
        actor_of(request, principal), ViewActionKind.ASSIGN,
        target=alert.alert_id, case_id=alert.case_id,
        payload={"assignee": assignee.replace("\x00", "")},
    )
    return _back(_safe_next(back), "submitted")


@router.post("/alerts/{alert_id}/review")
def review_form(
    request: Request,
    principal: ProsecutorPrincipal,
    alert_id: str,
    conclusion: Annotated[str, Form(max_length=1000), FILLED],
    csrf_token: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/alerts?leads=1",
) -> Response:
    """Mark a screening lead reviewed, with the prosecutor's conclusion."""
    _check_csrf(request, principal, csrf_token)
    alert = alert_or_404(request, principal, alert_id)
    if not alert.is_lead:
        raise HTTPException(status.HTTP_409_CONFLICT, "only screening leads are reviewed")
    context_of(request).outbox.action(
        actor_of(request, principal), ViewActionKind.ACKNOWLEDGE_ALERT,
        target=alert.alert_id, case_id=alert.case_id,
        payload={"review": conclusion.replace("\x00", "")},
    )
    return _back(_safe_next(back), "submitted")


@router.get("/unmatched", response_class=HTMLResponse)
def unmatched_page(
    request: Request,
    principal: ProsecutorPrincipal,
    status_filter: Annotated[str, Query(alias="status")] = "open",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    notice: str = "",
) -> Response:
    """The unmatched-feedback queue."""
    status_filter = status_filter if status_filter in ("open", "resolved") else "open"
    with context_of(request).store.session() as session:
        items = queries.unmatched_page(session, status=status_filter, page=page)
    resolved = [item.resolved_case_id for item in items.items if item.resolved_case_id]
    return _render(request, "unmatched.html", principal, items=items,
                   status_filter=status_filter, notice=notice,
                   case_labels=_labels(request, resolved))


@router.get("/unmatched/{unmatched_id}", response_class=HTMLResponse)
def unmatched_detail_page(
    request: Request,
    principal: ProsecutorPrincipal,
    unmatched_id: str,
    notice: str = "",
    q: Annotated[str, Query(max_length=100)] = "",
    unit: Annotated[str, Query(max_length=18)] = "",
) -> Response:
    """A feedback beside its candidate cases, to match by hand; when the matcher found
    none (or the wrong ones), the prosecutor searches cases by number, party or unit."""
    context = context_of(request)
    searched = "q" in request.query_params or "unit" in request.query_params
    with context.store.session() as session:
        detail = queries.unmatched_detail(session, unmatched_id[:64])
        found = (search.find_cases(session, q, unit_code=unit.upper() or None)
                 if detail is not None and searched else [])
    if detail is None:
        return _render(request, "not_found.html", principal, status_code=404)
    context.outbox.audit(
        actor_of(request, principal), AuditOperation.VIEW,
        target=f"unmatched:{unmatched_id}", result_count=len(detail.candidates),
    )
    if searched:
        context.outbox.audit(
            actor_of(request, principal), AuditOperation.SEARCH, target="cases",
            query=f"unmatched:{unmatched_id} q={q} unit={unit}", result_count=len(found),
        )
    feedback = detail.feedback
    suggestion = (q if searched else feedback.referral_number or feedback.agency_decision_number
                  or feedback.party_name or "")
    shown = [candidate.case.case_id for candidate in detail.candidates]
    shown += [case.case_id for case in found]
    if feedback.resolved_case_id:
        shown.append(feedback.resolved_case_id)
    return _render(request, "unmatched_detail.html", principal, detail=detail, notice=notice,
                   content_json=json.dumps(detail.content, ensure_ascii=False, indent=2),
                   searched=searched, found=found, query_text=suggestion,
                   query_unit=unit.upper(), units=context.units.all(),
                   case_labels=_labels(request, shown))


@router.post("/unmatched/{unmatched_id}/resolve")
def resolve_form(
    request: Request,
    principal: ProsecutorPrincipal,
    unmatched_id: str,
    case_id: Annotated[str, Form(min_length=1, max_length=36)],
    note: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Match the feedback to the chosen case."""
    _check_csrf(request, principal, csrf_token)
    context = context_of(request)
    with context.store.session() as session:
        feedback = session.get(UnmatchedRow, unmatched_id)
        if feedback is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such feedback")
        if feedback.status != "open":  # as the API: a settled match is not overwritten
            raise HTTPException(status.HTTP_409_CONFLICT, "this feedback is already resolved")
        if session.get(CaseRow, case_id) is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no such case")
    context.outbox.action(
        actor_of(request, principal), ViewActionKind.MANUAL_MATCH, target=unmatched_id,
        case_id=case_id, payload={"case_id": case_id, "note": note.replace("\x00", "")},
    )
    return _back(f"/unmatched/{unmatched_id}", "submitted")


@router.get("/units", response_class=HTMLResponse)
def units_page(request: Request, principal: CasePrincipal) -> Response:
    """Member units with their figures of the latest month with data, each linking to its
    scorecard (a unit user sees its own): a list of names alone told nobody anything."""
    context = context_of(request)
    language = _language(request)
    units = context.units.all()
    if not principal.sees_all_cases:
        units = [unit for unit in units if unit.code == principal.unit_code]
    with context.store.session() as session:
        month = queries.trend_end_month(session)
        report = build_monthly_report(session, month, context.units, language)
        cases = queries.cases_per_unit(session)
    figures = {row.unit_code: row for row in report.rows}
    return _render(request, "units.html", principal, units=units, figures=figures,
                   cases=cases, month=month)


@router.get("/units/{code}", response_class=HTMLResponse)
def scorecard_page(request: Request, principal: CasePrincipal, code: str,
                   month: str = "") -> Response:
    """A unit's scorecard with its twelve-month charts."""
    code = code.upper()[:18]
    if not principal.sees_all_cases and code != principal.unit_code:
        return _render(request, "not_found.html", principal, status_code=404)
    context = context_of(request)
    chosen = month if len(month) == 7 and month[4] == "-" and month[:4].isdigit() and \
        month[5:].isdigit() and 1 <= int(month[5:]) <= 12 else None
    with context.store.session() as session:
        until = chosen or queries.trend_end_month(session, code)
        card = queries.unit_scorecard(session, code, until_month=until,
                                      unit_name=context.units.name(code, _language(request)))
    if card is None:
        return _render(request, "not_found.html", principal, status_code=404)
    chart = {
        "labels": [m.month for m in card.months],
        "entered": [m.penalty_cases_entered for m in card.months],
        "late": [m.penalty_cases_entered_late for m in card.months],
        "referrals": [m.referrals for m in card.months],
        "timeliness": [
            None if m.timeliness_rate is None else round(m.timeliness_rate * 100, 1)
            for m in card.months
        ],
    }
    return _render(request, "scorecard.html", principal, card=card, chart_json=json.dumps(chart))


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, principal: ProsecutorPrincipal, month: str = "") -> Response:
    """The 通报 of a month on screen, with XLSX and CSV downloads.

    It opens on the latest month with data, not the calendar's month: an empty page is
    what a prosecutor saw when the exports ended last year.
    """
    context = context_of(request)
    language = _language(request)
    with context.store.session() as session:
        latest = queries.trend_end_month(session)
        months = queries.months_back(latest, 24)
        chosen = month if month in months else latest
        report = build_monthly_report(session, chosen, context.units, language)
    ranked = sorted(report.rows, key=lambda row: (-row.penalty_cases_entered, row.unit_name))
    return _render(request, "reports.html", principal, months=list(reversed(months)),
                   chosen=chosen, report=report, rows=ranked,
                   overdue=report.overdue[:_OVERDUE_ON_SCREEN],
                   overdue_total=len(report.overdue),
                   case_labels=_labels(request, [item.case_id for item in
                                                 report.overdue[:_OVERDUE_ON_SCREEN]]))


#: Overdue items listed on the report page; the XLSX has all of them.
_OVERDUE_ON_SCREEN = 100


@router.get("/status", response_class=HTMLResponse)
async def status_page(request: Request, principal: StatusPrincipal) -> Response:
    """Operations: the consumer's progress and the outbox (no case data)."""
    current = await view_status(context_of(request))
    return _render(request, "status.html", principal, status=current)
