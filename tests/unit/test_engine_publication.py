"""The end of a penalty's public disclosure is a timer of its case.

The public case-state feed is compacted (latest wins) and its publisher withdraws a
state past its 公示截止期 only when it reads one. So the engine schedules the end of
disclosure like a clock: in the case document and so in the due index, and the sweep at
that time emits the case's state again.

The end of a disclosure period cannot come during a test (it is a China midnight on the
real clock): the sweep's step is called with a wall time past it, as the worker calls it.
The outputs are a stand-in that keeps what would be produced (the producer and the
registry play no part in what is decided here; ``tests/integration/test_public_feeds.py``
runs the publisher's side on the real broker).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.calendar import CHINA_TZ, china_date
from hub.models import CaseEvent, CaseState, PenaltyCaseRecorded
from streams._events import stored_form
from streams.engine.case_document import CaseDocument
from streams.engine.evaluation import CaseEvaluation
from streams.topics import TopicNames
from tests.unit.data.case_events import HUB_UNIT, at, penalty, referred


class _Kept:
    """Keeps the events the evaluation would produce, by topic."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, CaseEvent]] = []

    async def event(self, topic: str, event: CaseEvent, **_: Any) -> None:
        self.sent.append((topic, event))


def _evaluation() -> tuple[CaseEvaluation, _Kept]:
    evaluation = object.__new__(CaseEvaluation)  # only what publish_state uses
    kept = _Kept()
    evaluation.outputs = kept  # type: ignore[assignment]
    evaluation.topics = TopicNames()
    evaluation.hub_unit_code = HUB_UNIT
    return evaluation, kept


def _document(*events: CaseEvent) -> CaseDocument:
    document = CaseDocument(0, events[0].case_id, None)
    aggregate = document.new_aggregate()
    for event in events:
        document.add_event(event)
        aggregate.apply(event)
    document.aggregate_changed = True
    return document


def _states(kept: _Kept) -> list[CaseState]:
    states = [event for topic, event in kept.sent if topic == TopicNames().case_state]
    assert all(isinstance(state, CaseState) for state in states)
    return states  # type: ignore[return-value]


def _penalty_until(deadline: date) -> PenaltyCaseRecorded:
    return penalty(at(2025, 1, 5)).model_copy(update={"disclosure_deadline": deadline})


def test_the_state_is_emitted_again_when_its_disclosure_ends_and_only_then() -> None:
    deadline = china_date(datetime.now(UTC)) + timedelta(days=30)
    ends = datetime(deadline.year, deadline.month, deadline.day, tzinfo=CHINA_TZ) \
        + timedelta(days=1)
    evaluation, kept = _evaluation()
    document = _document(_penalty_until(deadline), referred(at(2025, 1, 6, 10)))

    asyncio.run(evaluation.publish_state(document, None))  # the batch's evaluation
    (first,) = _states(kept)
    assert first.disclosure_deadline == deadline
    assert document.next_due() == ends
    document.begin_batch()

    asyncio.run(evaluation.publish_state(document, ends - timedelta(seconds=1)))
    assert len(_states(kept)) == 1  # a sweep before the end emits nothing
    asyncio.run(evaluation.publish_state(document, ends))
    again = _states(kept)[1]
    assert again.event_id == first.event_id  # the same state: a duplicate inside the hub
    assert again.disclosure_deadline == deadline
    assert document.changed and document.next_due() is None  # once
    document.begin_batch()
    asyncio.run(evaluation.publish_state(document, ends + timedelta(days=1)))
    assert len(_states(kept)) == 2


def test_no_timer_for_a_deadline_already_past_or_a_case_without_one() -> None:
    """Past: the publisher withholds the state it reads now. None: nothing to withdraw."""
    past = china_date(datetime.now(UTC)) - timedelta(days=1)
    for document in (_document(_penalty_until(past)), _document(penalty(at(2025, 1, 5)))):
        evaluation, kept = _evaluation()
        asyncio.run(evaluation.publish_state(document, None))
        assert len(_states(kept)) == 1
        assert document.data["publication"] == {"next_check": None}
        assert document.next_due() is None


def test_a_deadline_that_never_ends_sets_no_timer() -> None:
    """9999-12-31 is how many systems write "no end" (长期): there is no day after it."""
    evaluation, kept = _evaluation()
    document = _document(_penalty_until(date.max))
    asyncio.run(evaluation.publish_state(document, None))
    (state,) = _states(kept)
    assert state.disclosure_deadline == date.max
    assert document.data["publication"] == {"next_check": None}


def test_a_document_written_without_its_schedule_is_due_and_a_damaged_one_is_not_fatal(
        ) -> None:
    """An evaluation that raised before the schedule was written leaves the aggregate's
    deadline without ``publication``: the case is due at once. A damaged document gives
    no due time rather than stopping the due-time scan."""
    deadline = china_date(datetime.now(UTC)) + timedelta(days=30)
    data = json.loads(_document(_penalty_until(deadline)).encoded())
    assert "publication" not in data and data["aggregate"]["disclosure"][3]
    assert CaseDocument(0, "case-a", data).next_due() == datetime(1970, 1, 1, tzinfo=UTC)
    for damaged in ({"aggregate": {"disclosure": ["x"]}},
                    {"events": [["id-only"], None, 5]},
                    {"aggregate": "not a record"}):
        broken = json.loads(json.dumps(data))
        if "events" in damaged:
            del broken["aggregate"]["disclosure"]
        broken.update(damaged)
        assert CaseDocument(0, "case-a", broken).next_due() is None


def test_a_document_stored_by_an_earlier_engine_is_due_at_once_and_scheduled() -> None:
    """Stored before the withdrawal was scheduled (no ``publication``, an aggregate
    without ``disclosure``), a case holding a penalty with a deadline is due at the next
    sweep, which emits its state with the deadline learnt from the stored penalty and
    schedules the end. One without such a penalty is not due for it."""
    deadline = china_date(datetime.now(UTC)) + timedelta(days=30)
    document = _document(_penalty_until(deadline))
    data = json.loads(document.encoded())
    del data["aggregate"]["disclosure"]
    old = CaseDocument(0, document.case_id, data)
    assert "publication" not in old.data
    assert old.next_due() == datetime(1970, 1, 1, tzinfo=UTC)

    evaluation, kept = _evaluation()
    asyncio.run(evaluation.publish_state(old, datetime.now(UTC)))
    (state,) = _states(kept)
    assert state.disclosure_deadline == deadline
    assert old.next_due() == datetime(deadline.year, deadline.month, deadline.day,
                                      tzinfo=CHINA_TZ) + timedelta(days=1)
    assert json.loads(old.encoded())["aggregate"]["disclosure"][3] == deadline.isoformat()

    plain = json.loads(_document(penalty(at(2025, 1, 5))).encoded())
    del plain["aggregate"]["disclosure"]
    assert CaseDocument(0, document.case_id, plain).next_due() is None
    assert stored_form(_penalty_until(deadline))[1] == PenaltyCaseRecorded.avro_name
