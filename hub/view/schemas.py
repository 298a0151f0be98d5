"""Shapes of what the view's REST API returns and accepts (they make ``/openapi.json``).

Amounts travel as integer fen (分) like on the bus; the UI formats them as yuan. Instants
are ISO 8601 with an offset; dates are China dates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "FILLED",
    "ActAccepted",
    "ActReplyFigures",
    "ActRequest",
    "ActionAccepted",
    "AlertOut",
    "AlertPage",
    "AssignRequest",
    "CandidateOut",
    "CaseDetail",
    "CasePage",
    "CaseSummary",
    "CaseUnitOut",
    "Dashboard",
    "LoginRequest",
    "PartyOut",
    "ProsecutorAction",
    "ProsecutorActionRequest",
    "ResolveRequest",
    "Scorecard",
    "ScorecardMonth",
    "StatusOut",
    "TimelineEntry",
    "TokenOut",
    "TrendPoint",
    "UnmatchedDetail",
    "UnmatchedOut",
    "UnmatchedPage",
    "WhoAmI",
]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PartyOut(_Out):
    """A party (当事人) of a case."""

    name: str
    identifier: str
    kind: str


class CaseUnitOut(_Out):
    """A unit involved in a case and in which role (owner, police, procuratorate…)."""

    unit_code: str
    role: str


class CaseSummary(_Out):
    """One row of a case search."""

    case_id: str
    unit_code: str
    unit_name: str
    case_number: str
    stage: str
    violation_type: str
    title: str
    amount_fen: int
    decided_on: date
    last_event_at: datetime
    party_summary: str
    is_overdue: bool
    is_lead: bool


class CasePage(BaseModel):
    """A page of search results.

    ``total`` is exact up to the server's count limit; beyond it ``total_is_lower_bound``
    is true, because an exact count over a million cases costs more than the page.
    """

    items: list[CaseSummary]
    page: int
    page_size: int
    total: int
    total_is_lower_bound: bool


class TimelineEntry(_Out):
    """One step of a case's history, oldest first."""

    event_id: str
    event_type: str
    occurred_at: datetime
    recorded_at: datetime | None
    source_unit: str
    summary: str
    detail: dict[str, Any]


class AlertOut(_Out):
    """An alert (预警) and how it is being handled.

    ``status`` is the view's handling state: open, assigned, acknowledged or resolved.
    """

    alert_id: str
    case_id: str
    unit_code: str
    kind: str
    severity: str
    rule_id: str
    legal_source: str
    raised_at: datetime
    due_date: date | None
    message: str
    is_lead: bool
    is_overdue: bool
    bus_status: str
    status: str
    assigned_to: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_conclusion: str | None
    details: dict[str, Any]


class AlertPage(BaseModel):
    """A page of the alert queue."""

    items: list[AlertOut]
    page: int
    page_size: int
    total: int


class CaseDetail(BaseModel):
    """A case with its parties, units, timeline and alerts."""

    case: CaseSummary
    parties: list[PartyOut]
    units: list[CaseUnitOut]
    timeline: list[TimelineEntry]
    alerts: list[AlertOut]
    state: dict[str, Any]


class UnmatchedOut(_Out):
    """Feedback that no case was found for (待匹配反馈)."""

    unmatched_id: str
    arrived_case_id: str
    feedback_unit_code: str
    feedback_type: str
    received_at: datetime
    police_case_number: str
    referral_number: str
    agency_decision_number: str
    party_name: str
    party_identifier: str
    status: str
    resolved_case_id: str | None
    resolved_by: str | None
    resolved_at: datetime | None


class UnmatchedPage(BaseModel):
    """A page of the unmatched-feedback queue."""

    items: list[UnmatchedOut]
    page: int
    page_size: int
    total: int


class CandidateOut(BaseModel):
    """A case that may be the one a feedback is about, with why it was proposed.

    ``score`` is 0–1: the matcher's own score when it proposed the case, otherwise the
    view's estimate from the numbers and party details the feedback shares with it.
    """

    case: CaseSummary
    score: float
    reasons: list[str]


class UnmatchedDetail(BaseModel):
    """A feedback and its candidate cases, shown side by side."""

    feedback: UnmatchedOut
    content: dict[str, Any]
    candidates: list[CandidateOut]


class ScorecardMonth(_Out):
    """One unit's figures for one month."""

    month: str
    penalty_cases_entered: int
    penalty_cases_entered_late: int
    referrals: int
    receipts: int
    filing_decisions: int
    alerts_raised: int
    feedback_rate: float | None
    median_days_to_decision: float | None
    arrest_requests: int
    transfers_for_prosecution: int
    non_filing_explanations: int
    timeliness_rate: float | None = Field(
        description="Share of penalty cases entered within 3 working days; None if none."
    )


