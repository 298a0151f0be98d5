"""Leads 线索移送 (issue #13, item 4): a lead reaches the supervision commission, the
procuratorate (public-interest litigation) or the justice bureau, and its feedback clock
(线索接受反馈) runs on the receiving unit until that unit answers quoting the lead."""

from __future__ import annotations

from datetime import date

import pytest

from hub.models import AlertStatus, LeadTransferred
from hub.rules import (
    load_deadlines,
    load_entitlements,
    load_routing,
    load_thresholds,
)
from hub.serde import LocalSerde
from hub.units import UnitRegistry
from hub.view.acts import act_rule_titles
from streams.case_event_meaning import summarise
from streams.deadline_logic import COPY_ROLES_DETAIL
from streams.entitlement_logic import CaseRelations, check_entitlement
from streams.routing_logic import route_event
from tests.support.supervision_county import JUSTICE, evaluate, states
from tests.unit.data.case_events import (
    HUB_UNIT,
    MARKET,
    PROCURATORATE,
    SUPERVISION,
    UNREGISTERED,
    at,
    lead,
    replied,
)

RULE = "lead-feedback-overdue"


LEADS = [
    # destination, receiving unit, sender
    ("SUPERVISION_COMMISSION", SUPERVISION, PROCURATORATE),
    ("PUBLIC_INTEREST_LITIGATION", PROCURATORATE, MARKET),
    ("JUSTICE_BUREAU", JUSTICE, PROCURATORATE),
]


@pytest.mark.parametrize(("destination", "receiver", "sender"), LEADS,
                         ids=[row[0] for row in LEADS])
def test_a_lead_starts_the_receivers_feedback_clock(
        destination: str, receiver: str, sender: str) -> None:
    sent = lead(at(2025, 3, 10, 9), destination, to=receiver, unit=sender)
    assert RULE not in states(evaluate([sent], at(2025, 4, 10, 23)))
    raised = states(evaluate([sent], at(2025, 4, 11, 1)))[RULE]
    assert raised.status is AlertStatus.RAISED
    assert raised.responsible_unit_code == receiver
    assert raised.due_date == date(2025, 4, 10)
    assert raised.trigger_event_id == sent.event_id
    assert COPY_ROLES_DETAIL not in raised.details  # nobody above the receiver to copy


def test_the_receivers_feedback_stops_the_clock() -> None:
    sent = lead(at(2025, 3, 10, 9), "SUPERVISION_COMMISSION", to=SUPERVISION,
                lead_number="青检线〔2025〕1号")
    in_time = replied(at(2025, 3, 20, 9), unit=SUPERVISION, in_reply_to_event=sent.event_id)
    result = evaluate([sent, in_time], at(2025, 12, 31))
    assert RULE not in states(result)
    assert not [c for c in result.open_clocks if c.rule_id == RULE]
    late = replied(at(2025, 5, 2, 9), unit=SUPERVISION, in_reply_to_document="青检线〔2025〕1号")
    resolved = states(evaluate([sent, late], at(2025, 12, 31)))[RULE]
    assert (resolved.status, resolved.details["late"]) == (AlertStatus.RESOLVED, "true")
    assert resolved.resolved_by_event_id == late.event_id


def test_feedback_quoting_another_lead_leaves_the_clock_running() -> None:
    sent = lead(at(2025, 3, 10, 9), "JUSTICE_BUREAU", to=JUSTICE, lead_number="青检线〔2025〕2号")
    other = replied(at(2025, 3, 12, 9), unit=JUSTICE, in_reply_to_document="青检线〔2025〕9号")
    assert states(evaluate([sent, other], at(2025, 4, 11, 1)))[RULE].status is AlertStatus.RAISED


def test_the_senders_own_feedback_date_wins() -> None:
    sent = lead(at(2025, 3, 10, 9), "JUSTICE_BUREAU", to=JUSTICE,
                feedback_due=date(2025, 3, 20))
    assert RULE not in states(evaluate([sent], at(2025, 3, 20, 23)))
    assert states(evaluate([sent], at(2025, 3, 21, 1)))[RULE].due_date == date(2025, 3, 20)


