"""The native engine's case document: bounded seen ids, held feedback, due times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.models import FilingDecided
from hub.models.examples import example_events
from streams.engine.case_document import MAX_SEEN_IDS, CaseDocument
from streams.engine.state import decode_value

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
