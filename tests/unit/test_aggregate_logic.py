"""Case aggregate: the stage machine, timeline, units, numbers, open alerts; any order."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import pytest

from hub.models import (
    CaseEvent,
    CaseStage,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    MatchMethod,
    ViewAction,
)
from streams.aggregate_logic import CaseAggregate, fold
from tests.unit.data.case_events import (
    CASE,
    COUNTY_PSB,
    COURT,
    FOREST_POLICE,
    HUB_UNIT,
    MARKET,
    PROCURATORATE,
    alert_event,
    arrest_requested,
    at,
    consultation,
    decided,
    forwarded,
    judgment,
    opened,
    party,
    penalty,
    prosecutorial,
    reasons_explained,
    received,
    reconsideration_decided,
    reconsideration_requested,
    referred,
    supervision_requested,
    transferred,
)

NOW = at(2026, 1, 1)
PENALTY = penalty(at(2025, 1, 5))
REFERRAL = referred(at(2025, 1, 6, 10), decision_number="青市监罚〔2025〕1号")
RECEIPT = received(at(2025, 1, 6, 15))
NOT_FILED = decided(at(2025, 1, 8, 10), "NOT_FILED", police_case_number=None)
RECONSIDER = reconsideration_requested(at(2025, 1, 10, 10))
UPHELD = reconsideration_decided(at(2025, 1, 12, 10), "UPHELD")
SUPERVISION = supervision_requested(at(2025, 1, 14, 10))
ORDER = prosecutorial(at(2025, 1, 20, 10), "ORDER_FILING")
FILED = decided(at(2025, 1, 25, 10), "FILED")
ARREST = prosecutorial(at(2025, 3, 1, 10), "ARREST_DECISION", outcome="ARREST_APPROVED")
PROSECUTION = prosecutorial(at(2025, 5, 1, 10), "PROSECUTION_DECISION", outcome="PROSECUTED")
JUDGMENT = judgment(at(2025, 9, 1, 10))

LIFE = [PENALTY, REFERRAL, RECEIPT, NOT_FILED, RECONSIDER, UPHELD, SUPERVISION, ORDER, FILED,
        ARREST, PROSECUTION, JUDGMENT]
LIFE_STAGES = [CaseStage.RECORDED, CaseStage.REFERRED, CaseStage.RECEIVED, CaseStage.NOT_FILED,
               CaseStage.RECONSIDERATION, CaseStage.NOT_FILED, CaseStage.FILING_SUPERVISION,
               CaseStage.FILING_SUPERVISION, CaseStage.FILED, CaseStage.ARREST_REVIEW,
               CaseStage.PROSECUTION, CaseStage.JUDGED]


@pytest.mark.parametrize("length", range(1, len(LIFE) + 1))
def test_stage_along_a_case_life(length: int) -> None:
    assert fold(LIFE[:length]).stage is LIFE_STAGES[length - 1]


STAGE_TABLE = [
    ("forwarded", [REFERRAL, RECEIPT, forwarded(at(2025, 1, 6, 18))], CaseStage.FORWARDED),
    ("returned for a penalty", [REFERRAL, decided(at(2025, 1, 8), "RETURNED")],
     CaseStage.RETURNED),
    ("reversed on reconsideration", [REFERRAL, NOT_FILED, RECONSIDER,
                                     reconsideration_decided(at(2025, 1, 12), "REVERSED")],
     CaseStage.FILED),
    ("not prosecuted: closed", [REFERRAL, FILED, prosecutorial(
        at(2025, 5, 1), "PROSECUTION_DECISION", outcome="NOT_PROSECUTED")], CaseStage.CLOSED),
    ("a penalty after the referral does not go back", [REFERRAL, penalty(at(2025, 2, 1))],
     CaseStage.REFERRED),
    ("same-day date-only referral and receipt: lifecycle order decides",
     [received(at(2025, 1, 6)), referred(at(2025, 1, 6))], CaseStage.RECEIVED),
    ("a recommendation does not move the stage", [REFERRAL, FILED, prosecutorial(
        at(2025, 6, 1), "RECOMMENDATION", target=MARKET)], CaseStage.FILED),
    ("a consultation alone has no stage", [consultation(at(2025, 1, 6))], CaseStage.UNKNOWN),
    ("an open case under investigation (立案登记, 在办)",
     [opened(at(2024, 12, 2), case_id=CASE)], CaseStage.OPENED),
    ("its register exported again: still open", [opened(at(2024, 12, 2), case_id=CASE),
                                                 opened(at(2024, 12, 2), case_id=CASE,
                                                        turnover_fen=9_000_000)],
     CaseStage.OPENED),
    ("the penalty decided on it", [opened(at(2024, 12, 2), case_id=CASE), PENALTY],
     CaseStage.RECORDED),
    ("referred while open", [opened(at(2024, 12, 2), case_id=CASE), REFERRAL],
     CaseStage.REFERRED),
    ("a register exported after the penalty does not reopen the case",
     [PENALTY, opened(at(2025, 2, 1), case_id=CASE)], CaseStage.RECORDED),
    ("arrest approval requested after filing", [REFERRAL, FILED,
                                                arrest_requested(at(2025, 2, 20, 10))],
     CaseStage.ARREST_REVIEW),
    ("transferred for prosecution after the arrest decision",
     [REFERRAL, FILED, arrest_requested(at(2025, 2, 20, 10)), ARREST,
      transferred(at(2025, 4, 1, 10))], CaseStage.PROSECUTION),
    ("transferred without an arrest request", [REFERRAL, FILED, transferred(at(2025, 4, 1))],
     CaseStage.PROSECUTION),
    ("a transfer that arrives before the filing decision still wins (legal time)",
     [transferred(at(2025, 4, 1)), REFERRAL, FILED], CaseStage.PROSECUTION),
    ("same-instant arrest request and transfer: lifecycle order decides",
     [transferred(at(2025, 4, 1)), arrest_requested(at(2025, 4, 1))], CaseStage.PROSECUTION),
    ("the procuratorate's prosecution decision follows the transfer",
     [REFERRAL, FILED, transferred(at(2025, 4, 1)), PROSECUTION], CaseStage.PROSECUTION),
    ("judged after the transfer", [REFERRAL, FILED, transferred(at(2025, 4, 1)), JUDGMENT],
     CaseStage.JUDGED),
    ("non-filing explained: still under filing supervision",
     [REFERRAL, NOT_FILED, prosecutorial(at(2025, 1, 10), "REQUIRE_NON_FILING_REASONS"),
      reasons_explained(at(2025, 1, 15))], CaseStage.FILING_SUPERVISION),
    ("an explanation alone shows filing supervision", [REFERRAL, NOT_FILED,
                                                       reasons_explained(at(2025, 1, 15))],
     CaseStage.FILING_SUPERVISION),
    ("filing after the explanation", [REFERRAL, NOT_FILED, reasons_explained(at(2025, 1, 15)),
                                      ORDER, FILED], CaseStage.FILED),
]


@pytest.mark.parametrize(("case", "events", "stage"), STAGE_TABLE,
                         ids=[row[0] for row in STAGE_TABLE])
def test_stage(case: str, events: list[CaseEvent], stage: CaseStage) -> None:
    assert fold(events).stage is stage


def test_any_order_gives_the_same_state() -> None:
    expected = fold(LIFE).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    for seed in range(5):
        shuffled = LIFE[:]
        random.Random(seed).shuffle(shuffled)
        state = fold(shuffled + LIFE[:3]).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
        assert state == expected


def test_case_state_contents() -> None:
    state = fold(LIFE).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert state.case_id == CASE
    assert state.stage is CaseStage.JUDGED
    assert state.owning_unit_code == MARKET
    assert state.decision_number == "青市监罚〔2025〕1号"
    assert state.referral_number == "青市监移〔2025〕1号"
    assert state.police_case_number == "青公刑立〔2025〕9号"
    assert [e.event_id for e in state.timeline] == [e.event_id for e in LIFE]
    assert state.timeline[1].summary.startswith("移送涉嫌犯罪案件 referred 青市监移〔2025〕1号")
    assert state.timeline[3].summary == "不予立案 not filed"
    assert state.units_involved == [MARKET, COUNTY_PSB, PROCURATORATE, COURT]
    assert [p.name for p in state.parties] == ["青山县某某商贸有限公司"]
    assert state.last_event_at == JUDGMENT.occurred_at
    assert state.occurred_at == JUDGMENT.occurred_at
    assert state.source_unit == HUB_UNIT


def test_owner_is_the_agency_even_when_police_feedback_comes_first() -> None:
    state = fold([received(at(2025, 1, 5)), REFERRAL]).to_case_state(hub_unit_code=HUB_UNIT,
                                                                      now=NOW)
    assert state.owning_unit_code == MARKET


def test_forward_adds_the_new_unit() -> None:
    state = fold([REFERRAL, RECEIPT, forwarded(at(2025, 1, 6, 18))]).to_case_state(
        hub_unit_code=HUB_UNIT, now=NOW)
    assert FOREST_POLICE in state.units_involved


def _view_action(alert_id: str, kind: str) -> ViewAction:
    return ViewAction(
        event_id=f"view-{alert_id}-{kind}", case_id=CASE, source_unit=PROCURATORATE,
        occurred_at=at(2025, 2, 1), recorded_at=at(2025, 2, 1), source_system="view",
        source_record="ui", connector_id="view", action_id=f"a-{alert_id}", actor="检察官甲",
        actor_unit_code=PROCURATORATE, action_kind=kind, target=alert_id,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("events", "open_alerts"),
    [
        ([alert_event(at(2025, 1, 10), "a1")], ["a1"]),
        ([alert_event(at(2025, 1, 10), "a1"), alert_event(at(2025, 1, 12), "a1", "RESOLVED")],
         []),
        ([alert_event(at(2025, 1, 12), "a1", "RESOLVED"), alert_event(at(2025, 1, 10), "a1")],
         []),  # out of order: a resolved alert stays resolved
        ([alert_event(at(2025, 1, 10), "a1"), alert_event(at(2025, 1, 11), "a2"),
          _view_action("a1", "ACKNOWLEDGE_ALERT")], ["a1", "a2"]),
        ([alert_event(at(2025, 1, 10), "a1"), _view_action("a1", "RESOLVE_ALERT")], []),
    ],
)
def test_open_alerts(events: list[CaseEvent], open_alerts: list[str]) -> None:
    aggregate = fold([REFERRAL, *events])
    assert aggregate.open_alerts == open_alerts
    state = aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert state.open_alerts == open_alerts
    assert [e.event_id for e in state.timeline] == [REFERRAL.event_id]  # alerts not on it


def test_applying_twice_changes_nothing() -> None:
    aggregate = fold(LIFE)
    before = aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert all(aggregate.apply(event) is False for event in LIFE)
    assert aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW) == before


def test_state_event_id_follows_the_state() -> None:
    first = fold(LIFE[:3]).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    later_clock = fold(LIFE[:3]).to_case_state(hub_unit_code=HUB_UNIT, now=at(2026, 2, 1))
    assert later_clock.event_id == first.event_id
    grown = fold(LIFE[:4]).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert grown.event_id != first.event_id


def test_state_survives_a_table() -> None:
    aggregate = fold([*LIFE[:6], alert_event(at(2025, 1, 10), "a1")])
    restored = CaseAggregate.from_dict(json.loads(json.dumps(aggregate.to_dict())))
    assert restored.to_case_state(hub_unit_code=HUB_UNIT, now=NOW) == \
        aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert restored.apply(LIFE[0]) is False
    for event in LIFE[6:]:
        restored.apply(event)
        aggregate.apply(event)
    assert restored.to_case_state(hub_unit_code=HUB_UNIT, now=NOW) == \
        aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)


def test_events_of_another_case_are_refused() -> None:
    aggregate = fold([REFERRAL])
    with pytest.raises(ValueError, match="belongs to case"):
        aggregate.apply(penalty(at(2025, 1, 5), case_id="another-case"))
    with pytest.raises(ValueError, match="at least one event"):
        fold([])


def test_police_steps_after_filing_are_on_the_timeline() -> None:
    explanation = reasons_explained(at(2025, 1, 15, 10), in_reply_to_document="青检要〔2025〕1号")
    request = arrest_requested(at(2025, 2, 20, 10))
    transfer = transferred(at(2025, 4, 1, 10))
    state = fold([REFERRAL, NOT_FILED, explanation, FILED, request, transfer]).to_case_state(
        hub_unit_code=HUB_UNIT, now=NOW)
    steps = {entry.event_id: entry for entry in state.timeline}
    assert steps[explanation.event_id].summary == \
        "说明不立案理由 non-filing reasons explained 青公说〔2025〕1号"
    assert steps[explanation.event_id].event_type == "cn.liangfa.events.NonFilingReasonsExplained"
    assert steps[request.event_id].summary == \
        "提请批准逮捕 arrest approval requested 青公刑立〔2025〕9号 (suspects 犯罪嫌疑人: 1)"
    assert steps[request.event_id].unit_code == COUNTY_PSB
    assert steps[transfer.event_id].summary == \
        "移送审查起诉 transferred for prosecution 青公刑立〔2025〕9号: 生产、销售伪劣产品罪"
    assert steps[transfer.event_id].event_type == "cn.liangfa.events.TransferredForProsecution"
    assert [e.event_id for e in state.timeline][-2:] == [request.event_id, transfer.event_id]
    assert state.stage is CaseStage.PROSECUTION
    assert PROCURATORATE in state.units_involved  # the procuratorate the police addressed
    assert state.police_case_number == "青公刑立〔2025〕9号"


def test_police_steps_survive_a_table_in_any_order() -> None:
    events = [REFERRAL, FILED, arrest_requested(at(2025, 2, 20, 10)),
              transferred(at(2025, 4, 1, 10))]
    expected = fold(events).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    restored = CaseAggregate.from_dict(json.loads(json.dumps(fold(events[::-1]).to_dict())))
    assert restored.to_case_state(hub_unit_code=HUB_UNIT, now=NOW) == expected


def test_a_withdrawn_match_takes_the_feedback_out_of_the_case() -> None:
    """The matcher withdrew its match (a second referral of the party): the stage falls
    back, the police case number goes, the withdrawal stays on the timeline; the same
    feedback matched back later is applied again."""
    filed = decided(at(2025, 1, 9, 10), "FILED", police_case_number="青公刑立〔2025〕5号")
    withdrawn = FeedbackMatchWithdrawn(
        event_id="0f0e0d0c-0b0a-4908-8706-050403020177", case_id=CASE, source_unit=HUB_UNIT,
        occurred_at=filed.occurred_at, recorded_at=at(2025, 2, 1, 10),
        source_system="liangfa-hub", source_record="matching:x", connector_id="streams.matching",
        feedback_event_id=filed.event_id, feedback_type=filed.avro_name,
        method=MatchMethod.PARTY_IDENTIFIER, police_case_number="青公刑立〔2025〕5号",
        reason="a second referral", candidate_case_ids=[CASE])
    aggregate = fold([PENALTY, REFERRAL, RECEIPT, filed])
    assert aggregate.stage is CaseStage.FILED
    assert aggregate.apply(withdrawn)
    state = aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert state.stage is CaseStage.RECEIVED
    assert state.police_case_number is None
    timeline = [entry.event_id for entry in state.timeline]
    assert filed.event_id not in timeline and withdrawn.event_id in timeline
    assert aggregate.apply(filed)  # a person put it back
    assert aggregate.stage is CaseStage.FILED


def _withdrawal(feedback: CaseEvent, number: str | None) -> FeedbackMatchWithdrawn:
    return FeedbackMatchWithdrawn(
        event_id="0f0e0d0c-0b0a-4908-8706-050403020178", case_id=CASE, source_unit=HUB_UNIT,
        occurred_at=feedback.occurred_at, recorded_at=at(2025, 2, 1, 10),
        source_system="liangfa-hub", source_record="matching:x",
        connector_id="streams.matching", feedback_event_id=feedback.event_id,
        feedback_type=feedback.avro_name, method=MatchMethod.UNKNOWN,
        police_case_number=number, reason="refused", candidate_case_ids=[])


@pytest.mark.parametrize("stored", [False, True], ids=["live", "read back"])
def test_a_withdrawal_leaves_the_police_number_an_event_still_stands_on(stored: bool) -> None:
    """The withdrawn feedback had put its police case number on the case; the bureau's own
    decision, with another number, came after it. The case keeps the bureau's number, not
    none; and a number another event of the case also carries is not taken away. (A case
    stored before the record was kept: see the next test.)"""
    forged = decided(at(2025, 1, 8, 10), "NOT_FILED", police_case_number="邻公刑立〔2025〕7号",
                     event_id="0f0e0d0c-0b0a-4908-8706-050403020179")
    real = decided(at(2025, 1, 9, 10), "FILED", police_case_number="青公刑立〔2025〕5号")
    matched = _matched(forged, "x", MatchMethod.REFERRAL_NUMBER).model_copy(
        update={"police_case_number": forged.police_case_number})
    aggregate = fold([PENALTY, REFERRAL, RECEIPT, forged, matched, real])
    assert aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW).police_case_number == \
        forged.police_case_number
    if stored:
        aggregate = CaseAggregate.from_dict(json.loads(json.dumps(aggregate.to_dict())))
    assert aggregate.apply(_withdrawal(forged, forged.police_case_number))
    assert aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW).police_case_number == \
        real.police_case_number

    twin = decided(at(2025, 1, 10, 10), "FILED", police_case_number=real.police_case_number,
                   event_id="0f0e0d0c-0b0a-4908-8706-050403020180")
    assert aggregate.apply(twin)
    assert aggregate.apply(_withdrawal(twin, twin.police_case_number).model_copy(
        update={"event_id": "0f0e0d0c-0b0a-4908-8706-050403020181"}))
    assert aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW).police_case_number == \
        real.police_case_number


def test_a_case_stored_before_the_police_numbers_were_recorded_keeps_the_old_rule() -> None:
    """Without the record, a withdrawal takes the number away (none is better than a later
    number picked over an earlier one still standing), and the case keeps no record."""
    forged = decided(at(2025, 1, 8, 10), "NOT_FILED", police_case_number="邻公刑立〔2025〕7号",
                     event_id="0f0e0d0c-0b0a-4908-8706-050403020179")
    stored = fold([PENALTY, REFERRAL, RECEIPT, forged]).to_dict()
    del stored["police_numbers"]
    aggregate = CaseAggregate.from_dict(json.loads(json.dumps(stored)))
    assert aggregate.apply(decided(at(2025, 1, 9, 10), "FILED",
                                   police_case_number="青公刑立〔2025〕5号"))
    assert aggregate.apply(_withdrawal(forged, forged.police_case_number))
    assert aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW).police_case_number is None
    assert aggregate.to_dict()["police_numbers"] is None


def _matched(feedback: CaseEvent, original_case_id: str, method: MatchMethod) -> FeedbackMatched:
    return FeedbackMatched(
        event_id=f"0f0e0d0c-0b0a-4908-8706-0504030201{len(original_case_id) % 100:02d}",
        case_id=CASE, source_unit=HUB_UNIT, occurred_at=feedback.occurred_at,
        recorded_at=at(2025, 2, 1, 10), source_system="liangfa-hub",
        source_record="matching:x", connector_id="streams.matching",
        feedback_event_id=feedback.event_id, feedback_type=feedback.avro_name,
        original_case_id=original_case_id, method=method, confidence=1.0)


def test_a_match_confirming_the_feedbacks_own_case_id_leaves_no_trace() -> None:
    """Read before its case's first events, a receipt quoting the hub's case id waits and
    is then "matched" to that very case; read after them it simply joins. Both orders
    must give the same case."""
    waited = fold([PENALTY, REFERRAL, RECEIPT, _matched(RECEIPT, CASE, MatchMethod.CASE_ID)])
    joined = fold([PENALTY, REFERRAL, RECEIPT])
    assert (waited.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
            == joined.to_case_state(hub_unit_code=HUB_UNIT, now=NOW))
    # a real match (the feedback came keyed by the police's own case) is on the timeline
    rekeyed = _matched(RECEIPT, "police-side-case-id", MatchMethod.REFERRAL_NUMBER)
    matched = fold([PENALTY, REFERRAL, RECEIPT, rekeyed])
    assert rekeyed.event_id in {entry.event_id for entry in matched.timeline()}


# The 公示截止期 (last day of public disclosure) of the case's latest penalty decision.
FIRST_DEADLINE = date(2028, 1, 5)
CORRECTION = penalty(at(2025, 2, 10), event_id="penalty-corrected")
CORRECTED_DEADLINE = date(2028, 2, 10)


def test_the_latest_penalty_decision_gives_the_disclosure_deadline_in_any_order() -> None:
    """A correction decided later wins whichever of the two is read first, and the
    deadline is in the CaseState (the public feed withdraws the case after it)."""
    first = PENALTY.model_copy(update={"disclosure_deadline": FIRST_DEADLINE})
    corrected = CORRECTION.model_copy(update={"disclosure_deadline": CORRECTED_DEADLINE})
    for events in ([first, REFERRAL, corrected], [corrected, REFERRAL, first]):
        aggregate = fold(events)
        assert aggregate.disclosure_deadline == CORRECTED_DEADLINE
        state = aggregate.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
        assert state.disclosure_deadline == CORRECTED_DEADLINE
        stored = CaseAggregate.from_dict(json.loads(json.dumps(aggregate.to_dict())))
        assert stored.knows_disclosure
        assert stored.to_case_state(hub_unit_code=HUB_UNIT, now=NOW) == state
    # a later decision without a deadline leaves the case without one (not the older one)
    assert fold([first, CORRECTION]).disclosure_deadline is None
    # a corrected export of the same decision keeps its date: the one recorded later wins,
    # whichever event id sorts first
    for event_id in ("0-sorts-first", "z-sorts-last"):
        re_export = first.model_copy(update={
            "event_id": event_id, "recorded_at": first.recorded_at + timedelta(days=3),
            "disclosure_deadline": CORRECTED_DEADLINE})
        for events in ([first, re_export], [re_export, first]):
            assert fold(events).disclosure_deadline == CORRECTED_DEADLINE


def test_a_case_without_a_disclosure_deadline_keeps_its_state_id() -> None:
    """The field is hashed into the state's id only when set: cases without one keep the
    ids (and so the states) they had before the field existed (the id is pinned from the
    code before it). One with a deadline has a state of its own."""
    state = fold(LIFE).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert state.event_id == "9c0f09dc-e222-55e3-88b8-0e105dd95220"
    dated = fold([PENALTY.model_copy(update={"disclosure_deadline": FIRST_DEADLINE}),
                  *LIFE[1:]]).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert dated.event_id != state.event_id


def test_an_aggregate_stored_before_the_deadline_was_kept_learns_it_from_the_penalties(
        ) -> None:
    """A document written by an earlier engine has no ``disclosure`` in its aggregate:
    it says so, and learns the deadline from the case's stored penalties."""
    first = PENALTY.model_copy(update={"disclosure_deadline": FIRST_DEADLINE})
    data = fold([first, REFERRAL]).to_dict()
    del data["disclosure"]
    stored = CaseAggregate.from_dict(data)
    assert not stored.knows_disclosure and stored.disclosure_deadline is None
    stored.recall_disclosure([first])
    assert stored.knows_disclosure and stored.disclosure_deadline == FIRST_DEADLINE


