"""The shipped rule data: valid, consistent across files, true to DOMAIN.md, all sourced."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from hub.errors import ConfigError
from hub.models import EVENT_TYPES, AlertKind
from hub.paths import rules_dir
from hub.rules import (
    RULES_DIR_ENV,
    classify_violation,
    clear_rule_caches,
    cross_file_problems,
    load_deadlines,
    load_matching,
    load_routing,
    load_rule_set,
    load_screening,
    load_thresholds,
    load_unit_roles,
    load_violation_offences,
    load_violation_types,
)
from hub.rules._loader import registered_rule_files
from hub.rules.assessment import load_assessment

RULE_FILES = sorted(p.name for p in rules_dir().glob("*.yaml"))

# Where the rules are in each file: (collection path, …). A file-level source covers a
# code list whose entries are definitions rather than rules.
RULE_COLLECTIONS: dict[str, list[str]] = {
    "deadlines.yaml": ["rules"],
    "thresholds.yaml": ["offences"],
    "violation_offences.yaml": ["mappings"],
    "routing.yaml": ["referral_routes", "copies", "lead_routes", "addressed_events"],
    "calendar_overrides.yaml": ["dates", "complete_years"],
    "violation_types.yaml": [],
    "unit_roles.yaml": [],
    "screening.yaml": [],
    "matching.yaml": [],
    "masking.yaml": [],
    "entitlements.yaml": [],
    "missing_entry.yaml": [],  # one source per section: tests/unit/test_missing_entry_logic.py
    "conduct_criteria.yaml": [],  # nested sources: tests/unit/test_screening_conduct.py
    "assessment.yaml": ["indicators", "vetoes"],  # and recheck: tests/unit/test_view_assessment.py
}
FILE_LEVEL_SOURCE = {"violation_types.yaml", "unit_roles.yaml", "screening.yaml",
                     "matching.yaml", "masking.yaml", "entitlements.yaml"}


def _raw(name: str) -> dict:
    return yaml.safe_load((rules_dir() / name).read_text(encoding="utf-8"))


def test_every_rule_file_is_accounted_for() -> None:
    assert sorted(RULE_COLLECTIONS) == RULE_FILES


@pytest.mark.parametrize("name", RULE_FILES)
def test_every_rule_names_a_source(name: str) -> None:
    data = _raw(name)
    if name in FILE_LEVEL_SOURCE:
        assert isinstance(data.get("source"), str) and data["source"].strip(), name
        assert isinstance(data.get("verified"), bool), name
    for collection in RULE_COLLECTIONS[name]:
        for index, entry in enumerate(data.get(collection) or []):
            where = f"{name}: {collection}[{index}]"
            assert isinstance(entry.get("source"), str), f"{where} has no source"
            assert entry["source"].strip(), f"{where} has an empty source"
            assert isinstance(entry.get("verified", True), bool), where


#: A filing-standards shorthand the data files once cited instead of the document:
#: "(一) Art. 16", "(二)2010 Art. 79", "(二) (article number not established)". The
#: parts' markers are part of a title only right after 规定 (…的规定（一）》).
_ABBREVIATED = re.compile(r"(?<!规定)[(（][一二][)）]")
#: Who issues the documents a threshold rests on.
_ISSUER = re.compile(r"(最高人民法院|最高人民检察院|公安部|国务院|全国人民代表大会)[^《]{0,30}《")


def _sources(node: object) -> list[str]:
    """Every ``source`` string anywhere in a rule file's data."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k.endswith("source") and isinstance(v, str)]
        return found + [s for v in node.values() for s in _sources(v)]
    if isinstance(node, list):
        return [s for v in node for s in _sources(v)]
    return []


def _names_its_document(source: str) -> list[str]:
    """What keeps a threshold's source from being a citation a reader can look up."""
    problems = []
    if _ABBREVIATED.search(source):
        problems.append("abbreviated filing standards")
    if not _ISSUER.search(source) or "》" not in source:
        problems.append("no issuer and 《title》")
    if not re.search(r"第\d+条", source) and "条号未核" not in source:
        problems.append("no article (第N条), nor 条号未核")
    if not re.search(r"\d{4}", source) and "经修正" not in source and "日期" not in source:
        problems.append("no date or year, nor a note that it is not known")
    return problems


