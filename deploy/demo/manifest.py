"""The demo manifest: what the generator wrote and which gaps it planted on purpose.

A person (or a test) checks the hub against it: every planted gap names the alert the hub
should raise, the ``case_id`` the hub derives for it (``hub.identity.case_id_for``), the
source file and row, and when the alert falls due. ``manifest.json`` is this model dumped
as JSON; load it back with ``DemoManifest.model_validate_json``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ALERT_KINDS",
    "ActTally",
    "AlertName",
    "DemoManifest",
    "ExportFile",
    "FeedbackExpectation",
    "Gap",
    "PendingClock",
    "SourceRef",
]

AlertName = Literal[
    "entry_late",
    "receipt_missing",
    "filing_decision_overdue",
    "referral_not_filed_6_months",
    "filed_not_concluded_1_year",
    "recommendation_unanswered",
    "consultation_unanswered",
    "non_filing_reasons_overdue",
    "ordered_filing_overdue",
    "early_intervention_unattended",
    "penalty_not_enforced",
    "lead_feedback_overdue",
    "suspected_non_referral",
    "early_intervention_candidate",
    "feedback_unmatched",
    "missing_entry",
    "dead_letter",
]

#: The hub's ``hub.models.AlertKind`` symbol of each alert name (dead letters are not
#: alerts: the record goes to ``lf.dlq.<connector>``).
ALERT_KINDS: dict[str, str | None] = {
    "entry_late": "LATE_ENTRY",
    "receipt_missing": "ACKNOWLEDGEMENT_OVERDUE",
    "filing_decision_overdue": "FILING_DECISION_OVERDUE",
    "referral_not_filed_6_months": "REFERRAL_NOT_FILED_LONG",
    "filed_not_concluded_1_year": "FILED_NOT_CONCLUDED",
    "recommendation_unanswered": "REPLY_OVERDUE",
    "consultation_unanswered": "CONSULTATION_OVERDUE",
    "non_filing_reasons_overdue": "NON_FILING_REASONS_OVERDUE",
    "ordered_filing_overdue": "ORDERED_FILING_OVERDUE",
    "early_intervention_unattended": "EARLY_INTERVENTION_OVERDUE",
    "penalty_not_enforced": "ENFORCEMENT_OVERDUE",
    "lead_feedback_overdue": "REPLY_OVERDUE",
    "suspected_non_referral": "SUSPECTED_NON_REFERRAL",
    "early_intervention_candidate": "EARLY_INTERVENTION_CANDIDATE",
    "feedback_unmatched": "UNMATCHED_FEEDBACK",
    "missing_entry": "MISSING_ENTRY",
    "dead_letter": None,
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceRef(_Model):
    """Where a record is: a file path relative to the output directory and its position.

    ``row`` counts data records from 1 (the header is not a record); ``line`` is the
    physical CSV line or XLSX sheet row (the header is line 1); ``cursor`` is a police
    feedback record's cursor, ``outbox_id`` a procuratorate outbox row id.
    """

    path: str
    row: int | None = None
    line: int | None = None
    cursor: int | None = None
    outbox_id: int | None = None


class Gap(_Model):
    """One planted gap and the alert (or dead letter) the hub must produce for it."""

    id: str = Field(description="Stable id within one manifest, e.g. gap-0042.")
    kind: str = Field(description="What was planted, e.g. late_decision_30_days, bad_row.")
    alert: AlertName
    alert_kind: str | None = Field(description="hub.models.AlertKind symbol, None for DLQ.")
    unit_code: str = Field(description="The unit whose record carries the gap.")
    responsible_unit_code: str | None = Field(
        default=None,
        description="The unit that must act (e.g. the police unit that owes a "
        "receipt); None when it is the same unit.",
    )
    case_id: str | None = Field(
        default=None,
        description="case_id the hub derives: case_id_for(agency code, "
        "decision number, else agency case number); for unmatched feedback the case the "
        "record arrives under (the quoted referral's, else case_id_for(police unit code, "
        "police case number)), which the hub's UNMATCHED_FEEDBACK alert carries.",
    )
    source: SourceRef
    due: date | None = Field(default=None, description="When the alert falls due.")
    resolved_on: date | None = Field(
        default=None,
        description="When the awaited record arrives in the exports (the alert "
        "resolves then, late); None: still open at ``as_of``.",
    )
    field: str | None = Field(default=None, description="Bad rows: the offending field.")
    error: str | None = Field(default=None, description="Bad rows: what is wrong.")
    detail: dict[str, str] = Field(default_factory=dict)


class PendingClock(_Model):
    """A clock that is open but not yet due at ``as_of`` (no alert expected yet).

    A hub whose clock runs past ``due`` before the awaited record arrives raises the alert;
    listed so a check run on a later "now" can expect it.
    """

    alert: AlertName | None = Field(
        description="Alert name when it is one of the demo's named alerts, else None."
    )
    alert_kind: str = Field(description="hub.models.AlertKind symbol, e.g. HANDOVER_OVERDUE.")
    case_id: str
    unit_code: str
    due: date
    detail: dict[str, str] = Field(default_factory=dict)


class FeedbackExpectation(_Model):
    """What the feedback matcher should do with one police feedback record."""

    police_unit_code: str
    cursor: int
    record_type: str
    expected_case_id: str | None = Field(
        description="case_id the hub must match it to by itself (hub/rules/matching.yaml in "
        "force); None when it must end unmatched (parked for a person)."
    )
    true_case_id: str | None = Field(
        description="The case it really belongs to (what a person resolving it should pick); "
        "None for records that belong to no case."
    )
    basis: Literal[
        "referral_number",
        "police_case_number",
        "party_offence_dates",
        "ambiguous",
        "unknown_referral",
        "bad_record",
    ] = Field(
        description="How the hub (hub/rules/matching.yaml, the matcher's order) gets to its "
        "case: a police case number linked by an earlier match, the referral number, party "
        "identifiers; or why it cannot."
    )


class ExportFile(_Model):
    """One file written, with the facts a connector config needs."""

    path: str
    unit_code: str
    kind: Literal[
        "penalties",
        "referrals",
        "handovers",
        "reconsiderations",
        "replies",
        "invitations",
        "consultations",
        "open-cases",
        "police_feedback",
        "procuratorate_outbox",
        "court_judgment",
    ]
    format: Literal["csv", "xlsx", "json", "sqlite", "xml"]
    encoding: str | None = None
    date_format: str | None = None
    header_variant: str | None = None
    records: int
    bad_records: int
    sha256: str


class ActTally(_Model):
    """What the generator planted of one supervision act (or request) that must be
    answered: how many were sent, and how each ended by ``as_of``.

    ``planted = in_time + late + unanswered + pending``; ``late`` answers raise the
    rule's alert and resolve it (gaps with ``resolved_on``), ``unanswered`` ones are gaps
    due by ``as_of``, ``pending`` ones are clocks still running at ``as_of`` (their
    answer falls after the export; ``pending_clocks`` lists them).
    """

    rule_id: str = Field(description="The hub/rules/deadlines.yaml rule timing the answer.")
    alert_kind: str
    planted: int = 0
    in_time: int = 0
    late: int = 0
    unanswered: int = 0
    pending: int = 0
    case_ids: list[str] = Field(
        default_factory=list,
        description="For an act that stops another clock rather than starting one (the "
        "police's cancellation 撤案 stops filed-case-not-concluded-1-year): the cases it "
        "was planted on; any open alert of the rule on them is extra.")
    inbox: str = Field(
        default="",
        description="For an act with no reply clock (the agency's objection to a 撤案): "
        "the unit whose inbox (lf.inbox.<unit>) must carry it; `demo check` counts the "
        "case_ids whose act of `event_type` reached it.")
    event_type: str = Field(default="", description="The act's event type (with `inbox`).")


class DemoManifest(_Model):
    """Everything a check of the hub's output against the demo exports needs."""

    generator: str = "deploy.demo.generate"
    manifest_version: int = 1
    seed: int
    penalty_cases: int
    start: date
    end: date
    as_of: date = Field(description="The exports are taken at the end of this day.")
    county: dict[str, str]
    violation_types_source: str
    calendar_warnings: list[str]
    case_id_rule: str
    files: list[ExportFile]
    counts: dict[str, dict[str, int]] = Field(
        description="Per unit code: records written per kind (bad rows included)."
    )
    totals: dict[str, int]
    gaps: list[Gap]
    pending_clocks: list[PendingClock]
    feedback: list[FeedbackExpectation]
    acts: dict[str, ActTally] = Field(
        default_factory=dict,
        description="Per act (ProsecutorialAction.action, or the request's event type): "
        "what was planted and how it was answered; issue #13.",
    )
    not_planted: list[str] = Field(
        default_factory=list,
        description="Gap kinds that did not fit the chosen date window or size.",
    )

    def gaps_for(self, alert: str) -> list[Gap]:
        """The planted gaps that must raise ``alert``."""
        return [gap for gap in self.gaps if gap.alert == alert]
