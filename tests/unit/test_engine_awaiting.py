"""The waiting room of a case (``CaseDocument.await_case``): what a unit not entitled to
a case yet may leave there, and when it is full.

Since the sixteenth pass events may wait on known cases too, so the room must not let a
rogue unit crowd out another unit's real answer, nor grow the document until the case's
own history is trimmed to make room.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from hub.models import AgencyReplied
from hub.models.examples import EXAMPLE_POLICE, example_events
from streams.engine.case_document import CaseDocument
from streams.engine.waiting_room import (
    AWAIT_BYTES,
    AWAIT_PER_UNIT,
    RECHECK_BYTES_PER_UNIT,
    RECHECK_LIMIT,
    RECHECK_PER_UNIT,
)
from streams.safety import RawRecord
from tests.support.supervision_county import EXAMPLE_COMMISSION, EXAMPLE_JUSTICE

UNTIL = datetime(2026, 12, 6, tzinfo=UTC) + timedelta(seconds=5)


def _answer(unit: str, value_bytes: int = 200) -> tuple[RawRecord, AgencyReplied]:
    template = next(event for event in example_events().values()
                    if isinstance(event, AgencyReplied))
    event = template.model_copy(update={"event_id": str(uuid.uuid4()), "source_unit": unit})
    record = RawRecord(f"lf.ingest.{unit}.replies", 0, 7, event.case_id.encode(),
                       b"x" * value_bytes, (("ce_id", event.event_id.encode()),))
    return record, event


def test_one_units_events_cannot_crowd_out_anothers() -> None:
    document = CaseDocument(0, str(uuid.uuid4()), None)
    rogue = [_answer(EXAMPLE_COMMISSION) for _ in range(AWAIT_PER_UNIT + 3)]
    kept = [document.await_case(record, event, UNTIL, 32) for record, event in rogue]
    assert kept == [True] * AWAIT_PER_UNIT + [False] * 3
    record, event = _answer(EXAMPLE_JUSTICE)
    assert document.await_case(record, event, UNTIL, 32)
    # The same record again (a redelivery) waits already: no second entry.
    assert document.await_case(record, event, UNTIL, 32)
    assert len(document.data["awaiting"]) == AWAIT_PER_UNIT + 1


def test_the_room_holds_at_most_its_bytes_and_its_count() -> None:
    document = CaseDocument(0, str(uuid.uuid4()), None)
    large = AWAIT_BYTES // 3
    units = [EXAMPLE_COMMISSION, EXAMPLE_JUSTICE, EXAMPLE_POLICE]
    kept = [document.await_case(*_answer(unit, large), UNTIL, 32) for unit in units]
    assert kept == [True, True, False]  # the third would pass the room's bytes
    small = CaseDocument(0, str(uuid.uuid4()), None)
    kept = [small.await_case(*_answer(unit), UNTIL, 2) for unit in units]
    assert kept == [True, True, False]  # the room's count
    # What waits is taken back whole, as it was read.
    taken = small.take_awaiting()
    assert [item.event.source_unit for item in taken] == units[:2]
    assert all(item.record.value == b"x" * 200 and not item.refused for item in taken)
    assert "awaiting" not in small.data


def test_refused_events_kept_to_check_again_have_a_room_of_their_own() -> None:
    """A refused event kept for a later forward must not take the place of one waiting
    for the input frontier, nor let one unit fill the refused room."""
    document = CaseDocument(0, str(uuid.uuid4()), None)
    rogue = [_answer(EXAMPLE_COMMISSION) for _ in range(RECHECK_PER_UNIT + 2)]
    kept = [document.await_case(record, event, UNTIL, 32, refused=True)
            for record, event in rogue]
    assert kept == [True] * RECHECK_PER_UNIT + [False] * 2
    others = [_answer(unit) for unit in (EXAMPLE_JUSTICE, EXAMPLE_POLICE)
              for _ in range(RECHECK_PER_UNIT)]
    kept = [document.await_case(record, event, UNTIL, 32, refused=True)
            for record, event in others]
    assert kept.count(True) == RECHECK_LIMIT - RECHECK_PER_UNIT  # the room's count
    # The commission's own events still wait for the frontier: the refused room is apart.
    waiting = [document.await_case(record, event, UNTIL, 32)
               for record, event in (_answer(EXAMPLE_COMMISSION)
                                     for _ in range(AWAIT_PER_UNIT))]
    assert waiting == [True] * AWAIT_PER_UNIT
    taken = document.take_awaiting()
    assert sum(item.refused for item in taken) == RECHECK_LIMIT
    assert {item.event.event_id for item in taken if item.refused} == {
        event.event_id for _, event in rogue[:RECHECK_PER_UNIT]} | {
        event.event_id for _, event in others[:RECHECK_LIMIT - RECHECK_PER_UNIT]}


def test_refused_events_take_at_most_their_share_of_the_rooms_bytes() -> None:
    document = CaseDocument(0, str(uuid.uuid4()), None)
    third = RECHECK_BYTES_PER_UNIT // 3
    kept = [document.await_case(*_answer(EXAMPLE_COMMISSION, third), UNTIL, 32,
                                refused=True) for _ in range(3)]
    assert kept == [True, True, False]  # one unit's share, with the keys and headers
    units = [f"9142118{index}MA0000000X" for index in range(5)]
    room = CaseDocument(0, str(uuid.uuid4()), None)
    kept = [room.await_case(*_answer(unit, RECHECK_BYTES_PER_UNIT - 1000), UNTIL, 32,
                            refused=True) for unit in units]
    assert kept == [True] * 4 + [False]  # the refused room's bytes
    # what is waiting counts against the room's bytes as a whole
    full = CaseDocument(0, str(uuid.uuid4()), None)
    assert full.await_case(*_answer(EXAMPLE_JUSTICE, AWAIT_BYTES - 1000), UNTIL, 32)
    assert not full.await_case(*_answer(EXAMPLE_COMMISSION, 2000), UNTIL, 32,
                               refused=True)


def test_a_refusal_awaiting_its_withdrawal_is_not_taken_to_be_checked_before_it() -> None:
    """The matcher's copy refused published a FeedbackMatchWithdrawn: checked (and
    joined) before the case read it, the feedback would be taken out again by it."""
    document = CaseDocument(0, str(uuid.uuid4()), None)
    record, event = _answer(EXAMPLE_POLICE)
    assert document.await_case(record, event, UNTIL, 32, refused=True,
                               awaits_withdrawal=True)
    assert document.take_awaiting(refused=True) == []
    assert document.has_refused_waiting()
    document.withdrawal_read(event.event_id)
    [item] = document.take_awaiting(refused=True)
    assert item.event.event_id == event.event_id and item.refused
    # at the end of its time it is taken whatever it waits for
    assert document.await_case(record, event, UNTIL, 32, refused=True,
                               awaits_withdrawal=True)
    assert [item.event.event_id for item in document.take_awaiting(UNTIL)] == [
        event.event_id]


def test_a_replayed_copy_of_a_kept_refusal_waits_in_its_place() -> None:
    """Replayed from the dead letters, an event the case keeps as refused is judged as
    the replay (and dead-lettered again if still refused), not swallowed as waiting."""
    document = CaseDocument(0, str(uuid.uuid4()), None)
    record, event = _answer(EXAMPLE_COMMISSION)
    assert document.await_case(record, event, UNTIL, 32, refused=True)
    assert document.await_case(record, event, UNTIL, 32, refused=True)  # kept already
    replayed = dataclasses.replace(record, offset=99)
    assert document.await_case(replayed, event, UNTIL, 32)
    [item] = document.take_awaiting()
    assert (item.refused, item.record.offset) == (False, 99)


def test_kept_refusals_are_read_in_place_and_found_in_the_stored_bytes() -> None:
    """What a worker checks when it is assigned a partition (``Sweeps.recheck_assigned``):
    the refusals a case keeps, read without taking them, and only in documents whose
    stored bytes show one (the rest are not decoded)."""
    document = CaseDocument(0, str(uuid.uuid4()), None)
    waiting = _answer(EXAMPLE_JUSTICE)
    document.await_case(*waiting, UNTIL, 32)
    assert document.kept_refusals() == []
    assert b'"refused":true' not in document.encoded()
    refused, awaiting_withdrawal = _answer(EXAMPLE_COMMISSION), _answer(EXAMPLE_POLICE)
    document.await_case(*refused, UNTIL, 32, refused=True)
    document.await_case(*awaiting_withdrawal, UNTIL, 32, refused=True,
                        awaits_withdrawal=True)
    assert [kept.event.event_id for kept in document.kept_refusals()] == [
        refused[1].event_id]  # not the one whose withdrawal the case has not read
    assert len(document.data["awaiting"]) == 3  # nothing taken
    assert b'"refused":true' in document.encoded()
