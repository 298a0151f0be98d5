"""The REST API (``/api``): the same data and actions as the web UI, as JSON.

Reads come from the store. Writes never touch the store: they queue a ViewAction for the
bus and answer ``202 Accepted``; the change shows once the action comes back through
``lf.view-actions``. Searches, case views and exports are audited on ``lf.audit``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from hub.models import AuditOperation, ProsecutorialActionKind, ViewActionKind
from hub.view import queries, search
from hub.view.acts import ActRefused, submit_act
from hub.view.context import (
    CasePrincipal,
    LoggedIn,
    ProsecutorPrincipal,
    StatusPrincipal,
    actor_of,
    context_of,
    scope_of,
)
from hub.view.i18n import Translator
from hub.view.login import attempt_login, locked_message
from hub.view.login import logout as logout_session
from hub.view.reports import build_monthly_report, to_csv, to_xlsx
from hub.view.schemas import (
    FILLED,
    ActAccepted,
    ActionAccepted,
    ActRequest,
    AlertPage,
    AssignRequest,
    CaseDetail,
    CasePage,
    Dashboard,
    LoginRequest,
    ProsecutorActionRequest,
    ResolveRequest,
    Scorecard,
    StatusOut,
    TokenOut,
    UnmatchedDetail,
    UnmatchedPage,
    WhoAmI,
)
from hub.view.status import view_status
from hub.view.store import AlertRow, CaseRow, UnmatchedRow

__all__ = ["CaseSearchParams", "router", "search_params_text"]

router = APIRouter(prefix="/api", tags=["view"])

#: Printable text without NUL (PostgreSQL refuses NUL in text) and without line breaks.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
_UNIT_PATTERN = r"^[0-9A-Za-z]{18}$"
_MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
#: Amounts fit a signed 64-bit integer on every store.
_MAX_FEN = 10**15

IdPath = Annotated[str, Path(pattern=_ID_PATTERN)]
UnitPath = Annotated[str, Path(pattern=_UNIT_PATTERN)]
PageQuery = Annotated[int, Query(ge=1, le=10_000)]
PageSizeQuery = Annotated[int, Query(ge=1, le=200)]


class CaseSearchParams(BaseModel):
    """Filters of ``GET /api/cases`` (all optional; combine freely)."""

    unit: str | None = Field(default=None, pattern=_UNIT_PATTERN,
                             description="Unit involved (统一社会信用代码).")
    stage: str | None = Field(default=None, max_length=40, pattern=TEXT_PATTERN)
    decided_from: date | None = None
    decided_to: date | None = None
    violation_type: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN)
    amount_min_fen: int | None = Field(default=None, ge=0, le=_MAX_FEN)
    amount_max_fen: int | None = Field(default=None, ge=0, le=_MAX_FEN)
    party: str | None = Field(default=None, max_length=300, pattern=TEXT_PATTERN,
                              description="Part of a party's name, or a whole identifier "
                              "(credit code, resident ID).")
    case_number: str | None = Field(default=None, max_length=200, pattern=TEXT_PATTERN,
                                    description="Part of any document or case number of the "
                                    "case, in any bracket style (〔〕 [] （） ()) and width.")
    page: int = Field(default=1, ge=1, le=10_000)
    page_size: int = Field(default=50, ge=1, le=200)

    def filters(self) -> search.CaseFilters:
        """The query layer's filters; blank strings do not filter."""
        return search.CaseFilters(
            unit_code=(self.unit or "").upper() or None,
            stage=self.stage or None,
            decided_from=self.decided_from,
            decided_to=self.decided_to,
            violation_type=self.violation_type or None,
            amount_min_fen=self.amount_min_fen,
            amount_max_fen=self.amount_max_fen,
            party=self.party or None,
            case_number=self.case_number or None,
        )


def search_params_text(params: CaseSearchParams) -> str:
    """The filters actually used, for the audit record."""
    used = params.model_dump(exclude_none=True, exclude={"page", "page_size"}, mode="json")
    return "&".join(f"{key}={value}" for key, value in sorted(used.items()) if value != "")


class NoteRequest(BaseModel):
    """An optional note with an acknowledgement."""

    note: str = Field(default="", max_length=1000, pattern=TEXT_PATTERN)


class ReviewRequest(BaseModel):
    """The conclusion of reviewing a screening lead (线索审查结论)."""

    conclusion: Annotated[str, FILLED] = Field(max_length=1000, pattern=TEXT_PATTERN)


