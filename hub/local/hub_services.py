"""Which of the hub's own processes ``liangfa up`` runs on the embedded default, and how.

The stream workers, the prosecutor view, the demo police API and one connector process
per demo unit (``python -m connectors run cfg1 cfg2 …`` with all that unit's configs, as
a small unit would run them; the recommended deployment elsewhere is one process per
config), each a separate OS process marked with the home (see ``hub.local.services``), so
``liangfa down`` stops them all and ``liangfa status`` lists them.

Ports follow the view's so that two homes run side by side: the demo police API listens
on ``view_port + 10`` and the stream workers' web ports start at ``view_port + 100``
(8610 and 8700.. for the default view port 8600), unless given explicitly.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import yaml

from hub.audit.service import AUDIT_SEALER_PORT_OFFSET, audit_sealer_service
from hub.errors import StackError
from hub.local.access import HubAccess, read_env_file, security_env, write_env_file
from hub.local.demo import DemoLayout, configs_by_unit, connector_configs, prepare_demo
from hub.local.processes import find_stack_processes
from hub.local.services import ServiceSpec, ensure_service, service_healthy
from hub.local.stack import LocalStack
from hub.security.acl import unit_user
from hub.view.settings import DEMO_PASSWORD_ENV
from streams.public import ID_KEY_ENV

__all__ = ["DEMO_UNIT_USER_CODE", "HubServices"]

#: The demo county's market regulation bureau: its unit user (``unit-<code>``) shows what
#: an agency sees in the view (its own cases and inbox only).
DEMO_UNIT_USER_CODE = "11429901030089405N"
#: The demo county's justice bureau and supervision commission (issue #13): their unit
#: users see the leads sent to them and the feedback clocks they owe.
DEMO_OVERSIGHT_USER_CODES = ("114299010318315875", "11429901031752395Q")

#: Offsets from the view port of the demo police API, the public feeds' metrics and the
#: first worker's web port.
POLICE_API_PORT_OFFSET = 10
PUBLIC_FEEDS_PORT_OFFSET = 20
WORKER_WEB_PORT_OFFSET = 100


def _user(principal: str) -> str:
    """The SCRAM user of a ``User:<name>`` principal."""
    return principal.removeprefix("User:")


def _units_file() -> Path:
    from deploy.demo import generate as demo

    return Path(demo.__file__).with_name("units.yaml")


class HubServices:
    """The Python services of one home."""

    def __init__(self, stack: LocalStack, *, view_port: int = 8600,
                 police_api_port: int | None = None,
                 worker_web_port: int | None = None) -> None:
        self.stack = stack
        self.home = stack.home
        self.view_port = view_port
        self.police_api_port = police_api_port or view_port + POLICE_API_PORT_OFFSET
        self.worker_web_port = worker_web_port or view_port + WORKER_WEB_PORT_OFFSET
        self._specs: list[ServiceSpec] = []
        self._demo: DemoLayout | None = None

    def unit_codes(self) -> list[str]:
        """Every unit of the registry: each gets its inbox topic."""
        data = yaml.safe_load(_units_file().read_text(encoding="utf-8"))
        return [str(u["code"]) for u in data["units"]]

    @staticmethod
    def connector_ids(configs: list[Path]) -> list[str]:
        return [str(yaml.safe_load(p.read_text(encoding="utf-8"))["id"]) for p in configs]

    def access(self, configs: list[Path]) -> HubAccess:
        """The principals and ACLs of this hub: the unit registry the workers run with,
        and each connector of ``configs`` granted its own dead-letter topic."""
        from hub.units import load_unit_registry

        connectors = {str(raw["id"]): str(raw["unit"]).upper() for raw in (
            yaml.safe_load(path.read_text(encoding="utf-8")) for path in configs)}
        return HubAccess(load_unit_registry(_units_file()), connectors,
                         self.stack.services)

    def _credentials(self, component: str, user: str) -> str:
        """The 0600 environment file of ``component`` running as ``user`` ("" when the
        stack is PLAINTEXT)."""
        security = self.stack.client_security(user)
        if security is None:
            return ""
        path = self.home / "secrets" / f"{component}.env"
        return str(write_env_file(path, security_env(security)))

    @property
    def view_env_file(self) -> Path:
        """The view's 0600 environment file: its credentials and the demo users' password."""
        return self.home / "secrets" / "view.env"

    def _view_env(self, user: str) -> str:
        """The view's environment file. The demo users' password is made for the home
        once (or taken from ``LIANGFA_VIEW_DEMO_PASSWORD`` in the shell), never the
        published default: the view listens on this host, and any local user could log
        in as the prosecutor with a password printed in the README."""
        path = self.view_env_file
        previous = read_env_file(path) if path.exists() else {}
        password = (os.environ.get(DEMO_PASSWORD_ENV) or previous.get(DEMO_PASSWORD_ENV)
                    or secrets.token_urlsafe(12))
        if "'" in password or "\n" in password or len(password) < 8:
            raise StackError(f"{DEMO_PASSWORD_ENV} (from the shell, or kept in {path}) must be "
                             "8 characters or more, without a quote or a newline (it goes "
                             "in an environment file)")
        security = self.stack.client_security(user)
        env = {**(security_env(security) if security is not None else {}),
               DEMO_PASSWORD_ENV: password}
        return str(write_env_file(path, env))

    def _public_feeds_env(self, user: str) -> str:
        """The publisher's 0600 environment file: its credentials and the key of the
        public event ids' pseudonyms, made once and kept (a new key would show every
        event to subscribers again under a new id)."""
        path = self.home / "secrets" / "public-feeds.env"
        previous = read_env_file(path) if path.exists() else {}
        key = previous.get(ID_KEY_ENV) or secrets.token_urlsafe(32)
        security = self.stack.client_security(user)
        env = {**(security_env(security) if security is not None else {}), ID_KEY_ENV: key}
        return str(write_env_file(path, env))

    @staticmethod
    def ingest_topics(configs: list[Path]) -> list[str]:
        """The ingest topic of every connector: created before the workers subscribe."""
        from connectors.config import load_config
        from hub.topics import ingest_topic

        loaded = [load_config(path) for path in configs]
        return sorted({ingest_topic(c.unit, c.stream) for c in loaded})

    def prepare_demo(self, penalty_cases: int) -> list[Path]:
        """Generate the demo exports once and write their connector configurations."""
        self._demo = prepare_demo(self.home, penalty_cases=penalty_cases)
        from deploy.demo.police_api import DEMO_POLICE_TOKEN

        return connector_configs(self._demo,
                                 police_api=f"http://127.0.0.1:{self.police_api_port}",
                                 police_token=DEMO_POLICE_TOKEN)

    def _common(self) -> list[str]:
        return ["--bootstrap", self.stack.bootstrap, "--registry-url", self.stack.registry_url]

    def start(self, *, workers: int, connector_configs: list[Path]) -> list[str]:
        """Start whatever is not running; returns one line per service for the operator."""
        env = {"LIANGFA_BOOTSTRAP": self.stack.bootstrap,
               "LIANGFA_REGISTRY_URL": self.stack.registry_url,
               "LIANGFA_HOME": str(self.home)}
        principals = self.stack.services
        for index in range(1, workers + 1):
            port = self.worker_web_port + index - 1
            self._specs.append(ServiceSpec(
                component=f"worker-{index}", module="streams",
                # The worker id names its assign-only consumers' groups: under the app id,
                # the only group prefix the streams principal may use.
                args=["run", "--worker-id", f"{principals.streams_app_id}-w{index}",
                      "--data-dir", str(self.home / "workers" / f"w{index}"),
                      "--web-port", str(port), "--units", str(_units_file()), *self._common()],
                address=f"http://127.0.0.1:{port}/metrics", env=env,
                env_file=self._credentials(f"worker-{index}", _user(principals.streams))))
        public_port = self.view_port + PUBLIC_FEEDS_PORT_OFFSET
        self._specs.append(ServiceSpec(
            component="public-feeds", module="streams.public_cli",
            args=["run", "--metrics-port", str(public_port), *self._common()],
            health_url=f"http://127.0.0.1:{public_port}/metrics",
            address=f"http://127.0.0.1:{public_port}/metrics", env=env,
            env_file=self._public_feeds_env(_user(principals.public))))
        self._specs.append(audit_sealer_service(
            self._common(), env, metrics_port=self.view_port + AUDIT_SEALER_PORT_OFFSET,
            env_file=self._credentials("audit-sealer", _user(principals.audit_sealer))))
        self._specs.append(ServiceSpec(
            component="view", module="hub",
            args=["view", "serve", "--demo-users", "--port", str(self.view_port),
                  "--database-url",
                  f"sqlite:///{self.home / 'view' / 'view.sqlite3'}", *self._common()],
            health_url=f"http://127.0.0.1:{self.view_port}/healthz",
            address=f"http://127.0.0.1:{self.view_port}/",
            env={**env, "LIANGFA_VIEW_DEMO_UNIT_CODES": json.dumps(
                [DEMO_UNIT_USER_CODE, *DEMO_OVERSIGHT_USER_CODES])},
            env_file=self._view_env(_user(principals.view))))
        if self._demo is not None:
            self._specs.append(ServiceSpec(
                component="demo-police-api", module="deploy.demo.police_api",
                args=[str(self._demo.root), "--port", str(self.police_api_port)],
                health_url=f"http://127.0.0.1:{self.police_api_port}/health",
                address=f"http://127.0.0.1:{self.police_api_port}/", env=env))
        for unit, configs in configs_by_unit(connector_configs).items():
            # One process per unit with all its configs (each its own pipeline).
            self._specs.append(ServiceSpec(
                component=f"connector-{unit}", module="connectors",
                args=["run", *(str(config) for config in configs)],
                address=", ".join(config.stem for config in configs), env=env,
                env_file=self._credentials(f"connector-{unit}", unit_user(unit))))
        (self.home / "view").mkdir(parents=True, exist_ok=True)
        lines = []
        for spec in self._specs:
            pid, started = ensure_service(self.home, spec)
            lines.append(f"{spec.component}: {'started' if started else 'already running'} "
                         f"(pid {pid})")
        return lines

    def wait_healthy(self, *, timeout_s: float) -> None:
        """Wait until every service runs and answers its health check."""
        deadline = time.monotonic() + timeout_s
        pending = list(self._specs)
        while pending and time.monotonic() < deadline:
            pending = [s for s in pending if not (
                find_stack_processes(self.home, s.component)
                and service_healthy({"health_url": s.health_url}))]
            if pending:
                time.sleep(1.0)
        if pending:
            names = ", ".join(s.component for s in pending)
            raise StackError(f"not healthy after {timeout_s:.0f}s: {names}; see "
                             f"{self.home / 'logs'}")
