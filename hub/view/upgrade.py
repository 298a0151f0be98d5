"""Columns added to the view's bus tables after a store was first created.

``create_all`` makes missing tables, never missing columns, and the store has no
migration tool: a view upgraded in place would fail on its first search for a column
its tables lack. Replaying every topic (``liangfa view replay``) would rebuild them, but
at a province's size that is an hour of an empty view; what a new column holds can be
computed from the rows already there, so it is added and filled here, at start (and
whatever a start left unkeyed, the next one keys: see :func:`upgrade_bus_tables`).
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import Connection, bindparam, inspect, select, text, update

from hub.view.keys import number_key
from hub.view.store import BusBase, CaseNumberRow
from hub.view.trigrams import create_trigram_indexes

__all__ = ["upgrade_bus_tables"]

logger = logging.getLogger(__name__)

#: Distinct numbers keyed per round trip while filling ``number_key``.
_BATCH = 5_000


def upgrade_bus_tables(connection: Connection) -> None:
    """Bring bus tables made by an older version up to the current columns, in the
    caller's transaction (:meth:`hub.view.store.Store.create_all`).

    Every start keys the numbers that have no key yet and makes the key's index if it
    is missing, not only the start that adds the column: SQLite (Python's driver) commits
    an ALTER TABLE at once, so a start that died while keying left the column with empty
    keys and no index; and a view of the previous version still running while this one
    starts writes numbers without a key. Both are found by the key's index (or, once, by
    a scan where the index is missing) and keyed here. Then the trigram indexes of
    :mod:`hub.view.trigrams` are made if missing (filled from the keyed numbers).
    """
    table = BusBase.metadata.tables[CaseNumberRow.__tablename__]
    columns = {column["name"] for column in inspect(connection).get_columns(table.name)}
    started = time.perf_counter()
    if "number_key" not in columns:
        connection.execute(text(f"ALTER TABLE {table.name} "
                                "ADD COLUMN number_key VARCHAR(200) DEFAULT '' NOT NULL"))
    keyed = _key_numbers(connection)
    for index in table.indexes:
        if index.name == "ix_view_case_numbers_key":
            index.create(connection, checkfirst=True)
    create_trigram_indexes(connection)
    if keyed:
        logger.info("view store upgraded: %s number(s) keyed for search in %.1f s", keyed,
                    time.perf_counter() - started)


def _key_numbers(connection: Connection) -> int:
    """Fill ``view_case_numbers.number_key`` where it is empty; the numbers keyed.

    Numbers are read in order from where the last batch ended (no rescans), and each is
    updated through the primary key, whose first column is the number. A number whose
    key is empty (brackets only) is read again at each start: harmless, and rare."""
    table = BusBase.metadata.tables[CaseNumberRow.__tablename__]
    last, keyed = "", 0
    while True:
        numbers = list(connection.scalars(
            select(CaseNumberRow.number)
            .where(CaseNumberRow.number_key == "", CaseNumberRow.number > last).distinct()
            .order_by(CaseNumberRow.number).limit(_BATCH)))
        if not numbers:
            return keyed
        connection.execute(
            update(table).where(table.c.number == bindparam("old_number"))
            .values(number_key=bindparam("new_key")),
            [{"old_number": number, "new_key": number_key(number)} for number in numbers])
        keyed += len(numbers)
        last = numbers[-1]