class UnitOut(BaseModel):
    """A member unit."""

    code: str
    name: str
    kind: str


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
def issue_token(request: Request, credentials: LoginRequest) -> TokenOut:
    """Exchange a username and password for a bearer token (REST clients).

    Shares the web form's throttle: past the limit of failed logins for the user name or
    the client address the answer is 429 with ``Retry-After``, even for the right password.
    Every attempt is audited.
    """
    context = context_of(request)
    client = request.client.host if request.client else None
    result = attempt_login(context, credentials.username, credentials.password, client, "api")
    if result.outcome == "locked":
        retry = result.retry_after_seconds(context.throttle.clock())
        minutes = max(1, -(-retry // 60))
        message = " ".join(locked_message(Translator(lang), minutes) for lang in ("zh", "en"))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            message,
            headers={"Retry-After": str(retry)},
        )
    if result.user is None or result.expires_at is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid username or password")
    return TokenOut(access_token=result.token, expires_at=result.expires_at)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def revoke_token(principal: LoggedIn, request: Request) -> Response:
    """Revoke the token (or cookie session) of this request: it is refused from now on."""
    logout_session(context_of(request), principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=WhoAmI, tags=["auth"])
def who_am_i(principal: LoggedIn) -> WhoAmI:
    """The logged-in user and role."""
    return WhoAmI(
        username=principal.username,
        role=principal.role,
        unit_code=principal.unit_code,
        display_name=principal.display_name,
    )


@router.get("/cases", response_model=CasePage)
def search_cases(
    request: Request,
    principal: CasePrincipal,
    params: Annotated[CaseSearchParams, Query()],
) -> CasePage:
    """Case search (案件查询), newest decision first; unit users see their unit's cases."""
    context = context_of(request)
    with context.store.session() as session:
        page = search.search_cases(
            session,
            params.filters(),
            scope_of(principal),
            page=params.page,
            page_size=params.page_size,
            count_limit=context.settings.search_count_limit,
        )
    context.outbox.audit(
        actor_of(request, principal),
        AuditOperation.SEARCH,
        target="cases",
        query=search_params_text(params),
        result_count=page.total,
    )
    return page


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(request: Request, principal: CasePrincipal, case_id: IdPath) -> CaseDetail:
    """A case and its timeline (案件时间线); 404 if absent or not the caller's unit's."""
    context = context_of(request)
    with context.store.session() as session:
        detail = queries.case_detail(session, case_id, scope_of(principal))
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    context.outbox.audit(
        actor_of(request, principal), AuditOperation.VIEW, target=case_id, case_id=case_id
    )
    return detail


@router.post("/cases/{case_id}/actions", response_model=ActionAccepted,
             status_code=status.HTTP_202_ACCEPTED, deprecated=True)
def record_prosecutor_action(
    request: Request,
    principal: ProsecutorPrincipal,
    case_id: IdPath,
    body: ProsecutorActionRequest,
) -> ActionAccepted:
    """Record a note about a prosecutor's action on a case (a ViewAction that reaches no
    unit and starts no clock); send the act itself with ``POST /cases/{case_id}/acts``."""
    context = context_of(request)
    with context.store.session() as session:
        if session.get(CaseRow, case_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    kind = (
        ViewActionKind.ISSUE_RECOMMENDATION
        if body.action == ProsecutorialActionKind.RECOMMENDATION.value
        else ViewActionKind.ADD_NOTE
    )
    action = context.outbox.action(
        actor_of(request, principal),
        kind,
        target=case_id,
        case_id=case_id,
        payload={"action": body.action, "note": body.note},
    )
    return ActionAccepted(action_id=action.action_id, topic=context.settings.topics.view_actions)


@router.post("/cases/{case_id}/acts", response_model=ActAccepted,
             status_code=status.HTTP_202_ACCEPTED)
def create_act(
    request: Request,
    principal: CasePrincipal,
    case_id: IdPath,
    body: ActRequest,
) -> ActAccepted:
    """Send a supervision act (建议移送, 通知立案, 检察建议书 …; an agency's 案件咨询 or
    邀请提前介入 on its own case) to the unit that must answer.

    The act becomes its event (ProsecutorialAction, ConsultationRequested,
    EarlyInterventionInvited) on the sender's ingest topic: the engine routes it to
    ``lf.inbox.<target>`` and starts its reply clock. 403 when the user's
    unit may not send it (``hub/rules/entitlements.yaml``), 422 for a target of another
    kind, an empty content or a past reply date.
    """
    context = context_of(request)
    with context.store.session() as session:
        detail = queries.case_detail(session, case_id, scope_of(principal))
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case")
    try:
        event, topic = submit_act(
            context, actor_of(request, principal), case_id=case_id,
            case_owner=(detail.case.unit_code if context.settings.agency_requests else None),
            action=body.action,
            target_unit_code=body.target_unit_code, content=body.content,
            document_number=body.document_number, reply_due_date=body.reply_due_date)
    except ActRefused as refused:
        code = (status.HTTP_403_FORBIDDEN if refused.field == "action"
                else status.HTTP_422_UNPROCESSABLE_CONTENT)
        raise HTTPException(code, str(refused)) from refused
    return ActAccepted(event_id=event.event_id, action=body.action,
                       target_unit_code=body.target_unit_code, topic=topic)


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    request: Request,
    principal: CasePrincipal,
    status_filter: Annotated[
        Literal["active", "open", "assigned", "acknowledged", "resolved"] | None,
        Query(alias="status"),
    ] = "active",
    kind: Annotated[str | None, Query(max_length=60, pattern=TEXT_PATTERN)] = None,
    leads: bool = False,
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
) -> AlertPage:
    """The alert queue (预警): active (open or assigned) by default, oldest first."""
    context = context_of(request)
    with context.store.session() as session:
        return queries.alert_page(
            session,
            scope_of(principal),
            status=status_filter,
            kind=kind or None,
            leads_only=leads,
            page=page,
            page_size=page_size,
        )


def alert_or_404(request: Request, principal: CasePrincipal, alert_id: str) -> AlertRow:
    """The alert the principal may act on (``queries.alert_in_scope``), else 404: one
    answer for absent and out-of-scope, so ids of other units' alerts are not probed."""
    context = context_of(request)
    with context.store.session() as session:
        alert = queries.alert_in_scope(session, alert_id, scope_of(principal))
        if alert is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
        session.expunge(alert)
        return alert


@router.post("/alerts/{alert_id}/acknowledge", response_model=ActionAccepted,
             status_code=status.HTTP_202_ACCEPTED)
def acknowledge_alert(
    request: Request,
    principal: CasePrincipal,
    alert_id: IdPath,
    body: Annotated[NoteRequest | None, Body()] = None,
) -> ActionAccepted:
    """Acknowledge an alert (知悉); produced to ``lf.view-actions``."""
    alert = alert_or_404(request, principal, alert_id)
    context = context_of(request)
    action = context.outbox.action(
        actor_of(request, principal),
        ViewActionKind.ACKNOWLEDGE_ALERT,
        target=alert.alert_id,
        case_id=alert.case_id,
        payload={"note": body.note} if body and body.note else {},
    )
    return ActionAccepted(action_id=action.action_id, topic=context.settings.topics.view_actions)


@router.post("/alerts/{alert_id}/assign", response_model=ActionAccepted,
             status_code=status.HTTP_202_ACCEPTED)
def assign_alert(
    request: Request, principal: CasePrincipal, alert_id: IdPath, body: AssignRequest
) -> ActionAccepted:
    """Assign an alert to a person (指派); produced to ``lf.view-actions``."""
    alert = alert_or_404(request, principal, alert_id)
    context = context_of(request)
    action = context.outbox.action(
        actor_of(request, principal),
        ViewActionKind.ASSIGN,
        target=alert.alert_id,
        case_id=alert.case_id,
        payload={"assignee": body.assignee, "note": body.note},
    )
    return ActionAccepted(action_id=action.action_id, topic=context.settings.topics.view_actions)


@router.post("/alerts/{alert_id}/review", response_model=ActionAccepted,
             status_code=status.HTTP_202_ACCEPTED)
def review_lead(
    request: Request, principal: ProsecutorPrincipal, alert_id: IdPath, body: ReviewRequest
) -> ActionAccepted:
    """Mark a screening lead reviewed (线索已审查) with a conclusion."""
    alert = alert_or_404(request, principal, alert_id)
    if not alert.is_lead:
        raise HTTPException(status.HTTP_409_CONFLICT, "only screening leads are reviewed")
    context = context_of(request)
    action = context.outbox.action(
        actor_of(request, principal),
        ViewActionKind.ACKNOWLEDGE_ALERT,
        target=alert.alert_id,
        case_id=alert.case_id,
        payload={"review": body.conclusion},
    )
    return ActionAccepted(action_id=action.action_id, topic=context.settings.topics.view_actions)


@router.get("/unmatched", response_model=UnmatchedPage)
def list_unmatched(
    request: Request,
    principal: ProsecutorPrincipal,
    status_filter: Annotated[
        Literal["open", "resolved"] | None, Query(alias="status")
    ] = "open",
    page: PageQuery = 1,
    page_size: PageSizeQuery = 50,
) -> UnmatchedPage:
    """Feedback waiting for a person to match it (待匹配反馈), oldest first."""
    with context_of(request).store.session() as session:
        return queries.unmatched_page(
            session, status=status_filter, page=page, page_size=page_size
        )


@router.get("/unmatched/{unmatched_id}", response_model=UnmatchedDetail)
def get_unmatched(
    request: Request, principal: ProsecutorPrincipal, unmatched_id: IdPath
) -> UnmatchedDetail:
    """A feedback with its candidate cases, best first."""
    context = context_of(request)
    with context.store.session() as session:
        detail = queries.unmatched_detail(session, unmatched_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such feedback")
    context.outbox.audit(
        actor_of(request, principal),
        AuditOperation.VIEW,
        target=f"unmatched:{unmatched_id}",
        result_count=len(detail.candidates),
    )
    return detail


@router.post("/unmatched/{unmatched_id}/resolve", response_model=ActionAccepted,
             status_code=status.HTTP_202_ACCEPTED)
def resolve_unmatched(
    request: Request, principal: ProsecutorPrincipal, unmatched_id: IdPath, body: ResolveRequest
) -> ActionAccepted:
    """Match a feedback to a case by hand (人工匹配); produced as MANUAL_MATCH."""
    context = context_of(request)
    with context.store.session() as session:
        feedback = session.get(UnmatchedRow, unmatched_id)
        if feedback is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such feedback")
        if feedback.status != "open":
            raise HTTPException(status.HTTP_409_CONFLICT, "this feedback is already resolved")
        if session.get(CaseRow, body.case_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such case to match with")
    action = context.outbox.action(
        actor_of(request, principal),
        ViewActionKind.MANUAL_MATCH,
        target=unmatched_id,
        case_id=body.case_id,
        payload={"case_id": body.case_id, "note": body.note},
    )
    return ActionAccepted(action_id=action.action_id, topic=context.settings.topics.view_actions)


@router.get("/units", response_model=list[UnitOut])
def list_units(request: Request, principal: CasePrincipal) -> list[UnitOut]:
    """Member units known to the view (registry), for filters and scorecards."""
    return [
        UnitOut(code=unit.code, name=unit.name, kind=unit.kind)
        for unit in context_of(request).units.all()
    ]


@router.get("/units/{code}/scorecard", response_model=Scorecard)
def unit_scorecard(
    request: Request,
    principal: CasePrincipal,
    code: UnitPath,
    month: Annotated[str | None, Query(pattern=_MONTH_PATTERN)] = None,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> Scorecard:
    """A unit's monthly figures (考核): entry, timeliness, referrals, feedback, alerts."""
    code = code.upper()
    if not principal.sees_all_cases and code != principal.unit_code:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such unit")
    context = context_of(request)
    with context.store.session() as session:
        card = queries.unit_scorecard(
            session,
            code,
            until_month=month or queries.trend_end_month(session, code),
            months=months,
            unit_name=context.units.name(code),
        )
    if card is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such unit")
    return card


@router.get("/dashboard", response_model=Dashboard)
def get_dashboard(request: Request, principal: CasePrincipal) -> Dashboard:
    """Counts for the landing page, scoped like the case search."""
    with context_of(request).store.session() as session:
        return queries.dashboard(session, scope_of(principal))


_REPORT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "content": {
            "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        },
        "description": "The report file.",
    }
}


@router.get("/reports/monthly", response_class=Response, responses=_REPORT_RESPONSES)
def monthly_report(
    request: Request,
    principal: ProsecutorPrincipal,
    month: Annotated[str, Query(pattern=_MONTH_PATTERN)],
    report_format: Annotated[Literal["xlsx", "csv"], Query(alias="format")] = "xlsx",
    lang: Annotated[Literal["zh", "en"], Query()] = "zh",
) -> Response:
    """The monthly report (月度通报) as XLSX or CSV."""
    context = context_of(request)
    translate = Translator(lang)
    with context.store.session() as session:
        report = build_monthly_report(session, month, context.units, lang)
    context.outbox.audit(
        actor_of(request, principal),
        AuditOperation.EXPORT,
        target=f"report:monthly:{month}.{report_format}",
        result_count=len(report.rows),
    )
    filename = f"liangfa-monthly-{month}.{report_format}"
    if report_format == "csv":
        return Response(
            to_csv(report, translate),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return Response(
        to_xlsx(report, translate),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/status", response_model=StatusOut, tags=["operations"])
async def get_status(request: Request, principal: StatusPrincipal) -> StatusOut:
    """The consumer's offsets and lag, the outbox backlog (operations; no case data)."""
    return await view_status(context_of(request))
