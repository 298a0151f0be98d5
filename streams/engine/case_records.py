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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from hub.dlq.records import REPLAY_HEADER
from hub.errors import RecordRejected
from hub.models import (
    Alert,
    AuditOperation,
    AuditRecorded,
    CaseEvent,
    CaseReferred,
    CaseState,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    PenaltyCaseRecorded,
    UnitMonthlyStats,
    ViewAction,
    ViewActionKind,
)
from hub.rules import RuleSet
from hub.serde import AvroSerde
from hub.units import UnitRegistry
from streams._alerts import SOURCE_SYSTEM, uuid_for
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
from streams.engine.document_store import CASE_PROCESSORS, DocumentStore
from streams.engine.late_addressees import LateAddressees
from streams.engine.matching import MatchingProcessor, Rekeyed
from streams.engine.outputs import Outputs, partition_of
from streams.engine.timers import DueIndex
from streams.engine.tuning import EngineTuning
from streams.entitlement_logic import addressee_kinds, check_entitlement, record_acceptance
from streams.matching_logic import withdrawal_id
from streams.metrics import (
    AWAITING_CASE,
    DUPLICATES,
    NOT_ENTITLED,
    REFUSED_TAKEN,
)
from streams.routing_logic import route_event, unroutable_alert
from streams.safety import RawRecord
from streams.stats_facts import fact_of
from streams.stats_logic import COUNTED_TYPES
from streams.topics import TopicNames

__all__ = ["AWAIT_CASE_LIMIT", "AWAIT_CASE_S", "CaseRecords"]

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
#: Events that may wait on one case; more are refused at once (a unit spraying events at
#: case ids cannot grow a document without bound). See ``CaseDocument.await_case`` for
#: the limits per unit and in bytes.
AWAIT_CASE_LIMIT = 32


