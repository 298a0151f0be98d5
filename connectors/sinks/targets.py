"""Where a sink delivers: the unit's HTTP endpoint, a drop folder or a SQL table.

Each target turns one inbox event into what the unit's system reads and answers with an
:class:`Ack` once the system has it (HTTP 2xx, the file renamed into place, the
transaction committed). Every target deduplicates by the event id, so the redelivery that
follows a crash between the acknowledgement and the offset commit adds nothing:
``Idempotency-Key`` for HTTP, the file name, the primary key.

A transient failure raises :class:`~hub.errors.RetriableError` (the runner retries from the
last committed offset, never skipping); a refusal (HTTP 4xx other than 408/429) raises
:class:`Refused`, which the runner dead-letters with the reason and moves past. 401, 403
and 407 are about the sink's credentials, not the record: retried like a target that is
down, never dead-lettered.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from connectors.kinds.http import dotted
from connectors.sinks.config import FileTargetConfig, HttpTargetConfig, SqlTargetConfig
from hub.errors import RetriableError
from hub.models import DeliveryTargetKind
from hub.spreadsheet import inert_text, make_formulas_inert

__all__ = ["Ack", "FileTarget", "HttpTarget", "InboxItem", "Refused", "SqlTarget", "Target",
           "flat_row", "json_ready", "make_target"]

log = logging.getLogger(__name__)

_BACKOFF_MAX = 30.0
_RETRY_STATUSES = frozenset({408, 429})
_CREDENTIAL_STATUSES = frozenset({401, 403, 407})


@dataclass(frozen=True)
class InboxItem:
    """One decoded inbox event: its id, full Avro type and record (JSON-ready)."""

    event_id: str
    event_type: str
    record: dict[str, Any]

    def document(self) -> dict[str, Any]:
        """What the unit receives: the type beside the record, so one endpoint or table
        takes every kind of act."""
        return {"event_type": self.event_type, **self.record}


@dataclass(frozen=True)
class Ack:
    """The target's acknowledgement: what it answered and where the event is now."""

    kind: DeliveryTargetKind
    target: str
    acknowledgement: str
    receipt_number: str | None = None


