"""Client of a Confluent-compatible schema registry (Apicurio's ``/apis/ccompat/v7`` here).

Only the calls the hub needs: register a schema under a subject, look one up, fetch a
schema by id, fetch a subject's latest version, test compatibility, read and set the
compatibility level. Schemas by id never change, so they are cached for the life of the
client; so are the ids of schemas this client registered or looked up.

Failures are split the hub's way at this boundary (callers never see httpx):

- connection errors, timeouts and 5xx/429 answers are retried with exponential backoff,
  then raised as :class:`~hub.errors.RetriableError`;
- a TLS failure retrying cannot fix (untrusted certificate, refused client certificate)
  is :class:`~hub.errors.ConfigError` at once;
- 404 is :class:`SchemaNotFoundError`, 409 on registration
  :class:`~hub.errors.SchemaCompatibilityError`, any other 4xx :class:`RegistryRequestError`
  (a request that will never succeed as sent).

Schemas are sent as compact JSON of the ``.avsc`` exactly as written (key order kept):
Apicurio compares schema *text*, so a differently formatted copy of the same schema
would become a new version; every hub process sends the same bytes and gets the same id.

Both an async client (connectors, processors) and a sync one (the CLI, which calls
synchronously) share the request and answer handling.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import httpx
from prometheus_client import Counter

from hub.config import RegistryAuth
from hub.errors import ConfigError, FatalError, RetriableError, SchemaCompatibilityError

__all__ = [
    "COMPATIBILITY_LEVELS",
    "CONTENT_TYPE",
    "REGISTRY_ERRORS",
    "CompatibilityLevel",
    "CompatibilityResult",
    "RegisteredSchema",
    "RegistryRequestError",
    "RetryPolicy",
    "SchemaNotFoundError",
    "SchemaRegistryClient",
    "SyncSchemaRegistryClient",
    "schema_text",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
CompatibilityLevel = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]
COMPATIBILITY_LEVELS: tuple[str, ...] = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
_RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class RegistryRequestError(FatalError):
    """The registry refused a request that will not succeed if repeated (4xx)."""

    def __init__(self, message: str, *, status_code: int, error_code: int | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code


class SchemaNotFoundError(RegistryRequestError):
    """No such subject, version or schema id (404: 40401 subject, 40402 version, 40403 schema)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a registry call that hit a blip.

    ``attempts`` counts the first try; waits double from ``initial_delay`` up to
    ``max_delay`` seconds.
    """

    attempts: int = 5
    initial_delay: float = 0.2
    max_delay: float = 5.0

    def delays(self) -> list[float]:
        """Waits between consecutive attempts."""
        return [
            min(self.initial_delay * (2**n), self.max_delay) for n in range(self.attempts - 1)
        ]


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema as the registry holds it under a subject."""

    subject: str
    schema_id: int
    version: int
    schema: dict[str, Any] | list[Any] | str


@dataclass(frozen=True)
class CompatibilityResult:
    """Answer of a compatibility check; ``messages`` explain a break when the registry says."""

    is_compatible: bool
    messages: list[str] = field(default_factory=list)


def schema_text(schema: Mapping[str, Any] | list[Any] | str) -> str:
    """The schema as the JSON text the registry stores (compact, Chinese kept readable)."""
    if isinstance(schema, str):
        return schema
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def _parse_schema_text(text: str) -> dict[str, Any] | list[Any] | str:
    parsed: dict[str, Any] | list[Any] | str = json.loads(text)
    return parsed


def _ssl_context(auth: RegistryAuth) -> ssl.SSLContext | bool:
    if auth.ca_file is None and auth.cert_file is None:
        return True
    context = ssl.create_default_context(cafile=str(auth.ca_file) if auth.ca_file else None)
    if auth.cert_file is not None:
        context.load_cert_chain(
            str(auth.cert_file), str(auth.key_file) if auth.key_file else None
        )
    return context


