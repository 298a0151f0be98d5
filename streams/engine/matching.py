"""Feedback matching in the engine: police and court feedback tied to the hub's case.

The decision is :class:`~streams.matching_logic.FeedbackMatcher`'s; this processor owns its
inputs and effects. The matcher's indexes must see every case, not one partition's, so they
live in :class:`~streams.engine.global_index.GlobalIndex`, which every worker replicates:

- confident: a FeedbackMatched event and the feedback re-keyed to the case (header
  ``lf_matched``) go to ``lf.case-events``;
- not yet confident on first sight: held in its case's document for
  :data:`MATCH_GRACE_S` (the referral is often read a moment later), then matched again;
- still unsure: FeedbackUnmatched with its candidates to ``lf.unmatched``, an
  UNMATCHED_FEEDBACK alert, and a parked entry; a later referral (:meth:`rematch_parked`)
  or a person's MANUAL_MATCH (:meth:`manual_match`) completes it.
"""


from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.models import (
    AlertStatus,
    CaseEvent,
    FeedbackMatched,
    ViewAction,
)
from hub.serde import AvroSerde
from streams._events import (
    MATCHED_HEADER,
    decode_stored,
    stored_form,
)
from streams.engine.case_document import CaseDocument
from streams.engine.global_index import GlobalIndex
from streams.engine.outputs import Outputs
from streams.engine.state import encode_value
from streams.engine.timers import DueIndex
from streams.matching import indexed_entries, police_index_key, unmatched_feedback_alert
from streams.matching_logic import manual_match_event, matched_event, unmatched_event
from streams.metrics import DUPLICATES
from streams.topics import TopicNames

__all__ = ["MATCH_GRACE_S", "MatchingProcessor"]

log = logging.getLogger(__name__)

#: How long feedback that matches nothing waits for its referral before a person is asked.
#: The referral and the feedback reach ``lf.case-events`` through different ingest topics
#: and partitions, so the feedback may be read first; it is held in its case's state
#: (durable, replayed after a crash) and matched again when the grace ends.
MATCH_GRACE_S = 5.0

