"""Who reads the view's /metrics: the scraper on this host, or one with the metrics token.

The view's port faces the users of every member unit; its metrics count each unit's open
and overdue alerts. They were open to anyone who could reach the port.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from hub.errors import ConfigError
from hub.view.app import create_app
from hub.view.settings import ViewSettings

TOKEN = "fictional-scrape-token-0123456789"


def _client(tmp_path: Path, host: str, token: str | None = TOKEN) -> TestClient:
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=False, bootstrap=None,
                            metrics_token=SecretStr(token) if token else None)
    return TestClient(create_app(settings), client=(host, 50000))


@pytest.mark.parametrize(("host", "headers", "token", "allowed"), [
    # no token configured (the embedded hub): this host's scraper only
    ("127.0.0.1", {}, None, True),
    ("::1", {}, None, True),
    ("10.20.0.7", {}, None, False),
    ("10.20.0.7", {"Authorization": f"Bearer {TOKEN}"}, None, False),
    ("127.0.0.1", {"Authorization": f"Bearer {TOKEN}"}, None, False),
    ("testclient", {}, None, False),
    # a reverse proxy on this host relaying another client
    ("127.0.0.1", {"X-Forwarded-For": "10.20.0.7"}, None, False),
    ("127.0.0.1", {"X-Real-IP": "10.20.0.7"}, None, False),
    ("127.0.0.1", {"Forwarded": "for=10.20.0.7"}, None, False),
    # a token configured: every scraper presents it, this host's too (a proxy adding no
    # relay header, or a sidecar, makes every client look local)
    ("127.0.0.1", {}, TOKEN, False),
    ("10.20.0.7", {}, TOKEN, False),
    ("10.20.0.7", {"Authorization": f"Bearer {TOKEN}"}, TOKEN, True),
    ("127.0.0.1", {"Authorization": f"Bearer {TOKEN}"}, TOKEN, True),
    ("10.20.0.7", {"Authorization": "Bearer not-the-token"}, TOKEN, False),
    ("10.20.0.7", {"Authorization": f"Basic {TOKEN}"}, TOKEN, False),
    ("127.0.0.1", {"X-Forwarded-For": "10.20.0.7", "Authorization": f"Bearer {TOKEN}"},
     TOKEN, True),
], ids=["local", "local-ipv6", "remote", "remote-with-a-token-nobody-set",
        "local-with-a-token-nobody-set", "not-an-address", "relayed-xff", "relayed-real-ip",
        "relayed-forwarded", "token-set-local-without", "token-set-remote-without",
        "token-set-remote", "token-set-local", "wrong-token", "basic-scheme",
        "token-set-relayed"])
def test_metrics_are_read_locally_or_with_the_token(
        tmp_path: Path, host: str, headers: dict[str, str], token: str | None,
        allowed: bool) -> None:
    with _client(tmp_path, host, token) as client:
        answer = client.get("/metrics", headers=headers)
    if allowed:
        assert answer.status_code == 200
        assert "liangfa_view_open_alerts" in answer.text
    else:
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert "liangfa_view" not in answer.text


def test_the_rest_of_the_view_is_unchanged_for_other_hosts(tmp_path: Path) -> None:
    with _client(tmp_path, "10.20.0.7") as client:
        assert client.get("/healthz").status_code == 200


def test_the_token_may_come_from_a_file_and_an_empty_one_stops_the_view(
        tmp_path: Path) -> None:
    """The compose install: the view and Prometheus mount one token file."""
    token_file = tmp_path / "view-metrics-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    settings = ViewSettings(database_url=f"sqlite:///{tmp_path / 'view.sqlite3'}",
                            seed_demo_users=False, bootstrap=None,
                            metrics_token_file=token_file)
    with TestClient(create_app(settings), client=("10.20.0.7", 50000)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={
            "Authorization": f"Bearer {TOKEN}"}).status_code == 200
    for weak in (" \n", "REPLACE-ME\n", "short-token\n"):
        token_file.write_text(weak, encoding="utf-8")
        with pytest.raises(ConfigError, match="at least 16 characters and not the placeholder"):
            create_app(settings)
    with pytest.raises(ConfigError, match="at least 16"):
        create_app(settings.model_copy(update={"metrics_token_file": None,
                                               "metrics_token": SecretStr("REPLACE-ME")}))
    # a token from the environment is stripped like one from a file
    stripped = settings.model_copy(update={"metrics_token_file": None,
                                           "metrics_token": SecretStr(TOKEN + "\n")})
    with TestClient(create_app(stripped), client=("10.20.0.7", 50000)) as client:
        assert client.get("/metrics", headers={
            "Authorization": f"Bearer {TOKEN}"}).status_code == 200
    with pytest.raises(ConfigError, match="cannot be read"):
        create_app(settings.model_copy(update={"metrics_token_file": tmp_path / "absent"}))
