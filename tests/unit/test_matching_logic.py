"""Feedback matching: referral number, decision number, party identifiers, confidence."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rocksdict import Rdict

from hub.identity import case_id_for, resident_id_check_char
from hub.models import CaseEvent, MatchMethod
from hub.rules import load_matching
from streams.engine.match_store import RocksMatchStorage, open_index_store
from streams.match_index import ReferralRecord, normalise_document_number
from streams.matching_logic import (
    REFERRAL_NUMBER_INDEX,
    FeedbackMatcher,
    matched_event,
    unmatched_event,
    withdrawn_event,
)
from tests.unit.data.case_events import (
    CASE,
    COUNTY_PSB,
    COURT,
    ECONOMIC_CRIME_UNIT,
    FORESTRY,
    HUB_UNIT,
    MARKET,
    TOBACCO,
    at,
    decided,
    judgment,
    judicial_recommendation,
    party,
    penalty,
    reconsideration_decided,
    referred,
)

ZHANG_ID = "42099919900101123" + resident_id_check_char("42099919900101123")
ZHANG = party("张某", credit_code=None, category="NATURAL_PERSON", id_number=ZHANG_ID)
COMPANY = party()

CASE2 = case_id_for(MARKET, "青市监罚〔2025〕2号")
CASE3 = case_id_for(TOBACCO, "青烟罚〔2025〕1号")
CASE4 = case_id_for(FORESTRY, "青林罚〔2025〕1号")
CASE5 = case_id_for(MARKET, "青市监罚〔2025〕5号")
POLICE_CASE_ID = case_id_for(COUNTY_PSB, "青公刑立〔2025〕9号")

REFERRALS = [
    referred(at(2025, 1, 6, 10), decision_number="青市监罚〔2025〕1号", parties=[COMPANY]),
    referred(at(2025, 2, 10, 10), case_id=CASE2, number="青市监移〔2025〕2号",
             offence="非法经营罪", article="225", parties=[ZHANG],
             decision_number="青市监罚〔2025〕2号").model_copy(
        update={"agency_case_number": "青市监案〔2025〕22号"}),
    referred(at(2025, 3, 1, 10), case_id=CASE3, unit=TOBACCO, number="移〔2025〕1号",
             to=ECONOMIC_CRIME_UNIT, parties=[party("李某", credit_code=None,
                                                   category="NATURAL_PERSON")]),
    referred(at(2025, 3, 2, 10), case_id=CASE4, unit=FORESTRY, number="移〔2025〕1号",
             parties=[party("王某", credit_code=None, category="NATURAL_PERSON")]),
]
PENALTY_ONLY = penalty(at(2025, 4, 1, 10), case_id=CASE5, decision_number="青市监罚〔2025〕5号")


@pytest.fixture(params=["heap", "rocksdb"])
def matcher(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedbackMatcher]:
    """The same matcher over both index storages (a worker's is RocksDB, on disk)."""
    db = open_index_store(tmp_path / "index") if request.param == "rocksdb" else None
    matcher = FeedbackMatcher(load_matching(),
                              RocksMatchStorage(db) if db is not None else None)
    for event in [*REFERRALS, PENALTY_ONLY]:
        assert matcher.add_event(event)
    yield matcher
    if db is not None:
        db.close()


def test_the_rocksdb_index_survives_a_reopen(tmp_path: Path) -> None:
    """What a worker indexed is still there after a restart with its data dir kept."""
    db = open_index_store(tmp_path / "index")
    storage = RocksMatchStorage(db)
    first = FeedbackMatcher(load_matching(), storage)
    for event in [*REFERRALS, PENALTY_ONLY]:
        first.add_event(event)
    first.add_event(REFERRALS[0])  # idempotent: counted once
    first.link_police_case(COUNTY_PSB, "青公刑立〔2025〕9号", CASE2)
    storage.flush()
    db.close()
    db = open_index_store(tmp_path / "index")
    again = FeedbackMatcher(load_matching(), RocksMatchStorage(db))
    assert len(again) == len(REFERRALS) + 1
    result = again.match(feedback(referral_number="青市监移[2025]1号", police_case_number=None))
    assert (result.case_id, result.method) == (CASE, MatchMethod.REFERRAL_NUMBER)
    linked = again.match(feedback(police_case_number="青公刑立〔2025〕9号"))
    assert linked.case_id == CASE2
    assert again.referring_unit_of(CASE3) == TOBACCO
    db.close()


def feedback(occurred=None, **kwargs) -> CaseEvent:
    """Police feedback keyed by the police's own case id."""
    kwargs.setdefault("referral_number", None)
    kwargs.setdefault("agency", None)
    return decided(occurred or at(2025, 5, 6, 10), case_id=POLICE_CASE_ID, **kwargs)


MATCH_TABLE = [
    # id, feedback, expected case, method, confidence
    ("referral number", feedback(referral_number="青市监移〔2025〕1号"), CASE,
     MatchMethod.REFERRAL_NUMBER, Decimal(1)),
    ("referral number typed with square brackets", feedback(referral_number="青市监移[2025]1号"),
     CASE, MatchMethod.REFERRAL_NUMBER, Decimal(1)),
    ("referral number with full-width parentheses and spaces",
     feedback(referral_number=" 青市监移（2025）2号 "), CASE2, MatchMethod.REFERRAL_NUMBER,
     Decimal(1)),
    ("decision number of a penalty without referral",
     feedback(decision_number="青市监罚〔2025〕5号"), CASE5, MatchMethod.AGENCY_DECISION_NUMBER,
     Decimal("0.95")),
    ("decision number quoted on a referral", feedback(decision_number="青市监罚〔2025〕1号"),
     CASE, MatchMethod.AGENCY_DECISION_NUMBER, Decimal("0.95")),
    ("a shared referral number narrowed by the referring unit",
     feedback(referral_number="移〔2025〕1号", agency=TOBACCO), CASE3,
     MatchMethod.REFERRAL_NUMBER, Decimal(1)),
]


@pytest.mark.parametrize(("case", "event", "case_id", "method", "confidence"), MATCH_TABLE,
                         ids=[row[0] for row in MATCH_TABLE])
def test_confident_matches(matcher: FeedbackMatcher, case: str, event: CaseEvent,
                           case_id: str, method: MatchMethod, confidence: Decimal) -> None:
    result = matcher.match(event)
    assert result.confident, result
    assert (result.case_id, result.method, result.confidence) == (case_id, method, confidence)


def test_a_number_another_agency_indexed_is_not_matched_for_the_agency_named(
        matcher: FeedbackMatcher) -> None:
    """Referral numbers run in sequence and are published: an agency may index the next
    number of another agency's series before that agency's own referral is read. Feedback
    that names the agency it answers must not follow the number to the other's case."""
    squatted = referred(at(2025, 5, 1, 10), case_id=CASE4, unit=FORESTRY,
                        number="青市监移〔2025〕9号", parties=[COMPANY])
    assert matcher.add_event(squatted)
    answer = feedback(referral_number="青市监移〔2025〕9号", agency=MARKET)
    assert matcher.match(answer).case_id != CASE4
    # Without an agency named, the number alone still points at the one case.
    assert matcher.match(feedback(referral_number="青市监移〔2025〕9号", agency=None)
                         ).case_id == CASE4


def test_agency_case_number(matcher: FeedbackMatcher) -> None:
    event = feedback().model_copy(update={"agency_case_number": "青市监案〔2025〕22号"})
    result = matcher.match(event)
    assert (result.case_id, result.method) == (CASE2, MatchMethod.AGENCY_CASE_NUMBER)


def test_a_shared_referral_number_gives_candidates(matcher: FeedbackMatcher) -> None:
    result = matcher.match(feedback(referral_number="移〔2025〕1号"))
    assert not result.confident
    assert [(c.case_id, c.score) for c in result.candidates] == sorted(
        [(CASE3, Decimal("0.5")), (CASE4, Decimal("0.5"))]
    )
    assert "shared by 2 cases" in result.candidates[0].reason


def test_sole_identifier_match_with_same_unit_and_offence_is_confident(
        matcher: FeedbackMatcher) -> None:
    result = matcher.match(feedback(at(2025, 2, 20, 10), parties=[ZHANG], offence="非法经营罪"))
    assert result.confident
    assert (result.case_id, result.method) == (CASE2, MatchMethod.PARTY_IDENTIFIER)
    assert result.confidence == Decimal("0.95")
    assert "only referral of this party" in result.candidates[0].reason


@pytest.mark.parametrize(
    ("case", "event", "score", "reason"),
    [
        ("identifier and same unit", feedback(at(2025, 2, 20, 10), parties=[ZHANG]),
         Decimal("0.85"), "same unit"),
        ("identifier only, another police unit",
         decided(at(2025, 2, 20, 10), case_id=POLICE_CASE_ID, police=ECONOMIC_CRIME_UNIT,
                 referral_number=None, agency=None, parties=[ZHANG]),
         Decimal("0.7"), "same party identifier"),
    ],
)
def test_weaker_identifier_matches_need_a_person(matcher: FeedbackMatcher, case: str,
                                                 event: CaseEvent, score: Decimal,
                                                 reason: str) -> None:
    result = matcher.match(event)
    assert not result.confident, case
    [candidate] = result.candidates
    assert candidate.case_id == CASE2
    assert candidate.method is MatchMethod.PARTY_IDENTIFIER
    assert candidate.score == score
    assert reason in candidate.reason
    assert result.confidence == score


def test_two_referrals_of_one_party_always_go_to_a_person() -> None:
    second = REFERRALS[1].model_copy(update={
        "event_id": "0f0e0d0c-0b0a-4908-8706-050403020100",
        "case_id": "0f0e0d0c-0b0a-4908-8706-0504030201ff",
        "referral_number": "另一移送书〔2025〕9号",
    })
    ambiguous = FeedbackMatcher(load_matching())
    ambiguous.add_event(REFERRALS[1])
    ambiguous.add_event(second)
    result = ambiguous.match(feedback(at(2025, 2, 20, 10), parties=[ZHANG], offence="非法经营罪"))
    assert not result.confident
    assert {c.case_id for c in result.candidates} == {REFERRALS[1].case_id, second.case_id}
    assert {c.score for c in result.candidates} == {Decimal("0.85")}


def test_identifier_scores_are_capped(matcher: FeedbackMatcher) -> None:
    params = load_matching()
    rich = params.model_copy(update={"scores": params.scores.model_copy(
        update={"party_identifier": Decimal("0.85")})})
    generous = FeedbackMatcher(rich)
    generous.add_event(REFERRALS[1])
    result = generous.match(feedback(at(2025, 2, 20, 10), parties=[ZHANG], offence="非法经营罪"))
    assert result.candidates[0].score == params.party_identifier_bonus.identifier_max


@pytest.mark.parametrize(
    "occurred",
    [at(2025, 2, 9, 10), at(2026, 2, 11, 10)],  # before the referral; after the window
    ids=["before the referral", "after the date window"],
)
def test_identifier_matches_respect_the_date_window(matcher: FeedbackMatcher,
                                                    occurred) -> None:
    assert matcher.match(feedback(occurred, parties=[ZHANG])).candidates == ()


def test_nothing_to_match(matcher: FeedbackMatcher) -> None:
    result = matcher.match(feedback(referral_number="无此文号"))
    assert not result.confident
    assert result.candidates == ()
    assert result.confidence == Decimal(0)


def test_feedback_carrying_the_hub_case_id(matcher: FeedbackMatcher) -> None:
    result = matcher.match(decided(at(2025, 5, 6, 10), referral_number=None))
    assert (result.case_id, result.method) == (CASE, MatchMethod.CASE_ID)


def test_a_linked_police_case_number_matches_later_feedback(matcher: FeedbackMatcher) -> None:
    later = reconsideration_decided(at(2025, 5, 20, 10), case_id=POLICE_CASE_ID)
    later = later.model_copy(update={"referral_number": None,
                                     "police_case_number": "青公刑立〔2025〕9号"})
    assert not matcher.match(later).confident
    matcher.link_police_case(COUNTY_PSB, "青公刑立[2025]9号", CASE)
    result = matcher.match(later)
    assert (result.case_id, result.method) == (CASE, MatchMethod.CASE_ID)


COURT_CASE_ID = case_id_for(COURT, "(2025)鄂0999刑初1号")
POLICE_NUMBER = "青公刑立〔2025〕9号"


def court(kind: str, **fields: str | None) -> CaseEvent:
    """A court event keyed by the court case number under the court's code."""
    event = (judgment(at(2025, 9, 1, 10), case_id=COURT_CASE_ID) if kind == "judgment"
             else judicial_recommendation(at(2025, 9, 8, 10), case_id=COURT_CASE_ID))
    return event.model_copy(update=fields)


COURT_TABLE = [
    # id, court event, police number linked to CASE2 first?, expected case, method
    ("judgment quoting the referral number",
     court("judgment", referral_number="青市监移〔2025〕1号"), False, CASE,
     MatchMethod.REFERRAL_NUMBER),
    ("recommendation quoting the referral number",
     court("recommendation", referral_number="青市监移[2025]2号"), False, CASE2,
     MatchMethod.REFERRAL_NUMBER),
    ("the referral number wins over a police number linked to another case",
     court("recommendation", referral_number="青市监移〔2025〕1号",
           police_case_number=POLICE_NUMBER), True, CASE, MatchMethod.REFERRAL_NUMBER),
    ("judgment with only a police case number linked by the police's feedback",
     court("judgment", police_case_number=POLICE_NUMBER), True, CASE2, MatchMethod.CASE_ID),
    ("recommendation with only a police case number linked by the police's feedback",
     court("recommendation", police_case_number="青公刑立[2025]9号"), True, CASE2,
     MatchMethod.CASE_ID),
    ("a police case number nobody linked", court("judgment", police_case_number=POLICE_NUMBER),
     False, None, None),
    ("nothing quoted", court("recommendation"), True, None, None),
]


@pytest.mark.parametrize(("case", "event", "linked", "case_id", "method"), COURT_TABLE,
                         ids=[row[0] for row in COURT_TABLE])
def test_court_events_match_like_police_feedback(
        matcher: FeedbackMatcher, case: str, event: CaseEvent, linked: bool,
        case_id: str | None, method: MatchMethod | None) -> None:
    if linked:  # the police unit's own feedback was matched earlier
        matcher.link_police_case(COUNTY_PSB, POLICE_NUMBER, CASE2)
    result = matcher.match(event)
    assert (result.case_id, result.method) == (case_id, method)
    assert result.confident is (case_id is not None)


def test_a_police_number_linked_to_two_cases_does_not_match_a_court_event(
        matcher: FeedbackMatcher) -> None:
    """Without the police unit a number two units both used is not proof of the case."""
    matcher.link_police_case(COUNTY_PSB, POLICE_NUMBER, CASE2)
    matcher.link_police_case(ECONOMIC_CRIME_UNIT, POLICE_NUMBER, CASE3)
    assert not matcher.match(court("judgment", police_case_number=POLICE_NUMBER)).confident


def test_indexing_is_idempotent(matcher: FeedbackMatcher) -> None:
    size = len(matcher)
    for event in REFERRALS:
        matcher.add_event(event)
    assert len(matcher) == size == 5
    assert matcher.add_event(feedback()) is False


def test_records_survive_a_state_table() -> None:
    record = ReferralRecord.from_referral(REFERRALS[1])
    assert ReferralRecord.from_dict(record.to_dict()) == record
    assert ZHANG_ID in record.identifiers


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("青市监移〔2025〕1号", "青市监移[2025]1号"),
        ("青市监移［2025］1号", "青市监移[2025]1号"),
        (" 青市监移 (2025) 1号", "青市监移[2025]1号"),
        ("ｑｓ-２０２５-１", "QS-2025-1"),
        ("", None),
        (None, None),
    ],
)
def test_document_numbers_are_normalised(raw: str | None, normalised: str | None) -> None:
    assert normalise_document_number(raw) == normalised


