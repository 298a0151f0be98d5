"""Property-based fuzzing of the view's REST API from its own OpenAPI spec (schemathesis).

Every operation is called with generated parameters and bodies, as a prosecutor and as a
unit user, against a real SQLite store holding fictional cases. The property: no server
error, and every response conforms to the documented schema and status codes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from hub.view.app import create_app
from hub.view.auth import seed_users
from hub.view.settings import ViewSettings
from hub.view.store import Store, UserRow
from tests.support.view_data import MARKET, apply_events, demo_events

# schemathesis parametrizes at collection time, so the app exists at import (its
# fixture-based loader does not work with this pytest); a temporary SQLite file.
_BASE = Path(tempfile.mkdtemp(prefix="liangfa-view-fuzz-"))
_SETTINGS = ViewSettings(
    database_url=f"sqlite:///{_BASE / 'view.sqlite3'}",
    seed_demo_users=True,
    demo_unit_codes=[MARKET],
    bootstrap=None,
)
_STORE = Store(_SETTINGS.database_url)
_STORE.create_all()
seed_users(_STORE, _SETTINGS)
_APP = create_app(_SETTINGS, store=_STORE)
with _STORE.session() as _session:
    apply_events(_session, demo_events(30), _APP.state.view.units)


def _bearer(username: str) -> dict[str, str]:
    with _STORE.session() as session:
        user = session.get(UserRow, username)
        assert user is not None
        token, _ = _APP.state.view.sessions.open(user)
    return {"Authorization": f"Bearer {token}"}


schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.mark.parametrize("username", ["prosecutor", f"unit-{MARKET.lower()}"])
@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_api_never_fails_with_a_server_error(case: schemathesis.Case, username: str) -> None:
    case.call_and_validate(
        headers=_bearer(username),
        checks=[not_a_server_error, response_schema_conformance],
    )
