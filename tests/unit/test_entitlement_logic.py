"""Entitlement: which unit may add which event to a case (a rogue unit's event is refused)."""

from __future__ import annotations

import uuid

import pytest

from hub.identity import case_id_for
from hub.models import (
    EVENT_TYPES,
    Alert,
    CaseEvent,
    CaseForwarded,
    ConsultationAnswered,
    ConsultationRequested,
    FilingDecided,
    PenaltyCaseRecorded,
    ProsecutorialAction,
)
from hub.models.examples import (
    EXAMPLE_AGENCY,
    EXAMPLE_COURT,
    EXAMPLE_HUB_UNIT,
    EXAMPLE_POLICE,
    example_events,
)
from hub.rules import load_entitlements, load_rule_set
from hub.units import UnitRegistry, load_unit_registry
from streams.entitlement_logic import (
    ENTITLEMENT_REVIEW_RULE_ID,
    CaseRelations,
    check_entitlement,
    entitlement_review_alert,
    name_addressees,
    no_longer_entitled,
    owns_by_case_id,
    record_acceptance,
    review_resolution,
)
from streams.routing_logic import route_event
from tests.integration.test_streams_harness import ROGUE_AGENCY as OTHER_AGENCY
from tests.integration.test_streams_harness import ROGUE_POLICE, UNITS_WITH_ROGUE_YAML


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> UnitRegistry:
    path = tmp_path_factory.mktemp("units") / "units.yaml"
    path.write_text(UNITS_WITH_ROGUE_YAML, encoding="utf-8")
    rules = load_rule_set()
    return load_unit_registry(path, roles=rules.unit_roles,
                              violation_types=rules.violation_types)


def _example(model: type[CaseEvent]) -> CaseEvent:
    return next(e for e in example_events().values() if type(e) is model)


def _penalty(unit: str, decision: str, case_id: str | None = None) -> PenaltyCaseRecorded:
    event = _example(PenaltyCaseRecorded)
    assert isinstance(event, PenaltyCaseRecorded)
    return event.model_copy(update={
        "source_unit": unit, "decision_number": decision, "agency_case_number": None,
        "case_id": case_id or case_id_for(unit, decision), "event_id": str(uuid.uuid4())})


def _check(event: CaseEvent, relations: CaseRelations, units: UnitRegistry, *,
           matched: bool = False):
    return check_entitlement(event, relations, rules=load_entitlements(), units=units,
                             hub_unit_code=EXAMPLE_HUB_UNIT, matched=matched)


def test_every_event_type_of_the_contract_has_an_entitlement_rule() -> None:
    named = {model.__name__ for model in EVENT_TYPES.values()}
    assert set(load_entitlements().event_types) == named


def test_a_unit_cannot_write_into_another_units_case(units: UnitRegistry) -> None:
    owners_penalty = _penalty(EXAMPLE_AGENCY, "示例市监罚〔2025〕7号")
    relations = CaseRelations()
    accepted = _check(owners_penalty, relations, units)
    assert accepted.relation == "owner"
    assert record_acceptance(owners_penalty, relations, accepted)
    assert (relations.owner, relations.owner_proven) == (EXAMPLE_AGENCY, True)

    # The rogue agency puts the owner's (predictable) case id on an event of its own.
    forged = _penalty(OTHER_AGENCY, "示例市监罚〔2025〕7号", case_id=owners_penalty.case_id)
    assert not owns_by_case_id(forged)
    refused = _check(forged, relations, units)
    assert not refused.entitled
    assert refused.reason is not None
    assert OTHER_AGENCY in refused.reason and "PenaltyCaseRecorded" in refused.reason
    assert owners_penalty.case_id in refused.reason
    # Its consultation request (no number to prove anything) is refused as well.
    consultation = _example(ConsultationRequested).model_copy(update={
        "source_unit": OTHER_AGENCY, "case_id": owners_penalty.case_id})
    assert not _check(consultation, relations, units).entitled


