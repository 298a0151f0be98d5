"""Every shipped preset over a generated demo county, read the way ``liangfa up`` reads it.

The demo's connector configs (``hub.local.demo.connector_configs``) are loaded and run
through their real source kinds (drop folders, the demo police API over HTTP, the outbox
table, the court XML) and mappers, without a broker: every good record must map, and
exactly the records the manifest plants as dead letters must be refused.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from connectors.cli import app
from connectors.config import ConnectorConfig, available_presets, load_config
from connectors.mapping import build_mapper
from connectors.runner import make_source
from deploy.demo import generate as demo
from deploy.demo.manifest import DemoManifest
from deploy.demo.police_api import DEMO_POLICE_TOKEN, make_server
from hub.errors import MappingError, RecordRejected
from hub.identity import case_id_for
from hub.local.demo import DemoLayout, configs_by_unit, connector_configs

CASES = 300


@dataclass
class Outcome:
    """What one connector config made of its whole source."""

    config: ConnectorConfig
    events: Counter[str] = field(default_factory=Counter)
    refused: set[tuple[str, int | str]] = field(default_factory=set)
    reasons: Counter[str] = field(default_factory=Counter)
    case_ids: list[str] = field(default_factory=list)
    mapped: list[Any] = field(default_factory=list)


@dataclass
class DemoRun:
    layout: DemoLayout
    manifest: DemoManifest
    configs: list[Path]
    outcomes: dict[str, Outcome]


@pytest.fixture(scope="module")
def police_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("demo-presets")
    demo.generate(root, seed=2026, penalty_cases=CASES)
    server = make_server(root, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _position(config: ConnectorConfig, record: Any) -> tuple[str, int | str]:
    """The manifest's address of a source record: (file name, line / cursor / outbox id)."""
    if config.kind in ("file", "xml"):
        if record.location.get("source.row") == "file":
            return record.location["source.file"], "file"
        return record.location["source.file"], int(record.location["source.row"])
    raw = json.loads(record.raw)
    if config.kind == "http":
        return "feedback.json", int(raw["cursor"])
    return "actions.sqlite", int(raw["id"])


async def _run(config: ConnectorConfig) -> Outcome:
    outcome = Outcome(config)
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    source = make_source(config)
    try:
        async for record in source.read(None):
            if record.marker:
                continue
            try:
                if record.problem is not None or record.row is None:
                    raise record.problem or RecordRejected("unparseable record")
                mapped = mapper.map(record.row, record.reference)
            except (RecordRejected, MappingError, ValidationError) as exc:
                outcome.refused.add(_position(config, record))
                outcome.reasons[type(exc).__name__] += 1
                continue
            outcome.events[type(mapped.event).__name__] += 1
            outcome.case_ids.append(mapped.event.case_id)
            if config.kind == "xml":  # kept for the court tests (small)
                outcome.mapped.append(mapped.event)
    finally:
        await source.aclose()
    return outcome


@pytest.fixture(scope="module")
async def demo_run(police_api: tuple[Path, str]) -> DemoRun:
    root, url = police_api
    layout = DemoLayout(root)
    configs = connector_configs(layout, police_api=url, police_token=DEMO_POLICE_TOKEN)
    # The recommendations connector reads what the judgment connector archived.
    judgments = layout.exports / "court" / "judgments"
    for path in judgments.glob("*.xml"):
        shutil.copy(path, judgments / "archive" / path.name)
    manifest = DemoManifest.model_validate_json(layout.manifest.read_text(encoding="utf-8"))
    outcomes = {}
    for path in configs:
        config = load_config(path)
        outcomes[config.id] = await _run(config)
    return DemoRun(layout, manifest, configs, outcomes)


def _planted(manifest: DemoManifest, folder: str) -> set[tuple[str, int | str]]:
    """Dead letters the manifest plants under ``folder`` (a path prefix)."""
    planted: set[tuple[str, int | str]] = set()
    for gap in manifest.gaps:
        if gap.alert != "dead_letter" or not gap.source.path.startswith(folder):
            continue
        name = Path(gap.source.path).name
        if gap.kind.startswith("bad_file."):
            planted.add((name, "file"))
        elif gap.source.cursor is not None:
            planted.add((name, gap.source.cursor))
        elif gap.source.outbox_id is not None:
            planted.add((name, gap.source.outbox_id))
        else:  # the file kinds count physical lines / sheet rows (the header is 1)
            assert gap.source.line is not None
            planted.add((name, gap.source.line))
    return planted


