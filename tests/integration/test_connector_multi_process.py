"""Several connector configs in one process (``python -m connectors run a.yaml b.yaml``).

Each config is its own pipeline: its own topic, DLQ, checkpoint and metrics label; a config
that fails (here: a corrupt checkpoint, a :class:`~hub.errors.FatalError`) is reported and
the others go on, and so does an API answering 404 (one dead letter, no error); SIGTERM
stops every pipeline cleanly with its checkpoint written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.checkpoint import CheckpointStore
from connectors.config import load_config
from connectors.runner import dlq_topic
from connectors.samples import write_penalty_csv
from connectors.testing import CsvFileHarness
from hub.topics import ingest_topic
from tests.integration.test_connector_standard import event_ids, read_topic

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "no such feed"}')

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def missing_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed"
    server.shutdown()
    server.server_close()


def _file_config(tmp_path: Path, name: str, bootstrap: str, registry_url: str,
                 rows: int, *, bad: bool = False) -> Path:
    """A penalty drop folder with ``rows`` good rows (and the harness's bad ones)."""
    (tmp_path / name).mkdir()
    harness = CsvFileHarness(tmp_path / name)
    harness.write_batch(rows, bad=bad)
    suffix = uuid.uuid4().hex[:8]
    raw = harness.config(f"multi-{name}-{suffix}")
    raw["mapping"] = {"stream": f"multi-{suffix}"}
    raw.update(bootstrap=bootstrap, registry_url=registry_url,
               state_dir=str(tmp_path / name / "state"), poll_interval_seconds=0.2,
               checkpoint_every_seconds=0.2)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _http_config(tmp_path: Path, url: str, bootstrap: str, registry_url: str,
                 name: str = "missing", *, corrupt_checkpoint: bool = False) -> Path:
    suffix = uuid.uuid4().hex[:8]
    raw = {"id": f"multi-{name}-{suffix}", "unit": "114299010313564485", "kind": "http",
           "source": {"url": url, "max_retries": 0}, "preset": "police-feedback",
           "mapping": {"stream": f"multi-{suffix}"}, "bootstrap": bootstrap,
           "registry_url": registry_url, "state_dir": str(tmp_path / name / "state")}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    if corrupt_checkpoint:
        store = CheckpointStore(Path(raw["state_dir"]), raw["id"])
        store.path.parent.mkdir(parents=True, exist_ok=True)
        store.path.write_text("{not json", encoding="utf-8")
    return path


def _start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as handle:
        return subprocess.Popen([sys.executable, "-m", "connectors", "run", *args],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=handle)


def _results(output: bytes) -> dict[str, dict[str, Any]]:
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    return {line["connector"]: line for line in lines}


def test_two_configs_run_as_separate_pipelines_and_a_failing_one_does_not_stop_them(
        tmp_path: Path, bootstrap: str, registry_url: str, missing_api: str) -> None:
    first = _file_config(tmp_path, "first", bootstrap, registry_url, 300, bad=True)
    second = _file_config(tmp_path, "second", bootstrap, registry_url, 200)
    missing = _http_config(tmp_path, missing_api, bootstrap, registry_url)
    broken = _http_config(tmp_path, missing_api, bootstrap, registry_url, "broken",
                          corrupt_checkpoint=True)
    log = tmp_path / "run.log"

    process = _start(str(first), str(missing), str(broken), str(second), "--once", log=log)
    output, _ = process.communicate(timeout=300)

    assert process.returncode == 1, log.read_text(encoding="utf-8")[-3000:]
    results = _results(output)
    configs = {path: load_config(path) for path in (first, second, missing, broken)}
    assert results[configs[broken].id]["error"].startswith("FatalError")
    assert "corrupt" in results[configs[broken].id]["error"]
    assert "error" not in results[configs[missing].id], "a 404 is a dead letter, not a stop"
    assert (results[configs[missing].id]["produced"],
            results[configs[missing].id]["rejected"]) == (0, 1)
    for path, good, bad in ((first, 300, len(CsvFileHarness.bad_reasons)),
                            (second, 200, 0)):
        config = configs[path]
        result = results[config.id]
        assert "error" not in result
        assert (result["produced"], result["rejected"]) == (good, bad)
        ids = event_ids(read_topic(bootstrap, ingest_topic(config.unit, config.stream)))
        assert len(ids) == len(set(ids)) == good
        letters = read_topic(bootstrap, dlq_topic(config.id))
        assert len(letters) == bad
        checkpoint = CheckpointStore(config.state_dir, config.id).load()
        assert checkpoint is not None
        assert checkpoint.position.get("done"), "the drop folder's file is checkpointed done"


def test_sigterm_stops_every_pipeline_cleanly_with_its_checkpoint(
        tmp_path: Path, bootstrap: str, registry_url: str) -> None:
    first = _file_config(tmp_path, "first", bootstrap, registry_url, 50)
    second = _file_config(tmp_path, "second", bootstrap, registry_url, 70)
    configs = [load_config(first), load_config(second)]
    log = tmp_path / "run.log"
    process = _start(str(first), str(second), log=log)
    try:
        deadline = time.monotonic() + 180
        while not all(_done(c.state_dir, c.id) for c in configs):
            assert process.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            assert time.monotonic() < deadline, "the connectors made no progress"
            time.sleep(0.1)
        # A file dropped while running is picked up by its own pipeline only.
        staged = write_penalty_csv(tmp_path / "later.csv", 5, start=900_000)
        staged.rename(tmp_path / "second" / "drop" / "later.csv")
        while _count(bootstrap, configs[1]) < 75:
            assert process.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            assert time.monotonic() < deadline, "the later file was not read"
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text(encoding="utf-8")[-3000:]
    results = _results(output)
    assert [results[c.id]["produced"] for c in configs] == [50, 75]
    assert _count(bootstrap, configs[0]) == 50
    assert _count(bootstrap, configs[1]) == 75
    assert len(_done(configs[1].state_dir, configs[1].id)) == 2


def _done(state_dir: Path, connector_id: str) -> list[str]:
    checkpoint = CheckpointStore(state_dir, connector_id).load()
    return list(checkpoint.position.get("done") or []) if checkpoint else []


def _count(bootstrap: str, config: Any) -> int:
    return len(read_topic(bootstrap, ingest_topic(config.unit, config.stream)))