def test_police_feedback_comes_from_police_units_only(units: UnitRegistry) -> None:
    relations = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True)
    decision = _example(FilingDecided)
    assert decision.source_unit == EXAMPLE_POLICE
    # No referral of the case went through the hub: any police unit's feedback joins.
    assert _check(decision, relations, units).relation == "unaddressed:police"
    assert _check(decision.model_copy(update={"source_unit": ROGUE_POLICE}), relations,
                  units).entitled
    from_agency = decision.model_copy(update={"source_unit": OTHER_AGENCY})
    assert not _check(from_agency, relations, units).entitled
    # The matcher's re-keyed copy on a case with no police addressee: any police unit.
    assert _check(decision, CaseRelations(), units, matched=True).entitled


#: Two brigades registered under the example county's police bureau, and a station
#: registered under the first.
BRIGADE = "11421181MB00000505"
OTHER_BRIGADE = "11421181MB00000518"
STATION = "11421181MB0000052B"


@pytest.fixture(scope="module")
def bureau_units(tmp_path_factory: pytest.TempPathFactory) -> UnitRegistry:
    path = tmp_path_factory.mktemp("bureau") / "units.yaml"
    path.write_text(UNITS_WITH_ROGUE_YAML + "".join(
        f'  - {{code: "{code}", name: 示例县公安局{name}, name_en: Brigade, kind: police,\n'
        f'     role: {role}, division: "421181", parent: "{parent}"}}\n'
        for code, name, role, parent in (
            (BRIGADE, "经侦大队", "economic_crime_unit", EXAMPLE_POLICE),
            (OTHER_BRIGADE, "森林警察大队", "forest_police", EXAMPLE_POLICE),
            (STATION, "经侦大队中队", "police_station", BRIGADE))),
        encoding="utf-8")
    rules = load_rule_set()
    return load_unit_registry(path, roles=rules.unit_roles,
                              violation_types=rules.violation_types)


def test_on_a_referred_case_only_the_organ_it_went_to_reports(
        bureau_units: UnitRegistry) -> None:
    """A referral number is on paper the agency keeps: another police unit quoting it,
    however the matcher tied its feedback, may not record a decision on the case."""
    units = bureau_units
    decision = _example(FilingDecided)
    to_bureau = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True,
                              addressees={EXAMPLE_POLICE, EXAMPLE_AGENCY})
    assert _check(decision, to_bureau, units).relation == "addressee:police"
    for sender in (BRIGADE, STATION):  # a brigade of the bureau, and the brigade's unit
        assert _check(decision.model_copy(update={"source_unit": sender}), to_bureau,
                      units).entitled, sender
    rogue = decision.model_copy(update={"source_unit": ROGUE_POLICE})
    for matched in (False, True):
        refused = _check(rogue, to_bureau, units, matched=matched)
        assert not refused.entitled
        assert refused.curable  # a forward to it would entitle it
        assert refused.reason is not None
        assert ROGUE_POLICE in refused.reason and EXAMPLE_POLICE in refused.reason
    to_brigade = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True,
                               addressees={BRIGADE})
    for sender in (BRIGADE, EXAMPLE_POLICE, OTHER_BRIGADE, STATION):  # itself, its
        # bureau, its bureau's other brigade in the same county, its own unit
        assert _check(decision.model_copy(update={"source_unit": sender}), to_brigade,
                      units).relation == "addressee:police", sender
    assert not _check(rogue, to_brigade, units).entitled


