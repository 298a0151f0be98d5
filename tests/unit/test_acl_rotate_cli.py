"""``liangfa acl users --rotate USER`` (docs/runbook.md, "Rotate a unit's credentials")
refuses a user the registry does not have before it touches the broker; the rotation
itself runs on the secured stack (tests/integration/test_security.py::
test_a_units_credential_is_rotated_on_request)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "demo" / "units.yaml"


def test_rotating_an_unknown_user_is_refused_by_name(tmp_path: Path) -> None:
    from hub.cli import _attach_groups, app

    _attach_groups()
    secrets = tmp_path / "scram.json"
    result = CliRunner().invoke(app, [
        "acl", "users", "--units", str(UNITS), "--secrets", str(secrets), "--generate",
        "--rotate", "unit-91000000000000000X", "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "--rotate: not a user of this registry: unit-91000000000000000X" in result.output
    assert secrets.exists()  # the file was prepared; nothing reached a broker
