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
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Table, bindparam, inspect, select, text, update

from hub.view.keys import name_key, number_key
from hub.view.store import BusBase, CaseNumberRow, CasePartyRow
from hub.view.trigrams import create_trigram_indexes

__all__ = ["upgrade_bus_tables"]

logger = logging.getLogger(__name__)

#: Rows keyed per round trip while filling a key column.
_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class _SearchKey:
    """A search key column computed from another column of its table: ``key`` from
    ``source`` by ``compute``, with its index ``index`` (key, case); rows are found for
    keying by ``row``, the first column of the table's primary key."""

    table: str
    row: str
    source: str
    key: str
    length: int
    index: str
    compute: Callable[[str | None], str]


_KEYS = (
    _SearchKey(CaseNumberRow.__tablename__, "number", "number", "number_key", 200,
               "ix_view_case_numbers_key", number_key),
    _SearchKey(CasePartyRow.__tablename__, "id", "name", "name_key", 300,
               "ix_view_case_parties_name_key", name_key),
)

#: Indexes no search uses any more (party names are searched by their key).
_RETIRED_INDEXES = ("ix_view_case_parties_name",)


def upgrade_bus_tables(connection: Connection) -> None:
    """Bring bus tables made by an older version up to the current columns, in the
    caller's transaction (:meth:`hub.view.store.Store.create_all`).

    Every start keys the rows that have no key yet and makes the key's index if it is
    missing, not only the start that adds the column: SQLite (Python's driver) commits
    an ALTER TABLE at once, so a start that died while keying left the column with empty
    keys and no index; and a view of the previous version still running while this one
    starts writes rows without a key. Both are found by the key's index (or, once, by a
    scan where the index is missing) and keyed here. Then the trigram indexes of
    :mod:`hub.view.trigrams` are made if missing (filled from the keys).
    """
    for search_key in _KEYS:
        _upgrade_key(connection, search_key)
    for retired in _RETIRED_INDEXES:
        connection.execute(text(f"DROP INDEX IF EXISTS {retired}"))
    create_trigram_indexes(connection)


def _upgrade_key(connection: Connection, search_key: _SearchKey) -> None:
    table = BusBase.metadata.tables[search_key.table]
    columns = {column["name"] for column in inspect(connection).get_columns(table.name)}
    started = time.perf_counter()
    if search_key.key not in columns:
        connection.execute(text(
            f"ALTER TABLE {table.name} ADD COLUMN {search_key.key} "
            f"VARCHAR({search_key.length}) DEFAULT '' NOT NULL"))
    keyed = _fill_key(connection, table, search_key)
    for index in table.indexes:
        if index.name == search_key.index:
            index.create(connection, checkfirst=True)
    if keyed:
        logger.info("view store upgraded: %s %s value(s) keyed for search in %.1f s", keyed,
                    search_key.source, time.perf_counter() - started)


def _fill_key(connection: Connection, table: Table, search_key: _SearchKey) -> int:
    """Fill the key where it is empty; the rows (numbers: the distinct numbers) keyed.

    Rows are read in primary key order from where the last batch ended (no rescans), and
    updated through it. A row whose key is empty (brackets only, a name of spaces) is read
    again at each start: harmless, and rare."""
    row, source, key = (table.c[search_key.row], table.c[search_key.source],
                        table.c[search_key.key])
    last: object = None
    keyed = 0
    while True:
        query = select(row, source).where(key == "").distinct().order_by(row).limit(_BATCH)
        if last is not None:
            query = query.where(row > last)
        found = connection.execute(query).all()
        if not found:
            return keyed
        connection.execute(
            update(table).where(row == bindparam("row_value"), key == "")
            .values({key: bindparam("new_key")}),
            [{"row_value": row_value, "new_key": search_key.compute(value)}
             for row_value, value in found])
        keyed += len(found)
        last = found[-1][0]
