"""File consultation 调阅 by the justice bureau 司法行政机关 and the supervision commission
监察委员会 (issue #13, roles).

Neither body is party to a penalty case. The mechanism gives one of them a reason to read a
case's file in two ways only, and this module asks for exactly those, nothing wider:

* **a lead sent to its unit** (线索移送): a ``LeadTransferred`` step on the case's timeline
  whose receiver is the user's unit, the unit being recorded on the case (the engine notes
  a lead's ``receiving_unit_code`` among the case's units);
* **an act copied to it** (抄送): an alert of a rule with ``copy_when_overdue`` whose copy
  goes to the user's unit (``hub.view.copies``, Jiashan's three-party mechanism). A copy
  once sent stays in the unit's inbox: the file stays open to it after the late answer.

``/consult`` lists those reasons; ``/consult/{case_id}`` opens the file (timeline, document
numbers, parties, units, alerts) read-only when a reason exists, and answers 403 otherwise
(whether the case exists or not, so that a refusal says nothing about other cases). Every
opening and every refusal goes to the view's one audit trail (``Outbox.audit`` →
``lf.audit``): ``VIEW`` of ``consult:<case id>`` with the reasons in ``query``, or with
``query`` beginning ``refused:`` and no result. ``GET /api/consult/{case_id}`` answers the
same under the same rule, as JSON. Which cases a unit user sees otherwise is
unchanged (``queries.Scope``); a prosecutor already sees every file and is sent to the
case page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import AuditOperation
from hub.rules import DeadlineRules, load_deadlines
from hub.units import UnitRegistry
from hub.view import queries
from hub.view.api.routes import IdPath
from hub.view.auth import Principal
from hub.view.context import CasePrincipal, actor_of, context_of
from hub.view.copies import copied_alerts, registry_of
from hub.view.schemas import CaseDetail
from hub.view.store import CaseNumberRow, CaseUnitRow, TimelineRow
from hub.view.web import _labels, _render

__all__ = ["ConsultFile", "ConsultReason", "api_router", "consult_reasons", "router"]

router = APIRouter(include_in_schema=False)
#: The same file in the REST API (``/api/consult/{case_id}``).
api_router = APIRouter(prefix="/api", tags=["view"])

#: The timeline step of a lead, as the view stores its event type.
_LEAD_STEP = "LeadTransferred"


@dataclass(frozen=True)
class ConsultReason:
    """Why a unit may read a case's file: a lead sent to it or an act copied to it."""

    kind: str  # "lead" | "copy"
    case_id: str
    reference: str  # the lead's event id, the copied alert's id
    at: datetime
    summary: str  # the lead's timeline text; for a copy, the responsible unit's code
    title_zh: str = ""
    title_en: str = ""
    open: bool = True

    @property
    def audit_text(self) -> str:
        """``lead:<event id>`` / ``copy:<alert id>``, as the audit record names it."""
        return f"{self.kind}:{self.reference}"


def _lead_reasons(session: Session, unit_code: str, case_id: str | None
                  ) -> list[ConsultReason]:
    """Leads whose receiver is ``unit_code``. The timeline keeps the engine's summary,
    "线索移送 lead transferred <number> → <receiver>: <destination>", not the event's
    fields: the receiver is read from it, and the unit must also be recorded on the
    case (the engine notes a lead's receiver among the case's units), so that the text
    alone never opens a file."""
    query = (select(TimelineRow)
             .join(CaseUnitRow, (CaseUnitRow.case_id == TimelineRow.case_id)
                   & (CaseUnitRow.unit_code == unit_code))
             .where(TimelineRow.event_type == _LEAD_STEP,
                    TimelineRow.summary.contains(f"→ {unit_code}:")))
    if case_id is not None:
        query = query.where(TimelineRow.case_id == case_id)
    return [ConsultReason(kind="lead", case_id=row.case_id, reference=row.event_id,
                          at=row.occurred_at, summary=row.summary)
            for row in session.scalars(query.order_by(TimelineRow.occurred_at.desc()))]


def consult_reasons(session: Session, registry: UnitRegistry, unit_code: str,
                    case_id: str | None = None, rules: DeadlineRules | None = None
                    ) -> list[ConsultReason]:
    """The reasons ``unit_code`` has to read case files (of one case if given): leads
    sent to it, newest first, then the acts copied to it, open ones first."""
    reasons = _lead_reasons(session, unit_code, case_id)
    copies = copied_alerts(session, registry, unit_code, rules or load_deadlines(),
                           open_only=False, case_id=case_id)
    reasons += [ConsultReason(kind="copy", case_id=copy.case_id, reference=copy.alert_id,
                              at=copy.raised_at, summary=copy.unit_code,
                              title_zh=copy.title_zh, title_en=copy.title_en,
                              open=copy.open)
                for copy in sorted(copies, key=lambda c: not c.open)]
    return reasons


