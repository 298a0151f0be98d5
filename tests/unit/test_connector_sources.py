"""Source parsing without a broker: encoding detection, CSV records, XML entity refusal."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from connectors.checkpoint import Checkpoint, CheckpointStore
from connectors.config import FileSourceConfig, XmlSourceConfig
from connectors.kinds.file import FileSource, detect_encoding
from connectors.kinds.xml import XmlSource
from connectors.samples import PENALTY_HEADER, penalty_row, write_penalty_csv
from connectors.source import SourceRecord
from hub.errors import RecordRejected


def _read_all(source: FileSource | XmlSource, since: Checkpoint | None = None
              ) -> list[SourceRecord]:
    async def collect() -> list[SourceRecord]:
        return [record async for record in source.read(since)]

    return asyncio.run(collect())


@pytest.mark.parametrize(("encoding", "expected"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030"),
])
def test_encoding_is_detected_from_bom_then_strict_utf8_then_gb18030(
        encoding: str, expected: str) -> None:
    text = "行政相对人名称,处罚机关\n演示县虚构商贸有限公司,演示县市场监督管理局\n"
    sample = text.encode(encoding)
    assert detect_encoding(sample) == expected


def test_a_utf8_file_with_one_gbk_row_stays_utf8_and_only_that_row_is_refused(
        tmp_path: Path) -> None:
    header = "行政相对人名称,处罚机关\n".encode()
    good = "演示县虚构商贸有限公司,演示县市场监督管理局\n".encode()
    stray = "演示县另一商行,演示县市场监督管理局\n".encode("gbk")
    sample = header + good + stray + good
    assert detect_encoding(sample) == "utf-8"
    assert detect_encoding(header.decode().encode("gbk") + stray + good) == "gb18030"


def test_a_utf8_character_cut_at_the_sample_end_is_still_utf8() -> None:
    sample = "处罚机关".encode()[:-1]
    assert detect_encoding(sample) == "utf-8"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_rows_decode_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    write_penalty_csv(drop / "a.csv", 3, encoding=encoding)
    records = [r for r in _read_all(FileSource(FileSourceConfig(path=drop, settle_seconds=0)))
               if not r.marker]
    assert [r.row["行政相对人名称"] for r in records if r.row] == [
        "演示县虚构商贸有限公司1", "演示县虚构商贸有限公司2", "演示县虚构商贸有限公司3"]
    assert records[0].reference == "a.csv#row 2"
    assert records[0].raw.decode("gb18030" if "gb" in encoding else "utf-8").startswith(
        "演示县虚构商贸有限公司1,")


def test_gb18030_only_characters_survive(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    row = penalty_row(1)
    row[0] = "𠀀记虚构商店"  # outside GBK, inside GB18030
    (drop / "a.csv").write_bytes((",".join(PENALTY_HEADER) + "\n" + ",".join(row) + "\n")
                                 .encode("gb18030"))
    records = _read_all(FileSource(FileSourceConfig(path=drop, settle_seconds=0)))
    assert records[0].row is not None and records[0].row["行政相对人名称"] == "𠀀记虚构商店"


def test_quoted_cells_may_span_lines_and_resume_by_offset(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    lines = ['a,b', '1,"two\nlines"', '3,4', '5,6']
    (drop / "x.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = FileSource(FileSourceConfig(path=drop, settle_seconds=0))
    records = [r for r in _read_all(source) if not r.marker]
    assert [r.row for r in records] == [{"a": "1", "b": "two\nlines"}, {"a": "3", "b": "4"},
                                        {"a": "5", "b": "6"}]
    resumed = _read_all(source, Checkpoint(records[1].position))
    assert [r.row for r in resumed if not r.marker] == [{"a": "5", "b": "6"}]


def test_a_file_still_being_written_is_not_read(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    write_penalty_csv(drop / "a.csv", 2)
    source = FileSource(FileSourceConfig(path=drop, settle_seconds=3600))
    assert _read_all(source) == []  # first sight: not settled, not old enough
    assert len([r for r in _read_all(source) if not r.marker]) == 2  # unchanged since


def test_an_old_enough_file_is_read_at_first_sight(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    write_penalty_csv(drop / "a.csv", 1)
    time.sleep(1.2)  # no change of any kind for longer than the settle time
    source = FileSource(FileSourceConfig(path=drop, settle_seconds=1))
    assert len([r for r in _read_all(source) if not r.marker]) == 1


def test_a_copy_keeping_an_old_modification_time_waits_like_any_new_file(
        tmp_path: Path) -> None:
    """``cp -p``, rsync and robocopy give the copy the source's mtime: by mtime alone a
    file still being copied looked long settled and was read half-written. Its ctime is
    the copy's, so it is taken only once unchanged between two polls."""
    drop = tmp_path / "drop"
    drop.mkdir()
    path = write_penalty_csv(drop / "a.csv", 2)
    old = time.time() - 30 * 24 * 3600
    os.utime(path, (old, old))
    source = FileSource(FileSourceConfig(path=drop, settle_seconds=3600))
    assert _read_all(source) == []  # first sight: changed just now, whatever its mtime
    os.utime(path, (old, old))  # the copier touches it again (its ctime moves)
    assert _read_all(source) == []
    assert len([r for r in _read_all(source) if not r.marker]) == 2  # unchanged since