@pytest.mark.parametrize("source", [
    "(二)2010 Art. 79", "(一) Art. 16", "(二) (article number not established)",
    "最高人民检察院、公安部《关于公安机关管辖的刑事案件立案追诉标准的规定（一）》第16条",
])
def test_the_citation_check_refuses_shorthand(source: str) -> None:
    assert _names_its_document(source)


@pytest.mark.parametrize("name", RULE_FILES)
def test_no_rule_cites_the_filing_standards_by_shorthand(name: str) -> None:
    for source in _sources(_raw(name)):
        assert not _ABBREVIATED.search(source), (name, source)


def test_every_threshold_cites_issuer_title_date_and_article() -> None:
    """The threshold's source goes into every lead (legal_source, threshold_source)."""
    for offence in load_thresholds().offences:
        assert _names_its_document(offence.source) == [], (offence.id, offence.source)


def test_the_filing_standards_part_one_is_cited_as_domain_and_conduct_criteria_do() -> None:
    fake = load_thresholds().offence("fake-inferior-products")
    assert fake.source == ("最高人民检察院、公安部《关于公安机关管辖的刑事案件立案追诉标准的规定"
                           "（一）》（公通字〔2008〕36号，2008-06-25）第16条")
    tax = load_thresholds().offence("tax-evasion")
    # DOMAIN.md gives part two's 2022 revision no number: none is invented
    assert "2022年修订；文号不详" in tax.source and "第52条" in tax.source


def test_every_mapped_offence_can_be_measured_by_a_figure_the_mapping_feeds() -> None:
    """A mapping whose fields feed none of an offence's bases hides that offence: fake
    cigarettes' gains once reached neither the trademark nor the tobacco threshold."""
    thresholds, screening = load_thresholds(), load_screening()
    for mapping in load_violation_offences().mappings:
        if mapping.qualifying:
            continue
        fed = {b for bases in mapping.amount_bases(screening.default_amounts).values()
               for b in bases} | {q.basis for q in mapping.quantities}
        for offence_id in mapping.offences:
            offence = thresholds.offence(offence_id)
            money = {c.basis for a in offence.alternatives for c in a.all_of
                     if thresholds.basis(c.basis).kind == "money"}
            if offence.per_se or not offence.alternatives:
                continue
            assert any(c.basis in fed for a in offence.alternatives for c in a.all_of), (
                mapping.violation_type, offence_id)
            # every amount basis the turnover or gains could mean is fed (loss is no field)
            for basis in money & {"turnover", "illegal_gains", "sales_amount", "goods_value"}:
                assert basis in fed, (mapping.violation_type, offence_id, basis)


def test_every_rule_file_loads_and_the_files_agree() -> None:
    rules = load_rule_set()
    assert load_assessment().recheck.source.strip()
    assert cross_file_problems(rules) == []
    assert {f.file_name for f in registered_rule_files()} == set(RULE_FILES) - {
        "calendar_overrides.yaml"
    }


# --- deadlines --------------------------------------------------------------------------

