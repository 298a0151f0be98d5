"""The view store on SQLite and on PostgreSQL (``view_database_url``, ``view_store``).

Each test using either fixture runs twice, ids ``[sqlite]`` and ``[postgres]``; the
PostgreSQL run is marked ``postgres`` and gets a fresh database on the session's server
(``tests.support.postgres``), which is started only when a PostgreSQL run needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.view.store import Store
from tests.support.postgres import fresh_database

__all__ = ["view_database_url", "view_store"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def view_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty view database: a SQLite file in ``tmp_path``, or a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'view.sqlite3'}"
    return fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def view_store(view_database_url: str) -> Iterator[Store]:
    """A view store with its tables created on ``view_database_url``; disposed after."""
    store = Store(view_database_url)
    store.create_all()
    yield store
    store.dispose()
