"""A case's waiting room: records its unit may not add to the case *yet*, kept whole.

Two kinds of record wait on a case, in its state document under ``awaiting``: events
whose unit is not (yet) entitled to write to the case but may become so within minutes
(in a backfill the referral that names it may come from another source), and refused
events kept to be checked again as the case changes. Both are kept as the records read
(key, value, headers), so each is processed, or refused and dead-lettered, exactly as it
would have been when it arrived. The room is bounded per case, per unit and in bytes:
one unit's forged records must not crowd out another unit's real ones, nor grow the
document past what its changelog can carry.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from hub.models import CaseEvent
from streams._events import stored_form
from streams.engine.inputs import intake_origin
from streams.engine.stored_events import decode_tolerant
from streams.safety import RawRecord

__all__ = [
    "AWAIT_BYTES",
    "AWAIT_PER_UNIT",
    "RECHECK_BYTES",
    "RECHECK_BYTES_PER_UNIT",
    "RECHECK_LIMIT",
    "RECHECK_PER_UNIT",
    "Awaiting",
    "WaitingRoom",
]

#: Events of one unit that may wait on one case (:meth:`WaitingRoom.await_case`).
AWAIT_PER_UNIT = 8
#: Bytes of waiting records (key, value, headers as read) one case may keep: each is
#: stored about twice (the event and the record), so at most ~1/7 of the document.
AWAIT_BYTES = 256 * 1024
#: Refused events one case keeps to check again when it changes (``refused=True`` in
#: :meth:`WaitingRoom.await_case`), of one unit, and their bytes: a share of the waiting
#: room's, so what waits for the input frontier always finds room.
RECHECK_LIMIT = 8
RECHECK_PER_UNIT = 4
RECHECK_BYTES = AWAIT_BYTES // 4
#: Bytes of one unit's kept refusals on one case: a quarter of the refused room, so one
#: unit's large records cannot take it all (a police decision is ~1-2 KiB).
RECHECK_BYTES_PER_UNIT = RECHECK_BYTES // 4


class Awaiting(NamedTuple):
    """An event taken from a case's waiting room (:meth:`WaitingRoom.take_awaiting`)."""

    record: RawRecord
    event: CaseEvent
    until: datetime
    #: Refused and dead-lettered already; kept to be checked again as the case changes.
    refused: bool