def test_the_rule_names_its_source_and_is_an_operator_setting() -> None:
    rule = next(r for r in load_deadlines().rules if r.id == RULE)
    assert rule.operator_set and not rule.verified
    assert "嘉善县司法局" in rule.source and "监察法" in rule.source
    assert rule.title_zh == "线索接受反馈超期"


def test_a_lead_reaches_the_inbox_of_the_unit_that_must_answer(registry: UnitRegistry) -> None:
    routing, thresholds = load_routing(), load_thresholds()
    addressed = route_event(lead(at(2025, 3, 10), "JUSTICE_BUREAU", to=JUSTICE), registry,
                            routing, thresholds)
    assert addressed.topics == (f"lf.inbox.{JUSTICE}",) and addressed.unroutable is None
    by_rule = route_event(lead(at(2025, 3, 10), "JUSTICE_BUREAU", to=UNREGISTERED), registry,
                          routing, thresholds)
    assert by_rule.destinations == (JUSTICE,)
    assert "lead-to-justice-bureau" in by_rule.rule_ids
    commission = route_event(lead(at(2025, 3, 10), "SUPERVISION_COMMISSION", to=SUPERVISION),
                             registry, routing, thresholds)
    assert commission.topics == (f"lf.inbox.{SUPERVISION}",)


def test_the_receiver_may_answer_and_a_stranger_may_not(registry: UnitRegistry) -> None:
    relations = CaseRelations(owner=MARKET, owner_proven=True, addressees={JUSTICE})
    answer = replied(at(2025, 3, 12), unit=JUSTICE, in_reply_to_document="青检线〔2025〕2号")
    granted = check_entitlement(answer, relations, rules=load_entitlements(), units=registry,
                                hub_unit_code=HUB_UNIT, matched=False)
    assert granted.relation == "addressee"
    stranger = replied(at(2025, 3, 12), unit=SUPERVISION)
    assert not check_entitlement(stranger, relations, rules=load_entitlements(),
                                 units=registry, hub_unit_code=HUB_UNIT,
                                 matched=False).entitled


def test_the_timeline_names_the_lead_and_its_receiver() -> None:
    sent = lead(at(2025, 3, 10), "JUSTICE_BUREAU", to=JUSTICE, lead_number="青检线〔2025〕3号")
    assert summarise(sent) == (f"线索移送 lead transferred 青检线〔2025〕3号 → {JUSTICE}: "
                               "JUSTICE_BUREAU")


def test_the_scorecard_counts_lead_feedback_among_replies_to_acts() -> None:
    assert act_rule_titles()[RULE] == ("线索接受反馈超期",
                                        "Receiving unit gave no feedback on a transferred "
                                        "lead within 1 month")


def test_the_new_destination_and_due_date_round_trip_through_avro() -> None:
    sent = lead(at(2025, 3, 10), "JUSTICE_BUREAU", to=JUSTICE, feedback_due=date(2025, 3, 20))
    serde = LocalSerde()
    serde.bind_writer(LeadTransferred.avro_name, 7)
    back = serde.decode(serde.encode(sent))
    assert isinstance(back, LeadTransferred)
    assert (back.destination.value, back.feedback_due_date) == ("JUSTICE_BUREAU",
                                                                date(2025, 3, 20))
    assert back == sent


def test_a_lead_to_a_unit_of_another_kind_is_refused_by_the_engine(
        registry: UnitRegistry) -> None:
    misdirected = lead(at(2025, 3, 10), "SUPERVISION_COMMISSION", to=JUSTICE)
    refused = check_entitlement(misdirected, CaseRelations(), rules=load_entitlements(),
                                units=registry, hub_unit_code=HUB_UNIT, matched=False)
    assert not refused.entitled
    assert refused.reason is not None and "supervision" in refused.reason
    fine = lead(at(2025, 3, 10), "JUSTICE_BUREAU", to=JUSTICE)
    assert check_entitlement(fine, CaseRelations(), rules=load_entitlements(), units=registry,
                             hub_unit_code=HUB_UNIT, matched=False).relation == "hub"
