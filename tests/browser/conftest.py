"""Fixtures shared by browser tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import MARKET, demo_events


@pytest.fixture
def supervision_view(tmp_path: Path, bootstrap: str, registry_url: str,
                     topic_factory: Callable[..., str], group_id: str
                     ) -> Iterator[LiveView]:
    """The demo county's view (its registry has the justice bureau and the supervision
    commission, ``tests.support.supervision_county``) with 12 cases from the real bus:
    what the tests of supervision acts and leads sent from the case page share."""
    with live_view_server(tmp_path, bootstrap=bootstrap, registry_url=registry_url,
                          topics=view_topics(topic_factory), group_id=group_id,
                          events=demo_events(12), demo_unit_codes=[MARKET]) as view:
        yield view
