"""撤案 (issue #13, item 5): the police cancel a filed case — FilingDecided CANCELLED from
the police's system, routed back to the referring agency with the procuratorate's copy,
stopping the filed-not-concluded clock, closing the case on its timeline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hub.calendar import WorkingDayCalendar
from hub.models import CaseEvent, CaseStage, FilingDecided, FilingDecision
from hub.rules import load_deadlines, load_routing, load_thresholds, load_violation_offences
from hub.serde import LocalSerde
from hub.units import load_unit_registry
from streams.aggregate_logic import fold
from streams.case_event_meaning import summarise
from streams.deadline_logic import CaseDeadlines, evaluate_case
from streams.routing_logic import route_event
from tests.unit.data.case_events import (
    COUNTY_PSB,
    HUB_UNIT,
    MARKET,
    PROCURATORATE,
    at,
    decided,
    received,
    referred,
)

RULE = "filed-case-not-concluded-1-year"
UNITS = Path(__file__).parent / "data" / "units.yaml"


def evaluate(events: list[CaseEvent], now: datetime) -> CaseDeadlines:
    return evaluate_case(events, now, rules=load_deadlines(), thresholds=load_thresholds(),
                         violation_offences=load_violation_offences(),
                         hub_unit_code=HUB_UNIT, calendar=WorkingDayCalendar())


def raised(result: CaseDeadlines) -> set[str]:
    return {s.alert.rule_id for s in result.alerts if not s.undoes_early_sweep}


LIFE = [referred(at(2025, 1, 6, 9)), received(at(2025, 1, 7, 9)), decided(at(2025, 1, 9, 9))]


def test_a_cancellation_stops_the_filed_not_concluded_clock() -> None:
    assert RULE in raised(evaluate(LIFE, at(2026, 2, 1)))
    cancelled = decided(at(2025, 6, 1, 9), "CANCELLED")
    result = evaluate([*LIFE, cancelled], at(2026, 2, 1))
    assert RULE not in raised(result)
    assert not [c for c in result.open_clocks if c.rule_id == RULE]


def test_a_cancellation_closes_the_case_and_says_so_on_the_timeline() -> None:
    cancelled = decided(at(2025, 6, 1, 9), "CANCELLED")
    assert fold(LIFE).stage is CaseStage.FILED
    assert fold([*LIFE, cancelled]).stage is CaseStage.CLOSED
    assert summarise(cancelled) == "撤案 filed case cancelled 青公刑立〔2025〕9号"


def test_the_cancellation_reaches_the_agency_and_the_procuratorate() -> None:
    result = route_event(decided(at(2025, 6, 1, 9), "CANCELLED"), load_unit_registry(UNITS),
                         load_routing(), load_thresholds())
    assert (result.addressees, result.copies) == ((MARKET,), (PROCURATORATE,))


def test_the_police_feedback_preset_maps_a_cancellation() -> None:
    from connectors.config import parse_config
    from connectors.mapping import build_mapper

    config = parse_config({"id": "police", "unit": COUNTY_PSB, "kind": "http",
                           "source": {"url": "http://127.0.0.1:9/feedback"},
                           "preset": "police-feedback"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    for code in ("撤案", "CANCELLED"):
        row = {"record_id": f"r-{code}", "record_type": "filing_decision", "decision": code,
               "occurred_at": "2025-06-01T10:00:00+08:00",
               "updated_at": "2025-06-01T11:00:00+08:00", "referring_unit_code": MARKET,
               "agency_decision_number": "青市监罚〔2025〕1号",
               "police_case_number": "青公刑立〔2025〕9号"}
        event = mapper.map(row, "feedback.json#1").event
        assert isinstance(event, FilingDecided)
        assert event.decision is FilingDecision.CANCELLED


def test_the_cancelled_decision_round_trips_through_avro() -> None:
    serde = LocalSerde()
    serde.bind_writer(FilingDecided.avro_name, 9)
    sent = decided(at(2025, 6, 1, 9), "CANCELLED")
    back = serde.decode(serde.encode(sent))
    assert isinstance(back, FilingDecided) and back.decision is FilingDecision.CANCELLED


def test_the_agencys_objection_reaches_the_procuratorate_and_the_police() -> None:
    """The agency objects to the 撤案 by suggesting filing supervision 建议立案监督
    (entitlements.yaml acts: the case's owner, to a procuratorate only): routed to the
    procuratorate and the police who cancelled, on the timeline; from anyone else, or
    addressed to another kind of unit, refused."""
    from hub.rules import load_entitlements
    from streams.entitlement_logic import CaseRelations, check_entitlement
    from tests.unit.data.case_events import supervision_requested

    registry = load_unit_registry(UNITS)
    objection = supervision_requested(at(2025, 6, 5, 9))
    route = route_event(objection, registry, load_routing(), load_thresholds())
    assert set(route.destinations) == {PROCURATORATE, COUNTY_PSB}
    assert summarise(objection) == "建议立案监督 filing supervision suggested"
    relations = CaseRelations(owner=MARKET, owner_proven=True, addressees={COUNTY_PSB})

    def entitled(event: CaseEvent) -> bool:
        return check_entitlement(event, relations, rules=load_entitlements(), units=registry,
                                 hub_unit_code=HUB_UNIT, matched=False).entitled

    assert entitled(objection)
    assert not entitled(objection.model_copy(update={"source_unit": COUNTY_PSB}))
    assert not entitled(objection.model_copy(update={"procuratorate_unit_code": COUNTY_PSB}))
