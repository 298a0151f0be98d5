"""The shipped connector samples (``connectors/presets/samples/``) as one fictional demo
county story (issue #13): the procuratorate's acts and leads from its outbox, an agency's
consultations and early-intervention invitations, and the answers from the agency's
replies export and the police feedback API.

Each sample passes ``connector test`` (parse, map, validate, Avro-encode) with nothing
refused. Then the mapped events go through the shipped rules: without the answering
samples every act's reply clock is raised on the unit that must answer; with them every
clock is stopped in time (the leads' feedback, which no sample answers, stays raised),
every answer routed back to the unit that asked; the police's 撤案 stops the filed
case's one-year clock; the court's acquittal makes the hub raise a judicial
recommendation, the agency's reply stops the court's own; the penalty export times
enforcement (执行到位). A new sample file must be read by a connector of
:data:`SAMPLE_CONFIGS`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from connectors.cli import app, sample_records
from connectors.config import PRESETS_DIR, parse_config
from connectors.mapping import build_mapper
from hub.identity import case_id_for
from hub.models import (
    AgencyReplied,
    AlertStatus,
    CaseEvent,
    ConsultationAnswered,
    EarlyInterventionAttended,
    FilingDecided,
    FilingSupervisionRequested,
    JudicialRecommendation,
    NonFilingReasonsExplained,
    ProsecutorialAction,
    ReconsiderationRequested,
)
from hub.rules import load_routing, load_thresholds
from hub.units import load_unit_registry
from streams.routing_logic import raised_acts, route_event
from tests.support.supervision_county import evaluate, states
from tests.unit.data.case_events import at, referred

PROCURATORATE = "11429901031594016T"  # 演示县人民检察院 (deploy/demo/units.yaml)
MARKET = "11429901030089405N"  # 演示县市场监督管理局
COUNTY_PSB = "11429901031277256Q"  # 演示县公安局
COMMISSION = "11429901031752395Q"  # 演示县监察委员会
COURT = "114299010316732087"  # 演示县人民法院
JUSTICE = "114299010318315875"  # 演示县司法局
SAMPLES = PRESETS_DIR / "samples"
DEMO_UNITS = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "units.yaml"

_FILE = {"path": str(SAMPLES), "encoding": "gbk"}
#: Connector id → (sample file, preset, kind, unit, source, events mapped); the court's
#: export is read by two connectors, as in the demo county.
SAMPLE_CONFIGS: dict[str, tuple[str, str, str, str, dict[str, Any], int]] = {
    "outbox": ("procuratorate-outbox.json", "procuratorate-outbox", "sql", PROCURATORATE,
               {"url": "sqlite:///unused.sqlite", "table": "outbox", "watermark_column": "id",
                "tie_breaker_column": "id", "payload_column": "payload"}, 16),
    "consultations": ("agency-consultations.csv", "agency-consultations", "file", MARKET,
                      _FILE, 2),
    "invitations": ("agency-invitations.csv", "agency-invitations", "file", MARKET, _FILE, 2),
    "open-cases": ("agency-open-cases.csv", "agency-open-cases", "file", MARKET, _FILE, 3),
    "replies": ("agency-replies.csv", "agency-replies", "file", MARKET, _FILE, 6),
    "reconsiderations": ("agency-reconsiderations.csv", "agency-reconsiderations", "file",
                         MARKET, _FILE, 2),
    "police": ("police-feedback.json", "police-feedback", "http", COUNTY_PSB,
               {"url": "http://127.0.0.1:9/feedback"}, 7),
    "judgments": ("court-judgments.xml", "court-judgment", "xml", COURT,
                  {"path": str(SAMPLES), "record_tag": "judgment"}, 2),
    "recommendations": ("court-judgments.xml", "court-recommendations", "xml", COURT,
                        {"path": str(SAMPLES), "record_tag": "judicialRecommendation"}, 1),
    "penalties": ("penalty-disclosure.csv", "penalty-disclosure", "file", MARKET,
                  {"path": str(SAMPLES)}, 3),
}
#: The connectors of the supervision story (requests and their answers).
STORY = ("outbox", "consultations", "invitations", "replies", "police")

#: The clocks the story's requests start: rule id → the units that owe an answer.
ACT_CLOCKS = {
    "suggested-referral-not-acted-on": {MARKET},
    "non-filing-reasons-overdue": {COUNTY_PSB},
    "ordered-filing-overdue": {COUNTY_PSB},
    "recommendation-unanswered": {MARKET},  # recommendation, opinion, reverse referral
    "correction-notice-unanswered": {COUNTY_PSB},
    "urge-prosecution-unanswered": {MARKET},
    "consultation-unanswered": {COUNTY_PSB, PROCURATORATE},
    "early-intervention-unattended": {COUNTY_PSB, PROCURATORATE},
    "lead-feedback-overdue": {COMMISSION, PROCURATORATE, JUSTICE},
}
_ANSWERS = (AgencyReplied, ConsultationAnswered, EarlyInterventionAttended,
            NonFilingReasonsExplained, FilingDecided)


def _config(connector: str) -> dict[str, Any]:
    _, preset, kind, unit, source, _ = SAMPLE_CONFIGS[connector]
    return {"id": connector, "unit": unit, "kind": kind, "source": source, "preset": preset}


def _events(connector: str) -> list[CaseEvent]:
    config = parse_config(_config(connector))
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    events = []
    for record in sample_records(config, SAMPLES / SAMPLE_CONFIGS[connector][0]):
        assert record.problem is None and record.row is not None, record.problem
        events.append(mapper.map(record.row, record.reference).event)
    return events


def _is_answer(event: CaseEvent) -> bool:
    if isinstance(event, ProsecutorialAction):  # attendance recorded by the procuratorate
        return event.action.value == "EARLY_INTERVENTION"
    return isinstance(event, _ANSWERS)


def _raised(events: Iterable[CaseEvent]) -> tuple[dict[str, set[str]], set[str]]:
    """Per act rule, the units its raised alerts name, and the rules with a clock open,
    over the story's cases on 2025-12-31."""
    cases: dict[str, list[CaseEvent]] = defaultdict(list)
    for event in events:
        cases[event.case_id].append(event)
    raised: dict[str, set[str]] = defaultdict(set)
    running: set[str] = set()
    for case in cases.values():
        result = evaluate(case, at(2025, 12, 31))
        for state in result.alerts:
            alert = state.alert
            if alert.rule_id in ACT_CLOCKS and alert.status is AlertStatus.RAISED \
                    and not state.undoes_early_sweep:
                raised[alert.rule_id].add(alert.responsible_unit_code)
        running |= {c.rule_id for c in result.open_clocks if c.rule_id in ACT_CLOCKS}
    return dict(raised), running


