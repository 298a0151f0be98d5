"""File kind: a drop folder of CSV (UTF-8, UTF-8 with BOM, GBK, GB18030) and XLSX exports.

CSV is read as bytes, record by record (a quoted cell may span lines), so the dead-letter
record carries the row's exact original bytes and the checkpoint is a byte offset: a
restart seeks straight to the next row. Memory does not grow with the file. XLSX is
streamed with openpyxl's read-only mode; its checkpoint is the row number.

Encoding is detected once per file: a BOM says UTF-8; otherwise a sample that decodes
as strict UTF-8 is UTF-8; anything else is read as GB18030 (a superset of GBK). A
declared ``gbk`` is read as GB18030 too: every GBK byte sequence means the same there,
and names with characters outside GBK (𠮷) then pass instead of being refused.

Limits (:class:`~connectors.config.FileLimits`) bound what one file may cost: a file
over them is refused as a whole (:class:`~connectors.kinds.dropfolder.FileRejected`,
quarantined), a cell over ``max_field_chars`` refuses its row. An XLSX is checked as a
zip before openpyxl opens it: not a zip or truncated, more decompressed bytes than
allowed, or a part that inflates like a zip bomb, and it is refused unread.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr, BinaryIO

from connectors.config import FileLimits, FileSourceConfig
from connectors.kinds.dropfolder import DropFolderSource, FileRejected, open_regular
from connectors.kinds.xlsx_bounds import bound_openpyxl_rows
from connectors.source import SourceRecord, letter_raw
from hub.errors import RecordRejected

__all__ = ["CsvRowParser", "FileSource", "check_xlsx_zip", "detect_encoding",
           "iter_csv_records", "split_record"]

log = logging.getLogger(__name__)
_SAMPLE_BYTES = 256 * 1024
#: Rows an XLSX sheet can have at all (Excel's own limit).
_XLSX_MAX_ROWS = 1_048_576
#: Parts smaller than this are not judged by their compression ratio.
_RATIO_FLOOR_BYTES = 1 << 20


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


def iter_csv_records(handle: Any, start_offset: int, max_record_bytes: int | None = None,
                     delimiter: bytes = b",", encoding: str = "utf-8",
                     ) -> Iterator[tuple[bytes, int]]:
    """Raw CSV records (bytes, offset after) from a binary file positioned at ``start_offset``.

    A line that ends inside a quoted cell continues on the next line. A quote opens a
    quoted cell only at a cell's start, as the csv module reads it: a quote inside an
    unquoted cell (an inch mark, ``没收27"显示器一台``) is a character, and must not join
    the rows after it into one. Splitting on b"\n" and looking for b'"' is safe for
    GBK/GB18030 and UTF-8 (neither is ever a trail byte); so is looking for the delimiter
    byte, except a GB18030 file's delimiter that a trail byte can be (``|``, ``@``: trail
    bytes run 0x40-0x7E), whose lines with a quote are decoded to be read.
    A record longer than ``max_record_bytes`` (a quote left open swallows the rest of the
    file; a 300 MB line) raises :class:`FileRejected` before it is held in memory.
    """
    limit = max_record_bytes if max_record_bytes is not None else -1
    opens = delimiter + b'"'  # a cell after the first that starts with a quote
    decoded = _trail_byte_delimiter(delimiter, encoding)

    def ends_quoted(line: bytes, quoted: bool) -> bool:
        if decoded:
            return _ends_in_quoted_cell(line.decode(encoding, "replace"),
                                        opens.decode(encoding), '"', quoted=quoted)
        return _ends_in_quoted_cell(line, opens, b'"', quoted=quoted)

    offset = start_offset
    # The lines of a record whose quoted cell spans lines, joined once it closes: adding
    # each line to one bytes value would copy the record again at every line (a cell of
    # 800,000 short lines took minutes).
    pending: list[bytes] = []
    pending_size = 0
    while line := handle.readline(limit + 1 - pending_size if limit >= 0 else -1):
        offset += len(line)
        if limit >= 0 and pending_size + len(line) > limit:
            start = offset - len(line) - pending_size
            raise FileRejected(
                f"the record starting at byte {start:,} is over max_record_bytes ({limit:,}): "
                "a quoted cell that never closes, or a line that never ends",
                error_type="record_too_large", value=f"byte {start:,}")
        if pending:
            pending.append(line)
            pending_size += len(line)
            if ends_quoted(line, True):
                continue
            line, pending, pending_size = b"".join(pending), [], 0
        elif b'"' in line and ends_quoted(line, False):
            pending, pending_size = [line], len(line)
            continue
        yield line, offset
    if pending:
        yield b"".join(pending), offset


def _trail_byte_delimiter(delimiter: bytes, encoding: str) -> bool:
    """Whether ``delimiter``'s byte can also be the second byte of a GB18030 character."""
    return (codecs.lookup(encoding).name in ("gb18030", "gbk", "gb2312")
            and len(delimiter) == 1 and (0x40 <= delimiter[0] <= 0x7E
                                         or 0x30 <= delimiter[0] <= 0x39))


