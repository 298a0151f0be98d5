"""Read side of the view: timelines, queues, scorecards, dashboard figures (the case
search is :mod:`hub.view.search`).

Every function takes a ``Scope``: ``None`` unit means the whole province (prosecutors),
a unit code restricts to the cases that unit is involved in (unit users). The API layer
decides the scope from the logged-in user; nothing here trusts a request parameter for
it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub.models import AlertKind
from hub.view.acts import act_rule_titles
from hub.view.apply import VIEW_ACTION_STEP
from hub.view.keys import name_key, number_key
from hub.view.schemas import (
    ActReplyFigures,
    AlertOut,
    AlertPage,
    CandidateOut,
    CaseDetail,
    CaseSummary,
    CaseUnitOut,
    Dashboard,
    PartyOut,
    Scorecard,
    ScorecardMonth,
    TimelineEntry,
    TrendPoint,
    UnenforcedPenalty,
    UnmatchedDetail,
    UnmatchedOut,
    UnmatchedPage,
)
from hub.view.store import (
    AlertRow,
    CaseNumberRow,
    CasePartyRow,
    CaseRow,
    CaseUnitRow,
    TimelineRow,
    UnitStatsRow,
    UnmatchedRow,
    utc_now,
)

__all__ = [
    "OWED_ALERT_STATUSES",
    "CaseLabel",
    "Scope",
    "act_reply_figures",
    "alert_in_scope",
    "alert_page",
    "case_detail",
    "case_labels",
    "case_visible",
    "cases_per_unit",
    "china_month",
    "dashboard",
    "months_back",
    "trend_end_month",
    "unenforced_penalties",
    "unit_scorecard",
    "unmatched_detail",
    "unmatched_page",
]

_OPEN_ALERT_STATUSES = ("open", "assigned")
#: Alerts still owed, whoever acknowledged them: what the oversight figures count (the
#: monthly report's overdue items, a unit's scorecard, the missing-entry board 应录未录).
#: The dashboard's tiles are the work queue's and link to it. An acknowledgement says who
#: saw an alert, it does not
#: answer it: a unit acknowledging its own overdue items must not take them out of the
#: figures the procuratorate reports on it. Only the engine's resolution (the act done)
#: or a prosecutor's closing ends one. The work queue (``active``) is another matter:
#: what someone acknowledged is handled there.
OWED_ALERT_STATUSES = ("open", "assigned", "acknowledged")
CHINA_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which cases the caller may see: all (``unit_code=None``) or one unit's."""

    unit_code: str | None = None


def case_visible(session: Session, case_id: str, scope: Scope) -> bool:
    """Whether the case exists and the scope may see it."""
    if scope.unit_code is None:
        return session.get(CaseRow, case_id) is not None
    return session.get(CaseUnitRow, (case_id, scope.unit_code)) is not None


def alert_in_scope(session: Session, alert_id: str, scope: Scope) -> AlertRow | None:
    """The alert, if it exists and the scope may act on it (acknowledge, assign).

    A unit acts on its own alerts, not on the screening leads (线索) about its cases: it
    reads them (a prompt to refer what it should have), but acknowledging one would take
    it off the procuratorate's queue, whose work it is until it acts (docs/security.md,
    "What a unit user sees")."""
    alert = session.get(AlertRow, alert_id)
    if alert is None or (scope.unit_code is not None and (
            alert.unit_code != scope.unit_code or alert.is_lead)):
        return None
    return alert


#: What people did with an alert in the view: who took it, acknowledged or reviewed it,
#: and the review's conclusion (内部审查结论).
_HANDLING_FIELDS = ("assigned_to", "acknowledged_by", "acknowledged_at", "reviewed_by",
                    "reviewed_at", "review_conclusion")
#: Of those, what a unit sees on the alerts it handles itself: its own taking and
#: acknowledging, never a review (reviews are the procuratorate's).
_UNIT_HANDLING_FIELDS = ("assigned_to", "acknowledged_by", "acknowledged_at")


