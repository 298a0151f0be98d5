"""Non-referral screening: penalty figures against filing thresholds, leads and withdrawal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hub.models import AlertKind, AlertStatus, Quantity
from hub.rules import (
    load_screening,
    load_thresholds,
    load_violation_offences,
    load_violation_types,
)
from streams._alerts import alert_id_for, snapshot_of
from streams.screening_assessment import ScreeningRules, assess_penalty
from streams.screening_logic import NON_REFERRAL_RULE_ID, screen_case
from tests.unit.data.case_events import (
    CASE,
    HUB_UNIT,
    MARKET,
    at,
    party,
    penalty,
    referred,
)

YUAN = 100


@pytest.fixture(scope="module")
def rules() -> ScreeningRules:
    return ScreeningRules(
        thresholds=load_thresholds(),
        violation_types=load_violation_types(),
        violation_offences=load_violation_offences(),
        screening=load_screening(),
    )


PERSON = [party("张某", credit_code=None, category="NATURAL_PERSON")]
COMPANY = [party()]


def q(name: str, value: str, unit: str) -> Quantity:
    return Quantity(name=name, value=value, unit=unit)


ASSESSMENT_TABLE = [
    # id, penalty keyword arguments, prior penalties, outcome, offence, ratio (or None)
    ("fake products: sales above", {"turnover_fen": 60_000 * YUAN}, None,
     "suspected_non_referral", "fake-inferior-products", Decimal("1.2")),
    ("fake products: exactly the threshold", {"turnover_fen": 50_000 * YUAN}, None,
     "suspected_non_referral", "fake-inferior-products", Decimal(1)),
    ("fake products: 90%", {"turnover_fen": 45_000 * YUAN}, None,
     "early_intervention", "fake-inferior-products", Decimal("0.9")),
    ("fake products: exactly 80%", {"turnover_fen": 40_000 * YUAN}, None,
     "early_intervention", "fake-inferior-products", Decimal("0.8")),
    ("fake products: 60%", {"turnover_fen": 30_000 * YUAN}, None,
     "below", "fake-inferior-products", Decimal("0.6")),
    ("tobacco: 1,000 cartons = 200,000 cigarettes",
     {"code": "TOB-ILLEGAL-BUSINESS", "quantities": [q("卷烟", "1000", "条")]}, None,
     "suspected_non_referral", "illegal-business-tobacco", Decimal(1)),
    ("tobacco: 16 × 10,000 sticks",
     {"code": "TOB-ILLEGAL-BUSINESS", "quantities": [q("卷烟（多品牌）", "16", "万支")]}, None,
     "early_intervention", "illegal-business-tobacco", Decimal("0.8")),
    ("tobacco: gains count too",
     {"code": "TOB-ILLEGAL-BUSINESS", "gains_fen": 25_000 * YUAN,
          "quantities": [q("卷烟", "100", "条")]}, None,
     "suspected_non_referral", "illegal-business-tobacco", Decimal("1.25")),
    ("illegal business, individual", {"code": "MR-ILLEGAL-BUSINESS",
                                          "turnover_fen": 60_000 * YUAN, "parties": PERSON}, None,
     "suspected_non_referral", "illegal-business", Decimal("1.2")),
    ("illegal business, unit: same turnover is far below", {
        "code": "MR-ILLEGAL-BUSINESS", "turnover_fen": 60_000 * YUAN, "parties": COMPANY}, None,
     "below", "illegal-business", Decimal("0.12")),
    ("illegal business, unit gains", {"code": "MR-ILLEGAL-BUSINESS", "gains_fen": 90_000 * YUAN,
                                          "parties": COMPANY}, None,
     "early_intervention", "illegal-business", Decimal("0.9")),
    ("hazardous waste in kg", {"code": "ENV-HAZARDOUS-WASTE", "domain": "environment",
                                   "quantities": [q("危险废物（废矿物油）", "2700", "千克")]}, None,
     "early_intervention", "environmental-pollution", Decimal("0.9")),
    ("hazardous waste in t", {"code": "ENV-HAZARDOUS-WASTE",
                                  "quantities": [q("危险废物", "3.2", "吨")]}, None,
     "suspected_non_referral", "environmental-pollution", Decimal("3.2") / 3),
    ("hidden discharge qualifies by itself", {"code": "ENV-HIDDEN-DISCHARGE"}, None,
     "suspected_non_referral", "environmental-pollution", Decimal(1)),
    ("fake drugs: any sale", {"code": "FD-FAKE-DRUG"}, None,
     "suspected_non_referral", "fake-drugs", Decimal(1)),
    ("unsafe food: a listed hazard", {"code": "MR-UNSAFE-FOOD-HAZARD"}, None,
     "suspected_non_referral", "unsafe-food", Decimal(1)),
    ("inland fishing by weight", {"code": "AGR-ILLEGAL-FISHING-INLAND",
                                      "quantities": [q("渔获物", "600", "kg")]}, None,
     "suspected_non_referral", "illegal-fishing", Decimal("1.2")),
    ("sea fishing: the same weight is below",
     {"code": "AGR-ILLEGAL-FISHING-SEA", "quantities": [q("渔获物", "600", "公斤")]}, None,
     "below", "illegal-fishing", Decimal("0.3")),
    ("basic farmland 4.5 mu", {"code": "NR-OCCUPY-BASIC-FARMLAND",
                                   "quantities": [q("占用面积", "4.5", "亩")]}, None,
     "early_intervention", "illegal-occupation-of-farmland", Decimal("0.9")),
    ("other farmland 4.5 mu", {"code": "NR-OCCUPY-FARMLAND",
                                   "quantities": [q("占用面积", "4.5", "亩")]}, None,
     "below", "illegal-occupation-of-farmland", Decimal("0.45")),
    ("basic farmland in hectares", {"code": "NR-OCCUPY-BASIC-FARMLAND",
                                        "quantities": [q("占用面积", "0.5", "公顷")]}, None,
     "suspected_non_referral", "illegal-occupation-of-farmland", Decimal("1.5")),
    ("tax evasion: amount reached, share unknown", {"code": "TAX-EVASION",
                                                        "turnover_fen": 120_000 * YUAN}, None,
     "suspected_non_referral", "tax-evasion", Decimal("1.2")),
    ("illegal medical practice after two penalties", {"code": "HEA-ILLEGAL-MEDICAL-PRACTICE"},
     2, "suspected_non_referral", "illegal-medical-practice", Decimal(1)),
    ("illegal medical practice after one penalty", {"code": "HEA-ILLEGAL-MEDICAL-PRACTICE"},
     1, "below", "illegal-medical-practice", Decimal("0.5")),
    ("a death in a work-safety accident", {"code": "SAF-LIABILITY-ACCIDENT",
                                               "quantities": [q("死亡人数", "1", "人")]}, None,
     "suspected_non_referral", "major-liability-accident", Decimal(1)),
    ("timber theft 1.8 m³ against the province-set 2 m³", {
        "code": "FOR-THEFT-LOGGING", "quantities": [q("林木蓄积", "1.8", "立方米")]}, None,
     "early_intervention", "illegal-logging-theft", Decimal("0.9")),
    ("mining value", {"code": "NR-ILLEGAL-MINING", "turnover_fen": 100_000 * YUAN}, None,
     "suspected_non_referral", "illegal-mining", Decimal(1)),
    ("wages withheld, province-set lower bound", {"code": "HR-WAGE-ARREARS",
                                                      "turnover_fen": 4_000 * YUAN}, None,
     "early_intervention", "refusing-to-pay-wages", Decimal("0.8")),
    ("free text classified", {"code": None, "violation_text": "销售假冒注册商标的商品",
                                  "gains_fen": 30_000 * YUAN}, None,
     "suspected_non_referral", "counterfeit-trademark", Decimal(1)),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "prior", "outcome", "offence", "ratio"), ASSESSMENT_TABLE,
    ids=[row[0] for row in ASSESSMENT_TABLE],
)
def test_assessment(rules: ScreeningRules, case: str, kwargs: dict, prior: int | None,
                    outcome: str, offence: str, ratio: Decimal) -> None:
    result = assess_penalty(penalty(at(2025, 1, 6), **kwargs), rules, prior_penalties=prior)
    assert result.outcome == outcome, result.reason
    assert result.best is not None
    assert result.best.offence_id == offence
    assert result.best.ratio == ratio


@pytest.mark.parametrize(
    ("kwargs", "outcome", "reason"),
    [
        ({"code": "MR-FOOD-LABEL"}, "below", "not an offence by itself"),
        ({"code": "XX-NOT-A-CODE"}, "not_screened", "not mapped"),
        ({"code": None, "violation_text": "乱摆摊"}, "not_screened", "matches no keyword"),
        ({"procedure": "SUMMARY", "turnover_fen": 60_000 * YUAN}, "not_screened", "summary"),
        ({}, "below", "none of the figures"),
        ({"code": "ENV-HAZARDOUS-WASTE", "quantities": [q("危险废物", "3", "桶")]}, "below",
         "cannot be expressed in t"),
    ],
)
def test_not_screened_or_below(rules: ScreeningRules, kwargs: dict, outcome: str,
                               reason: str) -> None:
    result = assess_penalty(penalty(at(2025, 1, 6), **kwargs), rules)
    assert result.outcome == outcome
    assert reason in result.reason or any(reason in a.reason for a in result.assessments)


def test_missing_figures_are_named(rules: ScreeningRules) -> None:
    result = assess_penalty(penalty(at(2025, 1, 6), code="TAX-EVASION",
                                    turnover_fen=120_000 * YUAN), rules)
    assert result.best is not None
    assert result.best.missing_bases == ("evaded_tax_share",)
    assert "also needs evaded_tax_share" in result.reason


def test_tobacco_counterfeits_take_the_nearest_offence(rules: ScreeningRules) -> None:
    result = assess_penalty(penalty(at(2025, 1, 6), code="TOB-FAKE-CIGARETTES",
                                    turnover_fen=40_000 * YUAN,
                                    quantities=[q("卷烟", "1200", "条")]), rules)
    assert [a.offence_id for a in result.assessments] == [
        "fake-inferior-products", "counterfeit-trademark", "illegal-business-tobacco"
    ]
    assert result.best is not None and result.best.offence_id == "illegal-business-tobacco"
    assert result.best.ratio == Decimal("1.2")


# --- leads over a case's life -----------------------------------------------------------

ABOVE = penalty(at(2025, 1, 6, 10), turnover_fen=60_000 * YUAN)
NEAR = penalty(at(2025, 1, 6, 10), turnover_fen=45_000 * YUAN,
               event_id="7d0c3c1e-2b0a-5f5e-9d47-1f0b6a8e9c01")


def test_lead_waits_for_the_no_referral_window(rules: ScreeningRules) -> None:
    result = screen_case([ABOVE], at(2025, 1, 10), rules=rules, hub_unit_code=HUB_UNIT)
    assert result.alerts == ()
    assert result.next_check_at == at(2025, 1, 21, 10)  # 15 days
    assert [a.outcome for a in result.assessments] == ["suspected_non_referral"]


def test_suspected_non_referral_is_raised_with_rule_and_source(rules: ScreeningRules) -> None:
    result = screen_case([ABOVE], at(2025, 1, 21, 10), rules=rules, hub_unit_code=HUB_UNIT)
    [state] = result.alerts
    alert = state.alert
    assert alert.kind is AlertKind.SUSPECTED_NON_REFERRAL
    assert alert.status is AlertStatus.RAISED
    assert alert.severity.value == "CRITICAL"
    assert alert.rule_id == NON_REFERRAL_RULE_ID
    assert alert.responsible_unit_code == MARKET
    assert alert.alert_id == alert_id_for(CASE, NON_REFERRAL_RULE_ID, ABOVE.event_id)
    assert alert.legal_source == (
        "最高人民检察院、公安部《关于公安机关管辖的刑事案件立案追诉标准的规定（一）》"
        "（公通字〔2008〕36号，2008-06-25）第16条; "
        "State Council Decree 310 (rev. 2020) Art. 11 (以罚代刑 forbidden)"
    )
    assert alert.details["offence_id"] == "fake-inferior-products"
    assert alert.details["criminal_law_article"] == "140"
    assert alert.details["ratio"] == "1.2000"
    assert alert.details["value.sales_amount"] == "6000000"
    assert alert.details["threshold.sales_amount"] == "5000000"  # beside its threshold
    assert "生产、销售伪劣产品罪" in alert.message


def test_a_quantity_lead_shows_the_quantity_beside_its_threshold(rules: ScreeningRules) -> None:
    """Issue #14, item 4: the hazardous-waste lead shows 2.634 t against 3 t (not the fine)."""
    waste = penalty(at(2025, 1, 6, 10), code="ENV-HAZARDOUS-WASTE", domain="environment",
                    quantities=[q("危险废物", "2.634", "吨")])
    result = screen_case([waste], at(2025, 1, 21, 10), rules=rules, hub_unit_code=HUB_UNIT)
    [state] = result.alerts
    details = state.alert.details
    [basis] = [key.removeprefix("threshold.") for key in details if key.startswith("threshold.")]
    assert (details[f"value.{basis}"], details[f"threshold.{basis}"]) == ("2.634", "3")
    assert not any("fine" in key for key in details)


