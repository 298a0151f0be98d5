"""The hub's own long-running processes on the embedded default: workers, view, connectors.

Each runs as its own OS process (as it would under systemd or in a container), started
detached by ``liangfa up`` and marked with the home so ``down`` and ``status`` find it.
What a service is, and how its health is checked, is recorded in ``<home>/services.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from hub.local.processes import (
    CREDENTIAL_VARIABLES,
    find_stack_processes,
    rss_mib,
    start_python_service,
)

if TYPE_CHECKING:
    from hub.local.stack import ComponentStatus

__all__ = ["CREDENTIAL_VARIABLES", "ServiceSpec", "ensure_service", "service_statuses"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ServiceSpec:
    """A Python service: ``python -m module args``; ``health_url`` answers 200 when well."""

    component: str
    module: str
    args: list[str]
    health_url: str | None = None
    address: str = ""
    env: dict[str, str] = field(default_factory=dict)
    #: A 0600 environment file with the service's credentials (``hub.local.access``),
    #: read at start so that no password is written to ``services.json``.
    env_file: str = ""


def _registry_file(home: Path) -> Path:
    return home / "services.json"


def _load(home: Path) -> dict[str, dict[str, object]]:
    path = _registry_file(home)
    if not path.exists():
        return {}
    data: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def ensure_service(home: Path, spec: ServiceSpec) -> tuple[int, bool]:
    """Start ``spec`` unless it already runs; returns (pid, started_now)."""
    running = find_stack_processes(home, spec.component)
    services = _load(home)
    services[spec.component] = asdict(spec)
    _registry_file(home).write_text(json.dumps(services, indent=2, ensure_ascii=False),
                                    encoding="utf-8")
    if running:
        return running[0], False
    env = dict(spec.env)
    if spec.env_file:
        from hub.local.access import read_env_file

        env.update(read_env_file(Path(spec.env_file)))
    pid = start_python_service(home=home, component=spec.component, module=spec.module,
                               args=spec.args, log_file=home / "logs" / f"{spec.component}.log",
                               env=env, unset=CREDENTIAL_VARIABLES)
    log.info("started %s (pid %s)", spec.component, pid)
    return pid, True


def service_healthy(spec: dict[str, object]) -> bool:
    """A service is healthy when it runs and, if it has a health URL, that URL answers 200."""
    url = spec.get("health_url")
    if not isinstance(url, str) or not url:
        return True
    try:
        return httpx.get(url, timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


def service_statuses(home: Path) -> list[ComponentStatus]:
    """ComponentStatus of every service recorded for ``home``."""
    from hub.local.stack import ComponentStatus

    statuses: list[ComponentStatus] = []
    for name, spec in sorted(_load(home).items()):
        pids = find_stack_processes(home, name)
        statuses.append(ComponentStatus(
            name, bool(pids), bool(pids) and service_healthy(spec), str(spec.get("address", "")),
            pids, sum(rss_mib(p) for p in pids)))
    return statuses
