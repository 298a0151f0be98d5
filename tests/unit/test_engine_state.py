"""The native engine's case document: bounded seen ids, held feedback, due times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.models import CaseEvent, FilingDecided, PenaltyCaseRecorded
from hub.models.examples import example_events
from streams.engine.case_document import MAX_SEEN_IDS, CaseDocument
from streams.engine.intake import Intake
from streams.engine.state import PartitionStore, decode_value
from streams.safety import RawRecord
from streams.topics import TopicNames

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_seen_ids_are_bounded_and_keep_the_latest() -> None:
    document = CaseDocument(0, "case", None)
    for number in range(MAX_SEEN_IDS + 10):
        document.mark_seen(f"event-{number}")
    stored = decode_value(document.encoded())
    assert len(stored["seen"]) == MAX_SEEN_IDS
    assert f"event-{MAX_SEEN_IDS + 9}" in document.seen
    assert "event-0" not in document.seen


def test_held_feedback_survives_the_store_and_is_taken_once() -> None:
    feedback = next(event for event in example_events().values()
                    if isinstance(event, FilingDecided))
    document = CaseDocument(1, feedback.case_id, None)
    document.hold(feedback, NOW + timedelta(seconds=5))
    reread = CaseDocument(1, feedback.case_id, decode_value(document.encoded()))
    assert reread.held_until() == NOW + timedelta(seconds=5)
    assert [event.event_id for event in reread.take_held()] == [feedback.event_id]
    assert reread.take_held() == []
    assert reread.held_until() is None


def test_feedback_held_later_keeps_the_rest_of_its_grace() -> None:
    """When the earliest grace ends, feedback held after it stays held until its own."""
    first = next(event for event in example_events().values()
                 if isinstance(event, FilingDecided))
    later = first.model_copy(update={"event_id": "later-feedback"})
    document = CaseDocument(1, first.case_id, None)
    document.hold(first, NOW + timedelta(seconds=5))
    document.hold(later, NOW + timedelta(seconds=9))
    assert [e.event_id for e in document.take_held(NOW + timedelta(seconds=6))] == [
        first.event_id]
    assert document.held_until() == NOW + timedelta(seconds=9)
    assert document.take_held(NOW + timedelta(seconds=8)) == []
    assert [e.event_id for e in document.take_held(NOW + timedelta(seconds=9))] == [
        "later-feedback"]
    assert document.held_until() is None


def test_next_due_is_the_earliest_of_clocks_and_screening() -> None:
    document = CaseDocument(0, "case", None)
    assert document.next_due() is None
    document.data["deadlines"]["next_check"] = (NOW + timedelta(days=3)).isoformat()
    document.data["screening"]["next_check"] = (NOW + timedelta(days=1)).isoformat()
    assert document.next_due() == NOW + timedelta(days=1)


def test_normalize_marks_an_event_after_what_the_batch_does_to_its_case(
        tmp_path: Path) -> None:
    """A batch's changelog may reach the broker only in part before its worker is killed.
    The normalize mark (an event seen) goes after the case's document: a restore never
    holds the mark without the event on its case, which would drop the event for good
    when the batch is read again."""
    event = next(event for event in example_events().values()
                 if isinstance(event, PenaltyCaseRecorded))
    store = PartitionStore(tmp_path / "engine-cases-0", "changelog", 0)
    intake = object.__new__(_Normalize)  # what normalize reads, with real stores
    intake.event = event
    intake.topics = TopicNames("lf.")
    intake.case_stores = {0: store}
    intake.case_partitions = [0]  # one partition: every case is this task's (one hop)
    record = RawRecord(intake.topics.ingest(event.source_unit, "penalties"), 0, 41, b"key",
                       b"value")
    try:
        handed_on = asyncio.run(intake.normalize(record))
        assert handed_on is not None and handed_on[1] is event
        document = CaseDocument(0, event.case_id, None)  # what finish_cases stages later
        document.add_event(event)
        store.put(document.key, document.encoded())
        keys = [key for key, _ in store.changelog_records()]
        assert keys == [document.key, b"n|" + event.event_id.encode()]
        store.commit_local(last_offset=1)
        assert asyncio.run(intake.normalize(record)) is None  # seen: dropped once written
    finally:
        store.close()


class _Normalize(Intake):
    """Intake with a fixed decoded event (decoding is tested with the registry)."""

    event: CaseEvent

    async def decode(self, record: RawRecord, processor: str) -> CaseEvent | None:
        return self.event
