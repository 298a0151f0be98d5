"""HTTP kind: polls an agency API with httpx (pages, offsets or cursors; since-timestamps).

A pass walks the pages from the checkpoint; every record's position is the page it came
from plus its index, so a restart refetches that page and skips what was handled. At the
end of a pass, a ``since_field`` API restarts from page one asking only for records after
the newest timestamp seen; an API without one resumes at its last page and index, which
is how an append-only feed is followed. "Newest" is judged as the stamps are meant
(:func:`later_stamp`): numbers as numbers, ISO 8601 times as instants, other text as text.

No answer stops the connector and none is retried forever (docs/connector-files.md has
the table). Each answer that is not a page of records is a :class:`HttpFailure` of a
kind operations can count (``error.type``):

* *transient* — no connection, a timeout (per operation, or ``deadline_seconds`` for the
  whole request: a server trickling bytes), 408, 429, 5xx, an HTML page, a body that is
  not JSON, an error envelope in a 200 — is tried again up to ``max_retries`` times within
  the poll, with a doubling backoff or the server's ``Retry-After`` (up to a cap);
* *permanent* — 401, 403, other 4xx, a redirect loop, a body over ``max_body_bytes``,
  JSON without a list at ``records_path`` — is not retried within the poll.

When the tries are spent the poll ends with **one dead-letter record** naming the request
(its URL, page, status, content type, tries, reason; the first 64 KiB of the body as its
value), counted by the runner under its reason in the rejected metric. The position does
not move, so the next poll asks for the same page: a fixed API resumes by itself and
nothing is skipped. Polls after a failed one are spaced by a backoff that doubles per
failed poll (``failed_poll_backoff_seconds``), so a dead endpoint costs one dead letter
per backoff, and the last-success gauge does not move (the "polls failing" alert fires).
A record of a good page that is not a JSON object (or is nested too deep to flatten) is
one refused record, as a bad row of a file is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from connectors.checkpoint import Checkpoint
from connectors.config import HttpSourceConfig
from connectors.source import Source, SourceRecord, unencodable_path
from hub.errors import RecordRejected

__all__ = ["HttpFailure", "HttpSource", "dotted", "flatten_record"]

log = logging.getLogger(__name__)
_BACKOFF_MAX = 30.0
#: Bytes of a refused answer the dead-letter record carries (under the broker's limit).
_LETTER_BYTES = 64 * 1024
#: Top-level keys an error envelope's message is read from, in order.
_MESSAGE_KEYS = ("msg", "message", "errmsg", "error_description", "error", "errors")
#: Charsets declared by Chinese systems that GB18030 decodes as a superset.
_GB_CHARSETS = frozenset({"gbk", "gb2312", "gb_2312-80", "cp936", "x-gbk"})


class HttpFailure(RecordRejected):
    """An answer (or its absence) that is not a page of records.

    ``transient`` answers are tried again within the poll; ``retry_after`` is the
    server's ``Retry-After`` in seconds when it sent one. ``body`` is the start of the
    answer, which the dead-letter record carries.
    """

    def __init__(self, reason: str, *, error_type: str, transient: bool,
                 status: int | None = None, content_type: str = "", body: bytes = b"",
                 retry_after: float | None = None) -> None:
        super().__init__(reason, field="response",
                         value=f"HTTP {status}" if status is not None else "no answer",
                         error_type=error_type)
        self.transient = transient
        self.status = status
        self.content_type = content_type
        self.body = body[:_LETTER_BYTES]
        self.retry_after = retry_after
        self.tries = 1


def _stamp_order(stamp: Any) -> tuple[str, Any]:
    """What a since-stamp is, for ordering: a number, an instant, or text."""
    text = str(stamp).strip()
    if not isinstance(stamp, bool):
        try:
            number = Decimal(text)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return "number", number
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        # a stamp without an offset is the API's own clock: ordered among its kind
        return ("instant", moment.astimezone(UTC)) if moment.tzinfo else ("local", moment)
    except (ValueError, OverflowError):  # 0001-01-01T00:00:00+08:00 has no UTC instant
        return "text", text


def later_stamp(stamp: Any, newest: Any) -> bool:
    """Whether ``stamp`` is after ``newest``. As text, 9 came after 10, and
    ``10:00+08:00`` after ``03:00Z`` an hour later: the next pass then asked for records
    already read (each dead-lettered again if it was bad), every pass. Stamps of
    different kinds are compared as text, as before."""
    (kind, value), (newest_kind, newest_value) = _stamp_order(stamp), _stamp_order(newest)
    if kind == newest_kind:
        return bool(value > newest_value)
    return str(stamp) > str(newest)


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


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), ``None`` if absent or garbled."""
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(float(header), 0.0)
    except ValueError:
        try:
            return max(parsedate_to_datetime(header).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None


def _media_type(content_type: str) -> tuple[str, str | None]:
    """(``type/subtype`` lower-cased, declared charset or ``None``)."""
    parts = [part.strip() for part in content_type.split(";")]
    charset = None
    for part in parts[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return parts[0].lower(), charset


def _is_json_type(media: str) -> bool:
    return media in ("application/json", "text/json") or media.endswith("+json")


def _status_failure(status: int, content_type: str, body: bytes,
                    retry_after: float | None) -> HttpFailure:
    """The failure an HTTP status other than 2xx stands for."""
    text = body[:300].decode("utf-8", "replace")
    common: dict[str, Any] = {"status": status, "content_type": content_type, "body": body}
    if status == 429:
        return HttpFailure(f"HTTP 429 (rate limited): {text}", error_type="http_rate_limited",
                           transient=True, retry_after=retry_after, **common)
    if status == 408:
        return HttpFailure(f"HTTP 408 (request timeout): {text}", error_type="http_timeout",
                           transient=True, **common)
    if status >= 500:
        return HttpFailure(f"HTTP {status}: {text}", error_type="http_server_error",
                           transient=True, retry_after=retry_after, **common)
    if status == 401:
        return HttpFailure(f"HTTP 401 (credentials refused): {text}",
                           error_type="http_unauthorized", transient=False, **common)
    if status == 403:
        return HttpFailure(f"HTTP 403 (access forbidden): {text}",
                           error_type="http_forbidden", transient=False, **common)
    if status >= 400:
        return HttpFailure(f"HTTP {status}: {text}", error_type="http_client_error",
                           transient=False, **common)
    return HttpFailure(f"HTTP {status} where a page of records was expected",
                       error_type="http_unexpected_status", transient=False, **common)


def _parse_json(body: bytes, content_type: str, status: int) -> Any:
    """The JSON of a 2xx body, whatever its declared type (agency gateways label JSON
    ``text/plain`` or ``text/html``); a declared GBK charset is decoded as GB18030."""
    media, charset = _media_type(content_type)
    common: dict[str, Any] = {"status": status, "content_type": content_type, "body": body,
                              "transient": True}
    try:
        if charset and charset not in ("utf-8", "utf8"):
            text = body.decode("gb18030" if charset in _GB_CHARSETS else charset)
            return json.loads(text)
        return json.loads(body)
    except (ValueError, LookupError, RecursionError) as exc:
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
    if not body.strip():
        raise HttpFailure("empty body where JSON was expected", error_type="not_json",
                          **common)
    if "html" in media or body.lstrip()[:1] == b"<":
        raise HttpFailure(f"an HTML page ({content_type or 'no content type'}) where JSON "
                          f"was expected", error_type="html_page", **common)
    if media and not _is_json_type(media):
        raise HttpFailure(f"content type {content_type!r}, not JSON ({problem})",
                          error_type="wrong_content_type", **common)
    raise HttpFailure(f"body is not JSON ({problem})", error_type="not_json", **common)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def shown_url(url: str) -> str:
    """``url`` as logs, dead-letter headers and source references show it: without a
    user and password, and with each query value replaced by ``…`` (a unit's API often
    takes its key as ``?appkey=``), so no credential leaves the connector's config."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = "&".join(f"{name}=…" for name, _ in parse_qsl(parts.query,
                                                         keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _first_message(data: dict[str, Any]) -> str:
    for key in _MESSAGE_KEYS:
        if data.get(key):
            return str(data[key])[:300]
    return json.dumps(data, ensure_ascii=False)[:300]


class HttpSource(Source):
    """Polls one endpoint; the client is built once per session."""

    def __init__(self, config: HttpSourceConfig) -> None:
        self.config = config
        #: The endpoint as every log line and record names it (:func:`shown_url`).
        self.url = shown_url(config.url)
        #: Where the configured URL points, as httpx spells a request's URL (an IDN host
        #: decoded, the scheme's default port filled in).
        configured = httpx.URL(config.url)
        self._origin = (configured.scheme, configured.host,
                        configured.port or _DEFAULT_PORTS.get(configured.scheme))
        self._client: httpx.AsyncClient | None = None
        self._last_request = 0.0
        self._failed_polls = 0
        self._resume_at = 0.0
        #: Waits between tries (a test replaces it to see the waits without taking them).
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

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
        # httpx drops the Authorization header when a redirect leaves the origin; the
        # hook refuses a redirect off the configured host altogether (see _same_origin).
        return httpx.AsyncClient(headers=headers, auth=auth, verify=verify,
                                 timeout=self.config.timeout_seconds, follow_redirects=True,
                                 max_redirects=self.config.max_redirects,
                                 event_hooks={"request": [self._same_origin]})

    async def _same_origin(self, request: httpx.Request) -> None:
        """Refuse a request (a redirect) to another origin than the configured one.

        The unit's server answers the connector: followed anywhere, a redirect would
        send the configured headers (an API key) and the client certificate to another
        host, or make the connector fetch an address inside the hub's network (the
        registry, a cloud metadata service) and put the answer in a dead letter."""
        scheme, host, port = self._origin
        # A redirect to the same host over plain HTTP would resend the API key in clear;
        # to another port it could reach another service on that host.
        asked = request.url
        asked_port = asked.port or _DEFAULT_PORTS.get(asked.scheme)
        same = asked.host == host and (
            (asked.scheme, asked_port) == (scheme, port)
            or (scheme, asked.scheme) == ("http", "https"))  # an upgrade to TLS
        if not same:
            raise HttpFailure(f"redirected to {asked.scheme}://{asked.host}:{asked_port}, "
                              "another origin: not followed (set url to the address that "
                              "answers)", error_type="http_redirect_elsewhere",
                              transient=False)

    async def _throttle(self) -> None:
        rate = self.config.rate_limit_per_second
        if rate:
            wait = self._last_request + 1.0 / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_request = time.monotonic()

    async def _read_body(self, response: httpx.Response, limit: int, refuse: bool) -> bytes:
        """The decoded body up to ``limit`` bytes: past it, refused (``refuse``) or cut."""
        declared = response.headers.get("Content-Length", "")
        if refuse and declared.isdigit() and int(declared) > limit:
            raise HttpFailure(f"body of {int(declared):,} bytes announced, over "
                              f"max_body_bytes ({limit:,})", error_type="body_too_large",
                              transient=False, status=response.status_code,
                              content_type=response.headers.get("Content-Type", ""))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if not refuse:
                    break
                raise HttpFailure(f"body over max_body_bytes ({limit:,}) after content "
                                  f"decoding", error_type="body_too_large", transient=False,
                                  status=response.status_code,
                                  content_type=response.headers.get("Content-Type", ""),
                                  body=b"".join(chunks))
        return b"".join(chunks)

    async def _answer(self, params: dict[str, Any]) -> tuple[Any, list[Any]]:
        """One GET: (the JSON body, its records), or :class:`HttpFailure`."""
        if self._client is None:
            self._client = self._make_client()
        client = self._client
        config = self.config
        try:
            async with asyncio.timeout(config.deadline_seconds):
                async with client.stream("GET", config.url, params=params) as response:
                    status = response.status_code
                    content_type = response.headers.get("Content-Type", "")
                    ok = 200 <= status < 300
                    body = await self._read_body(response, config.max_body_bytes
                                                 if ok else _LETTER_BYTES, refuse=ok)
        except TimeoutError as exc:
            raise HttpFailure(f"no complete answer within deadline_seconds "
                              f"({config.deadline_seconds:g} s)", error_type="http_timeout",
                              transient=True) from exc
        except httpx.TooManyRedirects as exc:
            raise HttpFailure(f"more than {config.max_redirects} redirects (a loop?): {exc}",
                              error_type="http_redirect_loop", transient=False) from exc
        except httpx.TimeoutException as exc:
            raise HttpFailure(f"{type(exc).__name__} after {config.timeout_seconds:g} s",
                              error_type="http_timeout", transient=True) from exc
        except httpx.DecodingError as exc:
            raise HttpFailure(f"body cannot be decoded: {exc}", error_type="not_json",
                              transient=True) from exc
        except httpx.RequestError as exc:
            raise HttpFailure(f"{type(exc).__name__}: {exc}", error_type="http_unreachable",
                              transient=True) from exc
        except (UnicodeError, ValueError) as exc:
            # A request that cannot be built from what an earlier answer gave (a cursor
            # or stamp with a lone surrogate): this page's failure, not the connector's.
            if isinstance(exc, HttpFailure):
                raise
            raise HttpFailure(f"the request cannot be sent: {type(exc).__name__}: {exc}",
                              error_type="unusable_request", transient=False) from exc
        if not ok:
            raise _status_failure(status, content_type, body, _retry_after(response))
        data = _parse_json(body, content_type, status)
        try:
            envelope = self._envelope_error(data)
        except RecursionError as exc:  # nested past what can be written back as text
            raise HttpFailure("the answer is nested too deeply to read", error_type="not_json",
                              transient=False, status=status, content_type=content_type,
                              body=body) from exc
        if envelope is not None:
            raise HttpFailure(f"error envelope in an HTTP {status} answer: {envelope}",
                              error_type="error_envelope", transient=True, status=status,
                              content_type=content_type, body=body)
        records = dotted(data, config.records_path) if config.records_path else data
        if not isinstance(records, list):
            found = (f"top-level keys {sorted(data)[:10]}" if isinstance(data, dict)
                     else f"a JSON {type(data).__name__}")
            raise HttpFailure(f"no list at records_path {config.records_path!r} ({found})",
                              error_type="wrong_shape", transient=False, status=status,
                              content_type=content_type, body=body)
        return data, records

    def _envelope_error(self, data: Any) -> str | None:
        """The message of an error envelope, ``None`` when the answer is not one."""
        config = self.config
        if config.error_path:
            code = dotted(data, config.error_path)
            if code is not None and str(code) in config.ok_values:
                return None
            detail = _first_message(data) if isinstance(data, dict) else ""
            return f"{config.error_path} = {code!r}: {detail}"
        if isinstance(data, dict) and (data.get("error") or data.get("errors")
                                       or data.get("success") is False):
            return _first_message(data)
        return None

    async def _get(self, params: dict[str, Any]) -> tuple[Any, list[Any]]:
        """:meth:`_answer` with the transient failures tried again, boundedly."""
        config = self.config
        wait = config.retry_backoff_seconds
        tries = config.max_retries + 1
        for attempt in range(1, tries + 1):
            await self._throttle()
            try:
                return await self._answer(params)
            except HttpFailure as failure:
                failure.tries = attempt
                if not failure.transient or attempt == tries:
                    raise
                delay = wait if failure.retry_after is None else failure.retry_after
                if delay > config.max_retry_after_seconds:
                    failure.reason += (f" (asked to retry after {delay:g} s, over "
                                       f"max_retry_after_seconds: left to a later poll)")
                    raise
                log.warning("%s: %s (%s); try %d of %d in %.1fs", self.url,
                            failure.error_type, failure.reason, attempt + 1, tries, delay)
                await self.sleep(delay)
                wait = min(wait * 2, _BACKOFF_MAX)
        raise AssertionError("unreachable: the last try returns or raises")

    def _params(self, page: Any, since: Any) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.config.params)
        params.update(self._page_params(page, since))
        return params

    def _page_params(self, page: Any, since: Any) -> dict[str, Any]:
        """The query that varies by page (``params`` from the config are not repeated in a
        dead letter: they may carry an API key)."""
        pagination = self.config.pagination
        params: dict[str, Any] = {}
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

    def _failed(self, failure: HttpFailure, page: Any, since: Any,
                position: dict[str, Any]) -> SourceRecord:
        """The dead-letter record of a poll that ended on ``failure``; spaces the next polls."""
        config = self.config
        self.failed_poll = True
        self._failed_polls += 1
        backoff = 0.0
        if config.failed_poll_backoff_seconds:
            backoff = min(config.failed_poll_backoff_seconds * 2 ** (self._failed_polls - 1),
                          config.max_failed_poll_backoff_seconds)
            self._resume_at = time.monotonic() + backoff
        # A cursor the server sent may not be valid Unicode (the failure may be that).
        query = urlencode(self._page_params(page, since), errors="backslashreplace")
        request = f"{self.url}{'&' if '?' in self.url else '?'}{query}" if query else self.url
        log.warning("%s: poll failed after %d %s (%s: %s); dead-lettered, next poll in "
                    "%.0fs or more", request, failure.tries,
                    "try" if failure.tries == 1 else "tries", failure.error_type,
                    failure.reason, backoff)
        failure.reason = f"{failure.reason} (after {failure.tries} " \
                         f"{'try' if failure.tries == 1 else 'tries'})"
        location = {"source.url": self.url, "source.request": request,
                    "source.page": "" if page is None else str(page),
                    "http.status": "" if failure.status is None else str(failure.status),
                    "http.content_type": failure.content_type,
                    "http.tries": str(failure.tries)}
        return SourceRecord(None, failure.body, position, f"{request}#response", location,
                            failure)

    async def read(self, since: Checkpoint | None) -> AsyncIterator[SourceRecord]:
        if time.monotonic() < self._resume_at:
            log.info("%s: poll skipped, %.0fs of backoff after %d failed polls left",
                     self.url, self._resume_at - time.monotonic(), self._failed_polls)
            return
        self.failed_poll = False
        position = since.position if since else {}
        pagination = self.config.pagination
        since_value = position.get("since")
        page = position.get("page", self._first_page()) if "page" in position \
            else self._first_page()
        skip = int(position.get("index") or 0)
        newest = since_value
        count = int(position.get("count") or 0)
        while True:
            try:
                body, records = await self._get(self._params(page, since_value))
            except HttpFailure as failure:
                here = {"since": since_value, "page": page, "index": skip, "newest": newest,
                        "count": count}
                yield self._failed(failure, page, since_value, here)
                return
            for index, item in enumerate(records):
                if index < skip:
                    continue
                count += 1
                if self.config.since_field and isinstance(item, dict):
                    stamp = dotted(item, self.config.since_field)
                    if stamp is not None and (newest is None or later_stamp(stamp, newest)):
                        newest = str(stamp)
                reference = f"{self.url}?page={page}#{index}"
                record_position = {"since": since_value, "page": page, "index": index + 1,
                                   "newest": newest, "count": count}
                location = {"source.url": self.url, "source.cursor": f"{page}#{index}"}
                yield _record(item, record_position, reference, location)
            skip = 0
            next_page = self._next_page(page, body, len(records))
            if next_page is None:
                self._failed_polls = 0
                self._resume_at = 0.0
                if self.config.since_field:
                    end = {"since": newest, "page": self._first_page(), "index": 0,
                           "newest": newest, "count": count}
                else:
                    end = {"since": since_value, "page": page, "index": len(records),
                           "newest": newest, "count": count}
                yield SourceRecord(None, b"", end, f"{self.url}#end", marker=True)
                return
            page = next_page
            if pagination.kind != "none":
                # handled pages are behind us: the position moves to the next page's start
                yield SourceRecord(None, b"", {"since": since_value, "page": page, "index": 0,
                                               "newest": newest, "count": count},
                                   f"{self.url}?page={page}", marker=True)

    def _next_page(self, page: Any, body: Any, size: int) -> Any:
        pagination = self.config.pagination
        if pagination.kind == "none" or size == 0:
            return None
        if pagination.kind == "cursor":
            cursor = dotted(body, pagination.next_cursor_path)
            # a cursor must be a scalar the query can carry; anything else ends the pass
            return cursor if isinstance(cursor, (str, int)) and cursor != "" else None
        if size < pagination.page_size:
            return None
        return page + 1 if pagination.kind == "page" else page + size

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _record(item: Any, position: dict[str, Any], reference: str,
            location: dict[str, str]) -> SourceRecord:
    """One record of a page: its flattened row, or the reason it cannot be one."""
    try:
        text = json.dumps(item, ensure_ascii=False)
        try:
            raw = text.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate (a "\ud800" escape)
            field = unencodable_path(item) or "record"
            return SourceRecord(None, json.dumps(item).encode(), position, reference,
                                location, RecordRejected(
                                    f"{field}: text that is not valid Unicode ({exc.reason})",
                                    field=field, error_type="bad_encoding"))
        if not isinstance(item, dict):
            return SourceRecord(None, raw, position, reference, location, RecordRejected(
                f"record is a JSON {type(item).__name__}, not an object",
                error_type="not_an_object"))
        return SourceRecord(flatten_record(item), raw, position, reference, location)
    except RecursionError:
        return SourceRecord(None, b"", position, reference, location, RecordRejected(
            "record nested too deeply to flatten", error_type="too_deeply_nested"))


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
