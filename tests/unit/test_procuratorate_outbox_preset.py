"""The procuratorate-outbox preset on its shipped sample (issue #13): every act the
procuratorate records in its own system, and its answer to an agency's case consultation
案件咨询, through ``connector test`` (parse, map, validate, Avro-encode). The answer is
followed past the connector: it is keyed to the consultation's case, routed back to the
asking agency, and stops the consultation's 3-working-day clock (兴庆区 opinion, item 11)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml
from typer.testing import CliRunner

from connectors.cli import app, sample_records
from connectors.config import PRESETS_DIR, ConnectorConfig, parse_config
from connectors.mapping import build_mapper
from hub.calendar import default_calendar
from hub.models import (
    AgencyReplied,
    AlertStatus,
    CaseEvent,
    ConsultationAnswered,
    ConsultationRequested,
    LeadTransferred,
    ReplyOutcome,
)
from hub.rules import load_entitlements, load_routing, load_thresholds
from hub.units import load_unit_registry
from streams.entitlement_logic import CaseRelations, check_entitlement
from streams.routing_logic import route_event
from tests.support.supervision_county import evaluate, states
from tests.unit.data.case_events import at

PROCURATORATE = "11429901031594016T"  # 演示县人民检察院 (deploy/demo/units.yaml)
MARKET = "11429901030089405N"  # 演示县市场监督管理局
COUNTY_PSB = "11429901031277256Q"  # 演示县公安局
COMMISSION = "11429901031752395Q"  # 演示县监察委员会
JUSTICE = "114299010318315875"  # 演示县司法局
SAMPLES = PRESETS_DIR / "samples"
SAMPLE = SAMPLES / "procuratorate-outbox.json"
DEMO_UNITS = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "units.yaml"
SOURCE = {"url": "sqlite:///unused.sqlite", "table": "outbox", "watermark_column": "id",
          "tie_breaker_column": "id", "payload_column": "payload"}

#: Outbox type → (action, addressee) of each act row of the sample.
ACTS = {
    "ReferralSuggested": ("SUGGEST_REFERRAL", MARKET),
    "NonFilingReasonsRequested": ("REQUIRE_NON_FILING_REASONS", COUNTY_PSB),
    "FilingOrdered": ("ORDER_FILING", COUNTY_PSB),
    "RecommendationIssued": ("RECOMMENDATION", MARKET),
    "OpinionIssued": ("OPINION", MARKET),
    "CorrectionNoticeIssued": ("CORRECTION_NOTICE", COUNTY_PSB),
    "ProsecutionUrged": ("URGE_PROSECUTION", MARKET),
    "ReverseReferralSent": ("REVERSE_REFERRAL", MARKET),
    "ArrestDecided": ("ARREST_DECISION", COUNTY_PSB),
    "ProsecutionDecided": ("PROSECUTION_DECISION", COUNTY_PSB),
    "EarlyInterventionAttended": ("EARLY_INTERVENTION", MARKET),
}


def _mapped(config: ConnectorConfig, sample: Path) -> list[CaseEvent]:
    """The sample's events as ``connector run`` maps them (no record refused)."""
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    events = []
    for record in sample_records(config, sample):
        assert record.problem is None and record.row is not None, record.problem
        events.append(mapper.map(record.row, record.reference).event)
    return events


def _outbox() -> ConnectorConfig:
    return parse_config({"id": "outbox", "unit": PROCURATORATE, "kind": "sql",
                         "source": SOURCE, "preset": "procuratorate-outbox"})


