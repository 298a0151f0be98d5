"""The wheel is the product: built, installed into a clean venv and run outside the
checkout, ``liangfa`` starts and the connector commands an agency host needs work.

The clean venv gets the wheel only (``--no-deps``); its dependencies are borrowed from the
test environment through ``PYTHONPATH`` (site-packages only, never the checkout), so what
is checked is exactly what the wheel ships: a module the wheel leaves out (``deploy``)
fails here as it fails on an agency's host.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import yaml

from connectors.samples import DEMO_MARKET_UNIT, write_penalty_csv

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(root / "dist"), str(REPO)], capture_output=True, text=True,
                           check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((root / "dist").glob("liangfa_hub-*.whl"))
    venv.create(root / "venv", with_pip=True)
    pip = subprocess.run([str(root / "venv/bin/python"), "-m", "pip", "install", "-q",
                          "--no-deps", str(wheel)], capture_output=True, text=True,
                         check=False)
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    return root, env


def _liangfa(installed: tuple[Path, dict[str, str]], *args: str
             ) -> subprocess.CompletedProcess[str]:
    root, env = installed
    return subprocess.run([str(root / "venv/bin/liangfa"), *args], cwd=root,
                          capture_output=True, text=True, env=env, check=False, timeout=120)


def test_the_installed_wheel_runs_outside_the_checkout(
        installed: tuple[Path, dict[str, str]]) -> None:
    result = _liangfa(installed, "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    for command in ("connector", "status", "worker", "view"):
        assert command in result.stdout
    demo = _liangfa(installed, "demo")
    assert demo.returncode == 2
    assert "not installed" in demo.stderr
    assert "Traceback" not in demo.stderr


def test_the_installed_wheel_validates_and_dry_runs_a_connector(
        installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    sample = write_penalty_csv(tmp_path / "export.csv", 3)
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({
        "id": "wheel-check", "unit": DEMO_MARKET_UNIT, "kind": "file",
        "source": {"path": str(tmp_path), "encoding": "gbk"},
        "preset": "penalty-disclosure"}, allow_unicode=True), encoding="utf-8")
    validated = _liangfa(installed, "connector", "validate", str(config))
    assert validated.returncode == 0, validated.stderr[-3000:]
    assert "valid (file connector wheel-check" in validated.stdout
    tested = _liangfa(installed, "connector", "test", str(config), "--sample", str(sample))
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "3 event(s) mapped, 0 rejected" in tested.stdout


def test_the_wheel_carries_the_native_row_path_built_in_the_checkout(
        installed: tuple[Path, dict[str, str]]) -> None:
    """The bootstrap built the core (scripts/build-native.sh); the wheel ships it, and the
    installed package loads it from its own files, not from the checkout."""
    assert (REPO / "connectors" / "rowpath" / "_rowpath.so").is_file()
    root, env = installed
    probe = subprocess.run(
        [str(root / "venv/bin/python"), "-c",
         "from connectors import rowpath; import connectors; "
         "print(rowpath.available(), connectors.__file__)"],
        cwd=root, capture_output=True, text=True, env=env, check=False, timeout=60)
    assert probe.returncode == 0, probe.stderr[-3000:]
    available, location = probe.stdout.split()
    assert available == "True"
    assert str(root / "venv") in location