def _ends_in_quoted_cell(line: AnyStr, opens: AnyStr, quote: AnyStr, *, quoted: bool
                         ) -> bool:
    """Whether ``line`` ends inside a quoted cell; ``quoted``: it begins inside one (the
    line before ended in it). A quoted cell opens at the line's start or after the
    delimiter (``opens`` is the delimiter and a quote) and closes at a quote not doubled;
    what follows a closing quote up to the next delimiter stays in the cell unquoted."""
    index = 0
    if not quoted and line.startswith(quote):
        quoted, index = True, 1
    while True:
        if quoted:
            found = line.find(quote, index)
            if found < 0:
                return True
            if line[found + 1:found + 2] == quote:
                index = found + 2  # a doubled quote: a quote in the cell
                continue
            quoted, index = False, found + 1
        found = line.find(opens, index)
        if found < 0:
            return False
        quoted, index = True, found + len(opens)


def split_record(text: str, delimiter: str) -> list[str]:
    """The cells of one CSV record: what ``next(csv.reader([text]))`` gives, without
    building a reader for the plain record (no quote, no NUL, no line break inside; most
    rows of an export), where it is one ``str.split`` at a fifth of the cost."""
    line = text[:-2] if text.endswith("\r\n") else (
        text[:-1] if text.endswith(("\n", "\r")) else text)
    if line and '"' not in line and "\r" not in line and "\n" not in line \
            and "\x00" not in line:
        return line.split(delimiter)
    return next(csv.reader([text], delimiter=delimiter), [])


@dataclass(frozen=True, slots=True)
class CsvRowParser:
    """One CSV record's bytes → its row (column → cell), for the rows of one file.

    Picklable: mapping processes receive it with the raw records (once per chunk) and
    parse there, when the runner defers parsing.
    """

    header: tuple[str, ...]
    encoding: str
    delimiter: str
    max_field_chars: int = 131_072

    def parse(self, raw: bytes) -> dict[str, Any]:
        try:
            text = raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise RecordRejected(f"row is not valid {self.encoding}: {exc}",
                                 error_type="bad_encoding") from None
        try:
            values = split_record(text, self.delimiter)
        except csv.Error as exc:
            raise RecordRejected(f"row is not valid CSV: {exc}", field="row",
                                 error_type="bad_csv") from None
        if len(text) > self.max_field_chars:  # only then can a cell be too long
            for column, value in zip(self.header, values, strict=False):
                if len(value) > self.max_field_chars:
                    raise RecordRejected(
                        f"{column}: {len(value):,} characters, over max_field_chars "
                        f"({self.max_field_chars:,})", field=column,
                        value=value[:200] + "…", error_type="field_too_long")
        if len(values) != len(self.header):
            raise RecordRejected(
                f"row has {len(values)} cells, the header has {len(self.header)}",
                field="row", value=str(len(values)), error_type="column_count")
        return dict(zip(self.header, values, strict=True))


