"""Escalated copies 抄送 in the view (issue #13, roles): the justice bureau 司法行政机关 sees
the procuratorial recommendations left unanswered past their clock in its jurisdiction,
which Jiashan's three-party mechanism copies to it for a 行政执法监督通知书.

The engine copies such an alert to ``lf.inbox.<justice bureau>`` (``alert_copies``); the
view keeps alerts by responsible unit only. Rather than store the copy's addressee on
every alert row, the page asks the same question the engine does: which units' overdue
alerts of a rule with ``copy_when_overdue`` would be copied to the user's unit (the first
unit holding one of the rule's roles in the responsible unit's jurisdiction, then city
and province). Every look is audited (``lf.audit``), as a case view is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import AuditOperation
from hub.rules import DeadlineRules, load_deadlines
from hub.units import UnitRegistry, load_unit_registry
from hub.view.context import CasePrincipal, actor_of, context_of
from hub.view.store import AlertRow
from hub.view.web import _labels, _render

__all__ = ["CopiedAlert", "copied_alerts", "copy_sources", "registry_of", "router"]

router = APIRouter(include_in_schema=False)

#: The alert detail naming the roles an overdue alert is copied to (the engine's
#: ``streams.deadline_logic.COPY_ROLES_DETAIL``; the view does not import the engine).
_COPY_ROLES_DETAIL = "copy_to_roles"


@dataclass(frozen=True)
class CopiedAlert:
    """One overdue act copied to the user's unit: whose reply is overdue, on which act."""

    alert_id: str
    case_id: str
    unit_code: str
    rule_id: str
    title_zh: str
    title_en: str
    purpose_zh: str
    purpose_en: str
    due_date: date | None
    raised_at: datetime
    #: Still unanswered (the copy's errand open); a late reply resolves the alert.
    open: bool = True


@functools.cache
def registry_of(path: Path | None) -> UnitRegistry:
    """The full unit registry (jurisdictions and roles, which the view's name directory
    leaves out), read once per file."""
    return UnitRegistry([]) if path is None else load_unit_registry(path)


def copy_sources(registry: UnitRegistry, rules: DeadlineRules, unit_code: str | None
                 ) -> dict[str, tuple[str, ...]]:
    """Rule id → the responsible units whose overdue alerts of that rule are copied to
    ``unit_code`` (every registered unit when ``None``: the procuratorate sees them all)."""
    sources: dict[str, tuple[str, ...]] = {}
    for rule in rules.rules:
        copy = rule.copy_when_overdue
        if copy is None:
            continue
        codes = []
        for unit in registry:
            if not unit.division:
                continue
            receiver = registry.first_for_roles(copy.roles, unit.division)
            if receiver is not None and (unit_code is None or receiver.code == unit_code):
                codes.append(unit.code)
        if codes:
            sources[rule.id] = tuple(codes)
    return sources


def copied_alerts(session: Session, registry: UnitRegistry, unit_code: str | None,
                  rules: DeadlineRules | None = None, *, open_only: bool = True,
                  case_id: str | None = None) -> list[CopiedAlert]:
    """The overdue, unanswered acts copied to ``unit_code``, oldest due first. A reply,
    even a late one, resolves the alert and ends the copy's errand; ``open_only=False``
    keeps the answered ones too (the copy was sent all the same: file consultation,
    ``hub.view.consult``, follows it). ``case_id`` restricts to one case."""
    rules = rules or load_deadlines()
    found: list[CopiedAlert] = []
    for rule_id, sources in copy_sources(registry, rules, unit_code).items():
        rule = rules.by_id(rule_id)
        copy = rule.copy_when_overdue
        assert copy is not None
        query = select(AlertRow).where(AlertRow.rule_id == rule_id,
                                       AlertRow.unit_code.in_(sources))
        if open_only:
            query = query.where(AlertRow.bus_status == "RAISED")
        if case_id is not None:
            query = query.where(AlertRow.case_id == case_id)
        found.extend(CopiedAlert(
            alert_id=row.alert_id, case_id=row.case_id, unit_code=row.unit_code,
            rule_id=rule_id, title_zh=rule.title_zh, title_en=rule.title_en,
            purpose_zh=copy.purpose_zh, purpose_en=copy.purpose_en, due_date=row.due_date,
            raised_at=row.raised_at, open=row.bus_status == "RAISED")
            for row in session.scalars(query)
            # an answered alert was copied only if it was overdue first (the engine
            # writes the copy's roles into the details of an overdue alert only)
            if row.bus_status == "RAISED" or _COPY_ROLES_DETAIL in (row.details or {}))
    found.sort(key=lambda c: (c.due_date or date.max, c.alert_id))
    return found


@router.get("/copies", response_class=HTMLResponse)
def copies_page(request: Request, principal: CasePrincipal) -> Response:
    """The overdue acts copied to the user's unit (行政执法监督); audited."""
    context = context_of(request)
    unit_code = None if principal.sees_all_cases else principal.unit_code
    with context.store.session() as session:
        copies = copied_alerts(session, registry_of(context.settings.units_file), unit_code)
    context.outbox.audit(actor_of(request, principal), AuditOperation.VIEW,
                         target="copies", result_count=len(copies))
    return _render(request, "copies.html", principal, copies=copies,
                   case_labels=_labels(request, [copy.case_id for copy in copies]))
