"""Hostile values inside good records: each refuses its record with a reason naming the
field (a dead letter), never an exception the runner does not catch, never a rounded
figure, never seconds of CPU; the records after it still come through.

Values go through the real mapper, the real HTTP source (from a local HTTP server) and the
real SQL source (SQLite).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from connectors.checkpoint import Checkpoint
from connectors.config import HttpSourceConfig, SqlSourceConfig, parse_config
from connectors.kinds.http import HttpSource, later_stamp, shown_url
from connectors.kinds.sql import SqlSource
from connectors.mapping import build_mapper, convert_value
from connectors.source import Source, SourceRecord
from hub.errors import RecordRejected
from hub.models import CHINA_TZ
from tests.support.penalty_mapping import penalty_cells, penalty_mapper

_FINE = "罚款金额（万元）"
_NOW = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA_TZ)


def _refusal(row: dict[str, Any]) -> RecordRejected:
    with pytest.raises(RecordRejected) as caught:
        penalty_mapper().map(row, "a.csv#row 3", _NOW)
    return caught.value


@pytest.mark.parametrize(("text", "error_type"), [
    ("1e999999", "implausible_amount"), ("-1e999999", "implausible_amount"),
    ("1E+1000000", "implausible_amount"), ("1e999990", "implausible_amount"),
    ("1e-999999999", "not_a_number"), ("NaN", "not_a_number"),
])
def test_an_absurd_amount_refuses_its_row_at_once(text: str, error_type: str) -> None:
    # This process's CPU time, not the clock: the arithmetic refused here would take
    # minutes of CPU, and a clock also counts what other processes (the suite's second
    # one, a broker) take of the machine meanwhile.
    started = time.process_time()
    refused = _refusal(penalty_cells(**{_FINE: text}))
    assert time.process_time() - started < 1.0
    assert (refused.field, refused.error_type, refused.value) == (
        "fine_amount_fen", error_type, text)
    assert penalty_mapper().map(penalty_cells(8), "a.csv#row 4", _NOW).record["fine_amount_fen"] > 0


@pytest.mark.parametrize(("text", "conversion"), [
    ("1e9999999", "decimal"), ("1e1000000", "integer"), ("-1e1000000", "integer"),
    ("1e-9999999", "decimal"), ("0e-1000000", "decimal"), ("1e999990", "yuan_to_fen"),
])
def test_an_absurd_number_is_refused_before_any_costly_arithmetic(
        text: str, conversion: Any) -> None:
    started = time.process_time()  # CPU, not the clock (see above)
    with pytest.raises(RecordRejected) as caught:
        convert_value(text, conversion, "quantity")
    assert time.process_time() - started < 1.0
    assert caught.value.error_type in ("not_a_number", "implausible_amount")
    assert caught.value.field == "quantity"


def test_an_absurd_quantity_refuses_its_row() -> None:
    refused = _refusal(penalty_cells(涉案数量="1e9999999", 涉案物品="食用油", 数量单位="桶"))
    assert (refused.field, refused.error_type) == ("quantities.0.value", "not_a_number")


@pytest.mark.parametrize(("text", "exact"), [
    ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ("1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"),
    ("0.00000000000000000000000000012345", "0.00000000000000000000000000012345"),
    ("12.50", "12.5"),
])
def test_a_quantity_is_never_rounded(text: str, exact: str) -> None:
    assert convert_value(text, "decimal", "quantity") == exact
    event = penalty_mapper().map(penalty_cells(涉案数量=text, 涉案物品="食用油", 数量单位="桶"),
                          "a.csv#row 3", _NOW)
    assert event.record["quantities"][0]["value"] == exact


def test_an_amount_is_exact_or_refused_never_rounded() -> None:
    # 29 significant digits: the default context would round it to exactly 1 万元.
    refused = _refusal(penalty_cells(**{_FINE: "1.0000000000000000000000000001"}))
    assert (refused.field, refused.error_type) == ("fine_amount_fen", "fraction_of_fen")
    assert convert_value("12345678901234567890123456789.01", "yuan_to_fen", "fine") == \
        1234567890123456789012345678901
    assert convert_value("1.000001", "wan_yuan_to_fen", "fine") == 1_000_001


@pytest.mark.parametrize("cell", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize(("column", "field"), [
    (_FINE, "fine_amount_fen"), ("行政相对人名称", "parties.0.name"),
    ("处罚决定日期", "decision_date"),
])
def test_an_infinite_or_nan_typed_cell_refuses_its_row(cell: float, column: str,
                                                        field: str) -> None:
    refused = _refusal(penalty_cells(**{column: cell}))  # an XLSX <v>1e999</v>, JSON NaN
    assert (refused.field, refused.error_type) == (field, "not_a_number")


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00",
                                  "0001-01-01 05:00:00"])
def test_a_date_time_out_of_range_in_some_zone_refuses_its_row(text: str) -> None:
    refused = _refusal(penalty_cells(录入日期=text))
    assert refused.field == "recorded_at"
    assert refused.error_type in ("bad_datetime", "implausible_date")


@pytest.mark.parametrize("column", ["行政相对人名称", "行政处罚决定书文号", "备注"])
def test_a_lone_surrogate_in_a_typed_row_refuses_it_as_bad_encoding(column: str) -> None:
    refused = _refusal(penalty_cells(**{column: "名\ud800称"}))
    assert refused.error_type == "bad_encoding"
    assert refused.field


async def _read_from(source: Source, position: dict[str, Any]) -> list[SourceRecord]:
    return [record async for record in source.read(Checkpoint(position))]


def _read(source: Source) -> list[SourceRecord]:
    async def collect() -> list[SourceRecord]:
        return [record async for record in source.read(None)]

    return asyncio.run(collect())


_FEEDBACK = {"record_type": "receipt", "occurred_at": "2024-03-01 10:00:00",
             "referral_number": "R1", "referring_unit_code": "11429901030089405N",
             "agency_decision_number": "D1"}


@contextmanager
def _http_source(body: bytes) -> Iterator[HttpSource]:
    """An HTTP source reading ``body`` from an agency API on this host."""
    with _answering(lambda handler: _json(handler, body),
                    records_path="data.items") as (source, _):
        yield source


def test_a_lone_surrogate_in_an_http_record_dead_letters_that_record_only() -> None:
    items = [json.dumps({**_FEEDBACK, "record_id": f"r{n}", "name": "张三"}, ensure_ascii=False)
             for n in (1, 2, 3)]
    items[1] = items[1].replace("张三", "\\ud800x")  # JSON may escape a lone surrogate
    body = ('{"data":{"items":[' + ",".join(items) + "]}}").encode()
    with _http_source(body) as source:
        records = [r for r in _read(source) if not r.marker]
    assert [r.problem is None for r in records] == [True, False, True]
    problem = records[1].problem
    assert isinstance(problem, RecordRejected)
    assert (problem.field, problem.error_type) == ("name", "bad_encoding")
    assert b"\\ud800x" in records[1].raw
    assert records[2].row is not None and records[2].row["record_id"] == "r3"


@pytest.mark.parametrize("literal", ["1e999", "NaN", "-Infinity",
                                     '"9999-12-31T23:00:00-12:00"'])
def test_a_non_finite_or_out_of_range_json_value_refuses_its_record(literal: str) -> None:
    config = parse_config({"id": "h-test", "unit": "114299010313564485", "kind": "http",
                           "source": {"url": "http://x/", "records_path": "data.items"},
                           "preset": "police-feedback"})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    item = json.dumps({**_FEEDBACK, "record_id": "r1", "updated_at": "@"})
    body = ('{"data":{"items":[' + item.replace('"@"', literal) + "]}}").encode()
    with _http_source(body) as source:
        record = next(r for r in _read(source) if not r.marker)
    assert record.row is not None
    with pytest.raises(RecordRejected) as caught:
        mapper.map(record.row, record.reference, _NOW)
    assert caught.value.field == "recorded_at"
    assert caught.value.error_type in ("not_a_number", "bad_datetime")


def test_a_sql_payload_nested_too_deep_dead_letters_that_row_only(tmp_path: Path) -> None:
    database = tmp_path / "outbox.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table outbox (id integer, ts integer, payload text)")
        connection.executemany("insert into outbox values (?, ?, ?)", [
            (1, 1, json.dumps({"a": 1})),
            (2, 2, '{"a":' * 100_000 + "1" + "}" * 100_000),
            (3, 3, "[" * 100_000 + "]" * 100_000),
            (4, 4, json.dumps({"a": 4})),
        ])
    source = SqlSource(SqlSourceConfig.model_validate({
        "url": f"sqlite:///{database}", "table": "outbox", "watermark_column": "ts",
        "tie_breaker_column": "id", "payload_column": "payload"}))
    records = _read(source)
    assert [r.reference for r in records] == [f"outbox#id={n}" for n in (1, 2, 3, 4)]
    for record in records[1:3]:
        assert isinstance(record.problem, RecordRejected)
        assert (record.problem.field, record.problem.error_type) == (
            "payload", "too_deeply_nested")
        assert record.raw
    assert records[3].row is not None and records[3].row["payload.a"] == 4


def test_sql_rows_without_a_watermark_are_named_not_read_in_a_loop(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A row whose watermark is NULL has no place in the order the table is read in:
    taken, a full batch ending on it sent the next query back to the first rows for
    ever. It is left unread and named in a warning; every other row is read once."""
    database = tmp_path / "outbox.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table outbox (id integer, ts integer, payload text)")
        connection.executemany("insert into outbox values (?, ?, ?)", [
            (1, 1, "{}"), (2, None, "{}"), (3, 2, "{}"), (4, 3, "{}"), (5, None, "{}")])
    source = SqlSource(SqlSourceConfig.model_validate({
        "url": f"sqlite:///{database}", "table": "outbox", "watermark_column": "ts",
        "tie_breaker_column": "id", "batch_size": 2}))

    async def first(limit: int) -> list[SourceRecord]:
        taken: list[SourceRecord] = []
        async for record in source.read(None):
            taken.append(record)
            if len(taken) >= limit:
                break
        return taken

    with caplog.at_level("WARNING"):
        records = asyncio.run(first(20))
    assert [r.reference for r in records if not r.marker] == [
        f"outbox#id={n}" for n in (1, 3, 4)]
    assert "2 rows have no ts or id and are not read" in caplog.text


