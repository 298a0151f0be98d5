"""Plausibility rules as data (connectors/plausibility.yaml): an entry date before the
decision, a decision dated 1900-01-01, an amount of 1e308 万元 are refused with the rule's
reason, naming the record and the field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connectors.config import parse_config
from connectors.mapping import build_mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row
from hub.errors import RecordRejected


def _mapper(mapping: dict[str, Any] | None = None) -> Any:
    config = parse_config({"id": "plausible", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "drop"}, "preset": "penalty-disclosure",
                           **({"mapping": mapping} if mapping else {})})
    return build_mapper(config.mapping, unit=config.unit, connector_id=config.id)


def _row(**cells: str) -> dict[str, str]:
    row = dict(zip(PENALTY_HEADER, penalty_row(1), strict=True))  # decided 2024-03-15
    row.update(cells)
    return row


def test_an_entry_date_before_the_decision_date_is_refused_naming_record_and_field() -> None:
    mapper = _mapper()
    with pytest.raises(RecordRejected) as refused:
        mapper.map(_row(录入日期="2024-03-14 09:00:00"), "a.csv#row 7")
    assert refused.value.error_type == "implausible_order"
    assert refused.value.field == "recorded_at"
    assert refused.value.value == "2024-03-14"
    assert "a.csv#row 7" in refused.value.reason
    assert "decision_date 2024-03-15" in refused.value.reason
    # the same day, or later, is fine
    assert mapper.map(_row(录入日期="2024-03-15 18:00:00"), "a.csv#row 8").event
    assert mapper.map(_row(录入日期="2024-03-20"), "a.csv#row 9").event


@pytest.mark.parametrize("text", ["1900-01-01", "1989-12-31"])
def test_a_decision_dated_before_the_earliest_date_is_refused(text: str) -> None:
    with pytest.raises(RecordRejected) as refused:
        _mapper().map(_row(处罚决定日期=text), "a.csv#row 2")
    assert refused.value.error_type == "implausible_date"
    assert refused.value.field in ("decision_date", "occurred_at")
    assert "处罚决定日期" in refused.value.reason and "1990-01-01" in refused.value.reason


def test_an_amount_over_the_ceiling_is_refused() -> None:
    with pytest.raises(RecordRejected) as refused:
        _mapper().map(_row(**{"罚款金额（万元）": "1e308"}), "a.csv#row 2")
    assert refused.value.error_type == "implausible_amount"
    assert refused.value.field == "fine_amount_fen"
    assert _mapper().map(_row(**{"罚款金额（万元）": "1820000"}), "a.csv#row 3").event


def test_a_mapping_overrides_a_rule_key_by_key() -> None:
    mapper = _mapper({"plausibility": {"earliest_date": "1980-01-01"}})
    assert mapper.spec.plausibility.earliest_date == date(1980, 1, 1)
    assert mapper.spec.plausibility.amount_ceiling_fen == 10**14
    assert mapper.map(_row(处罚决定日期="1985-06-01", 处罚有效期="", 公示截止期=""),
                      "a.csv#row 2").event
