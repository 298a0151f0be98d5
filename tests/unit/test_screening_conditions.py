"""Screening reads each figure for what it is and raises no certainty it cannot show.

Four faults a review found: the goods value 货值金额 (unsold goods included) compared as
sales; a conjunctive threshold (逃税: ≥ ¥100,000 *and* ≥ 10% of the tax due, unpaid
after the demand) raised as CRITICAL on its amount alone; fake cigarettes' mapping
dropping the trademark and tobacco gains; every 超标排放 classified as heavy metals.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors.config import load_preset, parse_config
from connectors.mapping import AnyMapper, MappingSpec, build_mapper
from connectors.samples import PENALTY_HEADER, penalty_row
from hub.models import AgencyCaseOpened, AlertKind, AlertSeverity, PenaltyCaseRecorded
from hub.rules import (
    amount_bases,
    classify_violation,
    load_screening,
    load_thresholds,
    load_violation_offences,
    load_violation_types,
)
from hub.rules.thresholds import ThresholdTable
from streams.screening_assessment import UNCHECKED_NOTE, ScreeningRules, assess_penalty
from streams.screening_logic import screen_case
from tests.unit.data.case_events import HUB_UNIT, at, opened, party, penalty

YUAN = 100
MARKET = "11429901030089405N"  # 演示县市场监督管理局 (deploy/demo/units.yaml)
PERSON = [party("张某", credit_code=None, category="NATURAL_PERSON")]


@pytest.fixture(scope="module")
def rules() -> ScreeningRules:
    return ScreeningRules(thresholds=load_thresholds(), violation_types=load_violation_types(),
                          violation_offences=load_violation_offences(),
                          screening=load_screening())


@pytest.fixture(scope="module")
def disclosure() -> AnyMapper:
    spec = MappingSpec.model_validate(load_preset("penalty-disclosure"))
    return build_mapper(spec, unit=MARKET, connector_id="test")


def _disclosed(mapper: AnyMapper, **columns: str) -> PenaltyCaseRecorded:
    row: dict[str, Any] = dict(zip(PENALTY_HEADER, penalty_row(1), strict=True))
    row.update({"违法行为类型代码": "MR-FAKE-PRODUCT", **columns})
    event = mapper.map(row, "penalties.csv#2").event
    assert isinstance(event, PenaltyCaseRecorded)
    return event


def _with_goods(event: PenaltyCaseRecorded, goods_yuan: int) -> PenaltyCaseRecorded:
    return event.model_copy(update={"goods_value_fen": goods_yuan * YUAN})


# -- 货值金额 is not sales --------------------------------------------------------------


def test_the_disclosed_goods_value_is_no_sales_amount_but_a_lead_to_check(
        disclosure: AnyMapper, rules: ScreeningRules) -> None:
    """货值 ¥140,000 alone is 93% of the ¥150,000 unsold-goods threshold; read as the
    sales amount it was a CRITICAL certainty at 2.8 times ¥50,000. The record does not say
    how much was sold (货值 counts sold goods too): the goods value stands in for the
    sales amount as a condition a person checks, a WARNING lead 待核实, never certain."""
    event = _disclosed(disclosure, **{"违法经营额（万元）": "", "货值金额（万元）": "14"})
    assert (event.goods_value_fen, event.illegal_turnover_fen) == (14_000_000, None)
    result = assess_penalty(event, rules)
    assert result.outcome == "suspected_non_referral" and not result.checked
    assert result.best is not None and result.best.assumed == ("sales_amount",)
    unsold = next(a for a in result.assessments if a.offence_id == result.best.offence_id)
    assert unsold.basis_values["goods_value"] == Decimal(14_000_000)
    [state] = screen_case([event], event.occurred_at + timedelta(days=30), rules=rules,
                          hub_unit_code=HUB_UNIT).alerts
    assert state.alert.severity is AlertSeverity.WARNING
    assert "sales_amount (stand-in)" in state.alert.details["unchecked_conditions"]


def test_sales_and_goods_value_of_one_row_are_each_compared_with_their_own_threshold(
        disclosure: AnyMapper, rules: ScreeningRules) -> None:
    event = _disclosed(disclosure, **{"违法经营额（万元）": "6", "货值金额（万元）": "3"})
    assert (event.illegal_turnover_fen, event.goods_value_fen) == (6_000_000, 3_000_000)
    result = assess_penalty(event, rules)
    assert result.outcome == "suspected_non_referral"
    assert result.best is not None and result.best.alternative_id == "sales"
    assert result.best.basis_values == {"sales_amount": Decimal(6_000_000),
                                        "goods_value": Decimal(3_000_000)}


def test_the_open_case_register_reads_the_goods_value_apart() -> None:
    raw = {"id": "open-cases", "unit": MARKET, "kind": "file",
           "source": {"path": "/nonexistent"}, "preset": "agency-open-cases"}
    config = parse_config(raw)
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    row = {"立案编号": "演市监立〔2025〕31号", "立案日期": "2025-05-06", "当事人名称": "某某商行",
           "案由": "销售伪劣产品", "违法行为类型代码": "MR-FAKE-PRODUCT",
           "货值金额（元）": "140000"}
    event = mapper.map(row, "open_cases.csv#2").event
    assert isinstance(event, AgencyCaseOpened)
    assert (event.goods_value_fen, event.illegal_turnover_fen) == (14_000_000, None)


@pytest.mark.parametrize("code", ["MR-FAKE-PRODUCT", "FD-INFERIOR-DRUG", "TOB-FAKE-CIGARETTES"])
def test_every_code_mapped_to_fake_products_compares_the_goods_value(
        code: str, rules: ScreeningRules) -> None:
    event = _with_goods(penalty(at(2025, 1, 6), code=code), 150_000)
    result = assess_penalty(event, rules)
    fake = next(a for a in result.assessments if a.offence_id == "fake-inferior-products")
    assert (fake.alternative_id, fake.ratio) == ("unsold-goods", Decimal(1))
    assert result.outcome == "suspected_non_referral"


def test_the_goods_value_is_no_ones_turnover_only_a_stand_in_to_check(
        rules: ScreeningRules) -> None:
    """货值 is not an illegal business's turnover; a record with nothing else stood in
    for nothing before, and ¥200,000 of goods raised no lead at all."""
    event = _with_goods(penalty(at(2025, 1, 6), code="MR-ILLEGAL-BUSINESS", parties=PERSON),
                        200_000)
    result = assess_penalty(event, rules)
    assert result.outcome == "suspected_non_referral" and not result.checked
    assert result.best is not None and result.best.assumed == ("turnover",)
    turnover = penalty(at(2025, 1, 6), code="MR-ILLEGAL-BUSINESS", parties=PERSON,
                       turnover_fen=200_000 * YUAN)
    assert assess_penalty(_with_goods(turnover, 10), rules).checked  # a figure of its own


# -- conditions the record cannot show ----------------------------------------------------


def test_tax_evasion_on_its_amount_alone_is_a_lead_to_check_not_a_certainty(
        rules: ScreeningRules) -> None:
    event = penalty(at(2025, 1, 6), code="TAX-EVASION", turnover_fen=120_000 * YUAN,
                    domain="tax")
    [state] = screen_case([event], at(2025, 2, 1), rules=rules, hub_unit_code=HUB_UNIT).alerts
    alert = state.alert
    assert alert.kind is AlertKind.SUSPECTED_NON_REFERRAL
    assert alert.severity is AlertSeverity.WARNING
    assert alert.details["conditions_checked"] == "false"
    assert alert.details["unchecked_conditions"] == "evaded_tax_share >= 0.10"
    assert "追缴通知" in alert.details["also_requires"]
    assert "待核实" in alert.message and UNCHECKED_NOTE in alert.message


def test_a_condition_beyond_the_figures_alone_lowers_the_lead(rules: ScreeningRules) -> None:
    """拒不支付劳动报酬: the amount is in the record, the unheeded order is not."""
    event = penalty(at(2025, 1, 6), code="HR-WAGE-ARREARS", turnover_fen=8_000 * YUAN,
                    domain="human_resources")
    [state] = screen_case([event], at(2025, 2, 1), rules=rules, hub_unit_code=HUB_UNIT).alerts
    assert state.alert.severity is AlertSeverity.WARNING
    assert "责令支付" in state.alert.details["also_requires"]
    assert "unchecked_conditions" not in state.alert.details


def test_a_lead_the_record_shows_in_full_stays_critical(rules: ScreeningRules) -> None:
    event = penalty(at(2025, 1, 6), turnover_fen=60_000 * YUAN)
    [state] = screen_case([event], at(2025, 2, 1), rules=rules, hub_unit_code=HUB_UNIT).alerts
    assert state.alert.severity is AlertSeverity.CRITICAL
    assert "conditions_checked" not in state.alert.details
    assert "待核实" not in state.alert.message


def _with_offence(rules: ScreeningRules, offence: dict[str, Any]) -> ScreeningRules:
    """The shipped rules with fake products' threshold replaced (any offence would do)."""
    raw = load_thresholds().model_dump(mode="json", by_alias=True)
    raw["offences"] = [offence if o["id"] == "fake-inferior-products" else o
                       for o in raw["offences"]]
    table = ThresholdTable.model_validate(raw)
    return ScreeningRules(table, rules.violation_types, rules.violation_offences,
                          rules.screening)


