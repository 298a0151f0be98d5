"""Fetch the broker and registry from Maven Central with the machine's Maven, once.

Artifacts live in the user cache (``hub.paths.cache_dir()``), outside any repository and
shared by every home, so a second ``liangfa up`` or test session starts without a download.
A marker file is written only after a fetch completes, and a file lock keeps two processes
(a test session and a developer's ``up``) from fetching into the same folder at once.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hub.errors import StackError
from hub.paths import cache_dir

__all__ = ["KAFKA_VERSION", "REGISTRY_VERSION", "Artifacts", "ensure_artifacts", "find_tool"]

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
#: Kafka 4.1 ships log4j-core 2.24.x; the SLF4J 1.7 binding must be the same version.
LOG4J_VERSION = "2.24.3"
#: The newest Apicurio on Maven Central that runs on Java 17 (3.1.x/3.2.x are not published
#: there as the app bundle; 3.3+ needs Java 21).
REGISTRY_VERSION = "3.0.9"

_KAFKA_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>liangfa.local</groupId><artifactId>kafka-classpath</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""


@dataclass(frozen=True)
class Artifacts:
    """Where the fetched broker classpath and registry runner are."""

    kafka_lib: Path
    registry_jar: Path


def find_tool(name: str, hint: str) -> str:
    """Path of an executable, or a StackError telling the operator how to get it."""
    found = shutil.which(name)
    if not found:
        raise StackError(f"'{name}' was not found on PATH: {hint}")
    return found


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_maven(args: list[str], cwd: Path) -> None:
    mvn = find_tool("mvn", "install Apache Maven (Debian: apt-get install maven)")
    log.info("fetching with Maven: %s", " ".join(args))
    result = subprocess.run([mvn, "-B", "-q", *args], cwd=cwd, capture_output=True, text=True,
                            check=False, timeout=1800)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise StackError(f"Maven failed ({' '.join(args)}):\n{tail}")


def _fetch_kafka(root: Path) -> Path:
    folder = root / f"kafka-{KAFKA_VERSION}"
    lib = folder / "lib"
    with _locked(folder):
        if not (folder / ".complete").exists():
            (folder / "pom.xml").write_text(_KAFKA_POM, encoding="utf-8")
            if lib.exists():
                shutil.rmtree(lib)
            _run_maven(["dependency:copy-dependencies", "-DoutputDirectory=lib"], folder)
            (folder / ".complete").write_text(KAFKA_VERSION, encoding="utf-8")
    return lib


def _fetch_registry(root: Path) -> Path:
    folder = root / f"apicurio-registry-{REGISTRY_VERSION}"
    unpacked = folder / "app"
    with _locked(folder):
        if not (folder / ".complete").exists():
            if unpacked.exists():
                shutil.rmtree(unpacked)
            artifact = f"io.apicurio:apicurio-registry-app:{REGISTRY_VERSION}:tar.gz:all"
            _run_maven(["dependency:unpack", f"-Dartifact={artifact}",
                        f"-DoutputDirectory={unpacked}"], folder)
            (folder / ".complete").write_text(REGISTRY_VERSION, encoding="utf-8")
    runners = sorted(unpacked.glob("*-runner.jar")) + sorted(unpacked.glob("**/quarkus-run.jar"))
    if not runners:
        raise StackError(f"no runnable registry jar found under {unpacked}")
    return runners[0]


def ensure_artifacts() -> Artifacts:
    """Fetch (first time only) and return the broker classpath and registry jar."""
    root = cache_dir()
    return Artifacts(kafka_lib=_fetch_kafka(root), registry_jar=_fetch_registry(root))
