"""The parked-feedback entries by the referral number they quote (``GlobalIndex``): what
lets the batch that indexes a referral match, at once, the feedback parked for it
(``tests/integration/test_streams_parked_feedback_join.py`` runs it on a worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.models import FilingDecided
from hub.models.examples import example_events
from hub.rules import load_rule_set
from streams._events import stored_form
from streams.engine.global_index import REVIEW_PREFIX, GlobalIndex

PENDING = "engine-pending"


def _index() -> GlobalIndex:
    return GlobalIndex("engine-referrals", PENDING, load_rule_set().matching)


def _parked(number: str | None, event_id: str) -> dict[str, Any]:
    decision = next(e for e in example_events().values() if isinstance(e, FilingDecided))
    decision = decision.model_copy(update={"event_id": event_id, "referral_number": number})
    return {"feedback": stored_form(decision), "resolved": None}


def test_open_entries_are_found_by_the_number_they_quote_until_resolved() -> None:
    index = _index()
    entry = _parked("示例市监移〔2024〕7号", "f-1")
    # Parked under the feedback's id and the unmatched event's id: one feedback.
    index.apply(PENDING, "f-1", entry)
    index.apply(PENDING, "u-1", entry)
    index.apply(PENDING, "f-2", _parked("示例市监移〔2024〕7号", "f-2"))
    index.apply(PENDING, "f-3", _parked("示例市监移〔2024〕8号", "f-3"))
    assert index.pending_by_referral == {"示例市监移〔2024〕7号": {"f-1", "u-1", "f-2"},
                                         "示例市监移〔2024〕8号": {"f-3"}}
    resolved = {"resolved": {"case_id": "c"}}
    index.apply(PENDING, "f-1", resolved)
    index.apply(PENDING, "u-1", resolved)
    index.apply(PENDING, "f-3", resolved)
    assert index.pending_by_referral == {"示例市监移〔2024〕7号": {"f-2"}}


def test_feedback_quoting_no_number_and_reviews_are_not_listed() -> None:
    index = _index()
    index.apply(PENDING, "f-1", _parked(None, "f-1"))
    index.apply(PENDING, f"{REVIEW_PREFIX}f-9", {"case_id": "c", "identifiers": ["x"]})
    assert index.pending_by_referral == {}
    assert index.reviews.get(f"{REVIEW_PREFIX}f-9") == {"case_id": "c", "identifiers": ["x"]}


def test_an_entry_that_no_longer_validates_is_skipped_not_raised() -> None:
    """Parked entries are replicated to every worker: one written by an earlier version
    (or damaged) must not fail every batch that indexes a referral on every worker."""
    import asyncio

    from hub.models.examples import EXAMPLE_HUB_UNIT
    from streams.engine.matching import MatchingProcessor
    from streams.engine.timers import HELD_KEYS, DueIndex
    from streams.topics import TopicNames

    index = _index()
    damaged = _parked("示例市监移〔2024〕7号", "f-old")
    damaged["feedback"][2]["occurred_at"] = "not a date"
    index.apply(PENDING, "f-old", damaged)
    index.apply(PENDING, "f-new", _parked("示例市监移〔2024〕8号", "f-new"))
    index.apply(PENDING, "f-gone", {"feedback": None, "resolved": None, "withdrawn": "c"})
    matching = MatchingProcessor(topics=TopicNames("lf."), hub_unit_code=EXAMPLE_HUB_UNIT,
                                 serde=None, outputs=None,  # type: ignore[arg-type]
                                 index=index, held=DueIndex(HELD_KEYS, {}))
    matching.index_grew = True
    # No referral is indexed, so nothing matches: the pass reads every entry and ends.
    assert asyncio.run(matching.rematch_parked()) == 0


def test_settled_entries_leave_the_heap_but_stay_known(tmp_path: Path) -> None:
    """One settled entry per feedback ever parked: in the index's RocksDB store, not on
    the heap, and still known (matching drops a replayed feedback as a duplicate by it).
    Parked again after a withdrawal, the entry is open on the heap once more."""
    index = GlobalIndex("engine-referrals", PENDING, load_rule_set().matching,
                        directory=tmp_path / "index")
    try:
        open_entry = _parked("示例市监移〔2024〕7号", "f-1")
        index.apply(PENDING, "f-1", open_entry)
        assert index.parked("f-1") == open_entry and "f-1" in index.pending
        settled = {"feedback": None, "resolved": "case-1"}
        index.apply(PENDING, "f-1", settled)
        assert "f-1" not in index.pending and index.pending_by_referral == {}
        assert index.parked("f-1") == settled
        assert index.parked("f-never") is None
        index.apply(PENDING, "f-1", open_entry)
        assert index.parked("f-1") == open_entry
        assert index.pending_by_referral == {"示例市监移〔2024〕7号": {"f-1"}}
        index.apply(PENDING, "f-1", settled)
    finally:
        index.stop()
    reopened = GlobalIndex("engine-referrals", PENDING, load_rule_set().matching,
                           directory=tmp_path / "index")
    try:
        assert reopened.parked("f-1") == settled and reopened.pending == {}
    finally:
        reopened.stop()


def test_feedback_its_case_refused_waits_for_a_person_not_for_the_next_pass() -> None:
    """A re-keyed copy the case refused (its sender may not add it to the case) opens
    the parked entry again for a person; the re-match passes must not match it to the
    same case again, to be refused again, at every referral indexed."""
    import asyncio

    from hub.models import CaseReferred
    from hub.models.examples import EXAMPLE_HUB_UNIT
    from streams.engine.matching import MatchingProcessor
    from streams.engine.timers import HELD_KEYS, DueIndex
    from streams.matching import indexed_entries
    from streams.topics import TopicNames

    index = _index()
    referral = next(e for e in example_events().values() if isinstance(e, CaseReferred))
    for key, value in indexed_entries(referral):
        index.apply("engine-referrals", key, value)
    entry = _parked(referral.referral_number, "f-1")
    feedback = next(e for e in example_events().values() if isinstance(e, FilingDecided))
    assert index.matcher.match(feedback).case_id == referral.case_id  # it would match
    index.apply(PENDING, "f-1", {**entry, "refused": referral.case_id})
    assert index.parked("f-1") is not None  # known: a redelivery is still a duplicate
    # No outputs: a pass that tried to re-key it would fail on them.
    matching = MatchingProcessor(topics=TopicNames("lf."), hub_unit_code=EXAMPLE_HUB_UNIT,
                                 serde=None, outputs=None,  # type: ignore[arg-type]
                                 index=index, held=DueIndex(HELD_KEYS, {}))
    matching.index_grew = True
    assert asyncio.run(matching.rematch_parked()) == 0
    assert asyncio.run(matching.rematch_quoting(referral, [])) == 0


def test_a_manual_match_to_the_case_that_refused_the_feedback_is_not_made() -> None:
    """The case remembers its refusal and would drop the copy while the match stood; a
    person may match the feedback to another case (its dead letter is replayed once
    its sender may add it to the refusing one)."""
    import asyncio

    from hub.models import ViewAction, ViewActionKind
    from hub.models.examples import EXAMPLE_HUB_UNIT
    from streams.engine.matching import MatchingProcessor
    from streams.engine.timers import HELD_KEYS, DueIndex
    from streams.topics import TopicNames

    index = _index()
    index.apply(PENDING, "f-1", {**_parked("示例市监移〔2024〕7号", "f-1"), "refused": "case-x"})
    action = next(e for e in example_events().values() if isinstance(e, ViewAction))
    action = action.model_copy(update={"action_kind": ViewActionKind.MANUAL_MATCH,
                                       "target": "f-1", "case_id": "case-x",
                                       "payload": {"case_id": "case-x"}})
    # No outputs: a match that went ahead would fail on them.
    matching = MatchingProcessor(topics=TopicNames("lf."), hub_unit_code=EXAMPLE_HUB_UNIT,
                                 serde=None, outputs=None,  # type: ignore[arg-type]
                                 index=index, held=DueIndex(HELD_KEYS, {}))
    asyncio.run(matching.manual_match(action))
    parked = index.parked("f-1")
    assert parked is not None and parked.get("refused") == "case-x"
    assert not parked.get("resolved")
    other = action.model_copy(update={"case_id": "case-y", "payload": {"case_id": "case-y"}})
    with pytest.raises(AttributeError):  # to another case it goes ahead (to the outputs)
        asyncio.run(matching.manual_match(other))


class _SentRecords:
    """Stands in for the engine's outputs, which need a broker: records what was sent
    (``tests/integration/test_streams_forged_routes.py`` runs the same on a worker)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes | None,
                   headers: list[tuple[str, bytes]]) -> None:
        self.sent.append((topic, key))


