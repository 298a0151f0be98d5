"""How each record from the bus changes the store.

The functions here are the whole write side of the view: the consumer decodes a record,
calls one of them inside the batch's transaction, and stores the offsets in the same
transaction. They are deterministic in the record (no clock reads), so replaying the
topics reaches the same store; and they tolerate the topics arriving in any relative
order (an action before its alert, a penalty record before the case state).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.identity import identifier_key, sole_trader_placeholder
from hub.models import (
    AgencyCaseOpened,
    Alert,
    AlertKind,
    CaseEvent,
    CaseState,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    Party,
    PenaltyCaseRecorded,
    UnitMonthlyStats,
    ViewAction,
    ViewActionKind,
)
from hub.view.store import (
    AlertRow,
    AppliedActionRow,
    CaseNumberRow,
    CasePartyRow,
    CaseRow,
    CaseUnitRow,
    MatcherResolutionRow,
    TimelineRow,
    UnitStatsRow,
    UnmatchedRow,
)
from hub.view.units import UnitDirectory

__all__ = [
    "LEAD_KINDS",
    "OVERDUE_KINDS",
    "apply_alert",
    "apply_case_state",
    "apply_case_states",
    "apply_open_case",
    "apply_penalty_case",
    "apply_stats",
    "apply_unmatched",
    "apply_view_action",
    "derive_alert_status",
    "short_type",
]

logger = logging.getLogger(__name__)

CHINA_TZ = ZoneInfo("Asia/Shanghai")

#: Alerts that are screening leads (线索): a person reviews them rather than a unit acting.
LEAD_KINDS = frozenset(
    {AlertKind.SUSPECTED_NON_REFERRAL.value, AlertKind.EARLY_INTERVENTION_CANDIDATE.value}
)
#: Alerts that mean a legal or operator-set deadline has passed (超期).
OVERDUE_KINDS = frozenset(
    kind.value
    for kind in AlertKind
    if kind.value.endswith("_OVERDUE")
    or kind in (AlertKind.LATE_ENTRY, AlertKind.REFERRAL_NOT_FILED_LONG,
                AlertKind.FILED_NOT_CONCLUDED)
)
#: The event type prefix of a case's timeline steps a view action added.
VIEW_ACTION_STEP = "ViewAction."
#: View actions that add a step to a case's timeline.
_TIMELINE_ACTIONS = frozenset(
    {
        ViewActionKind.ISSUE_RECOMMENDATION.value,
        ViewActionKind.ADD_NOTE.value,
        ViewActionKind.MANUAL_MATCH.value,
    }
)


def short_type(full_name: str) -> str:
    """``cn.liangfa.events.CaseReferred`` → ``CaseReferred`` (the i18n key of a type)."""
    return full_name.rsplit(".", 1)[-1]


def _upsert(session: Session, model: Any, values: dict[str, Any], keys: list[str],
            update: Iterable[str], *, where: ColumnElement[bool] | None = None) -> None:
    """INSERT … ON CONFLICT DO UPDATE of ``update`` columns, on SQLite and PostgreSQL.

    With ``where`` (the DO UPDATE's WHERE), a conflicting row is updated only if it meets
    the condition, and left as it is otherwise. With no column to update, a conflict
    leaves the row as it is.
    """
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = dialect_insert(model).values(**values)
    columns = [name for name in update if name in values]
    if columns:
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in columns},
            where=where,
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    session.execute(statement)


def _insert_ignore(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(dialect_insert(model).on_conflict_do_nothing(), rows)


def _china_date(instant: datetime) -> date:
    return instant.astimezone(CHINA_TZ).date()


def _party_key(party: Party) -> str:
    """The party's credit code or ID number as a key; never the sole-trader placeholder
    00000000000000000X, which every sole trader without a code files (counted as one
    party, the demo county's clinics and shops were one repeat offender of 173
    penalties from 15 units). Such a trader is found by its operator's row."""
    placeholder = sole_trader_placeholder()
    for value in (party.credit_code, party.id_number):
        key = identifier_key(value or "")
        if key and key != placeholder:
            return key
    return ""


def _party_rows(case_id: str, parties: Iterable[Party]) -> list[dict[str, Any]]:
    """One row per searchable person or organisation: the party and its representative."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for party in parties:
        # Keyed as the engine keys parties (hub.identity.identifier_key): one person
        # whichever spelling an export used, for search, the board and feedback triage.
        entries = [(party.name, _party_key(party), str(party.category))]
        if party.legal_representative:
            entries.append(
                (
                    party.legal_representative,
                    identifier_key(party.legal_representative_id_number or ""),
                    "LEGAL_REPRESENTATIVE",
                )
            )
        for name, ident, kind in entries:
            if (name, ident) in seen:
                continue
            seen.add((name, ident))
            rows.append(
                {"case_id": case_id, "name": name.strip(), "identifier": ident, "kind": kind}
            )
    return rows


def _number_rows(case_id: str, numbers: dict[str, str | None]) -> list[dict[str, Any]]:
    return [
        {"case_id": case_id, "number": number.strip(), "kind": kind}
        for kind, number in numbers.items()
        if number and number.strip()
    ]


def _replace_children(
    session: Session,
    case_id: str,
    parties: list[dict[str, Any]] | None,
    units: list[dict[str, Any]],
    numbers: list[dict[str, Any]],
) -> None:
    if parties is not None:
        session.execute(delete(CasePartyRow).where(CasePartyRow.case_id == case_id))
        if parties:
            session.execute(insert(CasePartyRow), parties)
    session.execute(delete(CaseUnitRow).where(CaseUnitRow.case_id == case_id))
    if units:
        session.execute(insert(CaseUnitRow), units)
    _insert_ignore(session, CaseNumberRow, numbers)


def _units(
    case_id: str, owner: str, involved: Iterable[str], decided_on: date, stage: str
) -> list[dict[str, Any]]:
    common = {"case_id": case_id, "decided_on": decided_on, "stage": stage}
    rows = [{**common, "unit_code": owner, "role": "owner"}]
    for code in involved:
        if code and code != owner and all(r["unit_code"] != code for r in rows):
            rows.append({**common, "unit_code": code, "role": "involved"})
    return rows


def _case_flags(session: Session, case_id: str) -> tuple[bool, bool]:
    """(is_overdue, is_lead) of a case from its open alerts."""
    overdue = lead = False
    for kind, is_lead in session.execute(
        select(AlertRow.kind, AlertRow.is_lead).where(
            AlertRow.case_id == case_id, AlertRow.status.in_(("open", "assigned"))
        )
    ):
        overdue = overdue or kind in OVERDUE_KINDS
        lead = lead or bool(is_lead)
    return overdue, lead


def _flags_for(session: Session, case_ids: list[str]) -> dict[str, tuple[bool, bool]]:
    """(is_overdue, is_lead) of each case from its open alerts, in one query."""
    flags: dict[str, tuple[bool, bool]] = {}
    for case_id, kind, is_lead in session.execute(
        select(AlertRow.case_id, AlertRow.kind, AlertRow.is_lead).where(
            AlertRow.case_id.in_(case_ids), AlertRow.status.in_(("open", "assigned"))
        )
    ):
        overdue, lead = flags.get(case_id, (False, False))
        flags[case_id] = (overdue or kind in OVERDUE_KINDS, lead or bool(is_lead))
    return flags


def apply_case_states(session: Session, states: list[CaseState], units: UnitDirectory) -> None:
    """The case aggregate's latest word on cases (``lf.case-state``, latest wins).

    Penalty details (violation type, amounts) come from the PenaltyCaseRecorded event and
    are kept; the stage, numbers, parties, units and timeline are replaced. A batch is
    written with a handful of multi-row statements, not a dozen per case: replaying a
    million cases is dominated by statement count.
    """
    latest = {state.case_id: state for state in states}
    if not latest:
        return
    ids = list(latest)
    existing = {
        row[0]: row[1]
        for row in session.execute(
            select(CaseRow.case_id, CaseRow.unit_name).where(CaseRow.case_id.in_(ids))
        )
    }
    flags = _flags_for(session, ids)
    cases: list[dict[str, Any]] = []
    parties: list[dict[str, Any]] = []
    replace_parties: list[str] = []
    unit_rows: list[dict[str, Any]] = []
    numbers: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    for state in latest.values():
        first = min((entry.occurred_at for entry in state.timeline), default=state.occurred_at)
        decided_on = _china_date(first)
        case_parties = _party_rows(state.case_id, state.parties)
        summary = "、".join(
            dict.fromkeys(p["name"] for p in case_parties if p["kind"] != "LEGAL_REPRESENTATIVE")
        )[:500]
        unit_name = units.name(state.owning_unit_code)
        if existing.get(state.case_id) and units.get(state.owning_unit_code) is None:
            unit_name = existing[state.case_id]
        overdue, lead = flags.get(state.case_id, (False, False))
        cases.append(
            {
                "case_id": state.case_id,
                "unit_code": state.owning_unit_code,
                "unit_name": unit_name,
                "case_number": state.agency_case_number or state.decision_number or "",
                "stage": str(state.stage),
                "violation_type": "",
                "domain": "",
                "title": "",
                "amount_fen": 0,
                "decided_on": decided_on,
                "last_event_at": state.last_event_at or state.occurred_at,
                "party_summary": summary,
                "is_overdue": overdue,
                "is_lead": lead,
                "state": state.model_dump(mode="json", exclude={"timeline"}),
            }
        )
        if case_parties or state.case_id not in existing:
            replace_parties.append(state.case_id)
            parties += case_parties
        unit_rows += _units(state.case_id, state.owning_unit_code, state.units_involved,
                            decided_on, str(state.stage))
        numbers += _number_rows(
            state.case_id,
            {
                "decision_number": state.decision_number,
                "agency_case_number": state.agency_case_number,
                "referral_number": state.referral_number,
                "police_case_number": state.police_case_number,
            },
        )
        timeline += [
            {
                "case_id": state.case_id,
                "event_id": entry.event_id,
                "event_type": short_type(entry.event_type),
                "occurred_at": entry.occurred_at,
                "recorded_at": None,
                "source_unit": entry.unit_code,
                "summary": entry.summary[:1000],
                "detail": {},
            }
            for entry in state.timeline
        ]
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = dialect_insert(CaseRow)
    kept = {"case_id", "violation_type", "domain", "title", "amount_fen"}
    upsert = upsert.on_conflict_do_update(
        index_elements=["case_id"],
        set_={name: upsert.excluded[name] for name in cases[0] if name not in kept},
    )
    session.execute(upsert, cases)
    if replace_parties:
        session.execute(delete(CasePartyRow).where(CasePartyRow.case_id.in_(replace_parties)))
    if parties:
        session.execute(insert(CasePartyRow), parties)
    session.execute(delete(CaseUnitRow).where(CaseUnitRow.case_id.in_(ids)))
    session.execute(insert(CaseUnitRow), unit_rows)
    _insert_ignore(session, CaseNumberRow, numbers)
    _insert_ignore(session, TimelineRow, timeline)
    _restore_action_timeline(session, [case_id for case_id in ids if case_id not in existing])


def apply_case_state(session: Session, state: CaseState, units: UnitDirectory) -> None:
    """One case state (see ``apply_case_states``)."""
    apply_case_states(session, [state], units)


def _conduct_amount(*figures: int | None) -> int:
    """The case's amount (涉案金额): the largest money figure *of the conduct* recorded.

    Turnover, illegal gains and the value of the goods (货值, unsold goods included) are
    what criminal thresholds compare; confiscated gains and goods are part of the conduct
    too. None recorded shows as "—", not as ¥0.00. The fine is what the agency imposed, not
    what the case involved (issue #14: a hazardous-waste case showed its ¥72,000 fine as
    its amount), so it is left out; a case measured in quantities shows them on its leads,
    beside their thresholds.
    """
    return max((figure for figure in figures if figure is not None), default=0)


def _agency_case_row(event: PenaltyCaseRecorded | AgencyCaseOpened, owner: str,
                     units: UnitDirectory) -> dict[str, Any]:
    """The case row an agency's own record describes, before any case state arrives."""
    if isinstance(event, PenaltyCaseRecorded):
        stage, day, title = "RECORDED", event.decision_date, event.violation_facts
        number = event.agency_case_number or event.decision_number
        amount = _conduct_amount(event.illegal_turnover_fen, event.illegal_gains_fen,
                                 event.goods_value_fen, event.confiscation_amount_fen)
        authority: str | None = event.deciding_authority
    else:
        stage, day, title = "OPENED", event.opened_on, event.case_summary or ""
        number = event.agency_case_number
        amount = _conduct_amount(event.illegal_turnover_fen, event.illegal_gains_fen,
                                 event.goods_value_fen)
        authority = event.agency
    return {
        "case_id": event.case_id,
        "unit_code": owner,
        "unit_name": authority or units.name(owner),
        "case_number": number,
        "stage": stage,
        "violation_type": event.violation_type[:200],
        "domain": (event.enforcement_domain or "")[:60],
        "title": title[:500],
        "amount_fen": amount,
        "decided_on": day,
        "last_event_at": event.occurred_at,
        "party_summary": "、".join(dict.fromkeys(p.name for p in event.parties))[:500],
        "is_overdue": False,
        "is_lead": False,
        "state": {},
    }


#: The columns an agency's record fills and the case state does not carry.
_AGENCY_DETAILS = ("violation_type", "domain", "title", "amount_fen", "unit_name")


def apply_penalty_case(session: Session, event: PenaltyCaseRecorded, units: UnitDirectory) -> None:
    """Details only the penalty record carries (违法行为类型, amounts, 违法事实).

    If the case state has not arrived yet the case is created from the penalty record, so
    it is searchable at once; the case state then completes it.
    """
    owner = event.deciding_authority_code
    existing = session.get(CaseRow, event.case_id)
    _upsert(session, CaseRow, _agency_case_row(event, owner, units), ["case_id"],
            _AGENCY_DETAILS)
    # its numbers at once, also on a case the register created: the decision number is
    # what keeps a later copy of the register from overwriting these details
    numbers = _number_rows(event.case_id, {"decision_number": event.decision_number,
                                           "agency_case_number": event.agency_case_number})
    if existing is not None:
        _insert_ignore(session, CaseNumberRow, numbers)
        return
    _replace_children(
        session,
        event.case_id,
        _party_rows(event.case_id, event.parties),
        _units(event.case_id, owner, [event.source_unit], event.decision_date, "RECORDED"),
        numbers,
    )
    _restore_action_timeline(session, [event.case_id])


def apply_open_case(session: Session, event: AgencyCaseOpened, units: UnitDirectory) -> None:
    """What an agency's open case (立案登记, 在办) has found so far: its 案由, 简要案情 and
    amounts, so a case under investigation is found by its type and amount, as early
    intervention (提前介入) needs, and does not show "—" where the register has figures.

    Each export of the register sends the case again, with the amounts found so far:
    the latest copy read wins, until the case has a penalty decision. Then the penalty
    record's details stand (it is the agency's final word, and a register exported again
    after it must not take the amount back to an earlier figure); a case has one when a
    decision number is on it.
    """
    owner = event.source_unit
    existing = session.get(CaseRow, event.case_id)
    # the conflicting row is this case's: its id bound as a value (a correlation to
    # view_cases is not made inside ON CONFLICT, and the test ran over every case)
    decided = exists().where(CaseNumberRow.case_id == event.case_id,
                             CaseNumberRow.kind == "decision_number")
    _upsert(session, CaseRow, _agency_case_row(event, owner, units), ["case_id"],
            _AGENCY_DETAILS, where=~decided)
    if existing is None:
        _replace_children(
            session,
            event.case_id,
            _party_rows(event.case_id, event.parties),
            _units(event.case_id, owner, [owner], event.opened_on, "OPENED"),
            _number_rows(event.case_id, {"agency_case_number": event.agency_case_number}),
        )
        _restore_action_timeline(session, [event.case_id])


def derive_alert_status(row: AlertRow) -> str:
    """The handling state the queue shows: resolved > acknowledged > assigned > open."""
    if row.bus_status == "RESOLVED" or row.details.get("_closed_by"):
        return "resolved"
    if row.acknowledged_by or row.bus_status == "ACKNOWLEDGED":
        return "acknowledged"
    if row.assigned_to:
        return "assigned"
    return "open"


def _refresh_case_flags(session: Session, case_id: str) -> None:
    case = session.get(CaseRow, case_id)
    if case is not None:
        session.flush()
        case.is_overdue, case.is_lead = _case_flags(session, case_id)


def apply_alert(session: Session, alert: Alert) -> None:
    """An alert raised, re-evaluated, acknowledged or resolved by the stream processors."""
    row = session.get(AlertRow, alert.alert_id)
    created = row is None
    if row is None:
        row = AlertRow(
            alert_id=alert.alert_id,
            raised_at=alert.occurred_at,
            details={},
            assigned_to=None,
            acknowledged_by=None,
            acknowledged_at=None,
            reviewed_by=None,
            reviewed_at=None,
            review_conclusion=None,
        )
        session.add(row)
    row.case_id = alert.case_id
    row.unit_code = alert.responsible_unit_code
    row.kind = str(alert.kind)
    row.severity = str(alert.severity)
    row.rule_id = alert.rule_id[:100]
    row.legal_source = alert.legal_source[:300]
    row.raised_at = min(row.raised_at, alert.occurred_at)
    row.due_date = alert.due_date
    row.message = alert.message[:1000]
    row.is_lead = row.kind in LEAD_KINDS
    row.is_overdue = row.kind in OVERDUE_KINDS
    row.bus_status = str(alert.status)
    closed = row.details.get("_closed_by")
    row.details = {**dict(alert.details), **({"_closed_by": closed} if closed else {})}
    if created:
        session.flush()
        for action in _pending_actions(session, alert.alert_id):
            _apply_to_alert(row, action)
    row.status = derive_alert_status(row)
    _refresh_case_flags(session, alert.case_id)


def apply_stats(session: Session, stats: UnitMonthlyStats) -> None:
    """A unit's figures for a month; the latest record of a unit-month wins."""
    values = {
        "unit_code": stats.unit_code,
        "month": stats.month,
        "penalty_cases_entered": stats.penalty_cases_entered,
        "penalty_cases_entered_late": stats.penalty_cases_entered_late,
        "referrals": stats.referrals,
        "receipts": stats.receipts,
        "filing_decisions": stats.filing_decisions,
        "alerts_raised": stats.alerts_raised,
        "feedback_rate": stats.feedback_rate,
        "median_days_to_decision": stats.median_days_to_decision,
        "arrest_requests": stats.arrest_requests,
        "transfers_for_prosecution": stats.transfers_for_prosecution,
        "non_filing_explanations": stats.non_filing_explanations,
        "updated_at": stats.recorded_at,
    }
    _upsert(session, UnitStatsRow, values, ["unit_code", "month"],
            values.keys() - {"unit_code", "month"})


def _feedback_party(content: dict[str, Any]) -> tuple[str, str]:
    """A party's name and identifier quoted by the feedback, if any, for candidate search."""
    for key in ("parties", "persons_concerned"):
        parties = content.get(key)
        if isinstance(parties, list) and parties and isinstance(parties[0], dict):
            first = parties[0]
            identifier = first.get("credit_code") or first.get("id_number") or ""
            return str(first.get("name") or ""), identifier_key(str(identifier))
    return "", ""


def apply_unmatched(session: Session, item: FeedbackUnmatched) -> None:
    """Feedback parked by the matcher for a person to resolve."""
    try:
        content = json.loads(item.feedback_json)
    except ValueError:
        content = {"raw": item.feedback_json}
    if not isinstance(content, dict):
        content = {"value": content}
    party_name, party_identifier = _feedback_party(content)
    row = session.get(UnmatchedRow, item.feedback_event_id)
    created = row is None
    if row is None:
        row = UnmatchedRow(
            unmatched_id=item.feedback_event_id,
            status="open",
            resolved_case_id=None,
            resolved_by=None,
            resolved_at=None,
        )
        session.add(row)
    row.arrived_case_id = item.case_id
    row.feedback_unit_code = item.feedback_unit_code
    row.feedback_type = short_type(item.feedback_type)
    row.received_at = item.occurred_at
    row.police_case_number = item.police_case_number or ""
    row.referral_number = item.referral_number or ""
    row.agency_decision_number = item.agency_decision_number or ""
    row.party_name = party_name[:300]
    row.party_identifier = party_identifier[:40]
    row.feedback = content
    row.candidates = [candidate.model_dump(mode="json") for candidate in item.candidates]
    if created:
        session.flush()
        for action in _pending_actions(session, item.feedback_event_id):
            _apply_to_unmatched(row, action)
        # The matcher's own resolution may have been read before the parked item.
        _resolve_by_matcher(row, session.get(MatcherResolutionRow, item.feedback_event_id))


def _pending_actions(session: Session, target: str) -> list[AppliedActionRow]:
    return list(
        session.scalars(
            select(AppliedActionRow)
            .where(AppliedActionRow.target_id == target)
            .order_by(AppliedActionRow.occurred_at, AppliedActionRow.action_id)
        ).all()
    )


def _apply_to_alert(row: AlertRow, action: AppliedActionRow) -> None:
    payload = action.payload
    if action.action_type == ViewActionKind.ACKNOWLEDGE_ALERT.value:
        row.acknowledged_by = action.actor
        row.acknowledged_at = action.occurred_at
        if "review" in payload:
            row.reviewed_by = action.actor
            row.reviewed_at = action.occurred_at
            row.review_conclusion = str(payload.get("review", ""))[:1000]
    elif action.action_type == ViewActionKind.ASSIGN.value:
        row.assigned_to = str(payload.get("assignee", ""))[:100] or None
    elif action.action_type == ViewActionKind.RESOLVE_ALERT.value:
        row.details = {**row.details, "_closed_by": action.actor}
    row.status = derive_alert_status(row)


def apply_event(session: Session, event: CaseEvent, units: UnitDirectory) -> bool:
    """Apply one event the view consumes to the store; False for a type it does not keep.

    The one dispatch the bus consumer and the tests share, so they cannot drift apart.
    """
    if isinstance(event, CaseState):
        apply_case_state(session, event, units)
    elif isinstance(event, PenaltyCaseRecorded):
        apply_penalty_case(session, event, units)
    elif isinstance(event, AgencyCaseOpened):
        apply_open_case(session, event, units)
    elif isinstance(event, Alert):
        apply_alert(session, event)
    elif isinstance(event, UnitMonthlyStats):
        apply_stats(session, event)
    elif isinstance(event, FeedbackUnmatched):
        apply_unmatched(session, event)
    elif isinstance(event, FeedbackMatched):
        apply_feedback_matched(session, event)
    elif isinstance(event, FeedbackMatchWithdrawn):
        apply_feedback_match_withdrawn(session, event)
    elif isinstance(event, ViewAction):
        apply_view_action(session, event)
    else:
        return False
    return True


def apply_feedback_matched(session: Session, matched: FeedbackMatched) -> None:
    """The matcher tied parked feedback to its case by itself (its referral arrived after
    it): the queue item is closed, naming the matcher. Every match is remembered, so a
    parked item read after its match arrives closed; matches of feedback never parked
    add no queue item."""
    resolution = session.get(MatcherResolutionRow, matched.feedback_event_id)
    if resolution is None:
        resolution = MatcherResolutionRow(
            feedback_event_id=matched.feedback_event_id, case_id=matched.case_id,
            method=matched.method.value, recorded_at=matched.recorded_at)
        session.add(resolution)
    row = session.get(UnmatchedRow, matched.feedback_event_id)
    if row is not None:
        _resolve_by_matcher(row, resolution)


def apply_feedback_match_withdrawn(session: Session, withdrawn: FeedbackMatchWithdrawn) -> None:
    """The matcher withdrew its own match (a later referral of the same party made it
    ambiguous): its resolution is forgotten and a queue item it closed opens again, so
    a person chooses among the candidates (the new FeedbackUnmatched brings them). A
    person's resolution stands."""
    resolution = session.get(MatcherResolutionRow, withdrawn.feedback_event_id)
    if resolution is not None and resolution.case_id == withdrawn.case_id:
        session.delete(resolution)
    row = session.get(UnmatchedRow, withdrawn.feedback_event_id)
    if (row is not None and row.status == "resolved"
            and row.resolved_case_id == withdrawn.case_id
            and str(row.resolved_by or "").startswith("matcher")):
        row.status = "open"
        row.resolved_case_id = None
        row.resolved_by = None
        row.resolved_at = None


def _resolve_by_matcher(row: UnmatchedRow, resolution: MatcherResolutionRow | None) -> None:
    """Close a queue item the matcher resolved (a person's earlier resolution stands)."""
    if resolution is None or row.status == "resolved":
        return
    row.status = "resolved"
    row.resolved_case_id = resolution.case_id
    row.resolved_by = f"matcher ({resolution.method})"
    row.resolved_at = resolution.recorded_at


def _apply_to_unmatched(row: UnmatchedRow, action: AppliedActionRow) -> None:
    if action.action_type == ViewActionKind.MANUAL_MATCH.value:
        row.status = "resolved"
        row.resolved_case_id = str(action.payload.get("case_id") or action.case_id or "")
        row.resolved_by = action.actor
        row.resolved_at = action.occurred_at
    elif action.action_type == ViewActionKind.REJECT_CANDIDATE.value:
        rejected = {str(action.payload.get("case_id", ""))}
        row.candidates = [c for c in row.candidates if str(c.get("case_id")) not in rejected]


def _timeline_row(action: AppliedActionRow) -> dict[str, Any]:
    note = action.payload.get("note", "")
    label = action.payload.get("action", action.action_type)
    return {
        "case_id": str(action.payload.get("case_id") or action.case_id),
        "event_id": action.event_id,
        "event_type": f"{VIEW_ACTION_STEP}{action.action_type}",
        "occurred_at": action.occurred_at,
        "recorded_at": action.recorded_at,
        "source_unit": action.actor_unit_code,
        "summary": f"{label}: {note}"[:1000] if note else str(label),
        "detail": {"actor": action.actor, **action.payload},
    }


def _restore_action_timeline(session: Session, case_ids: Iterable[str]) -> None:
    """Timeline steps of actions that came back before their case existed in the store."""
    wanted = list(case_ids)
    if not wanted:
        return
    actions = session.scalars(
        select(AppliedActionRow).where(
            AppliedActionRow.case_id.in_(wanted),
            AppliedActionRow.action_type.in_(_TIMELINE_ACTIONS),
        )
    ).all()
    _insert_ignore(session, TimelineRow, [_timeline_row(action) for action in actions])


def apply_view_action(session: Session, action: ViewAction) -> None:
    """An action taken in the view, now that it came back through ``lf.view-actions``.

    Applying the same action twice changes nothing (its id is remembered).
    """
    if session.get(AppliedActionRow, action.action_id) is not None:
        return
    kind = str(action.action_kind)
    row = AppliedActionRow(
        action_id=action.action_id,
        event_id=action.event_id,
        action_type=kind,
        target_id=action.target,
        case_id=str(action.payload.get("case_id") or action.case_id),
        actor=action.actor,
        actor_unit_code=action.actor_unit_code,
        occurred_at=action.occurred_at.astimezone(UTC),
        recorded_at=action.recorded_at.astimezone(UTC),
        payload=dict(action.payload),
    )
    session.add(row)
    alert = session.get(AlertRow, action.target)
    if alert is not None:
        _apply_to_alert(alert, row)
        _refresh_case_flags(session, alert.case_id)
    unmatched = session.get(UnmatchedRow, action.target)
    if unmatched is not None:
        _apply_to_unmatched(unmatched, row)
    if kind in _TIMELINE_ACTIONS and session.get(CaseRow, row.case_id or "") is not None:
        _insert_ignore(session, TimelineRow, [_timeline_row(row)])