DEADLINE_TABLE = [
    # rule id, alert kind, amount, unit, evaluation, verified
    ("entry-late", "LATE_ENTRY", 3, "working_days", "same_event_lag", True),
    ("entry-late-judgment", "LATE_ENTRY", 3, "working_days", "same_event_lag", True),
    ("referral-approval-decision", "REFERRAL_DECISION_OVERDUE", 3, "days", "deadline", True),
    ("referral-delivery", "REFERRAL_DELIVERY_OVERDUE", 24, "hours", "same_event_lag", True),
    ("receipt-missing", "ACKNOWLEDGEMENT_OVERDUE", 24, "hours", "deadline", True),
    ("forward-late", "FORWARD_OVERDUE", 24, "hours", "window", True),
    ("filing-decision-overdue", "FILING_DECISION_OVERDUE", 3, "days", "deadline", True),
    ("filing-decision-overdue-economic", "FILING_DECISION_OVERDUE", 3, "days", "deadline",
     True),
    ("reconsideration-request-window", "RECONSIDERATION_REQUEST_OVERDUE", 3, "days", "window",
     True),
    ("reconsideration-decision-overdue", "RECONSIDERATION_DECISION_OVERDUE", 3, "days",
     "deadline", True),
    ("supervision-request-window", "SUPERVISION_REQUEST_OVERDUE", 3, "days", "window",
     True),
    ("non-filing-reasons-overdue", "NON_FILING_REASONS_OVERDUE", 7, "days", "deadline", True),
    ("ordered-filing-overdue", "ORDERED_FILING_OVERDUE", 15, "days", "deadline", True),
    ("handover-overdue", "HANDOVER_OVERDUE", 3, "days", "deadline", True),
    ("consultation-unanswered", "CONSULTATION_OVERDUE", 3, "working_days", "deadline", True),
    ("early-intervention-unattended", "EARLY_INTERVENTION_OVERDUE", 3, "days", "deadline",
     True),
    ("referral-not-filed-6-months", "REFERRAL_NOT_FILED_LONG", 6, "months", "deadline", True),
    ("filed-case-not-concluded-1-year", "FILED_NOT_CONCLUDED", 12, "months", "deadline", True),
    ("recommendation-unanswered", "REPLY_OVERDUE", 2, "months", "deadline", False),
    ("judicial-recommendation-unanswered", "REPLY_OVERDUE", 2, "months", "deadline", False),
    ("urge-prosecution-unanswered", "REPLY_OVERDUE", 2, "months", "deadline", False),
    ("correction-notice-unanswered", "REPLY_OVERDUE", 15, "days", "deadline", False),
    ("lead-feedback-overdue", "REPLY_OVERDUE", 1, "months", "deadline", False),
    ("suggested-referral-not-acted-on", "REPLY_OVERDUE", 3, "days", "deadline", False),
    ("penalty-not-enforced", "ENFORCEMENT_OVERDUE", 6, "months", "deadline", False),
    ("raised-judicial-recommendation-unanswered", "REPLY_OVERDUE", 2, "months", "deadline",
     False),
]


def test_deadline_table_is_complete() -> None:
    assert {row[0] for row in DEADLINE_TABLE} == {r.id for r in load_deadlines().rules}


@pytest.mark.parametrize(
    ("rule_id", "kind", "amount", "unit", "evaluation", "verified"), DEADLINE_TABLE
)
def test_deadline_rule(rule_id: str, kind: str, amount: int, unit: str, evaluation: str,
                       verified: bool) -> None:
    rule = load_deadlines().by_id(rule_id)
    assert rule.alert_kind == kind
    assert AlertKind[rule.alert_kind].value == kind
    assert (rule.clock.amount, rule.clock.unit) == (amount, unit)
    assert rule.evaluation == evaluation
    assert rule.verified is verified


def test_entry_timeliness_covers_every_source_event_type() -> None:
    derived = {"Alert", "CaseState", "UnitMonthlyStats", "FeedbackMatched",
               "FeedbackMatchWithdrawn", "FeedbackUnmatched", "ViewAction", "AuditRecorded",
               "DeliveryAcknowledged",  # a sink's machine receipt: no entry delay
               # an open-case register (立案登记) is re-read as the amounts found grow, and
               # item 8's 3-working-day duty is about decisions: no entry clock
               "AgencyCaseOpened"}
    sources = {name.rsplit(".", 1)[1] for name in EVENT_TYPES} - derived
    deadlines = load_deadlines()
    timed = {m.event_type for m in deadlines.by_id("entry-late").starts_on}
    judgment = {m.event_type for m in deadlines.by_id("entry-late-judgment").starts_on}
    # a judgment is entered by the procuratorate (兴庆区 item 8), not the court
    assert judgment == {"CourtJudgment"} and not timed & judgment
    assert timed | judgment == sources
    assert deadlines.by_id("entry-late-judgment").responsible.party == "procuratorate"


def test_police_explanation_not_an_agency_reply_stops_the_non_filing_reasons_clock() -> None:
    rule = load_deadlines().by_id("non-filing-reasons-overdue")
    assert [m.event_type for m in rule.stops_on] == ["NonFilingReasonsExplained",
                                                      "FilingDecided"]
    assert [(c.start, c.stop) for c in rule.correlate] == [
        ("document_number", "in_reply_to_document_number")]


def test_economic_filing_clock_escalates_to_10_30_and_60_days() -> None:
    rule = load_deadlines().by_id("filing-decision-overdue-economic")
    assert [(e.after.amount, e.after.unit) for e in rule.escalations] == [
        (10, "days"), (30, "days"), (60, "days")
    ]
    assert rule.applies_to_category("economic")
    assert not rule.applies_to_category("forestry_wildlife")
    general = load_deadlines().by_id("filing-decision-overdue")
    assert general.applies_to_category("forestry_wildlife")
    assert general.applies_to_category(None)
    assert not general.applies_to_category("economic")


