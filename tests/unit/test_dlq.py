"""Dead letters without a broker: safe rendering, masking, selection, replay headers and
the depth census (``hub/dlq``); the broker-side behaviour is tests/integration/test_dlq.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from connectors.config import load_config
from connectors.kinds.dropfolder import DropFolder
from connectors.sinks.config import SinkConfig
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
from hub.dlq.replay import refusal, replay_headers
from hub.security.acl import RESERVED_CONNECTOR_IDS, ServicePrincipals, acl_bindings
from hub.units import load_unit_registry
from streams.safety import RawRecord, dead_letter_headers

PERSON_ID = "421181198001011238"
UNITS = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "units.yaml"


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


def test_headers_a_unit_planted_do_not_make_its_dead_letter_a_marker() -> None:
    """A unit sets its ingest records' headers freely. One carrying ``dlq.settled`` naming
    another unit's dead letter (and a forged ``source.topic``) is dead-lettered by the
    engine without them; read back, a record with a payload or error headers, or naming
    another topic's letter, is no settlement marker."""
    planted = (("ce_id", b"e-9"), (SETTLED_HEADER, b"lf.dlq.streams/0/0"),
               (SETTLED_HOW_HEADER, b"replayed"), ("source.topic", b"lf.case-state"),
               (REPLAY_HEADER, b"lf.dlq.streams/0/7"))
    raw = RawRecord("lf.ingest.u.cases", 0, 5, b"k", b"v", planted)
    headers = dead_letter_headers(raw, processor="normalize", error_type="bad-magic",
                                  reason="not Avro")
    names = [name for name, _ in headers]
    assert SETTLED_HEADER not in names and SETTLED_HOW_HEADER not in names
    assert names.count("source.topic") == 1
    assert dict(headers)["source.topic"] == b"lf.ingest.u.cases"
    assert dict(headers)[REPLAY_HEADER] == b"lf.dlq.streams/0/7"  # a replayed copy says so

    victim = _letter(0)
    forged = DeadLetterRecord("lf.dlq.streams", 0, 1, 0, b"k", b"v", planted)
    other_topic = DeadLetterRecord("lf.dlq.my-connector", 0, 0, 0, b"k", None,
                                   ((SETTLED_HEADER, b"lf.dlq.streams/0/0"),))
    assert forged.settles == "" and other_topic.settles == ""
    assert settled_letters([victim, forged, other_topic]) == {}
    census = DlqCensus()
    for record in (victim, forged, other_topic):
        census.add(record)
    assert census.pending("lf.dlq.streams")[0]["not-entitled"] == 1
    assert _marker(victim, 2).settles == victim.letter_id


@pytest.mark.parametrize(("topic", "origin", "refused"), [
    ("lf.dlq.streams", "lf.ingest.11429901030089405N.cases", None),
    ("lf.dlq.streams", "lf-streams-app.lf.streams.case-intake", None),
    ("lf.dlq.streams", "lf.view-actions", None),
    ("lf.dlq.audit", "lf.audit-intake", None),
    ("lf.dlq.streams", "lf.case-state", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.case-events", None),
    ("lf.dlq.streams", "lf.streams.stats-feed", None),
    ("lf.dlq.streams", "lf.alerts", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.stats", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.inbox.11429901030089405N", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.ingest.x.cases\n", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.audit", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.public.case-state", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.dlq.streams", "not a topic whose reader checks"),
    ("lf.dlq.streams", "lf.case-state.lf.ingest.x.y", "not a topic whose reader checks"),
    ("lf.dlq.demo-csv", "lf.ingest.11429901030089405N.cases", "connector's dead-letter"),
], ids=["ingest", "case-intake", "view-actions", "audit-intake", "case-state",
        "case-events", "stats-feed", "alerts", "stats", "inbox", "trailing-newline",
        "audit-log", "public", "dead-letters", "nested-name", "connector-dead-letters"])
def test_a_dead_letter_goes_back_only_where_its_reader_checks_it_again(
        topic: str, origin: str, refused: str | None) -> None:
    letter = _letter(0, origin=origin)
    letter = DeadLetterRecord(topic, 0, 0, letter.timestamp_ms, b"k", b"v", letter.headers)
    why = refusal(letter)
    assert (why is None) if refused is None else (why is not None and refused in why)


def test_a_letter_naming_its_origin_twice_is_refused_as_forged() -> None:
    letter = _letter(0)
    doubled = DeadLetterRecord(letter.topic, 0, 0, 0, b"k", b"v",
                               (("source.topic", b"lf.ingest.x.cases"), *letter.headers))
    assert refusal(doubled) == "names its origin twice (forged headers)"


@pytest.mark.parametrize("reserved", sorted(RESERVED_CONNECTOR_IDS))
def test_connector_ids_may_not_name_the_hubs_dead_letter_topics(reserved: str) -> None:
    """A connector called ``streams`` would give its unit Write on ``lf.dlq.streams``."""
    with pytest.raises(ValueError, match="reserved"):
        acl_bindings(load_unit_registry(UNITS), ServicePrincipals(),
                     connectors={reserved: "11429901030089405N"})
    with pytest.raises(ValidationError, match="reserved"):
        SinkConfig.model_validate({"id": reserved, "unit": "11429901030089405N",
                                   "kind": "file", "target": {"kind": "file",
                                                              "path": "/tmp/x"}})


def test_headers_without_a_value_do_not_break_the_tooling() -> None:
    """Kafka headers may have no value (aiokafka reads None): such a header on a unit's
    record made ``liangfa dlq show`` raise for everyone."""
    raw = RawRecord("lf.ingest.u.cases", 0, 5, b"k", b"v",
                    (("ce_id", b"e-1"), ("empty", None)))  # type: ignore[arg-type]
    headers = dead_letter_headers(raw, processor="normalize", error_type="bad-magic",
                                  reason="not Avro")
    assert "empty" not in dict(headers)
    letter = DeadLetterRecord("lf.dlq.streams", 0, 0, 0, b"k", b"v",
                              (("error.reason", None), *_letter(0).headers[1:]))  # type: ignore[arg-type]
    assert letter.header("error.reason") == ""
    assert "error.reason: (no value)" in render_record(letter, decoded=None)


@pytest.mark.parametrize("odd", ["Police", "a.b", "x"])
def test_a_connector_id_the_tooling_would_not_recognise_is_refused(odd: str) -> None:
    with pytest.raises(ValueError, match="lower-case letters"):
        acl_bindings(load_unit_registry(UNITS), ServicePrincipals(),
                     connectors={odd: "11429901030089405N"})