def _is_case_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


@router.get("/consult", response_class=HTMLResponse)
def consult_list(request: Request, principal: CasePrincipal) -> Response:
    """The files the user's unit may consult and why; the look is audited."""
    context = context_of(request)
    reasons: list[ConsultReason] = []
    if principal.unit_code and not principal.sees_all_cases:
        with context.store.session() as session:
            reasons = consult_reasons(session, registry_of(context.settings.units_file),
                                      principal.unit_code)
    context.outbox.audit(actor_of(request, principal), AuditOperation.VIEW,
                         target="consult", result_count=len(reasons))
    return _render(request, "consult.html", principal,
                   leads=[r for r in reasons if r.kind == "lead"],
                   copies=[r for r in reasons if r.kind == "copy"],
                   case_labels=_labels(request, [r.case_id for r in reasons]))


@dataclass(frozen=True)
class _Opened:
    detail: CaseDetail
    reasons: list[ConsultReason]
    numbers: list[tuple[str, str]]


def _open_file(request: Request, principal: Principal, case_id: str) -> _Opened | None:
    """The file of ``case_id`` if the user's unit has a reason to read it, else None;
    the opening or the refusal is audited either way (one rule for page and API)."""
    context = context_of(request)
    target = f"consult:{case_id}"
    actor = actor_of(request, principal)
    opened = None
    reasons: list[ConsultReason] = []
    with context.store.session() as session:
        if principal.unit_code and _is_case_id(case_id):
            reasons = consult_reasons(session, registry_of(context.settings.units_file),
                                      principal.unit_code, case_id)
        # The file is read across the scope, but as the consulting unit reads a case: not
        # the procuratorate's notes, findings or review conclusions.
        detail = queries.case_detail(session, case_id, queries.Scope(),
                                     reader_unit=principal.unit_code) if reasons else None
        if detail is not None:
            opened = _Opened(detail, reasons, [(row.kind, row.number) for row in session.scalars(
                select(CaseNumberRow).where(CaseNumberRow.case_id == case_id)
                .order_by(CaseNumberRow.kind, CaseNumberRow.number))])
    if opened is None:
        context.outbox.audit(
            actor, AuditOperation.VIEW, target=target,
            case_id=case_id if _is_case_id(case_id) else None,
            query=(f"refused: no lead sent to {principal.unit_code} and no act copied to it"
                   " on this case" if not reasons else "refused: no such case"),
            result_count=0)
        return None
    context.outbox.audit(actor, AuditOperation.VIEW, target=target, case_id=case_id,
                         query="reasons: " + ", ".join(r.audit_text for r in reasons),
                         result_count=len(opened.detail.timeline))
    return opened


@router.get("/consult/{case_id}", response_class=HTMLResponse)
def consult_case(request: Request, principal: CasePrincipal, case_id: str) -> Response:
    """A case's file, read-only, for a unit the mechanism gave a reason; 403 otherwise.
    Both are audited."""
    if principal.sees_all_cases:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    opened = _open_file(request, principal, case_id[:64])
    if opened is None:
        return _render(request, "error.html", principal, status_code=403,
                       kind="forbidden", status=403, detail=None)
    return _render(request, "consult_case.html", principal, detail=opened.detail,
                   reasons=opened.reasons, numbers=opened.numbers,
                   case_labels=_labels(request, [opened.detail.case.case_id]))


class ConsultReasonOut(BaseModel):
    """Why the unit may read the file: ``lead`` (its event id) or ``copy`` (the alert)."""

    kind: str
    reference: str
    at: datetime
    summary: str
    open: bool


class ConsultFile(BaseModel):
    """A consulted case file: the case as ``GET /api/cases/{id}`` gives it, the grounds
    and the case's document numbers (kind → number)."""

    file: CaseDetail
    reasons: list[ConsultReasonOut]
    documents: list[tuple[str, str]]


@api_router.get("/consult/{case_id}", response_model=ConsultFile)
def consult_case_api(request: Request, principal: CasePrincipal, case_id: IdPath
                     ) -> ConsultFile:
    """调阅: a case's file for the justice bureau or the supervision commission where a
    lead was sent to it or an overdue act copied to it; 403 otherwise (whether the case
    exists or not). Both audited on lf.audit. Prosecutors use ``/api/cases/{id}``."""
    if principal.sees_all_cases:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "prosecutors see every case: GET /api/cases/{case_id}")
    opened = _open_file(request, principal, case_id)
    if opened is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "no lead sent to your unit and no act copied to it on this case")
    return ConsultFile(
        file=opened.detail, documents=opened.numbers,
        reasons=[ConsultReasonOut(kind=r.kind, reference=r.reference, at=r.at,
                                  summary=r.summary, open=r.open) for r in opened.reasons])
