"""Trends and scorecards end at the latest month with figures when the bus holds only
older ones: a backfill of last year's exports shows last year, not twelve empty months."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.view import queries
from hub.view.store import Store, UnitStatsRow

NOW = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
MARKET = "11429901030089405N"
TOBACCO = "11429901030247784L"


def _stats(store: Store, *rows: tuple[str, str, int]) -> None:
    with store.session() as session:
        for unit, month, entered in rows:
            session.add(UnitStatsRow(unit_code=unit, month=month, penalty_cases_entered=entered,
                                     updated_at=NOW))
        session.commit()


def test_trend_ends_at_the_latest_month_with_figures(view_store: Store) -> None:
    _stats(view_store, (MARKET, "2025-11", 4), (MARKET, "2025-12", 7), (TOBACCO, "2024-06", 1))
    with view_store.session() as session:
        assert queries.trend_end_month(session, now=NOW) == "2025-12"
        assert queries.trend_end_month(session, TOBACCO, now=NOW) == "2024-06"
        board = queries.dashboard(session, queries.Scope(unit_code=None), now=NOW)
    assert board.trend[-1].month == "2025-12"
    assert board.trend[-1].penalty_cases_entered == 7


def test_trend_ends_this_month_when_figures_are_current_or_absent(view_store: Store) -> None:
    with view_store.session() as session:
        assert queries.trend_end_month(session, now=NOW) == "2026-11"
    _stats(view_store, (MARKET, "2026-11", 2), (MARKET, "2025-01", 3))
    with view_store.session() as session:
        assert queries.trend_end_month(session, now=NOW) == "2026-11"