def test_unmonitored_rules_say_why() -> None:
    for rule in load_deadlines().rules:
        if not rule.monitored:
            assert rule.notes.strip(), rule.id
    assert [r.id for r in load_deadlines().rules if not r.monitored] == [
        "referral-approval-decision"
    ]


# --- thresholds -------------------------------------------------------------------------

YUAN = 100  # fen per yuan

THRESHOLD_TABLE = [
    # offence, article, alternative, basis, minimum (fen, or quantity/ratio as Decimal)
    ("fake-inferior-products", "140", "sales", "sales_amount", 50_000 * YUAN),
    ("fake-inferior-products", "140", "unsold-goods", "goods_value", 150_000 * YUAN),
    ("illegal-business", "225", "individual-turnover", "turnover", 50_000 * YUAN),
    ("illegal-business", "225", "individual-gains", "illegal_gains", 10_000 * YUAN),
    ("illegal-business", "225", "unit-turnover", "turnover", 500_000 * YUAN),
    ("illegal-business", "225", "unit-gains", "illegal_gains", 100_000 * YUAN),
    ("illegal-business-tobacco", "225", "turnover", "turnover", 50_000 * YUAN),
    ("illegal-business-tobacco", "225", "gains", "illegal_gains", 20_000 * YUAN),
    ("illegal-business-tobacco", "225", "cigarettes", "cigarettes", Decimal(200_000)),
    ("tax-evasion", "201", "amount-and-share", "evaded_tax", 100_000 * YUAN),
    ("tax-evasion", "201", "amount-and-share", "evaded_tax_share", Decimal("0.10")),
    ("tax-arrears-evasion", "203", "amount", "tax_arrears_evaded", 10_000 * YUAN),
    ("false-vat-invoices", "205", "invoice-tax", "invoice_tax", 100_000 * YUAN),
    ("false-vat-invoices", "205", "loss", "loss", 50_000 * YUAN),
    ("smuggling-ordinary-goods", "153", "duty", "evaded_duty", 100_000 * YUAN),
    ("contract-fraud", "224", "amount", "fraud_amount", 20_000 * YUAN),
    ("illegal-deposit-taking", "176", "deposits", "deposits_amount", 1_000_000 * YUAN),
    ("illegal-deposit-taking", "176", "depositors", "depositors", Decimal(150)),
    ("illegal-deposit-taking", "176", "loss", "loss", 500_000 * YUAN),
    ("counterfeit-trademark", "213", "turnover", "turnover", 50_000 * YUAN),
    ("counterfeit-trademark", "213", "gains", "illegal_gains", 30_000 * YUAN),
    ("environmental-pollution", "338", "hazardous-waste", "hazardous_waste", Decimal(3)),
    ("environmental-pollution", "338", "heavy-metals", "heavy_metal_multiple", Decimal(3)),
    ("environmental-pollution", "338", "loss", "loss", 300_000 * YUAN),
    ("illegal-mining", "343", "value", "mineral_value", 100_000 * YUAN),
    ("illegal-occupation-of-farmland", "342", "basic-farmland", "land_area", Decimal(5)),
    ("illegal-occupation-of-farmland", "342", "other-farmland", "land_area", Decimal(10)),
    ("illegal-occupation-of-farmland", "342", "protected-forest-land", "land_area", Decimal(5)),
    ("illegal-occupation-of-farmland", "342", "other-forest-land", "land_area", Decimal(10)),
    ("illegal-logging-theft", "345", "volume", "timber_volume", Decimal(2)),
    ("illegal-logging-excessive", "345", "volume", "timber_volume", Decimal(10)),
    ("illegal-fishing", "340", "inland-weight", "catch_weight", Decimal(500)),
    ("illegal-fishing", "340", "inland-value", "catch_value", 5_000 * YUAN),
    ("illegal-fishing", "340", "sea-weight", "catch_weight", Decimal(2000)),
    ("illegal-fishing", "340", "sea-value", "catch_value", 20_000 * YUAN),
    ("major-liability-accident", "134", "death", "deaths", Decimal(1)),
    ("major-liability-accident", "134", "serious-injuries", "serious_injuries", Decimal(3)),
    ("major-liability-accident", "134", "loss", "loss", 1_000_000 * YUAN),
    ("illegal-medical-practice", "336", "repeat-after-two-penalties", "prior_penalties",
     Decimal(2)),
    ("refusing-to-pay-wages", "276-1", "one-worker", "unpaid_wages", 5_000 * YUAN),
]