def _fake_products_measured_by(alternatives: list[dict[str, Any]]) -> dict[str, Any]:
    """Fake products' offence with other alternatives (the shape of thresholds.yaml)."""
    return {"id": "fake-inferior-products", "article": "140", "name_zh": "x",
            "name_en": "x", "category": "economic", "source": "s",
            "alternatives": alternatives}


def test_any_rule_with_an_unfed_condition_is_checked_by_a_person(
        rules: ScreeningRules) -> None:
    """Generic, not a tax special case: sales ≥ ¥50,000 *and* a loss nothing feeds."""
    changed = _with_offence(rules, _fake_products_measured_by([
        {"id": "sales-and-loss", "all_of": [{"basis": "sales_amount", "min_fen": 5000000},
                                            {"basis": "loss", "min_fen": 100}]}]))
    event = penalty(at(2025, 1, 6), turnover_fen=60_000 * YUAN)
    [state] = screen_case([event], at(2025, 2, 1), rules=changed,
                          hub_unit_code=HUB_UNIT).alerts
    assert state.alert.severity is AlertSeverity.WARNING
    assert state.alert.details["unchecked_conditions"] == "loss >= 100"


def test_an_alternative_shown_in_full_beats_a_higher_share_of_one_that_is_not(
        rules: ScreeningRules) -> None:
    changed = _with_offence(rules, _fake_products_measured_by([
        {"id": "unchecked", "all_of": [{"basis": "sales_amount", "min_fen": 1000000},
                                       {"basis": "loss", "min_fen": 100}]},
        {"id": "checked", "all_of": [{"basis": "sales_amount", "min_fen": 5000000}]}]))
    result = assess_penalty(penalty(at(2025, 1, 6), turnover_fen=60_000 * YUAN), changed)
    assert result.best is not None
    assert (result.best.alternative_id, result.best.ratio) == ("checked", Decimal("1.2"))
    assert result.checked


