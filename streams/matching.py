"""Matching helpers the engine shares: index entries of referrals and the unmatched alert.

:class:`~streams.matching_logic.FeedbackMatcher` decides. Its indexes (referrals and
penalty decisions by number and party, police case numbers already linked) must see every
case, not one partition's, so the engine keeps them in a store every worker replicates
(:mod:`streams.engine.global_index`), fed by the entries built here:

- ``r|<case>|<referral>|<decision>``: a referral or penalty decision (:func:`indexed_entries`);
- ``p|<police unit>|<police case number>``: a police case number linked to a case
  (:func:`police_index_key`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.models import Alert, AlertKind, AlertStatus, CaseEvent, CaseReferred, PenaltyCaseRecorded
from streams._alerts import alert_id_for, build_alert
from streams.match_index import ReferralRecord, normalise_document_number
from streams.matching_logic import PROCESSOR

__all__ = ["UNMATCHED_RULE_ID", "indexed_entries", "police_index_key",
           "unmatched_feedback_alert"]

UNMATCHED_RULE_ID = "matching-unmatched-feedback"
_LEGAL_SOURCE = "State Council Decree 310 (rev. 2020) Art. 8 (police notify their decision)"


def _record_key(record: ReferralRecord) -> str:
    return "r|" + "|".join([record.case_id, record.referral_number or "",
                            normalise_document_number(record.decision_number) or ""])


def indexed_entries(event: CaseEvent) -> list[tuple[str, dict[str, Any]]]:
    """Global-table entries of a referral or penalty event."""
    if isinstance(event, CaseReferred):
        record = ReferralRecord.from_referral(event)
    elif isinstance(event, PenaltyCaseRecorded):
        record = ReferralRecord.from_penalty(event)
    else:
        return []
    return [(_record_key(record), record.to_dict())]


def unmatched_feedback_alert(feedback: CaseEvent, status: AlertStatus, now: datetime, *,
                             hub_unit_code: str, resolved_by: str | None = None,
                             candidates: int = 0) -> Alert:
    """The UNMATCHED_FEEDBACK alert of parked feedback (raised, or resolved by a person)."""
    return build_alert(
        alert_id=alert_id_for(feedback.case_id, UNMATCHED_RULE_ID, feedback.event_id),
        case_id=feedback.case_id, kind=AlertKind.UNMATCHED_FEEDBACK, severity="WARNING",
        status=status, hub_unit_code=hub_unit_code, responsible_unit_code=hub_unit_code,
        rule_id=UNMATCHED_RULE_ID, legal_source=_LEGAL_SOURCE,
        occurred_at=feedback.occurred_at, recorded_at=now, processor=PROCESSOR,
        message=("反馈未匹配 / feedback matched by hand" if resolved_by else
                 f"反馈未匹配 / feedback not matched ({candidates} candidates)"),
        trigger_event_id=feedback.event_id, resolved_by_event_id=resolved_by,
    )


def police_index_key(unit: str, number: str | None) -> str | None:
    """Index key linking a police unit's case number to a case (None without a number)."""
    normalised = normalise_document_number(number)
    return f"p|{unit}|{normalised}" if normalised else None
