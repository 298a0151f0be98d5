"""Screening by conduct (issue #14, item 4): closed seasons, closed areas and banned
methods of illegal fishing, and a party's earlier penalties counted across units."""

from __future__ import annotations

from datetime import date

import pytest

from hub.identity import sole_trader_placeholder
from hub.models import AlertKind, AlertStatus, Party, PenaltyCaseRecorded
from hub.rules import (
    load_screening,
    load_thresholds,
    load_violation_offences,
    load_violation_types,
)
from hub.rules.conduct import ClosedSeason, RepeatPenaltyRule, load_conduct_criteria
from streams.screening_assessment import ScreeningRules, assess_penalty
from streams.screening_conduct import conduct_date, fishing_circumstances
from streams.screening_logic import screen_case
from streams.screening_priors import (
    PriorPenalty,
    count_prior_penalties,
    party_identifier,
    prior_penalty_counts,
)
from tests.unit.data.case_events import HUB_UNIT, MARKET, TAX, at, party, penalty

AGRICULTURE = MARKET  # any valid unit code: the agency's identity does not matter here


@pytest.fixture(scope="module")
def rules() -> ScreeningRules:
    return ScreeningRules(
        thresholds=load_thresholds(), violation_types=load_violation_types(),
        violation_offences=load_violation_offences(), screening=load_screening(),
    )


def fishing(facts: str, *, decided: tuple[int, int, int] = (2025, 8, 20),
            text: str = "非法捕捞水产品") -> PenaltyCaseRecorded:
    event = penalty(at(*decided), code="AGR-ILLEGAL-FISHING-INLAND", violation_text=text,
                    domain="agriculture", unit=AGRICULTURE,
                    parties=[party("李某", credit_code=None, category="NATURAL_PERSON",
                                   id_number="11010519491231002X")])
    return event.model_copy(update={"violation_facts": facts})


def test_the_conduct_date_is_read_from_the_facts_else_the_decision_date() -> None:
    stated = fishing("2025年4月12日夜，当事人在本县河道捕捞")
    assert conduct_date(stated) == (date(2025, 4, 12), True)
    assert conduct_date(fishing("2025-05-03，当事人……")) == (date(2025, 5, 3), True)
    # a date after the decision is no conduct date (a deadline the facts quote)
    assert conduct_date(fishing("责令于2025年9月30日前改正")) == (date(2025, 8, 20), False)


def test_closed_season_and_electrofishing_make_a_lead_with_its_reason(
        rules: ScreeningRules) -> None:
    event = fishing("2025年4月12日夜，当事人在本县河道使用电鱼器具捕捞鲫鱼12公斤")
    assessment = assess_penalty(event, rules)
    assert assessment.outcome == "suspected_non_referral"
    assert assessment.best is not None
    assert assessment.best.criterion_id == "closed-season-banned-method"
    assert assessment.best.circumstances["banned_method"] == "电鱼"
    assert "03-01至06-30" in assessment.best.circumstances["closed_season"]
    assert assessment.best.circumstances["conduct_date"] == "2025-04-12"
    assert "公通字〔2008〕36号" in assessment.best.legal_source
    screening = screen_case([event], at(2025, 12, 31), rules=rules, hub_unit_code=HUB_UNIT)
    (state,) = screening.alerts
    alert = state.alert
    assert alert.kind is AlertKind.SUSPECTED_NON_REFERRAL
    assert alert.status is AlertStatus.RAISED
    assert alert.details["criterion_zh"] == "在禁渔期内使用禁用的工具或者禁用的方法捕捞"
    assert alert.details["circumstance.banned_method"] == "电鱼"
    assert "closed-season-banned-method" in alert.message


def test_a_closed_area_with_poison_is_a_lead_in_any_season(rules: ScreeningRules) -> None:
    event = fishing("2025年10月8日，当事人在禁渔区内投放药物毒鱼")
    assessment = assess_penalty(event, rules)
    assert assessment.outcome == "suspected_non_referral"
    assert assessment.best is not None
    assert assessment.best.criterion_id == "closed-area-banned-method"
    assert assessment.best.circumstances == {"banned_method": "毒鱼", "closed_area": "禁渔区"}


def test_one_circumstance_alone_is_an_early_intervention_candidate(
        rules: ScreeningRules) -> None:
    method_only = assess_penalty(fishing("2025年10月8日，当事人使用电鱼器具捕捞"), rules)
    assert method_only.outcome == "early_intervention"
    assert method_only.best is not None and method_only.best.criterion_id == "banned-method"
    season_only = assess_penalty(fishing("2025年5月2日，当事人以刺网捕捞"), rules)
    assert season_only.outcome == "early_intervention"
    assert season_only.best is not None and season_only.best.criterion_id == "closed-season"


def test_outside_the_season_without_a_banned_method_nothing_is_raised(
        rules: ScreeningRules) -> None:
    assessment = assess_penalty(fishing("2025年10月8日，当事人以刺网捕捞"), rules)
    assert assessment.outcome == "below"