def alert_out(row: AlertRow, reader_unit: str | None) -> AlertOut:
    """An alert as ``reader_unit`` may read it (None: the procuratorate, all of it).

    A unit reads the alerts on its cases, but what the procuratorate did with them is the
    procuratorate's own record: a prosecutor's conclusion on a lead about the unit's case
    (拟监督移送) read by the body under supervision would warn it. So a unit sees who
    handled an alert only on the alerts it acts on itself (:func:`alert_in_scope`: its
    own, not a lead), never a review, and no handling note in the details."""
    alert = AlertOut.model_validate(row)
    if reader_unit is None:
        return alert
    shown = (_UNIT_HANDLING_FIELDS if row.unit_code == reader_unit and not row.is_lead
             else ())
    hidden: dict[str, Any] = {field: None for field in _HANDLING_FIELDS
                              if field not in shown}
    hidden["details"] = {key: value for key, value in alert.details.items()
                         if not key.startswith("_")}
    return alert.model_copy(update=hidden)


def case_detail(session: Session, case_id: str, scope: Scope, *,
                reader_unit: str | None = None) -> CaseDetail | None:
    """A case with its timeline (oldest first), or None if absent or out of scope.

    A unit sees the case's events and alerts, not what another body did in the view (a
    prosecutor's notes, matches and re-check findings are the procuratorate's own
    record; :func:`alert_out`). ``reader_unit``: the unit that reads when it is not the
    scope's (a body consulting a case outside its scope reads it as a unit does)."""
    reader_unit = reader_unit or scope.unit_code
    if not case_visible(session, case_id, scope):
        return None
    case = session.get(CaseRow, case_id)
    if case is None:
        return None
    parties = session.scalars(
        select(CasePartyRow).where(CasePartyRow.case_id == case_id).order_by(CasePartyRow.id)
    ).all()
    units = session.scalars(
        select(CaseUnitRow).where(CaseUnitRow.case_id == case_id).order_by(CaseUnitRow.role)
    ).all()
    steps = select(TimelineRow).where(TimelineRow.case_id == case_id)
    alerts_query = select(AlertRow).where(AlertRow.case_id == case_id)
    if reader_unit is not None:
        steps = steps.where(~TimelineRow.event_type.startswith(VIEW_ACTION_STEP)
                            | (TimelineRow.source_unit == reader_unit))
    timeline = session.scalars(
        steps.order_by(TimelineRow.occurred_at, TimelineRow.id)).all()
    alerts = session.scalars(alerts_query.order_by(AlertRow.raised_at.desc())).all()
    return CaseDetail(
        case=CaseSummary.model_validate(case),
        parties=[PartyOut.model_validate(p) for p in parties],
        units=[CaseUnitOut.model_validate(u) for u in units],
        timeline=[TimelineEntry.model_validate(t) for t in timeline],
        alerts=[alert_out(a, reader_unit) for a in alerts],
        state=case.state,
    )


@dataclass(frozen=True, slots=True)
class CaseLabel:
    """How a person names a case: its document number, party and unit (never its UUID)."""

    case_id: str
    number: str
    party: str
    unit_code: str
    unit_name: str


#: Which number names a case, best first: the documents people quote (决定书文号, 移送书文号),
#: then the police case number, then the agency's internal case number.
_LABEL_NUMBERS = ("decision_number", "referral_number", "police_case_number",
                  "agency_case_number")


def case_labels(session: Session, case_ids: Sequence[str]) -> dict[str, CaseLabel]:
    """Labels of the given cases (absent ids are left out), in two indexed queries."""
    wanted = sorted({case_id for case_id in case_ids if case_id})
    if not wanted:
        return {}
    numbers: dict[str, dict[str, str]] = {}
    for row in session.execute(
        select(CaseNumberRow.case_id, CaseNumberRow.kind, CaseNumberRow.number).where(
            CaseNumberRow.case_id.in_(wanted)
        )
    ):
        numbers.setdefault(str(row.case_id), {}).setdefault(str(row.kind), str(row.number))
    labels: dict[str, CaseLabel] = {}
    for case in session.execute(
        select(CaseRow.case_id, CaseRow.case_number, CaseRow.party_summary, CaseRow.unit_code,
               CaseRow.unit_name).where(CaseRow.case_id.in_(wanted))
    ):
        known = numbers.get(str(case.case_id), {})
        number = next((known[kind] for kind in _LABEL_NUMBERS if known.get(kind)),
                      str(case.case_number or ""))
        labels[str(case.case_id)] = CaseLabel(
            case_id=str(case.case_id), number=number, party=str(case.party_summary or ""),
            unit_code=str(case.unit_code), unit_name=str(case.unit_name or ""),
        )
    return labels