def _client_options(
    base_url: str, auth: RegistryAuth | None, timeout: float
) -> dict[str, Any]:
    """httpx client options: TLS (CA, client certificate) and basic or bearer auth."""
    auth = auth or RegistryAuth()
    headers = {"Accept": CONTENT_TYPE + ", application/json"}
    options: dict[str, Any] = {
        "base_url": base_url.rstrip("/") + "/",
        "timeout": timeout,
        "verify": _ssl_context(auth),
        "headers": headers,
    }
    if auth.bearer_token is not None:
        headers["Authorization"] = "Bearer " + auth.bearer_token.get_secret_value()
    elif auth.username is not None:
        password = auth.password.get_secret_value() if auth.password else ""
        options["auth"] = httpx.BasicAuth(auth.username, password)
    return options


@dataclass(frozen=True)
class _Request:
    """One registry call: what to send, and how to read the answer."""

    method: str
    path: str
    body: dict[str, Any] | None
    parse: Callable[[Any], Any]
    #: 404 means "no" rather than an error (lookups).
    none_on_404: bool = False
    #: What the call was, for messages.
    what: str = ""


def _quote(subject: str) -> str:
    return quote(subject, safe="")


def _error_details(response: httpx.Response) -> tuple[str, int | None]:
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500], None
    if isinstance(payload, dict):
        return str(payload.get("message", payload)), payload.get("error_code")
    return str(payload), None


def _answer(request: _Request, response: httpx.Response) -> Any:
    """Turn a final (non-retriable) response into a value or a hub error."""
    if response.is_success:
        return request.parse(response.json())
    message, error_code = _error_details(response)
    status = response.status_code
    if status == 404:
        if request.none_on_404:
            return None
        raise SchemaNotFoundError(
            f"{request.what}: not found ({message})", status_code=status, error_code=error_code
        )
    if status == 409:
        raise SchemaCompatibilityError(f"{request.what}: incompatible with earlier versions "
                                       f"({message})")
    raise RegistryRequestError(
        f"{request.what}: registry answered {status} ({message})",
        status_code=status,
        error_code=error_code,
    )


class _Requests:
    """Builders of every call, shared by the async and sync clients."""

    @staticmethod
    def register(subject: str, schema: Mapping[str, Any] | str) -> _Request:
        return _Request(
            "POST",
            f"subjects/{_quote(subject)}/versions",
            {"schema": schema_text(schema)},
            lambda body: int(body["id"]),
            what=f"register schema under subject {subject!r}",
        )

    @staticmethod
    def lookup(subject: str, schema: Mapping[str, Any] | str) -> _Request:
        return _Request(
            "POST",
            f"subjects/{_quote(subject)}",
            {"schema": schema_text(schema)},
            lambda body: RegisteredSchema(
                subject=str(body.get("subject", subject)),
                schema_id=int(body["id"]),
                version=int(body["version"]),
                schema=_parse_schema_text(body["schema"]),
            ),
            none_on_404=True,
            what=f"look up schema under subject {subject!r}",
        )

    @staticmethod
    def schema_by_id(schema_id: int) -> _Request:
        return _Request(
            "GET",
            f"schemas/ids/{schema_id}",
            None,
            lambda body: _parse_schema_text(body["schema"]),
            what=f"fetch schema id {schema_id}",
        )

    @staticmethod
    def version(subject: str, version: int | Literal["latest"]) -> _Request:
        return _Request(
            "GET",
            f"subjects/{_quote(subject)}/versions/{version}",
            None,
            lambda body: RegisteredSchema(
                subject=str(body.get("subject", subject)),
                schema_id=int(body["id"]),
                version=int(body["version"]),
                schema=_parse_schema_text(body["schema"]),
            ),
            what=f"fetch version {version} of subject {subject!r}",
        )

    @staticmethod
    def versions(subject: str) -> _Request:
        return _Request(
            "GET",
            f"subjects/{_quote(subject)}/versions",
            None,
            lambda body: [int(v) for v in body],
            none_on_404=True,
            what=f"list versions of subject {subject!r}",
        )

    @staticmethod
    def subjects() -> _Request:
        return _Request("GET", "subjects", None, lambda body: [str(s) for s in body],
                        what="list subjects")

    @staticmethod
    def compatibility(
        subject: str, schema: Mapping[str, Any] | str, version: int | Literal["latest"]
    ) -> _Request:
        def parse(body: Any) -> CompatibilityResult:
            messages = body.get("messages") or []
            return CompatibilityResult(
                is_compatible=bool(body["is_compatible"]),
                messages=[str(m) for m in messages],
            )

        return _Request(
            "POST",
            f"compatibility/subjects/{_quote(subject)}/versions/{version}?verbose=true",
            {"schema": schema_text(schema)},
            parse,
            what=f"check compatibility of subject {subject!r}",
        )

    @staticmethod
    def get_config(subject: str | None) -> _Request:
        path = "config" if subject is None else f"config/{_quote(subject)}"
        return _Request(
            "GET",
            path,
            None,
            lambda body: str(body.get("compatibilityLevel") or body.get("compatibility")),
            none_on_404=subject is not None,
            what=f"read compatibility of {subject or 'the registry'}",
        )

    @staticmethod
    def set_config(level: CompatibilityLevel, subject: str | None) -> _Request:
        path = "config" if subject is None else f"config/{_quote(subject)}"
        return _Request(
            "PUT",
            path,
            {"compatibility": level},
            lambda body: str(body.get("compatibility") or body.get("compatibilityLevel")),
            what=f"set compatibility of {subject or 'the registry'} to {level}",
        )