def test_an_open_case_reaching_an_unchecked_threshold_is_not_made_louder(
        rules: ScreeningRules) -> None:
    case = opened(at(2025, 1, 6), code="TAX-EVASION", turnover_fen=150_000 * YUAN)
    [state] = screen_case([case], at(2025, 1, 7), rules=rules,
                          hub_unit_code=HUB_UNIT).alerts
    assert state.alert.kind is AlertKind.EARLY_INTERVENTION_CANDIDATE
    assert state.alert.severity is AlertSeverity.INFO
    assert state.alert.details["unchecked_conditions"] == "evaded_tax_share >= 0.10"


# -- a mapping's amounts add to the defaults ----------------------------------------------


def test_fake_cigarettes_gains_reach_the_trademark_and_tobacco_thresholds(
        rules: ScreeningRules) -> None:
    result = assess_penalty(penalty(at(2025, 1, 6), code="TOB-FAKE-CIGARETTES",
                                    gains_fen=30_000 * YUAN), rules)
    by_offence = {a.offence_id: a.ratio for a in result.assessments}
    assert by_offence["counterfeit-trademark"] == Decimal(1)  # gains ≥ ¥30,000
    assert by_offence["illegal-business-tobacco"] == Decimal("1.5")  # gains ≥ ¥20,000
    assert result.outcome == "suspected_non_referral"