def test_a_case_forwarded_to_another_organ_is_answered_by_that_organ(
        bureau_units: UnitRegistry) -> None:
    """移送管辖 (Decree 310 Art. 7): the forward routes the case to the new organ, which
    makes it an addressee, so its decisions join the case."""
    units = bureau_units
    rules = load_rule_set()
    relations = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True,
                              addressees={EXAMPLE_POLICE})
    forward = _example(CaseForwarded)
    assert isinstance(forward, CaseForwarded)
    forward = forward.model_copy(update={
        "source_unit": EXAMPLE_POLICE, "forwarded_to_unit_code": ROGUE_POLICE,
        "referring_unit_code": EXAMPLE_AGENCY})
    assert _check(forward, relations, units).entitled
    decision = _example(FilingDecided).model_copy(update={"source_unit": ROGUE_POLICE})
    assert not _check(decision, relations, units).entitled
    relations.addressees.update(route_event(forward, units, rules.routing,
                                            rules.thresholds).destinations)
    assert _check(decision, relations, units).relation == "addressee:police"


def test_only_the_hub_derives_alerts(units: UnitRegistry) -> None:
    alert = _example(Alert)
    assert alert.source_unit == EXAMPLE_HUB_UNIT
    assert _check(alert, CaseRelations(), units).relation == "hub"
    forged = alert.model_copy(update={"source_unit": EXAMPLE_AGENCY})
    outcome = _check(forged, CaseRelations(owner=EXAMPLE_AGENCY), units)
    assert not outcome.entitled


def test_the_operators_own_ingest_records_do_not_stand_for_the_hub(
        units: UnitRegistry) -> None:
    """The hub's operator is a procuratorate with ingest topics like any unit: read from
    them (``hub_unit_code=None``), its alerts and match withdrawals are refused, while
    what a procuratorate may send is still taken."""
    alert = _example(Alert)
    assert alert.source_unit == EXAMPLE_HUB_UNIT
    from_ingest = check_entitlement(alert, CaseRelations(owner=EXAMPLE_AGENCY),
                                    rules=load_entitlements(), units=units,
                                    hub_unit_code=None, matched=False)
    assert not from_ingest.entitled
    act = _example(ProsecutorialAction).model_copy(update={"source_unit": EXAMPLE_HUB_UNIT})
    assert check_entitlement(act, CaseRelations(owner=EXAMPLE_AGENCY),
                             rules=load_entitlements(), units=units, hub_unit_code=None,
                             matched=False).entitled


def test_a_unit_missing_from_the_registry_is_named(units: UnitRegistry) -> None:
    stranger = "11421181MB00000080"
    decision = _example(FilingDecided).model_copy(update={"source_unit": stranger})
    outcome = _check(decision, CaseRelations(owner=EXAMPLE_AGENCY), units)
    assert not outcome.entitled
    assert outcome.reason is not None and "not in the unit registry" in outcome.reason


def test_a_claim_gives_way_to_the_proven_owner(units: UnitRegistry) -> None:
    case_id = case_id_for(EXAMPLE_AGENCY, "示例市监罚〔2025〕9号")
    relations = CaseRelations()
    claim = _example(ConsultationRequested).model_copy(update={
        "source_unit": OTHER_AGENCY, "case_id": case_id})
    claimed = _check(claim, relations, units)
    assert claimed.relation == "owner"
    assert record_acceptance(claim, relations, claimed)
    assert (relations.owner, relations.owner_proven) == (OTHER_AGENCY, False)

    proven = _penalty(EXAMPLE_AGENCY, "示例市监罚〔2025〕9号")
    outcome = _check(proven, relations, units)
    assert outcome.relation == "owner"
    assert record_acceptance(proven, relations, outcome)
    assert (relations.owner, relations.owner_proven) == (EXAMPLE_AGENCY, True)
    assert not _check(claim.model_copy(update={"event_id": str(uuid.uuid4())}),
                      relations, units).entitled


