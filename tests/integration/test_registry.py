"""The registry client against the real local registry.

Outages, TLS and authentication are exercised for real too: a small forwarding proxy in
front of the real registry answers 503 for a while (a registry restart), or terminates
TLS with a client-certificate requirement and checks credentials (a production gateway).
Subjects are unique per test, so the shared registry's real subjects stay untouched.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from hub.config import RegistryAuth
from hub.errors import ConfigError, RetriableError, SchemaCompatibilityError
from hub.registry import (
    RegistryRequestError,
    RetryPolicy,
    SchemaNotFoundError,
    SchemaRegistryClient,
    SyncSchemaRegistryClient,
)

pytestmark = pytest.mark.integration

FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05)


def _schema(*extra_fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "cn.liangfa.tests",
            "doc": "Registry test record 测试记录.",
            "fields": [{"name": "id", "type": "string"}, *extra_fields]}


@pytest.fixture
def subject_name() -> str:
    return f"R{uuid.uuid4().hex[:12]}"


async def test_register_lookup_fetch_and_versions(registry_url, subject_name):
    schema = _schema(name=subject_name)
    subject = f"cn.liangfa.tests.{subject_name}"
    async with SchemaRegistryClient(registry_url) as registry:
        assert await registry.lookup(subject, schema) is None
        assert await registry.versions(subject) == []
        schema_id = await registry.register(subject, schema)
        assert await registry.register(subject, schema) == schema_id
        found = await registry.lookup(subject, schema)
        assert found is not None
        assert (found.schema_id, found.version, found.schema) == (schema_id, 1, schema)
        assert await registry.get_schema(schema_id) == schema
        latest = await registry.get_latest(subject)
        assert (latest.schema_id, latest.version) == (schema_id, 1)
        assert await registry.versions(subject) == [1]
        assert subject in await registry.subjects()

        evolved = _schema({"name": "note", "type": ["null", "string"], "default": None},
                          name=subject_name)
        assert (await registry.check_compatibility(subject, evolved)).is_compatible
        evolved_id = await registry.register(subject, evolved)
        assert evolved_id != schema_id
        assert (await registry.get_version(subject, 1)).schema == schema
        assert (await registry.get_latest(subject)).version == 2


async def test_incompatible_change_is_refused(registry_url, subject_name):
    subject = f"cn.liangfa.tests.{subject_name}"
    async with SchemaRegistryClient(registry_url) as registry:
        await registry.set_compatibility("BACKWARD_TRANSITIVE", subject)
        assert await registry.get_compatibility(subject) == "BACKWARD_TRANSITIVE"
        await registry.register(subject, _schema(name=subject_name))
        breaking = _schema({"name": "required_new", "type": "string"}, name=subject_name)
        verdict = await registry.check_compatibility(subject, breaking)
        assert not verdict.is_compatible
        with pytest.raises(SchemaCompatibilityError, match=subject):
            await registry.register(subject, breaking)


async def test_missing_things_are_not_found_errors(registry_url, subject_name):
    async with SchemaRegistryClient(registry_url) as registry:
        with pytest.raises(SchemaNotFoundError) as caught:
            await registry.get_schema(2_000_000_000)
        assert caught.value.status_code == 404
        with pytest.raises(SchemaNotFoundError):
            await registry.get_latest(f"cn.liangfa.tests.{subject_name}")


async def test_invalid_schema_is_a_request_error(registry_url, subject_name):
    async with SchemaRegistryClient(registry_url) as registry:
        with pytest.raises(RegistryRequestError) as caught:
            await registry.register(f"cn.liangfa.tests.{subject_name}", '{"type": "nope"')
    assert 400 <= caught.value.status_code < 500


def test_sync_client_does_the_same(registry_url, subject_name):
    subject = f"cn.liangfa.tests.{subject_name}"
    schema = _schema(name=subject_name)
    with SyncSchemaRegistryClient(registry_url) as registry:
        schema_id = registry.register(subject, schema)
        assert registry.get_schema(schema_id) == schema
        assert registry.get_latest(subject).schema_id == schema_id
        assert registry.check_compatibility(subject, schema).is_compatible
        assert registry.versions(subject) == [1]
        registry.set_compatibility("BACKWARD_TRANSITIVE", subject)
        assert registry.get_compatibility(subject) == "BACKWARD_TRANSITIVE"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_registry_is_retried_then_retriable(caplog):
    url = f"http://127.0.0.1:{_closed_port()}/apis/ccompat/v7"
    caplog.set_level(logging.WARNING, logger="hub.registry")
    async with SchemaRegistryClient(url, retry=FAST_RETRY) as registry:
        with pytest.raises(RetriableError, match="schema registry unavailable") as caught:
            await registry.get_schema(1)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert [r.getMessage().split("; ")[1].split(" in ")[0] for r in retries] == [
        "retry 1/3", "retry 2/3", "retry 3/3"]


def test_unreachable_registry_sync_client(caplog):
    url = f"http://127.0.0.1:{_closed_port()}/apis/ccompat/v7"
    with SyncSchemaRegistryClient(url, retry=FAST_RETRY) as registry, \
            pytest.raises(RetriableError):
        registry.subjects()


# ---------------------------------------------------------------- forwarding proxy


@dataclass
class Proxy:
    """A real HTTP(S) server forwarding to the real registry, with injectable trouble."""

    upstream: str
    failures_left: int = 0
    required_authorization: str | None = None
    requests: list[str] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _forward(self) -> None:
                proxy.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.failures_left > 0:
                    proxy.failures_left -= 1
                    self._reply(503, b'{"message": "restarting"}')
                    return
                if (proxy.required_authorization is not None
                        and self.headers.get("Authorization") != proxy.required_authorization):
                    self._reply(401, b'{"message": "unauthorized", "error_code": 40101}')
                    return
                upstream = httpx.request(
                    self.command, proxy.upstream + self.path, content=body,
                    headers={"Content-Type": self.headers.get("Content-Type",
                                                              "application/json")})
                self._reply(upstream.status_code, upstream.content)

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler


@pytest.fixture
def proxy_factory(registry_url) -> Iterator[Callable[..., tuple[Proxy, str]]]:
    base = httpx.URL(registry_url)
    upstream = f"{base.scheme}://{base.host}:{base.port}"
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(tls: ssl.SSLContext | None = None, **options: Any) -> tuple[Proxy, str]:
        proxy = Proxy(upstream, **options)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        proxy.server = server
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        scheme = "https" if tls else "http"
        return proxy, f"{scheme}://127.0.0.1:{server.server_address[1]}{base.path}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


async def test_registry_restart_503s_are_retried_until_it_answers(proxy_factory, caplog):
    proxy, url = proxy_factory(failures_left=2)
    caplog.set_level(logging.WARNING, logger="hub.registry")
    async with SchemaRegistryClient(url, retry=FAST_RETRY) as registry:
        subjects = await registry.subjects()
    assert isinstance(subjects, list)
    assert len(proxy.requests) == 3
    assert sum("answered 503" in r.getMessage() for r in caplog.records) == 2


async def test_a_registry_that_stays_down_gives_retriable_error(proxy_factory):
    proxy, url = proxy_factory(failures_left=100)
    async with SchemaRegistryClient(url, retry=FAST_RETRY) as registry:
        with pytest.raises(RetriableError, match="HTTP 503"):
            await registry.subjects()
    assert len(proxy.requests) == FAST_RETRY.attempts


def test_schema_ids_are_cached_so_a_later_outage_does_not_matter(proxy_factory, registry_url,
                                                                  subject_name):
    subject = f"cn.liangfa.tests.{subject_name}"
    schema = _schema(name=subject_name)
    proxy, url = proxy_factory()
    with SyncSchemaRegistryClient(url, retry=FAST_RETRY) as registry:
        schema_id = registry.register(subject, schema)
        assert registry.get_schema(schema_id) == schema
        proxy.failures_left = 100
        assert registry.get_schema(schema_id) == schema
        assert registry.register(subject, schema) == schema_id


# ---------------------------------------------------------------- TLS and credentials


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key_and_cert(directory: Path, name: str, issuer: tuple[Any, x509.Name] | None,
                  *, server: bool = False) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_key, issuer_name = issuer if issuer else (key, subject)
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None),
                              critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    (directory / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _key_and_cert(directory, "ca", None)
    _key_and_cert(directory, "server", (ca_key, ca_cert.subject), server=True)
    _key_and_cert(directory, "client", (ca_key, ca_cert.subject))
    return Pki(directory / "ca.pem", directory / "server.pem", directory / "server.key",
               directory / "client.pem", directory / "client.key")


def _server_tls(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    context.load_verify_locations(str(pki.ca_file))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def test_tls_with_client_certificate_and_basic_auth(proxy_factory, pki):
    expected = "Basic " + __import__("base64").b64encode(b"agency:s3cret").decode()
    proxy, url = proxy_factory(tls=_server_tls(pki), required_authorization=expected)
    auth = RegistryAuth(ca_file=pki.ca_file, cert_file=pki.client_cert,
                        key_file=pki.client_key, username="agency",
                        password=SecretStr("s3cret"))
    async with SchemaRegistryClient(url, auth=auth, retry=FAST_RETRY) as registry:
        assert isinstance(await registry.subjects(), list)
    assert proxy.requests == ["GET /apis/ccompat/v7/subjects"]


def test_tls_with_bearer_token_sync(proxy_factory, pki):
    _proxy, url = proxy_factory(tls=_server_tls(pki), required_authorization="Bearer t0ken")
    auth = RegistryAuth(ca_file=pki.ca_file, cert_file=pki.client_cert,
                        key_file=pki.client_key, bearer_token=SecretStr("t0ken"))
    with SyncSchemaRegistryClient(url, auth=auth, retry=FAST_RETRY) as registry:
        assert isinstance(registry.subjects(), list)


async def test_wrong_credentials_are_a_request_error_not_retried(proxy_factory, pki):
    proxy, url = proxy_factory(tls=_server_tls(pki), required_authorization="Bearer right")
    auth = RegistryAuth(ca_file=pki.ca_file, cert_file=pki.client_cert,
                        key_file=pki.client_key, bearer_token=SecretStr("wrong"))
    async with SchemaRegistryClient(url, auth=auth, retry=FAST_RETRY) as registry:
        with pytest.raises(RegistryRequestError) as caught:
            await registry.subjects()
    assert caught.value.status_code == 401
    assert len(proxy.requests) == 1


async def test_untrusted_server_certificate_is_a_config_error(proxy_factory, pki):
    proxy, url = proxy_factory(tls=_server_tls(pki))
    async with SchemaRegistryClient(url, retry=FAST_RETRY) as registry:
        with pytest.raises(ConfigError, match="not trusted"):
            await registry.subjects()
    assert proxy.requests == []


async def test_missing_client_certificate_is_refused(proxy_factory, pki):
    """Under TLS 1.3 the server refuses a missing client certificate after the client's
    side of the handshake. When the server's alert reaches the client, it is named as a
    configuration error at once; when the connection just closes first (a race in the
    TLS stack), it looks like a blip and ends as RetriableError after the retries. Either
    way nothing reaches the registry."""
    proxy, url = proxy_factory(tls=_server_tls(pki))
    auth = RegistryAuth(ca_file=pki.ca_file)
    async with SchemaRegistryClient(url, auth=auth, retry=FAST_RETRY) as registry:
        with pytest.raises((ConfigError, RetriableError)) as caught:
            await registry.subjects()
    if isinstance(caught.value, ConfigError):
        assert "client certificate" in str(caught.value)
    assert proxy.requests == []
