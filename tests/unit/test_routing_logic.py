"""Routing: addressees confirmed by the registry, role rules, copies, explicit unroutable."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.models import AlertKind, AlertStatus, CaseEvent
from hub.rules import load_routing, load_thresholds
from hub.units import UnitRegistry, load_unit_registry
from streams._alerts import alert_id_for
from streams.routing_logic import UNROUTABLE_RULE_ID, Route, route_event, unroutable_alert
from tests.unit.data.case_events import (
    BAISHUI_MARKET,
    BAISHUI_PSB,
    CITY_FOOD_DRUG_ENV,
    CITY_PROCURATORATE,
    COUNTY_PSB,
    COURT,
    ECONOMIC_CRIME_UNIT,
    FOREST_POLICE,
    FORESTRY,
    HUB_UNIT,
    MARKET,
    PROCURATORATE,
    SUPERVISION,
    UNREGISTERED,
    arrest_requested,
    at,
    consultation,
    decided,
    invitation,
    lead,
    penalty,
    reasons_explained,
    referred,
    supervision_requested,
    transferred,
)

UNITS = Path(__file__).parent / "data" / "units.yaml"
T = at(2025, 3, 3, 10)
LOGGING = {"offence": "盗伐林木罪", "article": "345", "domain": "forestry"}
POLLUTION = {"offence": "污染环境罪", "article": "338", "domain": "environment"}


@pytest.fixture(scope="module")
def registry() -> UnitRegistry:
    return load_unit_registry(UNITS)


def route(event: CaseEvent, registry: UnitRegistry) -> Route:
    return route_event(event, registry, load_routing(), load_thresholds())


ROUTE_TABLE = [
    # id, event, addressees, copies, note fragment (or None), unroutable fragment (or None)
    ("economic referral to the county bureau: delivered, rule would pick the economic unit",
     referred(T, to=COUNTY_PSB), [COUNTY_PSB], [PROCURATORATE], "经济犯罪侦查大队", None),
    ("economic referral to the economic crime unit", referred(T, to=ECONOMIC_CRIME_UNIT),
     [ECONOMIC_CRIME_UNIT], [PROCURATORATE], None, None),
    ("forestry referral to the county bureau: forest police noted",
     referred(T, unit=FORESTRY, to=COUNTY_PSB, **LOGGING), [COUNTY_PSB], [PROCURATORATE],
     "森林警察大队", None),
    ("forestry referral to an unknown unit: routed to the forest police",
     referred(T, unit=FORESTRY, to=UNREGISTERED, **LOGGING), [FOREST_POLICE], [PROCURATORATE],
     "routed by rule forestry-to-forest-police", None),
    ("pollution referral to an unknown unit: the city's food-drug-environment detachment",
     referred(T, to=UNREGISTERED, **POLLUTION), [CITY_FOOD_DRUG_ENV], [PROCURATORATE],
     "routed by rule food-drug-environment-unit", None),
    ("neighbouring county without an economic unit: its county bureau; city procuratorate",
     referred(T, unit=BAISHUI_MARKET, to=UNREGISTERED, division="420998"), [BAISHUI_PSB],
     [CITY_PROCURATORATE], "routed by rule economic-to-economic-crime-unit", None),
    ("referral addressed to a court: the wrong kind, routed by rule",
     referred(T, to=COURT), [ECONOMIC_CRIME_UNIT], [PROCURATORATE], "is a court unit", None),
    ("referral from an unknown agency to an unknown unit, no division: unroutable",
     referred(T, unit=UNREGISTERED, to=UNREGISTERED, division=None, domain=None), [], [],
     None, "not in the unit registry"),
    ("lead to the supervision commission", lead(T, "SUPERVISION_COMMISSION", to=SUPERVISION),
     [SUPERVISION], [], None, None),
    ("lead to an unknown unit: the commission by rule",
     lead(T, "SUPERVISION_COMMISSION", to=UNREGISTERED), [SUPERVISION], [],
     "lead-to-supervision-commission", None),
    ("public-interest lead from an agency: the procuratorate by rule",
     lead(T, "PUBLIC_INTEREST_LITIGATION", to=UNREGISTERED, unit=MARKET), [PROCURATORATE], [],
     "lead-to-procuratorate-public-interest", None),
    ("consultation to the procuratorate", consultation(T, to=PROCURATORATE), [PROCURATORATE],
     [], None, None),
    ("consultation to an unknown unit: unroutable", consultation(T, to=UNREGISTERED), [], [],
     None, f"addressed_to_unit_code {UNREGISTERED} is not in the unit registry"),
    ("early intervention invitation to a court: unroutable", invitation(T, to=COURT), [], [],
     None, "is a court unit; EarlyInterventionInvited goes to police or procuratorate"),
    ("filing decision back to the referring agency, copy to the procuratorate",
     decided(T), [MARKET], [PROCURATORATE], None, None),
    ("supervision request to the procuratorate and the police unit",
     supervision_requested(T), [PROCURATORATE, COUNTY_PSB], [], None, None),
    ("penalty records go to no inbox", penalty(T), [], [], "not delivered to inboxes", None),
]


@pytest.mark.parametrize(
    ("case", "event", "addressees", "copies", "note", "unroutable"), ROUTE_TABLE,
    ids=[row[0] for row in ROUTE_TABLE],
)
def test_route(registry: UnitRegistry, case: str, event: CaseEvent, addressees: list[str],
               copies: list[str], note: str | None, unroutable: str | None) -> None:
    result = route(event, registry)
    assert list(result.addressees) == addressees, result
    assert list(result.copies) == copies, result
    if note is None:
        assert not any("would route" in n or "routed by rule" in n for n in result.notes)
    else:
        assert any(note in n for n in result.notes), result.notes
    if unroutable is None:
        assert result.unroutable is None
    else:
        assert result.unroutable is not None and unroutable in result.unroutable


def test_destinations_and_topics(registry: UnitRegistry) -> None:
    result = route(referred(T, to=COUNTY_PSB), registry)
    assert result.destinations == (COUNTY_PSB, PROCURATORATE)
    assert result.topics == (f"lf.inbox.{COUNTY_PSB}", f"lf.inbox.{PROCURATORATE}")
    assert result.rule_ids == ("economic-to-economic-crime-unit",
                               "referral-copy-to-procuratorate")


def test_the_procuratorate_gets_no_copy_of_its_own_event(registry: UnitRegistry) -> None:
    event = referred(T, unit=PROCURATORATE, to=COUNTY_PSB)
    assert route(event, registry).copies == ()


def test_unroutable_event_becomes_an_alert(registry: UnitRegistry) -> None:
    event = consultation(T, to=UNREGISTERED)
    result = route(event, registry)
    alert = unroutable_alert(result, event, hub_unit_code=HUB_UNIT, now=at(2025, 3, 3, 11))
    assert alert.status is AlertStatus.RAISED
    assert alert.kind is AlertKind.UNROUTABLE
    assert alert.responsible_unit_code == MARKET
    assert alert.alert_id == alert_id_for(event.case_id, UNROUTABLE_RULE_ID, event.event_id)
    assert UNREGISTERED in alert.message
    again = unroutable_alert(route(event, registry), event, hub_unit_code=HUB_UNIT,
                             now=at(2025, 3, 4))
    assert again.event_id == alert.event_id


def test_a_routable_event_has_no_unroutable_alert(registry: UnitRegistry) -> None:
    event = consultation(T, to=PROCURATORATE)
    with pytest.raises(ValueError, match="nothing to alert"):
        unroutable_alert(route(event, registry), event, hub_unit_code=HUB_UNIT, now=T)


@pytest.mark.parametrize("event", [arrest_requested(T), transferred(T), reasons_explained(T)],
                         ids=["arrest requested", "transferred for prosecution",
                              "non-filing reasons explained"])
def test_police_steps_reach_the_procuratorate_they_address(registry: UnitRegistry,
                                                           event: CaseEvent) -> None:
    """提请批准逮捕 / 移送审查起诉 / 说明不立案理由 go to the procuratorate's inbox."""
    result = route(event, registry)
    assert result.addressees == (PROCURATORATE,), result
    assert result.unroutable is None


@pytest.mark.parametrize("event", [arrest_requested(T), transferred(T), reasons_explained(T)],
                         ids=["arrest requested", "transferred for prosecution",
                              "non-filing reasons explained"])
def test_police_steps_naming_no_procuratorate_reach_the_same_level_one(
        registry: UnitRegistry, event: CaseEvent) -> None:
    """Police feeds rarely name the procuratorate: the jurisdiction's one by role."""
    anonymous = event.model_copy(update={"procuratorate_unit_code": None})
    result = route(anonymous, registry)
    assert result.addressees == (PROCURATORATE,), result
    assert result.unroutable is None
    assert any("jurisdiction" in note for note in result.notes)
