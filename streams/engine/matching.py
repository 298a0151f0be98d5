"""Feedback matching in the engine: police and court feedback tied to the hub's case.

The decision is :class:`~streams.matching_logic.FeedbackMatcher`'s; this processor owns its
inputs and effects. The matcher's indexes must see every case, not one partition's, so they
live in :class:`~streams.engine.global_index.GlobalIndex`, which every worker replicates:

- confident: a FeedbackMatched event goes to ``lf.case-events`` and the feedback re-keyed
  to the case (header ``lf_matched``) to the case's task (``lf.streams.case-intake``),
  which checks that its sender may add it to the case before publishing it there;
- not yet confident on first sight: held in its case's document for
  :data:`MATCH_GRACE_S` (the referral is often read a moment later), then matched again;
- still unsure: FeedbackUnmatched with its candidates to ``lf.unmatched``, an
  UNMATCHED_FEEDBACK alert, and a parked entry; a later referral (:meth:`rematch_parked`)
  or a person's MANUAL_MATCH (:meth:`manual_match`) completes it.

A match by party identifier holds only while the party has one referral in the date
window, and a referral read later can change that (a backfill reads exports in any
order). Such matches, and those made later through the police case number they linked,
are kept for review; when a new referral names the party, the match is judged again
(:meth:`MatchingProcessor.reconsider`) and, if it no longer holds, withdrawn by an event
(FeedbackMatchWithdrawn: the feedback leaves the case, whose clocks open again) and the
feedback is matched afresh or goes to a person.
"""


from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.models import (
    AlertStatus,
    CaseEvent,
    FeedbackMatched,
    MatchMethod,
    ViewAction,
)
from hub.serde import AvroSerde, SerializedEvent
from streams._alerts import uuid_for
from streams._events import (
    MATCHED_HEADER,
    stored_form,
)
from streams.engine.case_document import CaseDocument
from streams.engine.global_index import REVIEW_PREFIX, GlobalIndex
from streams.engine.outputs import Outputs
from streams.engine.state import encode_value
from streams.engine.stored_events import decode_tolerant
from streams.engine.timers import DueIndex
from streams.match_index import normalise_document_number
from streams.matching import indexed_entries, police_index_key, unmatched_feedback_alert
from streams.matching_logic import (
    MatchResult,
    feedback_identifiers,
    manual_match_event,
    matched_event,
    rejoined_event,
    unmatched_event,
    withdrawn_event,
)
from streams.metrics import DUPLICATES
from streams.topics import TopicNames

__all__ = ["MATCH_GRACE_S", "MatchingProcessor", "Rekeyed"]

log = logging.getLogger(__name__)

#: How long feedback that matches nothing waits for its referral before a person is asked.
#: The referral and the feedback reach ``lf.case-events`` through different ingest topics
#: and partitions, so the feedback may be read first; it is held in its case's state
#: (durable, replayed after a crash) and matched again when the grace ends.
MATCH_GRACE_S = 5.0

