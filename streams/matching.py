"""Matching: police feedback quoting only the police's own numbers, tied to its referral.

:class:`~streams.matching_logic.FeedbackMatcher` decides. Its indexes (referrals and
penalty decisions by number and party, police case numbers already linked) must see
every case, not one partition's, so they live in a faust *global* table: each worker
holds all of it, keeps an in-memory matcher loaded from it once and fed by every
changelog record afterwards. Feedback still waiting for a person is in a second global
table, because the person's decision (a ViewAction on ``lf.view-actions``) is keyed by
the chosen case, not by the feedback.

- confident: a FeedbackMatched event and the feedback re-keyed to the case (header
  ``lf_matched``) go to ``lf.case-events``;
- unsure: FeedbackUnmatched with its candidates to ``lf.unmatched`` and an
  UNMATCHED_FEEDBACK alert; a MANUAL_MATCH view action completes it later.

Caveat of the global table: a feedback processed on one worker a moment after its
referral was indexed on another may not see it yet and goes to a person instead.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.models import (
    Alert,
    AlertKind,
    AlertStatus,
    CaseEvent,
    FeedbackMatched,
    ViewAction,
    ViewActionKind,
)
from streams._alerts import alert_id_for, build_alert
from streams.matching_logic import (
    PROCESSOR,
    FeedbackMatcher,
    MatchResult,
    ReferralRecord,
    manual_match_event,
    matched_event,
    normalise_document_number,
    unmatched_event,
)
from streams.metrics import DUPLICATES
from streams.safety import RawRecord

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["PROCESSOR", "UNMATCHED_RULE_ID", "indexed_entries", "police_index_key",
           "register", "unmatched_feedback_alert"]

log = logging.getLogger(__name__)

UNMATCHED_RULE_ID = "matching-unmatched-feedback"
_LEGAL_SOURCE = "State Council Decree 310 (rev. 2020) Art. 8 (police notify their decision)"


def _record_key(record: ReferralRecord) -> str:
    return "r|" + "|".join([record.case_id, record.referral_number or "",
                            normalise_document_number(record.decision_number) or ""])


def _police_key(unit: str, number: str | None) -> str | None:
    normalised = normalise_document_number(number)
    return f"p|{unit}|{normalised}" if normalised else None


class _Index:
    """The in-memory matcher, rebuilt from the global table on first use."""

    def __init__(self, runtime: Runtime) -> None:
        self.matcher = FeedbackMatcher(runtime.rules.matching)
        self.loaded = False

    def apply(self, key: str, value: Any) -> None:
        if not isinstance(value, dict):
            return
        if key.startswith("r|"):
            self.matcher.add(ReferralRecord.from_dict(value))
        elif key.startswith("p|"):
            self.matcher.link_police_case(value["unit"], value["number"], value["case_id"])


def register(runtime: Runtime) -> None:
    """Add the matching agent and its two global tables."""
    from streams._events import FEEDBACK_TYPES, MATCHED_HEADER, decode_stored, stored_form

    topics = runtime.topics
    hub_unit = runtime.settings.hub_unit_code
    index = _Index(runtime)

    async def on_changelog(event: Any) -> None:
        message = event.message
        if message.key is None or message.value is None:
            return
        index.apply(json.loads(message.key), json.loads(message.value))

    referrals = runtime.app.GlobalTable(
        "matching-referrals", default=None,
        schema=_json_schema(), partitions=runtime.settings.partitions,
        on_changelog_event=on_changelog,
    )
    pending = runtime.app.GlobalTable(
        "matching-pending", default=None,
        schema=_json_schema(), partitions=runtime.settings.partitions,
    )

    def matcher() -> FeedbackMatcher:
        if not index.loaded:
            for key, value in referrals.items():
                index.apply(key, value)
            index.loaded = True
            log.info("matching: index loaded with %d referrals", len(index.matcher))
        return index.matcher

    def remember(key: str, value: dict[str, Any]) -> None:
        if referrals.get(key) != value:
            referrals[key] = value
        index.apply(key, value)

    def link(feedback: CaseEvent, case_id: str) -> None:
        number = getattr(feedback, "police_case_number", None)
        key = _police_key(feedback.source_unit, number)
        if key:
            remember(key, {"unit": feedback.source_unit, "number": number, "case_id": case_id})

    async def rekey(feedback: CaseEvent, matched: FeedbackMatched) -> None:
        await runtime.send_event(topics.case_events, matched)
        copy = feedback.model_copy(update={"case_id": matched.case_id})
        serialized = await runtime.serde.serialize(copy)
        await runtime.produce(topics.case_events, serialized.key, serialized.value,
                              [*serialized.headers, (MATCHED_HEADER, b"1")])
        link(feedback, matched.case_id)

    def unmatched_alert(feedback: CaseEvent, status: AlertStatus, now: datetime,
                        resolved_by: str | None = None, candidates: int = 0) -> Any:
        return unmatched_feedback_alert(feedback, status, now, hub_unit_code=hub_unit,
                                        resolved_by=resolved_by, candidates=candidates)

    async def on_feedback(feedback: CaseEvent) -> None:
        if pending.get(feedback.event_id) is not None:
            DUPLICATES.labels(PROCESSOR).inc()
            return
        result: MatchResult = matcher().match(feedback)
        now = datetime.now(UTC)
        if result.confident and result.case_id == feedback.case_id:
            link(feedback, feedback.case_id)
            return
        if result.confident:
            await rekey(feedback, matched_event(result, feedback, hub_unit_code=hub_unit,
                                                now=now))
            return
        unmatched = unmatched_event(result, feedback, hub_unit_code=hub_unit, now=now)
        await runtime.send_event(topics.unmatched, unmatched)
        await runtime.send_event(topics.alerts, unmatched_alert(
            feedback, AlertStatus.RAISED, now, candidates=len(result.candidates)))
        entry = {"feedback": stored_form(feedback), "resolved": None}
        pending[feedback.event_id] = entry
        pending[unmatched.event_id] = entry

    async def on_manual_match(action: ViewAction) -> None:
        entry = pending.get(action.target)
        if entry is None or entry.get("resolved"):
            return
        [feedback] = decode_stored([entry["feedback"]])
        now = datetime.now(UTC)
        matched = manual_match_event(feedback, action, hub_unit_code=hub_unit, now=now)
        case_id = matched.case_id
        await rekey(feedback, matched)
        await runtime.send_event(topics.alerts, unmatched_alert(
            feedback, AlertStatus.RESOLVED, now, resolved_by=action.event_id))
        resolved = {**entry, "resolved": case_id}
        for key in {action.target, feedback.event_id}:
            pending[key] = resolved

    async def handle(record: RawRecord) -> None:
        event = await runtime.decode(record)
        if isinstance(event, ViewAction):
            if event.action_kind is ViewActionKind.MANUAL_MATCH:
                await on_manual_match(event)
            return
        indexed = matcher()
        if event.avro_name.endswith((".CaseReferred", ".PenaltyCaseRecorded")):
            before = len(indexed)
            if indexed.add_event(event) and len(indexed) != before:
                for key, value in indexed_entries(event):
                    remember(key, value)
            return
        if isinstance(event, FEEDBACK_TYPES) and not runtime.is_rekeyed(record):
            await on_feedback(event)

    runtime.add_agent(PROCESSOR, [topics.case_events, topics.view_actions], handle)


def indexed_entries(event: CaseEvent) -> list[tuple[str, dict[str, Any]]]:
    """Global-table entries of a referral or penalty event."""
    from hub.models import CaseReferred, PenaltyCaseRecorded

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
    return _police_key(unit, number)


def _json_schema() -> Any:
    import faust

    return faust.Schema(key_serializer="json", value_serializer="json")
