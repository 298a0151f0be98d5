"""Judicial recommendation after an acquittal or an exemption (issue #13, item 6): the hub
raises the act to the referring agency that has not penalised (``routing.yaml``,
``raised_acts``), it is routed to the agency's inbox, and its reply clock runs until the
agency answers or penalises."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hub.calendar import WorkingDayCalendar
from hub.models import CaseEvent, CourtJudgment, JudicialRecommendation
from hub.rules import load_deadlines, load_routing, load_thresholds, load_violation_offences
from hub.units import UnitRegistry, load_unit_registry
from streams.deadline_logic import evaluate_case
from streams.routing_logic import raised_acts, route_event
from tests.unit.data.case_events import (
    COUNTY_PSB,
    COURT,
    HUB_UNIT,
    MARKET,
    at,
    judgment,
    judicial_recommendation,
    penalty,
    referred,
    replied,
)

RULE = "raised-judicial-recommendation-unanswered"


def judged(verdict: str) -> CourtJudgment:
    return judgment(at(2025, 6, 2)).model_copy(update={"verdict": verdict,
                                                       "referral_number": "青市监移〔2025〕1号"})


def raised(events: list[CaseEvent]) -> list[CaseEvent]:
    return raised_acts(events, load_routing(), hub_unit_code=HUB_UNIT)


def clock(events: list[CaseEvent], now: datetime) -> dict[str, str]:
    result = evaluate_case(events, now, rules=load_deadlines(), thresholds=load_thresholds(),
                           violation_offences=load_violation_offences(),
                           hub_unit_code=HUB_UNIT, calendar=WorkingDayCalendar())
    return {s.alert.rule_id: s.alert.status.value for s in result.alerts
            if not s.undoes_early_sweep and s.alert.rule_id == RULE}


@pytest.mark.parametrize("verdict", ["ACQUITTED", "EXEMPTED"])
def test_an_acquittal_or_exemption_on_a_referred_unpenalised_case_raises_it(
        verdict: str) -> None:
    trigger = judged(verdict)
    acts = raised([referred(at(2025, 3, 1)), trigger])
    assert len(acts) == 1
    act = acts[0]
    assert isinstance(act, JudicialRecommendation)
    assert (act.target_unit_code, act.source_unit) == (MARKET, HUB_UNIT)
    assert act.occurred_at == trigger.recorded_at  # the clock runs from when the hub knew
    assert act.court_case_number == trigger.court_case_number
    assert act.referral_number == "青市监移〔2025〕1号"
    assert "行政处罚" in act.content
    # deterministic: the same case evaluated again raises the same event
    assert raised([referred(at(2025, 3, 1)), trigger]) == acts


@pytest.mark.parametrize("case", ["convicted", "no referral", "penalised", "court's own"])
def test_nothing_is_raised_when_the_rule_does_not_hold(case: str) -> None:
    events: list[CaseEvent] = {
        "convicted": [referred(at(2025, 3, 1)), judged("CONVICTED")],
        "no referral": [penalty(at(2025, 2, 1), unit=COUNTY_PSB), judged("ACQUITTED")],
        "penalised": [penalty(at(2025, 2, 1)), referred(at(2025, 3, 1)), judged("ACQUITTED")],
        "court's own": [referred(at(2025, 3, 1)), judged("ACQUITTED"),
                        judicial_recommendation(at(2025, 6, 3))],
    }[case]
    assert raised(events) == []


def test_the_raised_act_is_routed_to_the_agency_and_entitled_as_the_hub() -> None:
    from hub.rules import load_entitlements
    from streams.entitlement_logic import CaseRelations, check_entitlement

    units: UnitRegistry = load_unit_registry(Path(__file__).parent / "data" / "units.yaml")
    events: list[CaseEvent] = [referred(at(2025, 3, 1)), judged("ACQUITTED")]
    act = raised(events)[0]
    route = route_event(act, units, load_routing(), load_thresholds())
    assert route.addressees == (MARKET,) and route.unroutable is None
    verdict = check_entitlement(act, CaseRelations(owner=MARKET), rules=load_entitlements(),
                                units=units, hub_unit_code=HUB_UNIT, matched=False)
    assert verdict.entitled, verdict.reason
    forged = act.model_copy(update={"source_unit": MARKET})
    assert not check_entitlement(forged, CaseRelations(owner=MARKET),
                                 rules=load_entitlements(), units=units,
                                 hub_unit_code=HUB_UNIT, matched=False).entitled


def test_its_reply_clock_raised_when_unanswered_and_stopped_by_the_answer_or_penalty(
        ) -> None:
    base: list[CaseEvent] = [referred(at(2025, 3, 1)), judged("EXEMPTED")]
    act = raised(base)[0]
    events = [*base, act]
    # two months from 2025-06-02 end on Saturday 08-02, so on Monday 08-04 (period_end)
    due = act.occurred_at + timedelta(days=64)
    assert clock(events, act.occurred_at + timedelta(days=30)) == {}
    assert clock(events, due) == {RULE: "RAISED"}
    answer = replied(act.occurred_at + timedelta(days=20), to=COURT,
                     in_reply_to_event=act.event_id)
    assert clock([*events, answer], due) == {}
    penalised = penalty(act.occurred_at + timedelta(days=70))
    assert clock([*events, penalised], due + timedelta(days=10)) == {RULE: "RESOLVED"}


def test_the_rule_file_is_checked() -> None:
    rules = load_routing()
    bad = rules.raised_acts[0].model_copy(update={"on_event": "CourtVerdict",
                                                  "unless_from_agency": ("Penalty",)})
    problems = rules.model_copy(update={"raised_acts": (bad, bad)}).cross_check()
    assert any("raised_acts[0].on_event: no event type 'CourtVerdict'" in p for p in problems)
    assert any("unless_from_agency: no event type 'Penalty'" in p for p in problems)
    assert any("raised_acts" in p and "judicial-recommendation-after-acquittal" in p
               for p in problems)  # the id used twice


def test_the_courts_own_recommendation_takes_over_from_the_hubs() -> None:
    """The court's recommendation, answered quoting its own number, leaves neither clock
    open: the hub's act is stopped by it, the court's by the agency's reply."""
    base: list[CaseEvent] = [referred(at(2025, 3, 1)), judged("ACQUITTED")]
    act = raised(base)[0]
    court = judicial_recommendation(act.occurred_at + timedelta(days=5))
    answer = replied(act.occurred_at + timedelta(days=30), to=COURT,
                     in_reply_to_document=court.recommendation_number)
    late = act.occurred_at + timedelta(days=120)
    assert clock([*base, act, court, answer], late) == {}
    result = evaluate_case([*base, act, court], late, rules=load_deadlines(),
                           thresholds=load_thresholds(),
                           violation_offences=load_violation_offences(),
                           hub_unit_code=HUB_UNIT, calendar=WorkingDayCalendar())
    open_rules = {s.alert.rule_id for s in result.alerts if s.alert.status.value == "RAISED"
                  and "judicial-recommendation" in s.alert.rule_id}
    assert open_rules == {"judicial-recommendation-unanswered"}  # the court's, not the hub's
