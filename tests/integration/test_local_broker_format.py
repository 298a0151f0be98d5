"""Formatting the embedded broker's storage shows its admin password to no other user.

The StorageTool writes the admin's SCRAM credentials into the metadata at format time
(``--add-scram``). On the command line, the password was readable by every local user
(``ps``, ``/proc/<pid>/cmdline``) for the seconds the JVM runs. It now comes from a Java
argument file of mode 0600, deleted afterwards. The real tool formats a real directory
here while every process's command line is read, as another user would read it.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from hub.local.artifacts import ensure_artifacts
from hub.local.broker import BrokerConfig, BrokerSecurity, format_storage, java_argument
from hub.local.processes import find_java

pytestmark = pytest.mark.integration


def _command_lines() -> list[str]:
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
        except OSError:  # the process ended meanwhile
            continue
    return lines


def test_the_admin_password_is_on_no_command_line_while_the_storage_is_formatted(
        tmp_path: Path) -> None:
    password = f"pw {secrets.token_hex(12)}\\x"  # a space and a backslash: escaped
    config = BrokerConfig(home=tmp_path / "home", port=1, controller_port=2,
                          security=BrokerSecurity(admin_password=SecretStr(password),
                                                  controller_password=SecretStr("c")))
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.extend(line for line in _command_lines() if "StorageTool" in line
                        or "storage-format.args" in line)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        formatted = format_storage(config, find_java(17), ensure_artifacts().kafka_lib)
    finally:
        done.set()
        watcher.join()
    assert formatted
    assert (config.folder / "data" / "meta.properties").exists()
    assert seen, "the storage tool's process was never seen"
    assert not [line for line in seen if password.split(" ")[1] in line]
    assert not (config.folder / "storage-format.args").exists()


def test_an_argument_file_gives_the_tool_its_arguments_as_they_were(tmp_path: Path) -> None:
    """The real java launcher reads the file back: the tool names an argument it does not
    know verbatim, so its message shows what arrived."""
    value = 'a b\\c "quoted" \\\\ end'
    arguments = tmp_path / "echo.args"
    arguments.write_text("\n".join(java_argument(item) for item in (
        "kafka.tools.StorageTool", "random-uuid", value)) + "\n", encoding="utf-8")
    lib = ensure_artifacts().kafka_lib
    out = subprocess.run([find_java(17).executable, "-cp", f"{lib}/*", f"@{arguments}"],
                         capture_output=True, text=True, check=False, timeout=120)
    assert f"unrecognized arguments: '{value}'" in out.stdout + out.stderr
