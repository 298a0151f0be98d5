"""The shipped connector samples (``connectors/presets/samples/``) as one fictional demo
county story (issue #13): the procuratorate's acts and leads from its outbox, an agency's
consultations and early-intervention invitations, and the answers from the agency's
replies export and the police feedback API.

Each sample passes ``connector test`` (parse, map, validate, Avro-encode) with nothing
refused. Then the mapped events go through the shipped rules: without the answering
samples every act's reply clock is raised on the unit that must answer; with them every
clock is stopped in time (the leads' feedback, which no sample answers, stays raised),
every answer routed back to the unit that asked; and the police's 撤案 stops the filed
case's one-year clock. A new sample file must be added to :data:`SAMPLE_FILES`."""

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
from hub.models import (
    AgencyReplied,
    AlertStatus,
    CaseEvent,
    ConsultationAnswered,
    EarlyInterventionAttended,
    FilingDecided,
    NonFilingReasonsExplained,
    ProsecutorialAction,
)
from hub.rules import load_routing, load_thresholds
from hub.units import load_unit_registry
from streams.routing_logic import route_event
from tests.support.supervision_county import evaluate, states
from tests.unit.data.case_events import at

PROCURATORATE = "11429901031594016T"  # 演示县人民检察院 (deploy/demo/units.yaml)
MARKET = "11429901030089405N"  # 演示县市场监督管理局
COUNTY_PSB = "11429901031277256Q"  # 演示县公安局
COMMISSION = "11429901031752395Q"  # 演示县监察委员会
JUSTICE = "114299010318315875"  # 演示县司法局
SAMPLES = PRESETS_DIR / "samples"
DEMO_UNITS = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "units.yaml"

_FILE = {"path": str(SAMPLES), "encoding": "gbk"}
#: sample file → (preset, kind, unit, source, events mapped).
SAMPLE_FILES: dict[str, tuple[str, str, str, dict[str, Any], int]] = {
    "procuratorate-outbox.json": (
        "procuratorate-outbox", "sql", PROCURATORATE,
        {"url": "sqlite:///unused.sqlite", "table": "outbox", "watermark_column": "id",
         "tie_breaker_column": "id", "payload_column": "payload"}, 15),
    "agency-consultations.csv": ("agency-consultations", "file", MARKET, _FILE, 2),
    "agency-invitations.csv": ("agency-invitations", "file", MARKET, _FILE, 2),
    "agency-replies.csv": ("agency-replies", "file", MARKET, _FILE, 5),
    "police-feedback.json": ("police-feedback", "http", COUNTY_PSB,
                             {"url": "http://127.0.0.1:9/feedback"}, 7),
}

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


def _config(name: str) -> dict[str, Any]:
    preset, kind, unit, source, _ = SAMPLE_FILES[name]
    return {"id": preset, "unit": unit, "kind": kind, "source": source, "preset": preset}


def _events(name: str) -> list[CaseEvent]:
    config = parse_config(_config(name))
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    events = []
    for record in sample_records(config, SAMPLES / name):
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


def test_every_sample_file_is_listed() -> None:
    assert {p.name for p in SAMPLES.iterdir() if p.is_file()} == set(SAMPLE_FILES)


@pytest.mark.parametrize("name", sorted(SAMPLE_FILES))
def test_each_sample_passes_connector_test(name: str, tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump(_config(name), allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(app, ["test", str(config), "--sample", str(SAMPLES / name)])
    assert result.exit_code == 0, result.output
    assert f"{SAMPLE_FILES[name][4]} event(s) mapped, 0 rejected" in result.output


def test_unanswered_every_act_raises_its_clock_and_the_answers_stop_them() -> None:
    story = [event for name in SAMPLE_FILES for event in _events(name)]
    requests = [e for e in story if not _is_answer(e)]
    raised, _ = _raised(requests)
    assert raised == ACT_CLOCKS
    raised, running = _raised(story)
    # answered in time: no alert was ever raised, no clock left; only the leads wait
    assert raised == {"lead-feedback-overdue": ACT_CLOCKS["lead-feedback-overdue"]}
    assert running == {"lead-feedback-overdue"}


def test_every_answer_goes_back_to_the_unit_that_asked() -> None:
    registry, rules, thresholds = load_unit_registry(DEMO_UNITS), load_routing(), load_thresholds()
    answers = [e for name in ("agency-replies.csv", "police-feedback.json",
                              "procuratorate-outbox.json")
               for e in _events(name) if _is_answer(e) and not isinstance(e, FilingDecided)]
    assert len(answers) == 11
    for answer in answers:
        route = route_event(answer, registry, rules, thresholds)
        asked = {AgencyReplied: PROCURATORATE, NonFilingReasonsExplained: PROCURATORATE}.get(
            type(answer), MARKET)
        assert asked in route.destinations and route.unroutable is None, answer


def test_the_police_cancellation_stops_the_filed_case_clock() -> None:
    police = _events("police-feedback.json")
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
