"""The embedded hub on a shared server: what another local user can and cannot reach.

Real files, real folders and real processes. Where another user would be needed (a
folder or process owned by someone else), ``os.getuid`` is made to answer another uid:
the files are then "not ours" exactly as another user's would be; root could chown
instead, but the suite must not need root.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.local.processes import (
    CREDENTIAL_VARIABLES,
    JavaRuntime,
    find_stack_processes,
    start_jvm,
    stop_processes,
)
from hub.security.private_files import private_folder, write_private_file
from hub.security.secrets import ensure_passwords, load_passwords


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The umask most shells give (022): what the home was created under before."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.usefixtures("loose_umask")
def test_a_secret_goes_through_a_fresh_name_not_one_another_user_planted(
        tmp_path: Path) -> None:
    """The old fixed temporary name (``scram.json.tmp``) could be planted beforehand, as
    a file of the other user's or a link: the secret then went where they chose."""
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    captured = tmp_path / "captured"
    (folder / "scram.json.tmp").symlink_to(captured)
    ensure_passwords(folder / "scram.json", ["admin"])
    assert not captured.exists()
    assert _mode(folder / "scram.json") == 0o600
    assert _mode(folder) == 0o777  # an operator's folder is left as it is
    assert _mode(write_private_file(tmp_path / "new" / "secret", "x").parent) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["scram.json", "scram.json.tmp"]


@pytest.mark.usefixtures("loose_umask")
def test_a_private_folder_is_made_the_owners_only_and_a_link_or_foreign_one_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = private_folder(tmp_path / "home")
    assert _mode(home) == 0o700
    home.chmod(0o755)  # a home an earlier version created under umask 022
    private_folder(home)
    assert _mode(home) == 0o700

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    (tmp_path / "linked").symlink_to(elsewhere)  # our own home on a data disk
    assert private_folder(tmp_path / "linked") == elsewhere.resolve()
    assert _mode(elsewhere) == 0o700
    (tmp_path / "unmounted").symlink_to(tmp_path / "no-such-disk" / "home")
    with pytest.raises(ConfigError, match="cannot be reached"):
        private_folder(tmp_path / "unmounted")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        private_folder(tmp_path / "a-file")

    secret = write_private_file(home / "secrets" / "scram.json", '{"admin": "x"}')
    monkeypatch.setattr(os, "getuid", lambda: os.stat(home).st_uid + 4242)
    with pytest.raises(ConfigError, match="belongs to another user"):
        private_folder(home)
    with pytest.raises(ConfigError, match="belongs to another user"):
        private_folder(tmp_path / "linked")  # a link another user planted
    with pytest.raises(ConfigError, match="belongs to another user"):
        load_passwords(secret)  # a planted file chmod-ed 0600 by its owner


def _fake_java(tmp_path: Path) -> JavaRuntime:
    """A "java" that prints its environment and umask, then waits: a real process with
    the stack's markers, started the way the broker is."""
    script = tmp_path / "java"
    script.write_text("#!/bin/sh\nenv\necho umask=$(umask)\nexec sleep 30\n", encoding="utf-8")
    script.chmod(0o755)
    return JavaRuntime(str(script), 17)


def test_a_jvm_gets_no_operator_credentials_and_writes_for_its_user_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell that runs ``liangfa up`` may have sourced the admin's operator.env; the
    broker and registry read their own secrets from their files."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.setenv(name, "admin-secret")
    home = tmp_path / "home"
    log = home / "logs" / "registry.log"
    pid = start_jvm(_fake_java(tmp_path), home=home, component="registry", jvm_args=[],
                    main=[], log_file=log, env={"KEEP": "1"})
    try:
        deadline = time.monotonic() + 20
        while "umask=" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "the fake JVM did not start"
            time.sleep(0.05)
        printed = log.read_text()
        assert "admin-secret" not in printed and "KEEP=1" in printed
        assert "umask=0077" in printed
        assert _mode(home) == 0o700
    finally:
        stop_processes([pid], grace_s=5)


def test_a_process_of_another_user_with_the_stacks_markers_is_not_taken_for_the_stacks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The markers are a command line anyone can give a process; one listening on the
    registry's port was sent the admin's password."""
    home = tmp_path / "home"
    home.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-X", f"liangfa.home={home.resolve()}", "-X",
         "liangfa.component=registry", "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while find_stack_processes(home, "registry") != [process.pid]:
            assert time.monotonic() < deadline, "the marked process was never found"
            time.sleep(0.05)
        monkeypatch.setattr(os, "getuid", lambda: os.stat(home).st_uid + 4242)
        assert find_stack_processes(home, "registry") == []
    finally:
        process.kill()
        process.wait()