_EVERY_BRACKET = str.maketrans({"〔": "[", "〕": "]", "［": "[", "］": "]", "【": "[", "】": "]",
                                "（": "[", "）": "]", "(": "[", ")": "]", "﹝": "[", "﹞": "]"})


def _normalised_as_defined(number: str) -> str | None:
    """The definition, step by step: NFKC, every bracket mapped, whitespace gone, upper."""
    text = unicodedata.normalize("NFKC", number).translate(_EVERY_BRACKET)
    return re.sub(r"\s+", "", text).upper() or None


@given(st.text(alphabet=st.one_of(
    st.sampled_from("〔〕［］【】（）()﹝﹞[] \u3000\t\n\x1c\u2028\u00a0号市监罚移ｑ２ß"),
    st.characters()), max_size=30))
def test_document_numbers_are_normalised_as_defined(number: str) -> None:
    """Brackets replaced one by one after NFKC (faster) give what the definition gives,
    for any text: every bracket spelling, every kind of space, any character."""
    assert normalise_document_number(number) == _normalised_as_defined(number)


def test_matched_and_unmatched_events(matcher: FeedbackMatcher) -> None:
    now = at(2025, 5, 6, 11)
    event = feedback(referral_number="青市监移〔2025〕1号",
                     police_case_number="青公刑立〔2025〕9号")
    result = matcher.match(event)
    matched = matched_event(result, event, hub_unit_code=HUB_UNIT, now=now)
    assert matched.case_id == CASE
    assert matched.original_case_id == POLICE_CASE_ID
    assert matched.feedback_event_id == event.event_id
    assert matched.feedback_type == "cn.liangfa.events.FilingDecided"
    assert matched.method is MatchMethod.REFERRAL_NUMBER
    assert matched.confidence == 1.0
    assert matched.police_case_number == "青公刑立〔2025〕9号"
    assert matched_event(result, event, hub_unit_code=HUB_UNIT, now=at(2025, 5, 7)).event_id \
        == matched.event_id
    with pytest.raises(ValueError, match="confident"):
        unmatched_event(result, event, hub_unit_code=HUB_UNIT, now=now)

    vague = feedback(at(2025, 2, 20, 10), parties=[ZHANG])
    vague_result = matcher.match(vague)
    parked = unmatched_event(vague_result, vague, hub_unit_code=HUB_UNIT, now=now)
    assert parked.case_id == POLICE_CASE_ID
    assert parked.feedback_unit_code == COUNTY_PSB
    assert [(c.case_id, c.score, c.method) for c in parked.candidates] == [
        (CASE2, 0.85, MatchMethod.PARTY_IDENTIFIER)
    ]
    assert '"decision":"FILED"' in parked.feedback_json.replace(" ", "")
    with pytest.raises(ValueError, match="not a confident match"):
        matched_event(vague_result, vague, hub_unit_code=HUB_UNIT, now=now)