def _folder(config: ConnectorConfig, root: Path) -> str:
    """The manifest path prefix of a config's source."""
    if config.kind == "http":
        return f"exports/police/{config.unit}/"
    if config.kind == "sql":
        return "exports/procuratorate/"
    if config.kind == "xml":
        return "exports/court/judgments/"
    source_path = Path(str(getattr(config.source, "path", "")))
    return f"{source_path.relative_to(root).as_posix()}/"


def _records(manifest: DemoManifest, folder: str) -> tuple[int, int]:
    files = [f for f in manifest.files if f.path.startswith(folder)]
    return sum(f.records for f in files), sum(f.bad_records for f in files)


def test_the_demo_uses_every_shipped_preset(demo_run: DemoRun) -> None:
    used = {str(load_config(path).preset) for path in demo_run.configs}
    assert used == set(available_presets())


def test_each_agency_has_a_connector_per_export_folder_and_one_process_per_unit(
        demo_run: DemoRun) -> None:
    exports = demo_run.layout.exports
    folders = {(p.parent.name, p.name) for p in exports.glob("*/*") if p.is_dir()
               and p.parent.name not in ("police", "procuratorate", "court")}
    configured = {(o.config.unit, Path(str(getattr(o.config.source, "path", ""))).name)
                  for o in demo_run.outcomes.values() if o.config.kind == "file"}
    assert configured == folders
    for outcome in demo_run.outcomes.values():  # CSV encodings declared, not guessed
        if outcome.config.kind != "file":
            continue
        source_path = Path(str(getattr(outcome.config.source, "path", "")))
        folder = source_path.relative_to(demo_run.layout.root)
        declared = {f.encoding for f in demo_run.manifest.files
                    if f.format == "csv" and Path(f.path).parent == folder}
        if declared:
            assert {getattr(outcome.config.source, "encoding", None)} == declared
    grouped = configs_by_unit(demo_run.configs)
    assert sorted(grouped) == sorted({o.config.unit for o in demo_run.outcomes.values()})
    assert sum(len(paths) for paths in grouped.values()) == len(demo_run.configs)


def test_every_config_refuses_exactly_the_planted_dead_letters(demo_run: DemoRun) -> None:
    root = demo_run.layout.root
    for connector_id, outcome in demo_run.outcomes.items():
        folder = _folder(outcome.config, root)
        planted = _planted(demo_run.manifest, folder)
        assert outcome.refused == planted, connector_id
        if outcome.config.kind in ("file", "http", "sql"):
            records, bad = _records(demo_run.manifest, folder)
            assert sum(outcome.events.values()) == records - bad, connector_id
            assert len(planted) == bad, connector_id


def test_court_judgments_and_recommendations_from_the_same_files(demo_run: DemoRun) -> None:
    judgments = demo_run.outcomes["demo-court-judgments"]
    recommendations = demo_run.outcomes["demo-court-recommendations"]
    files = [f for f in demo_run.manifest.files if f.kind == "court_judgment"]
    good = [demo_run.layout.root / f.path for f in files if not f.bad_records]
    with_recommendation = sum(
        1 for path in good
        if SafeET.parse(path).getroot().find("judgment/judicialRecommendation") is not None)
    assert with_recommendation > 0
    assert judgments.events == Counter({"CourtJudgment": len(good)})
    assert recommendations.events == Counter({"JudicialRecommendation": with_recommendation})
    # A recommendation belongs to its judgment's case (court case number, court's code).
    assert set(recommendations.case_ids) <= set(judgments.case_ids)
    # Both refuse the unsafe and the truncated file.
    assert judgments.refused == recommendations.refused
    assert len(judgments.refused) == demo_run.manifest.totals["judgments_bad"]


