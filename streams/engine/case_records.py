"""What happens to one record of a case: entitlement, routing, matching, the case's history.

Each record of a batch passes the same steps in offset order against its case's document,
each step guarded so that a failing one dead-letters the record and the batch goes on:
may its unit add it to the case (else it is refused, or waits while what could entitle
it may still be unread), where must it go, which case does feedback belong to, and what
the case keeps.
The case is evaluated afterwards, once per batch (:mod:`streams.engine.evaluation`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

from hub.dlq.records import REPLAY_HEADER
from hub.models import (
    Alert,
    AuditRecorded,
    CaseEvent,
    CaseReferred,
    CaseState,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    PenaltyCaseRecorded,
    UnitMonthlyStats,
    ViewAction,
    ViewActionKind,
)
from streams._events import (
    COURT_FEEDBACK_TYPES,
    FEEDBACK_TYPES,
    MATCHED_HEADER,
)
from streams.engine.batch import Batch
from streams.engine.case_document import (
    MATCHED,
    REFUSED,
    REFUSED_ENTRY,
    UNROUTED,
    CaseDocument,
)
from streams.engine.case_entitlement import CaseEntitlement
from streams.engine.document_store import CASE_PROCESSORS, DocumentStore
from streams.engine.matching import Rekeyed
from streams.engine.outputs import partition_of
from streams.engine.tuning import EngineTuning
from streams.entitlement_logic import addressee_kinds, check_entitlement
from streams.metrics import (
    DUPLICATES,
    REFUSED_TAKEN,
)
from streams.routing_logic import route_event, unroutable_alert
from streams.safety import RawRecord
from streams.stats_facts import fact_of
from streams.stats_logic import COUNTED_TYPES

__all__ = ["AWAIT_CASE_S", "CaseRecords"]

log = logging.getLogger(__name__)

_NOT_CASE_EVENTS = (Alert, CaseState, UnitMonthlyStats, FeedbackUnmatched, ViewAction,
                    AuditRecorded, FeedbackMatchWithdrawn)
#: What the matcher indexes (feedback quotes a referral's or a decision's number).
_INDEXED = (PenaltyCaseRecorded, CaseReferred)
#: How long an event not entitled to a case the hub knows nothing of waits for the case
#: (see ``CaseDocument.await_case``): in a backfill, the folder of a lead's receiver may
#: be read minutes before the outbox that sent the lead. Afterwards it is refused. (On a
#: known case it waits only while the input read at its arrival is unread.)
AWAIT_CASE_S = EngineTuning.await_case_s


class CaseRecords(CaseEntitlement, DocumentStore):
    """The case processors run on each record (part of
    :class:`~streams.engine.processors.Processors`; the attributes the entitlement check
    reads are declared on :class:`CaseEntitlement`)."""

    case_partitions: list[int]
    #: Parked feedback re-keyed in this batch to a referral it indexed (see
    #: :meth:`join_rekeyed`).
    rekeyed: list[Rekeyed]

    def is_case_event(self, record: RawRecord) -> bool:
        """A record the case processors route, match and add to the case's history: read
        from ``lf.case-events``, or handed on by normalize (in the same task, or through
        ``lf.streams.case-intake``)."""
        return (record.topic == self.topics.case_events
                or self.from_intake(record))

    def from_intake(self, record: RawRecord) -> bool:
        """Handed on by normalize: an ingest event not published yet, checked here."""
        return (self.topics.ingest_unit(record.topic) is not None
                or record.topic == self.topics.case_intake)

    # -- matching ----------------------------------------------------------------------

    @staticmethod
    def accepts(record: RawRecord, event: CaseEvent, case_known: bool) -> bool:
        """Feedback joins a case only when the case is known or the matcher re-keyed it."""
        if not isinstance(event, FEEDBACK_TYPES):
            return True
        return case_known or record.header(MATCHED_HEADER) is not None

    def awaits_match(self, record: RawRecord, event: CaseEvent,
                     document: CaseDocument) -> bool:
        """Police feedback keyed by the police's own case number, not yet tied to a case:
        the matcher re-keys it (and fills the agency to notify) or parks it for a person,
        so routing it now would only raise a false "unroutable" alert.

        Court events name their addressee themselves: they are routed on first sight, and
        their re-keyed copy is not routed again."""
        if isinstance(event, COURT_FEEDBACK_TYPES):
            return record.header(MATCHED_HEADER) is not None
        return (isinstance(event, FEEDBACK_TYPES) and record.header(MATCHED_HEADER) is None
                and not document.has_history
                and not getattr(event, "referring_unit_code", None))

    @staticmethod
    def rematched_copy(record: RawRecord, event: CaseEvent, document: CaseDocument) -> bool:
        """The matcher's re-keyed copy of feedback this case refused, not handled yet."""
        if record.header(MATCHED_HEADER) is None or MATCHED + event.event_id in document.seen:
            return False
        return (UNROUTED + event.event_id in document.seen
                or REFUSED + event.event_id in document.seen)

    async def route(self, record: RawRecord, event: CaseEvent,
                    document: CaseDocument | None = None) -> None:
        """Deliver to the inboxes that must act; an unroutable event becomes an alert.

        With ``document``, each destination becomes an addressee of the case: the unit
        that must answer may then add its answer to the case (``entitlements.yaml``)."""
        route = route_event(event, self.units, self.rules.routing, self.rules.thresholds)
        for unit_code in route.destinations:
            await self.outputs.forward(self.topics.inbox(unit_code), record, event)
        if document is not None and route.destinations:
            addressees = document.relations().addressees
            if not addressees.issuperset(route.destinations):
                kinds = addressee_kinds(addressees, self.units)
                addressees.update(route.destinations)
                document.changed = True
                first = (addressee_kinds(addressees, self.units) - kinds) \
                    & self.rules.entitlements.unaddressed_kinds()
                if first or document.relations_changed or document.data.get("reviewed"):
                    self._relations_moved(document)
        if route.unroutable is not None:
            await self.outputs.event(self.topics.alerts, unroutable_alert(
                route, event, hub_unit_code=self.hub_unit_code, now=datetime.now(UTC)))

    async def index_referral(self, batch: Batch, record: RawRecord, event: CaseEvent
                             ) -> None:
        """Index a referral or penalty for matching, if its unit may add it to its case.

        Runs before the batch's case processors (feedback later in the batch must find
        its referral); an event the entitlement check will refuse is not indexed, so a
        forged referral cannot lure feedback into the forger's case.
        """
        if not isinstance(event, _INDEXED):  # only referrals and penalties are indexed
            return
        document = self.document(batch, record.partition, event.case_id)
        if check_entitlement(event, document.relations(), rules=self.rules.entitlements,
                             units=self.units, hub_unit_code=self._hub_for(record),
                             matched=False).entitled:
            await self.matching.index_referral(event)
            try:
                await self.matching.rematch_quoting(event, self.rekeyed)
            except Exception:  # the referral is fine: the throttled pass tries them again
                log.exception("matching the feedback parked for referral %s failed",
                              event.event_id)

    async def join_rekeyed(self, batch: Batch) -> int:
        """Fold the feedback re-keyed in this batch into its case now, when this worker
        owns the case, as its records will read on ``lf.case-events``; returns how many.

        So the batch that brings a referral evaluates its case with the police's
        decisions that were waiting for it. Read back later, the records are duplicates
        of what the case has seen; after a crash before this batch's state was written,
        they are what brings the decisions to the case.
        """
        rekeyed, self.rekeyed = self.rekeyed, []
        joined = 0
        topics = self.topics
        for matched, matched_sent, copy, copy_sent in rekeyed:
            partition = (partition_of(copy_sent.key, self.case_partitions)
                         if self.case_partitions else None)
            if partition is None or partition not in self.case_stores:
                continue  # another worker's case: it reads them from the topic
            for topic, event, sent in ((topics.case_events, matched, matched_sent),
                                       (topics.case_intake, copy, copy_sent)):
                record = RawRecord(topic, partition, -1, sent.key, sent.value,
                                   tuple(sent.headers))
                await self.case_record(batch, record, event)
            joined += 1
        return joined

    async def case_record(self, batch: Batch, record: RawRecord, event: CaseEvent, *,
                          waits_until: datetime | None = None, final: bool = False,
                          refused_before: bool = False) -> None:
        """Run every case processor that reads ``record``'s topic on it, each guarded.

        ``waits_until`` and ``final``: an event waiting for its case; ``refused_before``:
        one refused and kept to be checked again (see :meth:`entitled`)."""
        topics = self.topics
        document = self.document(batch, record.partition, event.case_id)
        # A re-keyed copy coming back to the case that refused the original (same event
        # id) is handled once, not dropped as a duplicate: see ``UNROUTED``.
        rematched = (event.event_id in document.seen
                     and self.rematched_copy(record, event, document))
        if event.event_id in document.seen and not rematched:
            DUPLICATES.labels(CASE_PROCESSORS).inc()
            return
        refused_key = REFUSED_ENTRY + event.event_id
        if (refused_key in document.seen and record.header(REPLAY_HEADER) is None
                and not refused_before):
            DUPLICATES.labels(CASE_PROCESSORS).inc()  # a redelivery is refused once
            return
        if refused_before and self.matched_copy(record):
            elsewhere = self.matching.matched_elsewhere(event, document.case_id)
            if elsewhere is not None:  # the refusal reopened it; a person decided since
                log.info("%s %s, refused before, is no longer checked against case %s: "
                         "a person matched it to case %s", type(event).__name__,
                         event.event_id, event.case_id, elsewhere)
                return
        if not refused_before:  # a kept refusal is this batch's record only if it joins
            document.last_record = record
        verdict: str | Literal[False] | None = None
        if self.is_case_event(record):
            verdict = await self.entitled(record, event, document, waits_until=waits_until,
                                          final=final, refused_before=refused_before)
            if verdict is None:
                return  # waits for its case, neither seen nor refused
            if verdict is False:
                # Remembered as refused, not as seen: a copy replayed from the dead
                # letters (``liangfa dlq replay``, after its cause was fixed) is checked
                # again.
                document.mark_seen(refused_key)
                return
            if refused_before:
                document.last_record = record
                REFUSED_TAKEN.labels(event.source_unit, type(event).__name__).inc()
                log.info("%s %s, refused before, joins case %s: its unit is entitled now",
                         type(event).__name__, event.event_id, event.case_id)
            if refused_before or refused_key in document.seen:
                # refused before, replayed or checked again, entitled now
                await self._rejoin(record, event, document, verdict)
        if self.from_intake(record):  # published once entitled
            await self.outputs.forward(topics.case_events, record, event, processed=True,
                                       matched=self.matched_copy(record))
        joined = [False]
        awaited = False
        refused = False
        if self.is_case_event(record):
            if self.awaits_match(record, event, document):
                awaited = True  # routed as the matcher's re-keyed copy (or parked)
            elif rematched and UNROUTED + event.event_id not in document.seen:
                pass  # the original was routed already
            else:
                # Its destinations become addressees only when its sender stands in the
                # case (``naming_relations``): a unit cannot make itself an addressee.
                names = (isinstance(verdict, str)
                         and self.rules.entitlements.names_addressees(verdict))
                await self.guards["routing"].run(
                    record, lambda: self.route(record, event, document if names else None))
            if isinstance(event, FEEDBACK_TYPES) and record.header(MATCHED_HEADER) is None:
                async def match() -> None:
                    joined[0] = await self.matching.match_feedback(event, document)

                await self.guards["matching"].run(record, match)
            if isinstance(event, FeedbackMatchWithdrawn):
                document.withdraw(event.feedback_event_id)
                document.withdrawal_read(event.feedback_event_id)
            if not isinstance(event, _NOT_CASE_EVENTS):
                if self.accepts(record, event, document.has_history or joined[0]):
                    document.add_event(event)
                else:
                    refused = True
        elif (record.topic == topics.view_actions and isinstance(event, ViewAction)
              and event.action_kind is ViewActionKind.MANUAL_MATCH):
            await self.guards["matching"].run(record, lambda: self.matching.manual_match(event))
        # A derived event (an alert, a case state) never opens a case: an alert about
        # feedback nobody matched is keyed by a case id no case event has (a phantom case
        # of the hub's own unit in the view, with no stage and no number).
        opens = not isinstance(event, _NOT_CASE_EVENTS)
        if ((opens or document.aggregate() is not None)
                and self.accepts(record, event, document.aggregate() is not None
                                 or joined[0])):
            try:
                if document.new_aggregate().apply(event):
                    document.aggregate_changed = True
            except Exception as exc:  # noqa: BLE001 - dead-lettered, the batch goes on
                await self.guards["aggregate"].dead_letter(record, exc)
        if (record.topic != topics.view_actions and isinstance(event, COUNTED_TYPES)
                and not rematched):  # the original was counted
            self.outputs.count(fact_of(event, deadlines=self.rules.deadlines))
        if rematched:
            document.mark_seen(MATCHED + event.event_id)
            return
        document.mark_seen(event.event_id)
        if refused:
            document.mark_seen((UNROUTED if awaited else REFUSED) + event.event_id)
