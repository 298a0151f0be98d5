"""The party history store (issue #14, item 4): a party's counted penalties by
identifier in the case partition stores, read across every partition this worker owns."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.identity import case_id_for
from hub.models import PenaltyCaseRecorded
from hub.rules import (
    load_screening,
    load_thresholds,
    load_violation_offences,
    load_violation_types,
)
from streams.engine import party_history
from streams.engine.state import PartitionStore
from streams.screening_assessment import ScreeningRules
from tests.unit.data.case_events import MARKET, TAX, at, party, penalty

DOCTOR = party("王某", credit_code=None, category="NATURAL_PERSON",
               id_number="11010519491231002X")


@pytest.fixture(scope="module")
def rules() -> ScreeningRules:
    return ScreeningRules(
        thresholds=load_thresholds(), violation_types=load_violation_types(),
        violation_offences=load_violation_offences(), screening=load_screening(),
    )


def practice(unit: str, number: str, month: int, *, code: str | None = None,
             text: str = "非法行医") -> PenaltyCaseRecorded:
    return penalty(at(2025, month, 3), unit=unit, code=code, violation_text=text,
                   domain="health", decision_number=number,
                   case_id=case_id_for(unit, number), parties=[DOCTOR])


def test_penalties_on_two_partitions_are_counted_together(
        tmp_path: Path, rules: ScreeningRules) -> None:
    stores = {p: PartitionStore(tmp_path / f"case-{p}", "changelog", p) for p in (0, 1)}
    try:
        first = practice(MARKET, "卫罚〔2025〕1号", 1)  # classified by its wording
        second = practice(TAX, "卫罚〔2025〕2号", 2, code="HEA-ILLEGAL-MEDICAL-PRACTICE")
        third = practice(MARKET, "卫罚〔2025〕3号", 3)
        assert party_history.prior_counts(stores, 0, [first], rules) == {first.event_id: 0}
        assert party_history.prior_counts(stores, 1, [second], rules) == {second.event_id: 1}
        for store in stores.values():  # what the worker does after the changelog acked
            store.commit_local(None)
        counts = party_history.prior_counts(stores, 0, [third], rules)
        assert counts == {third.event_id: 2}
        # a corrected copy of a case replaces its entry, never counts twice
        party_history.prior_counts(stores, 0, [first.model_copy(update={"event_id": "x"})],
                                   rules)
        history = party_history.history_of(stores.values(), "11010519491231002X")
        assert [entry.case_id for entry in history] == [
            first.case_id, second.case_id, third.case_id]
        assert history[0].event_id == "x"
    finally:
        for store in stores.values():
            store.close()


def test_other_conduct_and_parties_without_identifier_write_nothing(
        tmp_path: Path, rules: ScreeningRules) -> None:
    store = PartitionStore(tmp_path / "case-0", "changelog", 0)
    try:
        fake = penalty(at(2025, 1, 3), parties=[DOCTOR])  # 销售伪劣产品: no repeat rule
        nameless = practice(MARKET, "卫罚〔2025〕9号", 1).model_copy(
            update={"parties": [party("王某", credit_code=None, category="NATURAL_PERSON")]})
        assert party_history.prior_counts({0: store}, 0, [fake, nameless], rules) == {}
        assert store.staged == {}
    finally:
        store.close()