def test_what_a_case_took_before_its_relations_changed_is_found_for_review(
        units: UnitRegistry) -> None:
    """Taken as ``unaddressed:police`` before the referral named the bureau, the
    neighbouring police's decision is found once the bureau is an addressee; so is an
    agency's claim once the proven owner came. The bureau's own answer, the owner's
    events, the hub's own events and what the relations before refused already are not."""
    case_id = case_id_for(EXAMPLE_AGENCY, "示例市监罚〔2025〕9号")
    relations = CaseRelations()
    claim = _example(ConsultationRequested).model_copy(update={
        "source_unit": OTHER_AGENCY, "case_id": case_id, "event_id": str(uuid.uuid4())})
    assert record_acceptance(claim, relations, _check(claim, relations, units))
    rogue = _example(FilingDecided).model_copy(update={
        "source_unit": ROGUE_POLICE, "case_id": case_id, "event_id": str(uuid.uuid4())})
    assert _check(rogue, relations, units).relation == "unaddressed:police"
    answer = rogue.model_copy(update={"source_unit": EXAMPLE_POLICE,
                                      "event_id": str(uuid.uuid4())})
    hubs = _example(Alert).model_copy(update={"case_id": case_id})
    history = [claim, rogue, answer, hubs]

    def found(before: CaseRelations) -> list[tuple[str, str]]:
        return [(event.event_id, reason) for event, reason in no_longer_entitled(
            history, before, relations, rules=load_entitlements(), units=units,
            hub_unit_code=EXAMPLE_HUB_UNIT)]

    unchanged = CaseRelations.from_dict(relations.to_dict())
    assert found(unchanged) == []  # as taken
    relations.addressees.add(EXAMPLE_POLICE)
    [(event_id, reason)] = found(unchanged)
    assert event_id == rogue.event_id
    assert ROGUE_POLICE in reason and EXAMPLE_POLICE in reason
    # Judged against relations that refused it already (a changed rule file, say), an
    # event was not taken "before the relations changed": not found.
    assert found(CaseRelations.from_dict(relations.to_dict())) == []
    proven = _penalty(EXAMPLE_AGENCY, "示例市监罚〔2025〕9号")
    assert record_acceptance(proven, relations, _check(proven, relations, units))
    history.append(proven)
    assert [event_id for event_id, _ in found(unchanged)] == [claim.event_id,
                                                              rogue.event_id]

    alert = entitlement_review_alert(case_id, rogue, reason, hub_unit_code=EXAMPLE_HUB_UNIT,
                                     now=rogue.recorded_at)
    assert (alert.kind.value, alert.rule_id, alert.responsible_unit_code,
            alert.trigger_event_id, alert.details["unit"]) == (
        "ENTITLEMENT_REVIEW", ENTITLEMENT_REVIEW_RULE_ID, EXAMPLE_HUB_UNIT, rogue.event_id,
        ROGUE_POLICE)  # for the procuratorate to review, not the sender's to correct
    assert alert.alert_id == entitlement_review_alert(
        case_id, rogue, "another wording", hub_unit_code=EXAMPLE_HUB_UNIT,
        now=proven.recorded_at).alert_id  # one alert per event, however often found
    gone = review_resolution(case_id, rogue.event_id, hub_unit_code=EXAMPLE_HUB_UNIT,
                             now=proven.recorded_at)  # the event no longer in the case
    assert (gone.alert_id, gone.status.value) == (alert.alert_id, "RESOLVED")


