"""The unit registry: lookups by code and by role within a jurisdiction, all problems at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hub.errors import ConfigError
from hub.units import UnitRegistry, division_chain, inbox_topic, load_unit_registry

DATA = Path(__file__).parent / "data"
UNITS_FILE = DATA / "units.yaml"

MARKET = "11420999MB00000114"
COUNTY_PSB = "11420999MB00000619"
FOREST_POLICE = "11420999MB000007X1"
ECONOMIC_CRIME_UNIT = "11420999MB00000881"
PROCURATORATE = "11420999MB0000096U"
CITY_PSB = "11420900MB0000141F"
CITY_FOOD_DRUG_ENV = "11420900MB000015X7"
CITY_PROCURATORATE = "11420900MB00001687"
BAISHUI_PSB = "11420998MB00001761"


@pytest.fixture(scope="module")
def registry() -> UnitRegistry:
    return load_unit_registry(UNITS_FILE)


def test_fixture_loads(registry: UnitRegistry) -> None:
    assert len(registry) == 18
    assert registry[MARKET].name == "青山县市场监督管理局"
    assert registry[MARKET].domains == ("market_regulation", "food_drug")
    assert registry[MARKET].inbox_topic == f"lf.inbox.{MARKET}"


@pytest.mark.parametrize("spelling", [MARKET, MARKET.lower(), f"  {MARKET} "])
def test_lookup_by_code_ignores_case_and_padding(registry: UnitRegistry, spelling: str) -> None:
    assert registry.get(spelling) is registry[MARKET]
    assert spelling in registry


def test_unknown_code(registry: UnitRegistry) -> None:
    assert registry.get("91110000600037341L") is None
    assert registry.get(None) is None
    assert "nope" not in registry
    with pytest.raises(KeyError, match="no unit"):
        registry["91110000600037341L"]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"kind": "police", "division": "420999"},
         [COUNTY_PSB, FOREST_POLICE, ECONOMIC_CRIME_UNIT]),
        ({"role": "county_psb"}, [COUNTY_PSB, BAISHUI_PSB]),
        ({"kind": "agency", "domain": "tobacco"}, ["11420999MB0000029X"]),
        ({"kind": "procuratorate"}, [PROCURATORATE, CITY_PROCURATORATE]),
        ({"kind": "court", "division": "420998"}, []),
    ],
)
def test_find(registry: UnitRegistry, criteria: dict, expected: list[str]) -> None:
    assert [unit.code for unit in registry.find(**criteria)] == expected


@pytest.mark.parametrize(
    ("role", "division", "expected"),
    [
        ("county_psb", "420999", COUNTY_PSB),
        ("county_psb", "420998", BAISHUI_PSB),
        ("forest_police", "420999", FOREST_POLICE),
        ("forest_police", "420998", None),  # a neighbour's forest police is not ours
        ("food_drug_environment_unit", "420999", CITY_FOOD_DRUG_ENV),  # city level serves
        ("city_procuratorate", "420998", CITY_PROCURATORATE),
        ("city_psb", "420900", CITY_PSB),
        ("supervision_commission", "420998", None),
    ],
)
def test_for_role_walks_up_the_divisions(registry: UnitRegistry, role: str, division: str,
                                         expected: str | None) -> None:
    unit = registry.for_role(role, division)
    assert (unit.code if unit else None) == expected


@pytest.mark.parametrize(
    ("roles", "division", "expected"),
    [
        (["forest_police", "county_psb"], "420999", FOREST_POLICE),
        (["forest_police", "county_psb"], "420998", BAISHUI_PSB),
        (["anti_smuggling_police", "county_psb"], "420999", COUNTY_PSB),
        (["anti_smuggling_police"], "420999", None),
    ],
)
def test_first_for_roles(registry: UnitRegistry, roles: list[str], division: str,
                         expected: str | None) -> None:
    unit = registry.first_for_roles(roles, division)
    assert (unit.code if unit else None) == expected


def test_children(registry: UnitRegistry) -> None:
    assert [u.code for u in registry.children(COUNTY_PSB)] == [FOREST_POLICE, ECONOMIC_CRIME_UNIT]
    assert registry.children(MARKET) == []


@pytest.mark.parametrize(
    ("division", "chain"),
    [
        ("420999", ("420999", "420900", "420000")),
        ("420900", ("420900", "420000")),
        ("420000", ("420000",)),
        ("110105", ("110105", "110100", "110000")),
    ],
)
def test_division_chain(division: str, chain: tuple[str, ...]) -> None:
    assert division_chain(division) == chain


def test_inbox_topic() -> None:
    assert inbox_topic(MARKET) == "lf.inbox.11420999MB00000114"


def _write(tmp_path: Path, units: list[dict]) -> Path:
    path = tmp_path / "units.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "units": units}, allow_unicode=True),
                    encoding="utf-8")
    return path


def _good(**changes: object) -> dict:
    unit = {
        "code": MARKET,
        "name": "青山县市场监督管理局",
        "name_en": "Qingshan County Market Regulation Bureau",
        "kind": "agency",
        "role": "enforcement_agency",
        "domains": ["market_regulation"],
        "division": "420999",
    }
    unit.update(changes)
    return {k: v for k, v in unit.items() if v is not None}


@pytest.mark.parametrize(
    ("unit", "problem"),
    [
        (_good(code="11420999MB00000115"),
         "units[0].code: check digit of '11420999MB00000115' is '5', GB 32100-2015 gives '4': "
         "a character of the code is probably mistyped"),
        (_good(code="11420999MB0000011"), "units[0].code: '11420999MB0000011' is not a "
         "统一社会信用代码 (18 characters of 0123456789ABCDEFGHJKLMNPQRTUWXY)"),
        (_good(division="42099"),
         "units[0].division: '42099' is not a 6-digit GB/T 2260 行政区划代码 (division code)"),
        (_good(role="chief"), "units[0].role: unknown role 'chief' (see unit_roles.yaml)"),
        (_good(role="county_psb"),
         "units[0].role: role 'county_psb' belongs to kind 'police', the unit is 'agency'"),
        (_good(domains=["fishing"]), "units[0].domains[0]: unknown enforcement domain 'fishing'"),
        (_good(domains=[]), "units[0].domains: an administrative agency needs its enforcement "
         "domains (screening and routing use them)"),
        (_good(kind="ministry"), "units[0].kind: Input should be 'agency', 'police', "
         "'procuratorate', 'court', 'supervision', 'justice' or 'political_legal'"),
        (_good(name_en=None), "units[0].name_en: Field required"),
        (_good(colour="blue"), "units[0].colour: Extra inputs are not permitted"),
        (_good(parent=MARKET), "units[0].parent: a unit cannot be its own parent"),
        (_good(parent=COUNTY_PSB), f"units[0].parent: {COUNTY_PSB} is not in the registry"),
    ],
)
def test_each_problem_names_its_yaml_path(tmp_path: Path, unit: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_unit_registry(_write(tmp_path, [unit]))
    assert caught.value.problems == [problem]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    units = [
        _good(),
        _good(name="重复"),
        _good(code="11420999MB00000115", role="chief"),
        {"code": COUNTY_PSB, "name": "公安局", "name_en": "PSB", "kind": "police",
         "role": "county_psb", "division": "ABCDEF", "parent": FOREST_POLICE},
    ]
    with pytest.raises(ConfigError) as caught:
        load_unit_registry(_write(tmp_path, units))
    assert caught.value.problems == [
        f"units[1].code: {MARKET} already listed at units[0]",
        "units[2].code: check digit of '11420999MB00000115' is '5', GB 32100-2015 gives '4': "
        "a character of the code is probably mistyped",
        "units[3].division: 'ABCDEF' is not a 6-digit GB/T 2260 行政区划代码 (division code)",
    ]
    assert "4 problem" not in str(caught.value)  # the message counts real problems only
    assert "3 problem(s)" in str(caught.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_unit_registry(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("units: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_unit_registry(bad)
    bad.write_text("units: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_unit_registry(bad)
    assert caught.value.problems == ["units: Input should be a valid list"]


def test_registry_refuses_duplicates_built_in_code(registry: UnitRegistry) -> None:
    unit = registry[MARKET]
    with pytest.raises(ValueError, match="twice"):
        UnitRegistry([unit, unit])