class MatchingProcessor:
    """Matches feedback against the replicated referral index; parks what stays unsure."""

    def __init__(self, *, topics: TopicNames, hub_unit_code: str, serde: AvroSerde,
                 outputs: Outputs, index: GlobalIndex, held: DueIndex) -> None:
        self.topics = topics
        self.hub_unit_code = hub_unit_code
        self.serde = serde
        self.outputs = outputs
        self.index = index
        #: Held feedback (see :data:`MATCH_GRACE_S`) by partition and case.
        self.held = held
        #: Set when a batch indexed a referral the matcher did not know: parked feedback
        #: may match now (see :meth:`rematch_parked`).
        self.index_grew = False
        self._rematch_after = 0.0

    async def _write_index(self, topic: str, key: str, value: dict[str, Any]) -> None:
        self.index.apply_local(topic, key, value)
        await self.outputs.send(topic, key.encode("utf-8"), encode_value(value), [])

    async def index_referral(self, event: CaseEvent) -> None:
        """Index a referral or penalty decision for matching (global, idempotent)."""
        for key, value in indexed_entries(event):
            if not self.index.knows(key, value):
                await self._write_index(self.index.referrals_topic, key, value)
                self.index_grew = True

    async def rematch_parked(self) -> int:
        """Match parked feedback again once new referrals are known; returns how many.

        Police systems often report before the agency's referral export lands: feedback
        parked for a person is re-keyed, and its alert resolved, as soon as the referral
        makes the match confident — only what stays unsure waits for a person.
        """
        if not self.index_grew or time.monotonic() < self._rematch_after:
            return 0
        self.index_grew = False
        started = time.monotonic()
        try:
            return await self._rematch_parked()
        finally:
            # Every open entry is tried again, so a pass costs O(parked feedback); after
            # a pass the next waits 20× as long as it took (at most ~5% of the worker),
            # instead of running at every batch that indexed a referral. With little
            # parked, passes still run at (nearly) every batch.
            self._rematch_after = time.monotonic() + 20 * (time.monotonic() - started)

    async def _rematch_parked(self) -> int:
        keys_by_feedback: dict[str, list[str]] = {}
        open_entries: dict[str, dict[str, Any]] = {}
        for key, entry in self.index.pending.items():
            if entry.get("resolved"):
                continue
            feedback_id = str(entry["feedback"][0]) if entry.get("feedback") else key
            keys_by_feedback.setdefault(feedback_id, []).append(key)
            open_entries[feedback_id] = entry
        matched_count = 0
        for feedback_id, entry in open_entries.items():
            [feedback] = decode_stored([entry["feedback"]])
            result = self.index.matcher.match(feedback)
            if not result.confident or result.case_id is None:
                continue
            now = datetime.now(UTC)
            matched = matched_event(result, feedback, hub_unit_code=self.hub_unit_code,
                                    now=now)
            await self._rekey(feedback, matched)
            await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
                feedback, AlertStatus.RESOLVED, now, hub_unit_code=self.hub_unit_code,
                resolved_by=matched.event_id))
            resolved = _resolved_entry(result.case_id)
            for key in keys_by_feedback[feedback_id]:
                await self._write_index(self.index.pending_topic, key, resolved)
            matched_count += 1
        return matched_count

    async def _link(self, feedback: CaseEvent, case_id: str) -> None:
        number = getattr(feedback, "police_case_number", None)
        key = police_index_key(feedback.source_unit, number)
        value = {"unit": feedback.source_unit, "number": number, "case_id": case_id}
        if key and not self.index.knows(key, value):
            await self._write_index(self.index.referrals_topic, key, value)
            # Parked feedback quoting only this police case number (a court judgment read
            # before the police's decision was matched) can match now.
            self.index_grew = True

    async def _rekey(self, feedback: CaseEvent, matched: FeedbackMatched) -> None:
        await self.outputs.event(self.topics.case_events, matched)
        update: dict[str, object] = {"case_id": matched.case_id}
        referring_unit = self.index.matcher.referring_unit_of(matched.case_id)
        if referring_unit and "referring_unit_code" in type(feedback).model_fields and \
                not getattr(feedback, "referring_unit_code", None):
            update["referring_unit_code"] = referring_unit  # so routing can tell the agency
        copy = feedback.model_copy(update=update)
        serialized = await self.serde.serialize(copy)
        await self.outputs.send(self.topics.case_events, serialized.key, serialized.value,
                                [*serialized.headers, (MATCHED_HEADER, b"1")])
        await self._link(feedback, matched.case_id)

    async def match_feedback(self, feedback: CaseEvent,
                             document: CaseDocument | None = None) -> bool:
        """Tie police feedback to its case, or park it for a person.

        With ``document`` (first sight) feedback that matches nothing is held for
        :data:`MATCH_GRACE_S` instead; :meth:`retry_held` matches it again, finally.
        True when the feedback belongs to the case it is keyed by: the case then takes
        it even if the case's own first events are read after it.
        """
        if feedback.event_id in self.index.pending:
            DUPLICATES.labels("matching").inc()
            return False
        result = self.index.matcher.match(feedback)
        now = datetime.now(UTC)
        if not result.confident and document is not None:
            until = now + timedelta(seconds=MATCH_GRACE_S)
            document.hold(feedback, until)
            self.held.set(document.partition, document.case_id, document.held_until())
            return False
        if result.confident and result.case_id == feedback.case_id:
            await self._link(feedback, feedback.case_id)
            return True
        if result.confident:
            await self._rekey(feedback, matched_event(result, feedback,
                                                      hub_unit_code=self.hub_unit_code,
                                                      now=now))
            return False
        unmatched = unmatched_event(result, feedback, hub_unit_code=self.hub_unit_code,
                                    now=now)
        await self.outputs.event(self.topics.unmatched, unmatched)
        await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
            feedback, AlertStatus.RAISED, now, hub_unit_code=self.hub_unit_code,
            candidates=len(result.candidates)))
        entry = {"feedback": stored_form(feedback), "resolved": None}
        await self._write_index(self.index.pending_topic, feedback.event_id, entry)
        await self._write_index(self.index.pending_topic, unmatched.event_id, entry)
        return False

    async def manual_match(self, action: ViewAction) -> None:
        """A person's MANUAL_MATCH: re-key the parked feedback to the chosen case."""
        entry = self.index.pending.get(action.target)
        if entry is None or entry.get("resolved"):
            return
        [feedback] = decode_stored([entry["feedback"]])
        now = datetime.now(UTC)
        matched = manual_match_event(feedback, action, hub_unit_code=self.hub_unit_code,
                                     now=now)
        case_id = matched.case_id
        await self._rekey(feedback, matched)
        await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
            feedback, AlertStatus.RESOLVED, now, hub_unit_code=self.hub_unit_code,
            resolved_by=action.event_id))
        resolved = _resolved_entry(case_id)
        for key in {action.target, feedback.event_id}:
            await self._write_index(self.index.pending_topic, key, resolved)

    # -- the case processors -----------------------------------------------------------



def _resolved_entry(case_id: str) -> dict[str, Any]:
    """A parked-feedback entry once resolved: only that it was, and to which case.

    Readers of a resolved entry never look at its feedback (re-matching and manual
    matching skip it, matching only asks whether the id is known), and every worker
    keeps every entry in memory, so the stored event is not carried on.
    """
    return {"feedback": None, "resolved": case_id}
