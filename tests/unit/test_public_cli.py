"""``liangfa public run`` refuses to publish without the key of the event ids' pseudonyms
(a public event id is an oracle for the masked ID numbers without it)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streams.public_cli import app


@pytest.mark.parametrize("key", [None, "", "too-short"])
def test_the_publisher_needs_its_id_key(monkeypatch: pytest.MonkeyPatch,
                                        key: str | None) -> None:
    if key is None:
        monkeypatch.delenv("LIANGFA_PUBLIC_ID_KEY", raising=False)
    else:
        monkeypatch.setenv("LIANGFA_PUBLIC_ID_KEY", key)
    # An address nothing listens on: the run must stop before it tries to connect.
    result = CliRunner().invoke(app, ["run", "--bootstrap", "127.0.0.1:9"])
    assert result.exit_code == 2
    assert "LIANGFA_PUBLIC_ID_KEY" in result.output
