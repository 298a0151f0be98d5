"""SQL kind: incremental reads by a high-water mark plus a tie-breaker, any SQLAlchemy URL.

Each batch asks for rows strictly after the last (watermark, tie-breaker) pair, ordered by
both, so rows sharing a timestamp are neither skipped nor repeated. The checkpoint keeps
the pair with its type (timestamps, integers and text survive the JSON round trip).

Known limit of any high-water mark: a row committed *later* with a watermark *lower* than
one already read (a long transaction) is missed. Sources should use a watermark assigned
at commit (an outbox table with a sequence read after commit) or a small safety lag.
A row re-emitted with a newer watermark but the same content yields the same event id,
which downstream deduplication removes.

``payload_column`` (outbox tables) holds a JSON object whose keys become columns.

A cell the database driver cannot decode as text (bytes that are not the encoding the
column declares: SQLite stores what it is given) fails the whole batch's query. The
batch is then read again row by row, and a row that fails is read cell by cell: it is
dead-lettered naming its tie-breaker value and the column, and the reading goes on past
it. Before, the failure was taken for an outage and the same query retried for ever.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from connectors.checkpoint import Checkpoint
from connectors.config import SqlSourceConfig
from connectors.source import Source, SourceRecord
from hub.errors import RecordRejected, RetriableError

__all__ = ["SqlSource", "decode_mark", "encode_mark"]

log = logging.getLogger(__name__)
#: How often the rows without a watermark are counted (a scan of the unit's table).
_UNPLACED_EVERY_S = 600.0


def encode_mark(value: Any) -> dict[str, Any] | None:
    """A watermark or tie-breaker value as JSON with its type."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, bool | int):
        return {"type": "int", "value": int(value)}
    if isinstance(value, Decimal | float):
        return {"type": "decimal", "value": str(value)}
    return {"type": "text", "value": str(value)}


def decode_mark(mark: dict[str, Any] | None) -> Any:
    """The bind value of a stored watermark."""
    if mark is None:
        return None
    kind, value = mark["type"], mark["value"]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "int":
        return int(value)
    if kind == "decimal":
        return Decimal(value)
    return str(value)


