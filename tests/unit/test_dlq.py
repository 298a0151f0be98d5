"""Dead letters without a broker: safe rendering, masking, selection, replay headers and
the depth census (``hub/dlq``); the broker-side behaviour is tests/integration/test_dlq.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from connectors.config import load_config
from connectors.kinds.dropfolder import DropFolder
from hub.cli.dlq import app
from hub.dlq.exporter import DlqCensus
from hub.dlq.quarantine import quarantined_files
from hub.dlq.records import (
    REPLAY_HEADER,
    SETTLED_HEADER,
    SETTLED_HOW_HEADER,
    DeadLetterRecord,
    Selection,
    mask_identifiers,
    render_record,
    render_text,
    settled_letters,
    summarize,
)
from hub.dlq.replay import replay_headers

PERSON_ID = "421181198001011238"


def _letter(offset: int, error: str = "not-entitled", *, origin: str = "lf.ingest.u.cases",
            ts: int = 1_700_000_000_000) -> DeadLetterRecord:
    headers = (("ce_id", b"e-%d" % offset), ("error.type", error.encode()),
               ("error.reason", f"party {PERSON_ID} refused".encode()),
               ("source.topic", origin.encode()), ("source.partition", b"0"),
               ("source.offset", b"%d" % (100 + offset)), ("processor", b"entitlement"))
    return DeadLetterRecord("lf.dlq.streams", 0, offset, ts + offset, b"k", b"v", headers)


def _marker(letter: DeadLetterRecord, offset: int, how: str = "replayed") -> DeadLetterRecord:
    return DeadLetterRecord(letter.topic, 0, offset, 0, letter.letter_id.encode(), None,
                            ((SETTLED_HEADER, letter.letter_id.encode()),
                             (SETTLED_HOW_HEADER, how.encode())))


def test_render_text_escapes_terminal_controls_and_masks_resident_ids() -> None:
    hostile = f"张示例,{PERSON_ID},\x1b[2J\u202eevil\r\n".encode() + b"\xff"
    shown = render_text(hostile)
    assert "\x1b" not in shown and "\u202e" not in shown and "\r" not in shown
    assert "\\x1b[2J" in shown and "\\u202e" in shown and "\\xff" in shown
    assert PERSON_ID not in shown and "421181************" in shown
    assert PERSON_ID in render_text(hostile, masked=False)
    assert render_text("a" * 50, limit=10).endswith("… (50 in all, first 10 shown)")


def test_only_standalone_id_numbers_are_masked() -> None:
    assert mask_identifiers(f"id:{PERSON_ID}.") == "id:421181************."
    longer = f"A{PERSON_ID}"  # part of a longer code, not an ID number
    assert mask_identifiers(longer) == longer


def test_selection_matches_every_criterion() -> None:
    letters = [_letter(0), _letter(1, "bad-magic"), _letter(2, origin="lf.ingest.v.cases")]
    assert [r.offset for r in letters if Selection(from_offset=1).matches(r)] == [1, 2]
    assert [r.offset for r in letters if Selection(error_type="bad-magic").matches(r)] == [1]
    assert [r.offset for r in letters
            if Selection(source="lf.ingest.v.cases", to_offset=2).matches(r)] == [2]
    assert not Selection(partition=1).matches(letters[0])


def test_replay_headers_drop_the_error_headers_and_name_the_dead_letter() -> None:
    headers = replay_headers(_letter(7))
    assert headers == [("ce_id", b"e-7"), (REPLAY_HEADER, b"lf.dlq.streams/0/7")]
    again = DeadLetterRecord("lf.dlq.streams", 0, 9, 0, None, b"v",
                             ((*headers, ("error.type", b"x"))))
    assert replay_headers(again) == [("ce_id", b"e-7"), (REPLAY_HEADER, b"lf.dlq.streams/0/9")]


def test_summary_and_census_count_pending_apart_from_settled() -> None:
    letters = [_letter(0), _letter(1), _letter(2, "bad-magic")]
    records = [*letters, _marker(letters[0], 3)]
    settled = settled_letters(records)
    assert settled == {"lf.dlq.streams/0/0": "replayed"}
    summary = summarize("lf.dlq.streams", records, settled)
    assert (summary.records, summary.settled, summary.replayable) == (2, 1, 2)
    assert dict(summary.by_error) == {"not-entitled": 1, "bad-magic": 1}

    census = DlqCensus()
    for record in records:
        census.add(record)
    by_error, oldest, done = census.pending("lf.dlq.streams")
    assert dict(by_error) == {"not-entitled": 1, "bad-magic": 1}
    assert oldest == letters[1].timestamp_ms and done == 1
    census.trim("lf.dlq.streams", 0, 2)  # retention deleted offsets 0 and 1
    by_error, oldest, done = census.pending("lf.dlq.streams")
    assert dict(by_error) == {"bad-magic": 1} and oldest == letters[2].timestamp_ms
    assert done == 0


def test_a_connector_row_is_shown_as_not_replayable() -> None:
    row = DeadLetterRecord("lf.dlq.demo-csv", 0, 0, 0, None, f"x,{PERSON_ID}".encode(),
                           (("error.type", b"validation"), ("error.value", PERSON_ID.encode()),
                            ("source.file", b"export.csv"), ("unit", b"11421181MB00000013")))
    assert not row.replayable and row.source == "export.csv"
    shown = render_record(row, decoded=None)
    assert PERSON_ID not in shown and "not replayable as is" in shown
    assert "11421181MB00000013" in shown  # the unit's code is not personal data


def test_quarantined_files_are_listed_with_their_reasons(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    export = drop / "export-2025-03.csv"
    export.write_bytes(b"\x1b[2Jnot,a,valid\n")
    config = tmp_path / "demo-csv.yaml"
    config.write_text(yaml.safe_dump({
        "id": "demo-csv", "unit": "11421181MB00000013", "kind": "file",
        "source": {"path": str(drop), "pattern": "*.csv"}, "preset": "penalty-disclosure"}),
        encoding="utf-8")
    folder = DropFolder(drop, "*.csv", drop / "archive", 0,
                        load_config(config).source.quarantine_dir())
    folder.move_to_quarantine(export, "ab" * 32, "truncated: the file ends inside a record")
    (folder.quarantine or drop).joinpath("orphan.csv").write_bytes(b"x")

    listed = quarantined_files(tmp_path / "drop-quarantine")
    assert len(listed) == 2
    by_name = {f.name: f for f in listed}
    assert by_name["export-2025-03.csv"].reason == "truncated: the file ends inside a record"
    assert by_name["export-2025-03.csv"].sha256 == "ab" * 32
    assert by_name["orphan.csv"].reason == "unknown (no reason file)"

    result = CliRunner().invoke(app, ["quarantined", str(config)])
    assert result.exit_code == 0, result.output
    assert "demo-csv (" in result.output and ": 2 quarantined" in result.output
    assert "truncated: the file ends inside a record" in result.output
    assert "liangfa dlq resolve" in result.output
