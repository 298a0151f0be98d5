"""File kind: a drop folder of CSV (UTF-8, UTF-8 with BOM, GBK, GB18030) and XLSX exports.

CSV is read as bytes, record by record (a quoted cell may span lines), so the dead-letter
record carries the row's exact original bytes and the checkpoint is a byte offset: a
restart seeks straight to the next row. Memory does not grow with the file. XLSX is
streamed with openpyxl's read-only mode; its checkpoint is the row number.

Encoding is detected once per file: a BOM says UTF-8; otherwise a sample that decodes
as strict UTF-8 is UTF-8; anything else is read as GB18030 (a superset of GBK).
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.config import FileSourceConfig
from connectors.kinds.dropfolder import DropFolderSource
from connectors.source import SourceRecord
from hub.errors import RecordRejected

__all__ = ["CsvRowParser", "FileSource", "detect_encoding", "iter_csv_records"]

log = logging.getLogger(__name__)
_SAMPLE_BYTES = 256 * 1024


def detect_encoding(sample: bytes) -> str:
    """``utf-8-sig`` (BOM), else ``utf-8`` or ``gb18030`` by a vote of the sample's lines.

    Each line that is not plain ASCII votes ``utf-8`` if it decodes strictly as UTF-8,
    else ``gb18030``; the header line weighs three. A vote rather than one strict decode of
    the whole sample, because exports in the field mix: a UTF-8 file with one row pasted
    from a GBK system must stay UTF-8 so that only that row is dead-lettered (as
    ``bad_encoding``), not the whole file.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    lines = sample.split(b"\n")
    utf8_votes = gb_votes = 0
    for index, line in enumerate(lines):
        if line.isascii():
            continue
        weight = 3 if index == 0 else 1
        last = index == len(lines) - 1  # may be cut mid-character at the sample's end
        try:
            codecs.getincrementaldecoder("utf-8")(errors="strict").decode(line, final=not last)
        except UnicodeDecodeError:
            gb_votes += weight
        else:
            utf8_votes += weight
    return "gb18030" if gb_votes > utf8_votes else "utf-8"


def iter_csv_records(handle: Any, start_offset: int) -> Iterator[tuple[bytes, int]]:
    """Raw CSV records (bytes, offset after) from a binary file positioned at ``start_offset``.

    A line with an odd number of quotes opens a quoted cell that continues on the next
    line. Splitting on b"\\n" is safe for GBK/GB18030 (no trail byte is 0x0A).
    """
    offset = start_offset
    pending = b""
    for line in handle:
        offset += len(line)
        if pending:
            pending += line
            if pending.count(b'"') % 2:
                continue
            line, pending = pending, b""
        elif line.count(b'"') % 2:
            pending = line
            continue
        yield line, offset
    if pending:
        yield pending, offset


@dataclass(frozen=True, slots=True)
class CsvRowParser:
    """One CSV record's bytes → its row (column → cell), for the rows of one file.

    Picklable: mapping processes receive it with the raw records (once per chunk) and
    parse there, when the runner defers parsing.
    """

    header: tuple[str, ...]
    encoding: str
    delimiter: str

    def parse(self, raw: bytes) -> dict[str, Any]:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise RecordRejected(f"row is not valid {self.encoding}: {exc}",
                                 error_type="bad_encoding") from None
        values = next(csv.reader([text], delimiter=self.delimiter), [])
        if len(values) != len(self.header):
            raise RecordRejected(
                f"row has {len(values)} cells, the header has {len(self.header)}",
                field="row", value=str(len(values)), error_type="column_count")
        return dict(zip(self.header, values, strict=True))


class FileSource(DropFolderSource):
    """Reads settled CSV/XLSX files in mtime order, archives them once checkpointed."""

    def __init__(self, config: FileSourceConfig) -> None:
        self.config = config
        self._open_folder(config.path, config.pattern, config.archive_dir(),
                          config.settle_seconds)

    def records(self, path: Path, digest: str, resume: dict[str, Any]
                ) -> Iterator[SourceRecord]:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return self._xlsx(path, digest, resume)
        return self._csv(path, digest, resume)

    def _encoding(self, path: Path) -> str:
        if self.config.encoding != "auto":
            return self.config.encoding
        with path.open("rb") as handle:
            return detect_encoding(handle.read(_SAMPLE_BYTES))

    def _csv(self, path: Path, digest: str, resume: dict[str, Any]) -> Iterator[SourceRecord]:
        encoding = self._encoding(path)
        delimiter = self.config.delimiter
        name = path.name
        with path.open("rb") as handle:
            header_line = handle.readline()
            try:
                header_text = header_line.decode(encoding)
            except UnicodeDecodeError as exc:
                problem = RecordRejected(f"header row is not {encoding}: {exc}",
                                         field="header", error_type="bad_encoding")
                yield SourceRecord(None, header_line, {"fingerprint": digest, "file": name,
                                                       "offset": len(header_line), "row": 1},
                                   f"{name}#row 1", {"source.file": name, "source.row": "1"},
                                   problem)
                return
            header = [h.strip() for h in next(csv.reader([header_text], delimiter=delimiter))]
            if encoding == "utf-8-sig":
                encoding = "utf-8"  # the BOM was in the header line only
            parser = CsvRowParser(tuple(header), encoding, delimiter)
            defer = self.defer_rows
            offset = int(resume.get("offset") or handle.tell())
            row_number = int(resume.get("row") or 1)
            handle.seek(offset)
            for raw, end in iter_csv_records(handle, offset):
                row_number += 1
                if not raw.strip():
                    continue
                position = {"fingerprint": digest, "file": name, "offset": end,
                            "row": row_number}
                reference = f"{name}#row {row_number}"
                location = {"source.file": name, "source.row": str(row_number)}
                if defer:
                    yield SourceRecord(None, raw, position, reference, location,
                                       parser=parser)
                    continue
                try:
                    row = parser.parse(raw)
                except RecordRejected as exc:
                    yield SourceRecord(None, raw, position, reference, location, exc)
                    continue
                yield SourceRecord(row, raw, position, reference, location)

    def _xlsx(self, path: Path, digest: str, resume: dict[str, Any]) -> Iterator[SourceRecord]:
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = workbook[self.config.sheet] if self.config.sheet else workbook.active
            rows = sheet.iter_rows(values_only=True)
            header_cells = next(rows, None)
            if header_cells is None:
                return
            header = [str(h).strip() if h is not None else "" for h in header_cells]
            start = int(resume.get("row") or 1)
            name = path.name
            for row_number, cells in enumerate(rows, start=2):
                if row_number <= start:
                    continue
                if all(c is None or c == "" for c in cells):
                    continue
                row = {h: c for h, c in zip(header, cells, strict=False) if h}
                raw = json.dumps(dict(zip(header, cells, strict=False)), ensure_ascii=False,
                                 default=str).encode("utf-8")
                yield SourceRecord(row, raw, {"fingerprint": digest, "file": name,
                                              "offset": 0, "row": row_number},
                                   f"{name}#row {row_number}",
                                   {"source.file": name, "source.row": str(row_number)})
        finally:
            workbook.close()
