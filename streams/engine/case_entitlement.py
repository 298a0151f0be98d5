"""May a record's unit add it to its case: the entitlement check where a case is written.

The entitlement rules (``hub/rules/entitlements.yaml``, judged by
:mod:`streams.entitlement_logic`) say which relation to a case lets a unit add which
event. Here they meet the engine: an event whose unit stands in no such relation is
refused (dead-lettered, counted, audited) or, when a later event could still entitle it,
waits in the case's waiting room (:mod:`streams.engine.waiting_room`) or is kept to be
checked again as the case changes; one taken after a refusal is audited as admitted. The
check sits where the case is written, once, so every path that writes a case (a unit's
record, the matcher's copy, held feedback) passes the same gate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from hub.errors import RecordRejected
from hub.models import AuditOperation, AuditRecorded, CaseEvent, FeedbackMatched
from hub.rules import RuleSet
from hub.serde import AvroSerde
from hub.units import UnitRegistry
from streams._alerts import SOURCE_SYSTEM, uuid_for
from streams._events import MATCHED_HEADER
from streams.engine.case_document import REFUSED_ENTRY, CaseDocument
from streams.engine.late_addressees import LateAddressees
from streams.engine.matching import MatchingProcessor
from streams.engine.outputs import Outputs
from streams.engine.timers import DueIndex
from streams.entitlement_logic import check_entitlement, record_acceptance
from streams.matching_logic import withdrawal_id
from streams.metrics import AWAITING_CASE, NOT_ENTITLED
from streams.safety import Guard, RawRecord
from streams.topics import TopicNames

__all__ = ["AWAIT_CASE_LIMIT", "CaseEntitlement"]

log = logging.getLogger(__name__)

#: Events that may wait on one case; more are refused at once (a unit spraying events at
#: case ids cannot grow a document without bound). See ``CaseDocument.await_case`` for
#: the limits per unit and in bytes.
AWAIT_CASE_LIMIT = 32


class CaseEntitlement(LateAddressees):
    """The entitlement check of the case processors (part of
    :class:`~streams.engine.processors.Processors`, through ``CaseRecords``)."""

    topics: TopicNames
    rules: RuleSet
    units: UnitRegistry
    hub_unit_code: str
    outputs: Outputs
    serde: AvroSerde
    matching: MatchingProcessor
    held: DueIndex
    guards: dict[str, Guard]
    await_case_s: float
    #: How long a refused event is kept to be checked again as its case changes
    #: (``LIANGFA_ENGINE_RECHECK_REFUSED_S``; 0: never, its dead letter waits for a replay).
    recheck_refused_s: float
    #: The instant timed work is judged at (the worker's clock bounded by its input
    #: frontier, :mod:`streams.engine.frontier`); the clock without a worker.
    judging_time: Callable[[], datetime]

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

        Without room (:data:`~streams.engine.waiting_room.RECHECK_LIMIT` and its
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