@pytest.mark.parametrize("columns", [[], ["id", "ts", "name", "note"]],
                         ids=["all-columns", "named-columns"])
def test_a_sql_cell_that_is_not_text_dead_letters_its_row_and_the_reading_goes_on(
        tmp_path: Path, columns: list[str]) -> None:
    """SQLite keeps whatever bytes it is given in a TEXT column; the driver then fails the
    whole batch's query on the cell. That was taken for an outage and the query retried
    for ever. Now the row is refused naming its tie-breaker and the column, carries its
    readable cells, and the rows after it are read (batches of 2: the bad row's batch
    and the next)."""
    database = tmp_path / "cases.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table cases (id integer, ts integer, name text, note text)")
        connection.executemany("insert into cases values (?, ?, ?, ?)", [
            (1, 1, "甲", "a"), (3, 3, "丙", "c"), (4, 4, "丁", "d")])
        # bytes that are not UTF-8 in a TEXT cell (a legacy GBK client's write)
        connection.execute("insert into cases values (2, 2, cast(x'b6a1' as text), 'b')")
    source = SqlSource(SqlSourceConfig.model_validate({
        "url": f"sqlite:///{database}", "table": "cases", "watermark_column": "ts",
        "tie_breaker_column": "id", "batch_size": 2, "columns": columns}))
    records = [r for r in _read(source) if not r.marker]
    assert [r.reference for r in records] == [f"cases#id={n}" for n in (1, 2, 3, 4)]
    refused = records[1]
    assert refused.row is None and isinstance(refused.problem, RecordRejected)
    assert (refused.problem.field, refused.problem.error_type) == ("name", "undecodable")
    assert "name could not be decoded" in str(refused.problem)
    assert json.loads(refused.raw) == {"id": 2, "ts": 2, "note": "b", "name": None,
                                       "_undecodable_columns": ["name"]}
    assert refused.position["tie"] == {"type": "int", "value": 2}
    assert [r.row["name"] for r in records if r.row] == ["甲", "丙", "丁"]