class FileSource(DropFolderSource):
    """Reads settled CSV/XLSX files in mtime order, archives them once checkpointed."""

    def __init__(self, config: FileSourceConfig) -> None:
        self.config = config
        self.limits = config.limits
        self._open_folder(config.path, config.pattern, config.archive_dir(),
                          config.settle_seconds, config.quarantine_dir())
        self.max_file_bytes = config.limits.max_file_bytes
        # csv's own limit would raise before ours can name the column; a record is bounded
        # by max_record_bytes already.
        if csv.field_size_limit() < config.limits.max_record_bytes:
            csv.field_size_limit(config.limits.max_record_bytes)

    def records(self, path: Path, digest: str, resume: dict[str, Any]
                ) -> Iterator[SourceRecord]:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return self._xlsx(path, digest, resume)
        return self._csv(path, digest, resume)

    def _encoding(self, path: Path) -> str:
        if self.config.encoding == "gbk":
            return "gb18030"
        if self.config.encoding != "auto":
            return self.config.encoding
        with open_regular(path) as handle:
            return detect_encoding(handle.read(_SAMPLE_BYTES))

    def _csv(self, path: Path, digest: str, resume: dict[str, Any]) -> Iterator[SourceRecord]:
        encoding = self._encoding(path)
        delimiter = self.config.delimiter
        limits = self.limits
        name = path.name
        with open_regular(path) as handle:
            header_line = handle.readline(limits.max_record_bytes + 1)
            if len(header_line) > limits.max_record_bytes:
                raise FileRejected(f"{name}: the header line is over max_record_bytes "
                                   f"({limits.max_record_bytes:,})",
                                   error_type="record_too_large", value=name)
            try:
                header_text = header_line.decode(encoding)
            except UnicodeDecodeError as exc:
                # Every row would be misread the same way: the file goes to quarantine, to
                # be dropped again once the configured encoding is fixed.
                raise FileRejected(
                    f"{name}: the header line is not {encoding} ({exc}): the file is in "
                    "another encoding; fix the connector's encoding and drop it again",
                    error_type="bad_encoding", value=name) from None
            # A BOM the codec keeps (UTF-8 read as declared utf-8; GB18030's own BOM)
            # would stick to the first column's name.
            header_text = header_text.removeprefix("\ufeff")
            try:
                header = [h.strip() for h in next(csv.reader([header_text],
                                                             delimiter=delimiter), [])]
            except csv.Error as exc:
                raise FileRejected(f"{name}: the header line is not valid CSV: {exc}",
                                   error_type="bad_header", value=name) from exc
            _check_header(name, header)
            if encoding == "utf-8-sig":
                encoding = "utf-8"  # the BOM was in the header line only
            parser = CsvRowParser(tuple(header), encoding, delimiter, limits.max_field_chars)
            defer = self.defer_rows
            offset = int(resume.get("offset") or handle.tell())
            row_number = int(resume.get("row") or 1)
            max_row = limits.max_rows + 1
            handle.seek(offset)
            for raw, end in iter_csv_records(handle, offset, limits.max_record_bytes,
                                             delimiter.encode(encoding), encoding):
                row_number += 1
                if row_number > max_row:
                    raise FileRejected(f"{name} has more than max_rows ({limits.max_rows:,}) "
                                       "data rows", error_type="too_many_rows", value=name)
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

        # One handle for the zip check and the workbook: a file swapped in between
        # would be read unchecked.
        bound_openpyxl_rows()
        handle = open_regular(path)
        try:
            check_xlsx_zip(path, self.limits, handle)
            handle.seek(0)
            workbook = load_workbook(handle, read_only=True, data_only=True)
        except FileRejected as exc:  # openpyxl sizes a sheet with no <dimension> by a pass
            handle.close()
            raise _named(exc, path.name, None) from exc
        except BaseException:
            handle.close()
            raise
        read = [0]  # the last row read, for a refusal from inside openpyxl's parser
        try:
            yield from self._sheet_records(workbook, path.name, digest, resume, read)
        except FileRejected as exc:
            raise _named(exc, path.name, read[0]) from exc
        finally:
            workbook.close()
            handle.close()  # the workbook leaves a file object it was given open

    def _sheet_records(self, workbook: Any, name: str, digest: str, resume: dict[str, Any],
                       read: list[int]) -> Iterator[SourceRecord]:
        limits = self.limits
        max_rows = min(limits.max_rows, _XLSX_MAX_ROWS)
        if self.config.sheet and self.config.sheet not in workbook.sheetnames:
            raise FileRejected(f"{name} has no sheet {self.config.sheet!r} (sheets: "
                               f"{', '.join(workbook.sheetnames)})",
                               error_type="no_such_sheet", value=self.config.sheet)
        sheet = workbook[self.config.sheet] if self.config.sheet else workbook.active
        rows = sheet.iter_rows(values_only=True)
        try:
            header_cells = next(rows, None)
            if header_cells is None:
                return
            read[0] = 1
            header = [str(h).strip() if h is not None else "" for h in header_cells]
            _check_header(name, header)
            start = int(resume.get("row") or 1)
            empty = 0
            for row_number, cells in enumerate(rows, start=2):
                read[0] = row_number
                if row_number > max_rows + 1:
                    raise FileRejected(f"{name} has more than {max_rows:,} rows "
                                       "(empty rows count: each is parsed)",
                                       error_type="too_many_rows", value=name)
                if all(c is None or c == "" for c in cells):
                    empty += 1
                    if empty > limits.max_empty_rows:
                        raise FileRejected(
                            f"{name}: more than max_empty_rows ({limits.max_empty_rows:,}) "
                            f"empty rows in a row from row {row_number - empty + 1:,}: "
                            "delete the empty rows and drop the file again",
                            error_type="too_many_empty_rows", value=name)
                    continue
                empty = 0
                if row_number <= start:
                    continue
                row = {h: c for h, c in zip(header, cells, strict=False) if h}
                raw = json.dumps(dict(zip(header, cells, strict=False)), ensure_ascii=False,
                                 default=str).encode("utf-8")
                position = {"fingerprint": digest, "file": name, "offset": 0,
                            "row": row_number}
                reference = f"{name}#row {row_number}"
                location = {"source.file": name, "source.row": str(row_number)}
                problem = _long_cell(row, limits.max_field_chars)
                if problem is not None:
                    yield SourceRecord(None, letter_raw(raw), position, reference,
                                       location, problem)
                    continue
                yield SourceRecord(row, raw, position, reference, location)
        finally:
            rows.close()  # the sheet's open part, when a refusal left it mid-way