def test_a_manual_match_names_the_chosen_case_and_the_person() -> None:
    """Both engines emit this event for a MANUAL_MATCH taken in the view."""
    from hub.models import ViewActionKind
    from hub.models.examples import example_events
    from streams.matching_logic import manual_match_event

    examples = example_events()
    feedback = examples["cn.liangfa.events.FilingDecided"]
    action = examples["cn.liangfa.events.ViewAction"].model_copy(update={
        "action_kind": ViewActionKind.MANUAL_MATCH, "target": feedback.event_id,
        "payload": {"case_id": "11111111-2222-5333-8444-555555555555"}})
    now = action.recorded_at
    matched = manual_match_event(feedback, action, hub_unit_code="11429901031594016T",
                                 now=now)
    assert matched.case_id == "11111111-2222-5333-8444-555555555555"
    assert matched.method is MatchMethod.MANUAL
    assert matched.matched_by == action.actor
    assert matched.feedback_event_id == feedback.event_id
    assert matched.original_case_id == feedback.case_id
    assert matched.occurred_at == action.occurred_at
    # Deterministic: a replayed action yields the same event id.
    again = manual_match_event(feedback, action, hub_unit_code="11429901031594016T", now=now)
    assert again.event_id == matched.event_id


def test_a_later_referral_of_the_party_makes_an_identifier_match_doubtful(
        matcher: FeedbackMatcher) -> None:
    """The matching race: a sole-candidate match is judged again when the party's second
    referral is read, on the identifiers only (the police link it made would confirm it)."""
    decision = feedback(at(2025, 2, 20, 10), parties=[ZHANG], offence="非法经营罪",
                        police_case_number="青公刑立〔2025〕77号")
    assert matcher.match(decision).case_id == CASE2
    matcher.link_police_case(COUNTY_PSB, "青公刑立〔2025〕77号", CASE2)
    assert matcher.reconsider(decision).case_id == CASE2
    second = REFERRALS[1].model_copy(update={
        "event_id": "0f0e0d0c-0b0a-4908-8706-050403020101",
        "case_id": "0f0e0d0c-0b0a-4908-8706-0504030201fe",
        "referral_number": "另一移送书〔2025〕10号", "decision_number": "青市监罚〔2025〕10号",
        "agency_case_number": None,
    })
    matcher.add_event(second)
    # matched as before through the police link; judged again, ambiguous
    assert matcher.match(decision).case_id == CASE2
    again = matcher.reconsider(decision)
    assert not again.confident
    assert {c.case_id for c in again.candidates} == {CASE2, second.case_id}
    withdrawn = withdrawn_event(decision, CASE2, MatchMethod.PARTY_IDENTIFIER, again,
                                hub_unit_code=HUB_UNIT, now=at(2025, 3, 1, 10))
    assert withdrawn.case_id == CASE2 and withdrawn.feedback_event_id == decision.event_id
    assert set(withdrawn.candidate_case_ids) == {CASE2, second.case_id}
    assert "2 referrals" in withdrawn.reason
    assert withdrawn.event_id == withdrawn_event(
        decision, CASE2, MatchMethod.PARTY_IDENTIFIER, again, hub_unit_code=HUB_UNIT,
        now=at(2025, 4, 1, 10)).event_id  # one withdrawal, however often judged
    # the link goes with the match: nothing points at CASE2 any more
    matcher.unlink_police_case(COUNTY_PSB, "青公刑立〔2025〕77号", CASE2)
    result = matcher.match(decision)
    assert not result.confident
    assert {c.case_id for c in result.candidates} == {CASE2, second.case_id}


