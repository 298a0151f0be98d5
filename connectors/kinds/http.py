"""HTTP kind: polls an agency API with httpx (pages, offsets or cursors; since-timestamps).

A pass walks the pages from the checkpoint; every record's position is the page it came
from plus its index, so a restart refetches that page and skips what was handled. At the
end of a pass, a ``since_field`` API restarts from page one asking only for records after
the newest timestamp seen; an API without one resumes at its last page and index, which
is how an append-only feed is followed.

Failures at this boundary are the hub's: connection errors, 5xx and 429 (honouring
``Retry-After``) are retried with backoff, then raised as
:class:`~hub.errors.RetriableError`; other 4xx answers are :class:`~hub.errors.FatalError`
(a wrong URL or credentials will not fix themselves).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.checkpoint import Checkpoint
from connectors.config import HttpSourceConfig
from connectors.source import Source, SourceRecord
from hub.errors import FatalError, RetriableError

__all__ = ["HttpSource", "dotted", "flatten_record"]

log = logging.getLogger(__name__)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 120.0


def dotted(data: Any, path: str) -> Any:
    """Value at a simple dotted path (``data.items``, ``result.0.rows``); ``None`` if absent."""
    current = data
    for part in path.split(".") if path else ():
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _retry_after(response: httpx.Response, fallback: float) -> float:
    header = response.headers.get("Retry-After")
    if not header:
        return fallback
    try:
        return min(float(header), _MAX_RETRY_AFTER)
    except ValueError:
        try:
            delay = parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError):
            return fallback
        return min(max(delay, 0.0), _MAX_RETRY_AFTER)


class HttpSource(Source):
    """Polls one endpoint; the client is built once per session."""

    def __init__(self, config: HttpSourceConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None
        self._last_request = 0.0

    def _make_client(self) -> httpx.AsyncClient:
        auth_config = self.config.auth
        headers = dict(self.config.headers)
        auth: httpx.Auth | None = None
        if auth_config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {auth_config.bearer_token.get_secret_value()}"
        elif auth_config.username is not None:
            password = auth_config.password.get_secret_value() if auth_config.password else ""
            auth = httpx.BasicAuth(auth_config.username, password)
        verify: ssl.SSLContext | bool = True
        if auth_config.ca_file or auth_config.cert_file:
            context = ssl.create_default_context(
                cafile=str(auth_config.ca_file) if auth_config.ca_file else None)
            if auth_config.cert_file:
                context.load_cert_chain(str(auth_config.cert_file),
                                        str(auth_config.key_file) if auth_config.key_file
                                        else None)
            verify = context
        return httpx.AsyncClient(headers=headers, auth=auth, verify=verify,
                                 timeout=self.config.timeout_seconds)

    async def _throttle(self) -> None:
        rate = self.config.rate_limit_per_second
        if rate:
            wait = self._last_request + 1.0 / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_request = time.monotonic()

    async def _get(self, params: dict[str, Any]) -> Any:
        if self._client is None:
            self._client = self._make_client()
        delay = 0.5
        for attempt in range(self.config.max_retries + 1):
            await self._throttle()
            try:
                response = await self._client.get(self.config.url, params=params)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                wait = delay
            else:
                if response.status_code in _RETRY_STATUS:
                    problem = f"HTTP {response.status_code}"
                    wait = _retry_after(response, delay)
                elif response.status_code >= 400:
                    raise FatalError(f"{self.config.url} answered HTTP {response.status_code}: "
                                     f"{response.text[:300]}")
                else:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise RetriableError(f"{self.config.url} answered non-JSON") from exc
            if attempt == self.config.max_retries:
                raise RetriableError(f"{self.config.url}: {problem} after {attempt + 1} tries")
            log.warning("%s: %s; retry %d in %.1fs", self.config.url, problem, attempt + 1, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 30.0)
        raise RetriableError(f"{self.config.url}: retries exhausted")

    def _params(self, page: Any, since: Any) -> dict[str, Any]:
        pagination = self.config.pagination
        params: dict[str, Any] = dict(self.config.params)
        if self.config.since_param and since is not None:
            params[self.config.since_param] = since
        if pagination.kind == "page":
            params[pagination.page_param] = page
            params[pagination.size_param] = pagination.page_size
        elif pagination.kind == "offset":
            params[pagination.offset_param] = page
            params[pagination.size_param] = pagination.page_size
        elif pagination.kind == "cursor" and page is not None:
            params[pagination.cursor_param] = page
        return params

    def _first_page(self) -> Any:
        kind = self.config.pagination.kind
        return self.config.pagination.first_page if kind == "page" else (
            0 if kind == "offset" else None)

    async def read(self, since: Checkpoint | None) -> AsyncIterator[SourceRecord]:
        position = since.position if since else {}
        pagination = self.config.pagination
        since_value = position.get("since")
        page = position.get("page", self._first_page()) if "page" in position \
            else self._first_page()
        skip = int(position.get("index") or 0)
        newest = since_value
        count = int(position.get("count") or 0)
        while True:
            body = await self._get(self._params(page, since_value))
            records = dotted(body, self.config.records_path) if self.config.records_path \
                else body
            if not isinstance(records, list):
                raise FatalError(f"{self.config.url}: no list at {self.config.records_path!r}")
            for index, item in enumerate(records):
                if index < skip:
                    continue
                count += 1
                if self.config.since_field and isinstance(item, dict):
                    stamp = dotted(item, self.config.since_field)
                    if stamp is not None and (newest is None or str(stamp) > str(newest)):
                        newest = str(stamp)
                raw = json.dumps(item, ensure_ascii=False).encode()
                reference = f"{self.config.url}?page={page}#{index}"
                record_position = {"since": since_value, "page": page, "index": index + 1,
                                   "newest": newest, "count": count}
                location = {"source.url": self.config.url, "source.cursor": f"{page}#{index}"}
                if isinstance(item, dict):
                    yield SourceRecord(flatten_record(item), raw, record_position, reference,
                                       location)
                else:
                    from hub.errors import RecordRejected

                    yield SourceRecord(None, raw, record_position, reference, location,
                                       RecordRejected("record is not a JSON object",
                                                      error_type="not_an_object"))
            skip = 0
            next_page = self._next_page(page, body, len(records))
            if next_page is None:
                if self.config.since_field:
                    end = {"since": newest, "page": self._first_page(), "index": 0,
                           "newest": newest, "count": count}
                else:
                    end = {"since": since_value, "page": page, "index": len(records),
                           "newest": newest, "count": count}
                yield SourceRecord(None, b"", end, f"{self.config.url}#end", marker=True)
                return
            page = next_page
            if pagination.kind != "none":
                # handled pages are behind us: the position moves to the next page's start
                yield SourceRecord(None, b"", {"since": since_value, "page": page, "index": 0,
                                               "newest": newest, "count": count},
                                   f"{self.config.url}?page={page}", marker=True)

    def _next_page(self, page: Any, body: Any, size: int) -> Any:
        pagination = self.config.pagination
        if pagination.kind == "none" or size == 0:
            return None
        if pagination.kind == "cursor":
            cursor = dotted(body, pagination.next_cursor_path)
            return cursor or None
        if size < pagination.page_size:
            return None
        return page + 1 if pagination.kind == "page" else page + size

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def flatten_record(item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested JSON as dotted columns (``parties.0.name``); lists of scalars join with ``;``."""
    row: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict):
            row.update(flatten_record(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            if value and all(isinstance(v, dict) for v in value):
                for index, entry in enumerate(value):
                    row.update(flatten_record(entry, f"{prefix}{key}.{index}."))
            else:
                row[f"{prefix}{key}"] = ";".join(str(v) for v in value)
        else:
            row[f"{prefix}{key}"] = value
    return row
