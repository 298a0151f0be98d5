"""The party history store (issue #14, item 4): a party's counted penalties by
identifier in the case partition stores, read across every partition this worker owns."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.identity import case_id_for
from hub.models import Party, PenaltyCaseRecorded
from hub.rules import (
    load_screening,
    load_thresholds,
    load_violation_offences,
    load_violation_types,
)
from streams.engine import party_history
from streams.engine.state import PartitionStore, encode_value
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


def _as_stored(number: str) -> Party:
    """A party of an event stored before x was written X: kept as the export typed it."""
    return Party.from_avro({"name": "王某", "category": "NATURAL_PERSON",
                            "id_type": "RESIDENT_ID", "id_number": number})


def test_one_person_written_with_x_and_with_x_upper_is_one_history(
        tmp_path: Path, rules: ScreeningRules) -> None:
    stores = {0: PartitionStore(tmp_path / "case-0", "changelog", 0)}
    try:
        lower = practice(MARKET, "卫罚〔2025〕1号", 1).model_copy(
            update={"parties": [_as_stored("11010519491231002x")]})
        second = practice(TAX, "卫罚〔2025〕2号", 2)
        third = practice(MARKET, "卫罚〔2025〕3号", 3)
        party_history.prior_counts(stores, 0, [lower], rules)
        party_history.prior_counts(stores, 0, [second], rules)
        # the third penalty of illegal medical practice: two priors, a lead
        assert party_history.prior_counts(stores, 0, [third], rules) == {third.event_id: 2}
    finally:
        stores[0].close()


def test_a_history_stored_under_the_lower_case_spelling_is_found_and_moved(
        tmp_path: Path, rules: ScreeningRules) -> None:
    store = PartitionStore(tmp_path / "case-0", "changelog", 0)
    try:
        old = practice(MARKET, "卫罚〔2024〕1号", 1)
        # as an earlier version wrote it: keyed by the value as typed
        store.put(b"h|11010519491231002x", encode_value([
            {"event_id": old.event_id, "case_id": old.case_id, "unit_code": MARKET,
             "violation_type_code": "HEA-ILLEGAL-MEDICAL-PRACTICE",
             "decided_on": "2024-06-01"}]))
        third = practice(MARKET, "卫罚〔2025〕3号", 3)
        assert party_history.prior_counts({0: store}, 0, [third], rules) == {third.event_id: 1}
        assert store.get(b"h|11010519491231002x") is None
        assert [e.case_id for e in party_history.history_of([store], "11010519491231002X")
                ] == [old.case_id, third.case_id]
    finally:
        store.close()


def test_a_history_stored_under_a_lower_case_passport_number_is_found(
        tmp_path: Path, rules: ScreeningRules) -> None:
    """Not only a resident ID's x: any identifier was keyed as typed before."""
    traveller = Party(name="某外籍人员", category="NATURAL_PERSON",  # type: ignore[arg-type]
                      id_type="PASSPORT", id_number="E12345678")  # type: ignore[arg-type]
    store = PartitionStore(tmp_path / "case-0", "changelog", 0)
    try:
        store.put(b"h|e12345678", encode_value([
            {"event_id": "old", "case_id": "old-case", "unit_code": MARKET,
             "violation_type_code": "HEA-ILLEGAL-MEDICAL-PRACTICE",
             "decided_on": "2024-06-01"}]))
        third = practice(MARKET, "卫罚〔2025〕3号", 3).model_copy(
            update={"parties": [traveller]})
        assert party_history.prior_counts({0: store}, 0, [third], rules) == {third.event_id: 1}
        assert store.get(b"h|e12345678") is None
    finally:
        store.close()
