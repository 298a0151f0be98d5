"""Leads 线索移送 created in the view (issue #13, item 4): a LeadTransferred sent as the
operator unit, to a unit of its destination's kind, with its feedback date."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient

from hub.models import AuditOperation, AuditRecorded, LeadDestination, LeadTransferred
from hub.rules import load_entitlements
from hub.view.acts import ACT_STREAM, act_topic, offered_acts
from hub.view.context import ViewContext
from tests.support.view_data import MARKET, PROCURATORATE, case_spec
from tests.unit.test_view_acts import _outbox, _token, view

__all__ = ["view"]  # the fixture, shared with the acts' tests

#: The demo county's justice bureau and supervision commission (deploy/demo/units.yaml).
JUSTICE = "114299010318315875"
COMMISSION = "11429901031752395Q"


def test_a_lead_to_the_justice_bureau_is_sent_as_the_operator(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    spec = case_spec(4)
    due = date.today() + timedelta(days=20)
    answer = client.post(f"/api/cases/{spec.case_id}/acts", headers=_token(client, "prosecutor"),
                         json={"action": "JUSTICE_BUREAU", "target_unit_code": JUSTICE,
                               "content": "该局多起处罚案件未按期录入，建议开展执法监督",
                               "document_number": "演检线〔2026〕1号",
                               "reply_due_date": due.isoformat()})
    assert answer.status_code == 202, answer.text
    assert answer.json()["topic"] == f"lf.ingest.{PROCURATORATE}.{ACT_STREAM}"
    [row] = [r for r in _outbox(context) if r.record_type == LeadTransferred.avro_name]
    assert row.topic == act_topic(context.operator_unit_code)
    sent = LeadTransferred.model_validate(row.payload)
    assert (sent.destination, sent.receiving_unit_code, sent.source_unit, sent.case_id) == (
        LeadDestination.JUSTICE_BUREAU, JUSTICE, PROCURATORATE, spec.case_id)
    assert (sent.lead_number, sent.feedback_due_date) == ("演检线〔2026〕1号", due)
    [audited] = [AuditRecorded.model_validate(r.payload) for r in _outbox(context)
                 if r.record_type == AuditRecorded.avro_name
                 and r.payload["operation"] == AuditOperation.ACTION.value]
    assert audited.target == f"JUSTICE_BUREAU:{spec.case_id}"


def test_a_lead_to_a_unit_of_another_kind_or_from_an_agency_is_refused(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    own = next(case_spec(i) for i in range(12) if case_spec(i).owner == MARKET)
    url = f"/api/cases/{own.case_id}/acts"
    wrong = client.post(url, headers=_token(client, "prosecutor"),
                        json={"action": "SUPERVISION_COMMISSION", "target_unit_code": JUSTICE,
                              "content": "线索"})
    assert wrong.status_code == 422 and "target_unit_code" in wrong.json()["detail"]
    agency = client.post(url, headers=_token(client, f"unit-{MARKET.lower()}"),
                         json={"action": "SUPERVISION_COMMISSION",
                               "target_unit_code": COMMISSION, "content": "线索"})
    assert agency.status_code == 403
    assert not [r for r in _outbox(context) if r.record_type == LeadTransferred.avro_name]


def test_the_view_offers_each_lead_with_its_destinations_units(
        view: tuple[TestClient, ViewContext]) -> None:
    _, context = view
    options = {o.action: o for o in offered_acts(
        load_entitlements(), context.units, unit_code=PROCURATORATE,
        operator_unit_code=PROCURATORATE) if o.event_type == "LeadTransferred"}
    assert {a: {u.kind for u in o.targets} for a, o in options.items()} == {
        "SUPERVISION_COMMISSION": {"supervision"},
        "PUBLIC_INTEREST_LITIGATION": {"procuratorate"},
        "JUSTICE_BUREAU": {"justice"}}
    assert [u.code for u in options["JUSTICE_BUREAU"].targets] == [JUSTICE]
