"""Parked feedback that the matcher ties to its case by itself (its referral arrived after
it) leaves the unmatched queue; a match of feedback never parked changes nothing."""

from __future__ import annotations

import pytest

from hub.models import FeedbackMatched, FeedbackMatchWithdrawn, FeedbackUnmatched, MatchMethod
from hub.models.examples import example_events
from hub.view.apply import (
    apply_feedback_match_withdrawn,
    apply_feedback_matched,
    apply_unmatched,
)
from hub.view.store import Store, UnmatchedRow


def _pair() -> tuple[FeedbackUnmatched, FeedbackMatched]:
    examples = example_events()
    parked = examples["cn.liangfa.events.FeedbackUnmatched"]
    assert isinstance(parked, FeedbackUnmatched)
    matched = examples["cn.liangfa.events.FeedbackMatched"]
    assert isinstance(matched, FeedbackMatched)
    matched = matched.model_copy(update={"feedback_event_id": parked.feedback_event_id,
                                         "method": MatchMethod.PARTY_IDENTIFIER})
    return parked, matched


def test_a_later_automatic_match_closes_the_parked_item(view_store: Store) -> None:
    parked, matched = _pair()
    with view_store.session() as session:
        apply_unmatched(session, parked)
    with view_store.session() as session:
        assert session.get(UnmatchedRow, parked.feedback_event_id).status == "open"
        apply_feedback_matched(session, matched)
    with view_store.session() as session:
        row = session.get(UnmatchedRow, parked.feedback_event_id)
        assert row.status == "resolved"
        assert row.resolved_case_id == matched.case_id
        assert row.resolved_by == "matcher (PARTY_IDENTIFIER)"


def test_a_match_of_feedback_never_parked_adds_no_queue_item(view_store: Store) -> None:
    _, matched = _pair()
    with view_store.session() as session:
        apply_feedback_matched(session, matched)
    with view_store.session() as session:
        assert session.query(UnmatchedRow).count() == 0


def test_a_match_read_before_its_parked_item_leaves_the_item_closed(view_store: Store) -> None:
    """``lf.unmatched`` and the matcher's output are read in parallel: order must not
    reopen a queue item the matcher already resolved."""
    parked, matched = _pair()
    with view_store.session() as session:
        apply_feedback_matched(session, matched)
    with view_store.session() as session:
        apply_unmatched(session, parked)
    with view_store.session() as session:
        row = session.get(UnmatchedRow, parked.feedback_event_id)
        assert row.status == "resolved"
        assert row.resolved_case_id == matched.case_id
        assert row.resolved_by == "matcher (PARTY_IDENTIFIER)"
        apply_feedback_matched(session, matched)  # a replay changes nothing
    with view_store.session() as session:
        assert session.query(UnmatchedRow).filter_by(status="open").count() == 0


def _withdrawal(matched: FeedbackMatched) -> FeedbackMatchWithdrawn:
    withdrawn = example_events()["cn.liangfa.events.FeedbackMatchWithdrawn"]
    assert isinstance(withdrawn, FeedbackMatchWithdrawn)
    return withdrawn.model_copy(update={"case_id": matched.case_id,
                                        "feedback_event_id": matched.feedback_event_id})


@pytest.mark.parametrize("parked_first", [True, False])
def test_a_withdrawn_match_reopens_the_item_in_either_order(view_store: Store,
                                                                 parked_first: bool) -> None:
    """The matcher withdrew its own match (a second referral of the party was read): a
    person must choose, whichever of ``lf.unmatched`` and the case events is read first."""
    parked, matched = _pair()
    withdrawn = _withdrawal(matched)
    with view_store.session() as session:
        apply_feedback_matched(session, matched)
    steps = ([lambda s: apply_unmatched(s, parked),
              lambda s: apply_feedback_match_withdrawn(s, withdrawn)] if parked_first
             else [lambda s: apply_feedback_match_withdrawn(s, withdrawn),
                   lambda s: apply_unmatched(s, parked)])
    for step in steps:
        with view_store.session() as session:
            step(session)
    with view_store.session() as session:
        row = session.get(UnmatchedRow, parked.feedback_event_id)
        assert row.status == "open"
        assert row.resolved_case_id is None and row.resolved_by is None


def test_a_withdrawal_leaves_a_persons_resolution_alone(view_store: Store) -> None:
    parked, matched = _pair()
    with view_store.session() as session:
        apply_unmatched(session, parked)
    with view_store.session() as session:
        row = session.get(UnmatchedRow, parked.feedback_event_id)
        row.status, row.resolved_case_id, row.resolved_by = "resolved", matched.case_id, "张检察官"
    with view_store.session() as session:
        apply_feedback_match_withdrawn(session, _withdrawal(matched))
    with view_store.session() as session:
        assert session.get(UnmatchedRow, parked.feedback_event_id).status == "resolved"
