"""Hostile files in a drop folder: each one is an event (a refused row, or a refused file
moved to quarantine with its reason), never a traceback; the next file is still read.

Every file here is written by the test on disk and read by the real source kinds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from connectors.checkpoint import Checkpoint, CheckpointStore
from connectors.config import FileLimits, FileSourceConfig, XmlSourceConfig
from connectors.kinds.dropfolder import FileRejected, fingerprint
from connectors.kinds.file import FileSource
from connectors.kinds.xml import XmlSource
from connectors.samples import PENALTY_HEADER, penalty_row, write_penalty_csv
from connectors.source import SourceRecord


def _read(source: FileSource | XmlSource, since: Checkpoint | None = None
          ) -> list[SourceRecord]:
    async def collect() -> list[SourceRecord]:
        return [record async for record in source.read(since)]

    return asyncio.run(collect())


def _drop(tmp_path: Path) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    return drop


def _source(drop: Path, **limits: int | float) -> FileSource:
    return FileSource(FileSourceConfig(path=drop, pattern="*", settle_seconds=0,
                                       limits=FileLimits(**limits)))  # type: ignore[arg-type]


def _refusals(records: list[SourceRecord]) -> list[FileRejected]:
    return [r.problem for r in records if isinstance(r.problem, FileRejected)]


def _commit_all(source: FileSource | XmlSource, records: list[SourceRecord]) -> None:
    """What the runner does once the records are acknowledged: checkpoint, then archive."""
    position: dict[str, object] = {}
    for record in records:
        position.update(record.position)
    asyncio.run(source.committed(position))


def _write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def _good_csv(drop: Path, name: str = "z-good.csv", count: int = 2) -> Path:
    return write_penalty_csv(drop / name, count)


def test_a_csv_field_over_the_limit_refuses_its_row_only(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    long_row = penalty_row(7)
    long_row[PENALTY_HEADER.index("违法事实")] = "长" * 200_000  # over csv's own 131,072
    write_penalty_csv(drop / "a.csv", 2, extra_rows=[long_row, penalty_row(8)])
    records = [r for r in _read(_source(drop)) if not r.marker]
    assert [r.problem is None for r in records] == [True, True, False, True]
    problem = records[2].problem
    assert problem is not None and getattr(problem, "error_type", None) == "field_too_long"
    assert getattr(problem, "field", None) == "违法事实"
    assert records[2].reference == "a.csv#row 4"


def test_a_quote_that_never_closes_quarantines_the_file_and_the_next_file_is_read(
        tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    bad = drop / "a-open-quote.csv"
    bad.write_bytes(b"a,b\n1,2\n3,\"never closed\n" + b"x,y\n" * 50_000)
    _good_csv(drop)
    source = _source(drop, max_record_bytes=64 * 1024)
    records = _read(source)
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["record_too_large"]
    assert "byte 8" in refusals[0].reason
    good = [r for r in records if r.row is not None and r.reference.startswith("z-good")]
    assert len(good) == 2
    letter = next(r for r in records if isinstance(r.problem, FileRejected))
    assert letter.reference == "a-open-quote.csv#file"
    assert letter.raw.startswith(b"a,b\n1,2\n") and len(letter.raw) <= 64 * 1024
    _commit_all(source, records)
    quarantine = tmp_path / "drop-quarantine"
    assert (quarantine / "a-open-quote.csv").is_file()
    reason = (quarantine / "a-open-quote.csv.reason.txt").read_text(encoding="utf-8")
    assert "record_too_large" in reason and "a-open-quote.csv" in reason
    assert not bad.exists()
    assert (drop / "archive" / "z-good.csv").is_file()


@pytest.mark.parametrize(("content", "name"), [
    (b"this is not a spreadsheet\n", "fake.xlsx"),
    (b"", "empty.xlsx"),
])
def test_an_xlsx_that_is_not_a_zip_is_quarantined(tmp_path: Path, content: bytes,
                                                  name: str) -> None:
    drop = _drop(tmp_path)
    (drop / name).write_bytes(content)
    _good_csv(drop)
    source = _source(drop)
    records = _read(source)
    assert [r.error_type for r in _refusals(records)] == ["not_a_zip"]
    assert len([r for r in records if r.row is not None]) == 2
    _commit_all(source, records)
    assert (tmp_path / "drop-quarantine" / f"{name}.reason.txt").is_file()


def test_a_truncated_xlsx_is_quarantined(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    whole = _write_xlsx(tmp_path / "whole.xlsx", [PENALTY_HEADER, penalty_row(1)])
    data = whole.read_bytes()
    (drop / "cut.xlsx").write_bytes(data[: len(data) // 2])
    records = _read(_source(drop))
    assert [r.error_type for r in _refusals(records)] == ["not_a_zip"]


def test_an_xlsx_part_that_is_not_a_workbook_is_quarantined_not_raised(
        tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    with zipfile.ZipFile(drop / "odd.xlsx", "w") as archive:
        archive.writestr("hello.txt", "a zip, but no workbook inside")
    _good_csv(drop)
    records = _read(_source(drop))
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["unreadable_file"]
    assert "odd.xlsx cannot be read" in refusals[0].reason
    assert len([r for r in records if r.row is not None]) == 2


def _bomb_xlsx(path: Path, shared_string: str = "", empty_rows: int = 0,
               wide_row: str = "", dimension: str = "", after_data: str = "",
               more_rows: str = "") -> Path:
    """A minimal valid XLSX written by hand: one huge shared string, many empty rows, or
    ``wide_row`` (the cells of a second row); ``dimension`` the sheet's declared range."""
    rows = "".join(f'<row r="{n}"/>' for n in range(2, empty_rows + 2))
    if wide_row:
        rows += (f'<row r="2">{wide_row}</row>'
                 '<row r="3"><c t="inlineStr"><is><t>x</t></is></c></row>')
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openx'
             f'mlformats.org/spreadsheetml/2006/main">{dimension}<sheetData><row r="1">'
             '<c r="A1" t="s">'
             f'<v>0</v></c></row>{rows}{more_rows}</sheetData>{after_data}</worksheet>')
    strings = ('<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxml'
               'formats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>'
               f'{shared_string or "h"}</t></si></sst>')
    main = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="applicati'
            'on/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" Conten'
            'tType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="appli'
            'cation/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override'
            ' PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats'
            '-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrin'
            'gs.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'sharedStrings+xml"/></Types>'))
        archive.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxm'
            'lformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
            f'{main}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        archive.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlform'
            f'ats.org/spreadsheetml/2006/main" xmlns:r="{main}"><sheets><sheet name="S" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>'))
        archive.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxm'
            f'lformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{main}/wo'
            'rksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="'
            f'{main}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", strings)
    return path