def test_a_later_referral_withdraws_the_lead(rules: ScreeningRules) -> None:
    raised = screen_case([ABOVE], at(2025, 1, 21, 10), rules=rules,
                         hub_unit_code=HUB_UNIT).alerts[0].alert
    referral = referred(at(2025, 1, 25, 9))
    result = screen_case([ABOVE, referral], at(2025, 1, 25, 9), rules=rules,
                         hub_unit_code=HUB_UNIT)
    [state] = result.alerts
    assert state.alert.status is AlertStatus.RESOLVED
    assert state.alert.alert_id == raised.alert_id
    assert state.alert.resolved_by_event_id == referral.event_id
    assert result.changes({}) == []  # never raised: nothing to withdraw
    [change] = result.changes({raised.alert_id: snapshot_of(raised)})
    assert change.status is AlertStatus.RESOLVED


def test_early_intervention_candidate_is_raised_at_once(rules: ScreeningRules) -> None:
    result = screen_case([NEAR], at(2025, 1, 6, 10), rules=rules, hub_unit_code=HUB_UNIT)
    [state] = result.alerts
    assert state.alert.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE
    assert state.alert.severity.value == "INFO"
    assert state.alert.details["ratio"] == "0.9000"


def test_referral_before_the_penalty_leaves_no_lead(rules: ScreeningRules) -> None:
    events = [referred(at(2025, 1, 5, 9)), ABOVE]
    result = screen_case(events, at(2025, 3, 1), rules=rules, hub_unit_code=HUB_UNIT)
    assert result.changes({}) == []


def test_screening_is_idempotent(rules: ScreeningRules) -> None:
    first = screen_case([ABOVE, NEAR], at(2025, 2, 1), rules=rules, hub_unit_code=HUB_UNIT)
    second = screen_case([NEAR, ABOVE, ABOVE], at(2025, 2, 1), rules=rules,
                         hub_unit_code=HUB_UNIT)
    assert first == second
    previous = {a.alert_id: snapshot_of(a) for a in first.changes({})}
    assert second.changes(previous) == []


def test_operator_ratio_is_data(rules: ScreeningRules) -> None:
    stricter = ScreeningRules(
        rules.thresholds, rules.violation_types, rules.violation_offences,
        rules.screening.model_copy(update={"early_intervention_ratio": Decimal("0.95")}),
    )
    assert assess_penalty(NEAR, stricter).outcome == "below"