def test_court_events_carry_the_case_origin_the_matcher_needs(demo_run: DemoRun) -> None:
    """Judgments and recommendations are keyed by the court's own case number, so the
    matcher can only find the hub's case by what ``caseOrigin`` quotes: the referral
    letter number (when the case came from a referral) and the police case number."""
    origins: dict[str, tuple[str | None, str | None]] = {}
    for file in demo_run.manifest.files:
        if file.kind != "court_judgment" or file.bad_records:
            continue
        for judgment in SafeET.parse(demo_run.layout.root / file.path).getroot().iter(
                "judgment"):
            origin = judgment.find("caseOrigin")
            assert origin is not None
            origins[str(judgment.findtext("courtCaseNumber"))] = (
                origin.get("referralNumber"), origin.get("policeCaseNumber"))
    # The demo has judgments of referred cases and of cases the police found themselves.
    assert any(referral for referral, _ in origins.values())
    assert any(referral is None for referral, _ in origins.values())
    for connector_id, event_type in (("demo-court-judgments", "CourtJudgment"),
                                     ("demo-court-recommendations",
                                      "JudicialRecommendation")):
        mapped = demo_run.outcomes[connector_id].mapped
        assert mapped and {type(event).__name__ for event in mapped} == {event_type}
        for event in mapped:
            assert (event.referral_number, event.police_case_number) == \
                origins[event.court_case_number], connector_id
    assert any(event.referral_number for event in demo_run.outcomes[
        "demo-court-judgments"].mapped)


def test_police_feedback_routes_every_record_type_the_feed_sends(demo_run: DemoRun) -> None:
    totals = demo_run.manifest.totals
    events: Counter[str] = Counter()
    for outcome in demo_run.outcomes.values():
        if outcome.config.kind == "http":
            events.update(outcome.events)
    # A small county may draw no record of some type (its total is then absent, 0).
    def total(record_type: str) -> int:
        return int(totals.get(f"feedback_{record_type}", 0))

    # The planted bad records are arrest requests (and one status_sync record).
    assert events["ArrestRequested"] == total("arrest_request") - 2
    assert events["TransferredForProsecution"] == total("transfer_for_prosecution")
    assert events["NonFilingReasonsExplained"] == total("non_filing_reasons")
    assert events["ReconsiderationDecided"] == total("reconsideration_decision")
    assert events["ReferralReceived"] == total("receipt")
    assert events["FilingDecided"] == total("filing_decision") + total("not_filed")
    assert sum(events.values()) > 0


async def test_not_filed_keeps_the_police_case_number_and_parties(
        demo_run: DemoRun) -> None:
    from connectors.kinds.http import flatten_record

    for path in sorted((demo_run.layout.exports / "police").glob("*/feedback.json")):
        config = load_config(demo_run.layout.connectors
                             / f"demo-{path.parent.name[-6:].lower()}-feedback.yaml")
        mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
        for record in json.loads(path.read_text(encoding="utf-8")):
            if record["record_type"] != "not_filed":
                continue
            event: Any = mapper.map(flatten_record(record), "test").event
            assert event.decision.value == "NOT_FILED"
            assert event.police_case_number == record["police_case_number"]
            assert event.parties[0].name == record["parties"][0]["name"]
            if record["agency_decision_number"] or record["agency_case_number"]:
                number = record["agency_decision_number"] or record["agency_case_number"]
                assert event.case_id == case_id_for(record["referring_unit_code"], number)


def test_agency_records_keep_their_entry_date(demo_run: DemoRun) -> None:
    """Backfilled records carry 录入日期 as recorded_at, not the read time."""
    root = demo_run.layout.root
    config = next(o.config for o in demo_run.outcomes.values()
                  if o.config.preset == "penalty-disclosure"
                  and str(getattr(o.config.source, "pattern", "")) == "*.csv")
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    folder = Path(str(getattr(config.source, "path", "")))
    export = next(f for f in demo_run.manifest.files
                  if f.path.startswith(f"{folder.relative_to(root).as_posix()}/"))
    lines = (root / export.path).read_bytes().decode(export.encoding or "utf-8",
                                                      errors="replace").splitlines()
    import csv

    rows = list(csv.DictReader(lines))
    checked = 0
    for row in rows:
        try:
            event = mapper.map(row, "test").event
        except (RecordRejected, ValidationError):
            continue
        assert event.recorded_at.date().isoformat() == row["录入日期"].replace("/", "-")
        checked += 1
    assert checked > 0


def test_validate_passes_on_every_config_the_demo_writes(demo_run: DemoRun) -> None:
    result = CliRunner().invoke(app, ["validate", *(str(p) for p in demo_run.configs)])
    assert result.exit_code == 0, result.output
    assert result.output.count(": valid (") == len(demo_run.configs)