def test_the_hand_written_xlsx_is_readable_when_small(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    _bomb_xlsx(drop / "small.xlsx", shared_string="行政相对人名称", empty_rows=3)
    records = _read(_source(drop))
    assert _refusals(records) == []
    assert records[-1].marker and records[-1].location["source.rows"] == "0"


def test_an_xlsx_with_one_huge_shared_string_is_refused_before_it_is_inflated(
        tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    _bomb_xlsx(drop / "string-bomb.xlsx", shared_string="a" * (40 << 20))
    assert (drop / "string-bomb.xlsx").stat().st_size < 200_000
    _good_csv(drop)
    records = _read(_source(drop))
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["zip_bomb"]
    assert "xl/sharedStrings.xml" in refusals[0].reason
    assert len([r for r in records if r.row is not None]) == 2


def test_an_xlsx_of_millions_of_empty_rows_is_refused(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    _bomb_xlsx(drop / "rows-bomb.xlsx", empty_rows=2_000_000)
    records = _read(_source(drop))
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["too_many_empty_rows"]
    assert "from row 2:" in refusals[0].reason


@pytest.mark.parametrize(("dimension", "where"), [
    ('<dimension ref="A1:XFD3"/>', "a-wide.xlsx after row 1:"),  # refused reading rows
    ("", "a-wide.xlsx:"),  # no declared range: openpyxl sizes the sheet by a first pass
])
def test_an_xlsx_row_of_more_cells_than_a_sheet_can_hold_is_refused_while_parsed(
        tmp_path: Path, dimension: str, where: str) -> None:
    """openpyxl's parser builds a row whole: 200,000 cells of random numbers (so the zip
    ratio passes) would take ~150 MB, a million 750 MB. Refused at 131,072 elements."""
    drop = _drop(tmp_path)
    digits = random.Random(7)
    cells = "".join(f"<c><v>{digits.randrange(10**9)}</v></c>" for _ in range(200_000))
    _bomb_xlsx(drop / "a-wide.xlsx", wide_row=cells, dimension=dimension)
    _good_csv(drop)
    records = _read(_source(drop))
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["row_too_wide"]
    assert refusals[0].reason.startswith(f"{where} more than 131,072 XML elements")
    assert len([r for r in records if r.row is not None]) == 2  # the next file is read


def test_an_xlsx_of_many_merged_ranges_after_its_rows_is_read(tmp_path: Path) -> None:
    """150,000 merged ranges (three per row of a 50,000-row sheet) are a real sheet."""
    drop = _drop(tmp_path)
    merges = "".join(f'<mergeCell ref="A{n}:B{n}"/>' for n in range(2, 150_002))
    rows = "".join(f'<row r="{n}"><c t="inlineStr"><is><t>{n}</t></is></c></row>'
                   for n in range(2, 502))
    _bomb_xlsx(drop / "merged.xlsx", more_rows=rows,
               after_data=f'<mergeCells count="150000">{merges}</mergeCells>')
    records = _read(_source(drop, max_compression_ratio=1000))
    assert _refusals(records) == []
    assert records[-1].marker and records[-1].location["source.rows"] == "500"


def test_an_xlsx_piling_elements_between_its_rows_is_refused(tmp_path: Path) -> None:
    """Each row ended used to forgive what came before it: 130,000 elements before each
    of many rows grew memory without end."""
    drop = _drop(tmp_path)
    junk = "<x/>" * 60_000
    rows = "".join(f'{junk}<row r="{n}"><c t="inlineStr"><is><t>{n}</t></is></c></row>'
                   for n in range(3, 6))
    _bomb_xlsx(drop / "piled.xlsx", wide_row='<c t="inlineStr"><is><t>x</t></is></c>',
               more_rows=rows)
    records = _read(_source(drop, max_compression_ratio=100_000))
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["row_too_wide"]
    assert "outside the sheet's rows" in refusals[0].reason


def test_an_xlsx_row_as_wide_as_excel_allows_is_read(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    cells = "".join(f'<c t="inlineStr"><is><t>{n}</t></is></c>' for n in range(16_384))
    _bomb_xlsx(drop / "widest.xlsx", wide_row=cells)
    records = _read(_source(drop))
    assert _refusals(records) == []
    assert records[-1].marker and records[-1].location["source.rows"] == "2"


def test_an_xlsx_over_max_uncompressed_bytes_is_refused(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    _write_xlsx(drop / "a.xlsx", [PENALTY_HEADER, *(penalty_row(n) for n in range(50))])
    records = _read(_source(drop, max_uncompressed_bytes=10_000))
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["zip_bomb"]
    assert "max_uncompressed_bytes" in refusals[0].reason


def test_an_xlsx_over_max_rows_is_refused_and_empty_rows_count(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    _bomb_xlsx(drop / "rows.xlsx", empty_rows=30)
    assert _refusals(_read(_source(drop, max_rows=40))) == []
    records = _read(_source(drop, max_rows=20))
    assert [r.error_type for r in _refusals(records)] == ["too_many_rows"]


def test_a_csv_over_max_rows_or_max_file_bytes_is_refused(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    _good_csv(drop, "a.csv", count=30)
    assert [r.error_type for r in _refusals(_read(_source(drop, max_rows=20)))] == [
        "too_many_rows"]
    assert [r.error_type for r in _refusals(_read(_source(drop, max_file_bytes=100)))] == [
        "file_too_large"]


def test_an_xlsx_cell_over_the_field_limit_refuses_its_row(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    long_row = penalty_row(2)
    long_row[PENALTY_HEADER.index("备注")] = "注" * 5_000
    _write_xlsx(drop / "a.xlsx", [PENALTY_HEADER, penalty_row(1), long_row])
    records = [r for r in _read(_source(drop, max_field_chars=1_000)) if not r.marker]
    assert records[0].row is not None
    assert getattr(records[1].problem, "error_type", None) == "field_too_long"
    assert getattr(records[1].problem, "field", None) == "备注"


def test_an_xml_entity_bomb_is_quarantined(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    (drop / "bomb.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<r><judgment><n>&c;</n></judgment></r>", encoding="utf-8")
    (drop / "ok.xml").write_text("<r><judgment><n>1</n></judgment></r>", encoding="utf-8")
    source = XmlSource(XmlSourceConfig(path=drop, record_tag="judgment", settle_seconds=0))
    records = _read(source)
    assert [r.error_type for r in _refusals(records)] == ["unsafe_xml"]
    assert [r.row for r in records if r.row is not None] == [{"n": "1"}]
    _commit_all(source, records)
    assert (tmp_path / "drop-quarantine" / "bomb.xml.reason.txt").is_file()
    assert (drop / "archive" / "ok.xml").is_file()


def test_a_refused_file_dropped_again_goes_to_quarantine_without_a_second_letter(
        tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    (drop / "fake.xlsx").write_bytes(b"not a zip")
    source = _source(drop)
    records = _read(source)
    _commit_all(source, records)
    position: dict[str, object] = {}
    for record in records:
        position.update(record.position)
    (drop / "fake-again.xlsx").write_bytes(b"not a zip")
    again = _read(source, Checkpoint(position))
    assert again == []
    assert (tmp_path / "drop-quarantine" / "fake-again.xlsx").is_file()
    assert (tmp_path / "drop-quarantine" / "fake-again.xlsx.reason.txt").is_file()


@pytest.mark.parametrize("content", [b"", "行政相对人名称,处罚机关\n".encode("gbk"),
                                     b"a,b\n\n\n"])
def test_an_empty_or_header_only_file_warns(tmp_path: Path, content: bytes,
                                            caplog: pytest.LogCaptureFixture) -> None:
    drop = _drop(tmp_path)
    (drop / "empty.csv").write_bytes(content)
    with caplog.at_level(logging.WARNING):
        records = _read(_source(drop))
    assert len(records) == 1 and records[0].marker
    assert records[0].location["source.rows"] == "0"
    assert "empty.csv has no data rows" in caplog.text


def test_nul_bytes_and_duplicated_rows_never_stop_the_file(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    header = ",".join(PENALTY_HEADER).encode("gbk")
    row = ",".join(penalty_row(1)).encode("gbk")
    nul = row.replace(b"\xd1\xdd", b"\x00\x00", 1)
    (drop / "a.csv").write_bytes(b"\n".join([header, row, nul, row, row]) + b"\n")
    records = [r for r in _read(_source(drop)) if not r.marker]
    assert len(records) == 4
    assert records[0].row is not None and records[2].row == records[0].row == records[3].row


def test_declared_gbk_reads_gb18030_characters(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    row = penalty_row(1)
    row[0] = "𠮷野家虚构餐饮店"
    (drop / "a.csv").write_bytes(
        (",".join(PENALTY_HEADER) + "\n" + ",".join(row) + "\n").encode("gb18030"))
    source = FileSource(FileSourceConfig(path=drop, settle_seconds=0, encoding="gbk"))
    records = [r for r in _read(source) if not r.marker]
    assert records[0].problem is None
    assert records[0].row is not None and records[0].row["行政相对人名称"] == "𠮷野家虚构餐饮店"


def test_an_xml_file_over_max_rows_is_refused(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    (drop / "many.xml").write_text("<r>" + "<judgment><n>1</n></judgment>" * 30 + "</r>",
                                   encoding="utf-8")
    source = XmlSource(XmlSourceConfig(path=drop, record_tag="judgment", settle_seconds=0,
                                       limits=FileLimits(max_rows=20)))
    assert [r.error_type for r in _refusals(_read(source))] == ["too_many_rows"]


def _xml_source(drop: Path) -> XmlSource:
    return XmlSource(XmlSourceConfig(path=drop, record_tag="judgment", settle_seconds=0))


def test_xml_of_millions_of_elements_that_are_not_records_is_refused(tmp_path: Path) -> None:
    """Kept as the context of later records, they took 340 MB for 39 MB of file."""
    drop = _drop(tmp_path)
    junk = "".join(f"<junk>{n}</junk>" for n in range(150_000))
    (drop / "a-junk.xml").write_text(
        f"<r><court><judgment><n>1</n></judgment>{junk}<judgment><n>2</n></judgment>"
        "</court></r>", encoding="utf-8")
    _good_csv(drop)
    records = _read(_xml_source(drop))
    refusals = _refusals(records)
    assert [r.error_type for r in refusals] == ["too_many_elements"]
    assert refusals[0].reason.startswith("a-junk.xml after record 1: more than 100,000")


def test_xml_with_an_element_beside_every_record_under_the_root_is_read(
        tmp_path: Path) -> None:
    """A <签章/> after each of 120,000 records under the root is no record's context:
    let go of as read, not counted against the bound (it refused such an export)."""
    drop = _drop(tmp_path)
    body = "".join(f"<judgment><n>{n}</n></judgment><seal/>" for n in range(120_000))
    (drop / "sealed.xml").write_text(f"<r>{body}</r>", encoding="utf-8")
    records = _read(_xml_source(drop))
    assert _refusals(records) == []
    assert len([r for r in records if r.row is not None]) == 120_000


def test_xml_records_with_many_fields_and_wrappers_are_not_counted_against_the_bound(
        tmp_path: Path) -> None:
    """Records, their fields and the wrappers that held records are let go of: 3,000
    records of 40 fields each (120,000 elements) in wrappers, with context, read whole."""
    drop = _drop(tmp_path)
    fields = "".join(f"<f{n}>{n}</f{n}>" for n in range(40))
    wrappers = "".join(f"<court><name>C{c}</name>" + f"<judgment>{fields}</judgment>" * 100
                       + "</court>" for c in range(30))
    (drop / "big.xml").write_text(f"<r><batch>7</batch>{wrappers}</r>", encoding="utf-8")
    records = _read(_xml_source(drop))
    assert _refusals(records) == []
    rows = [r.row for r in records if r.row is not None]
    assert len(rows) == 3_000
    assert rows[-1]["court.name"] == "C29" and rows[-1]["f39"] == "39"


def test_xml_nested_deeper_than_any_export_is_refused(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    (drop / "deep.xml").write_text("<r>" + "<d>" * 300 + "</d>" * 300 + "</r>",
                                   encoding="utf-8")
    assert [r.error_type for r in _refusals(_read(_xml_source(drop)))] == ["too_deep"]


def test_a_header_in_another_encoding_quarantines_the_file_unread(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    write_penalty_csv(drop / "a.csv", 3)  # GBK, read as the declared UTF-8
    write_penalty_csv(drop / "z-good.csv", 2, encoding="utf-8")
    source = FileSource(FileSourceConfig(path=drop, pattern="*", settle_seconds=0,
                                         encoding="utf-8"))
    records = _read(source)
    refusals = _refusals(records)
    assert [(r.error_type, r.value) for r in refusals] == [("bad_encoding", "a.csv")]
    assert "utf-8" in refusals[0].reason
    assert sum(r.row is not None for r in records) == 2  # the next file's rows
    _commit_all(source, records)
    assert (tmp_path / "drop-quarantine" / "a.csv").is_file()
    assert not (drop / "archive" / "a.csv").exists()


@pytest.mark.parametrize(("declared", "codec"), [("auto", "gb18030"), ("utf-8", "utf-8"),
                                                 ("auto", "utf-8"), ("gb18030", "gb18030")])
def test_a_bom_the_codec_keeps_is_not_part_of_the_first_column(
        tmp_path: Path, declared: str, codec: str) -> None:
    drop = _drop(tmp_path)
    text = "\r\n".join(",".join(r) for r in [PENALTY_HEADER, penalty_row(1), penalty_row(2)])
    (drop / "a.csv").write_bytes(("\ufeff" + text + "\r\n").encode(codec))
    source = FileSource(FileSourceConfig(path=drop, settle_seconds=0,
                                         encoding=declared))  # type: ignore[arg-type]
    records = [r for r in _read(source) if not r.marker]
    assert len(records) == 2
    for record in records:
        assert record.row is not None and next(iter(record.row)) == PENALTY_HEADER[0]


def test_a_header_naming_a_column_twice_quarantines_the_file(tmp_path: Path) -> None:
    drop = _drop(tmp_path)
    header = [*PENALTY_HEADER[:-1], PENALTY_HEADER[0]]
    (drop / "a.csv").write_bytes(("\n".join(",".join(r) for r in [header, penalty_row(1)])
                                  + "\n").encode("gbk"))
    _write_xlsx(drop / "b.xlsx", [header, penalty_row(1)])
    _good_csv(drop)
    records = _read(_source(drop))
    assert [(r.error_type, r.value) for r in _refusals(records)] == [
        ("duplicate_header", PENALTY_HEADER[0])] * 2
    assert sum(r.row is not None for r in records) == 2  # the good file's rows




def test_a_link_dropped_in_the_folder_is_not_followed(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The drop folder is the unit's to write: a symbolic link there must not make the
    connector read a file outside it (its own credentials, another unit's export) and
    send the lines it cannot map to the dead letters the unit reads."""
    drop = _drop(tmp_path)
    secret = tmp_path / "connector.env"
    secret.write_text("LIANGFA_SASL_PASSWORD=fictional-secret\n", encoding="utf-8")
    (drop / "leak.csv").symlink_to(secret)
    good = _good_csv(drop)
    with caplog.at_level(logging.WARNING):
        records = _read(_source(drop))
    assert not any(b"fictional-secret" in r.raw for r in records)
    assert {r.position.get("file") for r in records if not r.marker} == {good.name}
    assert "leak.csv in the drop folder is not a regular file" in caplog.text
    _commit_all(_source(drop), records)
    assert (drop / "leak.csv").is_symlink() and secret.exists()


def test_an_archive_folder_replaced_by_a_link_receives_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The default archive folder lies inside the drop folder: a link put in its place
    would have the connector move files wherever it may write."""
    drop = _drop(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (drop / "archive").symlink_to(elsewhere, target_is_directory=True)
    good = _good_csv(drop)
    source = _source(drop)
    records = _read(source)
    assert [r for r in records if not r.marker and r.problem is None]
    with caplog.at_level(logging.ERROR):
        _commit_all(source, records)
    assert list(elsewhere.iterdir()) == []
    assert good.exists()  # left where it was, read once: not read again
    assert "is a link or not a folder" in caplog.text
    again = _read(_source(drop), Checkpoint(position=_position(records)))
    assert [r for r in again if not r.marker] == []


def test_links_placed_inside_the_archive_folder_are_never_followed(tmp_path: Path) -> None:
    """The unit can write the default archive folder (it lies in its drop folder) and
    knows the names the connector archives under (the file's, then with its digest):
    links put at both names must not take the file elsewhere."""
    drop = _drop(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    good = _good_csv(drop)
    digest = fingerprint(good)
    archive = drop / "archive"
    archive.mkdir()
    (archive / good.name).symlink_to(elsewhere, target_is_directory=True)
    (archive / f"{good.stem}.{digest[:12]}{good.suffix}").symlink_to(
        elsewhere, target_is_directory=True)
    source = _source(drop)
    _commit_all(source, _read(source))
    assert list(elsewhere.iterdir()) == []
    assert good.exists()


def _position(records: list[SourceRecord]) -> dict[str, object]:
    position: dict[str, object] = {}
    for record in records:
        position.update(record.position)
    return position


def test_a_file_whose_name_is_not_utf8_is_left_unread_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A name no checkpoint, header or log line can write must not stop the connector
    at every restart: the file is skipped with a warning, the others are read."""
    drop = _drop(tmp_path)
    good = _good_csv(drop)
    odd = write_penalty_csv(drop / "odd.csv", 1)
    odd.rename(Path(os.fsdecode(bytes(drop) + b"/\xff\xfe.csv")))
    with caplog.at_level(logging.WARNING):
        records = _read(_source(drop))
    assert {r.position.get("file") for r in records if not r.marker} == {good.name}
    assert "not UTF-8" in caplog.text
    store = CheckpointStore(tmp_path / "state", "test")
    store.save(Checkpoint(position=_position(records)))  # writable