class _CountedGets:
    """An index store that counts the ``get``s asked of it (Rdict's own methods cannot be
    patched); everything else is the real RocksDB store's."""

    def __init__(self, db: Rdict) -> None:
        self.db = db
        self.gets = 0

    def get(self, key: bytes) -> object:
        self.gets += 1
        return self.db.get(key)

    def __getattr__(self, name: str) -> object:
        return getattr(self.db, name)


def test_an_index_rebuilt_from_empty_asks_rocksdb_only_for_keys_it_wrote(
        tmp_path: Path) -> None:
    """A rebuild's lookups are mostly of keys never written (each new number, party,
    digest): the storage of a store that began empty answers those itself. What it
    flushed is still read from RocksDB, and a store opened with keys in it asks RocksDB
    every time (the keys were written before this storage could see them)."""
    counted = _CountedGets(open_index_store(tmp_path / "index"))
    storage = RocksMatchStorage(counted)  # type: ignore[arg-type]
    matcher = FeedbackMatcher(load_matching(), storage)
    for event in REFERRALS:
        matcher.add_event(event)
        storage.flush()
    asked = counted.gets
    assert storage.keys(REFERRAL_NUMBER_INDEX, "青市监移[2099]1号") == set()
    assert storage.record((CASE5, "", "青市监罚[2099]5号")) is None
    assert storage.police_case("psb|青公刑立[2099]5号") is None
    assert counted.gets == asked
    result = matcher.match(feedback(referral_number="青市监移[2025]1号", police_case_number=None))
    assert (result.case_id, result.method) == (CASE, MatchMethod.REFERRAL_NUMBER)
    assert counted.gets > asked
    # Every key the flushes wrote (the bookkeeping's count too) reads back through the
    # storage: the filter never hides a key that is there. The layout key was written by
    # the store's opening, before this storage existed, and is never read through it.
    stored = {key: value for key, value in counted.db.items() if key != b"\x00layout"}
    assert len(stored) > len(REFERRALS)
    assert {key: storage.get_raw(key) for key in stored} == stored
    counted.db.close()
    reopened = _CountedGets(open_index_store(tmp_path / "index"))
    storage = RocksMatchStorage(reopened)  # type: ignore[arg-type]
    asked = reopened.gets
    assert storage.keys(REFERRAL_NUMBER_INDEX, "青市监移[2099]1号") == set()
    assert reopened.gets == asked + 1
    again = FeedbackMatcher(load_matching(), storage)
    assert again.match(feedback(referral_number="青市监移[2025]1号",
                                police_case_number=None)).case_id == CASE
    reopened.db.close()