def _alert_query(
    scope: Scope, status: str | None, kind: str | None, leads_only: bool,
    overdue_only: bool = False,
) -> Select[AlertRow]:
    query = select(AlertRow)
    if overdue_only:
        query = query.where(AlertRow.is_overdue.is_(True))
    if scope.unit_code is not None:
        query = query.where(AlertRow.unit_code == scope.unit_code)
    if status == "active":
        query = query.where(AlertRow.status.in_(_OPEN_ALERT_STATUSES))
    elif status:
        query = query.where(AlertRow.status == status)
    if kind:
        query = query.where(AlertRow.kind == kind)
    if leads_only:
        query = query.where(AlertRow.is_lead.is_(True))
    return query


def alert_page(
    session: Session,
    scope: Scope,
    *,
    status: str | None = None,
    kind: str | None = None,
    leads_only: bool = False,
    overdue_only: bool = False,
    page: int = 1,
    page_size: int = 50,
) -> AlertPage:
    """The alert queue: open alerts first by default, oldest raised first (work order).
    ``overdue_only``: the items past their deadline, the dashboard's 超期事项 tile."""
    query = _alert_query(scope, status, kind, leads_only, overdue_only)
    rows = session.scalars(
        query.order_by(AlertRow.raised_at, AlertRow.alert_id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return AlertPage(
        items=[alert_out(r, scope.unit_code) for r in rows],
        page=page,
        page_size=page_size,
        total=int(total),
    )


def unmatched_page(
    session: Session, *, status: str | None = "open", page: int = 1, page_size: int = 50
) -> UnmatchedPage:
    """The queue of feedback waiting for a person to match it, oldest first."""
    query = select(UnmatchedRow)
    if status:
        query = query.where(UnmatchedRow.status == status)
    rows = session.scalars(
        query.order_by(UnmatchedRow.received_at, UnmatchedRow.unmatched_id)
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).all()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return UnmatchedPage(
        items=[UnmatchedOut.model_validate(r) for r in rows],
        page=page,
        page_size=page_size,
        total=int(total),
    )


_NUMBER_WEIGHTS = {
    "referral_number": 0.5,
    "agency_decision_number": 0.45,
    "police_case_number": 0.45,
}


def _candidates(session: Session, feedback: UnmatchedRow, limit: int) -> list[CandidateOut]:
    """The matcher's candidates, then cases sharing a number or a party with the feedback.

    Document numbers weigh more than party identifiers, identifiers more than names: a
    referral letter number names one case, a person's name many.
    """
    scored: dict[str, tuple[float, list[str]]] = {}

    def add(case_ids: Sequence[str], points: float, reason: str) -> None:
        for case_id in case_ids:
            score, reasons = scored.get(case_id, (0.0, []))
            if reason not in reasons:
                scored[case_id] = (min(1.0, score + points), [*reasons, reason])

    for candidate in feedback.candidates:
        case_id = str(candidate.get("case_id", ""))
        if case_id:
            score, reasons = scored.get(case_id, (0.0, []))
            reason = f"matcher: {candidate.get('method', '')} {candidate.get('reason', '')}"
            scored[case_id] = (
                max(score, float(candidate.get("score", 0.0))),
                [*reasons, reason.strip()],
            )
    for field, weight in _NUMBER_WEIGHTS.items():
        number = getattr(feedback, field)
        if number:
            add(
                # by its search key: the feedback and the case's export may write the
                # same number with other brackets or widths (〔2024〕 / [2024] / （2024）)
                session.scalars(
                    select(CaseNumberRow.case_id)
                    .where(CaseNumberRow.number_key == number_key(number)).limit(limit)
                ).all(),
                weight,
                field,
            )
    if feedback.party_identifier:
        add(
            session.scalars(
                select(CasePartyRow.case_id)
                .where(CasePartyRow.identifier == feedback.party_identifier)
                .limit(limit)
            ).all(),
            0.35,
            "party_identifier",
        )
    if feedback.party_name:
        add(
            session.scalars(
                select(CasePartyRow.case_id)
                .where(CasePartyRow.name_key == name_key(feedback.party_name))
                .limit(limit)
            ).all(),
            0.15,
            "party_name",
        )
    best = sorted(scored.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    cases = {
        row.case_id: row
        for row in session.scalars(
            select(CaseRow).where(CaseRow.case_id.in_([case_id for case_id, _ in best]))
        ).all()
    }
    return [
        CandidateOut(
            case=CaseSummary.model_validate(cases[case_id]),
            score=round(score, 3),
            reasons=reasons,
        )
        for case_id, (score, reasons) in best
        if case_id in cases
    ]


def unmatched_detail(
    session: Session, unmatched_id: str, *, candidate_limit: int = 10
) -> UnmatchedDetail | None:
    """A feedback with its candidate cases, for the side-by-side matching screen."""
    feedback = session.get(UnmatchedRow, unmatched_id)
    if feedback is None:
        return None
    return UnmatchedDetail(
        feedback=UnmatchedOut.model_validate(feedback),
        content=feedback.feedback,
        candidates=_candidates(session, feedback, candidate_limit),
    )


def _timeliness(row: UnitStatsRow) -> float | None:
    if row.penalty_cases_entered == 0:
        return None
    on_time = row.penalty_cases_entered - row.penalty_cases_entered_late
    return round(max(on_time, 0) / row.penalty_cases_entered, 4)


def months_back(month: str, count: int) -> list[str]:
    """``count`` months ending with ``month`` (YYYY-MM), oldest first."""
    year, number = int(month[:4]), int(month[5:7])
    months: list[str] = []
    for _ in range(count):
        months.append(f"{year:04d}-{number:02d}")
        number -= 1
        if number == 0:
            year, number = year - 1, 12
    return list(reversed(months))


def china_month(now: datetime | None = None) -> str:
    """The current month in China (YYYY-MM): statistics are kept in China months."""
    return (now or utc_now()).astimezone(CHINA_TZ).strftime("%Y-%m")


def _empty_month(month: str) -> ScorecardMonth:
    return ScorecardMonth(
        month=month,
        penalty_cases_entered=0,
        penalty_cases_entered_late=0,
        referrals=0,
        receipts=0,
        filing_decisions=0,
        alerts_raised=0,
        feedback_rate=None,
        median_days_to_decision=None,
        arrest_requests=0,
        transfers_for_prosecution=0,
        non_filing_explanations=0,
        timeliness_rate=None,
    )


def unit_scorecard(
    session: Session,
    unit_code: str,
    *,
    until_month: str,
    months: int = 12,
    unit_name: str = "",
) -> Scorecard | None:
    """A unit's last ``months`` months up to ``until_month`` (YYYY-MM), oldest first.

    None when the view has heard of neither figures nor cases of that unit.
    """
    window = months_back(until_month, months)
    rows = {
        row.month: row
        for row in session.scalars(
            select(UnitStatsRow).where(
                UnitStatsRow.unit_code == unit_code, UnitStatsRow.month.in_(window)
            )
        ).all()
    }
    known = rows or session.scalars(
        select(UnitStatsRow.month).where(UnitStatsRow.unit_code == unit_code).limit(1)
    ).first() or session.scalars(
        select(CaseUnitRow.case_id).where(CaseUnitRow.unit_code == unit_code).limit(1)
    ).first() or session.scalars(
        select(AlertRow.alert_id).where(AlertRow.unit_code == unit_code).limit(1)
    ).first()
    if not known:
        return None
    total_cases = session.scalar(
        select(func.count()).select_from(CaseUnitRow).where(CaseUnitRow.unit_code == unit_code)
    )
    open_alerts = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(AlertRow.unit_code == unit_code, AlertRow.status.in_(OWED_ALERT_STATUSES))
    )
    overdue_alerts = session.scalar(
        select(func.count())
        .select_from(AlertRow)
        .where(
            AlertRow.unit_code == unit_code,
            AlertRow.status.in_(OWED_ALERT_STATUSES),
            AlertRow.is_overdue.is_(True),
        )
    )
    out: list[ScorecardMonth] = []
    for month in window:
        row = rows.get(month)
        if row is None:
            out.append(_empty_month(month))
            continue
        month_out = ScorecardMonth.model_validate(
            {
                **{
                    name: getattr(row, name)
                    for name in ScorecardMonth.model_fields
                    if name != "timeliness_rate"
                },
                "timeliness_rate": _timeliness(row),
            }
        )
        out.append(month_out)
    return Scorecard(
        unit_code=unit_code,
        unit_name=unit_name,
        months=out,
        total_cases=int(total_cases or 0),
        open_alerts=int(open_alerts or 0),
        overdue_alerts=int(overdue_alerts or 0),
        act_replies=act_reply_figures(session, unit_code),
        unenforced=unenforced_penalties(session, unit_code),
    )


def unenforced_penalties(session: Session, unit_code: str) -> list[UnenforcedPenalty]:
    """The unit's penalties still not enforced past their clock (执行到位): its open
    ENFORCEMENT_OVERDUE alerts with their case's decision number, date, amount and
    party, oldest due first. Only decisions whose export states the status are timed,
    so an agency that does not export it lists none (the docs say so)."""
    rows = session.execute(
        select(AlertRow.case_id, AlertRow.due_date, CaseRow.case_number, CaseRow.decided_on,
               CaseRow.amount_fen, CaseRow.party_summary)
        .join(CaseRow, CaseRow.case_id == AlertRow.case_id, isouter=True)
        .where(AlertRow.unit_code == unit_code,
               AlertRow.kind == AlertKind.ENFORCEMENT_OVERDUE.value,
               AlertRow.bus_status != "RESOLVED")
        .order_by(AlertRow.due_date, AlertRow.case_id)
    ).all()
    return [UnenforcedPenalty(case_id=case_id, case_number=number or "", decided_on=decided,
                              amount_fen=int(amount or 0), party_summary=parties or "",
                              due_date=due)
            for case_id, due, number, decided, amount, parties in rows]


def act_reply_figures(session: Session, unit_code: str) -> list[ActReplyFigures]:
    """Per supervision-act clock (``hub.view.acts.act_rule_titles``): the unit's replies
    still overdue, made late, and copied to a third body; rules with nothing to show are
    left out. Counted from the alerts the view holds (an act answered in time raises
    none, so it adds nothing here)."""
    titles = act_rule_titles()
    rows = session.execute(
        select(AlertRow.rule_id, AlertRow.bus_status, AlertRow.details).where(
            AlertRow.unit_code == unit_code, AlertRow.rule_id.in_(list(titles)))
    ).all()
    figures: dict[str, list[int]] = {}
    for rule_id, bus_status, details in rows:
        counts = figures.setdefault(str(rule_id), [0, 0, 0])
        data = details or {}
        if bus_status == "RESOLVED":
            if data.get("late") == "true":
                counts[1] += 1
        else:
            counts[0] += 1
        if data.get("copy_to_roles") and (bus_status != "RESOLVED" or data.get("late") == "true"):
            counts[2] += 1
    return [ActReplyFigures(rule_id=rule_id, title_zh=titles[rule_id][0],
                            title_en=titles[rule_id][1], overdue_open=c[0],
                            answered_late=c[1], copied=c[2])
            for rule_id, c in sorted(figures.items()) if any(c)]


def trend_end_month(session: Session, unit_code: str | None = None, *,
                    now: datetime | None = None) -> str:
    """The last month a trend shows: the latest month with case figures, else this month.

    Only months in which cases were entered, referred, received or decided count: the
    engine also counts alerts in the month it raises them, so a demo county whose exports
    end in 2025-12 has 2026 rows holding nothing but alert counts, and a trend ending
    there showed twelve empty months. A backfill of last year's exports shows last year.
    """
    current = china_month(now)
    activity = (
        UnitStatsRow.penalty_cases_entered
        + UnitStatsRow.referrals
        + UnitStatsRow.receipts
        + UnitStatsRow.filing_decisions
    )
    query = select(func.max(UnitStatsRow.month)).where(
        activity > 0, UnitStatsRow.month <= current
    )
    if unit_code is not None:
        query = query.where(UnitStatsRow.unit_code == unit_code)
    latest = session.scalar(query)
    return str(latest) if latest else current


def cases_per_unit(session: Session) -> dict[str, int]:
    """How many cases each unit is involved in (the unit list's first figure)."""
    return {
        str(code): int(count)
        for code, count in session.execute(
            select(CaseUnitRow.unit_code, func.count()).group_by(CaseUnitRow.unit_code)
        )
    }


def _trend(
    session: Session, until_month: str, months: int, unit_code: str | None = None
) -> list[TrendPoint]:
    """Monthly sums over every unit, or over one unit's figures only: a unit user must
    not read the county's totals (or another unit's) off its dashboard."""
    window = months_back(until_month, months)
    query = (
        select(
            UnitStatsRow.month,
            func.sum(UnitStatsRow.penalty_cases_entered).label("entered"),
            func.sum(UnitStatsRow.penalty_cases_entered_late).label("late"),
            func.sum(UnitStatsRow.referrals).label("referrals"),
            func.sum(UnitStatsRow.alerts_raised).label("alerts"),
        )
        .where(UnitStatsRow.month.in_(window))
        .group_by(UnitStatsRow.month)
    )
    if unit_code is not None:
        query = query.where(UnitStatsRow.unit_code == unit_code)
    sums = {row.month: row for row in session.execute(query).all()}
    points: list[TrendPoint] = []
    for month in window:
        row: Any = sums.get(month)
        points.append(
            TrendPoint(
                month=month,
                penalty_cases_entered=int(row.entered or 0) if row else 0,
                penalty_cases_entered_late=int(row.late or 0) if row else 0,
                referrals=int(row.referrals or 0) if row else 0,
                alerts_raised=int(row.alerts or 0) if row else 0,
            )
        )
    return points


def dashboard(session: Session, scope: Scope, *, now: datetime | None = None) -> Dashboard:
    """The landing page: case counts by stage, open work, twelve-month trend."""
    now = now or utc_now()
    if scope.unit_code is None:
        by_stage_query = select(CaseRow.stage, func.count()).group_by(CaseRow.stage)
    else:
        by_stage_query = (
            select(CaseUnitRow.stage, func.count())
            .where(CaseUnitRow.unit_code == scope.unit_code)
            .group_by(CaseUnitRow.stage)
        )
    by_stage = {str(stage): int(count) for stage, count in session.execute(by_stage_query)}
    active = _alert_query(scope, "active", None, False).subquery()
    open_alerts = session.scalar(select(func.count()).select_from(active)) or 0
    overdue = session.scalar(
        select(func.count()).select_from(
            _alert_query(scope, "active", None, False, overdue_only=True).subquery()
        )
    ) or 0
    leads = session.scalar(
        select(func.count()).select_from(
            _alert_query(scope, "active", None, True)
            .where(AlertRow.reviewed_at.is_(None))
            .subquery()
        )
    ) or 0
    unmatched = 0
    if scope.unit_code is None:
        unmatched = session.scalar(
            select(func.count()).select_from(UnmatchedRow).where(UnmatchedRow.status == "open")
        ) or 0
    recent = session.scalars(
        _alert_query(scope, "active", None, False)
        .order_by(AlertRow.raised_at.desc())
        .limit(10)
    ).all()
    return Dashboard(
        total_cases=sum(by_stage.values()),
        cases_by_stage=by_stage,
        open_alerts=int(open_alerts),
        overdue_alerts=int(overdue),
        open_leads=int(leads),
        open_unmatched=int(unmatched),
        trend=_trend(
            session,
            trend_end_month(session, scope.unit_code, now=now),
            12,
            scope.unit_code,
        ),
        recent_alerts=[alert_out(r, scope.unit_code) for r in recent],
    )
