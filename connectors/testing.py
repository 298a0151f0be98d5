"""Harnesses of the standard connector suite: one per source kind, same checks for all.

A harness knows how to configure a connector of its kind against a temporary source,
fill that source with good (and bad) records, and replay the same input. The suite in
``tests/integration/test_connector_standard.py`` runs every harness through identical
checks, the way a new kind gets the whole suite by adding one harness here.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, create_engine

from connectors.samples import (
    DEMO_MARKET_UNIT,
    PENALTY_HEADER,
    penalty_row,
    penalty_rows,
    write_court_xml,
    write_penalty_csv,
)
from hub.models import CHINA_TZ

__all__ = [
    "KINDS",
    "CsvFileHarness",
    "CsvFileWorkersHarness",
    "FeedbackServer",
    "HttpHarness",
    "KindHarness",
    "SqlHarness",
    "XmlFileHarness",
]

DEMO_POLICE_UNIT = "114299010313564485"

DEMO_COURT_UNIT = "11429901030089405N"


class KindHarness:
    """Base: a temporary source of one kind."""

    name: ClassVar[str] = "base"
    large: ClassVar[int] = 12_000
    bad_reasons: ClassVar[set[str]] = set()

    def __init__(self, root: Path, **resources: Any) -> None:
        self.root = root
        self.batches = 0
        self.resources = resources

    @property
    def bad_rows(self) -> int:
        return len(self.bad_reasons)

    def config(self, connector_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def write_batch(self, count: int, *, bad: bool) -> list[Path]:
        """Add ``count`` good records (plus the bad ones); return sample files of them."""
        raise NotImplementedError

    def replay(self) -> None:
        """Offer the same input again."""
        raise NotImplementedError

    def close(self) -> None:
        return None


class CsvFileHarness(KindHarness):
    """A drop folder receiving GBK 双公示 CSV exports."""

    name = "file-csv"
    bad_reasons: ClassVar[set[str]] = {"not_a_number", "column_count", "validation",
                                       "bad_encoding"}

    def __init__(self, root: Path, **resources: Any) -> None:
        super().__init__(root, **resources)
        self.drop = root / "drop"
        self.drop.mkdir()
        self.staging = root / "staging"
        self.staging.mkdir()

    def config(self, connector_id: str) -> dict[str, Any]:
        return {"id": connector_id, "unit": DEMO_MARKET_UNIT, "kind": "file",
                "source": {"path": str(self.drop), "pattern": "*.csv", "settle_seconds": 0},
                "preset": "penalty-disclosure"}

    def write_batch(self, count: int, *, bad: bool) -> list[Path]:
        self.batches += 1
        extra: list[list[str]] = []
        if bad:
            wrong_code = penalty_row(10**6)
            wrong_code[PENALTY_HEADER.index("处罚机关统一社会信用代码")] = "11429901030089405A"
            extra = [["bad"] * len(PENALTY_HEADER), ["x", "y"], wrong_code]
        staged = self.staging / f"export-{self.batches}.csv"
        write_penalty_csv(staged, count, start=self.batches * 10**6, extra_rows=extra)
        if bad:
            with staged.open("ab") as handle:  # a row with bytes that are not GBK
                handle.write(b"\xff\xfe," * 29 + b"\xff\r\n")
        target = self.drop / staged.name
        shutil.copy(staged, target)
        return [staged]

    def replay(self) -> None:
        for staged in self.staging.glob("*.csv"):
            shutil.copy(staged, self.drop / f"again-{staged.name}")


class CsvFileWorkersHarness(CsvFileHarness):
    """The CSV drop folder mapped by two worker processes (``connectors.parallel``), in
    chunks small enough that even the small batches go through the pool."""

    name = "file-csv-workers"

    def config(self, connector_id: str) -> dict[str, Any]:
        return {**super().config(connector_id), "workers": 2, "worker_chunk_rows": 16}


class XmlFileHarness(KindHarness):
    """A drop folder receiving court judgment XML exports; a DOCTYPE file is refused."""

    name = "xml"
    bad_reasons: ClassVar[set[str]] = {"unsafe_xml", "bad_date"}

    def __init__(self, root: Path, **resources: Any) -> None:
        super().__init__(root, **resources)
        self.drop = root / "drop"
        self.drop.mkdir()
        self.staging = root / "staging"
        self.staging.mkdir()

    def config(self, connector_id: str) -> dict[str, Any]:
        return {"id": connector_id, "unit": DEMO_COURT_UNIT, "kind": "xml",
                "source": {"path": str(self.drop), "record_tag": "judgment",
                           "settle_seconds": 0},
                "preset": "court-judgment"}

    def write_batch(self, count: int, *, bad: bool) -> list[Path]:
        self.batches += 1
        staged = self.staging / f"judgments-{self.batches}.xml"
        write_court_xml(staged, count, start=self.batches * 10**6, bad_date=bad)
        files = [staged]
        if bad:
            bomb = self.staging / f"entities-{self.batches}.xml"
            bomb.write_text('<?xml version="1.0"?>\n<!DOCTYPE j [<!ENTITY a "aaaaaaaa">'
                            '<!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n<judgments><judgment>'
                            "<court_case_number>&b;</court_case_number></judgment>"
                            "</judgments>\n", encoding="utf-8")
            files.append(bomb)
        for path in files:
            shutil.copy(path, self.drop / path.name)
        return files

    def replay(self) -> None:
        for staged in self.staging.glob("*.xml"):
            shutil.copy(staged, self.drop / f"again-{staged.name}")


class SqlHarness(KindHarness):
    """An agency database table of 双公示 rows read by a high-water mark (SQLite file)."""

    name = "sql-sqlite"
    bad_reasons: ClassVar[set[str]] = {"not_a_number", "validation"}
    timestamp_watermark: ClassVar[bool] = False

    def __init__(self, root: Path, **resources: Any) -> None:
        super().__init__(root, **resources)
        self.url = str(resources.get("database_url") or f"sqlite:///{root / 'agency.db'}")
        self.engine = create_engine(self.url)
        metadata = MetaData()
        watermark = DateTime(timezone=True) if self.timestamp_watermark else BigInteger
        self.table = Table("penalty_export", metadata,
                           Column("id", Integer, primary_key=True, autoincrement=False),
                           Column("updated_at", watermark, nullable=False),
                           *(Column(name, Text) for name in PENALTY_HEADER))
        metadata.create_all(self.engine)
        self.next_id = 1

    def config(self, connector_id: str) -> dict[str, Any]:
        return {"id": connector_id, "unit": DEMO_MARKET_UNIT, "kind": "sql",
                "source": {"url": self.url, "table": "penalty_export",
                           "watermark_column": "updated_at", "tie_breaker_column": "id",
                           "batch_size": 500},
                "preset": "penalty-disclosure"}

    def _watermark(self, row_id: int) -> Any:
        if self.timestamp_watermark:  # seven rows share each timestamp: ties are common
            return datetime(2024, 3, 1, tzinfo=CHINA_TZ) + timedelta(seconds=row_id // 7)
        return row_id // 7

    def write_batch(self, count: int, *, bad: bool) -> list[Path]:
        self.batches += 1
        rows = list(penalty_rows(count, start=self.batches * 10**6))
        if bad:
            not_a_number = penalty_row(10**6 + 1)
            not_a_number[PENALTY_HEADER.index("罚款金额（万元）")] = "一万"
            wrong_code = penalty_row(10**6 + 2)
            wrong_code[PENALTY_HEADER.index("处罚机关统一社会信用代码")] = "11429901030089405A"
            rows += [not_a_number, wrong_code]
        records = []
        for row in rows:
            records.append({"id": self.next_id, "updated_at": self._watermark(self.next_id),
                            **dict(zip(PENALTY_HEADER, row, strict=True))})
            self.next_id += 1
        with self.engine.begin() as connection:
            connection.execute(self.table.insert(), records)
        sample = self.root / f"sample-{self.batches}.json"
        sample.write_text(json.dumps([dict(zip(PENALTY_HEADER, row, strict=True))
                                      for row in rows], ensure_ascii=False), encoding="utf-8")
        return [sample]

    def replay(self) -> None:
        """Nothing new in the table: a second run must add nothing."""

    def close(self) -> None:
        self.engine.dispose()


class PostgresHarness(SqlHarness):
    """The same table on real PostgreSQL, with a timestamp watermark full of ties."""

    name = "sql-postgres"
    timestamp_watermark = True


class FeedbackServer:
    """A real HTTP server (stdlib, in a thread) serving police feedback like the demo's API.

    ``GET /feedback?page=N&size=M&since=T`` with a bearer token; records newer than
    ``since`` (by ``updated_at``), wrapped as ``{"data": {"items": [...]}}``. The first
    request of every ``fail_every`` answers 503 with ``Retry-After: 0`` so that every run
    goes through the retry path.
    """

    def __init__(self, token: str = "test-token", fail_every: int = 7) -> None:  # noqa: S107
        self.records: list[dict[str, Any]] = []
        self.token = token
        self.requests = 0
        self.fail_every = fail_every
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._send(401, {"error": "unauthorised"})
                    return
                if server.fail_every and server.requests % server.fail_every == 1:
                    self._send(503, {"error": "busy"}, {"Retry-After": "0"})
                    return
                query = parse_qs(urlparse(self.path).query)
                page = int(query.get("page", ["1"])[0])
                size = int(query.get("size", ["100"])[0])
                since = query.get("since", [""])[0]
                chosen = [r for r in list(server.records) if not since or r["updated_at"] > since]
                items = chosen[(page - 1) * size: page * size]
                self._send(200, {"data": {"items": items, "page": page}})

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None
                      ) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/feedback"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def feedback_record(number: int, *, record_type: str = "filing_decision") -> dict[str, Any]:
    """One fictional police feedback record in the demo API's shape."""
    updated = datetime(2024, 5, 1, tzinfo=CHINA_TZ) + timedelta(seconds=number)
    return {
        "cursor": number,
        "updated_at": updated.isoformat(),
        "record_id": f"FB313564{number:09d}",
        "record_type": record_type,
        "police_unit_code": DEMO_POLICE_UNIT,
        "police_case_number": f"A42990102000020241{number:08d}",
        "document_number": f"演公立字〔2024〕{number}号",
        "occurred_at": (updated - timedelta(days=1)).isoformat(),
        "decision_date": (updated - timedelta(days=1)).date().isoformat(),
        "referral_number": f"演市监移〔2024〕{number}号",
        "referring_unit_code": DEMO_MARKET_UNIT,
        "agency_decision_number": f"演示县市监处罚〔2024〕{number}号",
        "agency_case_number": None,
        "suspected_offence": "销售伪劣产品罪",
        "parties": [{"name": f"演示县虚构商贸有限公司{number}", "category": "法人及非法人组织",
                     "credit_code": None, "id_type": "身份证", "id_number": None,
                     "person_name": "钱某"}],
        "decision": "FILED",
        "reasons": None,
        "in_reply_to": None,
    }


