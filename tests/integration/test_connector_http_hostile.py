"""Hostile HTTP answers on the real broker, from a real local HTTP server.

Every answer that is not a page of records ends the poll with exactly one dead-letter
record naming the request, its page, status and reason, counted under its reason; the
connector's run returns normally (never raises, never loops), transient answers are tried
``max_retries`` more times with the waits the docs promise, permanent ones once; the
checkpoint stays on the failed page and the last-success gauge does not move. A running
connector goes on with the next poll and delivers the records once the API recovers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from connectors.checkpoint import CheckpointStore
from connectors.config import ConnectorConfig, parse_config
from connectors.kinds.http import HttpSource
from connectors.runner import ConnectorRunner, dlq_topic
from connectors.source import Source
from connectors.testing import DEMO_POLICE_UNIT, feedback_record
from hub.config import HubSettings
from hub.local.processes import free_port
from hub.topics import ingest_topic
from tests.conftest import run_sync
from tests.integration.test_connector_standard import read_topic

pytestmark = pytest.mark.integration

_Answer = Callable[[BaseHTTPRequestHandler, int], None]


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
          content_type: str = "application/json", headers: dict[str, str] | None = None,
          length: bool = True) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _page(records: list[Any]) -> bytes:
    return json.dumps({"data": {"items": records}}, ensure_ascii=False).encode()


def _hang(handler: BaseHTTPRequestHandler, _: int) -> None:
    HostileApi.release.wait(5)
    _send(handler, 200, _page([]))


def _trickle(handler: BaseHTTPRequestHandler, _: int) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "2000")  # under max_body_bytes
    handler.end_headers()
    for _ in range(100):  # a byte every 50 ms: no single read waits long
        if HostileApi.release.wait(0.05):
            return
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return


def _chunked_huge(handler: BaseHTTPRequestHandler, _: int) -> None:
    handler.protocol_version = "HTTP/1.1"
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    try:
        for _ in range(64):
            chunk = b" " * 1024
            handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
    except OSError:
        return


def _redirect_to_self(handler: BaseHTTPRequestHandler, _: int) -> None:
    _send(handler, 302, b"", headers={"Location": handler.path})


#: Hostile answers: (answer, error.type, HTTP status in the letter, tries with
#: max_retries = 2).
HOSTILE: dict[str, tuple[_Answer, str, str, int]] = {
    "html-error-page": (lambda h, _: _send(h, 200, b"<html><body>502 Bad Gateway</body></html>",
                                           "text/html; charset=utf-8"),
                        "html_page", "200", 3),
    "broken-json": (lambda h, _: _send(h, 200, b'{"data": {"items": [{"a": '),
                    "not_json", "200", 3),
    "empty-body": (lambda h, _: _send(h, 200, b""), "not_json", "200", 3),
    "wrong-content-type": (lambda h, _: _send(h, 200, b"\x89PNG\r\n\x1a\n\x00\x00",
                                              "application/octet-stream"),
                           "wrong_content_type", "200", 3),
    "error-envelope": (lambda h, _: _send(h, 200, json.dumps(
        {"success": False, "msg": "令牌已过期", "data": {"items": []}},
        ensure_ascii=False).encode()), "error_envelope", "200", 3),
    "wrong-shape": (lambda h, _: _send(h, 200, b'{"data": {"items": "none today"}}'),
                    "wrong_shape", "200", 1),
    "body-too-large": (lambda h, _: _send(h, 200, b"[" + b" " * 65_536 + b"]"),
                       "body_too_large", "200", 1),
    "body-too-large-chunked": (_chunked_huge, "body_too_large", "200", 1),
    "unauthorized": (lambda h, _: _send(h, 401, b'{"error": "bad token"}'),
                     "http_unauthorized", "401", 1),
    "forbidden": (lambda h, _: _send(h, 403, b"<html>Forbidden</html>", "text/html"),
                  "http_forbidden", "403", 1),
    "not-found": (lambda h, _: _send(h, 404, b'{"error": "no such feed"}'),
                  "http_client_error", "404", 1),
    "rate-limited": (lambda h, _: _send(h, 429, b"slow down", "text/plain",
                                        {"Retry-After": "7"}), "http_rate_limited", "429", 3),
    "rate-limited-for-an-hour": (lambda h, _: _send(h, 429, b"", "text/plain",
                                                    {"Retry-After": "3600"}),
                                 "http_rate_limited", "429", 1),
    "server-error": (lambda h, _: _send(h, 503, b"<html>maintenance</html>", "text/html"),
                     "http_server_error", "503", 3),
    "redirect-loop": (_redirect_to_self, "http_redirect_loop", "", 1),
    "hanging": (_hang, "http_timeout", "", 3),
    "trickling": (_trickle, "http_timeout", "", 3),
}


class HostileApi:
    """A real HTTP server; ``GET /<answer>`` answers as ``HOSTILE[answer]`` (or as the
    scripted list of ``answers`` set on the instance, one per request)."""

    release = threading.Event()

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.answers: list[_Answer] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                name = urlparse(self.path).path.strip("/")
                if name == "scripted":
                    answer = server.answers.pop(0) if len(server.answers) > 1 \
                        else server.answers[0]
                else:
                    answer = HOSTILE[name][0]
                answer(self, len(server.requests))

            def log_message(self, format: str, *args: Any) -> None:
                return None

        HostileApi.release.clear()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        HostileApi.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api() -> Iterator[HostileApi]:
    server = HostileApi()
    yield server
    server.close()


def _config(tmp_path: Path, url: str, bootstrap: str, registry_url: str,
            **source: Any) -> ConnectorConfig:
    suffix = uuid.uuid4().hex[:8]
    return parse_config({
        "id": f"hostile-http-{suffix}", "unit": DEMO_POLICE_UNIT, "kind": "http",
        "source": {"url": url, "records_path": "data.items",
                   "pagination": {"kind": "page", "page_size": 50},
                   "max_retries": 2, "retry_backoff_seconds": 0.25, "timeout_seconds": 0.3,
                   "deadline_seconds": 1.0, "max_body_bytes": 4096, "max_redirects": 3,
                   "failed_poll_backoff_seconds": 0, **source},
        "preset": "police-feedback", "mapping": {"stream": f"hostile-http-{suffix}"},
        "state_dir": str(tmp_path / "state"), "bootstrap": bootstrap,
        "registry_url": registry_url, "poll_interval_seconds": 0.2,
        "checkpoint_every_seconds": 0.2})


class _Waits:
    """Records the waits between tries instead of taking them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)

    def factory(self) -> Callable[[ConnectorConfig], Source]:
        def make(config: ConnectorConfig) -> Source:
            source = HttpSource(config.source)  # type: ignore[arg-type]
            source.sleep = self
            return source
        return make