def test_fake_cigarettes_turnover_is_sales_and_illegal_turnover_alike(
        rules: ScreeningRules) -> None:
    result = assess_penalty(penalty(at(2025, 1, 6), code="TOB-FAKE-CIGARETTES",
                                    turnover_fen=50_000 * YUAN), rules)
    assert {a.offence_id: (a.alternative_id, a.ratio) for a in result.assessments} == {
        "fake-inferior-products": ("sales", Decimal(1)),
        "counterfeit-trademark": ("turnover", Decimal(1)),
        "illegal-business-tobacco": ("turnover", Decimal(1)),
    }


def test_a_mappings_amounts_replace_the_defaults_field_by_field() -> None:
    defaults = {"illegal_turnover_fen": "turnover", "illegal_gains_fen": "illegal_gains"}
    assert amount_bases(defaults, {"illegal_turnover_fen": ("sales_amount", "turnover")}) == {
        "illegal_turnover_fen": ("sales_amount", "turnover"),
        "illegal_gains_fen": ("illegal_gains",),
    }
    assert amount_bases(defaults, {"illegal_gains_fen": ()})["illegal_gains_fen"] == ()


# -- heavy metals must be named -----------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("超标排放化学需氧量", None),
    ("超标排放氨氮", None),
    ("超标排放含铅废水", "ENV-EXCESS-HEAVY-METALS"),
    ("废水总镉超标排放", "ENV-EXCESS-HEAVY-METALS"),
    ("超标排放含重金属废水", "ENV-EXCESS-HEAVY-METALS"),
    ("超标排放六价铬", "ENV-EXCESS-HEAVY-METALS"),
])
def test_only_a_named_heavy_metal_makes_a_heavy_metal_case(text: str,
                                                             expected: str | None) -> None:
    found = classify_violation(text, load_violation_types(), "environment")
    assert (found.code if found else None) == expected


def test_a_cod_discharge_three_times_the_standard_raises_no_heavy_metal_lead(
        rules: ScreeningRules) -> None:
    from hub.models import Quantity

    event = penalty(at(2025, 1, 6), code=None, violation_text="超标排放化学需氧量",
                    domain="environment",
                    quantities=[Quantity(name="化学需氧量超标倍数", value="3", unit="倍")])
    result = assess_penalty(event, rules)
    assert result.outcome == "not_screened"
    assert result.best is None


def test_the_view_says_in_chinese_that_a_person_must_check(rules: ScreeningRules) -> None:
    from hub.view.texts import localize

    result = assess_penalty(penalty(at(2025, 1, 6), code="TAX-EVASION",
                                    turnover_fen=120_000 * YUAN, domain="tax"), rules)
    assert result.reason.endswith(UNCHECKED_NOTE)
    assert localize(result.reason, "zh").endswith("处罚记录无法确认全部追诉条件，须由办案人员核实")


def test_an_empty_amounts_block_is_refused_not_silently_ignored() -> None:
    """``amounts: {}`` once removed every default amount; merged field by field it would
    change nothing without a word. A field that feeds no basis says ``[]``."""
    from pydantic import ValidationError

    from hub.rules.violations import ViolationMapping

    with pytest.raises(ValidationError, match="amounts"):
        ViolationMapping(violation_type="MR-X", offences=("fake-inferior-products",),
                         amounts={}, source="test")
    kept = ViolationMapping(violation_type="MR-X", offences=("fake-inferior-products",),
                            amounts={"illegal_gains_fen": ()}, source="test")
    assert kept.amount_bases({"illegal_gains_fen": "illegal_gains"}) == {
        "illegal_gains_fen": ()}
