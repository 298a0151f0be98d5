"""Supervision acts created in the view (检察监督文书): real events, not notes.

An act a prosecutor records on a case (建议移送, 通知立案, 检察建议书 …) must reach the
unit that has to answer it and start its reply clock, exactly as the same act coming
from the procuratorate's own case system through its connector does. So the view does
not describe the act in a :class:`~hub.models.ViewAction`; it builds the
:class:`~hub.models.ProsecutorialAction` itself and puts it, through the outbox, on the
operator's ingest topic ``lf.ingest.<operator>.view-acts``: the stream engine then
checks the entitlement, routes it to ``lf.inbox.<target>``, starts the clock of
``deadlines.yaml`` and puts it on the case's timeline.

Which acts a user may create, and to which kinds of unit, is the data of
``hub/rules/entitlements.yaml`` (``acts``), the same the engine enforces: the view offers
nothing the engine would refuse.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub.identity import content_hash, event_id_for
from hub.models import (
    AuditOperation,
    CaseEvent,
    ConsultationRequested,
    EarlyInterventionInvited,
    FilingSupervisionRequested,
    LeadDestination,
    LeadTransferred,
    ProsecutorialAction,
    ProsecutorialActionKind,
)
from hub.rules import Entitlements, load_deadlines, load_entitlements
from hub.topics import ingest_topic
from hub.view.outbox import Actor
from hub.view.store import CaseUnitRow, utc_now
from hub.view.units import Unit, UnitDirectory

if TYPE_CHECKING:
    from hub.view.context import ViewContext

__all__ = [
    "ACT_EVENT_TYPE",
    "ACT_STREAM",
    "ActOption",
    "ActRefused",
    "act_rule_titles",
    "act_topic",
    "build_act",
    "offered_acts",
    "submit_act",
]

#: The stream name of the operator's ingest topic that carries acts made in the view.
ACT_STREAM = "view-acts"
#: The event type of procuratorial acts (its ``action`` field tells the act).
ACT_EVENT_TYPE = "ProsecutorialAction"
_SOURCE_SYSTEM = "liangfa-view"
_CONNECTOR_ID = "view"


class ActRefused(ValueError):
    """The act may not be created: the reason names the field and the value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ActOption:
    """An act a user may create, with the units it may be addressed to.

    ``action`` is the act's name in ``entitlements.yaml`` (a ProsecutorialAction symbol,
    or the event type of a one-act type such as ``ConsultationRequested``).
    """

    event_type: str
    action: str
    title_zh: str
    title_en: str
    targets: tuple[Unit, ...]


#: Event types whose clocks are a unit's duty to answer a supervision act; a court's (or
#: the hub's) judicial recommendation 司法建议书 is one the agency must answer too.
_ACT_START_TYPES = frozenset(
    {ACT_EVENT_TYPE, "ConsultationRequested", "EarlyInterventionInvited", "LeadTransferred",
     "JudicialRecommendation"}
)


#: Event types the view sends as the operator unit (the hub), not as the user's own unit.
_HUB_SENT_TYPES = frozenset({ACT_EVENT_TYPE, "LeadTransferred"})


def act_rule_titles() -> dict[str, tuple[str, str]]:
    """Deadline rules (id → Chinese and English titles) started by a supervision act,
    from deadlines.yaml: the scorecard's "replies to supervision acts" rows."""
    return {rule.id: (rule.title_zh, rule.title_en) for rule in load_deadlines().rules
            if rule.evaluation == "deadline"
            and any(m.event_type in _ACT_START_TYPES for m in rule.starts_on)}


def act_topic(unit_code: str) -> str:
    """The ingest topic of the acts the view creates for ``unit_code`` (the operator for
    procuratorial acts, the agency for its own requests): the engine checks that an
    event's source unit is its ingest topic's unit."""
    return ingest_topic(unit_code, ACT_STREAM)


def offered_acts(entitlements: Entitlements, units: UnitDirectory, *, unit_code: str,
                 operator_unit_code: str, case_owner: str | None = None) -> list[ActOption]:
    """The acts a user of ``unit_code`` may create on a case, in the file's order.

    The operator unit (the procuratorate running the hub) is the ``hub`` relation; the
    case's owning agency (``case_owner``) the ``owner`` relation; other units count by
    their kind. Acts marked ``in_view: false`` (decided in the procuratorate's case
    system) are not offered; an act no registered unit could receive is not offered.
    """
    unit = units.get(unit_code)
    kind = unit.kind if unit is not None else ""
    offered: list[ActOption] = []
    for event_type in entitlements.acts:
        for action, rule in entitlements.acts_for_kind(
                event_type, kind, is_hub=unit_code == operator_unit_code,
                is_owner=case_owner is not None and unit_code == case_owner).items():
            if not rule.in_view:
                continue
            targets = tuple(u for u in units.all() if u.kind in rule.targets)
            if targets:
                offered.append(ActOption(event_type, action, rule.title_zh, rule.title_en,
                                         targets))
    return offered


