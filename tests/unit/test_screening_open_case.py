"""Early intervention before the penalty decision (issue #13, item 3): an agency's open
case (AgencyCaseOpened, 立案登记) whose amounts found so far reach the early-intervention
share of a filing threshold raises the candidate during the investigation; a decided
penalty keeps its review lead."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from hub.models import AlertKind, AlertSeverity, AlertStatus, CaseEvent
from hub.rules import (
    load_entitlements,
    load_screening,
    load_thresholds,
    load_violation_offences,
    load_violation_types,
)
from hub.units import UnitRegistry
from streams._alerts import alert_id_for, snapshot_of
from streams.aggregate_logic import fold
from streams.entitlement_logic import CaseRelations, check_entitlement, owns_by_case_id
from streams.screening_assessment import ScreeningRules, assess_penalty
from streams.screening_logic import EARLY_INTERVENTION_RULE_ID, CaseScreening, screen_case
from tests.unit.data.case_events import (
    AGENCY_CASE_NUMBER,
    HUB_UNIT,
    MARKET,
    OPEN_CASE,
    TOBACCO,
    at,
    opened,
    penalty,
    referred,
)

YUAN = 100
#: 生产、销售伪劣产品罪: sales of 50,000 yuan (violation type MR-FAKE-PRODUCT).
THRESHOLD_FEN = 50_000 * YUAN


@pytest.fixture(scope="module")
def rules() -> ScreeningRules:
    return ScreeningRules(
        thresholds=load_thresholds(),
        violation_types=load_violation_types(),
        violation_offences=load_violation_offences(),
        screening=load_screening(),
    )


def _screen(events: list[CaseEvent], rules: ScreeningRules,
            now: datetime | None = None) -> CaseScreening:
    return screen_case(events, now or at(2025, 3, 1), rules=rules, hub_unit_code=HUB_UNIT)


def test_an_open_case_at_85_percent_raises_early_intervention_during_the_investigation(
        rules: ScreeningRules) -> None:
    case = opened(at(2025, 2, 3), turnover_fen=42_500 * YUAN, as_of=date(2025, 2, 20))
    result = _screen([case], rules)
    assert result.assessments[0].outcome == "early_intervention"
    assert result.assessments[0].best is not None
    assert result.assessments[0].best.ratio == Decimal("0.85")
    [state] = result.alerts
    alert = state.alert
    assert (alert.kind, alert.status, alert.severity) == (
        AlertKind.EARLY_INTERVENTION_CANDIDATE, AlertStatus.RAISED, AlertSeverity.INFO)
    assert alert.rule_id == EARLY_INTERVENTION_RULE_ID
    # the agency is responsible; no non-referral clock runs on an undecided case
    assert alert.responsible_unit_code == MARKET
    assert alert.due_date is None
    assert alert.trigger_event_id == case.event_id
    assert alert.occurred_at == at(2025, 2, 20)  # when the amounts were found
    assert alert.details["stage"] == "investigation"
    assert alert.details["agency_case_number"] == AGENCY_CASE_NUMBER
    assert alert.details["threshold.sales_amount"] == str(THRESHOLD_FEN)
    assert "no_referral_window_ends" not in alert.details
    # the 80% rule's source is the screening data's (Macheng), not a name in code
    assert rules.screening.source.strip() in alert.legal_source
    assert "在办案件" in alert.message


def test_below_the_share_an_open_case_raises_nothing(rules: ScreeningRules) -> None:
    result = _screen([opened(at(2025, 2, 3), turnover_fen=35_000 * YUAN)], rules)
    assert result.assessments[0].outcome == "below"
    assert result.alerts == ()


def test_an_open_case_at_the_threshold_is_no_non_referral_lead(rules: ScreeningRules) -> None:
    """以罚代刑 needs a penalty: during the investigation it is early intervention, louder."""
    result = _screen([opened(at(2025, 2, 3), turnover_fen=60_000 * YUAN)], rules,
                     now=at(2025, 6, 1))
    [state] = result.alerts
    assert state.alert.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE
    assert state.alert.severity is AlertSeverity.WARNING
    assert result.next_check_at is None


def test_each_export_of_the_register_updates_one_alert(rules: ScreeningRules) -> None:
    first = opened(at(2025, 2, 3), turnover_fen=30_000 * YUAN, as_of=date(2025, 2, 10))
    more = opened(at(2025, 2, 3), turnover_fen=41_000 * YUAN, as_of=date(2025, 2, 20),
                  recorded=at(2025, 2, 20, 9))
    most = opened(at(2025, 2, 3), turnover_fen=52_000 * YUAN, as_of=date(2025, 3, 1),
                  recorded=at(2025, 3, 1, 9))
    assert _screen([first], rules).alerts == ()
    raised = _screen([first, more], rules).alerts
    [state] = raised
    assert state.alert.trigger_event_id == more.event_id
    expected_id = alert_id_for(OPEN_CASE, EARLY_INTERVENTION_RULE_ID,
                               f"open-case|{AGENCY_CASE_NUMBER}")
    assert state.alert.alert_id == expected_id
    emitted = {state.alert_id: snapshot_of(state.alert)}
    # the amounts reach the threshold: the same alert, now a warning (order of arrival
    # does not matter: the latest amounts date wins)
    louder = _screen([most, first, more], rules, now=at(2025, 3, 2))
    [change] = louder.changes(emitted)
    assert change.alert_id == expected_id
    assert change.severity is AlertSeverity.WARNING


def test_a_correction_below_the_share_resolves_the_raised_alert(rules: ScreeningRules) -> None:
    high = opened(at(2025, 2, 3), turnover_fen=45_000 * YUAN, as_of=date(2025, 2, 10))
    corrected = opened(at(2025, 2, 3), turnover_fen=20_000 * YUAN, as_of=date(2025, 2, 15))
    [raised] = _screen([high], rules).alerts
    result = _screen([high, corrected], rules)
    assert result.changes({}) == []  # never news on its own
    [change] = result.changes({raised.alert_id: snapshot_of(raised.alert)})
    assert change.status is AlertStatus.RESOLVED
    assert change.resolved_by_event_id == corrected.event_id


def test_the_penalty_decision_ends_the_investigation_and_keeps_its_review_lead(
        rules: ScreeningRules) -> None:
    """A penalty keyed by the same case number joins the open case; the investigation's
    lead resolves, and the decision's own screening raises today's review lead."""
    case = opened(at(2025, 2, 3), turnover_fen=42_500 * YUAN)
    [raised] = _screen([case], rules).alerts
    decided = penalty(at(2025, 3, 10), case_id=OPEN_CASE, turnover_fen=45_000 * YUAN)
    result = _screen([case, decided], rules, now=at(2025, 3, 11))
    by_trigger = {s.alert.trigger_event_id: s.alert for s in result.alerts}
    resolved = by_trigger[case.event_id]
    assert resolved.alert_id == raised.alert_id
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.resolved_by_event_id == decided.event_id
    review = by_trigger[decided.event_id]
    assert review.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE
    assert review.status is AlertStatus.RAISED
    assert review.alert_id == alert_id_for(OPEN_CASE, EARLY_INTERVENTION_RULE_ID,
                                           decided.event_id)
    assert "no_referral_window_ends" in review.details
    assert "stage" not in review.details


def test_a_referral_resolves_the_open_case_lead(rules: ScreeningRules) -> None:
    case = opened(at(2025, 2, 3), turnover_fen=42_500 * YUAN)
    [raised] = _screen([case], rules).alerts
    referral = referred(at(2025, 2, 25), case_id=OPEN_CASE)
    result = _screen([case, referral], rules)
    [change] = result.changes({raised.alert_id: snapshot_of(raised.alert)})
    assert change.status is AlertStatus.RESOLVED
    assert change.resolved_by_event_id == referral.event_id


def test_the_share_is_operator_data(rules: ScreeningRules) -> None:
    stricter = ScreeningRules(
        rules.thresholds, rules.violation_types, rules.violation_offences,
        rules.screening.model_copy(update={"early_intervention_ratio": Decimal("0.9")}),
    )
    case = opened(at(2025, 2, 3), turnover_fen=42_500 * YUAN)
    assert assess_penalty(case, stricter).outcome == "below"
    assert _screen([case], stricter).alerts == ()


def test_only_the_agency_may_enter_its_open_case() -> None:
    """Entitlement owner: the case id is made from the agency's code and its 立案编号."""
    case = opened(at(2025, 2, 3), turnover_fen=1)
    assert owns_by_case_id(case)
    rules, units = load_entitlements(), UnitRegistry([])
    own = check_entitlement(case, CaseRelations(), rules=rules, units=units,
                            hub_unit_code=HUB_UNIT, matched=False)
    assert own.relation == "owner"
    rogue = case.model_copy(update={"source_unit": TOBACCO})
    refused = check_entitlement(rogue, CaseRelations(owner=MARKET, owner_proven=True),
                                rules=rules, units=units, hub_unit_code=HUB_UNIT,
                                matched=False)
    assert not refused.entitled
    assert "AgencyCaseOpened" in (refused.reason or "")


