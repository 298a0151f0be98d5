"""File consultation 调阅 by the justice bureau and the supervision commission (issue #13,
roles): a unit opens a case's file only where the mechanism gave it a reason (a lead sent
to it, an overdue act copied to it), is refused (403) elsewhere, and every opening and
every refusal is an audit record in the view's one audit trail (the outbox → lf.audit)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.local.hub_services import DEMO_OVERSIGHT_USER_CODES
from hub.models import (
    AlertStatus,
    AuditOperation,
    AuditRecorded,
    CaseEvent,
    LeadDestination,
    LeadTransferred,
    TimelineEntry,
    ViewAction,
)
from hub.models.examples import example_events
from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings
from hub.view.store import OutboxRow
from streams.case_event_meaning import summarise
from tests.support.view_data import (
    MARKET,
    PROCURATORATE,
    CaseSpec,
    apply_events,
    case_spec,
    demo_events,
)
from tests.unit.test_view_acts import _token
from tests.unit.test_view_copies import copied

JUSTICE, COMMISSION = DEMO_OVERSIGHT_USER_CODES
LED_TO_JUSTICE, LED_TO_COMMISSION = case_spec(5), case_spec(6)
COPIED_OPEN, COPIED_ANSWERED, NOT_COPIED, UNRELATED = (case_spec(2), case_spec(4),
                                                      case_spec(7), case_spec(9))


def with_lead(spec: CaseSpec, receiver: str, destination: LeadDestination) -> CaseEvent:
    """The case's state after the procuratorate sent a lead on it to ``receiver``: the
    timeline step the engine writes and the receiver among the case's units."""
    example = next(e for e in example_events().values() if isinstance(e, LeadTransferred))
    lead = example.model_copy(update={
        "case_id": spec.case_id, "receiving_unit_code": receiver, "destination": destination,
        "event_id": f"lead-{spec.index}-{receiver}", "source_unit": PROCURATORATE})
    state = spec.state()
    step = TimelineEntry(event_id=lead.event_id, event_type=lead.avro_name,
                         occurred_at=state.last_event_at, unit_code=PROCURATORATE,
                         summary=summarise(lead))
    return state.model_copy(update={"timeline": [*state.timeline, step],
                                     "units_involved": [*state.units_involved, receiver]})


@pytest.fixture
def view(tmp_path: Path) -> Iterator[tuple[TestClient, ViewContext]]:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=True,
                            demo_unit_codes=[JUSTICE, COMMISSION, MARKET], bootstrap=None)
    app = create_app(settings)
    with TestClient(app) as client:
        context: ViewContext = app.state.view
        events = [*demo_events(12),
                  with_lead(LED_TO_JUSTICE, JUSTICE, LeadDestination.JUSTICE_BUREAU),
                  with_lead(LED_TO_COMMISSION, COMMISSION,
                            LeadDestination.SUPERVISION_COMMISSION),
                  copied(COPIED_OPEN.index, "recommendation-unanswered"),
                  copied(COPIED_ANSWERED.index, "recommendation-unanswered"),
                  copied(COPIED_ANSWERED.index, "recommendation-unanswered",
                         AlertStatus.RESOLVED),
                  copied(NOT_COPIED.index, "correction-notice-unanswered")]
        with context.store.session() as session:
            apply_events(session, events, context.units)
        yield client, context


def _login(client: TestClient, code: str) -> None:
    client.cookies.clear()
    login = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    answer = client.post("/login", data={"username": f"unit-{code.lower()}",
                                         "password": DEFAULT_DEMO_PASSWORD,
                                         "csrf_token": csrf.group(1)},
                         follow_redirects=False)
    assert answer.status_code == 303 and "error" not in answer.headers["location"]


def _consultations(context: ViewContext) -> list[AuditRecorded]:
    with context.store.session() as session:
        audits = [AuditRecorded.model_validate(row.payload) for row in session.scalars(
            select(OutboxRow).where(OutboxRow.record_type == AuditRecorded.avro_name)
            .order_by(OutboxRow.id))]
    return [a for a in audits if a.target.startswith("consult:")]