def test_feedback_a_case_takes_after_refusing_it_is_settled_and_linked_again() -> None:
    """Replayed once its sender is entitled, refused feedback joins the case: its parked
    entry (marked refused by that case) is settled to it, and its police case number
    leads to the case again. An entry another case refused is not that case's to settle;
    a number that leads to another case now, and feedback a person matched to another
    case since, are left as they are."""
    import asyncio

    from hub.models.examples import EXAMPLE_HUB_UNIT
    from streams.engine.matching import MatchingProcessor
    from streams.engine.timers import HELD_KEYS, DueIndex
    from streams.topics import TopicNames

    index = _index()
    entry = _parked("示例市监移〔2024〕7号", "f-1")
    index.apply(PENDING, "f-1", {**entry, "refused": "case-x"})
    template = next(e for e in example_events().values() if isinstance(e, FilingDecided))

    def feedback(event_id: str, number: str | None) -> FilingDecided:
        return template.model_copy(update={"event_id": event_id,
                                           "police_case_number": number})

    outputs = _SentRecords()
    matching = MatchingProcessor(topics=TopicNames("lf."), hub_unit_code=EXAMPLE_HUB_UNIT,
                                 serde=None, outputs=outputs,  # type: ignore[arg-type]
                                 index=index, held=DueIndex(HELD_KEYS, {}))
    linked = index.matcher.linked_case
    unit = template.source_unit

    asyncio.run(matching.rejoined(feedback("f-1", None), "case-y", None))
    assert index.parked("f-1") == {**entry, "refused": "case-x"}
    assert outputs.sent == []
    asyncio.run(matching.rejoined(feedback("f-1", "A1"), "case-x", None))
    assert index.parked("f-1") == {"feedback": None, "resolved": "case-x"}
    assert linked(unit, "A1") == "case-x"
    assert (PENDING, b"f-1") in outputs.sent

    index.matcher.link_police_case(unit, "A3", "case-w")
    asyncio.run(matching.rejoined(feedback("f-3", "A3"), "case-x", None))
    assert linked(unit, "A3") == "case-w"

    index.apply(PENDING, "f-2", {"feedback": None, "resolved": "case-z"})
    outputs.sent.clear()
    asyncio.run(matching.rejoined(feedback("f-2", "A2"), "case-x", None))
    assert outputs.sent == [] and linked(unit, "A2") is None
    assert index.parked("f-2") == {"feedback": None, "resolved": "case-z"}
