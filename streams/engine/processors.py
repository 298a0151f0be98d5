"""The case processors bound to batches: normalize, route, clocks, screening, aggregate.

A batch is folded in memory: each record is decoded once (a poison record goes to
``lf.dlq.streams`` through :class:`streams.safety.Guard`), each case's state document
(:mod:`streams.engine.case_document`) is read once, changed by every record of the case in
offset order, evaluated once (deadline clocks, screening, CaseState) and staged for
writing once. Outputs are queued on the producer without waiting; the worker awaits them
all, then the state changelog, then commits (see :mod:`streams.engine.worker`). Matching
(:mod:`streams.engine.matching`) and statistics (:mod:`streams.engine.statistics`) are
processors of their own, called from here and from the worker.

A case document that stays over the size limit after trimming is not written: the
records that changed it go to ``lf.dlq.streams`` and the batch completes
(``liangfa_streams_state_dropped_total``).
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.dlq.records import REPLAY_HEADER
from hub.errors import RecordRejected
from hub.models import (
    AgencyCaseOpened,
    Alert,
    AlertStatus,
    AuditOperation,
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
from hub.registry import SchemaRegistryClient
from hub.rules import RuleSet
from hub.serde import AvroSerde
from hub.units import UnitRegistry
from streams._alerts import SOURCE_SYSTEM, snapshot_of, uuid_for
from streams._events import (
    COURT_FEEDBACK_TYPES,
    FEEDBACK_TYPES,
    MATCHED_HEADER,
)
from streams.deadline_logic import evaluate_case
from streams.engine import party_history
from streams.engine.batch import Batch
from streams.engine.case_document import (
    MATCHED,
    MAX_DOCUMENT_BYTES,
    REFUSED,
    REFUSED_ENTRY,
    UNROUTED,
    CaseDocument,
)
from streams.engine.global_index import GlobalIndex
from streams.engine.matching import MATCH_GRACE_S, MatchingProcessor
from streams.engine.outputs import Outputs, partition_of, remember
from streams.engine.state import PartitionStore, decode_value
from streams.engine.statistics import StatisticsProcessor
from streams.engine.timers import DUE_KEYS, HELD_KEYS, INDEX_BUILT, DueIndex, DueScan
from streams.entitlement_logic import check_entitlement, record_acceptance
from streams.metrics import (
    AWAITING_CASE,
    DUPLICATES,
    NOT_ENTITLED,
    SOURCE_MISMATCH,
    STATE_DROPPED,
    unit_event_seen,
)
from streams.routing_logic import alert_copies, raised_acts, route_event, unroutable_alert
from streams.safety import Guard, RawRecord
from streams.screening_logic import ScreeningRules, screen_case
from streams.stats_facts import fact_of
from streams.stats_logic import COUNTED_TYPES
from streams.topics import TopicNames

__all__ = ["AWAIT_CASE_LIMIT", "AWAIT_CASE_S", "CASE_PROCESSORS", "SWEEP_CASES", "Processors"]

log = logging.getLogger(__name__)

CASE_PROCESSORS = "case-processors"
_NOT_CASE_EVENTS = (Alert, CaseState, UnitMonthlyStats, FeedbackUnmatched, ViewAction,
                    AuditRecorded, FeedbackMatchWithdrawn)
#: What the screening reads: penalties, referrals and an agency's open cases (立案登记,
#: screened during the investigation for early intervention).
_SCREENED = (PenaltyCaseRecorded, CaseReferred, AgencyCaseOpened)
#: What the matcher indexes (feedback quotes a referral's or a decision's number).
_INDEXED = (PenaltyCaseRecorded, CaseReferred)
#: Cases one sweep evaluates at most. After a restore every clock of a backfill is due at
#: once (1,000,000 events: ~250,000 cases); evaluated as one batch, their documents took
#: the worker past 12 GiB and held new records back for minutes. In slices, the worker
#: consumes between them and its memory stays that of a batch.
SWEEP_CASES = 500
#: Stored cases read per step of a due-time scan (~60 µs each: ~0.1 s between batches).
DUE_SCAN_STEP = 2_000
#: Case documents kept in memory between batches (see ``Processors.keep_document``).
_DOCUMENT_CACHE = 1024
#: How long an event not entitled to a case the hub knows nothing of waits for the case
#: (see ``CaseDocument.await_case``): in a backfill, the folder of a lead's receiver may
#: be read minutes before the outbox that sent the lead. Afterwards it is refused.
AWAIT_CASE_S = 900
#: Events that may wait on one unknown case; more are refused at once (a unit spraying
#: events at made-up case ids cannot grow a document without bound).
AWAIT_CASE_LIMIT = 32


class Processors:
    """The case processors over the partition stores this worker owns, with matching and
    statistics beside them."""

    def __init__(self, *, topics: TopicNames, rules: RuleSet, units: UnitRegistry,
                 hub_unit_code: str, registry: SchemaRegistryClient, serde: AvroSerde,
                 outputs: Outputs, index: GlobalIndex,
                 max_document_bytes: int = MAX_DOCUMENT_BYTES,
                 await_case_s: float = AWAIT_CASE_S) -> None:
        self.topics = topics
        #: How long an event waits for a case the hub knows nothing of (``AWAIT_CASE_S``).
        self.await_case_s = await_case_s
        #: Largest case document written (see :meth:`stage_document`).
        self.max_document_bytes = max_document_bytes
        self.rules = rules
        self.units = units
        self.hub_unit_code = hub_unit_code
        self.registry = registry
        self.serde = serde
        self.outputs = outputs
        self.index = index
        self.screening_rules = ScreeningRules(
            thresholds=rules.thresholds, violation_types=rules.violation_types,
            violation_offences=rules.violation_offences, screening=rules.screening)
        self.case_stores: dict[int, PartitionStore] = {}
        self.due = DueIndex(DUE_KEYS, self.case_stores)
        #: Held feedback (see :data:`MATCH_GRACE_S`) and events awaiting their case
        #: (:data:`AWAIT_CASE_S`) by partition and case.
        self.held = DueIndex(HELD_KEYS, self.case_stores)
        self.matching = MatchingProcessor(topics=topics, hub_unit_code=hub_unit_code,
                                          serde=serde, outputs=outputs, index=index,
                                          held=self.held)
        self.statistics = StatisticsProcessor(
            topics=topics, hub_unit_code=hub_unit_code, outputs=outputs, decode=self.decode,
            dead_letter=lambda record, exc: self.guards["stats"].dead_letter(record, exc))
        self.guards = {name: Guard(name, topics.dead_letters, outputs.send)
                       for name in ("normalize", "entitlement", "routing", "matching",
                                    "deadlines",
                                    "screening", "aggregate", "stats", CASE_PROCESSORS)}
        self.procuratorate_inbox = topics.inbox(hub_unit_code)
        #: Partitions of ``lf.case-events`` (set by the worker from the broker's metadata;
        #: empty until then, which sends every event the two-hop way).
        self.case_partitions: list[int] = []
        #: Due-time scans of freshly assigned partitions (see :meth:`index_due_times`).
        self._due_scans: dict[int, DueScan] = {}
        #: Documents of recently finished cases (see :meth:`keep_document`).
        self._documents: dict[tuple[int, str], CaseDocument] = {}
        #: Recently decoded record values (see :meth:`decode`), oldest first.
        self._decoded: dict[bytes, CaseEvent] = {}
        outputs.decoded = self._decoded

    # -- state -------------------------------------------------------------------------

    def document(self, batch: Batch, partition: int, case_id: str) -> CaseDocument:
        """The case's document, read once per batch: from memory when a recent batch
        left it there (see :meth:`keep_document`), else from the store."""
        key = (partition, case_id)
        found = batch.documents.get(key)
        if found is None:
            found = self._documents.pop(key, None)
            if found is not None:
                found.begin_batch()
            else:
                store = self.case_stores[partition]
                stored = store.get(b"c|" + case_id.encode("utf-8"))
                found = CaseDocument(partition, case_id,
                                     decode_value(stored) if stored is not None else None)
            batch.documents[key] = found
        return found

    def keep_document(self, document: CaseDocument) -> None:
        """Keep a finished document (equal to what the store holds or has staged) in memory.

        A case is usually touched again a batch or two later (its alerts and feedback
        come back through ``lf.case-events`` and ``lf.alerts``): reusing the document
        skips decoding its JSON, its stored events (pydantic validation) and its
        aggregate. Bounded (least recently used dropped); a partition's documents are
        forgotten when it moves away (:meth:`forget_partition`); a failed batch ends the
        process, so a kept document never holds state the store did not take.
        """
        documents = self._documents
        documents[(document.partition, document.case_id)] = document
        if len(documents) > _DOCUMENT_CACHE:
            for key in list(itertools.islice(documents, _DOCUMENT_CACHE // 8)):
                del documents[key]

    def forget_partition(self, partition: int) -> None:
        """Drop the kept documents and the due-time scan of a partition this worker no
        longer owns (before its store closes: the scan reads the store)."""
        self._due_scans.pop(partition, None)
        for key in [key for key in self._documents if key[0] == partition]:
            del self._documents[key]

    def index_due_times(self, partition: int) -> None:
        """Start filling the due indexes of a freshly assigned partition whose store was
        written before they were kept in it; the worker advances the scan between
        batches (:meth:`advance_due_scans`)."""
        store = self.case_stores[partition]
        if store.get(INDEX_BUILT) is not None:
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

    # -- decoding ----------------------------------------------------------------------

    async def decode(self, record: RawRecord, processor: str) -> CaseEvent | None:
        """The record's event, or None after dead-lettering it (poison never stops us).

        Many records this worker reads carry bytes it decoded or encoded a moment ago:
        normalize forwards the ingest record's bytes to ``lf.case-events`` unchanged (read
        back by another task when the partitions differ), and alerts raised here come
        back on ``lf.alerts``. Decoding is a pure function
        of the bytes (the schema id is in them; events are frozen models), so recently
        decoded values are reused instead of decoded two or three times.
        """
        value = record.value
        if value is not None:
            cached = self._decoded.get(value)
            if cached is not None:
                return cached
        try:
            event = await self.serde.decode(_value_of(record))
        except Exception as exc:  # noqa: BLE001 - every decode failure is dead-lettered
            await self.guards[processor].dead_letter(record, exc)
            return None
        assert value is not None
        remember(self._decoded, value, event)
        return event

    # -- normalize ---------------------------------------------------------------------

    async def normalize(self, record: RawRecord) -> tuple[RawRecord, CaseEvent] | None:
        """Check the source unit, drop a seen event id, publish to ``lf.case-events``.

        Returns the record and event for the case processors of this same task (one hop)
        when the event's case belongs to this partition, i.e. the ingest topic is
        co-partitioned with ``lf.case-events`` (same key, same partition count, as the
        connectors produce it). Its copy on ``lf.case-events`` then carries
        :data:`~streams._events.PROCESSED_HEADER` and is skipped when read back; it is
        published only once the event is entitled to its case (:meth:`entitled`), so a
        refused event never reaches ``lf.case-events`` or its subscribers. An ingest
        topic that is not co-partitioned gets the two-hop path: its copy is processed by
        the task that owns the case when read from ``lf.case-events`` (a repartition).
        The record handed on keeps the ingest position (dead letters name it) but none
        of the ingest headers: a unit cannot smuggle the matcher's header in.
        """
        event = await self.decode(record, "normalize")
        if event is None:
            return None
        topic_unit = self.topics.ingest_unit(record.topic)
        if topic_unit is not None and event.source_unit != topic_unit:
            SOURCE_MISMATCH.labels(topic_unit).inc()
            await self.guards["normalize"].dead_letter(record, RecordRejected(
                f"event declares source unit {event.source_unit} but arrived on "
                f"{record.topic}, the ingest topic of unit {topic_unit}",
                field="source_unit", value=event.source_unit, error_type="source-mismatch"))
            return None
        # An ingest topic with more partitions than the case topics has partitions no
        # case store matches: their events take the two-hop path, deduplicated by the
        # case's own seen ids when they come back on ``lf.case-events``.
        unit_event_seen(topic_unit or event.source_unit)
        store = self.case_stores.get(record.partition)
        key = b"n|" + event.event_id.encode("utf-8")
        # A dead letter replayed by ``liangfa dlq replay`` had its id noted here before a
        # later step refused it: it passes on to that step (the case's own seen ids
        # still drop it if it did join the case).
        if (store is not None and store.get(key) is not None
                and record.header(REPLAY_HEADER) is None):
            DUPLICATES.labels("normalize").inc()
            return None
        one_hop = (store is not None and bool(self.case_partitions)
                   and partition_of(event.kafka_key(), self.case_partitions)
                   == record.partition)
        if store is not None:
            store.put(key, str(record.offset).encode("ascii"))
        if not one_hop:
            await self.outputs.forward(self.topics.case_events, record, event)
            return None
        # Published by the case processors once the event is entitled to its case. Of
        # the ingest headers only a replay's mark goes on (see ``case_record``).
        replay = record.header(REPLAY_HEADER)
        return RawRecord(record.topic, record.partition, record.offset, record.key,
                         record.value,
                         ((REPLAY_HEADER, replay),) if replay is not None else ()), event

    def is_case_event(self, record: RawRecord) -> bool:
        """A record the case processors route, match and add to the case's history: read
        from ``lf.case-events``, or handed on by normalize in the same task."""
        return (record.topic == self.topics.case_events
                or self.topics.ingest_unit(record.topic) is not None)

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

        Each destination becomes an addressee of the case: the unit that must answer may
        then add its answer to the case (``entitlements.yaml``)."""
        route = route_event(event, self.units, self.rules.routing, self.rules.thresholds)
        for unit_code in route.destinations:
            await self.outputs.forward(self.topics.inbox(unit_code), record, event)
        if document is not None and route.destinations:
            addressees = document.relations().addressees
            if not addressees.issuperset(route.destinations):
                addressees.update(route.destinations)
                document.changed = True
        if route.unroutable is not None:
            await self.outputs.event(self.topics.alerts, unroutable_alert(
                route, event, hub_unit_code=self.hub_unit_code, now=datetime.now(UTC)))

    async def entitled(self, record: RawRecord, event: CaseEvent,
                       document: CaseDocument, *, waits_until: datetime | None = None,
                       final: bool = False) -> bool | None:
        """Whether the event's unit may add it to its case; if not, refuse it.

        A refused event goes to ``lf.dlq.streams`` (error type ``not-entitled``), counts
        in ``liangfa_streams_not_entitled_total`` and is audited on ``lf.audit``; it is
        not routed, matched, stored or counted, so its sender gains no sight of the case.
        None: the event waits (:meth:`CaseDocument.await_case`), unseen: read when the
        hub knew nothing of its case, it is checked again whenever the case changes,
        for ``AWAIT_CASE_S`` (``waits_until``: an event waiting already; ``final``: its
        wait ended, it is taken or refused now).
        """
        relations = document.relations()
        matched = (record.topic == self.topics.case_events
                   and record.header(MATCHED_HEADER) is not None)
        entitlement = check_entitlement(
            event, relations, rules=self.rules.entitlements, units=self.units,
            hub_unit_code=self.hub_unit_code, matched=matched)
        if not entitlement.entitled:
            now = datetime.now(UTC)
            until = waits_until or (None if document.has_history
                                    else now + timedelta(seconds=self.await_case_s))
            if (not final and until is not None and until > now
                    and document.await_case(record, event, until, AWAIT_CASE_LIMIT)):
                if waits_until is None:
                    AWAITING_CASE.labels(event.source_unit, type(event).__name__).inc()
                    log.info("%s %s waits for case %s (not entitled yet: %s)",
                             type(event).__name__, event.event_id, event.case_id,
                             entitlement.reason)
                self.held.set(document.partition, document.case_id, document.held_until())
                return None
            await self.refuse(record, event, entitlement.reason or "not entitled")
            return False
        changed = record_acceptance(event, relations, entitlement)
        if matched and event.source_unit not in relations.matched:
            relations.matched.add(event.source_unit)
            changed = True
        if changed:
            document.changed = True
        return True

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
                             units=self.units, hub_unit_code=self.hub_unit_code,
                             matched=False).entitled:
            await self.matching.index_referral(event)

    async def refuse(self, record: RawRecord, event: CaseEvent, reason: str) -> None:
        """Dead-letter, count and audit an event its unit was not entitled to send (on
        the audit intake: the sealer chains it into ``lf.audit``)."""
        event_type = type(event).__name__
        NOT_ENTITLED.labels(event.source_unit, event_type).inc()
        log.warning("refused %s %s: %s", event_type, event.event_id, reason)
        await self.guards["entitlement"].dead_letter(record, RecordRejected(
            reason, field="case_id", value=event.case_id, error_type="not-entitled"))
        now = datetime.now(UTC)
        await self.outputs.event(self.topics.audit_intake, AuditRecorded(
            event_id=uuid_for("entitlement-refused", event.event_id),
            case_id=event.case_id, source_unit=self.hub_unit_code, occurred_at=now,
            recorded_at=now, source_system=SOURCE_SYSTEM,
            source_record=f"{record.topic}:{record.partition}:{record.offset}",
            connector_id="streams.entitlement", actor=f"unit:{event.source_unit}",
            actor_unit_code=event.source_unit, operation=AuditOperation.WRITE_REFUSED,
            target=event.case_id, query=reason[:2000]))

    async def case_record(self, batch: Batch, record: RawRecord, event: CaseEvent, *,
                          waits_until: datetime | None = None, final: bool = False) -> None:
        """Run every case processor that reads ``record``'s topic on it, each guarded.

        ``waits_until`` and ``final``: an event waiting for its case (see
        :meth:`entitled`)."""
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
        if refused_key in document.seen and record.header(REPLAY_HEADER) is None:
            DUPLICATES.labels(CASE_PROCESSORS).inc()  # a redelivery is refused once
            return
        document.last_record = record
        if self.is_case_event(record):
            verdict = await self.entitled(record, event, document, waits_until=waits_until,
                                          final=final)
            if verdict is None:
                return  # waits for its case, neither seen nor refused
            if not verdict:
                # Remembered as refused, not as seen: a copy replayed from the dead
                # letters (``liangfa dlq replay``, after its cause was fixed) is checked
                # again.
                document.mark_seen(refused_key)
                return
        if self.topics.ingest_unit(record.topic) is not None:  # handed on by normalize
            await self.outputs.forward(topics.case_events, record, event, processed=True)
        joined = [False]
        awaited = False
        refused = False
        if self.is_case_event(record):
            if self.awaits_match(record, event, document):
                awaited = True  # routed as the matcher's re-keyed copy (or parked)
            elif rematched and UNROUTED + event.event_id not in document.seen:
                pass  # the original was routed already
            else:
                await self.guards["routing"].run(
                    record, lambda: self.route(record, event, document))
            if isinstance(event, FEEDBACK_TYPES) and record.header(MATCHED_HEADER) is None:
                async def match() -> None:
                    joined[0] = await self.matching.match_feedback(event, document)

                await self.guards["matching"].run(record, match)
            if isinstance(event, FeedbackMatchWithdrawn):
                document.withdraw(event.feedback_event_id)
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

    async def evaluate(self, document: CaseDocument, *, wall_time: datetime | None = None
                       ) -> None:
        """Deadlines, screening and the CaseState of a case, once per batch or sweep.

        A batch evaluates at the latest legal time the case knows (a backfill of last year
        yields last year's lateness); a sweep at wall time. Only changes are emitted.
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
            now = wall_time or max(max(e.occurred_at, e.recorded_at) for e in events)
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
        aggregate = document.aggregate()
        if document.aggregate_changed and aggregate is not None:
            await self.outputs.event(self.topics.case_state, aggregate.to_case_state(
                hub_unit_code=self.hub_unit_code, now=datetime.now(UTC)))

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
        for document in batch.documents.values():
            try:
                await self.evaluate(document, wall_time=wall_time)
            except Exception as exc:
                if document.last_record is None:
                    log.exception("evaluating case %s failed", document.case_id)
                    continue
                await self.guards["deadlines"].dead_letter(document.last_record, exc)
                evaluated = False
            else:
                evaluated = True
            if ((document.changed or document.aggregate_changed)
                    and not await self.stage_document(document)):
                continue
            if evaluated:
                self.keep_document(document)
            self.due.set(document.partition, document.case_id, document.next_due())

    async def stage_document(self, document: CaseDocument) -> bool:
        """Stage the document for writing if it fits; else dead-letter what changed it.

        A changelog record over the producer's request limit would fail the batch on
        every restart. An oversized document is shrunk (:meth:`CaseDocument.shrink`);
        if it still does not fit, the store keeps the case's previous document and every
        record that touched the case in this batch goes to ``lf.dlq.streams``
        (``state-too-large``), so nothing is lost silently and the batch completes.
        """
        limit = self.max_document_bytes
        encoded = document.encoded()
        if len(encoded) > limit:
            log.warning("case %s: state document of %d bytes over the %d-byte limit; "
                        "trimming its history", document.case_id, len(encoded), limit)
            shrunk = document.shrink(limit)
            if shrunk is None:
                await self._reject_document(document, len(encoded))
                return False
            encoded = shrunk
        self.case_stores[document.partition].put(document.key, encoded)
        return True

    async def _reject_document(self, document: CaseDocument, size: int) -> None:
        STATE_DROPPED.labels("document-too-large").inc()
        # The document in memory holds what was not written: drop it, the next batch
        # reads the case's last written document from the store.
        self._documents.pop((document.partition, document.case_id), None)
        error = RecordRejected(
            f"the state document of case {document.case_id} ({size} bytes) stays over "
            f"the {self.max_document_bytes}-byte limit after trimming; the case keeps its "
            "previous state and this record is not part of it",
            field="case_id", value=document.case_id, error_type="state-too-large")
        if not document.records:
            log.error("%s (no record to dead-letter: a deadline sweep or held feedback)",
                      error.reason)
        for record in document.records:
            await self.guards[CASE_PROCESSORS].dead_letter(record, error)

    async def sweep(self, batch: Batch, now: datetime, limit: int = SWEEP_CASES) -> int:
        """Evaluate the owned cases whose clocks are due at wall time ``now``, at most
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
        for partition, case_id in due:
            document = self.document(batch, partition, case_id)
            for record, event, _ in document.take_awaiting(now):
                await self.index_referral(batch, record, event)
                await self.case_record(batch, record, event, final=True)
            for feedback in document.take_held():
                try:
                    if await self.matching.match_feedback(feedback):
                        self._join(document, feedback)
                except Exception:
                    log.exception("matching held feedback %s failed; parked for a person "
                                  "at the next try", feedback.event_id)
                    document.hold(feedback, now + timedelta(seconds=MATCH_GRACE_S))
            self.held.set(partition, case_id, document.held_until())
        await self.finish_cases(batch)
        return len(due)

    async def join_held(self, batch: Batch) -> int:
        """Match held feedback of this batch's cases that matches confidently now.

        Feedback read before its referral (another ingest topic, another partition) is
        held for :data:`MATCH_GRACE_S`. When the referral comes in a later batch, the
        feedback is matched in that batch instead of at the end of its grace: its case is
        evaluated, its state written and its ``CaseState`` sent once, not twice.
        Feedback that still matches nothing waits out its grace (:meth:`retry_held`).
        Events waiting for their case (:meth:`entitled`) are checked again first.
        """
        matcher = self.index.matcher
        joined = 0
        for document in list(batch.documents.values()):
            if "awaiting" in document.data and document.has_history:
                # The case changed: what waits for it is checked again, as it was read.
                for record, event, until in document.take_awaiting():
                    await self.index_referral(batch, record, event)
                    await self.case_record(batch, record, event, waits_until=until)
                self.held.set(document.partition, document.case_id, document.held_until())
            if "held" not in document.data or not document.has_history:
                continue
            for feedback in document.release_held(lambda held: matcher.match(held).confident):
                try:
                    if await self.matching.match_feedback(feedback):
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

    # -- statistics --------------------------------------------------------------------

def _value_of(record: RawRecord) -> bytes:
    if record.value is None:
        raise RecordRejected("record has no value (tombstone)", field="value",
                             error_type="tombstone")
    return record.value


def _is_due(section: dict[str, Any], now: datetime) -> bool:
    check = section.get("next_check")
    return isinstance(check, str) and datetime.fromisoformat(check) <= now