#: Feedback re-keyed to its case, as sent to ``lf.case-events``: the link event and the
#: feedback's copy, each with the serialized record (key, value, headers) it went out as.
Rekeyed = tuple[FeedbackMatched, SerializedEvent, CaseEvent, SerializedEvent]

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
        #: Party identifiers of the referrals indexed since the last review pass.
        self._new_identifiers: set[str] = set()

    async def _write_index(self, topic: str, key: str, value: dict[str, Any]) -> None:
        self.index.apply_local(topic, key, value)
        await self.outputs.send(topic, key.encode("utf-8"), encode_value(value), [])

    async def index_referral(self, event: CaseEvent) -> None:
        """Index a referral or penalty decision for matching (global, idempotent)."""
        for key, value in indexed_entries(event):
            # Every referral's parties, known or not: the batch that indexed a referral
            # may have died before its reconsider ran, and read again it is known.
            self._new_identifiers.update(value.get("identifiers") or ())
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
        except Exception:
            self.index_grew = True  # tried again at a later pass
            raise
        finally:
            # Every open entry is tried again, so a pass costs O(parked feedback); after
            # a pass the next waits 20× as long as it took (at most ~5% of the worker),
            # instead of running at every batch that indexed a referral. With little
            # parked, passes still run at (nearly) every batch.
            self._rematch_after = time.monotonic() + 20 * (time.monotonic() - started)

    async def rematch_quoting(self, referral: CaseEvent, rekeyed: list[Rekeyed]) -> int:
        """Match, now, the parked feedback that quotes ``referral``'s number; returns how
        many matched, their re-keyed records appended to ``rekeyed``.

        Feedback read before its referral waited out its grace and was parked; the
        throttled pass (:meth:`rematch_parked`) found it only later, and the re-keyed
        copy reached the case a batch or more after the referral. Meanwhile the batch
        evaluated the case without the police's decision and raised "filing decision
        overdue", to resolve it as done in time a moment later (~220 such alerts in a
        demo run). The caller folds ``rekeyed`` into the referral's case in the same
        batch (:meth:`~streams.engine.case_records.CaseRecords.join_rekeyed`).
        """
        number = getattr(referral, "referral_number", None)
        waiting = self.index.pending_by_referral.get(number) if number else None
        if not waiting:
            return 0
        pending = self.index.pending
        return await self._rematch_parked([(key, pending[key]) for key in sorted(waiting)],
                                          rekeyed=rekeyed)

    async def _rematch_parked(self, entries: Iterable[tuple[str, dict[str, Any]]] | None = None,
                              *, rekeyed: list[Rekeyed] | None = None) -> int:
        """Match the open parked-feedback ``entries`` again (all of them by default)."""
        keys_by_feedback: dict[str, list[str]] = {}
        open_entries: dict[str, dict[str, Any]] = {}
        for key, entry in (self.index.pending.items() if entries is None else entries):
            if entry.get("resolved") or entry.get("refused"):
                continue  # settled, or refused by the case it matches (a person decides)
            feedback_id = str(entry["feedback"][0]) if entry.get("feedback") else key
            keys_by_feedback.setdefault(feedback_id, []).append(key)
            open_entries[feedback_id] = entry
        matched_count = 0
        for feedback_id, entry in open_entries.items():
            feedback = _stored_feedback(entry, feedback_id)
            if feedback is None:
                continue
            result = self.index.matcher.match(feedback)
            if not result.confident or result.case_id is None:
                continue
            now = datetime.now(UTC)
            matched = matched_event(result, feedback, hub_unit_code=self.hub_unit_code,
                                    now=now)
            sent = await self._rekey(feedback, matched)
            if rekeyed is not None:
                rekeyed.append(sent)
            await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
                feedback, AlertStatus.RESOLVED, now, hub_unit_code=self.hub_unit_code,
                resolved_by=matched.event_id))
            resolved = _resolved_entry(result.case_id)
            for key in keys_by_feedback[feedback_id]:
                await self._write_index(self.index.pending_topic, key, resolved)
            matched_count += 1
        return matched_count

    async def reconsider(self) -> int:
        """Judge again the identifier matches of parties the batch's referrals name;
        returns how many were withdrawn.

        Runs in every batch that indexed a referral, on the worker that owns it, before
        the batch's offsets are committed: a worker that dies first leaves the batch to
        be read again, and its reconsider with it. Finding the matches is a few lookups
        (:class:`~streams.engine.reviews.ReviewEntries`); judging one again that still
        holds changes nothing, and a withdrawal's event id depends on the feedback and
        the case only, so a second judgement (a replay, another worker) adds nothing.
        """
        identifiers, self._new_identifiers = self._new_identifiers, set()
        if not identifiers:
            return 0
        withdrawn = 0
        try:
            for key, entry in self.index.reviews.identifier_matches(identifiers):
                if self.index.reviews.get(key) != entry:
                    continue  # withdrawn with an earlier one's chain in this pass
                feedback = _stored_feedback(entry, key)
                if feedback is None:
                    continue
                case_id = str(entry["resolved"])
                result = self.index.matcher.reconsider(feedback)
                if result.confident and result.case_id == case_id:
                    continue
                await self._withdraw(case_id, key, entry, result)
                withdrawn += 1
        except Exception:
            self._new_identifiers |= identifiers  # judged again at the next batch
            raise
        return withdrawn

    async def _withdraw(self, case_id: str, key: str, entry: dict[str, Any],
                        result: MatchResult) -> None:
        """Take the feedback of a match that no longer holds out of ``case_id``, with
        every feedback matched since through the police case number it linked; then
        match each afresh (or park it for a person)."""
        number = entry.get("police_number")
        chain = [(key, entry)] + (self.index.reviews.naming(number, case_id, "link")
                                  if number else [])
        now = datetime.now(UTC)
        withdrawn: list[CaseEvent] = []
        for review_key, review in chain:
            feedback = _stored_feedback(review, review_key)
            if feedback is None:
                continue
            method = (MatchMethod.PARTY_IDENTIFIER if review["review"] == "identifier"
                      else MatchMethod.CASE_ID)
            await self.outputs.event(self.topics.case_events, withdrawn_event(
                feedback, case_id, method, result, hub_unit_code=self.hub_unit_code,
                now=now))
            await self._close_review(review_key, case_id)
            withdrawn.append(feedback)
        unit = entry.get("police_unit")
        if unit and number:
            await self._unlink_number(str(unit), number, case_id)
        for feedback in withdrawn:
            await self._decide(feedback, self.index.matcher.match(feedback), now,
                               withdrawn_from=case_id)

    async def refused(self, feedback: CaseEvent, case_id: str, *, keep_link: bool) -> None:
        """Undo the match of feedback whose re-keyed copy ``case_id`` refused: the
        matcher ties feedback by the numbers it quotes, and only the case's task knows
        whether its sender may add it to the case (``entitlements.yaml``).

        A FeedbackMatchWithdrawn takes the match out of the case (its police case
        number and timeline entry; the withdrawal stays on the timeline), and the police
        case number the match linked to the case is unlinked (:meth:`unlink`). The
        feedback is not matched again by itself (it would match the same case): it waits
        in ``lf.dlq.streams``, from which a replay brings it back once its sender is
        entitled. Parked before, its entry opens again for a person (the re-match passes
        leave it alone), who may match it by hand to another case.
        """
        now = datetime.now(UTC)
        await self.outputs.event(self.topics.case_events, withdrawn_event(
            feedback, case_id, MatchMethod.UNKNOWN, None, hub_unit_code=self.hub_unit_code,
            now=now))
        await self.unlink(feedback, case_id, keep_link=keep_link)
        if self.index.parked(feedback.event_id) is not None:
            await self._write_index(self.index.pending_topic, feedback.event_id, {
                "feedback": stored_form(feedback), "resolved": None, "refused": case_id})

    async def unlink(self, feedback: CaseEvent, case_id: str, *, keep_link: bool) -> None:
        """Forget what matching ``feedback`` to ``case_id`` left in the index, the case
        having refused it: its review entry, and the link of its police case number to
        the case unless ``keep_link`` (another of the case's events carries the number).
        """
        review_key = REVIEW_PREFIX + feedback.event_id
        if self.index.reviews.get(review_key) is not None:
            await self._close_review(review_key, case_id)
        if keep_link:
            return
        number = getattr(feedback, "police_case_number", None)
        key = police_index_key(feedback.source_unit, number)
        if key and number and self.index.knows(key, {
                "unit": feedback.source_unit, "number": number, "case_id": case_id}):
            await self._unlink_number(feedback.source_unit, number, case_id)

    async def rejoined(self, feedback: CaseEvent, case_id: str,
                       matched: FeedbackMatched | None) -> None:
        """Put back what refusing ``feedback`` undid, ``case_id`` having taken it since
        (a copy replayed from the dead letters, its sender entitled by then): the link of
        its police case number to the case; for the matcher's copy, the match
        (``matched``, the case's record of it) again under its own id, so the view
        closes the queue item the withdrawal opened; and a parked entry this case
        refused is settled to it. Not kept for review again: a person replayed it.

        Matched by hand to another case since (the refusal opened the item again for a
        person), the feedback's match stands there: nothing is put back here, and its
        police number keeps leading to that case.
        """
        parked = self.index.parked(feedback.event_id)
        elsewhere = self.matched_elsewhere(feedback, case_id)
        if elsewhere is not None:
            log.warning("feedback %s joined case %s on replay, but a person matched it to "
                        "case %s: that match stands (the police number leads there)",
                        feedback.event_id, case_id, elsewhere)
            return
        if matched is not None:
            await self.outputs.event(self.topics.case_events,
                                     rejoined_event(matched, now=datetime.now(UTC)))
        linked = self.index.matcher.linked_case(
            feedback.source_unit, getattr(feedback, "police_case_number", None))
        if linked in (None, case_id):  # not taken from a case it leads to now
            await self._link(feedback, case_id)
        if parked is not None and parked.get("refused") == case_id:
            await self._write_index(self.index.pending_topic, feedback.event_id,
                                    _resolved_entry(case_id))

    def matched_elsewhere(self, feedback: CaseEvent, case_id: str) -> str | None:
        """The case a person matched ``feedback`` to, if not ``case_id`` (its refusal by
        ``case_id`` opened its parked entry again for a person)."""
        parked = self.index.parked(feedback.event_id)
        resolved = parked.get("resolved") if parked is not None else None
        return str(resolved) if resolved and resolved != case_id else None

    async def _close_review(self, review_key: str, case_id: str) -> None:
        """A match kept for review no longer stands in ``case_id``."""
        await self._write_index(self.index.pending_topic, review_key,
                                {"feedback": None, "resolved": None, "withdrawn": case_id})

    async def _unlink_number(self, unit: str, number: str, case_id: str) -> None:
        """Unit ``unit``'s police case ``number`` no longer leads to ``case_id``."""
        key = police_index_key(unit, number)
        if key:
            await self._write_index(self.index.referrals_topic, key, {
                "unit": unit, "number": number, "case_id": case_id, "unlinked": True})

    async def _remember_for_review(self, feedback: CaseEvent,
                                   matched: FeedbackMatched) -> None:
        """Keep an automatic match a later referral may overturn (see the module doc)."""
        number = normalise_document_number(getattr(feedback, "police_case_number", None))
        if matched.method is MatchMethod.PARTY_IDENTIFIER:
            kind = "identifier"
        elif matched.method is MatchMethod.CASE_ID and number and \
                self.index.reviews.naming(number, matched.case_id, "identifier"):
            kind = "link"
        else:
            return
        await self._write_index(self.index.pending_topic, REVIEW_PREFIX + feedback.event_id, {
            "feedback": stored_form(feedback), "resolved": matched.case_id, "review": kind,
            "identifiers": sorted(feedback_identifiers(feedback)),
            "police_unit": feedback.source_unit, "police_number": number})

    async def _link(self, feedback: CaseEvent, case_id: str) -> None:
        number = getattr(feedback, "police_case_number", None)
        key = police_index_key(feedback.source_unit, number)
        value = {"unit": feedback.source_unit, "number": number, "case_id": case_id}
        if key and not self.index.knows(key, value):
            await self._write_index(self.index.referrals_topic, key, value)
            # Parked feedback quoting only this police case number (a court judgment read
            # before the police's decision was matched) can match now.
            self.index_grew = True

    async def _rekey(self, feedback: CaseEvent, matched: FeedbackMatched) -> Rekeyed:
        matched_sent = await self.outputs.event(self.topics.case_events, matched)
        update: dict[str, object] = {"case_id": matched.case_id}
        referring_unit = self.index.matcher.referring_unit_of(matched.case_id)
        if referring_unit and "referring_unit_code" in type(feedback).model_fields and \
                not getattr(feedback, "referring_unit_code", None):
            update["referring_unit_code"] = referring_unit  # so routing can tell the agency
        copy = feedback.model_copy(update=update)
        serialized = await self.serde.serialize(copy)
        headers = [*serialized.headers, (MATCHED_HEADER, b"1")]
        # To the case's task, which publishes it on lf.case-events once the sender may
        # add it to the case: a number quoted on feedback proves nothing about its sender.
        await self.outputs.send(self.topics.case_intake, serialized.key, serialized.value,
                                headers)
        await self._link(feedback, matched.case_id)
        await self._remember_for_review(feedback, matched)
        return (matched, matched_sent, copy,
                SerializedEvent(serialized.key, serialized.value, headers))

    async def match_feedback(self, feedback: CaseEvent,
                             document: CaseDocument | None = None) -> bool:
        """Tie police feedback to its case, or park it for a person.

        With ``document`` (first sight) feedback that matches nothing is held for
        :data:`MATCH_GRACE_S` instead; :meth:`retry_held` matches it again, finally.
        True when the feedback belongs to the case it is keyed by: the case then takes
        it even if the case's own first events are read after it.
        """
        if self.index.parked(feedback.event_id) is not None:
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
        await self._decide(feedback, result, now)
        return False

    async def _decide(self, feedback: CaseEvent, result: MatchResult, now: datetime, *,
                      withdrawn_from: str | None = None) -> None:
        """Re-key feedback to a confident match, or park it for a person.

        Parked again after its match to ``withdrawn_from`` was withdrawn, it gets an id
        of its own: the view must open a new item, not find the one it closed.
        """
        if result.confident and result.case_id is not None:
            await self._rekey(feedback, matched_event(result, feedback,
                                                      hub_unit_code=self.hub_unit_code,
                                                      now=now))
            return
        unmatched = unmatched_event(result, feedback, hub_unit_code=self.hub_unit_code,
                                    now=now)
        if withdrawn_from is not None:
            unmatched = unmatched.model_copy(update={"event_id": uuid_for(
                "feedback-unmatched", feedback.event_id, withdrawn_from, "withdrawn")})
        await self.outputs.event(self.topics.unmatched, unmatched)
        await self.outputs.event(self.topics.alerts, unmatched_feedback_alert(
            feedback, AlertStatus.RAISED, now, hub_unit_code=self.hub_unit_code,
            candidates=len(result.candidates)))
        entry = {"feedback": stored_form(feedback), "resolved": None}
        await self._write_index(self.index.pending_topic, feedback.event_id, entry)
        await self._write_index(self.index.pending_topic, unmatched.event_id, entry)

    async def manual_match(self, action: ViewAction) -> None:
        """A person's MANUAL_MATCH: re-key the parked feedback to the chosen case."""
        entry = self.index.parked(action.target)
        if entry is None or entry.get("resolved"):
            return
        feedback = _stored_feedback(entry, action.target)
        if feedback is None:
            return
        now = datetime.now(UTC)
        matched = manual_match_event(feedback, action, hub_unit_code=self.hub_unit_code,
                                     now=now)
        case_id = matched.case_id
        if entry.get("refused") == case_id:
            # That case refused it (its sender may not add it there) and remembers the
            # refusal: matched there again, the copy would be dropped while the match
            # stood. Once the sender is entitled (a forward), its dead letter is replayed.
            log.warning("manual match of %s to case %s ignored: the case refused it; "
                        "replay its dead letter once its sender may add it there",
                        feedback.event_id, case_id)
            return
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
    keeps every entry (in its index store), so the stored event is not carried on.
    """
    return {"feedback": None, "resolved": case_id}


def _stored_feedback(entry: dict[str, Any], key: str) -> CaseEvent | None:
    """The feedback an index entry keeps, or None when it no longer validates.

    The entries are replicated to every worker: one written by an earlier version (or
    damaged) would otherwise fail every batch that indexes a referral, on every worker
    and after every restart. Skipped entries are logged and counted
    (:func:`~streams.engine.stored_events.decode_tolerant`).
    """
    stored = entry.get("feedback")
    if not isinstance(stored, list):
        return None
    events, _ = decode_tolerant([stored], f"index entry {key}")
    return events[0] if events else None