def test_a_stored_case_keyed_by_a_lower_case_x_lists_its_person_once() -> None:
    """An aggregate stored before identifier keys were folded holds ``…002x``; the same
    person read again as ``…002X`` was listed twice."""
    person = party("王某", credit_code=None, category="NATURAL_PERSON",
                   id_number="11010519491231002X")
    first = penalty(at(2025, 1, 6), parties=[person], event_id="penalty-1")
    stored = json.loads(json.dumps(fold([first]).to_dict()))
    [(key, value)] = stored["parties"].items()
    assert key.endswith("|11010519491231002X")
    value["id_number"] = "11010519491231002x"  # as an earlier version wrote it
    stored["parties"] = {key[:-1] + "x": value}
    restored = CaseAggregate.from_dict(stored)
    restored.apply(penalty(at(2025, 1, 7), parties=[person], event_id="penalty-2"))
    state = restored.to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    assert len(state.parties) == 1


def test_an_open_case_stored_before_it_had_a_stage_has_one_when_read_back() -> None:
    """An aggregate stored when AgencyCaseOpened set no stage has no marks: read back,
    its register entries mark it, so its next CaseState says 行政机关已立案."""
    stored = fold([opened(at(2024, 12, 2), case_id=CASE)]).to_dict()
    stored["marks"] = []
    assert CaseAggregate.from_dict(stored).stage is CaseStage.OPENED
    consulted = fold([consultation(at(2025, 1, 6))]).to_dict()
    assert CaseAggregate.from_dict(consulted).stage is CaseStage.UNKNOWN
    # stored with a later step's mark only: that step withdrawn, the case is opened again
    filed = decided(at(2025, 1, 9, 10), "FILED")
    matched = fold([opened(at(2024, 12, 2), case_id=CASE), filed]).to_dict()
    matched["marks"] = [mark for mark in matched["marks"] if mark[3] != "OPENED"]
    aggregate = CaseAggregate.from_dict(matched)
    assert aggregate.stage is CaseStage.FILED
    assert aggregate.apply(_withdrawal(filed, None))
    assert aggregate.stage is CaseStage.OPENED