class ActReplyFigures(BaseModel):
    """How a unit answers one kind of supervision act (回复检察监督文书), from its clock's
    alerts: replies still overdue, replies made late, and how many of those the rule
    copied to a third body (the justice bureau, for recommendations)."""

    rule_id: str
    title_zh: str
    title_en: str
    overdue_open: int
    answered_late: int
    copied: int


class UnenforcedPenalty(BaseModel):
    """A penalty of the unit still not enforced past its clock (执行到位, rule
    ``penalty-not-enforced``): Jiashan found 435 in one county, so the list is per unit."""

    case_id: str
    case_number: str
    decided_on: date | None
    amount_fen: int
    party_summary: str
    due_date: date | None


class Scorecard(BaseModel):
    """A unit's scorecard (考核): its months, totals and open items."""

    unit_code: str
    unit_name: str
    months: list[ScorecardMonth]
    total_cases: int
    open_alerts: int
    overdue_alerts: int
    act_replies: list[ActReplyFigures] = Field(default_factory=list)
    unenforced: list[UnenforcedPenalty] = Field(default_factory=list)


class TrendPoint(BaseModel):
    """All units' figures for one month."""

    month: str
    penalty_cases_entered: int
    penalty_cases_entered_late: int
    referrals: int
    alerts_raised: int


class Dashboard(BaseModel):
    """The landing page's numbers."""

    total_cases: int
    cases_by_stage: dict[str, int]
    open_alerts: int
    overdue_alerts: int
    open_leads: int
    open_unmatched: int
    trend: list[TrendPoint]
    recent_alerts: list[AlertOut]


class ActionAccepted(BaseModel):
    """An action was handed to the bus; it shows once it comes back through it."""

    action_id: str
    status: Literal["submitted"] = "submitted"
    topic: str


#: Text a person must write (a lead's conclusion, an assignee): spaces alone are none. A
#: lead was closed with a conclusion of three spaces, and showed "审查结论：" and nothing.
FILLED = StringConstraints(strip_whitespace=True, min_length=1)


class AssignRequest(BaseModel):
    """Assign an alert to a person."""

    assignee: Annotated[str, FILLED] = Field(max_length=100)
    note: str = Field(default="", max_length=1000)


class ResolveRequest(BaseModel):
    """Resolve an unmatched feedback by naming the case it belongs to (manual match)."""

    case_id: str = Field(min_length=1, max_length=36)
    note: str = Field(default="", max_length=1000)


#: The procuratorial actions a prosecutor records from the view (ProsecutorialActionKind).
ProsecutorAction = Literal[
    "SUGGEST_REFERRAL",
    "REQUIRE_NON_FILING_REASONS",
    "ORDER_FILING",
    "ARREST_DECISION",
    "PROSECUTION_DECISION",
    "RECOMMENDATION",
    "OPINION",
    "EARLY_INTERVENTION",
    "REVERSE_REFERRAL",
    "CORRECTION_NOTICE",
    "URGE_PROSECUTION",
]


class ProsecutorActionRequest(BaseModel):
    """A prosecutor's action on a case (recommendation, filing supervision, …)."""

    action: ProsecutorAction
    note: str = Field(default="", max_length=2000)


class ActRequest(BaseModel):
    """A supervision act (检察监督文书) on a case, sent to the unit that must answer it:
    a ProsecutorialAction symbol, or ``ConsultationRequested`` / ``EarlyInterventionInvited``
    (an agency on its own case; ``document_number`` then is the consultation or invitation
    id, made up when empty)."""

    action: str = Field(min_length=1, max_length=80)
    target_unit_code: str = Field(min_length=18, max_length=18)
    content: str = Field(min_length=1, max_length=2000)
    document_number: str = Field(default="", max_length=200)
    reply_due_date: date | None = None


class ActAccepted(BaseModel):
    """An act queued for the bus: its event id, and the topic it goes to."""

    event_id: str
    action: str
    target_unit_code: str
    topic: str


class LoginRequest(BaseModel):
    """Credentials for an API token."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    """A bearer token for the REST API."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - OAuth2 token type, not a secret
    expires_at: datetime


class WhoAmI(BaseModel):
    """The logged-in user."""

    username: str
    role: str
    unit_code: str | None
    display_name: str


class StatusOut(BaseModel):
    """What operations staff see: the store, the consumer's progress, the outbox."""

    dialect: str
    consumer_running: bool
    offsets: dict[str, int]
    lag: dict[str, int]
    outbox_pending: int
    records_applied: int
    last_applied_at: datetime | None
    dead_letters: dict[str, int] = Field(
        default_factory=dict,
        description="Bus records the store refused (dead-lettered) or whose text had to be "
        "altered (sanitised), by outcome; details in the view_dead_letters table and the log.",
    )