@pytest.mark.parametrize(("offence_id", "article", "alternative", "basis", "minimum"),
                         THRESHOLD_TABLE)
def test_threshold(offence_id: str, article: str, alternative: str, basis: str,
                   minimum: int | Decimal) -> None:
    offence = load_thresholds().offence(offence_id)
    assert offence.article == article
    alt = next(a for a in offence.alternatives if a.id == alternative)
    condition = next(c for c in alt.all_of if c.basis == basis)
    if isinstance(minimum, int):
        assert condition.min_fen == minimum
    else:
        assert condition.minimum == minimum


def test_every_measurable_alternative_is_in_the_table() -> None:
    listed = {(row[0], row[2], row[3]) for row in THRESHOLD_TABLE}
    shipped = {
        (o.id, a.id, c.basis)
        for o in load_thresholds().offences
        for a in o.alternatives
        for c in a.all_of
    }
    assert listed == shipped


@pytest.mark.parametrize(
    ("offence_id", "threshold_type"),
    [("fake-drugs", "per_se"), ("unsafe-food", "qualitative"),
     ("environmental-pollution", "amount")],
)
def test_threshold_types(offence_id: str, threshold_type: str) -> None:
    assert load_thresholds().offence(offence_id).threshold_type == threshold_type


@pytest.mark.parametrize(
    ("offence_id", "low", "high"),
    [
        ("illegal-mining", 100_000 * YUAN, 300_000 * YUAN),
        ("refusing-to-pay-wages", 5_000 * YUAN, 20_000 * YUAN),
        ("illegal-logging-theft", Decimal(2), Decimal(5)),
        ("illegal-logging-excessive", Decimal(10), Decimal(20)),
    ],
)
def test_province_set_ranges_default_to_the_lower_bound(offence_id: str, low: object,
                                                        high: object) -> None:
    condition = load_thresholds().offence(offence_id).alternatives[0].all_of[0]
    assert condition.province_set
    assert (condition.range_fen or condition.range_quantity) == (low, high)
    assert condition.minimum == Decimal(low)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "offence_id",
    ["illegal-deposit-taking", "illegal-logging-theft", "illegal-logging-excessive",
     "contract-fraud"],
)
def test_unverified_thresholds_are_marked(offence_id: str) -> None:
    assert load_thresholds().offence(offence_id).verified is False


@pytest.mark.parametrize(
    ("article", "name", "expected"),
    [
        ("225", "非法经营罪", ("illegal-business",)),
        ("225", None, ("illegal-business", "illegal-business-tobacco")),
        (None, "生产、销售伪劣产品罪", ("fake-inferior-products",)),
        ("第201条", None, ("tax-evasion",)),
        (None, "逃税", ("tax-evasion",)),
        ("999", None, ()),
        (None, None, ()),
    ],
)
def test_find_offences(article: str | None, name: str | None, expected: tuple[str, ...]) -> None:
    assert tuple(o.id for o in load_thresholds().find_offences(article, name)) == expected


def test_category_of_referral() -> None:
    table = load_thresholds()
    assert table.category_of("225", None) == "economic"
    assert table.category_of("345", "盗伐林木罪") == "forestry_wildlife"
    assert table.category_of("999", None) is None


# --- violation types and offences -------------------------------------------------------

VIOLATION_TABLE = [
    # code, domain, offences
    ("MR-FAKE-PRODUCT", "market_regulation", ("fake-inferior-products",)),
    ("MR-FOOD-LABEL", "market_regulation", ()),
    ("TOB-ILLEGAL-BUSINESS", "tobacco", ("illegal-business-tobacco",)),
    ("TAX-EVASION", "tax", ("tax-evasion",)),
    ("ENV-HAZARDOUS-WASTE", "environment", ("environmental-pollution",)),
    ("FOR-THEFT-LOGGING", "forestry", ("illegal-logging-theft",)),
    ("NR-ILLEGAL-MINING", "natural_resources", ("illegal-mining",)),
    ("AGR-ILLEGAL-FISHING-INLAND", "agriculture", ("illegal-fishing",)),
    ("SAF-LIABILITY-ACCIDENT", "emergency_safety", ("major-liability-accident",)),
    ("HEA-ILLEGAL-MEDICAL-PRACTICE", "health", ("illegal-medical-practice",)),
    ("HR-WAGE-ARREARS", "human_resources", ("refusing-to-pay-wages",)),
    ("FD-FAKE-DRUG", "food_drug", ("fake-drugs",)),
]