def test_the_open_case_is_on_the_case_timeline_with_its_number() -> None:
    case = opened(at(2025, 2, 3), turnover_fen=42_500 * YUAN)
    state = fold([case]).to_case_state(hub_unit_code=HUB_UNIT, now=at(2025, 3, 1))
    assert state.agency_case_number == AGENCY_CASE_NUMBER
    [entry] = state.timeline
    assert entry.summary == (f"立案（在办）case opened {AGENCY_CASE_NUMBER}: 销售伪劣产品, "
                             "已查明金额 amount found 42500.00 元")


def test_the_open_cases_candidate_counts_on_the_agencys_scorecard(
        rules: ScreeningRules) -> None:
    """The scorecard's alerts column (UnitMonthlyStats.alerts_raised) counts the
    candidate against the agency, in the month its amounts were found."""
    from streams.stats_logic import StatsAccumulator

    case = opened(at(2025, 2, 3), turnover_fen=42_500 * YUAN, as_of=date(2025, 2, 20))
    [state] = _screen([case], rules).alerts
    statistics = StatsAccumulator()
    statistics.add(case)
    statistics.add(state.alert)
    statistics.add(state.alert)  # sent again: one alert
    figures = statistics.stats(MARKET, "2025-02", hub_unit_code=HUB_UNIT, now=at(2025, 3, 1))
    assert figures.alerts_raised == 1
    assert statistics.stats(MARKET, "2025-01", hub_unit_code=HUB_UNIT,
                            now=at(2025, 3, 1)).alerts_raised == 0