def test_done_files_are_archived_after_the_checkpoint_and_skipped_when_dropped_again(
        tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    write_penalty_csv(drop / "a.csv", 2)
    source = FileSource(FileSourceConfig(path=drop, settle_seconds=0))
    records = _read_all(source)
    end = records[-1]
    assert end.marker
    asyncio.run(source.committed(end.position))
    assert not (drop / "a.csv").exists()
    assert (drop / "archive" / "a.csv").exists()
    (drop / "copy.csv").write_bytes((drop / "archive" / "a.csv").read_bytes())
    assert _read_all(source, Checkpoint(end.position)) == []
    assert (drop / "archive").is_dir() and not (drop / "copy.csv").exists()


def test_xml_with_a_doctype_is_refused_not_expanded(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "bomb.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;">]>'
        "<r><judgment><n>&b;</n></judgment></r>", encoding="utf-8")
    source = XmlSource(XmlSourceConfig(path=drop, record_tag="judgment", settle_seconds=0))
    records = [r for r in _read_all(source) if not r.marker]
    assert len(records) == 1
    assert records[0].row is None
    assert isinstance(records[0].problem, RecordRejected)
    assert records[0].problem.error_type == "unsafe_xml"
    assert b"<!DOCTYPE" in records[0].raw


def test_xml_records_are_flattened(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "j.xml").write_text(
        '<r><judgment id="7"><n>1</n><defendant><name>吴某</name></defendant></judgment></r>',
        encoding="utf-8")
    source = XmlSource(XmlSourceConfig(path=drop, record_tag="judgment", settle_seconds=0))
    record = _read_all(source)[0]
    assert record.row == {"@id": "7", "n": "1", "defendant.name": "吴某"}
    assert record.reference == "j.xml#record 1"


def test_a_record_under_a_wrapper_carries_its_context_not_other_records(
        tmp_path: Path) -> None:
    """A wrapper's own fields are a record's context; the other records under it are
    not, whether read before it or already read ahead by the parser (the row would then
    depend on where the parser's buffer happened to end)."""
    drop = tmp_path / "drop"
    drop.mkdir()
    records = "".join(f"<judgment><n>{n}</n></judgment>" for n in range(1, 4))
    (drop / "w.xml").write_text(
        f"<r><batch><court>示例县人民法院</court>{records}</batch></r>", encoding="utf-8")
    source = XmlSource(XmlSourceConfig(path=drop, record_tag="judgment", settle_seconds=0))
    rows = [record.row for record in _read_all(source) if not record.marker]
    assert rows == [{"batch.court": "示例县人民法院", "n": str(n)} for n in range(1, 4)]


def test_nested_records_carry_what_came_before_them_in_their_judgment_only(
        tmp_path: Path) -> None:
    """Under ``export > batch > judgment > recommendation`` a recommendation's context is
    its own judgment's fields read before it, never an earlier judgment's (nor what the
    parser read ahead after it), however many judgments the file holds."""
    drop = tmp_path / "drop"
    drop.mkdir()
    judgments = "".join(
        f"<judgment><number>（2024）示{n}号</number><recommendation><n>{n}</n>"
        f"</recommendation><closing>{n}</closing></judgment>" for n in range(1, 301))
    (drop / "n.xml").write_text(f"<export><batch>{judgments}</batch></export>",
                                encoding="utf-8")
    source = XmlSource(XmlSourceConfig(path=drop, record_tag="recommendation",
                                       settle_seconds=0))
    rows = [record.row for record in _read_all(source) if not record.marker]
    assert rows == [{"judgment.number": f"（2024）示{n}号", "n": str(n)}
                    for n in range(1, 301)]


def test_checkpoints_are_written_atomically_and_read_back(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "state", "c-1")
    assert store.load() is None
    store.save(Checkpoint({"row": 5}, {"t:0": 3}))
    loaded = store.load()
    assert loaded is not None
    assert (loaded.position, loaded.topic_offsets) == ({"row": 5}, {"t:0": 3})
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["c-1.checkpoint.json"]
