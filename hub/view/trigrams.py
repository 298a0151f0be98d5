"""Trigram indexes: the case search's way to text *inside* a document number or a name.

A B-tree finds a number or name by its beginning; "2024 第123号" typed for
青罚〔2024〕第123号 is inside it, and without another index the search reads the whole
(key, case) index to find it: linear in the store, about 300 ms a search at a million
cases. A trigram index (every three consecutive characters of each text, pointing at its
rows) finds the rows holding every trigram of the typed text instead, whatever its place.

- **PostgreSQL**: ``pg_trgm``'s GIN operator class on ``number_key`` and ``name_key``. The
  search's ``LIKE '%…%'`` is unchanged; the planner takes the index when it is cheaper,
  and rechecks each row it returns. ``pg_trgm`` ships with PostgreSQL (contrib) and is a
  trusted extension, so a database owner may create it; where it cannot be created (no
  contrib package, a managed server without it) the view logs a warning and searches as
  before, by scans.
- **SQLite**: an FTS5 table per column with the ``trigram`` tokenizer, holding the text
  and its case, kept by triggers on the searched table (so every writer keeps it: the
  view, the bulk loader, a view of the previous version still running). A phrase query
  on it matches the rows containing the text, which is what ``LIKE '%…%'`` asks; each
  match is then looked up in the searched table's (text, case) index, so a row the FTS
  table still holds for a number gone from the store finds nothing.
  A party row has an INTEGER PRIMARY KEY, which its FTS row shares, and a delete takes
  that row. A number has none (and its implicit rowid may change in a VACUUM), and
  finding its FTS row by text costs milliseconds (a phrase query over the trigrams every
  number shares); numbers are only deleted with their case (a case's tombstone), so the
  FTS rows of deleted numbers are left, found by nobody, until a replay rebuilds it.

Texts shorter than three characters have no trigram: those are still found by the scan
(:mod:`hub.view.search`), and so are not put in the FTS tables.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Select, column, select, table, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

__all__ = ["NUMBER_KEYS", "PARTY_NAMES", "TRIGRAM", "TrigramIndex", "create_trigram_indexes",
           "drop_trigram_tables"]

logger = logging.getLogger(__name__)

#: Characters in a trigram: text shorter than this has none to look up.
TRIGRAM = 3


@dataclass(frozen=True, slots=True)
class TrigramIndex:
    """A searched column's trigram index: ``source.text_column`` (with ``case_id``) is
    indexed as the PostgreSQL index ``postgres_index`` or the SQLite FTS5 table
    ``sqlite_table``; ``row_id``: the source's INTEGER PRIMARY KEY, if it has one."""

    source: str
    text_column: str
    postgres_index: str
    sqlite_table: str
    row_id: str | None = None

    def containing(self, session: Session, typed: str) -> Select[str] | None:
        """Ids of the cases whose text contains ``typed``, from the SQLite FTS table; None
        where that table does not answer (PostgreSQL, whose planner takes the index for
        the search's own LIKE; text too short for a trigram; no FTS5 in this SQLite)."""
        if len(typed) < TRIGRAM or session.get_bind().dialect.name != "sqlite":
            return None
        if not _has_table(session, self.sqlite_table):
            return None
        fts = table(self.sqlite_table, column(self.text_column), column("case_id"))
        source = table(self.source, column(self.text_column), column("case_id"))
        # an FTS5 string: the text between double quotes, a quote within it doubled
        phrase = '"' + typed.replace('"', '""') + '"'
        return (select(source.c.case_id)
                .select_from(fts.join(source, (source.c[self.text_column]
                                               == fts.c[self.text_column])
                                      & (source.c.case_id == fts.c.case_id)))
                .where(fts.c[self.text_column].op("MATCH")(phrase)))

    def _create_sqlite(self, connection: Connection) -> None:
        """The FTS table, filled from the rows there, then its triggers.

        The triggers are made last and mark a complete table: SQLite's driver commits
        DDL at once, so a start that died while filling left the table without them,
        and the next start drops it and fills it again (as it does a table of another
        column than the one now searched)."""
        name, source, text_column = self.sqlite_table, self.source, self.text_column
        triggers = self._triggers()
        made = connection.scalar(text(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :source "
            "AND name LIKE :prefix"), {"source": source, "prefix": f"{name}_%"})
        indexed = {row[1] for row in connection.execute(text(f"PRAGMA table_info({name})"))}
        if made == len(triggers) and text_column in indexed:
            return
        started = time.perf_counter()
        self._drop_sqlite(connection)
        connection.execute(text(
            f"CREATE VIRTUAL TABLE {name} USING fts5({text_column}, case_id UNINDEXED, "
            "tokenize = 'trigram')"))
        filled = connection.execute(text(
            f"INSERT INTO {name} ({self._columns()}) SELECT {self._values('')} FROM {source} "  # noqa: S608 - the module's own names
            f"WHERE length({text_column}) >= {TRIGRAM}")).rowcount
        for trigger in triggers:
            connection.execute(text(trigger))
        logger.info("view store: trigram search table %s made for %s row(s) in %.1f s",
                    name, filled, time.perf_counter() - started)

    def _columns(self) -> str:
        """The FTS row's columns, its rowid the source's key where it has one."""
        return f"{'rowid, ' if self.row_id else ''}{self.text_column}, case_id"

    def _values(self, row: str) -> str:
        """What fills :meth:`_columns` from a source row (``row``: ``new.`` in a trigger)."""
        names = [*([self.row_id] if self.row_id else []), self.text_column, "case_id"]
        return ", ".join(row + column_name for column_name in names)

    def _triggers(self) -> list[str]:
        name, source, text_column = self.sqlite_table, self.source, self.text_column
        insert = (f"INSERT INTO {name} ({self._columns()}) SELECT {self._values('new.')} "
                  f"WHERE length(new.{text_column}) >= {TRIGRAM};")
        made = [f"CREATE TRIGGER {name}_insert AFTER INSERT ON {source} BEGIN {insert} END"]
        if self.row_id is None:  # kept, found by nobody (the module's docstring)
            made.append(f"CREATE TRIGGER {name}_update AFTER UPDATE OF {text_column}, case_id "
                        f"ON {source} WHEN new.{text_column} IS NOT old.{text_column} OR "
                        f"new.case_id IS NOT old.case_id BEGIN {insert} END")
            return made
        delete = f"DELETE FROM {name} WHERE rowid = old.{self.row_id};"  # noqa: S608 - as above
        made.append(f"CREATE TRIGGER {name}_delete AFTER DELETE ON {source} BEGIN {delete} END")
        made.append(f"CREATE TRIGGER {name}_update AFTER UPDATE OF {text_column}, case_id, "
                    f"{self.row_id} ON {source} BEGIN {delete} {insert} END")
        return made

    def _drop_sqlite(self, connection: Connection) -> None:
        for trigger in ("insert", "delete", "update"):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {self.sqlite_table}_{trigger}"))
        connection.execute(text(f"DROP TABLE IF EXISTS {self.sqlite_table}"))

    def _create_postgres(self, connection: Connection) -> None:
        """The GIN index, if missing (made in the start's transaction: a minute or so for a
        province's numbers, logged, once)."""
        if connection.scalar(text("SELECT to_regclass(:name)"), {"name": self.postgres_index}):
            return
        started = time.perf_counter()
        connection.execute(text(
            f"CREATE INDEX IF NOT EXISTS {self.postgres_index} ON {self.source} "
            f"USING gin ({self.text_column} gin_trgm_ops)"))
        logger.info("view store: trigram index %s made in %.1f s", self.postgres_index,
                    time.perf_counter() - started)


