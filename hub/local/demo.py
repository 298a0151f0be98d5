"""The demo county on the embedded default: exports generated once per home, one connector
configuration per source system (each through a shipped preset), and the demo police API
that serves police feedback.

Everything here is what an agency IT team would do by hand for a real county — write a
short YAML per source — done by ``liangfa up`` so the whole flow can be seen end to end.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["AGENCY_EXPORTS", "DemoLayout", "configs_by_unit", "connector_configs", "prepare_demo"]

log = logging.getLogger(__name__)

_SEED = 2026


@dataclass(frozen=True)
class DemoLayout:
    """Where a home's demo county lives."""

    root: Path

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def connectors(self) -> Path:
        return self.root / "connectors"

    @property
    def state(self) -> Path:
        return self.root / "state"


def prepare_demo(home: Path, *, penalty_cases: int = 10_000) -> DemoLayout:
    """Generate the demo county's exports under ``home/demo`` unless already there."""
    layout = DemoLayout(home / "demo")
    if not layout.manifest.exists():
        from deploy.demo.generate import generate

        log.info("generating the demo county (%s penalty cases)", penalty_cases)
        generate(layout.root, seed=_SEED, penalty_cases=penalty_cases)
    return layout


def _agency_codes(layout: DemoLayout) -> list[str]:
    return sorted(p.name for p in layout.exports.iterdir()
                  if p.is_dir() and p.name not in ("police", "procuratorate", "court"))


#: Agency export folders and the shipped preset that maps each (deploy/demo/README.md).
AGENCY_EXPORTS: dict[str, str] = {
    "penalties": "penalty-disclosure",
    "referrals": "agency-referrals",
    "handovers": "agency-handovers",
    "reconsiderations": "agency-reconsiderations",
    "replies": "agency-replies",
    "invitations": "agency-invitations",
    "consultations": "agency-consultations",
    "open-cases": "agency-open-cases",
}


def _drop_folder(connector_id: str, unit: str, folder: Path, preset: str,
                 encoding: str | None) -> dict[str, Any]:
    pattern = "*.xlsx" if any(folder.glob("*.xlsx")) else "*.csv"
    source: dict[str, Any] = {"path": str(folder), "pattern": pattern, "settle_seconds": 0}
    if encoding and pattern == "*.csv":
        # Declared, as an agency's IT team knows its system's encoding: guessing from a
        # sample misreads a UTF-8 export holding one row of stray GBK bytes.
        source["encoding"] = encoding
    return {"id": connector_id, "unit": unit, "kind": "file", "source": source,
            "preset": preset}


def _folder_encodings(manifest: dict[str, Any]) -> dict[str, str]:
    """The encoding of each export folder (``exports/<unit>/<kind>``) when its files agree."""
    seen: dict[str, set[str]] = {}
    for export in manifest.get("files", []):
        if export.get("format") == "csv" and export.get("encoding"):
            folder = export["path"].rsplit("/", 1)[0]
            seen.setdefault(folder, set()).add(str(export["encoding"]))
    return {folder: next(iter(names)) for folder, names in seen.items() if len(names) == 1}


def connector_configs(layout: DemoLayout, *, police_api: str, police_token: str
                      ) -> list[Path]:
    """Write one connector YAML per demo source; returns their paths.

    Every agency gets a connector per export folder it has (penalties, referrals,
    hand-overs, reconsiderations, replies, invitations to intervene early); each police
    unit its feedback API; the procuratorate its outbox; the court two xml connectors:
    judgments from the drop folder, then judicial recommendations from the files the
    first has archived (each file read once by each, neither moving a file the other has
    not finished).
    """
    layout.connectors.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = json.loads(layout.manifest.read_text(encoding="utf-8"))
    units = {u["code"]: u for u in _units(manifest)}
    encodings = _folder_encodings(manifest)
    configs: list[dict[str, Any]] = []
    for code in _agency_codes(layout):
        for export, preset in AGENCY_EXPORTS.items():
            folder = layout.exports / code / export
            if folder.is_dir():
                configs.append(_drop_folder(
                    f"demo-{code[-6:].lower()}-{export}", code, folder, preset,
                    encodings.get(f"exports/{code}/{export}")))
    for police_dir in sorted((layout.exports / "police").glob("*")):
        code = police_dir.name
        configs.append({
            "id": f"demo-{code[-6:].lower()}-feedback",
            "unit": code,
            "kind": "http",
            "source": {
                "url": f"{police_api}/police/{code}/feedback",
                "records_path": "data.items",
                "pagination": {"kind": "page", "page_size": 200},
                "since_param": "since",
                "since_field": "updated_at",
                "auth": {"bearer_token": police_token},
            },
            "preset": "police-feedback",
        })
    procuratorate = layout.exports / "procuratorate" / "actions.sqlite"
    if procuratorate.exists():
        code = _unit_of_kind(units, "procuratorate")
        configs.append({
            "id": "demo-procuratorate-actions",
            "unit": code,
            "kind": "sql",
            "source": {"url": f"sqlite:///{procuratorate}", "table": "outbox",
                       "watermark_column": "id", "tie_breaker_column": "id",
                       "payload_column": "payload"},
            "preset": "procuratorate-outbox",
        })
    judgments = layout.exports / "court" / "judgments"
    if judgments.is_dir():
        court = _unit_of_kind(units, "court")
        read_judgments = judgments / "archive"
        read_judgments.mkdir(exist_ok=True)
        configs.append({
            "id": "demo-court-judgments",
            "unit": court,
            "kind": "xml",
            "source": {"path": str(judgments), "pattern": "*.xml", "settle_seconds": 0,
                       "record_tag": "judgment", "archive": str(read_judgments)},
            "preset": "court-judgment",
        })
        configs.append({
            "id": "demo-court-recommendations",
            "unit": court,
            "kind": "xml",
            "source": {"path": str(read_judgments), "pattern": "*.xml", "settle_seconds": 0,
                       "record_tag": "judicialRecommendation",
                       "archive": str(read_judgments / "recommendations-read")},
            "preset": "court-recommendations",
        })
    paths = []
    for config in configs:
        config.setdefault("state_dir", str(layout.state / config["id"]))
        config.setdefault("poll_interval_seconds", 5)
        path = layout.connectors / f"{config['id']}.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        paths.append(path)
    return paths


def configs_by_unit(configs: list[Path]) -> dict[str, list[Path]]:
    """Connector configs grouped by their unit: ``liangfa up`` runs one process per unit."""
    grouped: dict[str, list[Path]] = {}
    for path in configs:
        unit = str(yaml.safe_load(path.read_text(encoding="utf-8"))["unit"]).upper()
        grouped.setdefault(unit, []).append(path)
    return grouped


def _units(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    from deploy.demo import generate as demo

    units_file = Path(demo.__file__).with_name("units.yaml")
    data = yaml.safe_load(units_file.read_text(encoding="utf-8"))
    units: list[dict[str, Any]] = data["units"]
    return units


def _unit_of_kind(units: dict[str, dict[str, Any]], kind: str) -> str:
    for code, unit in units.items():
        if unit.get("kind") == kind:
            return code
    raise LookupError(f"the demo county has no unit of kind {kind}")