def _letter_headers(bootstrap: str, config: ConnectorConfig) -> list[dict[str, str]]:
    return [{k: v.decode() for k, v in letter.headers}
            for letter in read_topic(bootstrap, dlq_topic(config.id))]


@pytest.mark.parametrize("answer", sorted(HOSTILE))
def test_a_hostile_answer_is_one_dead_letter_naming_the_request_and_the_run_goes_on(
        answer: str, api: HostileApi, tmp_path: Path, bootstrap: str,
        registry_url: str) -> None:
    _, error_type, status, tries = HOSTILE[answer]
    config = _config(tmp_path, api.url(answer), bootstrap, registry_url)
    waits = _Waits()
    runner = ConnectorRunner(config, settings=HubSettings(), source_factory=waits.factory())

    summary = run_sync(runner.run(once=True))  # returns: the connector did not stop

    assert summary.sessions == 1, "no session ended in an exception"
    # a redirect loop is one try of 1 + max_redirects requests
    assert len(api.requests) == (4 if answer == "redirect-loop" else tries)
    letters = _letter_headers(bootstrap, config)
    assert len(letters) == 1
    letter = letters[0]
    assert letter["error.type"] == error_type
    assert letter["connector.id"] == config.id
    assert letter["error.field"] == "response"
    assert letter["http.status"] == status
    assert letter["http.tries"] == str(tries)
    assert letter["source.page"] == "1"
    assert letter["source.request"] == f"{api.url(answer)}?page=1&size=50"
    assert letter["source.reference"] == f"{api.url(answer)}?page=1&size=50#response"
    assert f"after {tries} tr" in letter["error.reason"]
    assert read_topic(bootstrap, ingest_topic(config.unit, config.stream)) == []
    assert runner.metrics.rejected_total() == 1
    assert runner.metrics.last_success._value.get() == 0, "a failed poll is no success"
    checkpoint = CheckpointStore(config.state_dir, config.id).load()
    assert checkpoint is not None
    assert checkpoint.position.get("page", 1) == 1, "the next poll asks for the same page"
    if answer == "rate-limited":
        assert waits.waits == [7.0, 7.0], "Retry-After is honoured"
    elif tries == 3:
        assert waits.waits == [0.25, 0.5], "doubling backoff"
    else:
        assert waits.waits == []