def test_a_forward_read_before_the_referral_names_its_organ_once_the_referral_comes(
        units: UnitRegistry) -> None:
    """The bureau forwards the case (移送管辖) to the neighbouring county's police before
    the agency's referral is read: taken as ``unaddressed:police``, it named nobody.
    Once the referral makes the bureau an addressee, the forward names the organ it went
    to, whose decision is then the case's addressee's, not one to review."""
    rules = load_rule_set()
    case_id = case_id_for(EXAMPLE_AGENCY, "示例市监罚〔2025〕11号")
    forward = _example(CaseForwarded).model_copy(update={
        "case_id": case_id, "source_unit": EXAMPLE_POLICE, "event_id": str(uuid.uuid4()),
        "forwarded_to_unit_code": ROGUE_POLICE, "forwarded_to_unit_name": None})
    decision = _example(FilingDecided).model_copy(update={
        "case_id": case_id, "source_unit": ROGUE_POLICE, "event_id": str(uuid.uuid4())})
    before = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True)
    for event in (forward, decision):
        assert _check(event, before, units).relation == "unaddressed:police"
    relations = CaseRelations.from_dict(before.to_dict())
    relations.addressees.add(EXAMPLE_POLICE)  # the referral, read last

    def destinations(event: CaseEvent) -> list[str]:
        return list(route_event(event, units, rules.routing, rules.thresholds).destinations)

    assert name_addressees([forward, decision], relations, rules=load_entitlements(),
                           units=units, hub_unit_code=EXAMPLE_HUB_UNIT,
                           destinations=destinations)
    assert ROGUE_POLICE in relations.addressees
    assert no_longer_entitled([forward, decision], before, relations,
                              rules=load_entitlements(), units=units,
                              hub_unit_code=EXAMPLE_HUB_UNIT) == []
    assert not name_addressees([forward, decision], relations, rules=load_entitlements(),
                               units=units, hub_unit_code=EXAMPLE_HUB_UNIT,
                               destinations=destinations)  # nothing more to name


def test_a_numbered_document_claims_only_the_case_its_number_names(
        units: UnitRegistry) -> None:
    """A unit's next case id is predictable (its next decision number): a referral of
    another agency's, numbered by the other agency's own series, must not claim it ahead
    of its owner (the claimer would become the case's referring unit)."""
    victims_next = case_id_for(EXAMPLE_AGENCY, "示例市监罚〔2025〕10号")
    squat = _penalty(OTHER_AGENCY, "示例烟罚〔2025〕3号", case_id=victims_next)
    refused = _check(squat, CaseRelations(), units)
    assert not refused.entitled
    assert refused.curable  # its own case's events may come: it waits, then is refused


#: A fictional market-regulation station (市场监管所) of the example bureau.
STATION = "11421181MB0000008Q"