@pytest.mark.parametrize(("code", "domain", "offences"), VIOLATION_TABLE)
def test_violation_type_mapping(code: str, domain: str, offences: tuple[str, ...]) -> None:
    entry = load_violation_types().get(code)
    assert entry is not None and entry.domain == domain and entry.name_zh
    mapping = load_violation_offences().for_code(code)
    assert mapping is not None
    assert mapping.offences == offences


def test_every_code_is_mapped() -> None:
    codes = load_violation_types().codes()
    mapped = {m.violation_type for m in load_violation_offences().mappings}
    assert codes == mapped


@pytest.mark.parametrize(
    ("text", "domain", "expected"),
    [
        ("销售假冒注册商标的商品", None, "MR-COUNTERFEIT-TRADEMARK"),
        ("无烟草专卖零售许可证经营烟草制品", "tobacco", "TOB-UNLICENSED-RETAIL"),
        ("非法占用永久基本农田建房", None, "NR-OCCUPY-BASIC-FARMLAND"),
        ("非法占用耕地建房", None, "NR-OCCUPY-FARMLAND"),
        ("超标排放含重金属废水", "environment", "ENV-EXCESS-HEAVY-METALS"),
        ("超标排放化学需氧量", "environment", None),
        ("禁渔期电鱼", None, "AGR-ILLEGAL-FISHING-INLAND"),
        ("乱停车", None, None),
        ("偷税", "environment", None),
    ],
)
def test_classify_violation(text: str, domain: str | None, expected: str | None) -> None:
    found = classify_violation(text, load_violation_types(), domain)
    assert (found.code if found else None) == expected


# --- routing, roles, screening, matching ------------------------------------------------


def test_routing_picks_roles_by_domain_and_category() -> None:
    routing = load_routing()
    assert routing.referral_route("forestry", None).police_roles[0] == "forest_police"
    assert routing.referral_route(None, "forestry_wildlife").police_roles[0] == "forest_police"
    assert routing.referral_route("tax", None).police_roles[0] == "economic_crime_unit"
    assert routing.referral_route(None, "economic").police_roles[0] == "economic_crime_unit"
    assert routing.referral_route("market_regulation", None).police_roles == (
        "county_psb", "city_psb"
    )
    assert routing.lead_route("SUPERVISION_COMMISSION").roles == ("supervision_commission",)  # type: ignore[union-attr]


def test_roles_have_one_kind_each() -> None:
    roles = load_unit_roles()
    assert roles.get("forest_police").kind == "police"  # type: ignore[union-attr]
    assert roles.get("county_procuratorate").kind == "procuratorate"  # type: ignore[union-attr]
    assert roles.get("nobody") is None


def test_screening_parameters() -> None:
    screening = load_screening()
    assert screening.early_intervention_ratio == Decimal("0.8")
    assert screening.lead_ratio == Decimal("1.0")
    assert screening.convert(Decimal(3000), "千克", "t") == Decimal(3)
    assert screening.convert(Decimal(2), "公顷", "mu") == Decimal(30)
    assert screening.convert(Decimal(5), "条", "stick") == Decimal(1000)
    assert screening.convert(Decimal(5), "t", "t") == Decimal(5)
    assert screening.convert(Decimal(5), "bottles", "t") is None


def test_matching_parameters() -> None:
    matching = load_matching()
    assert matching.scores.referral_number == Decimal(1)
    bonus = matching.party_identifier_bonus
    best_shared = matching.scores.party_identifier + bonus.same_referring_unit + bonus.same_offence
    # an identifier match is automatic only as the party's sole referral in the window
    assert best_shared < matching.confident_threshold
    assert min(best_shared + bonus.sole_candidate, bonus.identifier_max) >= (
        matching.confident_threshold)


# --- operators' replacement files -------------------------------------------------------


