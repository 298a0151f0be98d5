"""A PostgreSQL-backed view fed a NUL byte through the real broker (issue #11, finding 4).

PostgreSQL refuses NUL in text; the consumer used to retry the same batch forever and
the view stopped for good. Now the text is repaired (U+FFFD), the record noted in
``view_dead_letters``, and the records after it are applied.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.view.app import create_app
from hub.view.context import ViewContext
from hub.view.settings import Topics, ViewSettings
from hub.view.store import CasePartyRow, CaseRow, DeadLetterRow
from tests.support.kafka_io import produce, topic_for, wait_for
from tests.support.postgres import fresh_database
from tests.support.view_data import MARKET, case_spec

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_a_nul_byte_does_not_stop_a_postgres_backed_view(
    postgres_url: str, bootstrap: str, registry_url: str,
    topic_factory: Callable[..., str], group_id: str,
) -> None:
    topics = Topics(
        case_state=topic_factory("view.state", compacted=True),
        case_events=topic_factory("view.events"),
        alerts=topic_factory("view.alerts"),
        stats=topic_factory("view.stats"),
        unmatched=topic_factory("view.unmatched"),
        view_actions=topic_factory("view.actions"),
        audit=topic_factory("view.audit"),
    )
    poisoned, after = case_spec(1), case_spec(2)
    party = poisoned.party.model_copy(update={"name": "演示\u0000公司"})
    events = [
        poisoned.penalty().model_copy(update={"parties": [party]}),
        poisoned.state().model_copy(update={"parties": [party]}),
        after.penalty(),
        after.state(),
    ]
    produce(bootstrap, registry_url, events, topic_for(topics))
    settings = ViewSettings(
        database_url=fresh_database(postgres_url),
        bootstrap=bootstrap,
        registry_url=registry_url,
        topics=topics,
        group_id=group_id,
        demo_unit_codes=[MARKET],
    )
    app = create_app(settings)
    with TestClient(app):
        context: ViewContext = app.state.view

        def applied() -> bool:
            # Both repaired records read (the events and the state topic are consumed at
            # their own pace) and the record after them applied.
            with context.store.session() as session:
                lettered = {letter.topic for letter in
                            session.scalars(select(DeadLetterRow)).all()}
                return (session.get(CaseRow, after.case_id) is not None
                        and lettered >= {topics.case_events, topics.case_state})

        wait_for(applied, timeout=120)
        assert context.bus is not None and context.bus.running
        with context.store.session() as session:
            names = set(session.scalars(
                select(CasePartyRow.name).where(CasePartyRow.case_id == poisoned.case_id)))
            letters = session.scalars(select(DeadLetterRow)).all()
        assert "演示\ufffd公司" in names
        assert not any("\x00" in name for name in names)
        assert {letter.outcome for letter in letters} == {"sanitised"}
        assert {letter.topic for letter in letters} == {topics.case_events, topics.case_state}