def build_act(option: ActOption, *, case_id: str, sender_unit_code: str, actor: str,
              target_unit_code: str, content: str, document_number: str = "",
              reply_due_date: date | None = None, now: datetime,
              police_unit_code: str | None = None) -> CaseEvent:
    """The act as the event the engine processes (refused with :class:`ActRefused`).

    The event id is random per submission (a new document is a new act) and stays
    with the outbox row, so a relay retry produces the same event and the engine's
    de-duplication keeps it once. A consultation or an invitation gets its id (the
    answer quotes it) from the same act id.
    """
    if not target_unit_code:
        raise ActRefused("target_unit_code", "choose the unit the act is addressed to")
    if target_unit_code not in {unit.code for unit in option.targets}:
        raise ActRefused("target_unit_code", (
            f"{target_unit_code!r} is not a unit {option.title_en} may be addressed to"))
    text = content.replace("\x00", "").strip()
    if not text:
        raise ActRefused("content", "the act needs its content (内容)")
    if reply_due_date is not None and reply_due_date < now.date():
        raise ActRefused("reply_due_date", f"{reply_due_date.isoformat()} is in the past")
    act_id = str(uuid.uuid4())
    body = {"act_id": act_id, "action": option.action, "target": target_unit_code}
    header: dict[str, Any] = {
        "event_id": event_id_for(_SOURCE_SYSTEM, f"view-act:{act_id}", content_hash(body)),
        "case_id": case_id, "source_unit": sender_unit_code, "occurred_at": now,
        "recorded_at": now, "source_system": _SOURCE_SYSTEM,
        "source_record": f"view-act:{act_id} by {actor}", "connector_id": _CONNECTOR_ID}
    number = document_number.replace("\x00", "").strip() or None
    short_id = act_id.replace("-", "")[:12].upper()
    if option.event_type == "ConsultationRequested":
        return ConsultationRequested(
            **header, consultation_id=number or f"ZX-{short_id}",
            addressed_to_unit_code=target_unit_code, question=text[:2000],
            answer_due_date=reply_due_date)
    if option.event_type == "EarlyInterventionInvited":
        return EarlyInterventionInvited(
            **header, invitation_id=number or f"JR-{short_id}",
            invited_unit_code=target_unit_code, reason=text[:2000],
            attend_due_date=reply_due_date)
    if option.event_type == "FilingSupervisionRequested":
        if police_unit_code is None:
            raise ActRefused("police_unit_code", (
                "建议立案监督 objects to a police decision: no police unit is on this case"))
        return FilingSupervisionRequested(
            **header, procuratorate_unit_code=target_unit_code,
            police_unit_code=police_unit_code, request_number=number, reasons=text[:2000])
    if option.event_type == "LeadTransferred":
        return LeadTransferred(
            **header, destination=LeadDestination(option.action),
            receiving_unit_code=target_unit_code, lead_number=number,
            summary=text[:2000], feedback_due_date=reply_due_date)
    return ProsecutorialAction(
        **header, action=ProsecutorialActionKind(option.action),
        target_unit_code=target_unit_code, document_number=number, content=text[:2000],
        reply_due_date=reply_due_date,
    )


def _police_unit_of(context: ViewContext, case_id: str) -> str | None:
    """The police unit recorded on the case (the one whose non-filing or 撤案 the agency
    objects to), the first by code when several are; None before any police step."""
    with context.store.session() as session:
        codes = session.scalars(select(CaseUnitRow.unit_code)
                                .where(CaseUnitRow.case_id == case_id)
                                .order_by(CaseUnitRow.unit_code)).all()
    for code in codes:
        unit = context.units.get(code)
        if unit is not None and unit.kind == "police":
            return code
    return None


def submit_act(context: ViewContext, actor: Actor, *, case_id: str, case_owner: str | None,
               action: str, target_unit_code: str, content: str, document_number: str = "",
               reply_due_date: date | None = None) -> tuple[CaseEvent, str]:
    """Check, build and queue an act for the bus; the event and its topic.

    Raises :class:`ActRefused` with field ``action`` when the user's unit may not send
    this act (entitlements.yaml) and for every problem :func:`build_act` finds. The
    caller has checked that the user may see the case. A procuratorial act is sent as
    the operator unit (the hub); an agency's request as the agency itself.
    """
    options = {option.action: option for option in offered_acts(
        load_entitlements(), context.units, unit_code=actor.unit_code,
        operator_unit_code=context.operator_unit_code, case_owner=case_owner)}
    option = options.get(action)
    if option is None:
        raise ActRefused("action", (
            f"unit {actor.unit_code} may not create {action} in the view "
            "(hub/rules/entitlements.yaml, acts)"))
    sender = (context.operator_unit_code if option.event_type in _HUB_SENT_TYPES
              else actor.unit_code)
    police = (_police_unit_of(context, case_id)
              if option.event_type == "FilingSupervisionRequested" else None)
    event = build_act(option, case_id=case_id, sender_unit_code=sender,
                      actor=actor.username, target_unit_code=target_unit_code,
                      content=content, document_number=document_number,
                      reply_due_date=reply_due_date, now=utc_now(), police_unit_code=police)
    topic = act_topic(sender)
    context.outbox.event(topic, event)
    # Audited like every view action: who sent which act, to whom, on which case.
    context.outbox.audit(actor, AuditOperation.ACTION, target=f"{action}:{case_id}",
                         case_id=case_id, query=(f"event_id={event.event_id};"
                                                 f"to={target_unit_code};"
                                                 f"document_number={document_number}"))
    return event, topic