class HttpHarness(KindHarness):
    """A police case system's feedback API, paged, with since-timestamps and bearer auth."""

    name = "http"
    bad_reasons: ClassVar[set[str]] = {"unknown_record_type", "bad_datetime"}

    def __init__(self, root: Path, **resources: Any) -> None:
        super().__init__(root, **resources)
        self.server = FeedbackServer()
        self.next_number = 1

    def config(self, connector_id: str) -> dict[str, Any]:
        return {"id": connector_id, "unit": DEMO_POLICE_UNIT, "kind": "http",
                "source": {"url": self.server.url, "records_path": "data.items",
                           "pagination": {"kind": "page", "page_size": 500},
                           "since_param": "since", "since_field": "updated_at",
                           "auth": {"bearer_token": self.server.token}},
                "preset": "police-feedback"}

    def write_batch(self, count: int, *, bad: bool) -> list[Path]:
        self.batches += 1
        records = []
        for _ in range(count):
            records.append(feedback_record(self.next_number))
            self.next_number += 1
        if bad:
            records.append(feedback_record(self.next_number, record_type="status_sync"))
            self.next_number += 1
            broken = feedback_record(self.next_number)
            broken["occurred_at"] = "2024-02-30T10:00:00+08:00"
            records.append(broken)
            self.next_number += 1
        self.server.records.extend(records)
        sample = self.root / f"feedback-{self.batches}.json"
        sample.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        return [sample]

    def replay(self) -> None:
        """The API serves the same records again: a second run must add nothing."""

    def close(self) -> None:
        self.server.close()


KINDS: dict[str, type[KindHarness]] = {
    HttpHarness.name: HttpHarness,
    CsvFileHarness.name: CsvFileHarness,
    CsvFileWorkersHarness.name: CsvFileWorkersHarness,
    XmlFileHarness.name: XmlFileHarness,
    SqlHarness.name: SqlHarness,
    PostgresHarness.name: PostgresHarness,
}