#: Document and case numbers, by their search key (:func:`hub.view.keys.number_key`).
NUMBER_KEYS = TrigramIndex("view_case_numbers", "number_key",
                           "ix_view_case_numbers_key_trigrams", "view_case_number_trigrams")
#: Parties, by the search key of their name (:func:`hub.view.keys.name_key`).
PARTY_NAMES = TrigramIndex("view_case_parties", "name_key",
                           "ix_view_case_parties_name_trigrams", "view_case_party_trigrams",
                           row_id="id")

_ALL = (NUMBER_KEYS, PARTY_NAMES)


def create_trigram_indexes(connection: Connection) -> bool:
    """Make the trigram indexes a store lacks, in the caller's transaction (the store's
    schema lock held on PostgreSQL); False where this database cannot have them (no
    ``pg_trgm``, an SQLite without FTS5's trigram tokenizer), the search then scanning as
    it did before them. Any other failure (a lock held too long, a full disk) fails the
    start, as failing to make a table does: logging it as "no trigram search" would
    leave a half-made index behind that the search reads."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        try:
            with connection.begin_nested():
                connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                for index in _ALL:
                    index._create_postgres(connection)
        except DBAPIError as exc:  # not installed, not permitted, not on the search path
            # (transactional DDL: the savepoint's rollback leaves nothing half made)
            logger.warning("view store: no trigram search (pg_trgm could not be used: "
                           "%s); text inside numbers and names is found by scans",
                           str(exc).splitlines()[0])
            return False
        return True
    if dialect == "sqlite":
        try:
            connection.execute(text(
                "CREATE VIRTUAL TABLE temp.trigram_probe USING fts5(probe, tokenize = 'trigram')"))
            connection.execute(text("DROP TABLE temp.trigram_probe"))
        except OperationalError as exc:  # no FTS5, or no trigram tokenizer (SQLite < 3.34)
            logger.warning("view store: no trigram search (FTS5 trigram tables cannot be "
                           "made: %s); text inside numbers and names is found by scans", exc)
            return False
        for index in _ALL:
            index._create_sqlite(connection)
        return True
    return False


def drop_trigram_tables(connection: Connection) -> None:
    """Drop SQLite's FTS tables and their triggers, as before the bus tables they index
    are dropped (PostgreSQL's indexes go with their tables)."""
    if connection.dialect.name == "sqlite":
        for index in _ALL:
            index._drop_sqlite(connection)


def _has_table(session: Session, name: str) -> bool:
    """Whether the FTS table ``name`` is complete (its triggers are made last), asked once
    per pooled connection."""
    connection = session.connection()
    known: dict[str, bool] = connection.info.setdefault("trigram_tables", {})
    if name not in known:
        known[name] = bool(connection.scalar(text(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": f"{name}_insert"}))
    return known[name]