class WaitingRoom:
    """The waiting room of a case document (mixed into ``CaseDocument``, which owns the
    document's data and its changed flag)."""

    case_id: str
    data: dict[str, Any]
    changed: bool

    def await_case(self, record: RawRecord, event: CaseEvent, until: datetime,
                   limit: int, *, refused: bool = False,
                   awaits_withdrawal: bool = False) -> bool:
        """Keep an event its unit may not add to this case *yet*: it is checked again
        whenever the case changes until ``until`` (in a backfill the event that makes
        its unit an addressee, a lead sent to it or the agency's penalty, may come from
        another source minutes later; see ``CaseEntitlement.entitled`` for how long). The
        record is kept whole, so it is processed, or refused and dead-lettered, as read.

        False (the event is refused at once) when the waiting room is full: ``limit``
        events wait already, :data:`AWAIT_PER_UNIT` of its own unit's (so one unit's
        forged events cannot crowd out another's real ones), or the waiting records
        would pass :data:`AWAIT_BYTES` (the case's own history must never be trimmed,
        nor the document outgrow its limit, to keep what another unit sent).

        ``refused``: the event was refused and dead-lettered already, and is kept to be
        checked again as the case changes (a forward exported a day after the new organ's
        answer); such events have a room of their own within the waiting room's bytes
        (:data:`RECHECK_LIMIT`, :data:`RECHECK_PER_UNIT`, :data:`RECHECK_BYTES`,
        :data:`RECHECK_BYTES_PER_UNIT`). ``awaits_withdrawal``: the matcher's copy whose
        refusal published a FeedbackMatchWithdrawn; it is not checked again before the
        case has read that withdrawal (:meth:`withdrawal_read`), which would otherwise
        take the feedback out of the case again after it joined."""
        awaiting: list[dict[str, Any]] = self.data.setdefault("awaiting", [])
        same = [item for item in awaiting if item["event"][0] == event.event_id]
        if same and (refused or any(not item.get("refused") for item in same)):
            return True  # a redelivered record, waiting already
        if same:
            # A copy of an event kept as refused (a replay from the dead letters): it is
            # judged in its place, and dead-lettered again if still refused.
            awaiting[:] = [item for item in awaiting if item["event"][0] != event.event_id]
        size = (len(record.value or b"") + len(record.key or b"")
                + sum(len(name) + len(value) for name, value in record.headers))
        room = [item for item in awaiting if bool(item.get("refused")) == refused]
        count, per_unit = ((RECHECK_LIMIT, RECHECK_PER_UNIT) if refused
                           else (limit, AWAIT_PER_UNIT))
        if (len(room) >= count
                or sum(item.get("unit") == event.source_unit for item in room) >= per_unit
                or sum(item.get("bytes", 0) for item in awaiting) + size > AWAIT_BYTES
                or (refused and sum(item.get("bytes", 0) for item in room) + size
                    > RECHECK_BYTES)
                or (refused and sum(item.get("bytes", 0) for item in room
                                    if item.get("unit") == event.source_unit) + size
                    > RECHECK_BYTES_PER_UNIT)):
            if not awaiting:
                del self.data["awaiting"]
            return False
        item: dict[str, Any] = {
            "event": stored_form(event), "until": until.isoformat(),
            "unit": event.source_unit, "bytes": size,
            "record": [record.topic, record.partition, record.offset,
                       _b64(record.key), _b64(record.value),
                       [[name, _b64(value)] for name, value in record.headers]]}
        if refused:
            item["refused"] = True
        if awaits_withdrawal:
            item["withdrawal"] = True
        awaiting.append(item)
        self.changed = True
        return True

    def take_awaiting(self, now: datetime | None = None, *,
                      refused: bool | None = None) -> list[Awaiting]:
        """Remove and return the awaiting events with the end of their wait (with
        ``now``: those whose wait ended; with ``refused``: only the refused events kept
        to be checked again, or only the others). Without ``now``, a kept refusal whose
        withdrawal the case has not read yet stays."""
        def wanted(item: dict[str, Any]) -> bool:
            if refused is not None and bool(item.get("refused")) != refused:
                return False
            return now is not None or not item.get("withdrawal")

        return self._awaiting_of(self._take("awaiting", lambda item: item["until"], now,
                                            wanted))

    def kept_refusals(self) -> list[Awaiting]:
        """The refused events kept to be checked again (not those still waiting for their
        withdrawal to be read), left in place."""
        return self._awaiting_of([item for item in self.data.get("awaiting", [])
                                  if item.get("refused") and not item.get("withdrawal")])

    def _awaiting_of(self, taken: list[dict[str, Any]]) -> list[Awaiting]:
        """Stored waiting-room items as records and events."""
        if not taken:
            return []
        events, _ = decode_tolerant([item["event"] for item in taken], self.case_id)
        by_id = {event.event_id: event for event in events}
        released: list[Awaiting] = []
        for item in taken:
            event = by_id.get(item["event"][0])
            if event is None:
                continue  # no longer valid against its model: dropped with a warning
            topic, partition, offset, key, value, headers = item["record"]
            kept = tuple((name, _unb64(header) or b"") for name, header in headers)
            # Only a record read from lf.streams.case-intake keeps the origin header (one
            # handed on within its task keeps a replay's mark only).
            released.append(Awaiting(RawRecord(
                topic, partition, offset, _unb64(key), _unb64(value), kept,
                intake_origin(kept)), event, datetime.fromisoformat(item["until"]),
                bool(item.get("refused"))))
        return released

    def withdrawal_read(self, feedback_event_id: str) -> None:
        """The case read the withdrawal its refusal of ``feedback_event_id`` published:
        the kept refusal may be checked again from now on."""
        for item in self.data.get("awaiting", []):
            if item.get("withdrawal") and item["event"][0] == feedback_event_id:
                del item["withdrawal"]
                self.changed = True

    def has_refused_waiting(self) -> bool:
        """Whether the case keeps refused events to check again."""
        return any(item.get("refused") for item in self.data.get("awaiting", []))

    def _take(self, key: str, until: Callable[[Any], str], now: datetime | None,
              wanted: Callable[[Any], bool] | None = None) -> list[Any]:
        """Remove and return the items under ``key`` (those ``wanted`` accepts) whose
        time (``until``) ended by ``now``, or all of them without ``now``."""
        items = self.data.get(key, [])
        taken = [item for item in items
                 if (wanted is None or wanted(item))
                 and (now is None or datetime.fromisoformat(until(item)) <= now)]
        if taken:
            kept = [item for item in items if item not in taken]
            if kept:
                self.data[key] = kept
            else:
                del self.data[key]
            self.changed = True
        return taken


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data is not None else None


def _unb64(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text is not None else None
