"""涉案金额 is the conduct's money, never the fine (issue #14, item 4), in the real view store."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from hub.models import Quantity
from hub.view.app import create_app
from hub.view.settings import ViewSettings
from hub.view.store import CaseRow
from tests.support.view_data import MARKET, POLICE, apply_events
from tests.unit.data.case_events import at, penalty

YUAN = 100


def _amount(tmp_path: Path, **figures: int | None) -> int:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=False, demo_unit_codes=[MARKET, POLICE],
                            bootstrap=None)
    app = create_app(settings)
    event = penalty(at(2025, 1, 6, 10), code="ENV-HAZARDOUS-WASTE", domain="environment",
                    quantities=[Quantity(name="危险废物", value="2.634", unit="吨")],
                    turnover_fen=figures.get("turnover"))
    event = event.model_copy(update={"fine_amount_fen": 72_000 * YUAN,
                                     "confiscation_amount_fen": figures.get("confiscated")})
    with TestClient(app):
        context = app.state.view
        with context.store.session() as session:
            apply_events(session, [event], context.units)
            row = session.get(CaseRow, event.case_id)
            assert row is not None
            return int(row.amount_fen)


def test_the_fine_is_not_the_amount_involved(tmp_path: Path) -> None:
    assert _amount(tmp_path) == 0  # a case measured in tonnes: ¥72,000 fine, no amount


def test_turnover_and_confiscation_are(tmp_path: Path) -> None:
    assert _amount(tmp_path, turnover=30_000 * YUAN, confiscated=45_000 * YUAN) == 45_000 * YUAN
