"""Columns added to the view's bus tables after a store was first created.

``create_all`` makes missing tables, never missing columns, and the store has no
migration tool: a view upgraded in place would fail on its first search for a column
its tables lack. Replaying every topic (``liangfa view replay``) would rebuild them, but
at a province's size that is an hour of an empty view; what a new column holds can be
computed from the rows already there, so it is added and filled here, at start, in one
transaction (a start that dies half-way leaves the old table, and the next start does
it again).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Connection, bindparam, inspect, select, text, update

from hub.view.keys import number_key
from hub.view.store import BusBase, CaseNumberRow

__all__ = ["upgrade_bus_tables"]

logger = logging.getLogger(__name__)

#: Distinct numbers keyed per round trip while filling ``number_key``.
_BATCH = 5_000


def upgrade_bus_tables(connection: Connection) -> None:
    """Bring bus tables made by an older version up to the current columns, in the
    caller's transaction (:meth:`hub.view.store.Store.create_all`)."""
    columns = {column["name"] for column in
               inspect(connection).get_columns(CaseNumberRow.__tablename__)}
    if "number_key" not in columns:
        _add_number_keys(connection)


def _add_number_keys(connection: Connection) -> None:
    """Add ``view_case_numbers.number_key``, fill it from ``number`` and index it.

    Numbers are read in primary-key order from where the last batch ended (no rescans),
    and each is updated through the primary key, whose first column is the number."""
    started = time.perf_counter()
    table = BusBase.metadata.tables[CaseNumberRow.__tablename__]
    connection.execute(text(f"ALTER TABLE {table.name} "
                            "ADD COLUMN number_key VARCHAR(200) DEFAULT '' NOT NULL"))
    last, keyed = "", 0
    while True:
        numbers = list(connection.scalars(
            select(CaseNumberRow.number).where(CaseNumberRow.number > last).distinct()
            .order_by(CaseNumberRow.number).limit(_BATCH)))
        if not numbers:
            break
        connection.execute(
            update(table).where(table.c.number == bindparam("old_number"))
            .values(number_key=bindparam("new_key")),
            [{"old_number": number, "new_key": number_key(number)} for number in numbers])
        keyed += len(numbers)
        last = numbers[-1]
    for index in table.indexes:
        if index.name == "ix_view_case_numbers_key":
            index.create(connection, checkfirst=True)
    logger.info("view store upgraded: %s number(s) keyed for search in %.1f s", keyed,
                time.perf_counter() - started)