def test_rules_dir_env_replaces_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (rules_dir() / "screening.yaml").read_text(encoding="utf-8")
    (tmp_path / "screening.yaml").write_text(
        text.replace("no_referral_window_days: 15", "no_referral_window_days: 30"),
        encoding="utf-8",
    )
    monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path))
    assert load_screening().no_referral_window_days == 30
    # Files the directory lacks still come from the package.
    assert load_deadlines().by_id("entry-late").clock.amount == 3
    monkeypatch.delenv(RULES_DIR_ENV)
    assert load_screening().no_referral_window_days == 15


def test_load_rule_set_from_a_partial_directory(tmp_path: Path) -> None:
    text = (rules_dir() / "routing.yaml").read_text(encoding="utf-8")
    (tmp_path / "routing.yaml").write_text(
        text.replace("police_roles: [forest_police, county_psb]",
                     "police_roles: [forest_police, county_jail]"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_rule_set(tmp_path)
    problems = caught.value.problems
    assert "routing.yaml: referral_routes[0].police_roles: unknown role 'county_jail'" in problems
    assert "routing.yaml: role 'county_jail' is not in unit_roles.yaml" in problems


def test_a_broken_deadline_file_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "deadlines.yaml"
    path.write_text(
        """
version: 1
rules:
  - id: a
    alert_kind: NOT_A_KIND
    title_zh: 甲
    title_en: A
    evaluation: deadline
    starts_on: [{event_type: CaseReferd}]
    stops_on: [{event_type: FilingDecided, where: {verdict: [FILED]}}]
    clock: {amount: 3, unit: days}
    responsible: {party: start_event_field, unit_kind: police}
    severity: WARNING
    source: x
  - id: a
    alert_kind: LATE_ENTRY
    title_zh: 乙
    title_en: B
    evaluation: deadline
    starts_on: [{event_type: CaseReferred}]
    stops_on: [{event_type: FilingDecided}]
    clock: {amount: 3, unit: days}
    responsible: {party: start_event_source}
    severity: WARNING
    source: x
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_deadlines(path)
    assert caught.value.problems == [
        "rules[0].alert_kind: 'NOT_A_KIND' is not a hub.models.AlertKind",
        "rules[0].starts_on[0].event_type: no event type 'CaseReferd' in hub.models",
        "rules[0].stops_on[0].where.verdict: FilingDecided has no field 'verdict'",
        "rules[0].responsible.field: required for start_event_field",
        "rules[1].id: 'a' already used by rules[0]",
    ]


def test_a_broken_thresholds_file_names_paths(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text(
        """
version: 1
categories: [{id: economic, name_zh: 经济, name_en: Economic}]
bases:
  - {id: turnover, kind: money, name_zh: 经营额, name_en: Turnover}
offences:
  - id: x
    article: "1"
    name_zh: 甲罪
    name_en: X
    category: economy
    alternatives:
      - id: a
        all_of: [{basis: turnover, min_quantity: "3"}, {basis: weight, min_fen: 1}]
      - id: b
        all_of: [{basis: turnover, min_fen: 1, min_ratio: "0.1"}]
    source: x
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_thresholds(path)
    assert caught.value.problems == [
        "offences[0].alternatives[1].all_of[0]: give exactly one of min_fen, "
        "min_quantity, min_ratio (got min_fen, min_ratio)"
    ]
    path.write_text(path.read_text(encoding="utf-8").replace(
        '{basis: turnover, min_fen: 1, min_ratio: "0.1"}', "{basis: turnover, min_fen: 1}"),
        encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_thresholds(path)
    assert caught.value.problems == [
        "offences[0].category: unknown category 'economy'",
        "offences[0].alternatives[0].all_of[0]: basis 'turnover' is money but the condition "
        "gives a quantity minimum",
        "offences[0].alternatives[0].all_of[1].basis: unknown basis 'weight'",
    ]


def test_loaders_cache_per_path_until_cleared(tmp_path: Path) -> None:
    path = tmp_path / "screening.yaml"
    path.write_text((rules_dir() / "screening.yaml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    first = load_screening(path)
    assert load_screening(path) is first
    path.write_text(path.read_text(encoding="utf-8").replace(
        "no_referral_window_days: 15", "no_referral_window_days: 20"), encoding="utf-8")
    assert load_screening(path).no_referral_window_days == 15
    clear_rule_caches()
    assert load_screening(path).no_referral_window_days == 20