def test_a_bureau_may_claim_the_case_of_a_station_it_exports_for(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """A county bureau's connector exports its stations' decisions, each case keyed by
    the deciding station: the bureau may claim such a case (until the station proves
    it), but not one its number gives under another agency."""
    path = tmp_path_factory.mktemp("station") / "units.yaml"
    path.write_text(UNITS_WITH_ROGUE_YAML + (
        f'  - {{code: "{STATION}", name: 示例县市场监管所, name_en: Example station,\n'
        f'     kind: agency, role: enforcement_agency, domains: [market_regulation],\n'
        f'     division: "421181", parent: "{EXAMPLE_AGENCY}"}}\n'), encoding="utf-8")
    rules = load_rule_set()
    with_station = load_unit_registry(path, roles=rules.unit_roles,
                                      violation_types=rules.violation_types)
    decision = "示例市监所罚〔2025〕4号"
    exported = _penalty(EXAMPLE_AGENCY, decision, case_id=case_id_for(STATION, decision))
    claimed = _check(exported, CaseRelations(), with_station)
    assert claimed.relation == "owner"
    from_another = _penalty(OTHER_AGENCY, decision, case_id=case_id_for(STATION, decision))
    assert not _check(from_another, CaseRelations(), with_station).entitled
    # Once the station's own record proved the case its own, the bureau's export of
    # the decision is still its station's (neither refused nor raised for review);
    # another agency's is not, nor the bureau's of a number the case id is not made of.
    relations = CaseRelations()
    assert record_acceptance(exported, relations, claimed)
    before = CaseRelations.from_dict(relations.to_dict())
    own = _penalty(STATION, decision)
    assert record_acceptance(own, relations, _check(own, relations, with_station))
    assert (relations.owner, relations.owner_proven) == (STATION, True)
    again = exported.model_copy(update={"event_id": str(uuid.uuid4())})
    assert _check(again, relations, with_station).relation == "owner"
    assert no_longer_entitled([exported, own], before, relations,
                              rules=load_entitlements(), units=with_station,
                              hub_unit_code=EXAMPLE_HUB_UNIT) == []
    assert not _check(from_another, relations, with_station).entitled
    other_number = _penalty(EXAMPLE_AGENCY, "示例市监所罚〔2025〕5号",
                            case_id=case_id_for(STATION, decision))
    assert not _check(other_number, relations, with_station).entitled
    # Its export never takes the case from the station, not even from a claim.
    claimed_by_station = CaseRelations(owner=STATION, owner_proven=False)
    taken = _check(again, claimed_by_station, with_station)
    assert taken.relation == "owner"
    assert not record_acceptance(again, claimed_by_station, taken)
    assert claimed_by_station.owner == STATION


def test_a_police_unit_cannot_claim_an_agency_case(units: UnitRegistry) -> None:
    claim = _example(ConsultationRequested).model_copy(update={"source_unit": EXAMPLE_POLICE})
    assert not _check(claim, CaseRelations(), units).entitled


def test_an_addressee_may_answer(units: UnitRegistry) -> None:
    reply = next(e for e in example_events().values() if type(e).__name__ == "AgencyReplied")
    relations = CaseRelations(owner=EXAMPLE_COURT, owner_proven=True)
    rogue = reply.model_copy(update={"source_unit": OTHER_AGENCY})
    refused = _check(rogue, relations, units)
    assert not refused.entitled
    assert refused.curable  # a later act of the case may make it an addressee
    relations.addressees.add(OTHER_AGENCY)
    assert _check(rogue, relations, units).relation == "addressee"


def test_a_relation_does_not_lend_a_unit_another_kinds_voice(units: UnitRegistry) -> None:
    """The relations are per unit: a police unit whose feedback was matched is matched,
    and may not judge as the court; an agency the hub routed the police's receipt to is
    an addressee, and may not record the police's decision."""
    relations = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True,
                              addressees={EXAMPLE_POLICE, OTHER_AGENCY},
                              matched={EXAMPLE_POLICE})
    judgment = next(e for e in example_events().values()
                    if type(e).__name__ == "CourtJudgment")
    assert not _check(judgment.model_copy(update={"source_unit": EXAMPLE_POLICE}),
                      relations, units, matched=True).entitled
    assert _check(judgment, relations, units).entitled  # the court itself
    decision = _example(FilingDecided).model_copy(update={"source_unit": OTHER_AGENCY})
    assert not _check(decision, relations, units).entitled
    assert not _check(decision, relations, units, matched=True).entitled


def test_without_a_unit_registry_kinds_are_not_checked_but_owners_are() -> None:
    empty = UnitRegistry([])
    decision = _example(FilingDecided)
    assert _check(decision, CaseRelations(owner=EXAMPLE_AGENCY), empty).entitled
    forged = _penalty(OTHER_AGENCY, "x", case_id=case_id_for(EXAMPLE_AGENCY, "x"))
    relations = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True)
    assert not _check(forged, relations, empty).entitled


def test_relations_round_trip_through_their_stored_form() -> None:
    relations = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True,
                              addressees={EXAMPLE_POLICE}, matched={EXAMPLE_COURT})
    assert CaseRelations.from_dict(relations.to_dict()) == relations
    assert CaseRelations.from_dict(None) == CaseRelations()


def _act(action: str, *, sender: str, target: str) -> CaseEvent:
    from hub.models import ProsecutorialAction, ProsecutorialActionKind

    template = _example(ProsecutorialAction)
    return template.model_copy(update={
        "action": ProsecutorialActionKind(action), "source_unit": sender,
        "target_unit_code": target, "event_id": str(uuid.uuid4())})