@contextmanager
def _answering(answer: Callable[[BaseHTTPRequestHandler], None],
               **source: Any) -> Iterator[tuple[HttpSource, int]]:
    """An HTTP source on this host whose server answers each GET with ``answer``."""

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpSource(HttpSourceConfig.model_validate(
            {"url": f"http://127.0.0.1:{server.server_port}/feed", "records_path": "data",
             "max_retries": 0, **source})), server.server_port
    finally:
        server.shutdown()
        server.server_close()


def _json(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_a_redirect_to_another_host_is_not_followed() -> None:
    """A unit's server must not steer the connector (its API key, its client
    certificate) to another host, such as an address inside the hub's network."""
    requests: list[str] = []

    def answer(handler: BaseHTTPRequestHandler) -> None:
        requests.append(handler.path)
        if handler.path.startswith("/feed"):
            port = handler.server.server_address[1]
            handler.send_response(302)
            handler.send_header("Location", f"http://localhost:{port}/internal")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        _json(handler, b'{"data": [{"secret": "internal"}]}')

    with _answering(answer) as (source, _):
        [record] = _read(source)
    assert isinstance(record.problem, RecordRejected)
    assert record.problem.error_type == "http_redirect_elsewhere"
    assert [path for path in requests if path.startswith("/internal")] == []


@pytest.mark.parametrize(("configured", "asked", "followed"), [
    ("https://xn--fiqs8s.xn--fiqs8s/api", "https://中国.中国/api?page=2", True),  # an IDN
    ("https://api.example.gov.cn/feed", "https://API.example.gov.cn:443/v2", True),
    ("http://api.example.gov.cn/feed", "https://api.example.gov.cn/feed", True),  # TLS
    ("https://api.example.gov.cn/feed", "http://api.example.gov.cn/feed", False),
    ("https://api.example.gov.cn/feed", "https://api.example.gov.cn:8443/", False),
    ("https://api.example.gov.cn/feed", "https://169.254.169.254/latest", False),
])
def test_only_the_configured_origin_is_followed(configured: str, asked: str,
                                                followed: bool) -> None:
    """A redirect may go to another path of the configured origin, or from HTTP to HTTPS
    on its host; never to plain HTTP (the API key in clear), another port or host."""
    source = HttpSource(HttpSourceConfig.model_validate({"url": configured,
                                                         "records_path": "data"}))
    check = source._same_origin(httpx.Request("GET", asked))
    if followed:
        asyncio.run(check)
        return
    with pytest.raises(RecordRejected) as caught:
        asyncio.run(check)
    assert caught.value.error_type == "http_redirect_elsewhere"


def test_answers_that_cannot_be_used_dead_letter_the_poll_not_the_connector() -> None:
    """A cursor with a lone surrogate (the next request cannot be written) and an error
    envelope nested deeper than Python can write back: each a dead-lettered poll."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        if "cursor=" in handler.path:
            _json(handler, b'{"data": []}')
            return
        _json(handler, b'{"data": [{"record_id": "r1"}], "next": "\\ud800"}')

    with _answering(answer, pagination={"kind": "cursor", "cursor_param": "cursor",
                                        "next_cursor_path": "next"}) as (source, _):
        records = [r for r in _read(source) if not r.marker]
    assert [r.problem is None for r in records] == [True, False]
    assert isinstance(records[1].problem, RecordRejected)
    assert records[1].problem.error_type == "unusable_request"

    nested = b'{"success": false, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with _answering(lambda handler: _json(handler, nested)) as (source, _):
        [record] = _read(source)
    assert isinstance(record.problem, RecordRejected)
    assert record.problem.error_type == "not_json"


def test_the_endpoint_is_named_without_its_credentials() -> None:
    """Logs, dead-letter headers and source references name the endpoint, never the
    user, password or API key the configured URL carries."""
    assert shown_url("https://svc:pa55@api.example.gov.cn:8443/feed?appkey=SECRET&x=1") \
        == "https://api.example.gov.cn:8443/feed?appkey=…&x=…"

    def answer(handler: BaseHTTPRequestHandler) -> None:
        _json(handler, b"not json", status=500)

    with _answering(answer) as (source, port):
        source = HttpSource(source.config.model_copy(update={
            "url": f"http://user:pa55@127.0.0.1:{port}/feed?appkey=SECRET"}))
        [record] = _read(source)
    shown = " ".join([record.reference, *record.location.values()])
    assert "SECRET" not in shown and "pa55" not in shown
    assert f"127.0.0.1:{port}/feed" in shown


@pytest.mark.parametrize(("stamps", "newest"), [
    ([9, 10], "10"),
    (["2026-03-01T10:00:00+08:00", "2026-03-01T03:00:00Z"], "2026-03-01T03:00:00Z"),
    (["2026-03-01 09:00:00", "2026-03-01 10:00:00"], "2026-03-01 10:00:00"),
], ids=["numbers", "offsets", "local-times"])
def test_the_next_pass_asks_after_the_newest_stamp_as_the_api_means_it(
        stamps: list[Any], newest: str) -> None:
    """An API read by since-stamps: the next pass asks for what came after the newest
    record seen. Compared as text, 9 was newer than 10 and 10:00+08:00 (02:00 UTC) newer
    than 03:00Z, so every later pass read the newest records again (and dead-lettered a
    bad one again)."""
    asked: list[str | None] = []

    def order(stamp: Any) -> Any:
        return (stamp if isinstance(stamp, int)
                else datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                if "T" in stamp else stamp)

    def answer(handler: BaseHTTPRequestHandler) -> None:
        since = dict(parse_qsl(urlsplit(handler.path).query)).get("since")
        asked.append(since)
        after = [s for s in stamps if since is None
                 or order(s) > order(int(since) if isinstance(s, int) else since)]
        _json(handler, json.dumps({"data": [{"updated": s, "n": stamps.index(s)}
                                            for s in after]}).encode())

    with _answering(answer, since_param="since", since_field="updated") as (source, _):
        first = _read(source)
        assert [r.row["n"] for r in first if r.row] == [0, 1]
        end = first[-1]
        assert end.marker and end.position["since"] == newest
        again = asyncio.run(_read_from(source, end.position))
    assert asked == [None, newest]
    assert [r for r in again if not r.marker] == []


def test_a_stamp_at_the_edge_of_the_calendar_is_compared_as_text_not_fatal() -> None:
    """.NET APIs write their minimum date as 0001-01-01T00:00:00+08:00, which has no UTC
    instant: it is compared as text, and the page goes on."""
    assert later_stamp("2026-03-01T10:00:00+08:00", "0001-01-01T00:00:00+08:00")
    assert not later_stamp("0001-01-01T00:00:00+08:00", "2026-03-01T10:00:00+08:00")
    assert later_stamp("9999-12-31T23:59:59-01:00", "2026-03-01T10:00:00Z")