#: Failed tries of registry calls, in every process that talks to the registry (workers,
#: view, public feeds, audit sealer serve it on /metrics): a retried call that then
#: succeeds still counts, so a flapping registry shows before anything stops.
REGISTRY_ERRORS = Counter(
    "liangfa_registry_errors_total",
    "Schema registry calls that failed (connection error or a retriable HTTP status), "
    "each try counted.",
    ["error"],
)


def _count_failure(response: httpx.Response | None) -> None:
    REGISTRY_ERRORS.labels("connection" if response is None
                           else f"http-{response.status_code}").inc()


def _retriable_failure(request: _Request, cause: str) -> RetriableError:
    return RetriableError(f"{request.what}: schema registry unavailable ({cause})")


def _tls_misconfiguration(request: _Request, exc: BaseException) -> ConfigError | None:
    """A TLS failure that retrying cannot fix (untrusted server, refused client
    certificate): reported at once as a configuration error instead of retried."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return ConfigError(f"{request.what}: the registry's TLS certificate is not "
                               f"trusted (check the CA file): {cause}")
        if isinstance(cause, ssl.SSLError) and "CERTIFICATE" in str(cause.reason or "").upper():
            return ConfigError(f"{request.what}: the registry refused the TLS client "
                               f"certificate (check cert_file/key_file): {cause}")
        cause = cause.__cause__ or cause.__context__
    return None


class _Caches:
    """Ids and schemas that never change once the registry has answered."""

    def __init__(self) -> None:
        self.schemas_by_id: dict[int, dict[str, Any] | list[Any] | str] = {}
        self.ids_by_subject_schema: dict[tuple[str, str], int] = {}


class SchemaRegistryClient:
    """Async client; use as ``async with SchemaRegistryClient(url) as registry: …``.

    ``auth`` carries TLS (CA file, client certificate) and basic or bearer credentials.
    """

    def __init__(
        self,
        url: str,
        *,
        auth: RegistryAuth | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        options = _client_options(url, auth, timeout)
        self._http = httpx.AsyncClient(**options)
        self._caches = _Caches()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, request: _Request) -> Any:
        delays = self.retry.delays()
        for attempt in range(self.retry.attempts):
            try:
                response = await self._http.request(
                    request.method,
                    request.path,
                    json=request.body,
                    headers={"Content-Type": CONTENT_TYPE} if request.body is not None else None,
                )
            except (httpx.TransportError, OSError) as exc:
                _count_failure(None)
                misconfigured = _tls_misconfiguration(request, exc)
                if misconfigured is not None:
                    raise misconfigured from exc
                if attempt >= len(delays):
                    raise _retriable_failure(request, repr(exc)) from exc
                log.warning("registry call %s failed (%r); retry %s/%s in %.1fs",
                            request.what, exc, attempt + 1, len(delays), delays[attempt])
            else:
                if response.status_code not in _RETRIABLE_STATUS:
                    return _answer(request, response)
                _count_failure(response)
                if attempt >= len(delays):
                    raise _retriable_failure(request, f"HTTP {response.status_code}")
                log.warning("registry call %s answered %s; retry %s/%s in %.1fs",
                            request.what, response.status_code, attempt + 1, len(delays),
                            delays[attempt])
            await asyncio.sleep(delays[attempt])
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def register(self, subject: str, schema: Mapping[str, Any] | str) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its global id."""
        key = (subject, schema_text(schema))
        cached = self._caches.ids_by_subject_schema.get(key)
        if cached is not None:
            return cached
        schema_id: int = await self._call(_Requests.register(subject, schema))
        self._caches.ids_by_subject_schema[key] = schema_id
        return schema_id

    async def lookup(
        self, subject: str, schema: Mapping[str, Any] | str
    ) -> RegisteredSchema | None:
        """The registered version of ``schema`` under ``subject``, or None if absent."""
        found: RegisteredSchema | None = await self._call(_Requests.lookup(subject, schema))
        if found is not None:
            self._caches.ids_by_subject_schema[(subject, schema_text(schema))] = found.schema_id
        return found

    async def get_schema(self, schema_id: int) -> dict[str, Any] | list[Any] | str:
        """The schema with this global id (cached: ids are immutable)."""
        cached = self._caches.schemas_by_id.get(schema_id)
        if cached is not None:
            return cached
        schema = await self._call(_Requests.schema_by_id(schema_id))
        self._caches.schemas_by_id[schema_id] = schema
        return schema  # type: ignore[no-any-return]

    async def get_latest(self, subject: str) -> RegisteredSchema:
        """The latest version under ``subject``; :class:`SchemaNotFoundError` if none."""
        found: RegisteredSchema = await self._call(_Requests.version(subject, "latest"))
        return found

    async def get_version(self, subject: str, version: int) -> RegisteredSchema:
        """One version under ``subject``."""
        found: RegisteredSchema = await self._call(_Requests.version(subject, version))
        return found

    async def versions(self, subject: str) -> list[int]:
        """Version numbers under ``subject`` (empty when the subject does not exist)."""
        found: list[int] | None = await self._call(_Requests.versions(subject))
        return found or []

    async def subjects(self) -> list[str]:
        """Every subject the registry knows."""
        found: list[str] = await self._call(_Requests.subjects())
        return found

    async def check_compatibility(
        self,
        subject: str,
        schema: Mapping[str, Any] | str,
        version: int | Literal["latest"] = "latest",
    ) -> CompatibilityResult:
        """Would ``schema`` be accepted under ``subject`` by its compatibility rule?

        A subject with no versions yet accepts anything.
        """
        if not await self.versions(subject):
            return CompatibilityResult(is_compatible=True, messages=["subject has no versions"])
        result: CompatibilityResult = await self._call(
            _Requests.compatibility(subject, schema, version)
        )
        return result

    async def get_compatibility(self, subject: str | None = None) -> str | None:
        """Compatibility level of ``subject`` (None when it has no own level) or global."""
        level: str | None = await self._call(_Requests.get_config(subject))
        return level

    async def set_compatibility(
        self, level: CompatibilityLevel, subject: str | None = None
    ) -> str:
        """Set the compatibility level of ``subject``, or the global one."""
        result: str = await self._call(_Requests.set_config(level, subject))
        return result


