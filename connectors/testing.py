"""Harnesses of the standard connector suite: one per source kind, same checks for all.

A harness knows how to configure a connector of its kind against a temporary source,
fill that source with good (and bad) records, and replay the same input. The suite in
``tests/integration/test_connector_standard.py`` runs every harness through identical
checks, the way a new kind gets the whole suite by adding one harness here.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

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

__all__ = ["KINDS", "CsvFileHarness", "KindHarness", "SqlHarness", "XmlFileHarness"]

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


KINDS: dict[str, type[KindHarness]] = {
    CsvFileHarness.name: CsvFileHarness,
    XmlFileHarness.name: XmlFileHarness,
    SqlHarness.name: SqlHarness,
    PostgresHarness.name: PostgresHarness,
}