def test_an_act_goes_only_to_the_unit_kinds_its_rule_names(units: UnitRegistry) -> None:
    relations = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True)
    order = _act("ORDER_FILING", sender=EXAMPLE_HUB_UNIT, target=EXAMPLE_POLICE)
    assert _check(order, relations, units).relation == "hub"
    misdirected = _act("ORDER_FILING", sender=EXAMPLE_HUB_UNIT, target=EXAMPLE_AGENCY)
    refused = _check(misdirected, relations, units)
    assert not refused.entitled
    assert refused.reason is not None
    assert "action=ORDER_FILING" in refused.reason and "agency unit" in refused.reason
    # No later event of the case can make an agency the target of an order to file:
    # the worker refuses it at once instead of letting it wait.
    assert not refused.curable
    # A recommendation may go to either; an urge-prosecution opinion to an agency only.
    assert _check(_act("RECOMMENDATION", sender=EXAMPLE_HUB_UNIT, target=EXAMPLE_POLICE),
                  relations, units).entitled
    assert not _check(_act("URGE_PROSECUTION", sender=EXAMPLE_HUB_UNIT,
                           target=EXAMPLE_POLICE), relations, units).entitled


def test_an_agency_may_not_send_a_procuratorial_act(units: UnitRegistry) -> None:
    relations = CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True)
    forged = _act("CORRECTION_NOTICE", sender=EXAMPLE_AGENCY, target=EXAMPLE_POLICE)
    outcome = _check(forged, relations, units)
    assert not outcome.entitled
    assert outcome.reason is not None and "ProsecutorialAction" in outcome.reason


def test_the_view_offers_the_acts_a_unit_kind_may_send() -> None:
    rules = load_entitlements()
    offered = rules.acts_for_kind("ProsecutorialAction", "procuratorate", is_hub=False)
    assert {"SUGGEST_REFERRAL", "ORDER_FILING", "CORRECTION_NOTICE",
            "URGE_PROSECUTION"} <= set(offered)
    assert offered["ORDER_FILING"].targets == ("police",)
    assert not offered["ARREST_DECISION"].in_view
    assert rules.acts_for_kind("ProsecutorialAction", "agency", is_hub=False) == {}


def test_an_act_rule_wider_than_its_event_type_is_refused() -> None:
    from pydantic import ValidationError

    from hub.rules import Entitlements

    data = load_entitlements().model_dump(mode="json")
    data["acts"]["ProsecutorialAction"]["kinds"]["ORDER_FILING"]["senders"] = ["kind:agency"]
    data["acts"]["ProsecutorialAction"]["kinds"]["NOT_AN_ACT"] = dict(
        data["acts"]["ProsecutorialAction"]["kinds"]["OPINION"])
    with pytest.raises(ValidationError) as caught:
        Entitlements.model_validate(data)
    text = str(caught.value)
    assert "acts.ProsecutorialAction.kinds.ORDER_FILING.senders" in text
    assert "no symbol 'NOT_AN_ACT'" in text


def test_a_unit_that_chose_the_case_itself_names_no_addressee(
        units: UnitRegistry) -> None:
    """Before a referral went through the hub, any police unit may answer a
    consultation on the case, and the answer names the unit it answers: were that to
    make the named unit an addressee, a police unit could name itself and then decide
    on the case as the organ the referral went to."""
    rules = load_entitlements()
    answer = _example(ConsultationAnswered).model_copy(update={
        "source_unit": ROGUE_POLICE, "requested_by_unit_code": ROGUE_POLICE})
    relation = _check(answer, CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True),
                      units).relation
    assert relation == "unaddressed:police"
    assert not rules.names_addressees(relation)
    # Once the case went to the county's bureau, the neighbour may not answer at all.
    assert not _check(answer, CaseRelations(owner=EXAMPLE_AGENCY, owner_proven=True,
                                            addressees={EXAMPLE_POLICE}), units).entitled
    for relation in ("kind:police", "matched"):
        assert not rules.names_addressees(relation), relation
    for relation in ("owner", "addressee", "addressee:police", "hub", "kind:procuratorate"):
        assert rules.names_addressees(relation), relation
