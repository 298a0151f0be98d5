"""A throwaway PostgreSQL 15 cluster for the test session (``postgres_url`` fixture).

Uses the Debian server binaries (``/usr/lib/postgresql/15/bin``; install them with
``scripts/ensure-postgres.sh``). initdb and pg_ctl refuse to run as root, so when the
tests run as root the cluster runs as the ``postgres`` system user (created by the
Debian package) through ``runuser``. The data directory lives in a temporary directory,
the server listens on a free port of 127.0.0.1 only, with trust authentication (nothing
else can reach it), and it is stopped and deleted at the end of the session.

``LIANGFA_TEST_POSTGRES_URL`` points the fixture at an existing server instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresCluster", "fresh_database", "postgres_url"]

PG_BIN = Path(os.environ.get("LIANGFA_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """initdb + pg_ctl start/stop of a private cluster."""

    def __init__(self, base: Path, port: int) -> None:
        self.base = base
        self.data = base / "data"
        self.port = port
        self.log = base / "server.log"
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError(
                    "running as root needs the 'postgres' system user "
                    "(scripts/ensure-postgres.sh installs PostgreSQL, which creates it)"
                ) from exc
            self.user = "postgres"

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Create the cluster and start the server; waits until it accepts connections."""
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(
                f"PostgreSQL binaries not found in {PG_BIN}: run scripts/ensure-postgres.sh"
            )
        if self.user is not None:
            shutil.chown(self.base, self.user, self.user)
        self._run(PG_BIN / "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c shared_buffers=256MB -c max_connections=100"
        )
        self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server immediately (the data is thrown away anyway)."""
        if (self.data / "postmaster.pid").exists():
            self._run(PG_BIN / "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL 15 server private to this test session."""
    existing = os.environ.get("LIANGFA_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    base = Path(tempfile.mkdtemp(prefix="liangfa-pg-"))
    cluster = PostgresCluster(base, _free_port())
    try:
        cluster.start()
        yield cluster.url
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """Create an empty database on the server; its URL (one per test keeps tests apart)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = "t_" + uuid.uuid4().hex[:12]
    conninfo = (
        f"host={url.host} port={url.port} user={url.username} dbname={url.database or 'postgres'}"
        + (f" password={url.password}" if url.password else "")
    )
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # name is generated, not user input
    return url.set(database=name).render_as_string(hide_password=False)