class SyncSchemaRegistryClient:
    """Blocking twin of :class:`SchemaRegistryClient` for the CLI and synchronous codecs."""

    def __init__(
        self,
        url: str,
        *,
        auth: RegistryAuth | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or RetryPolicy()
        options = _client_options(url, auth, timeout)
        self._http = httpx.Client(**options)
        self._caches = _Caches()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, request: _Request) -> Any:
        delays = self.retry.delays()
        for attempt in range(self.retry.attempts):
            try:
                response = self._http.request(
                    request.method,
                    request.path,
                    json=request.body,
                    headers={"Content-Type": CONTENT_TYPE} if request.body is not None else None,
                )
            except (httpx.TransportError, OSError) as exc:
                _count_failure(None)
                misconfigured = _tls_misconfiguration(request, exc)
                if misconfigured is not None:
                    raise misconfigured from exc
                if attempt >= len(delays):
                    raise _retriable_failure(request, repr(exc)) from exc
                log.warning("registry call %s failed (%r); retry %s/%s in %.1fs",
                            request.what, exc, attempt + 1, len(delays), delays[attempt])
            else:
                if response.status_code not in _RETRIABLE_STATUS:
                    return _answer(request, response)
                _count_failure(response)
                if attempt >= len(delays):
                    raise _retriable_failure(request, f"HTTP {response.status_code}")
                log.warning("registry call %s answered %s; retry %s/%s in %.1fs",
                            request.what, response.status_code, attempt + 1, len(delays),
                            delays[attempt])
            time.sleep(delays[attempt])
        raise AssertionError("unreachable: the retry loop returns or raises")

    def register(self, subject: str, schema: Mapping[str, Any] | str) -> int:
        """Register ``schema`` under ``subject`` (idempotent) and return its global id."""
        key = (subject, schema_text(schema))
        cached = self._caches.ids_by_subject_schema.get(key)
        if cached is not None:
            return cached
        schema_id: int = self._call(_Requests.register(subject, schema))
        self._caches.ids_by_subject_schema[key] = schema_id
        return schema_id

    def lookup(self, subject: str, schema: Mapping[str, Any] | str) -> RegisteredSchema | None:
        """The registered version of ``schema`` under ``subject``, or None if absent."""
        found: RegisteredSchema | None = self._call(_Requests.lookup(subject, schema))
        if found is not None:
            self._caches.ids_by_subject_schema[(subject, schema_text(schema))] = found.schema_id
        return found

    def get_schema(self, schema_id: int) -> dict[str, Any] | list[Any] | str:
        """The schema with this global id (cached: ids are immutable)."""
        cached = self._caches.schemas_by_id.get(schema_id)
        if cached is not None:
            return cached
        schema = self._call(_Requests.schema_by_id(schema_id))
        self._caches.schemas_by_id[schema_id] = schema
        return schema  # type: ignore[no-any-return]

    def get_latest(self, subject: str) -> RegisteredSchema:
        """The latest version under ``subject``; :class:`SchemaNotFoundError` if none."""
        found: RegisteredSchema = self._call(_Requests.version(subject, "latest"))
        return found

    def get_version(self, subject: str, version: int) -> RegisteredSchema:
        """One version under ``subject``."""
        found: RegisteredSchema = self._call(_Requests.version(subject, version))
        return found

    def versions(self, subject: str) -> list[int]:
        """Version numbers under ``subject`` (empty when the subject does not exist)."""
        found: list[int] | None = self._call(_Requests.versions(subject))
        return found or []

    def subjects(self) -> list[str]:
        """Every subject the registry knows."""
        found: list[str] = self._call(_Requests.subjects())
        return found

    def check_compatibility(
        self,
        subject: str,
        schema: Mapping[str, Any] | str,
        version: int | Literal["latest"] = "latest",
    ) -> CompatibilityResult:
        """Would ``schema`` be accepted under ``subject`` by its compatibility rule?"""
        if not self.versions(subject):
            return CompatibilityResult(is_compatible=True, messages=["subject has no versions"])
        result: CompatibilityResult = self._call(
            _Requests.compatibility(subject, schema, version)
        )
        return result

    def get_compatibility(self, subject: str | None = None) -> str | None:
        """Compatibility level of ``subject`` (None when it has no own level) or global."""
        level: str | None = self._call(_Requests.get_config(subject))
        return level

    def set_compatibility(self, level: CompatibilityLevel, subject: str | None = None) -> str:
        """Set the compatibility level of ``subject``, or the global one."""
        result: str = self._call(_Requests.set_config(level, subject))
        return result
