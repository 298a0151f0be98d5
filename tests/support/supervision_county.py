"""A county with a justice bureau and a supervision commission: what the supervision acts
and leads tests share (unit, broker and browser), so each test file keeps only its own.

Three registries, one per layer, each with the two oversight bodies:
- unit tests: the fictional 青山县 of ``tests/unit/data/units.yaml`` (its justice bureau
  ``JUSTICE``; its commission is ``tests.unit.data.case_events.SUPERVISION``), with
  :func:`evaluate` and :func:`states` over the shipped deadline rules;
- broker tests: the example county (``hub.models.examples``) plus ``EXAMPLE_JUSTICE`` and
  ``EXAMPLE_COMMISSION`` (:data:`EXAMPLE_OVERSIGHT_UNITS_YAML`, fixture
  ``supervision_county`` in ``tests/integration/conftest.py``);
- browser tests: the demo county, whose registry has both (``DEMO_JUSTICE``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from connectors.config import ConnectorConfig, parse_config
from connectors.mapping import Mapper, build_mapper
from hub.calendar import WorkingDayCalendar
from hub.local.hub_services import DEMO_OVERSIGHT_USER_CODES
from hub.models import Alert, CaseEvent
from hub.models.examples import EXAMPLE_UNITS_YAML
from hub.rules import load_deadlines, load_thresholds, load_violation_offences
from streams.deadline_logic import CaseDeadlines, evaluate_case
from tests.unit.data.case_events import HUB_UNIT

__all__ = [
    "DEMO_COMMISSION",
    "DEMO_JUSTICE",
    "EXAMPLE_COMMISSION",
    "EXAMPLE_JUSTICE",
    "EXAMPLE_OVERSIGHT_UNITS_YAML",
    "JUSTICE",
    "UNITS",
    "evaluate",
    "outbox_connector",
    "states",
]

#: The unit-test registry (青山县) and its justice bureau (司法局).
UNITS = Path(__file__).parent.parent / "unit" / "data" / "units.yaml"
JUSTICE = "11420999MB00001257"

#: The example county's justice bureau and supervision commission (broker tests).
EXAMPLE_JUSTICE = "11421181MB0000008Q"
EXAMPLE_COMMISSION = "11421181MB0000016K"


#: The example county's units YAML with both oversight bodies.
EXAMPLE_OVERSIGHT_UNITS_YAML = EXAMPLE_UNITS_YAML + (
    f'  - {{code: "{EXAMPLE_JUSTICE}", name: 示例县司法局, name_en: Example justice bureau,\n'
    '     kind: justice, role: justice_bureau, division: "421181"}\n'
    f'  - {{code: "{EXAMPLE_COMMISSION}", name: 示例县监察委员会, name_en: Example commission,\n'
    '     kind: supervision, role: supervision_commission, division: "421181"}\n')

#: The demo county's justice bureau and supervision commission (browser tests).
DEMO_JUSTICE, DEMO_COMMISSION = DEMO_OVERSIGHT_USER_CODES


def outbox_connector(unit: str) -> tuple[ConnectorConfig, Mapper]:
    """The procuratorate's outbox connector (sql kind, ``procuratorate-outbox`` preset) of
    ``unit`` and its mapper: how the procuratorate's own system feeds its acts in."""
    config = parse_config({"id": "outbox", "unit": unit, "kind": "sql",
                           "source": {"url": "sqlite:///unused.sqlite", "table": "outbox",
                                      "watermark_column": "id", "tie_breaker_column": "id",
                                      "payload_column": "payload"},
                           "preset": "procuratorate-outbox"})
    return config, build_mapper(config.mapping, unit=config.unit, connector_id=config.id)


def evaluate(events: list[CaseEvent], now: datetime) -> CaseDeadlines:
    """The shipped deadline rules over a case of the unit-test county."""
    return evaluate_case(events, now, rules=load_deadlines(), thresholds=load_thresholds(),
                         violation_offences=load_violation_offences(),
                         hub_unit_code=HUB_UNIT, calendar=WorkingDayCalendar())


def states(result: CaseDeadlines) -> dict[str, Alert]:
    """The alert of each rule (one clock per rule in these cases)."""
    return {s.alert.rule_id: s.alert for s in result.alerts if not s.undoes_early_sweep}
