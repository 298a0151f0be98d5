"""An agency's open case (立案登记, 在办) in the real view store: its stage and amount.

Before, such a case showed stage 未知 and "—" for its amount: the case state had no stage
for it, and the view read amounts from penalty records only. Early intervention (提前介入)
is about exactly these cases, so a prosecutor must find them by stage, type and amount.
"""

from __future__ import annotations

from hub.models import CaseEvent
from hub.view.queries import Scope
from hub.view.search import CaseFilters, search_cases
from hub.view.store import CaseRow, Store
from hub.view.units import UnitDirectory
from streams.aggregate_logic import fold
from tests.support.view_data import apply_events
from tests.unit.data.case_events import (
    HUB_UNIT,
    MARKET,
    OPEN_CASE,
    TOBACCO,
    at,
    opened,
    penalty,
)

YUAN = 100
NOW = at(2026, 1, 1)


def _feed(store: Store, events: list[CaseEvent]) -> CaseRow:
    """Each event, then the case state the aggregate makes of all of them, as the
    streams would publish it."""
    state = fold(events).to_case_state(hub_unit_code=HUB_UNIT, now=NOW)
    with store.session() as session:
        apply_events(session, [*events, state], UnitDirectory())
        session.commit()
    with store.session() as session:
        row = session.get(CaseRow, OPEN_CASE)
        assert row is not None
        session.expunge(row)
        return row


def test_an_open_case_shows_its_stage_and_the_amount_found_so_far(
        view_store: Store) -> None:
    row = _feed(view_store, [opened(at(2025, 3, 3), turnover_fen=80_000 * YUAN,
                                   gains_fen=12_000 * YUAN)])
    assert row.stage == "OPENED"
    assert row.amount_fen == 80_000 * YUAN
    assert row.violation_type == "销售伪劣产品"
    with view_store.session() as session:
        for scope in (Scope(), Scope(unit_code=MARKET)):
            page = search_cases(session, CaseFilters(stage="OPENED",
                                                     amount_min_fen=50_000 * YUAN), scope)
            assert [case.case_id for case in page.items] == [OPEN_CASE]
        elsewhere = search_cases(session, CaseFilters(stage="OPENED"),
                                 Scope(unit_code=TOBACCO))
        assert elsewhere.items == []


def test_the_latest_copy_of_the_register_gives_the_amount(view_store: Store) -> None:
    first = opened(at(2025, 3, 3), turnover_fen=30_000 * YUAN)
    later = opened(at(2025, 3, 3), turnover_fen=90_000 * YUAN)
    assert _feed(view_store, [first, later]).amount_fen == 90_000 * YUAN


def test_the_penalty_decided_on_the_case_keeps_its_details(view_store: Store) -> None:
    """A register exported again after the decision must not take the amount back to
    what was found during the investigation."""
    decided = penalty(at(2025, 6, 2), case_id=OPEN_CASE, turnover_fen=150_000 * YUAN)
    early = opened(at(2025, 3, 3), turnover_fen=30_000 * YUAN)
    row = _feed(view_store, [early, decided, opened(at(2025, 3, 3), turnover_fen=40_000 * YUAN)])
    assert row.stage == "RECORDED"
    assert row.amount_fen == 150_000 * YUAN
    assert row.title == decided.violation_facts


def test_a_decision_on_another_case_does_not_freeze_this_ones_register(view_store: Store) -> None:
    """The decided-case check is this case's own: with another case's penalty in the
    store, a later copy of the register still updates the open case."""
    other = penalty(at(2025, 2, 3), turnover_fen=10_000 * YUAN)
    with view_store.session() as session:
        apply_events(session, [other], UnitDirectory())
        session.commit()
    row = _feed(view_store, [opened(at(2025, 3, 3), turnover_fen=30_000 * YUAN),
                             opened(at(2025, 3, 3), turnover_fen=90_000 * YUAN)])
    assert row.amount_fen == 90_000 * YUAN