def test_a_link_withdrawn_in_rocksdb_stays_withdrawn_after_a_flush_and_reopen(
        tmp_path: Path) -> None:
    """Set members are keys of their own: an unlink is a staged delete of one key, seen
    before the flush and kept after it, and the other members of the set stay."""
    db = open_index_store(tmp_path / "index")
    storage = RocksMatchStorage(db)
    storage.link_police("psb|青公刑立〔2025〕5号", "青公刑立〔2025〕5号", CASE)
    storage.link_police("court|青公刑立〔2025〕5号", "青公刑立〔2025〕5号", CASE2)
    storage.flush()
    storage.unlink_police("psb|青公刑立〔2025〕5号", "青公刑立〔2025〕5号", CASE)
    assert storage.police_number_cases("青公刑立〔2025〕5号") == {CASE2}
    assert storage.police_case("psb|青公刑立〔2025〕5号") is None
    storage.link_police("psb|青公刑立〔2025〕6号", "青公刑立〔2025〕6号", CASE3)
    storage.unlink_police("psb|青公刑立〔2025〕6号", "青公刑立〔2025〕6号", CASE3)
    assert storage.police_number_cases("青公刑立〔2025〕6号") == set()
    storage.flush()
    db.close()
    reopened = RocksMatchStorage(open_index_store(tmp_path / "index"))
    assert reopened.police_number_cases("青公刑立〔2025〕5号") == {CASE2}
    assert reopened.police_number_cases("青公刑立〔2025〕6号") == set()
    assert reopened.police_case("court|青公刑立〔2025〕5号") == CASE2


def test_unlinking_leaves_other_links_alone(matcher: FeedbackMatcher) -> None:
    matcher.link_police_case(COUNTY_PSB, "青公刑立〔2025〕78号", CASE)
    matcher.unlink_police_case(COUNTY_PSB, "青公刑立〔2025〕78号", CASE2)  # not its case
    later = feedback(at(2025, 5, 20, 10), police_case_number="青公刑立〔2025〕78号")
    assert matcher.match(later).case_id == CASE


def test_identifiers_are_compared_whatever_the_spelling_of_a_stored_party() -> None:
    from hub.models import Party
    from streams.match_index import identifiers_of

    # Parties of events stored before full-width digits were refused: kept as typed.
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "11010519491231002") + "X"
    stored = [Party.from_avro({"name": "王某", "id_type": "RESIDENT_ID",
                               "id_number": full_width}),
              Party.from_avro({"name": "某诊所", "category": "SOLE_TRADER",
                               "credit_code": "00000000000000000X",
                               "legal_representative_id_type": "RESIDENT_ID",
                               "legal_representative_id_number": "11010519491231002x "})]
    assert identifiers_of(stored) == {"11010519491231002X"}