def _quote(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def _undecodable(exc: BaseException) -> bool:
    """Whether a driver error is a cell it could not decode as text (not an outage):
    sqlite3 says "Could not decode to UTF-8 column ..."; drivers that decode in Python
    raise a UnicodeDecodeError, which SQLAlchemy wraps."""
    original = getattr(exc, "orig", None)
    return (isinstance(original, UnicodeDecodeError)
            or isinstance(exc.__cause__, UnicodeDecodeError)
            or "could not decode" in str(original if original is not None else exc).lower())


@dataclass(frozen=True)
class _UndecodableRow:
    """A row with cells the driver cannot decode: its readable cells, and the columns
    that are not."""

    cells: dict[str, Any]
    columns: tuple[str, ...]


class SqlSource(Source):
    """Reads a table or view incrementally; blocking DB calls run in a worker thread."""

    def __init__(self, config: SqlSourceConfig) -> None:
        self.config = config
        self._engine: Engine | None = None
        columns = ", ".join(_quote(c) for c in config.columns) if config.columns else "*"
        watermark = _quote(config.watermark_column)
        tie = _quote(config.tie_breaker_column)
        where = f"({config.where})" if config.where else "1 = 1"
        # A row without a watermark or tie-breaker has no place in the order the source
        # is read in: taken, it would send the next query back to the start for ever (a
        # NULL compares as nothing). Such rows are counted and named in a warning.
        placed = f"{watermark} IS NOT NULL AND {tie} IS NOT NULL"
        self._unplaced = text(
            f"SELECT count(*) FROM {_quote(config.table)} WHERE {where} "  # noqa: S608
            f"AND NOT ({placed})")
        self._unplaced_seen = 0
        self._unplaced_checked = -_UNPLACED_EVERY_S
        where = f"{where} AND {placed}"
        base = f"SELECT {columns} FROM {_quote(config.table)} WHERE {where}"  # noqa: S608
        self._first = text(f"{base} ORDER BY {watermark}, {tie} LIMIT :limit")
        self._after = text(
            f"{base} AND ({watermark} > :mark OR ({watermark} = :mark AND {tie} > :tie)) "
            f"ORDER BY {watermark}, {tie} LIMIT :limit")
        self._first_keys = text(
            f"SELECT {watermark}, {tie} FROM {_quote(config.table)} "  # noqa: S608
            f"WHERE {where} AND {placed} ORDER BY {watermark}, {tie} LIMIT :limit")
        self._after_keys = text(
            f"SELECT {watermark}, {tie} FROM {_quote(config.table)} "  # noqa: S608
            f"WHERE {where} AND {placed} AND ({watermark} > :mark OR ({watermark} = :mark "
            f"AND {tie} > :tie)) ORDER BY {watermark}, {tie} LIMIT :limit")
        self._one_row = text(f"{base} AND {watermark} = :mark AND {tie} = :tie")
        self._row_of = f"FROM {_quote(config.table)} WHERE {where} AND {placed} AND " \
            f"{watermark} = :mark AND {tie} = :tie"
        self._count = text(
            f"SELECT count(*) FROM {_quote(config.table)} WHERE {where} AND "  # noqa: S608
            f"({watermark} > :mark OR ({watermark} = :mark AND {tie} > :tie))")

    def _engine_or_new(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.config.url.get_secret_value(),
                                         pool_pre_ping=True)
        return self._engine

    def _fetch(self, mark: Any, tie: Any, *, poll_start: bool = False
               ) -> list[dict[str, Any] | _UndecodableRow]:
        try:
            with self._engine_or_new().connect() as connection:
                if poll_start:
                    self._warn_unplaced(connection)
                if mark is None:
                    result = connection.execute(self._first, {"limit": self.config.batch_size})
                else:
                    result = connection.execute(self._after, {"mark": mark, "tie": tie,
                                                              "limit": self.config.batch_size})
                try:
                    return [dict(row._mapping) for row in result]
                except (OperationalError, DBAPIError) as exc:
                    if not _undecodable(exc):
                        raise
                    connection.rollback()
                    log.warning("%s: a cell after %r could not be decoded; reading the "
                                "batch row by row", self.config.table, tie)
                    return self._fetch_row_by_row(connection, mark, tie)
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, DBAPIError) and not exc.connection_invalidated \
                    and not isinstance(exc, OperationalError):
                raise
            raise RetriableError(f"database unavailable: {exc}") from exc

    def _fetch_row_by_row(self, connection: Any, mark: Any, tie: Any
                          ) -> list[dict[str, Any] | _UndecodableRow]:
        """The batch after (``mark``, ``tie``) read one row at a time; a row the driver
        cannot decode is read one cell at a time, to name its columns."""
        params = ({"limit": self.config.batch_size} if mark is None else
                  {"mark": mark, "tie": tie, "limit": self.config.batch_size})
        # a tie-breaker that is not unique repeats a key: its rows are read once
        keys = list(dict.fromkeys(tuple(key) for key in connection.execute(
            self._first_keys if mark is None else self._after_keys, params).all()))
        rows: list[dict[str, Any] | _UndecodableRow] = []
        for key_mark, key_tie in keys:
            where = {"mark": key_mark, "tie": key_tie}
            try:
                # all (a tie-breaker that is not unique), or none (deleted meanwhile)
                rows += [dict(row._mapping)
                         for row in connection.execute(self._one_row, where).all()]
                continue
            except (OperationalError, DBAPIError) as exc:
                if not _undecodable(exc):
                    raise
                connection.rollback()
            cells: dict[str, Any] = {self.config.watermark_column: key_mark,
                                     self.config.tie_breaker_column: key_tie}
            bad: list[str] = []
            for column in self._column_names(connection):
                try:
                    cells[column] = connection.execute(
                        text(f"SELECT {_quote(column)} {self._row_of}"),
                        where).scalar()
                except (OperationalError, DBAPIError) as exc:
                    if not _undecodable(exc):
                        raise
                    connection.rollback()
                    bad.append(column)
            rows.append(_UndecodableRow(cells, tuple(bad)))
        return rows

    def _column_names(self, connection: Any) -> list[str]:
        """The columns a row is read with (the configured ones, or the table's)."""
        if self.config.columns:
            return list(self.config.columns)
        result = connection.execute(text(
            f"SELECT * FROM {_quote(self.config.table)} WHERE 1 = 0"))  # noqa: S608
        return list(result.keys())

    def _warn_unplaced(self, connection: Any) -> None:
        """Warn (when their number changes) of rows no watermark places, never read;
        counted every :data:`_UNPLACED_EVERY_S` at most (no index serves the count)."""
        if time.monotonic() - self._unplaced_checked < _UNPLACED_EVERY_S:
            return
        self._unplaced_checked = time.monotonic()
        unplaced = int(connection.execute(self._unplaced).scalar_one())
        if unplaced != self._unplaced_seen:
            self._unplaced_seen = unplaced
            if unplaced:
                log.warning("%s: %d rows have no %s or %s and are not read: fill them in the "
                            "source system", self.config.table, unplaced,
                            self.config.watermark_column, self.config.tie_breaker_column)

    async def read(self, since: Checkpoint | None) -> AsyncIterator[SourceRecord]:
        position = since.position if since else {}
        mark = decode_mark(position.get("watermark"))
        tie = decode_mark(position.get("tie"))
        count = int(position.get("count") or 0)
        watermark_column = self.config.watermark_column
        tie_column = self.config.tie_breaker_column
        poll_start = True
        while True:
            rows = await asyncio.to_thread(self._fetch, mark, tie, poll_start=poll_start)
            poll_start = False
            for row in rows:
                cells = row.cells if isinstance(row, _UndecodableRow) else row
                mark, tie = cells[watermark_column], cells[tie_column]
                count += 1
                reference = f"{self.config.table}#{tie_column}={tie}"
                record_position = {"watermark": encode_mark(mark), "tie": encode_mark(tie),
                                   "count": count}
                location = {"source.table": self.config.table, "source.cursor": str(tie)}
                if isinstance(row, _UndecodableRow):
                    yield SourceRecord(None, _undecodable_raw(row), record_position,
                                       reference, location, RecordRejected(
                                           f"{', '.join(row.columns) or 'a cell'} could not "
                                           "be decoded as text (bytes that are not the "
                                           "column's encoding): fix the cell in the source",
                                           field=row.columns[0] if row.columns else None,
                                           error_type="undecodable"))
                    continue
                problem: Exception | None = None
                raw = b""
                try:
                    raw = json.dumps(row, ensure_ascii=False, default=_json_default
                                     ).encode("utf-8", "backslashreplace")
                    if self.config.payload_column:
                        row = _with_payload(row, self.config.payload_column)
                except RecordRejected as exc:
                    problem = exc
                except RecursionError:  # a payload nested deeper than Python can follow
                    raw = raw or _raw_cells(row)
                    problem = RecordRejected(
                        "record nested too deeply to flatten",
                        field=self.config.payload_column or "record",
                        error_type="too_deeply_nested")
                yield SourceRecord(None if problem else row, raw, record_position, reference,
                                   location, problem)
            if len(rows) < self.config.batch_size:
                return

    async def lag(self, position: dict[str, Any] | None) -> float | None:
        """Rows in the source after the checkpoint."""
        position = position or {}
        mark = decode_mark(position.get("watermark"))
        if mark is None:
            return None

        def count() -> float:
            with self._engine_or_new().connect() as connection:
                return float(connection.execute(self._count, {
                    "mark": mark, "tie": decode_mark(position.get("tie"))}).scalar_one())

        return await asyncio.to_thread(count)

    async def aclose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _undecodable_raw(row: _UndecodableRow) -> bytes:
    """What the dead letter of an undecodable row carries: its readable cells, and the
    columns that could not be read."""
    return json.dumps({**row.cells, **dict.fromkeys(row.columns),
                       "_undecodable_columns": list(row.columns)},
                      ensure_ascii=False, default=_json_default
                      ).encode("utf-8", "backslashreplace")


def _raw_cells(row: dict[str, Any]) -> bytes:
    """A row that JSON cannot write (nested too deep) as its cells' texts, cut."""
    return "\n".join(f"{key}={str(value)[:65536]}" if isinstance(value, str | bytes)
                     else f"{key}=<{type(value).__name__}>"
                     for key, value in row.items()).encode("utf-8", "backslashreplace")


def _with_payload(row: dict[str, Any], column: str) -> dict[str, Any]:
    payload = row.get(column)
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise RecordRejected(f"{column} is not JSON: {exc}", field=column,
                                 value=str(payload)[:200], error_type="bad_payload") from exc
    if not isinstance(payload, dict):
        raise RecordRejected(f"{column} is not a JSON object", field=column,
                             value=str(payload)[:200], error_type="bad_payload")
    merged = {k: v for k, v in row.items() if k != column}
    _flatten(payload, f"{column}.", merged)
    return merged


def _flatten(value: dict[str, Any], prefix: str, into: dict[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, dict):
            _flatten(item, f"{prefix}{key}.", into)
        elif isinstance(item, list):
            into[f"{prefix}{key}"] = ";".join(str(i) for i in item)
        else:
            into[f"{prefix}{key}"] = item
