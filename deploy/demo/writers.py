"""Byte-exact, deterministic writers for the source systems' own export formats.

Determinism is a feature the tests rely on (same seed, same bytes), so nothing here may
embed the wall clock: XLSX documents get fixed timestamps in their properties and zip
entries, and SQLite files are written in one transaction on a fresh file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from openpyxl import Workbook

__all__ = [
    "BAD_BYTES_MARKER",
    "FIXED_TIMESTAMP",
    "CsvStyle",
    "XmlElement",
    "encode_csv",
    "render_xml",
    "sha256_of",
    "write_json",
    "write_outbox_sqlite",
    "write_xlsx",
]

#: Placed inside a field where a row must carry bytes invalid in the file's encoding; the
#: writer swaps it for the bad bytes after encoding the row.
BAD_BYTES_MARKER = "@@BAD-BYTES@@"
#: Timestamp written into generated documents' metadata instead of "now".
FIXED_TIMESTAMP = datetime(2026, 1, 1, 0, 0, 0)  # noqa: DTZ001 - zip and OOXML times are naive


@dataclass(frozen=True, slots=True)
class CsvStyle:
    """How one agency's system writes CSV: encoding and line terminator."""

    encoding: str
    line_terminator: str = "\r\n"


def _bad_bytes_for(encoding: str, text: str) -> bytes:
    """Bytes that cannot decode in ``encoding``, looking like a real corruption.

    GBK/GB18030 files get a truncated double-byte character (lead byte 0xFF is never
    valid); UTF-8 files get the text encoded as GBK, as when a row is pasted in from an
    older system.
    """
    if encoding.lower().replace("-", "").replace("_", "") in {"utf8", "utf8sig"}:
        data = text.encode("gbk")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        return data + b"\xff"
    return text[:1].encode(encoding) + b"\xff" + text[1:].encode(encoding)


def encode_csv(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    style: CsvStyle,
    bad_text: dict[int, str] | None = None,
) -> bytes:
    """One CSV file as bytes; ``bad_text[row_index]`` is the text the marker replaces.

    Rows are encoded one by one so that a single row can carry invalid bytes while the rest
    of the file stays valid, which is what a connector must survive.
    """
    bad_text = bad_text or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=style.line_terminator)
    encoding = style.encoding
    chunks: list[bytes] = []
    if encoding.lower() == "utf-8-sig":
        chunks.append(b"\xef\xbb\xbf")
        encoding = "utf-8"
    writer.writerow(header)
    chunks.append(buffer.getvalue().encode(encoding))
    for index, row in enumerate(rows):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        line = buffer.getvalue()
        if index in bad_text:
            before, after = line.split(BAD_BYTES_MARKER, 1)
            chunks.append(
                before.encode(encoding)
                + _bad_bytes_for(encoding, bad_text[index])
                + after.encode(encoding)
            )
        else:
            chunks.append(line.encode(encoding))
    return b"".join(chunks)


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry timestamps and order, so equal content is equal bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"<dcterms:(created|modified)([^>]*)>[^<]*<",
                    rb"<dcterms:\1\2>2026-01-01T00:00:00Z<",
                    content,
                )
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, content)
    return out.getvalue()


def write_xlsx(
    header: Sequence[str], rows: Iterable[Sequence[Any]], sheet_title: str, date_format: str
) -> bytes:
    """An XLSX workbook (one sheet) as deterministic bytes.

    ``date`` values become real date cells with ``date_format`` as the number format (as
    office exports do); strings stay text, so a planted impossible date stays visible.
    """
    workbook = Workbook(write_only=True)
    workbook.properties.creator = "demo-county-generator"
    workbook.properties.created = FIXED_TIMESTAMP
    workbook.properties.modified = FIXED_TIMESTAMP
    sheet = workbook.create_sheet(sheet_title)
    sheet.append(list(header))
    excel_format = date_format.replace("%Y", "yyyy").replace("%m", "mm").replace("%d", "dd")
    from openpyxl.cell import WriteOnlyCell

    for row in rows:
        cells: list[Any] = []
        for value in row:
            if isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = excel_format
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _fixed_zip(buffer.getvalue())


def write_json(value: Any) -> bytes:
    """Pretty, stable JSON (UTF-8, Chinese kept readable, trailing newline)."""
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_outbox_sqlite(path: Path, rows: Sequence[tuple[int, str, str, str, str, str]]) -> None:
    """The procuratorate's transactional outbox: ``outbox(id, aggregate_type, ...)``.

    ``payload`` is JSON text (as written by the procuratorate's system); ``created_at`` an
    ISO 8601 timestamp with offset, increasing with ``id``.
    """
    if path.exists():
        path.unlink()
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute(
            "CREATE TABLE outbox ("
            " id INTEGER PRIMARY KEY,"
            " aggregate_type TEXT NOT NULL,"
            " aggregate_id TEXT NOT NULL,"
            " type TEXT NOT NULL,"
            " payload JSON NOT NULL,"
            " created_at TEXT NOT NULL)"
        )
        connection.execute("CREATE INDEX outbox_created_at ON outbox (created_at)")
        connection.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)", rows)
        connection.commit()
    finally:
        connection.close()


@dataclass(frozen=True, slots=True)
class XmlElement:
    """A tiny XML tree: enough for the court export, rendered without a library."""

    tag: str
    text: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    children: tuple[XmlElement, ...] = ()


def _render(element: XmlElement, depth: int, out: list[str]) -> None:
    pad = "  " * depth
    attrs = "".join(f" {name}={quoteattr(value)}" for name, value in element.attributes)
    if element.children:
        out.append(f"{pad}<{element.tag}{attrs}>")
        for child in element.children:
            _render(child, depth + 1, out)
        out.append(f"{pad}</{element.tag}>")
    elif element.text is None:
        out.append(f"{pad}<{element.tag}{attrs}/>")
    else:
        out.append(f"{pad}<{element.tag}{attrs}>{escape(element.text)}</{element.tag}>")


def render_xml(root: XmlElement, *, doctype: str | None = None) -> bytes:
    """UTF-8 XML document with declaration; ``doctype`` is inserted verbatim (bad files)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    if doctype:
        lines.append(doctype)
    _render(root, 0, lines)
    return ("\n".join(lines) + "\n").encode("utf-8")


def sha256_of(data: bytes) -> str:
    """Hex SHA-256, recorded per file in the manifest."""
    return hashlib.sha256(data).hexdigest()