def test_a_named_water_body_uses_its_own_season() -> None:
    criteria = load_conduct_criteria().fishing
    # 黄河 closes 04-01..06-30; the county default from 03-01: 3 March is only the county's
    yellow = fishing("2025年3月3日，当事人在黄河河段电鱼")
    county = fishing("2025年3月3日，当事人在本县水库电鱼")
    assert fishing_circumstances(yellow, criteria).closed_season is None
    assert fishing_circumstances(county, criteria).closed_season is not None


def test_a_season_runs_over_the_new_year_and_within_its_years() -> None:
    winter = ClosedSeason(id="w", name_zh="冬季禁渔", default=True, start="12-01", end="02-28",
                          source="某省通告", verified=False)
    assert winter.covers(date(2025, 12, 15)) and winter.covers(date(2026, 1, 5))
    assert not winter.covers(date(2026, 3, 1))
    ban = ClosedSeason(id="y", name_zh="十年禁渔", keywords=("长江",), start="01-01",
                       end="12-31", years=(2021, 2030), source="通告", verified=False)
    assert ban.covers(date(2021, 1, 1)) and not ban.covers(date(2031, 1, 1))
    with pytest.raises(ValueError, match="names no water body"):
        ClosedSeason(id="x", name_zh="x", start="03-01", end="06-30", source="s")
    with pytest.raises(ValueError, match="month-day"):
        ClosedSeason(id="x", name_zh="x", default=True, start="13-01", end="06-30",
                     source="s")


# -- a party's earlier penalties, across units ----------------------------------------

DOCTOR = party("王某", credit_code=None, category="NATURAL_PERSON",
               id_number="11010519491231002X")


def practice(unit: str, number: str, decided: tuple[int, int, int]) -> PenaltyCaseRecorded:
    from hub.identity import case_id_for

    return penalty(at(*decided), unit=unit, code="HEA-ILLEGAL-MEDICAL-PRACTICE",
                   violation_text="非法行医", domain="health", decision_number=number,
                   case_id=case_id_for(unit, number), parties=[DOCTOR])


def prior(event: PenaltyCaseRecorded) -> PriorPenalty:
    return PriorPenalty(event.event_id, event.case_id, event.source_unit,
                        event.violation_type_code, event.decision_date)


def test_earlier_penalties_of_other_units_are_counted_once_each() -> None:
    rule = load_conduct_criteria().repeat_rule("HEA-ILLEGAL-MEDICAL-PRACTICE")
    assert rule is not None and rule.within_years is None
    first = practice(MARKET, "卫罚〔2023〕1号", (2023, 3, 1))
    second = practice(TAX, "卫罚〔2024〕5号", (2024, 6, 1))
    third = practice(MARKET, "卫罚〔2025〕9号", (2025, 2, 1))
    history = [prior(first), prior(second), prior(third), prior(third)]  # a corrected copy
    assert count_prior_penalties(first, history, rule) == 0
    assert count_prior_penalties(second, history, rule) == 1
    assert count_prior_penalties(third, history, rule) == 2


def test_within_years_limits_the_count() -> None:
    rule = RepeatPenaltyRule(id="r", offence="illegal-medical-practice",
                             violation_types=("HEA-ILLEGAL-MEDICAL-PRACTICE",),
                             within_years=1, source="s")
    old = practice(MARKET, "卫罚〔2023〕1号", (2023, 3, 1))
    recent = practice(TAX, "卫罚〔2024〕5号", (2024, 6, 1))
    now = practice(MARKET, "卫罚〔2025〕9号", (2025, 2, 1))
    assert count_prior_penalties(now, [prior(old), prior(recent)], rule) == 1


def test_the_third_penalty_of_a_party_raises_the_lead(rules: ScreeningRules) -> None:
    first = practice(MARKET, "卫罚〔2023〕1号", (2023, 3, 1))
    second = practice(TAX, "卫罚〔2024〕5号", (2024, 6, 1))
    third = practice(MARKET, "卫罚〔2025〕9号", (2025, 2, 1))
    history = {"11010519491231002X": [prior(first), prior(second), prior(third)]}
    counts = prior_penalty_counts([third, second], history, rules)
    assert counts == {third.event_id: 2, second.event_id: 1}
    raised = screen_case([third], at(2025, 12, 31), rules=rules, hub_unit_code=HUB_UNIT,
                         prior_penalties=counts)
    (state,) = raised.alerts
    assert state.alert.kind is AlertKind.SUSPECTED_NON_REFERRAL
    assert state.alert.details["value.prior_penalties"] == "2"
    below = screen_case([second], at(2025, 12, 31), rules=rules, hub_unit_code=HUB_UNIT,
                        prior_penalties=counts)
    assert below.alerts == ()


def test_a_party_without_an_identifier_has_no_history(rules: ScreeningRules) -> None:
    anonymous = practice(MARKET, "卫罚〔2025〕9号", (2025, 2, 1)).model_copy(
        update={"parties": [party("王某", credit_code=None, category="NATURAL_PERSON")]})
    assert prior_penalty_counts([anonymous], {}, rules) == {}