def test_every_sample_file_is_read_by_a_listed_connector() -> None:
    assert {p.name for p in SAMPLES.iterdir() if p.is_file()} == {
        file for file, *_ in SAMPLE_CONFIGS.values()}


@pytest.mark.parametrize("connector", sorted(SAMPLE_CONFIGS))
def test_each_sample_passes_connector_test(connector: str, tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump(_config(connector), allow_unicode=True), encoding="utf-8")
    sample = SAMPLES / SAMPLE_CONFIGS[connector][0]
    result = CliRunner().invoke(app, ["test", str(config), "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    assert f"{SAMPLE_CONFIGS[connector][5]} event(s) mapped, 0 rejected" in result.output


def test_unanswered_every_act_raises_its_clock_and_the_answers_stop_them() -> None:
    story = [event for connector in STORY for event in _events(connector)]
    requests = [e for e in story if not _is_answer(e)]
    raised, _ = _raised(requests)
    assert raised == ACT_CLOCKS
    raised, running = _raised(story)
    # answered in time: no alert was ever raised, no clock left; only the leads to the
    # commission and the justice bureau wait (the procuratorate fed its own lead back)
    assert raised == {"lead-feedback-overdue": {COMMISSION, JUSTICE}}
    assert running == {"lead-feedback-overdue"}


def test_every_answer_goes_back_to_the_unit_that_asked() -> None:
    registry, rules, thresholds = load_unit_registry(DEMO_UNITS), load_routing(), load_thresholds()
    answers = [e for connector in ("replies", "police", "outbox")
               for e in _events(connector) if _is_answer(e) and not isinstance(e, FilingDecided)]
    assert len(answers) == 13
    for answer in answers:
        route = route_event(answer, registry, rules, thresholds)
        asked = {AgencyReplied: getattr(answer, "addressed_to_unit_code", ""),
                 NonFilingReasonsExplained: PROCURATORATE}.get(type(answer), MARKET)
        assert asked in route.destinations and route.unroutable is None, answer


def test_the_police_cancellation_stops_the_filed_case_clock() -> None:
    police = _events("police")
    cancelled = [e for e in police if isinstance(e, FilingDecided)
                 and e.decision.value == "CANCELLED"]
    [case_id] = {e.case_id for e in cancelled}
    filed = [e for e in police if e.case_id == case_id and e not in cancelled]
    rule = "filed-case-not-concluded-1-year"
    open_year = states(evaluate(filed, at(2026, 6, 30)))
    assert open_year[rule].status is AlertStatus.RAISED
    closed = evaluate([*filed, *cancelled], at(2026, 6, 30))
    assert rule not in states(closed)  # cancelled in time: never raised
    assert not [c for c in closed.open_clocks if c.rule_id == rule]


def _court_case(agency_case_number: str, referral_number: str, court: list[CaseEvent]
                ) -> list[CaseEvent]:
    """The agency's referred case with the court's events that quote its referral,
    re-keyed to it as the feedback matcher does (it matches by that referral number)."""
    case_id = case_id_for(MARKET, agency_case_number)
    referral = referred(at(2025, 4, 1, 9), case_id=case_id, unit=MARKET, to=COUNTY_PSB,
                        number=referral_number)
    quoting = [e for e in court if getattr(e, "referral_number", None) == referral_number]
    assert quoting, referral_number
    return [referral, *(e.model_copy(update={"case_id": case_id}) for e in quoting)]


def test_the_court_samples_raise_judicial_recommendations_and_the_reply_stops_one() -> None:
    """Item 6: the acquittal (court-judgment sample) on a referred, unpenalised case makes
    the hub raise a recommendation to the agency; the court's own recommendation after
    the exemption (court-recommendations sample) is answered by the agency's reply
    (agency-replies sample, 来文文号 （2025）演法司建3号)."""
    court = [*_events("judgments"), *_events("recommendations")]
    acquitted = _court_case("演市监立〔2025〕10号", "演市监移〔2025〕4号", court)
    [raised] = raised_acts(acquitted, load_routing(), hub_unit_code=PROCURATORATE)
    assert isinstance(raised, JudicialRecommendation) and raised.target_unit_code == MARKET
    hub_clock = states(evaluate([*acquitted, raised], at(2025, 12, 31)))
    assert hub_clock["raised-judicial-recommendation-unanswered"].responsible_unit_code == MARKET

    exempted = _court_case("演市监立〔2025〕11号", "演市监移〔2025〕5号", court)
    assert not raised_acts(exempted, load_routing(), hub_unit_code=PROCURATORATE)  # the court's
    rule = "judicial-recommendation-unanswered"
    assert states(evaluate(exempted, at(2025, 12, 31)))[rule].status is AlertStatus.RAISED
    [reply] = [e for e in _events("replies") if isinstance(e, AgencyReplied)
               and e.in_reply_to_document_number == "（2025）演法司建3号"]
    assert reply.case_id == exempted[0].case_id
    assert rule not in states(evaluate([*exempted, reply], at(2025, 12, 31)))


def test_the_penalty_sample_times_enforcement() -> None:
    """Item 7: a decision exported 未执行 then 执行到位 within six months is stopped in
    time; one exported 部分执行 is raised on the deciding agency."""
    penalties = _events("penalties")
    rule = "penalty-not-enforced"
    by_case: dict[str, list[CaseEvent]] = defaultdict(list)
    for event in penalties:
        by_case[event.case_id].append(event)
    found = {tuple(sorted(e.enforcement_status.value for e in events  # type: ignore[attr-defined]
                          )): states(evaluate(events, at(2025, 1, 31))).get(rule)
             for events in by_case.values()}
    # stopped in time by the 执行到位 row (its 执行到位日期 2024-06-20 times it)
    enforced = found[("ENFORCED", "NOT_ENFORCED")]
    assert enforced is not None and enforced.status is AlertStatus.RESOLVED
    assert enforced.details["late"] == "false"
    assert enforced.resolved_by_event_id in {e.event_id for e in penalties
                                             if e.enforcement_status.value == "ENFORCED"}  # type: ignore[attr-defined]
    partly = found[("PARTIALLY_ENFORCED",)]
    assert partly is not None and partly.status is AlertStatus.RAISED
    assert partly.responsible_unit_code == MARKET


def test_the_agency_objects_to_a_cancellation_from_its_own_export() -> None:
    """Item 5: a 申请类型 建议立案监督 row is the agency's objection to the procuratorate
    on its own case; a 提请复议 row stays a reconsideration request to the police."""
    reconsideration, objection = _events("reconsiderations")
    assert isinstance(reconsideration, ReconsiderationRequested)
    assert reconsideration.addressed_to_unit_code == COUNTY_PSB
    assert isinstance(objection, FilingSupervisionRequested)
    assert objection.case_id == case_id_for(MARKET, "演市监立〔2025〕13号")
    assert objection.procuratorate_unit_code == PROCURATORATE
    assert objection.police_unit_code == COUNTY_PSB
    assert objection.police_case_number == "演公刑〔2025〕21号"
    route = route_event(objection, load_unit_registry(DEMO_UNITS), load_routing(),
                        load_thresholds())
    assert PROCURATORATE in route.destinations and route.unroutable is None


def test_a_reconsideration_export_without_a_request_type_maps_as_before() -> None:
    config = parse_config(_config("reconsiderations"))
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    row = {"复议申请书文号": "演市监复〔2025〕9号", "案件编号": "演市监立〔2025〕12号",
           "公安机关代码": COUNTY_PSB, "申请日期": "2025-05-06", "复议理由": "已达追诉标准"}
    event = mapper.map(row, "row 1").event
    assert isinstance(event, ReconsiderationRequested)
    assert event.case_id == case_id_for(MARKET, "演市监立〔2025〕12号")