def _named(exc: FileRejected, name: str, after_row: int | None) -> FileRejected:
    """A refusal from inside openpyxl's parser (:mod:`connectors.kinds.xlsx_bounds`,
    which knows no file) with the file and the last row read; others as they are."""
    if exc.error_type != "row_too_wide":
        return exc
    where = f"{name} after row {after_row:,}" if after_row else name
    return FileRejected(f"{where}: {exc.reason}", error_type=exc.error_type, value=name)


def _check_header(name: str, header: list[str]) -> None:
    """Refuse a header naming a column twice: a row keeps one cell per name, so the
    other column's values would be lost without a word."""
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            raise FileRejected(f"{name}: the header names column {column!r} twice: rename "
                               "one and drop the file again", error_type="duplicate_header",
                               value=column)
        seen.add(column)


def _long_cell(row: dict[str, Any], limit: int) -> RecordRejected | None:
    for column, value in row.items():
        if isinstance(value, str) and len(value) > limit:
            return RecordRejected(f"{column}: {len(value):,} characters, over max_field_chars "
                                  f"({limit:,})", field=column, value=value[:200] + "…",
                                  error_type="field_too_long")
    return None


def check_xlsx_zip(path: Path, limits: FileLimits, handle: BinaryIO | None = None) -> None:
    """Refuse an XLSX that is not a zip, is truncated, or would inflate beyond the limits.

    openpyxl reads the sheets as streams but keeps the shared strings in memory, and
    parses every ``<row>`` even when empty: a 307 KB file holding one 300 MB string, or
    2 million empty rows in 281 KB, must be refused before openpyxl sees it. Python's
    zipfile never inflates a part beyond the size its header declares (it fails the CRC
    instead), so the declared sizes are a bound that holds.
    """
    name = path.name
    try:
        with contextlib.ExitStack() as opened:
            source = handle or opened.enter_context(open_regular(path))
            archive = opened.enter_context(zipfile.ZipFile(source))
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise FileRejected(f"{name} is not an XLSX file (not a zip, or truncated): {exc}",
                           error_type="not_a_zip", value=name) from exc
    total = sum(part.file_size for part in parts)
    if total > limits.max_uncompressed_bytes:
        raise FileRejected(f"{name} inflates to {total:,} bytes, over max_uncompressed_bytes "
                           f"({limits.max_uncompressed_bytes:,})", error_type="zip_bomb",
                           value=name)
    for part in parts:
        if part.file_size < _RATIO_FLOOR_BYTES:
            continue
        ratio = part.file_size / max(part.compress_size, 1)
        if ratio > limits.max_compression_ratio:
            raise FileRejected(
                f"{name}: part {part.filename} inflates {ratio:,.0f} times "
                f"({part.compress_size:,} → {part.file_size:,} bytes), over "
                f"max_compression_ratio ({limits.max_compression_ratio:g})",
                error_type="zip_bomb", value=part.filename)
