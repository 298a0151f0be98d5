"""Start, find and stop the stack's JVMs so that ``down`` never leaves an orphan behind.

Every JVM is started with ``-Dliangfa.home=<home>`` and ``-Dliangfa.component=<name>`` in
its command line, every Python service (worker, view, connector) with the same markers as
``-X`` options (which CPython accepts and ignores). Stopping looks processes up by those
markers in ``/proc`` rather than trusting a pid file alone, because a pid can be reused
after a crash or reboot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hub.errors import StackError
from hub.local.artifacts import find_tool
from hub.security.private_files import private_folder

__all__ = [
    "CREDENTIAL_VARIABLES",
    "JavaRuntime",
    "find_java",
    "find_stack_processes",
    "free_port",
    "port_is_open",
    "process_alive",
    "rss_mib",
    "stack_components",
    "start_jvm",
    "start_python_service",
    "stop_processes",
]

log = logging.getLogger(__name__)

#: JVMs this Python process started: polled for liveness (their /proc cmdline shows our own
#: argv until exec completes) and waited for on stop so none lingers as a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class JavaRuntime:
    """A Java executable and its major version."""

    executable: str
    major: int


def find_java(minimum: int = 17) -> JavaRuntime:
    """The Java to run on: ``$JAVA_HOME/bin/java`` or ``java`` on PATH, at least ``minimum``."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = str(Path(java_home) / "bin" / "java") if java_home else None
    if not candidate or not Path(candidate).exists():
        candidate = find_tool("java", "install a Java 17+ runtime (Debian: openjdk-17-jre)")
    out = subprocess.run([candidate, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise StackError(f"could not read the version of {candidate}: {out.stderr.strip()}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < minimum:
        raise StackError(f"{candidate} is Java {major}; Java {minimum} or newer is needed")
    return JavaRuntime(candidate, major)


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A currently free loopback port (for tests and first-time defaults)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_jvm(
    java: JavaRuntime,
    *,
    home: Path,
    component: str,
    jvm_args: list[str],
    main: list[str],
    log_file: Path,
    env: dict[str, str] | None = None,
) -> int:
    """Start a detached JVM (own session, survives the CLI) and return its pid."""
    markers = [f"-Dliangfa.home={home.resolve()}", f"-Dliangfa.component={component}"]
    return _start([java.executable, *markers, *jvm_args, *main], home=home, log_file=log_file,
                  env=env, unset=CREDENTIAL_VARIABLES)


#: Credentials a process never inherits from the shell that runs ``liangfa up`` (which may
#: have sourced the admin's ``operator.env``): each service gets its own, or none, and the
#: broker and registry JVMs read theirs from their own 0600 files.
CREDENTIAL_VARIABLES = (
    "LIANGFA_KAFKA_SECURITY_PROTOCOL", "LIANGFA_KAFKA_SASL_MECHANISM",
    "LIANGFA_KAFKA_SASL_USERNAME", "LIANGFA_KAFKA_SASL_PASSWORD",
    "LIANGFA_KAFKA_SSL_CAFILE", "LIANGFA_KAFKA_SSL_CERTFILE", "LIANGFA_KAFKA_SSL_KEYFILE",
    "LIANGFA_REGISTRY_USERNAME", "LIANGFA_REGISTRY_PASSWORD", "LIANGFA_REGISTRY_BEARER_TOKEN",
    "LIANGFA_SCRAM_SECRETS",
)


def start_python_service(*, home: Path, component: str, module: str, args: list[str],
                         log_file: Path, env: dict[str, str] | None = None,
                         unset: tuple[str, ...] = ()) -> int:
    """Start ``python -m module args`` detached, marked as part of ``home``.

    ``unset`` names variables of this process's environment the service must not inherit
    (another principal's credentials, when the operator's shell holds the admin's).
    """
    markers = ["-X", f"liangfa.home={home.resolve()}", "-X", f"liangfa.component={component}"]
    return _start([sys.executable, *markers, "-m", module, *args], home=home,
                  log_file=log_file, env=env, unset=unset)


def _start(argv: list[str], *, home: Path, log_file: Path, env: dict[str, str] | None,
           unset: tuple[str, ...] = ()) -> int:
    private_folder(home)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    inherited = {key: value for key, value in os.environ.items() if key not in unset}
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**inherited, **(env or {})},
            cwd=str(home),
            # what the process writes (data, stores, the view's database) is its user's
            umask=0o077,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (a child we started is asked directly, others via /proc)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    return Path(f"/proc/{pid}").exists() and not _is_zombie(pid)


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _reap_finished_children() -> None:
    """Collect children that ended (e.g. killed with SIGKILL) so none lingers as a zombie."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            del _CHILDREN[pid]


def find_stack_processes(home: Path, component: str | None = None) -> list[int]:
    """Pids of live processes started for ``home`` (and ``component``, when given)."""
    _reap_finished_children()
    home_marker = f"liangfa.home={home.resolve()}"
    component_marker = f"liangfa.component={component}" if component else None
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        args = {a.removeprefix("-D") for a in _cmdline(int(entry.name))}
        if home_marker in args and (component_marker is None or component_marker in args):
            if _is_zombie(int(entry.name)) or not _ours(int(entry.name)):
                continue
            found.append(int(entry.name))
    return sorted(found)


def stack_components(home: Path) -> dict[str, list[int]]:
    """Every live process of ``home`` grouped by its component marker."""
    _reap_finished_children()
    home_marker = f"liangfa.home={home.resolve()}"
    components: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        args = [a.removeprefix("-D") for a in _cmdline(int(entry.name))]
        if home_marker not in args or _is_zombie(int(entry.name)) or not _ours(int(entry.name)):
            continue
        for arg in args:
            if arg.startswith("liangfa.component="):
                components.setdefault(arg.split("=", 1)[1], []).append(int(entry.name))
    return components


def _ours(pid: int) -> bool:
    """Whether ``pid`` runs as this user. Why: the markers are only a command line, which
    any local user can give a process of their own (listening on the registry's port, it
    would be sent the admin's password)."""
    try:
        return Path(f"/proc/{pid}").stat().st_uid == os.getuid()
    except OSError:
        return False


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def stop_processes(pids: list[int], *, grace_s: float = 30.0) -> None:
    """SIGTERM, wait up to ``grace_s`` for a clean shutdown, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        _reap(alive)
        alive = [p for p in alive if process_alive(p)]
        if alive:
            time.sleep(0.2)
    for pid in alive:
        log.warning("process %s did not stop within %.0fs: killing it", pid, grace_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _reap(pids)


def _reap(pids: list[int]) -> None:
    """Collect exit status of our own children so they do not linger as zombies."""
    for pid in pids:
        child = _CHILDREN.get(pid)
        if child is not None:
            if child.poll() is not None:
                del _CHILDREN[pid]
            continue
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0
