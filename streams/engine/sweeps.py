"""Work on a timer, between batches: due clocks, held feedback, events waiting for a case.

Some of a case's work is due at a time, not on a record: a deadline runs out while
nothing arrives, feedback held for its referral ends its grace, an event waiting for
what would entitle it to its case stops waiting. The worker runs these between batches, in
slices, from the due indexes kept in the partition stores (:mod:`streams.engine.timers`);
a store written before they were kept there is indexed once, step by step. The time they
are given is the clock bounded by the group's input frontier
(:mod:`streams.engine.frontier`): nothing runs out while what would settle it is unread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from hub.models import CaseEvent
from streams._events import COURT_FEEDBACK_TYPES
from streams.engine.batch import Batch
from streams.engine.case_document import CaseDocument
from streams.engine.evaluation import CaseEvaluation
from streams.engine.global_index import GlobalIndex
from streams.engine.matching import MATCH_GRACE_S
from streams.engine.state import decode_value
from streams.engine.timers import HELD_KEYS, INDEX_BUILT, INDEX_VERSION, DueScan
from streams.engine.tuning import EngineTuning
from streams.engine.waiting_room import RECHECK_LIMIT
from streams.entitlement_logic import check_entitlement

__all__ = ["DUE_SCAN_STEP", "SWEEP_CASES", "Sweeps"]

log = logging.getLogger(__name__)

#: Cases one sweep evaluates at most. After a restore every clock of a backfill is due at
#: once (1,000,000 events: ~250,000 cases); evaluated as one batch, their documents took
#: the worker past 12 GiB and held new records back for minutes. In slices, the worker
#: consumes between them and its memory stays that of a batch.
SWEEP_CASES = 500
#: Stored cases read per step of a due-time scan (~60 µs each: ~0.1 s between batches).
DUE_SCAN_STEP = 2_000


class Sweeps(CaseEvaluation):
    """The timed work on the owned cases (part of
    :class:`~streams.engine.processors.Processors`)."""

    index: GlobalIndex
    _due_scans: dict[int, DueScan]
    #: Partitions whose kept refusals are to be checked once after their assignment (see
    #: :meth:`recheck_assigned`): the cases with held entries, read from the store.
    _refusal_scans: dict[int, Iterator[tuple[bytes, bytes]]]

    def index_due_times(self, partition: int) -> None:
        """Start filling the due indexes of a freshly assigned partition whose store was
        written before they were kept in it; the worker advances the scan between
        batches (:meth:`advance_due_scans`). Then (at once, or when that scan ends) its
        kept refusals are checked once (:meth:`recheck_assigned`)."""
        store = self.case_stores[partition]
        if (store.get(INDEX_BUILT) == INDEX_VERSION
                and not EngineTuning.from_environment().reindex_due_times):
            self._refusal_scans[partition] = store.prefixed(HELD_KEYS.by_case)
            return

        def times(key: bytes, value: bytes) -> tuple[str, datetime | None, datetime | None]:
            document = CaseDocument(partition, key[2:].decode("utf-8"), decode_value(value))
            return document.case_id, document.next_due(), document.held_until()

        self._due_scans[partition] = DueScan(partition, store, b"c|", times, self.due,
                                             self.held)

    @property
    def scanning_due_times(self) -> bool:
        """Whether a partition's due times are still being read (see :class:`DueScan`)."""
        return bool(self._due_scans)

    def advance_due_scans(self, budget: int = DUE_SCAN_STEP) -> None:
        """Read the next ``budget`` stored cases of one partition's due-time scan."""
        partition, scan = next(iter(self._due_scans.items()))
        if scan.advance(budget):
            del self._due_scans[partition]
            self._refusal_scans[partition] = \
                self.case_stores[partition].prefixed(HELD_KEYS.by_case)

    @property
    def rechecking_assigned(self) -> bool:
        """Whether kept refusals of a freshly assigned partition are still to be checked."""
        return bool(self._refusal_scans)

    async def recheck_assigned(self, batch: Batch, budget: int = DUE_SCAN_STEP,
                               limit: int = SWEEP_CASES) -> int:
        """Check once the refusals kept by the cases of a freshly assigned partition.

        Why: a kept refusal is otherwise checked again only when its case changes, but
        the commonest cause of a wrongful refusal is the hub's own configuration (a
        station registered without its bureau in the unit registry, an entitlement
        rule), which an operator corrects and restarts the workers for. The refusals
        then join at the start, not at each case's next event, which may come after
        their week ended. Only cases with held entries are read (``hc|``), up to
        ``budget`` index entries and ``limit`` cases per call, between batches; a case
        goes through the batch's pass over kept refusals (and is written) only when one
        of them is entitled now (:meth:`_may_join`), so a rebalance rewrites nothing.
        A document that cannot be read is logged and left for its case's next event.
        Returns how many cases were checked (their documents are in ``batch``).
        """
        partition, entries = next(iter(self._refusal_scans.items()))
        store = self.case_stores[partition]
        offset = len(HELD_KEYS.by_case)
        checked = 0
        for _ in range(budget):
            item = next(entries, None)
            if item is None:
                del self._refusal_scans[partition]
                break
            case_id = item[0][offset:].decode("utf-8")
            try:
                kept = self._documents.get((partition, case_id))
                if kept is None:
                    stored = store.get(b"c|" + item[0][offset:])
                    if stored is None or b'"refused":true' not in stored:
                        continue
                    kept = CaseDocument(partition, case_id, decode_value(stored))
                if not self._may_join(kept):
                    continue
            except Exception:  # a poison document must not stop the worker
                log.exception("case %s: its kept refusals could not be read", case_id)
                continue
            self.document(batch, partition, case_id)
            checked += 1
            if checked >= limit:
                break
        if checked:
            if await self.recheck_refused(batch):
                await self.join_rekeyed(batch)  # feedback a joined refusal re-keyed
            await self.finish_cases(batch)
        return checked

    def _may_join(self, document: CaseDocument) -> bool:
        """Whether a refusal ``document`` keeps is entitled to its case now (the check of
        ``CaseEntitlement.entitled``, read-only), or is to be dropped (the recheck was
        switched off since)."""
        kept = document.kept_refusals()
        if kept and self.recheck_refused_s <= 0:
            return True
        relations = document.relations()
        return any(check_entitlement(
            item.event, relations, rules=self.rules.entitlements, units=self.units,
            hub_unit_code=self._hub_for(item.record),
            matched=self.matched_copy(item.record)).entitled for item in kept)

    async def sweep(self, batch: Batch, now: datetime, limit: int = SWEEP_CASES) -> int:
        """Evaluate the owned cases whose clocks are due at ``now``, at most
        ``limit`` of them (the worker sweeps again at once while more are due)."""
        due = [(partition, case_id) for partition, case_id in self.due.pop_due(now, limit)
               if partition in self.case_stores]
        for partition, case_id in due:
            self.document(batch, partition, case_id)
        await self.finish_cases(batch, wall_time=now)
        return len(due)

    async def retry_held(self, batch: Batch, now: datetime) -> int:
        """Match held feedback whose grace ended; what still matches nothing is parked.
        An event whose wait for its case ended is checked again: taken or refused."""
        due = [(partition, case_id)
               for partition, case_id in self.held.pop_due(now, SWEEP_CASES)
               if partition in self.case_stores]
        released: list[tuple[CaseDocument, CaseEvent]] = []
        for partition, case_id in due:
            document = self.document(batch, partition, case_id)
            for record, event, _, refused in document.take_awaiting(now):
                if refused:  # refused and dead-lettered when read: its time to rejoin ended
                    log.info("%s %s, refused before, is no longer checked against case %s",
                             type(event).__name__, event.event_id, case_id)
                    continue
                await self.index_referral(batch, record, event)
                await self.case_record(batch, record, event, final=True)
            released += [(document, feedback) for feedback in document.take_held(now)]
        await self._match_released(released, now)
        for partition, case_id in due:
            self.held.set(partition, case_id,
                          self.document(batch, partition, case_id).held_until())
        await self.join_rekeyed(batch)  # a referral that waited for its case was indexed
        if await self.recheck_refused(batch):
            await self.join_rekeyed(batch)  # feedback a joined refusal re-keyed
        await self.finish_cases(batch)
        return len(due)

    async def recheck_refused(self, batch: Batch) -> int:
        """Check the refused events this batch's cases keep (``CaseEntitlement.entitled``)
        against the cases as the batch left them, after everything else joined; again
        while one joins (a forward taken this way may entitle the new organ's answer).
        Returns how many are no longer kept (joined, or dropped)."""
        def kept_refusals(document: CaseDocument) -> int:
            return sum(bool(item.get("refused"))
                       for item in document.data.get("awaiting", []))

        gone = 0
        for _ in range(RECHECK_LIMIT + 1):
            this_pass = 0
            for document in list(batch.documents.values()):
                if not document.has_history or not document.has_refused_waiting():
                    continue
                before = kept_refusals(document)
                for record, event, until, _ in document.take_awaiting(refused=True):
                    if self.recheck_refused_s <= 0:
                        continue  # switched off since it was kept: its dead letter stays
                    await self.index_referral(batch, record, event)
                    await self.case_record(batch, record, event, waits_until=until,
                                           refused_before=True)
                # What is not kept again joined (or was dropped): check the rest again.
                this_pass += before - kept_refusals(document)
                self.held.set(document.partition, document.case_id, document.held_until())
            gone += this_pass
            if this_pass <= 0:
                break
        return gone

    async def _match_released(self, released: list[tuple[CaseDocument, CaseEvent]],
                              now: datetime) -> None:
        """Match the feedback whose grace ended; park for a person only what still
        matches nothing once the rest of the round has matched.

        One match can make another confident: a court's judgment quotes the police case
        number, which the index links to the referral's case only when the police's own
        decision matches. Released in the same round (the judging time held back until
        every source was read, then passing both graces at once), the judgment tried
        first was parked, and the throttled re-match resolved it a moment later: 39
        "unmatched feedback" alerts raised and resolved in one demo run. Courts' events
        go last, and what was unsure is tried again while the round still matches.
        """
        waiting = sorted(released, key=lambda item: isinstance(item[1], COURT_FEEDBACK_TYPES))
        while waiting:
            unsure = []
            for document, feedback in waiting:
                if self._confident(feedback):
                    await self._match_held(document, feedback, now)
                else:
                    unsure.append((document, feedback))
            if len(unsure) == len(waiting):
                break
            waiting = unsure
        for document, feedback in waiting:
            await self._match_held(document, feedback, now)  # parked for a person

    def _confident(self, feedback: CaseEvent) -> bool:
        """Whether the matcher ties ``feedback`` to a case now (False if it cannot say:
        :meth:`_match_held` then meets the failure and holds the feedback again)."""
        try:
            return self.index.matcher.match(feedback).confident
        except Exception:
            log.debug("matching held feedback %s failed", feedback.event_id, exc_info=True)
            return False

    async def _match_held(self, document: CaseDocument, feedback: CaseEvent,
                          now: datetime) -> None:
        try:
            if (await self.matching.match_feedback(feedback)
                    and await self.still_entitled(document, feedback)):
                self._join(document, feedback)
        except Exception:
            log.exception("matching held feedback %s failed; parked for a person "
                          "at the next try", feedback.event_id)
            document.hold(feedback, now + timedelta(seconds=MATCH_GRACE_S))

    async def join_held(self, batch: Batch) -> int:
        """Match held feedback of this batch's cases that matches confidently now.

        Feedback read before its referral (another ingest topic, another partition) is
        held for :data:`MATCH_GRACE_S`. When the referral comes in a later batch, the
        feedback is matched in that batch instead of at the end of its grace: its case is
        evaluated, its state written and its ``CaseState`` sent once, not twice.
        Feedback that still matches nothing waits out its grace (:meth:`retry_held`).
        Events waiting for their case (:meth:`entitled`) are checked again first.
        """
        joined = 0
        for document in list(batch.documents.values()):
            if "awaiting" in document.data and document.has_history:
                # The case changed: what waits for it is checked again, as it was read.
                for record, event, until, _ in document.take_awaiting(refused=False):
                    await self.index_referral(batch, record, event)
                    await self.case_record(batch, record, event, waits_until=until)
                self.held.set(document.partition, document.case_id, document.held_until())
            if "held" not in document.data or not document.has_history:
                continue
            for feedback in document.release_held(self._confident):
                try:
                    if (await self.matching.match_feedback(feedback)
                            and await self.still_entitled(document, feedback)):
                        self._join(document, feedback)
                except Exception:
                    log.exception("matching held feedback %s failed; held again",
                                  feedback.event_id)
                    document.hold(feedback, datetime.now(UTC)
                                  + timedelta(seconds=MATCH_GRACE_S))
                joined += 1
            self.held.set(document.partition, document.case_id, document.held_until())
        return joined

    @staticmethod
    def _join(document: CaseDocument, feedback: CaseEvent) -> None:
        """Fold held feedback into its own case once the matcher confirmed the case."""
        if all(item[0] != feedback.event_id for item in document.data["events"]):
            document.add_event(feedback)
        if document.new_aggregate().apply(feedback):
            document.aggregate_changed = True
