"""The demo's court wiring on the real broker: two xml connectors over one drop folder.

The judgment connector reads ``judgments/`` and archives each file once its events are
acknowledged; the recommendations connector reads that archive. Run in one process (as
``liangfa up`` runs a unit), every judgment and every judicial recommendation arrives
exactly once, the two refuse the same planted bad files, and no file is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest
import yaml

from connectors.config import load_config
from connectors.runner import dlq_topic
from deploy.demo import generate as demo
from hub.local.demo import DemoLayout, connector_configs
from hub.topics import ingest_topic
from tests.integration.test_connector_standard import event_ids, read_topic

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_court_judgments_and_recommendations_arrive_once_each_from_one_folder(
        tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    manifest = demo.generate(tmp_path, seed=2026, penalty_cases=300)
    layout = DemoLayout(tmp_path)
    paths = connector_configs(layout, police_api="http://127.0.0.1:9", police_token="unused")
    court = [p for p in paths if p.stem in ("demo-court-judgments",
                                            "demo-court-recommendations")]
    suffix = uuid.uuid4().hex[:8]
    for path in court:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["id"] = f"{raw['id']}-{suffix}"
        raw["mapping"] = {"stream": f"wiring-{path.stem.rsplit('-', 1)[1]}-{suffix}"}
        raw.update(bootstrap=bootstrap, registry_url=registry_url, poll_interval_seconds=0.2,
                   checkpoint_every_seconds=0.2, state_dir=str(tmp_path / "state" / raw["id"]))
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    judgments_config, recommendations_config = (load_config(p) for p in court)

    folder = layout.exports / "court" / "judgments"
    files = [f for f in manifest.files if f.kind == "court_judgment"]
    good = [tmp_path / f.path for f in files if not f.bad_records]
    expected_recommendations = sum(
        1 for path in good
        if SafeET.parse(path).getroot().find("judgment/judicialRecommendation") is not None)
    bad = len(files) - len(good)

    log = tmp_path / "court.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "connectors", "run", *(str(p) for p in court)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=handle)

    def count(config_topic: str) -> int:
        return len(read_topic(bootstrap, config_topic))

    judgment_topic = ingest_topic(judgments_config.unit, judgments_config.stream)
    recommendation_topic = ingest_topic(recommendations_config.unit,
                                        recommendations_config.stream)
    try:
        deadline = time.monotonic() + 180
        while (count(recommendation_topic) < expected_recommendations
               or count(dlq_topic(judgments_config.id)) < bad
               or any(folder.glob("*.xml"))):
            assert process.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")[-3000:]
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0, log.read_text(encoding="utf-8")[-3000:]

    judgment_ids = event_ids(read_topic(bootstrap, judgment_topic))
    assert len(judgment_ids) == len(set(judgment_ids)) == len(good)
    recommendation_ids = event_ids(read_topic(bootstrap, recommendation_topic))
    assert len(recommendation_ids) == len(set(recommendation_ids)) == expected_recommendations
    # A file that cannot be read as a whole (the planted DOCTYPE and truncated exports) is
    # refused once, by the first connector of the chain: one dead letter, then quarantine.
    assert count(dlq_topic(judgments_config.id)) == bad
    assert count(dlq_topic(recommendations_config.id)) == 0
    bad_names = sorted(Path(f.path).name for f in files if f.bad_records)
    quarantine = folder.with_name(f"{folder.name}-quarantine")
    assert sorted(p.name for p in quarantine.glob("*.xml")) == bad_names
    assert all((quarantine / f"{name}.reason.txt").is_file() for name in bad_names)
    # Every good file went through both connectors and ended in the second one's archive.
    archived = folder / "archive" / "recommendations-read"
    assert sorted(p.name for p in archived.glob("*.xml")) == sorted(
        Path(f.path).name for f in files if not f.bad_records)
    results = [json.loads(line) for line in output.decode().splitlines()]
    assert all("error" not in result for result in results)