def test_the_justice_bureau_opens_the_files_it_has_a_reason_for_and_is_refused_others(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    _login(client, JUSTICE)
    listing = client.get("/consult")
    assert listing.status_code == 200
    rows = re.findall(r'data-kind="(\w+)" data-case-id="([^"]+)"', listing.text)
    assert rows == [("lead", LED_TO_JUSTICE.case_id), ("copy", COPIED_OPEN.case_id),
                    ("copy", COPIED_ANSWERED.case_id)]
    assert "逾期未回复" in listing.text and "已回复" in listing.text

    opened = client.get(f"/consult/{LED_TO_JUSTICE.case_id}")
    assert opened.status_code == 200
    assert LED_TO_JUSTICE.decision_number in opened.text  # the file's documents
    assert "线索移送" in opened.text and 'data-kind="lead"' in opened.text
    copy_file = client.get(f"/consult/{COPIED_ANSWERED.case_id}")
    assert copy_file.status_code == 200 and 'data-kind="copy"' in copy_file.text
    assert "File consultation" in client.get(
        f"/consult/{COPIED_OPEN.case_id}?lang=en").text
    # the copied case is not the bureau's: its case page stays closed to it
    assert client.get(f"/cases/{COPIED_OPEN.case_id}").status_code == 404

    for refused in (NOT_COPIED, LED_TO_COMMISSION, UNRELATED):
        answer = client.get(f"/consult/{refused.case_id}")
        assert answer.status_code == 403, refused.index
        assert 'data-status="403"' in answer.text
    # a case that does not exist is refused the same way: a refusal tells nothing
    assert client.get("/consult/00000000-0000-4000-8000-000000000000").status_code == 403
    assert client.get("/consult/not-a-case").status_code == 403

    audits = _consultations(context)
    assert [(a.target, a.case_id, a.query.split(":")[0] if a.query else "")
            for a in audits] == [
        (f"consult:{LED_TO_JUSTICE.case_id}", LED_TO_JUSTICE.case_id, "reasons"),
        (f"consult:{COPIED_ANSWERED.case_id}", COPIED_ANSWERED.case_id, "reasons"),
        (f"consult:{COPIED_OPEN.case_id}", COPIED_OPEN.case_id, "reasons"),
        (f"consult:{NOT_COPIED.case_id}", NOT_COPIED.case_id, "refused"),
        (f"consult:{LED_TO_COMMISSION.case_id}", LED_TO_COMMISSION.case_id, "refused"),
        (f"consult:{UNRELATED.case_id}", UNRELATED.case_id, "refused"),
        ("consult:00000000-0000-4000-8000-000000000000",
         "00000000-0000-4000-8000-000000000000", "refused"),
        ("consult:not-a-case", audits[-1].case_id, "refused")]
    assert all(a.operation is AuditOperation.VIEW and a.actor == f"unit-{JUSTICE.lower()}"
               and a.actor_unit_code == JUSTICE for a in audits)
    assert audits[0].query == f"reasons: lead:lead-{LED_TO_JUSTICE.index}-{JUSTICE}"
    assert audits[0].result_count == len(LED_TO_JUSTICE.state().timeline) + 1
    assert audits[3].result_count == 0
    assert audits[-1].case_id != "not-a-case"  # a subject id, not the text typed


def test_the_commission_opens_its_lead_only_and_other_units_are_refused(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    _login(client, COMMISSION)
    listing = client.get("/consult")
    assert re.findall(r'data-kind="(\w+)" data-case-id="([^"]+)"', listing.text) == [
        ("lead", LED_TO_COMMISSION.case_id)]
    assert client.get(f"/consult/{LED_TO_COMMISSION.case_id}").status_code == 200
    assert client.get(f"/consult/{COPIED_OPEN.case_id}").status_code == 403  # not copied to it
    assert client.get(f"/consult/{LED_TO_JUSTICE.case_id}").status_code == 403

    # an agency's user has no lead nor copy: even its own case is not a consultation
    _login(client, MARKET)
    assert client.get(f"/consult/{LED_TO_JUSTICE.case_id}").status_code == 403
    refusals = [a for a in _consultations(context) if a.query and a.query.startswith(
        "refused")]
    assert [(a.actor_unit_code, a.case_id) for a in refusals] == [
        (COMMISSION, COPIED_OPEN.case_id), (COMMISSION, LED_TO_JUSTICE.case_id),
        (MARKET, LED_TO_JUSTICE.case_id)]


def test_a_prosecutor_is_sent_to_the_case_page_a_stranger_to_the_login(
        view: tuple[TestClient, ViewContext]) -> None:
    client, _ = view
    client.cookies.clear()
    assert client.get(f"/consult/{COPIED_OPEN.case_id}",
                      follow_redirects=False).status_code == 303  # to the login
    login = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf is not None
    client.post("/login", data={"username": "prosecutor", "password": DEFAULT_DEMO_PASSWORD,
                                "csrf_token": csrf.group(1)})
    answer = client.get(f"/consult/{COPIED_OPEN.case_id}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/cases/{COPIED_OPEN.case_id}"


def test_the_rest_api_consults_under_the_same_rule_and_audit(
        view: tuple[TestClient, ViewContext]) -> None:
    client, context = view
    client.cookies.clear()
    headers = _token(client, f"unit-{JUSTICE.lower()}")
    answer = client.get(f"/api/consult/{COPIED_OPEN.case_id}", headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["file"]["case"]["case_id"] == COPIED_OPEN.case_id
    assert [(r["kind"], r["reference"], r["open"]) for r in body["reasons"]] == [
        ("copy", f"recommendation-unanswered:{COPIED_OPEN.index}", True)]
    assert ["decision_number", COPIED_OPEN.decision_number] in body["documents"]
    refused = client.get(f"/api/consult/{UNRELATED.case_id}", headers=headers)
    assert refused.status_code == 403 and "no lead" in refused.json()["detail"]
    assert client.get(f"/api/consult/{COPIED_OPEN.case_id}").status_code == 401
    prosecutor = _token(client, "prosecutor")
    assert client.get(f"/api/consult/{COPIED_OPEN.case_id}",
                      headers=prosecutor).status_code == 409
    audits = _consultations(context)
    assert [(a.case_id, (a.query or "").split(":")[0]) for a in audits] == [
        (COPIED_OPEN.case_id, "reasons"), (UNRELATED.case_id, "refused")]


def test_a_consulting_unit_reads_the_file_without_the_procuratorates_own_record(
        view: tuple[TestClient, ViewContext]) -> None:
    """The file a body consults is the case's, not what prosecutors noted or concluded on
    it in the view (docs/security.md: a unit does not see another body's notes)."""
    client, context = view
    client.cookies.clear()
    prosecutor = _token(client, "prosecutor")
    note = "内部意见：虚构的检察官备注（调阅）"
    assert client.post(f"/api/cases/{COPIED_OPEN.case_id}/actions", headers=prosecutor,
                       json={"action": "OPINION", "note": note}).status_code == 202
    with context.store.session() as session:
        actions = [ViewAction.model_validate(row.payload) for row in session.scalars(
            select(OutboxRow).where(OutboxRow.record_type == ViewAction.avro_name))]
    with context.store.session() as session:  # what the bus brings back
        apply_events(session, actions, context.units)
    own = client.get(f"/api/cases/{COPIED_OPEN.case_id}", headers=prosecutor).json()
    assert any(note in step["summary"] for step in own["timeline"])
    headers = _token(client, f"unit-{JUSTICE.lower()}")
    answer = client.get(f"/api/consult/{COPIED_OPEN.case_id}", headers=headers)
    assert answer.status_code == 200
    timeline = answer.json()["file"]["timeline"]
    assert timeline and not any(step["event_type"].startswith("ViewAction.")
                                for step in timeline)
    assert note not in answer.text
    _login(client, JUSTICE)
    assert note not in client.get(f"/consult/{COPIED_OPEN.case_id}").text