def test_sole_traders_without_a_credit_code_are_known_by_their_operator(
        rules: ScreeningRules) -> None:
    """Every sole trader without a credit code files 00000000000000000X: as a key it
    made one party of every such clinic (the demo county's 12 false repeat offenders)."""
    def clinic(operator_id: str, number: str, decided: tuple[int, int, int]
               ) -> PenaltyCaseRecorded:
        trader = Party(name="某某诊所", category="SOLE_TRADER",  # type: ignore[arg-type]
                       credit_code=sole_trader_placeholder(),
                       legal_representative_id_number=operator_id)
        return practice(MARKET, number, decided).model_copy(update={"parties": [trader]})

    first = clinic("11010519491231002X", "卫罚〔2023〕1号", (2023, 3, 1))
    second = clinic("110105194912310037", "卫罚〔2024〕5号", (2024, 6, 1))
    third = clinic("110105194912310053", "卫罚〔2025〕9号", (2025, 2, 1))
    keys = [party_identifier(event) for event in (first, second, third)]
    assert keys == ["11010519491231002X", "110105194912310037", "110105194912310053"]
    history = {key: [prior(event)] for key, event in zip(keys, (first, second, third),
                                                         strict=True) if key}
    assert prior_penalty_counts([third], history, rules) == {third.event_id: 0}


def test_every_conduct_criterion_names_its_document() -> None:
    """Sources by issuer, title, number and date, never a file name; seasons that vary by
    water body are operator settings."""
    data = load_conduct_criteria()
    sourced = [*data.fishing.closed_areas, *data.fishing.closed_seasons,
               *data.fishing.criteria, *data.repeat_penalties]
    for entry in sourced:
        assert "《" in entry.source and "》" in entry.source, entry
        assert ".txt" not in entry.source and ".md" not in entry.source, entry
    assert "《" in data.fishing.banned_methods_source
    assert all(season.operator_set for season in data.fishing.closed_seasons)
    assert {m.name_zh for m in data.fishing.banned_methods} == {"电鱼", "毒鱼", "炸鱼", "禁用渔具"}


def test_the_view_explains_a_criterion_lead_in_one_language(rules: ScreeningRules) -> None:
    from hub.view.board import lead_explanation

    event = fishing("2025年4月12日夜，当事人在本县河道使用电鱼器具捕捞")
    (state,) = screen_case([event], at(2025, 12, 31), rules=rules,
                           hub_unit_code=HUB_UNIT).alerts
    zh = lead_explanation("SUSPECTED_NON_REFERRAL", dict(state.alert.details), "zh")
    assert zh is not None and zh.figures == ()
    assert zh.note.startswith("在禁渔期内使用禁用的工具或者禁用的方法捕捞：禁用方法或渔具 电鱼；")
    assert "行为日期 2025-04-12" in zh.note
    assert zh.rule.startswith("筛查规则：处罚案件的违法事实符合追诉标准列明的情形")
    assert "公通字〔2008〕36号" in zh.source
    en = lead_explanation("SUSPECTED_NON_REFERRAL", dict(state.alert.details), "en")
    assert en is not None and "banned method or gear 电鱼; " in en.note


def test_the_legal_library_lists_every_conduct_criterion_with_its_source() -> None:
    from hub.view.library import library_entries, search_library

    entries = library_entries("zh")
    found = search_library(entries, "电鱼")
    assert any(entry.ref == "fishing-methods" for entry in found)
    seasons = [entry for entry in entries if entry.ref.startswith("fishing-season-")]
    assert len(seasons) == len(load_conduct_criteria().fishing.closed_seasons)
    county = next(entry for entry in seasons if entry.ref == "fishing-season-county-waters")
    assert county.operator_set and "03-01至06-30" in county.rule
    assert "违法事实未载明水域时适用" in county.rule
    repeat = next(entry for entry in entries if entry.ref.startswith("repeat-"))
    assert repeat.title == "非法行医罪" and "不论作出处罚的单位" in repeat.rule
    assert "公通字〔2008〕36号" in repeat.source


def test_the_season_needs_a_stated_day_or_words_never_the_decision_date(
        rules: ScreeningRules) -> None:
    # decided in the county's season (05-20), the facts state no day: no season
    undated = assess_penalty(fishing("当事人使用电鱼器具捕捞", decided=(2025, 5, 20)), rules)
    assert undated.outcome == "early_intervention"
    assert undated.best is not None and undated.best.criterion_id == "banned-method"
    worded = assess_penalty(fishing("当事人在禁渔期内使用电鱼器具捕捞"), rules)
    assert worded.outcome == "suspected_non_referral"
    assert worded.best is not None
    assert worded.best.circumstances["closed_season"] == "违法事实载明在禁渔期内"
    assert "conduct_date" not in worded.best.circumstances


def test_the_violation_type_category_name_establishes_nothing(rules: ScreeningRules) -> None:
    """The code list's name of the type lists every circumstance; only facts count."""
    event = fishing("2025年10月8日，当事人未依法取得捕捞许可证擅自捕捞",
                    text="在内陆水域禁渔区、禁渔期或者使用禁用工具、方法捕捞")
    assert assess_penalty(event, rules).outcome == "below"