class Refused(Exception):
    """The target refused the event for good (HTTP 4xx): dead-lettered, never retried."""

    def __init__(self, reason: str, *, error_type: str, value: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
        self.value = value


class Target(Protocol):
    """One delivery target kind."""

    async def deliver(self, item: InboxItem) -> Ack: ...

    async def aclose(self) -> None: ...


def json_ready(value: Any) -> Any:
    """A decoded Avro value as JSON takes it (datetimes and dates in ISO 8601)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def flat_row(document: dict[str, Any]) -> dict[str, str]:
    """One CSV/XLSX row: scalars as text, nested records and lists as JSON in their cell."""
    row: dict[str, str] = {}
    for key, value in document.items():
        if value is None:
            row[key] = ""
        elif isinstance(value, dict | list):
            row[key] = json.dumps(value, ensure_ascii=False)
        else:
            row[key] = str(value)
    return row


class HttpTarget:
    """POST the event as JSON with ``Idempotency-Key: <event id>``; retry what is transient."""

    def __init__(self, config: HttpTargetConfig) -> None:
        self.config = config
        headers = {**config.headers, "Content-Type": "application/json; charset=utf-8"}
        auth: httpx.Auth | None = None
        if config.auth.bearer_token is not None:
            headers["Authorization"] = f"Bearer {config.auth.bearer_token.get_secret_value()}"
        elif config.auth.username is not None:
            password = config.auth.password.get_secret_value() if config.auth.password else ""
            auth = httpx.BasicAuth(config.auth.username, password)
        context = ssl.create_default_context(
            cafile=str(config.auth.ca_file) if config.auth.ca_file else None)
        if config.auth.cert_file:
            context.load_cert_chain(str(config.auth.cert_file),
                                    str(config.auth.key_file) if config.auth.key_file else None)
        self.client = httpx.AsyncClient(headers=headers, auth=auth, verify=context,
                                        timeout=config.timeout_seconds)

    async def deliver(self, item: InboxItem) -> Ack:
        body = json.dumps(item.document(), ensure_ascii=False).encode("utf-8")
        wait = self.config.retry_backoff_seconds
        problem = ""
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                await asyncio.sleep(wait)
                wait = min(wait * 2, _BACKOFF_MAX)
            try:
                response = await self.client.post(
                    self.config.url, content=body, headers={"Idempotency-Key": item.event_id})
            except httpx.HTTPError as exc:
                problem = f"no answer: {type(exc).__name__}: {exc}"
                continue
            status = response.status_code
            if 200 <= status < 300:
                return Ack(DeliveryTargetKind.HTTP, self.config.url, f"HTTP {status}",
                           self._receipt_number(response))
            if status >= 500 or status in _RETRY_STATUSES:
                problem = f"HTTP {status}: {response.text[:200]}"
                continue
            if status in _CREDENTIAL_STATUSES:
                # Our credentials, not this record: refusing it would dead-letter the
                # whole inbox while a token is renewed. The session backs off instead.
                raise RetriableError(f"{self.config.url} answered HTTP {status} to the sink's "
                                     f"credentials: {response.text[:200]}")
            raise Refused(f"{self.config.url} refused event {item.event_id} with HTTP "
                          f"{status}: {response.text[:500]}",
                          error_type=f"http_{status}", value=f"HTTP {status}")
        raise RetriableError(f"{self.config.url} did not take event {item.event_id} after "
                             f"{self.config.max_retries + 1} tries ({problem})")

    def _receipt_number(self, response: httpx.Response) -> str | None:
        if not self.config.receipt_path:
            return None
        try:
            value = dotted(response.json(), self.config.receipt_path)
        except ValueError:
            return None
        return None if value is None else str(value)

    async def aclose(self) -> None:
        await self.client.aclose()


class FileTarget:
    """One file per event, ``<type>-<event id>.<format>``, written to a dot-name and renamed."""

    def __init__(self, config: FileTargetConfig) -> None:
        self.config = config
        # GBK is written as GB18030 (its superset): a name outside GBK (𠮷) still fits.
        self.encoding = "gb18030" if config.encoding == "gbk" else config.encoding
        config.path.mkdir(parents=True, exist_ok=True)

    def file_name(self, item: InboxItem) -> str:
        """Named after the event: the same event always lands under the same name."""
        return f"{item.event_type.rsplit('.', 1)[-1]}-{item.event_id}.{self.config.format}"

    async def deliver(self, item: InboxItem) -> Ack:
        return await asyncio.to_thread(self._deliver, item)

    def _deliver(self, item: InboxItem) -> Ack:
        name = self.file_name(item)
        final = self.config.path / name
        archived = self.config.archive is not None and (self.config.archive / name).exists()
        if final.exists() or archived:
            return Ack(DeliveryTargetKind.FILE, name, "file already present")
        temporary = self.config.path / f".{name}.{os.getpid()}.tmp"
        data = self._render(item.document())
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(final)
        directory = os.open(self.config.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return Ack(DeliveryTargetKind.FILE, name, "file renamed into place")

    def _render(self, document: dict[str, Any]) -> bytes:
        if self.config.format == "json":
            return json.dumps(document, ensure_ascii=False, indent=1).encode(self.encoding)
        row = flat_row(document)
        if self.config.format == "csv":
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            cell = inert_text if self.config.formulas_as_text else _unchanged
            writer.writerow(cell(name) for name in row)
            writer.writerow(cell(value) for value in row.values())
            return text.getvalue().encode(self.encoding)
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None  # a new workbook always has one sheet
        sheet.append(list(row))
        sheet.append(list(row.values()))
        make_formulas_inert(cell for cells in sheet.iter_rows() for cell in cells)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    async def aclose(self) -> None:
        return None


def _unchanged(value: Any) -> Any:
    return value


class SqlTarget:
    """One row per event, the event id its primary key; a second insert of it is ignored."""

    def __init__(self, config: SqlTargetConfig) -> None:
        from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, create_engine

        self.config = config
        self.engine = create_engine(config.url.get_secret_value())
        self.metadata = MetaData()
        self.table = Table(config.table, self.metadata,
                           Column("event_id", String(64), primary_key=True),
                           Column("event_type", String(200), nullable=False),
                           Column("case_id", String(64), nullable=False),
                           Column("occurred_at", String(40)),
                           Column("payload", Text, nullable=False),
                           Column("delivered_at", DateTime(timezone=True), nullable=False))
        if config.create_table:
            self.metadata.create_all(self.engine)

    async def deliver(self, item: InboxItem) -> Ack:
        return await asyncio.to_thread(self._deliver, item)

    def _deliver(self, item: InboxItem) -> Ack:
        from sqlalchemy import exc, insert

        values = {"event_id": item.event_id, "event_type": item.event_type,
                  "case_id": str(item.record.get("case_id", "")),
                  "occurred_at": str(item.record.get("occurred_at", "")),
                  "payload": json.dumps(item.document(), ensure_ascii=False),
                  "delivered_at": datetime.now(UTC)}
        dialect = self.engine.dialect.name
        try:
            with self.engine.begin() as connection:
                if dialect in ("sqlite", "postgresql"):
                    module = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
                    statement = module.insert(self.table).values(values)
                    result = connection.execute(statement.on_conflict_do_nothing(
                        index_elements=["event_id"]))
                    inserted = result.rowcount == 1
                else:
                    connection.execute(insert(self.table).values(values))
                    inserted = True
        except exc.IntegrityError:
            inserted = False  # the primary key is there: delivered before a crash
        except exc.SQLAlchemyError as error:
            raise RetriableError(f"table {self.config.table}: {error}") from error
        return Ack(DeliveryTargetKind.SQL, self.config.table,
                   "transaction committed" if inserted else "row already present")

    async def aclose(self) -> None:
        await asyncio.to_thread(self.engine.dispose)


def make_target(kind: str, config: Any) -> Target:
    """The target of a sink config's kind."""
    if kind == "http":
        return HttpTarget(config)
    if kind == "file":
        return FileTarget(config)
    return SqlTarget(config)
