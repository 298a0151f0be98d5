"""The waiting room of a case (``CaseDocument.await_case``): what a unit not entitled to
a case yet may leave there, and when it is full.

Since the sixteenth pass events may wait on known cases too, so the room must not let a
rogue unit crowd out another unit's real answer, nor grow the document until the case's
own history is trimmed to make room.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hub.models import AgencyReplied
from hub.models.examples import EXAMPLE_POLICE, example_events
from streams.engine.case_document import AWAIT_BYTES, AWAIT_PER_UNIT, CaseDocument
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
    assert [event.source_unit for _, event, _ in taken] == units[:2]
    assert all(record.value == b"x" * 200 for record, _, _ in taken)
    assert "awaiting" not in small.data