def test_the_shipped_sample_passes_connector_test(tmp_path: Path) -> None:
    config = tmp_path / "outbox.yaml"
    config.write_text(yaml.safe_dump({"id": "outbox", "unit": PROCURATORATE, "kind": "sql",
                                      "source": SOURCE, "preset": "procuratorate-outbox"},
                                     allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["test", str(config), "--sample", str(SAMPLE),
                                      "--limit", "20"])
    assert result.exit_code == 0, result.output
    assert "16 event(s) mapped, 0 rejected" in result.output
    assert '"action": "ORDER_FILING"' in result.output
    assert '"consultation_id": "演市监咨〔2025〕2号"' in result.output


def test_every_outbox_type_of_the_sample_maps_to_its_act_and_addressee() -> None:
    events = _mapped(_outbox(), SAMPLE)
    acts = {e.source_record: e for e in events if type(e).__name__ == "ProsecutorialAction"}
    found = {(e.action.value, e.target_unit_code) for e in acts.values()}  # type: ignore[attr-defined]
    assert found == set(ACTS.values())
    assert {e.source_unit for e in events} == {PROCURATORATE}


def test_a_lead_from_the_outbox_reaches_its_receiver_and_starts_the_feedback_clock() -> None:
    """Item 4 from the procuratorate's own system: each destination to its unit, the
    lead's own feedback date or else the rule's month, owed by the receiver."""
    leads = [e for e in _mapped(_outbox(), SAMPLE) if isinstance(e, LeadTransferred)]
    assert {(e.destination.value, e.receiving_unit_code) for e in leads} == {
        ("SUPERVISION_COMMISSION", COMMISSION), ("PUBLIC_INTEREST_LITIGATION", PROCURATORATE),
        ("JUSTICE_BUREAU", JUSTICE)}
    registry = load_unit_registry(DEMO_UNITS)
    for lead in leads:
        route = route_event(lead, registry, load_routing(), load_thresholds())
        assert route.topics == (f"lf.inbox.{lead.receiving_unit_code}",), lead.destination
        raised = states(evaluate([lead], at(2025, 12, 31)))["lead-feedback-overdue"]
        assert raised.responsible_unit_code == lead.receiving_unit_code
        if lead.feedback_due_date is not None:
            # the date the lead states, moved off a rest day (deadlines.yaml period_end)
            due = lead.feedback_due_date
            while not default_calendar().is_working_day(due):
                due += timedelta(days=1)
            assert raised.due_date == due


def test_the_procuratorates_consultation_answer_reaches_the_agency_and_stops_its_clock() -> None:
    """The agency asks the procuratorate (agency-consultations sample, row 2, answer due
    2025-03-20); the procuratorate answers in its own system on 2025-03-17 (outbox
    sample): same case, routed to the agency's inbox, the clock stopped in time."""
    agency = parse_config({"id": "consultations", "unit": MARKET, "kind": "file",
                           "source": {"path": str(SAMPLES), "encoding": "gbk"},
                           "preset": "agency-consultations"})
    [question] = [e for e in _mapped(agency, SAMPLES / "agency-consultations.csv")
                  if isinstance(e, ConsultationRequested)
                  and e.addressed_to_unit_code == PROCURATORATE]
    [answer] = [e for e in _mapped(_outbox(), SAMPLE) if isinstance(e, ConsultationAnswered)]
    assert answer.consultation_id == question.consultation_id
    assert answer.case_id == question.case_id
    assert (answer.requested_by_unit_code, answer.complex_case) == (MARKET, False)

    route = route_event(answer, load_unit_registry(DEMO_UNITS), load_routing(),
                        load_thresholds())
    assert route.topics == (f"lf.inbox.{MARKET}",) and route.unroutable is None

    unanswered = states(evaluate([question], at(2025, 3, 21)))["consultation-unanswered"]
    assert (unanswered.status, unanswered.responsible_unit_code) == (AlertStatus.RAISED,
                                                                     PROCURATORATE)
    answered = evaluate([question, answer], at(2025, 3, 21))
    assert "consultation-unanswered" not in states(answered)
    assert not [c for c in answered.open_clocks if c.rule_id == "consultation-unanswered"]
    # answered after the due date: the same answer resolves the raised alert as late
    late = answer.model_copy(update={"occurred_at": at(2025, 3, 24, 10)})
    resolved = states(evaluate([question, late], at(2025, 3, 25)))["consultation-unanswered"]
    assert (resolved.status, resolved.resolved_by_event_id) == (AlertStatus.RESOLVED,
                                                                late.event_id)
    assert resolved.details["late"] == "true"


def test_the_procuratorates_feedback_on_its_public_interest_lead_stops_the_clock() -> None:
    """Item 4: the public-interest litigation lead (outbox sample row 14, no feedback date
    of its own: the rule's month, due 2025-04-20) is fed back in the procuratorate's own
    system (row 16, LeadFeedbackGiven, 2025-04-10): an AgencyReplied on the lead's case,
    quoting its number, addressed to the sender, which stops the clock in time."""
    events = _mapped(_outbox(), SAMPLE)
    [lead] = [e for e in events if isinstance(e, LeadTransferred)
              and e.destination.value == "PUBLIC_INTEREST_LITIGATION"]
    [feedback] = [e for e in events if isinstance(e, AgencyReplied)]
    assert (feedback.case_id, feedback.in_reply_to_document_number) == (lead.case_id,
                                                                        lead.lead_number)
    assert (feedback.addressed_to_unit_code, feedback.outcome) == (PROCURATORATE,
                                                                   ReplyOutcome.ADOPTED)
    registry = load_unit_registry(DEMO_UNITS)
    route = route_event(feedback, registry, load_routing(), load_thresholds())
    assert route.topics == (f"lf.inbox.{PROCURATORATE}",) and route.unroutable is None
    # the engine lets it join the agency's case: the procuratorate is the lead's addressee
    relations = CaseRelations(owner=MARKET, owner_proven=True, addressees={PROCURATORATE})
    assert check_entitlement(feedback, relations, rules=load_entitlements(), units=registry,
                             hub_unit_code=PROCURATORATE, matched=False).relation == "addressee"

    # due on a weekend, so on Monday the 21st (deadlines.yaml period_end): overdue after it
    unanswered = states(evaluate([lead], at(2025, 4, 22)))["lead-feedback-overdue"]
    assert (unanswered.status, unanswered.responsible_unit_code) == (AlertStatus.RAISED,
                                                                     PROCURATORATE)
    answered = evaluate([lead, feedback], at(2025, 4, 22))
    assert "lead-feedback-overdue" not in states(answered)
    assert not [c for c in answered.open_clocks if c.rule_id == "lead-feedback-overdue"]
