"""The native engine's case documents stay writable and readable (no poison case)."""

from __future__ import annotations

import re
import uuid

from prometheus_client import REGISTRY

from hub.models import CaseEvent, FilingDecided
from hub.models.examples import example_events
from streams._events import stored_form
from streams.engine.case_document import (
    MAX_STORED_EVENTS,
    STORED_EVENTS_HEAD,
    CaseDocument,
)
from streams.engine.inputs import subscription
from streams.engine.state import decode_value
from streams.engine.stored_events import decode_tolerant
from streams.topics import TopicNames


def _dropped(what: str) -> float:
    return REGISTRY.get_sample_value("liangfa_streams_state_dropped_total",
                                     {"what": what}) or 0.0


def _events(count: int) -> list[CaseEvent]:
    template = next(event for event in example_events().values()
                    if isinstance(event, FilingDecided))
    return [template.model_copy(update={"event_id": str(uuid.UUID(int=number + 1))})
            for number in range(count)]


def test_stored_events_are_bounded_keeping_the_first_and_the_latest() -> None:
    events = _events(MAX_STORED_EVENTS + 50)
    document = CaseDocument(0, events[0].case_id, None)
    before = _dropped("events-trimmed")
    for event in events:
        document.add_event(event)
    stored = decode_value(document.encoded())
    ids = [item[0] for item in stored["events"]]
    expected = ([e.event_id for e in events[:STORED_EVENTS_HEAD]]
                + [e.event_id for e in events[STORED_EVENTS_HEAD + 50:]])
    assert ids == expected
    assert [e.event_id for e in document.events()] == expected
    assert stored["dropped"] == {"events": 50}
    assert _dropped("events-trimmed") - before == 50


def test_an_oversized_document_is_shrunk_under_the_limit() -> None:
    events = _events(400)
    document = CaseDocument(0, events[0].case_id, None)
    for event in events:
        document.add_event(event)
        document.new_aggregate().apply(event)
        document.mark_seen(event.event_id)
    full = len(document.encoded())
    limit = full // 4
    shrunk = document.shrink(limit)
    assert shrunk is not None and len(shrunk) <= limit
    stored = decode_value(shrunk)
    ids = [item[0] for item in stored["events"]]
    assert ids[0] == events[0].event_id and ids[-1] == events[-1].event_id
    assert len(ids) < len(events)
    # the aggregate still knows every event it applied (nothing is applied twice)
    assert set(stored["aggregate"]["seen"]) >= {e.event_id for e in events}
    reread = CaseDocument(0, events[0].case_id, stored)
    assert [e.event_id for e in reread.events()] == ids


def test_a_document_that_cannot_fit_is_reported_not_written() -> None:
    events = _events(10)
    document = CaseDocument(0, events[0].case_id, None)
    for event in events:
        document.add_event(event)
    assert document.shrink(100) is None


def test_a_stored_event_that_no_longer_validates_is_skipped() -> None:
    events = _events(3)
    broken = stored_form(events[1])
    broken[2] = {**broken[2], "occurred_at": "not a time"}
    data = CaseDocument(0, events[0].case_id, None).data
    data["events"] = [stored_form(events[0]), broken, stored_form(events[2]),
                      [str(uuid.uuid4()), "NoSuchEvent", {}]]
    before = _dropped("unreadable-event")
    document = CaseDocument(0, events[0].case_id, data)
    assert [e.event_id for e in document.events()] == [events[0].event_id,
                                                       events[2].event_id]
    assert [item[0] for item in decode_value(document.encoded())["events"]] == [
        events[0].event_id, events[2].event_id]
    assert document.changed
    assert _dropped("unreadable-event") - before == 2
    models, kept = decode_tolerant([stored_form(events[0])], "case")
    assert [m.event_id for m in models] == [events[0].event_id] and len(kept) == 1


def test_the_subscription_follows_every_ingest_topic_and_the_fixed_topics() -> None:
    topics = TopicNames(prefix="t1.")
    entries = subscription(topics)

    def subscribed(name: str) -> bool:  # librdkafka: "^…" is a pattern, the rest names
        return any(re.match(entry, name) if entry.startswith("^") else entry == name
                   for entry in entries)

    assert all("(?" not in entry for entry in entries)  # librdkafka's regex has no (?:
    for name in ("t1.lf.ingest.11421181MB00000013.penalties",
                 "t1.lf.ingest.NEWUNIT.referrals", topics.case_events, topics.alerts,
                 topics.view_actions, topics.stats_feed):
        assert subscribed(name), name
    for name in ("lf.ingest.11421181MB00000013.penalties", "t2.lf.ingest.U.s",
                 topics.inbox("U"), topics.case_state, topics.dead_letters,
                 f"{topics.case_events}-x", "t1-engine-cases-changelog"):
        assert not subscribed(name), name


def test_a_withdrawn_feedback_leaves_the_history_and_may_come_back() -> None:
    events = _events(3)
    document = CaseDocument(0, events[0].case_id, None)
    for event in events:
        document.add_event(event)
        document.mark_seen(event.event_id)
    document.mark_seen("matched|" + events[1].event_id)
    document.deadlines_due = False
    assert document.withdraw(events[1].event_id)
    assert [e.event_id for e in document.events()] == [events[0].event_id,
                                                         events[2].event_id]
    assert document.deadlines_due  # its clocks open again
    assert events[1].event_id not in document.seen
    stored = decode_value(document.encoded())
    assert [item[0] for item in stored["events"]] == [events[0].event_id,
                                                      events[2].event_id]
    assert not {events[1].event_id, "matched|" + events[1].event_id} & set(stored["seen"])
    assert not document.withdraw(events[1].event_id)  # already gone
