"""A case evaluated once per batch or sweep: deadline clocks, screening, its CaseState.

Evaluating is the costly part of a case (its whole history is read), and its outputs
must not repeat: so it runs once per touched case after every record of the batch was
folded in (:mod:`streams.engine.case_records`), emits only the changes since the last
evaluation, and stages the case's document for writing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.models import (
    AgencyCaseOpened,
    Alert,
    AlertStatus,
    CaseEvent,
    CaseReferred,
    PenaltyCaseRecorded,
)
from streams._alerts import snapshot_of
from streams.deadline_logic import evaluate_case
from streams.engine import party_history
from streams.engine.batch import Batch
from streams.engine.case_document import CaseDocument
from streams.engine.case_records import CaseRecords
from streams.engine.state import decode_value
from streams.engine.timers import DueIndex
from streams.entitlement_logic import (
    CaseRelations,
    check_entitlement,
    entitlement_review_alert,
    no_longer_entitled,
    review_resolution,
)
from streams.metrics import ENTITLEMENT_REVIEWS
from streams.publication_logic import disclosure_ends
from streams.routing_logic import alert_copies, raised_acts, unroutable_alert
from streams.screening_assessment import ScreeningRules
from streams.screening_logic import screen_case
from streams.stats_facts import fact_of

__all__ = ["CaseEvaluation"]

log = logging.getLogger(__name__)

#: What the screening reads: penalties, referrals and an agency's open cases (立案登记,
#: screened during the investigation for early intervention).
_SCREENED = (PenaltyCaseRecorded, CaseReferred, AgencyCaseOpened)
#: When a sweep's evaluation of a case raises, its clocks are looked at again this much
#: later (not at every tick while the fault lasts).
RETRY_FAILED_SWEEP_S = 600


class CaseEvaluation(CaseRecords):
    """The per-case evaluation at the end of a batch, after its records (part of
    :class:`~streams.engine.processors.Processors`)."""

    screening_rules: ScreeningRules
    procuratorate_inbox: str
    due: DueIndex

    async def evaluate(self, document: CaseDocument, *, wall_time: datetime | None = None,
                       judged: datetime | None = None) -> None:
        """Deadlines, screening and the CaseState of a case, once per batch or sweep.

        A batch evaluates at the latest time the case knows (a backfill of last year
        yields last year's lateness), but its deadlines no later than ``judged``: the
        worker's judging time, up to which every record of the bus is processed and
        every live connector has read its source (:mod:`streams.engine.frontier`). A
        clock is judged open or overdue only then: what stops it may be in another
        unit's export not read yet. A clock it leaves open is due in the due index, and
        a sweep judges it at the judging time. A sweep evaluates at ``wall_time`` (the
        judging time). Only changes are emitted.
        """
        rules = self.rules
        deadlines, screening = document.data["deadlines"], document.data["screening"]
        if wall_time is not None:
            document.deadlines_due = _is_due(deadlines, wall_time)
            document.screening_due = _is_due(screening, wall_time)
        if document.deadlines_due and document.has_history:
            events = document.events()
            # acts the case's state raises (routing.yaml raised_acts): read back like any
            # case event, so they are checked, routed and timed; a repeat is a duplicate
            for act in raised_acts(events, rules.routing, hub_unit_code=self.hub_unit_code):
                if act.event_id not in document.seen:
                    await self.outputs.event(self.topics.case_events, act)
            now = wall_time or _batch_time(events, judged)
            result = evaluate_case(events, now, rules=rules.deadlines,
                                   thresholds=rules.thresholds,
                                   hub_unit_code=self.hub_unit_code,
                                   violation_offences=rules.violation_offences,
                                   emitted=deadlines["emitted"],
                                   withdrawn_events=document.withdrawn_events)
            document.withdrawn_events = []
            for alert in result.changes(deadlines["emitted"]):
                await self.own_alert(document, alert)
                await self.escalate(alert)
                deadlines["emitted"][alert.alert_id] = snapshot_of(alert)
            deadlines["next_check"] = (result.next_check_at.isoformat()
                                       if result.next_check_at else None)
            document.changed = True
        screened = ([e for e in document.events() if isinstance(e, _SCREENED)]
                    if document.screening_due else [])
        if screened:
            now = wall_time or max(max(e.occurred_at, e.recorded_at) for e in screened)
            outcome = screen_case(screened, now, rules=self.screening_rules,
                                  hub_unit_code=self.hub_unit_code,
                                  prior_penalties=party_history.prior_counts(
                                      self.case_stores, document.partition, screened,
                                      self.screening_rules))
            for alert in outcome.changes(screening["emitted"]):
                await self.own_alert(document, alert)
                if alert.status is AlertStatus.RAISED:
                    await self.outputs.event(self.procuratorate_inbox, alert,
                                             counted=False)
                screening["emitted"][alert.alert_id] = snapshot_of(alert)
            screening["next_check"] = (outcome.next_check_at.isoformat()
                                       if outcome.next_check_at else None)
            document.changed = True
        await self.publish_state(document, wall_time)

    async def publish_state(self, document: CaseDocument, wall_time: datetime | None) -> None:
        """Emit the case's CaseState when it changed, and again when its 公示截止期 ended.

        Why again: the public case-state feed is compacted, latest wins, and its
        publisher withholds a state past the deadline (tombstoning the key) only when it
        reads one; a case nothing happens to after its penalty would stay published for
        good. So the end of disclosure is a timer like the clocks' (``publication`` in the
        document, in the due index): the sweep at that time emits the state again (the
        same state, the same event id: internal readers see a duplicate), and the
        publisher withdraws the case. A document stored before this was scheduled is
        due at once (:meth:`CaseDocument.next_due`) and scheduled at its first look.
        """
        aggregate = document.aggregate()
        if aggregate is None:
            return
        publication = document.data.get("publication")
        ended = (publication is not None and wall_time is not None
                 and _is_due(publication, wall_time))
        if not (document.aggregate_changed or ended or publication is None):
            return
        now = datetime.now(UTC)
        await self.outputs.event(self.topics.case_state, aggregate.to_case_state(
            hub_unit_code=self.hub_unit_code, now=now))
        deadline = aggregate.disclosure_deadline
        ends = disclosure_ends(deadline) if deadline else None
        # a sweep's wall time is that of its timer even where the clock lags it
        looked_at = max(now, wall_time) if wall_time else now
        scheduled = {"next_check": ends.isoformat() if ends and ends > looked_at else None}
        if publication != scheduled:
            document.data["publication"] = scheduled
            document.changed = True

    async def review_history(self, document: CaseDocument) -> None:
        """Raise for review what the case's changed relations revoked (``relations_changed``,
        see ``CaseRecords._relations_moved``, which named the late addressees already).

        Each event the relations as stored before the batch entitled and the present
        ones do not (:func:`~streams.entitlement_logic.no_longer_entitled`) is raised for
        a person as an ``ENTITLEMENT_REVIEW`` alert on the case, copied to the
        procuratorate's inbox, once (the case keeps the reviewed ids, noted before the
        alert goes: a failure costs an alert, never repeats one); one reviewed before
        whose sender is entitled again is resolved. The events stay: see
        ``no_longer_entitled``.
        """
        rules, units, hub = self.rules.entitlements, self.units, self.hub_unit_code
        self.name_late_addressees(document)  # again: what the batch changed since counts
        events = document.events()
        relations = document.relations()
        before = CaseRelations.from_dict(document.data.get("relations"))
        reviewed: list[str] = document.data.setdefault("reviewed", [])
        now = datetime.now(UTC)
        by_id = {event.event_id: event for event in events}
        for event_id in list(reviewed):
            event = by_id.get(event_id)
            # Gone from the case otherwise than by a withdrawal (its history trimmed, its
            # record no longer valid), or its sender entitled again: resolved.
            if event is None or check_entitlement(
                    event, relations, rules=rules, units=units, hub_unit_code=None,
                    matched=False).entitled:
                await self._resolve_review(document, event_id, event, now)
                reviewed.remove(event_id)
                document.changed = True
        for event, reason in no_longer_entitled(events, before, relations, rules=rules,
                                                units=units, hub_unit_code=hub):
            if event.event_id in reviewed:
                continue
            reviewed.append(event.event_id)
            document.changed = True
            ENTITLEMENT_REVIEWS.labels(event.source_unit, type(event).__name__).inc()
            log.warning("case %s holds %s %s of unit %s, which its relations no longer "
                        "entitle (taken before they changed): raised for review",
                        document.case_id, type(event).__name__, event.event_id,
                        event.source_unit)
            await self._send_review(document, event, reason, now, AlertStatus.RAISED)
        if not reviewed:
            del document.data["reviewed"]

    async def resolve_withdrawn_reviews(self, document: CaseDocument) -> None:
        """Resolve the review alerts of events taken out of the case in this batch."""
        reviewed: list[str] = document.data.get("reviewed", [])
        now = datetime.now(UTC)
        for event in document.withdrawn_events:
            if event.event_id in reviewed:
                await self._resolve_review(document, event.event_id, event, now)
                reviewed.remove(event.event_id)
                document.changed = True
        if not reviewed:
            document.data.pop("reviewed", None)

    async def _send_review(self, document: CaseDocument, event: CaseEvent, reason: str,
                           now: datetime, status: AlertStatus) -> None:
        alert = entitlement_review_alert(document.case_id, event, reason,
                                         hub_unit_code=self.hub_unit_code, now=now,
                                         status=status)
        await self.own_alert(document, alert)
        await self.outputs.event(self.procuratorate_inbox, alert, counted=False)

    async def _resolve_review(self, document: CaseDocument, event_id: str,
                             event: CaseEvent | None, now: datetime) -> None:
        """Resolve the review alert of ``event_id`` (``event``: None when the case no
        longer holds it)."""
        if event is not None:
            await self._send_review(document, event, "", now, AlertStatus.RESOLVED)
            return
        alert = review_resolution(document.case_id, event_id,
                                  hub_unit_code=self.hub_unit_code, now=now)
        await self.own_alert(document, alert)
        await self.outputs.event(self.procuratorate_inbox, alert, counted=False)

    async def own_alert(self, document: CaseDocument, alert: Alert) -> None:
        """Send an alert about ``document``'s case and put it on the case at once.

        Read back from ``lf.alerts``, such an alert did two things only: change the
        case's open alerts (its aggregate, hence one more ``CaseState``) and go to the
        statistics feed. Both are done here, in the task that owns the case, and the
        alert is marked processed so the read-back skips it: one ``CaseState`` per
        evaluation instead of two, and no second pass of the alert through the case.
        """
        await self.outputs.event(self.topics.alerts, alert, processed=True)
        aggregate = document.aggregate()
        if aggregate is not None and document.new_aggregate().apply(alert):
            document.aggregate_changed = True
        self.outputs.count(fact_of(alert))

    async def escalate(self, alert: Alert) -> None:
        """Copy an overdue alert to the third body its rule names (``copy_when_overdue``:
        the justice bureau for an unanswered procuratorial recommendation, as Jiashan's
        three-party mechanism does); a copy nobody can receive becomes an alert itself."""
        copy = alert_copies(alert, self.units)
        for code in copy.destinations:
            await self.outputs.event(self.topics.inbox(code), alert, counted=False)
        if copy.unroutable is not None:
            await self.outputs.event(self.topics.alerts, unroutable_alert(
                copy, alert, hub_unit_code=self.hub_unit_code, now=datetime.now(UTC)))

    async def finish_cases(self, batch: Batch, *, wall_time: datetime | None = None) -> None:
        """Evaluate every touched case once and stage its document for writing."""
        judged = self.judging_time() if wall_time is None and batch.documents else None
        for document in batch.documents.values():
            for review, wanted in (
                    (self.resolve_withdrawn_reviews,
                     bool(document.withdrawn_events and document.data.get("reviewed"))),
                    (self.review_history,
                     document.has_history and document.relations_changed)):
                if not wanted:
                    continue
                try:
                    await review(document)
                except Exception:  # a review never costs the case its evaluation
                    log.exception("reviewing what case %s took before its relations "
                                  "changed failed", document.case_id)
            try:
                await self.evaluate(document, wall_time=wall_time, judged=judged)
            except Exception as exc:
                if document.last_record is None:
                    log.exception("evaluating case %s failed; its clocks are looked at "
                                  "again in %d s", document.case_id, RETRY_FAILED_SWEEP_S)
                    self._index_stored(document, not_before=datetime.now(UTC) + timedelta(
                        seconds=RETRY_FAILED_SWEEP_S))
                    continue
                await self.guards["deadlines"].dead_letter(document.last_record, exc)
                evaluated = False
            else:
                evaluated = True
            if ((document.changed or document.aggregate_changed)
                    and not await self.stage_document(document)):
                self._index_stored(document)
                continue
            if evaluated:
                self.keep_document(document)
            self.due.set(document.partition, document.case_id, document.next_due())

    def _index_stored(self, document: CaseDocument, *,
                      not_before: datetime | None = None) -> None:
        """Index the times of the case's document as the store keeps it.

        A sweep or a retry of held feedback took the case's entries out of the due
        indexes; when its document is then not written (its evaluation failed, or it
        stays over the size limit), the stored one still has its clocks and held
        feedback, and they must stay in the indexes. ``not_before`` puts off a case whose
        evaluation failed, so a fault does not make it be evaluated at every tick.
        """
        partition, case_id = document.partition, document.case_id
        value = self.case_stores[partition].get(document.key)
        stored = (CaseDocument(partition, case_id, decode_value(value))
                  if value is not None else None)
        for index, due in ((self.due, stored.next_due() if stored else None),
                           (self.held, stored.held_until() if stored else None)):
            if due is not None and not_before is not None:
                due = max(due, not_before)
            index.set(partition, case_id, due)


#: The earliest instant a batch judges at (the judging time before the first frontier
#: round, or while a connector has confirmed nothing, is earlier still).
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _batch_time(events: Sequence[CaseEvent], judged: datetime | None) -> datetime:
    """The instant a batch judges a case's deadlines at: its latest event's time, no later
    than the judging time ``judged``."""
    latest = max(max(e.occurred_at, e.recorded_at) for e in events)
    if judged is None or latest <= judged:
        return latest
    return max(judged, _EARLIEST)


def _is_due(section: dict[str, Any], now: datetime) -> bool:
    check = section.get("next_check")
    return isinstance(check, str) and datetime.fromisoformat(check) <= now

