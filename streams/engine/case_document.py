"""One case's state document: what the case processors know of a case between events.

One document per case, in the partition's RocksDB store under ``c|<case id>``::

    {"seen": [event ids],            # every record the case processors handled
     "events": [stored events],      # the case's legal history (deadlines, screening)
     "aggregate": {...} | null,      # streams.aggregate_logic.CaseAggregate.to_dict()
     "deadlines": {"emitted": {alert id: snapshot}, "next_check": iso | null},
     "screening": {"emitted": {...}, "next_check": iso | null},
     "publication": {"next_check": iso | null},  # when the public feed withdraws the
                                     # case (its 公示截止期 ended); absent: never scheduled
     "relations": {...},             # streams.entitlement_logic.CaseRelations.to_dict()
     "held": [[stored event, iso]],  # feedback that matched nothing yet, until its grace ends
     "awaiting": [{...}],            # the waiting room (streams.engine.waiting_room)
     "reviewed": [event ids]}        # events raised for an entitlement review

``seen`` keeps the last :data:`MAX_SEEN_IDS` ids: a replay after a crash repeats at most
the uncommitted batches, which are recent; older re-sent events are caught by normalize's
seen ids (one RocksDB key per event, unbounded) and by the aggregate's own event ids.

A document must stay writable: it goes to the changelog as one record, and a record over
the producer's request limit fails the batch on every restart (a poison case). So
``events`` keeps at most :data:`MAX_STORED_EVENTS` (see :meth:`CaseDocument.add_event` for
which go), and a document still over the size limit is shrunk further
(:meth:`CaseDocument.shrink`). A stored event that no longer validates is skipped with a
warning, not fatal. Each of these counts in ``liangfa_streams_state_dropped_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.models import (
    AgencyCaseOpened,
    CaseEvent,
    CaseReferred,
    PenaltyCaseRecorded,
)
from streams._events import stored_form
from streams.aggregate_logic import CaseAggregate
from streams.engine.state import encode_value
from streams.engine.stored_events import decode_tolerant
from streams.engine.waiting_room import WaitingRoom
from streams.entitlement_logic import CaseRelations
from streams.metrics import STATE_DROPPED
from streams.safety import RawRecord

__all__ = [
    "MATCHED",
    "MAX_DOCUMENT_BYTES",
    "MAX_SEEN_IDS",
    "MAX_STORED_EVENTS",
    "REFUSED",
    "STORED_EVENTS_HEAD",
    "UNROUTED",
    "CaseDocument",
]

log = logging.getLogger(__name__)

MAX_SEEN_IDS = 2000
#: Stored events a case document keeps (see :meth:`CaseDocument.add_event`). A real
#: case's legal history is tens of events; thousands mean a matching error or a loop.
MAX_STORED_EVENTS = 1000
#: The earliest stored events always kept when the history is trimmed: they start the
#: case's clocks (referral, acceptance, penalty) and name its owner and offence.
STORED_EVENTS_HEAD = 100
#: Default largest encoded case document: under the producer's 4 MiB request limit with
#: room for the record's key, headers and batch overhead.
MAX_DOCUMENT_BYTES = 3 * 1024 * 1024 + 512 * 1024
#: Seen-id prefixes that let the matcher's re-keyed copy of feedback through exactly once
#: when it comes back to the very case that refused the original (the feedback quoted the
#: hub's case id, but arrived before its referral and was parked): the copy has the same
#: key and event id, so the plain seen id alone would drop it. ``UNROUTED``: the original
#: was refused and not routed (the copy is); ``REFUSED``: refused but already routed;
#: ``MATCHED``: the copy was handled (a replay of it is a duplicate).
UNROUTED = "unrouted|"
REFUSED = "refused|"
MATCHED = "matched|"
#: An event the entitlement check refused (a redelivery is dropped, a replay checked again).
REFUSED_ENTRY = "not-entitled|"
_SCREENED = (PenaltyCaseRecorded, CaseReferred, AgencyCaseOpened)
_PENALTY_NAME = PenaltyCaseRecorded.avro_name
#: The due time of a document whose public withdrawal was never scheduled (stored before
#: the engine kept it) while it holds a penalty with a 公示截止期: the next sweep.
_AT_ONCE = datetime(1970, 1, 1, tzinfo=UTC)


class CaseDocument(WaitingRoom):
    """One case's state document (see the module docstring) while a batch works on it."""

    def __init__(self, partition: int, case_id: str, data: dict[str, Any] | None) -> None:
        self.partition = partition
        self.case_id = case_id
        self.data: dict[str, Any] = data or {
            "seen": [], "events": [], "aggregate": None,
            "deadlines": {"emitted": {}, "next_check": None},
            "screening": {"emitted": {}, "next_check": None},
        }
        self.seen = set(self.data["seen"])
        self._events: list[CaseEvent] | None = None
        self._aggregate: CaseAggregate | None = None
        self._relations: CaseRelations | None = None
        self.deadlines_due = False
        self.screening_due = False
        self.aggregate_changed = False
        self.changed = False
        #: The case's relations (owner, addressees) changed in this batch: what it took
        #: before is judged against them at the evaluation (``review_history``).
        self.relations_changed = False
        #: Feedback taken out of the case in this batch (:meth:`withdraw`): the alerts
        #: its clocks raised are withdrawn at the batch's evaluation.
        self.withdrawn_events: list[CaseEvent] = []
        #: The records that touched the document in this batch (dead-lettered together
        #: if the document cannot be written, see :meth:`Processors.stage_document`).
        self.records: list[RawRecord] = []

    def begin_batch(self) -> None:
        """Reset the per-batch flags of a document kept in memory from an earlier batch."""
        self.deadlines_due = False
        self.screening_due = False
        self.aggregate_changed = False
        self.changed = False
        self.relations_changed = False
        self.withdrawn_events = []
        self.records = []

    @property
    def last_record(self) -> RawRecord | None:
        """The last record of this batch that touched the case (error reports name it)."""
        return self.records[-1] if self.records else None

    @last_record.setter
    def last_record(self, record: RawRecord | None) -> None:
        if record is None:
            self.records = []
        else:
            self.records.append(record)

    @property
    def key(self) -> bytes:
        """The store key of the case."""
        return b"c|" + self.case_id.encode("utf-8")

    def mark_seen(self, event_id: str) -> None:
        """Remember a handled record's event id (bounded, oldest dropped)."""
        self.seen.add(event_id)
        seen: list[str] = self.data["seen"]
        seen.append(event_id)
        if len(seen) > MAX_SEEN_IDS:
            del seen[: len(seen) - MAX_SEEN_IDS]
            self.seen = set(seen)
        self.changed = True

    @property
    def has_history(self) -> bool:
        """Whether deadlines already know the case (feedback may then join it)."""
        return bool(self.data["events"])

    def events(self) -> list[CaseEvent]:
        """The case's legal history as models (decoded once per batch).

        A stored event that no longer validates (a model changed under stored state, a
        damaged document) is dropped from the document with a warning and a metric:
        one unreadable event must not stop the worker on every batch of the case.
        """
        if self._events is None:
            stored: list[list[Any]] = self.data["events"]
            events, kept = decode_tolerant(stored, self.case_id)
            if len(kept) != len(stored):
                self.data["events"] = kept
                self.changed = True
            self._events = events
        return self._events

    def add_event(self, event: CaseEvent) -> None:
        """Append an event to the legal history; deadlines (and screening) look again.

        Bounded at :data:`MAX_STORED_EVENTS`: past it the oldest event after the first
        :data:`STORED_EVENTS_HEAD` is dropped. Deadline clocks start at early events
        (the referral, acceptance or penalty kept in the head) or at recent ones (kept in
        the tail) and stop at the first qualifying event after their start; screening
        compares penalties and referrals. What goes is the middle of an abnormally long
        history, whose clocks have long been decided and whose alerts were already
        emitted (their snapshots stay in ``deadlines.emitted``). The aggregate (timeline,
        CaseState) is not affected by this bound; ``dropped_events`` counts what went.
        """
        events = self.events()
        events.append(event)
        stored: list[list[Any]] = self.data["events"]
        stored.append(stored_form(event))
        if len(stored) > MAX_STORED_EVENTS:
            del stored[STORED_EVENTS_HEAD]
            del events[STORED_EVENTS_HEAD]
            self._count_dropped("events", 1)
        self.deadlines_due = True
        self.screening_due = self.screening_due or isinstance(event, _SCREENED)

    def withdraw(self, event_id: str) -> bool:
        """Take a feedback event out of the history (its match was withdrawn).

        Its seen ids go too, so the matcher's copy is taken again if a person (or a
        later match) puts the feedback back in this case. The clocks it stopped open
        again at the next evaluation, and the alerts of the clocks it started are
        withdrawn then (``withdrawn_events``). False when the case did not hold it.
        """
        stored: list[list[Any]] = self.data["events"]
        events = self.events()
        kept = [index for index, event in enumerate(events) if event.event_id != event_id]
        held = len(kept) != len(events)
        if held:
            self.withdrawn_events.extend(event for event in events
                                         if event.event_id == event_id)
            self.data["events"] = [stored[index] for index in kept]
            self._events = [events[index] for index in kept]
            self.deadlines_due = True
        self.forget_seen({event_id, MATCHED + event_id, UNROUTED + event_id,
                          REFUSED + event_id})
        self.changed = True
        return held

    def forget_seen(self, forgotten: set[str]) -> None:
        """Forget handled ids, so a record carrying one is taken again."""
        if self.seen & forgotten:
            self.seen -= forgotten
            self.data["seen"] = [seen for seen in self.data["seen"] if seen not in forgotten]
            self.changed = True

    def _count_dropped(self, what: str, count: int) -> None:
        dropped: dict[str, int] = self.data.setdefault("dropped", {})
        before = dropped.get(what, 0)
        dropped[what] = before + count
        STATE_DROPPED.labels(f"{what}-trimmed").inc(count)
        if before == 0 or (before + count) // 1000 > before // 1000:
            log.warning("case %s: %d %s dropped from its state document (bounded, "
                        "an abnormally long history)", self.case_id, before + count, what)

    def shrink(self, limit: int) -> bytes | None:
        """The document re-encoded under ``limit`` bytes by trimming history, or None.

        Used when the bounded document is still too large (large events): the middle of
        the stored events goes first (as in :meth:`add_event`), then the middle of the
        aggregate's timeline (the view keeps the first and the latest entries; the
        aggregate's own event ids and stage marks stay, so nothing is applied twice).
        Seen ids are cut to the last few hundred last (replays only repeat recent ones).
        """
        encoded = self.encoded()
        for part in ("events", "timeline", "seen"):
            while len(encoded) > limit:
                if not self._trim(part):
                    break
                encoded = self.encoded()
            if len(encoded) <= limit:
                return encoded
        return None

    def _trim(self, part: str) -> bool:
        """Drop half of the droppable middle of ``part``; False when nothing is left."""
        if part == "seen":
            seen: list[str] = self.data["seen"]
            if len(seen) <= 200:
                return False
            cut = len(seen) // 2
            del seen[:cut]
            self.seen = set(seen)
            self._count_dropped("seen", cut)
            return True
        if part == "events":
            items: list[Any] = self.data["events"]
            # The first entry always stays too (the case's opening act, which the
            # deadlines count from), however few entries are left.
            head = min(STORED_EVENTS_HEAD, max(len(items) // 4, 1))
        else:
            if self._aggregate is not None:  # fold the live aggregate into the data first
                self.data["aggregate"] = self._aggregate.to_dict()
            aggregate = self.data.get("aggregate")
            if aggregate is None:
                return False
            items = aggregate["timeline"]
            head = min(STORED_EVENTS_HEAD, max(len(items) // 4, 1))
        middle = len(items) - head - 1  # the newest entry always stays
        if middle <= 0:
            return False
        cut = max(middle // 2, 1)
        del items[head:head + cut]
        if part == "events":
            self._events = None
        else:
            self._aggregate = None  # re-read from the trimmed dict
        self._count_dropped(part, cut)
        return True

    def aggregate(self) -> CaseAggregate | None:
        """The case's aggregate (None when no event of the case was accepted yet)."""
        if self._aggregate is None and self.data["aggregate"] is not None:
            self._aggregate = CaseAggregate.from_dict(self.data["aggregate"])
            if not self._aggregate.knows_disclosure:
                self._aggregate.recall_disclosure(
                    event for event in self.events() if isinstance(event, PenaltyCaseRecorded))
        return self._aggregate

    def new_aggregate(self) -> CaseAggregate:
        """The aggregate, created when the case is new."""
        aggregate = self.aggregate()
        if aggregate is None:
            aggregate = self._aggregate = CaseAggregate(self.case_id)
        return aggregate

    def next_due(self) -> datetime | None:
        """The earliest time a clock, a screening window or the public withdrawal of the
        case's state needs a look."""
        times = [datetime.fromisoformat(section["next_check"])
                 for section in (self.data["deadlines"], self.data["screening"],
                                 self.data.get("publication") or {})
                 if section.get("next_check")]
        if "publication" not in self.data and self._stored_disclosure():
            times.append(_AT_ONCE)
        return min(times) if times else None

    def _stored_disclosure(self) -> bool:
        """Whether a document whose withdrawal was never scheduled has a 公示截止期: its
        aggregate knows one, or (stored by an earlier engine) one of its stored penalties
        carries one (read from the stored form: nothing is decoded). A damaged document
        says no (its case's next event evaluates it); a due-time scan must not stop on it.
        """
        aggregate = self.data.get("aggregate")
        if not isinstance(aggregate, dict):
            return False
        try:
            if "disclosure" in aggregate:
                disclosure = aggregate["disclosure"]
                return bool(disclosure and disclosure[3])
            return any(item[1] == _PENALTY_NAME and item[2].get("disclosure_deadline")
                       for item in self.data.get("events") or ())
        except (TypeError, IndexError, KeyError, AttributeError):
            return False

    def hold(self, feedback: CaseEvent, until: datetime) -> None:
        """Keep feedback that matched nothing yet, to be matched again at ``until``."""
        self.data.setdefault("held", []).append([stored_form(feedback), until.isoformat()])
        self.changed = True

    def held_until(self) -> datetime | None:
        """When the earliest held feedback's grace or awaiting event's wait ends."""
        times = [datetime.fromisoformat(until) for _, until in self.data.get("held", [])]
        times += [datetime.fromisoformat(item["until"])
                  for item in self.data.get("awaiting", [])]
        return min(times) if times else None

    def take_held(self, now: datetime | None = None) -> list[CaseEvent]:
        """Remove and return the held feedback (with ``now``: that whose grace ended;
        feedback held later keeps the rest of its own grace)."""
        taken = self._take("held", lambda item: item[1], now)
        return decode_tolerant([item for item, _ in taken], self.case_id)[0] if taken else []

    def release_held(self, ready: Callable[[CaseEvent], bool]) -> list[CaseEvent]:
        """Remove and return the held feedback ``ready`` accepts; the rest stays held
        until its own grace ends."""
        held = self.data.get("held", [])
        if not held:
            return []
        released: list[CaseEvent] = []
        kept: list[list[Any]] = []
        for item in held:
            events, _ = decode_tolerant([item[0]], self.case_id)
            if events and ready(events[0]):
                released.append(events[0])
            elif events:
                kept.append(item)
        if len(kept) != len(held):
            self.changed = True
            if kept:
                self.data["held"] = kept
            else:
                del self.data["held"]
        return released

    def relations(self) -> CaseRelations:
        """Who stands in which relation to the case (entitlement checks)."""
        if self._relations is None:
            self._relations = CaseRelations.from_dict(self.data.get("relations"))
        return self._relations

    def encoded(self) -> bytes:
        """The document as stored (aggregate and relations folded back in)."""
        if self._aggregate is not None:
            self.data["aggregate"] = self._aggregate.to_dict()
        if self._relations is not None:
            self.data["relations"] = self._relations.to_dict()
        return encode_value(self.data)