class CaseRecords(LateAddressees, DocumentStore):
    """The case processors run on each record (part of
    :class:`~streams.engine.processors.Processors`)."""

    topics: TopicNames
    rules: RuleSet
    units: UnitRegistry
    hub_unit_code: str
    outputs: Outputs
    serde: AvroSerde
    matching: MatchingProcessor
    held: DueIndex
    await_case_s: float
    #: How long a refused event is kept to be checked again as its case changes
    #: (``LIANGFA_ENGINE_RECHECK_REFUSED_S``; 0: never, its dead letter waits for a replay).
    recheck_refused_s: float
    #: The instant timed work is judged at (the worker's clock bounded by its input
    #: frontier, :mod:`streams.engine.frontier`); the clock without a worker.
    judging_time: Callable[[], datetime]
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

    def _hub_for(self, record: RawRecord) -> str | None:
        """The hub's unit for the entitlement check when the engine wrote ``record``
        (``lf.case-events``); None for a unit's record (see ``check_entitlement``)."""
        return self.hub_unit_code if record.topic == self.topics.case_events else None

    def matched_copy(self, record: RawRecord) -> bool:
        """The matcher's re-keyed copy of feedback: on ``lf.streams.case-intake`` (on
        ``lf.case-events`` from a worker before the copy was checked before publishing),
        topics only the engine writes; normalize drops the header from a unit's record."""
        return (record.header(MATCHED_HEADER) is not None
                and record.topic in (self.topics.case_intake, self.topics.case_events))

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

    async def entitled(self, record: RawRecord, event: CaseEvent,
                       document: CaseDocument, *, waits_until: datetime | None = None,
                       final: bool = False, refused_before: bool = False
                       ) -> str | Literal[False] | None:
        """The relation that entitles the event's unit to add it to its case; if none
        does, refuse it (False).

        A refused event goes to ``lf.dlq.streams`` (error type ``not-entitled``), counts
        in ``liangfa_streams_not_entitled_total`` and is audited on ``lf.audit``; it is
        not routed, matched, stored or counted, so its sender gains no sight of the case.
        None: the event waits (:meth:`CaseDocument.await_case`), unseen, and is checked
        again whenever the case changes (``waits_until``: an event waiting already;
        ``final``: its wait ended, it is taken or refused now):

        - read when the hub knew nothing of its case, for ``AWAIT_CASE_S``;
        - on a known case, until the judging time passes the moment it was read, i.e.
          until the input that stood unread then has been read (the input frontier and
          the sources' progress marks, :mod:`streams.engine.frontier`): in a backfill
          the lead that makes a bureau its addressee may sit in the procuratorate's
          outbox, read a moment after the bureau's answer. So a forged event is
          refused a frontier round later (about a second), or once the slowest live
          connector has finished the pass it was in; never later than the frontier's
          limit, which bounds the judging time.

        Refused at once: what no later event could entitle (a type no unit may send, an
        act to the wrong kind of unit), and what finds the case's waiting room full
        (:meth:`CaseDocument.await_case`: 32 events, 8 of one unit, 256 KiB).

        A refusal a later event could cure, on a case the hub knows, is dead-lettered and
        also kept (:meth:`_keep_to_recheck`): the event that entitles may come days
        later from a unit that exports daily (bureau A's forward, 移送管辖, read after
        bureau B's decision). Checked again as the case changes (``refused_before``), it
        joins the case as a replay would, or is dropped silently when its time ends.
        """
        relations = document.relations()
        matched = self.matched_copy(record)
        entitlement = check_entitlement(
            event, relations, rules=self.rules.entitlements, units=self.units,
            hub_unit_code=self._hub_for(record), matched=matched)
        if not entitlement.entitled:
            now = datetime.now(UTC)
            until = waits_until or (now if document.has_history
                                    else now + timedelta(seconds=self.await_case_s))
            # The wait ends on the input, not the clock: not while the case may be unread.
            if (not final and entitlement.curable and until > self.judging_time()
                    and document.await_case(record, event, until, AWAIT_CASE_LIMIT,
                                            refused=refused_before)):
                if waits_until is None:
                    AWAITING_CASE.labels(event.source_unit, type(event).__name__).inc()
                    log.info("%s %s waits for case %s (not entitled yet: %s)",
                             type(event).__name__, event.event_id, event.case_id,
                             entitlement.reason)
                self.held.set(document.partition, document.case_id, document.held_until())
                return None
            if refused_before:  # checked again, its time over: its dead letter stays
                log.info("%s %s, refused before, is no longer checked against case %s",
                         type(event).__name__, event.event_id, event.case_id)
                return False
            await self.refuse(record, event, entitlement.reason or "not entitled")
            if matched:  # the matcher tied it to the case: the match is undone
                await self.matching.refused(event, document.case_id,
                                            keep_link=self._number_in_case(document, event))
            if entitlement.curable:
                # The withdrawal just published is read later; one with its id read
                # before is a duplicate the case will not apply again.
                self._keep_to_recheck(record, event, document, awaits_withdrawal=(
                    matched and withdrawal_id(event.event_id, document.case_id)
                    not in document.seen))
            return False
        owner = relations.owner
        changed = record_acceptance(event, relations, entitlement)
        if changed and owner is not None and relations.owner != owner:
            self._relations_moved(document)  # another unit took the case over
        if matched and event.source_unit not in relations.matched:
            relations.matched.add(event.source_unit)
            changed = True
        if changed:
            document.changed = True
        assert entitlement.relation is not None
        return entitlement.relation

    def _keep_to_recheck(self, record: RawRecord, event: CaseEvent,
                         document: CaseDocument, *, awaits_withdrawal: bool = False) -> None:
        """Keep a refused event in its case's waiting room for ``recheck_refused_s``
        (only on a case the hub knows: on an unknown one it waited ``await_case_s``
        already, and a forger must not make documents for case ids nobody uses).

        Without room (:data:`~streams.engine.case_document.RECHECK_LIMIT` and its
        siblings) it is not kept: its dead letter waits for ``liangfa dlq replay``.
        ``awaits_withdrawal``: see :meth:`CaseDocument.await_case`."""
        if self.recheck_refused_s <= 0 or not document.has_history:
            return
        until = datetime.now(UTC) + timedelta(seconds=self.recheck_refused_s)
        if document.await_case(record, event, until, AWAIT_CASE_LIMIT, refused=True,
                               awaits_withdrawal=awaits_withdrawal):
            self.held.set(document.partition, document.case_id, document.held_until())
            log.info("%s %s is kept to be checked again as case %s changes, until %s",
                     type(event).__name__, event.event_id, event.case_id,
                     until.isoformat(timespec="seconds"))

    async def still_entitled(self, document: CaseDocument, event: CaseEvent) -> bool:
        """Whether held feedback may join its case now that the case's first events are
        in; if not, refuse it.

        Feedback read before anything of its case was checked against a case with no
        relations (any police unit may report on a case no referral went through the
        hub); the referral read since names the police organ that answers it. A refused
        event is dead-lettered as a record of ``lf.streams.case-intake`` (from which
        ``liangfa dlq replay`` brings it back to this check) and forgotten by the case,
        so the replay is not taken for a duplicate; like a refusal in :meth:`entitled`,
        the case keeps it to check again as it changes.
        """
        if any(item[0] == event.event_id for item in document.data["events"]):
            return True  # joined at first sight, the case known: it stays (decisions.md)
        entitlement = check_entitlement(
            event, document.relations(), rules=self.rules.entitlements, units=self.units,
            hub_unit_code=None, matched=False)
        if entitlement.entitled:
            return True
        serialized = await self.serde.serialize(event)
        record = RawRecord(self.topics.case_intake, document.partition, -1, serialized.key,
                           serialized.value, tuple(serialized.headers))
        await self.refuse(record, event, entitlement.reason or "not entitled")
        await self.matching.unlink(event, document.case_id,
                                   keep_link=self._number_in_case(document, event))
        document.withdraw(event.event_id)
        document.mark_seen(REFUSED_ENTRY + event.event_id)
        if entitlement.curable:
            self._keep_to_recheck(record, event, document)
        return False

    async def _rejoin(self, record: RawRecord, event: CaseEvent,
                      document: CaseDocument, relation: str) -> None:
        """The case takes an event it refused before (a copy replayed from the dead
        letters, or a kept refusal checked again, its sender entitled since): audited as
        admitted beside the refusal's record, and for the matcher's copy, what the
        refusal undid in the matcher is put back (:meth:`MatchingProcessor.rejoined`;
        the latest record of the match on the case is the one published again)."""
        document.forget_seen({REFUSED_ENTRY + event.event_id})
        await self._audit_entitlement(record, event, AuditOperation.WRITE_ADMITTED,
                                      f"entitled now as {relation}")
        if not self.matched_copy(record):
            # A unit's own record: its refusal undid no match (held feedback refused when
            # its case came is matched again below, which links its number itself).
            return
        matched = next((other for other in reversed(document.events())
                        if isinstance(other, FeedbackMatched)
                        and other.feedback_event_id == event.event_id), None)
        await self.guards["matching"].run(record, lambda: self.matching.rejoined(
            event, document.case_id, matched))

    @staticmethod
    def _number_in_case(document: CaseDocument, event: CaseEvent) -> bool:
        """Whether another of the case's events from ``event``'s unit carries its police
        case number (a match refused later must not unlink what an event taken stands
        on)."""
        number = getattr(event, "police_case_number", None)
        return bool(number) and any(
            other.event_id != event.event_id and other.source_unit == event.source_unit
            and getattr(other, "police_case_number", None) == number
            for other in document.events())

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

    async def refuse(self, record: RawRecord, event: CaseEvent, reason: str) -> None:
        """Dead-letter, count and audit an event its unit was not entitled to send (on
        the audit intake: the sealer chains it into ``lf.audit``)."""
        event_type = type(event).__name__
        NOT_ENTITLED.labels(event.source_unit, event_type).inc()
        log.warning("refused %s %s: %s", event_type, event.event_id, reason)
        await self.guards["entitlement"].dead_letter(record, RecordRejected(
            reason, field="case_id", value=event.case_id, error_type="not-entitled"))
        await self._audit_entitlement(record, event, AuditOperation.WRITE_REFUSED, reason)

    async def _audit_entitlement(self, record: RawRecord, event: CaseEvent,
                                 operation: AuditOperation, detail: str) -> None:
        """Record on the audit intake that ``event``'s unit was refused or admitted to
        its case: a refusal the hub lifts by itself later (a kept refusal checked again)
        must leave a record as plain as the refusal's, or the trail shows a write
        refused that the case nevertheless holds. The id is deterministic, so a
        redelivery is sealed once."""
        # The admission's id names the case too: an event matched to a case, withdrawn
        # and matched to another is admitted once in each (the sealer drops a repeated
        # id). The refusal's id stays as records already sealed have it.
        audit_id = (uuid_for("entitlement-refused", event.event_id)
                    if operation is AuditOperation.WRITE_REFUSED
                    else uuid_for("entitlement-admitted", event.event_id, event.case_id))
        now = datetime.now(UTC)
        await self.outputs.event(self.topics.audit_intake, AuditRecorded(
            event_id=audit_id,
            case_id=event.case_id, source_unit=self.hub_unit_code, occurred_at=now,
            recorded_at=now, source_system=SOURCE_SYSTEM,
            source_record=f"{record.topic}:{record.partition}:{record.offset}",
            connector_id="streams.entitlement", actor=f"unit:{event.source_unit}",
            actor_unit_code=event.source_unit, operation=operation,
            target=event.case_id, query=detail[:2000]))

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