def test_an_unreachable_api_is_dead_lettered_after_bounded_tries(
        tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/feed"  # nothing listens there
    config = _config(tmp_path, url, bootstrap, registry_url)
    waits = _Waits()
    runner = ConnectorRunner(config, settings=HubSettings(), source_factory=waits.factory())

    run_sync(runner.run(once=True))

    [letter] = _letter_headers(bootstrap, config)
    assert letter["error.type"] == "http_unreachable"
    assert letter["http.status"] == ""
    assert "ConnectError" in letter["error.reason"]
    assert waits.waits == [0.25, 0.5]


def test_records_that_are_not_objects_are_refused_one_by_one_and_the_page_flows(
        api: HostileApi, tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    good = [feedback_record(1), feedback_record(2)]
    api.answers = [lambda h, _: _send(h, 200, _page([good[0], 5, "text", [1, 2], None,
                                                     good[1]]))]
    config = _config(tmp_path, api.url("scripted"), bootstrap, registry_url)
    runner = ConnectorRunner(config, settings=HubSettings())

    run_sync(runner.run(once=True))

    assert len(read_topic(bootstrap, ingest_topic(config.unit, config.stream))) == 2
    # the DLQ has several partitions: letters are read back in no particular order
    letters = sorted(_letter_headers(bootstrap, config), key=lambda h: h["source.cursor"])
    assert [(h["error.type"], h["source.cursor"]) for h in letters] == [
        ("not_an_object", "1#1"), ("not_an_object", "1#2"), ("not_an_object", "1#3"),
        ("not_an_object", "1#4")]
    assert "JSON int" in letters[0]["error.reason"]
    assert runner.metrics.last_success._value.get() > 0


def test_a_running_connector_goes_on_with_the_next_poll_and_delivers_once_the_api_recovers(
        api: HostileApi, tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    records = [feedback_record(number) for number in range(1, 8)]
    api.answers = [
        lambda h, _: _send(h, 502, b"<html>bad gateway</html>", "text/html"),
        lambda h, _: _send(h, 200, b'{"error": "busy", "data": null}'),
        lambda h, _: _send(h, 200, _page(records)),
    ]
    config = _config(tmp_path, api.url("scripted"), bootstrap, registry_url, max_retries=0,
                     max_body_bytes=1 << 20)
    runner = ConnectorRunner(config, settings=HubSettings())

    async def run_until_delivered() -> None:
        task = asyncio.create_task(runner.run())
        for _ in range(600):
            if runner.metrics.produced._value.get() >= len(records) or task.done():
                break
            await asyncio.sleep(0.1)
        runner.stop()
        await task

    run_sync(run_until_delivered())

    assert runner.summary.sessions == 1, "failed polls never ended the session"
    events = read_topic(bootstrap, ingest_topic(config.unit, config.stream))
    assert len(events) == len(records)
    assert sorted(h["error.type"] for h in _letter_headers(bootstrap, config)) == [
        "error_envelope", "http_server_error"]
    assert runner.metrics.last_success._value.get() > 0
    checkpoint = CheckpointStore(config.state_dir, config.id).load()
    assert checkpoint is not None
    assert checkpoint.position["count"] == len(records)


def test_after_a_failed_poll_the_next_polls_back_off_and_a_good_one_resets_it(
        api: HostileApi) -> None:
    api.answers = [lambda h, _: _send(h, 500, b"down"),
                   lambda h, _: _send(h, 200, _page([feedback_record(1)]))]
    config = parse_config({
        "id": "backoff", "unit": DEMO_POLICE_UNIT, "kind": "http",
        "source": {"url": api.url("scripted"), "records_path": "data.items",
                   "max_retries": 0, "failed_poll_backoff_seconds": 0.4},
        "preset": "police-feedback"}).source
    source = HttpSource(config)  # type: ignore[arg-type]

    async def poll() -> list[Any]:
        return [record async for record in source.read(None)]

    async def scenario() -> tuple[list[Any], bool, list[Any], list[Any]]:
        failed = await poll()
        flagged = source.failed_poll
        skipped = await poll()  # within the backoff: no request at all
        while time.monotonic() < source._resume_at:
            await asyncio.sleep(0.05)
        recovered = await poll()
        await source.aclose()
        return failed, flagged, skipped, recovered

    failed, flagged, skipped, recovered = run_sync(scenario())
    assert [r.problem.error_type for r in failed] == ["http_server_error"]
    assert flagged
    assert skipped == []
    assert len(api.requests) == 2
    assert [r.row is not None for r in recovered if not r.marker] == [True]
    assert not source.failed_poll
    assert source._failed_polls == 0


def test_a_record_nested_too_deep_to_flatten_is_refused_alone(api: HostileApi) -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    from connectors.kinds.http import _record

    record = _record(deep, {"page": 1}, "ref#0", {})
    assert record.row is None
    assert record.problem is not None
    assert record.problem.error_type == "too_deeply_nested"  # type: ignore[attr-defined]


def test_a_gbk_declared_answer_is_read_as_gb18030(api: HostileApi) -> None:
    item = feedback_record(1)
    item["parties"][0]["person_name"] = "𠮷某"
    body = json.dumps({"data": {"items": [item]}}, ensure_ascii=False).encode("gb18030")
    api.answers = [lambda h, _: _send(h, 200, body, "application/json; charset=GBK")]
    config = parse_config({
        "id": "gbk", "unit": DEMO_POLICE_UNIT, "kind": "http",
        "source": {"url": api.url("scripted"), "records_path": "data.items"},
        "preset": "police-feedback"}).source
    source = HttpSource(config)  # type: ignore[arg-type]

    async def poll() -> list[Any]:
        try:
            return [record async for record in source.read(None)]
        finally:
            await source.aclose()

    [record, _end] = run_sync(poll())
    assert record.row["parties.0.person_name"] == "𠮷某"


def test_an_error_envelope_by_code_is_configurable(api: HostileApi) -> None:
    api.answers = [lambda h, _: _send(h, 200, json.dumps(
        {"code": "5001", "msg": "系统繁忙", "data": {"items": []}},
        ensure_ascii=False).encode())]
    config = parse_config({
        "id": "codes", "unit": DEMO_POLICE_UNIT, "kind": "http",
        "source": {"url": api.url("scripted"), "records_path": "data.items",
                   "max_retries": 0, "error_path": "code", "ok_values": ["0000"]},
        "preset": "police-feedback"}).source
    source = HttpSource(config)  # type: ignore[arg-type]

    async def poll() -> list[Any]:
        try:
            return [record async for record in source.read(None)]
        finally:
            await source.aclose()

    [record] = run_sync(poll())
    assert record.problem.error_type == "error_envelope"
    assert "code = '5001'" in record.problem.reason
    assert "系统繁忙" in record.problem.reason
    assert parse_qs(urlparse(record.location["source.request"]).query) == {}
