"""``liangfa up / down / status`` for the embedded stack under one home directory.

The home keeps the broker's log directory, the registry's logs and ``stack.json`` with the
ports chosen on first start, so that data and addresses survive ``down``/``up``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx
from pydantic import SecretStr

from hub.config import KafkaSecurity, RegistryAuth
from hub.errors import StackError
from hub.local.access import HubAccess, certificate_security, client_security
from hub.local.artifacts import ensure_artifacts
from hub.local.broker import (
    BrokerConfig,
    BrokerSecurity,
    BrokerTls,
    format_storage,
    start_broker,
)
from hub.local.processes import (
    find_java,
    find_stack_processes,
    port_is_open,
    process_alive,
    rss_mib,
    stack_components,
    stop_processes,
)
from hub.local.registry import RegistryConfig, RegistrySecurity, start_registry
from hub.security.acl import ServicePrincipals
from hub.security.private_files import private_folder

if TYPE_CHECKING:
    from hub.security.certificates import IssuedCertificate

__all__ = ["ComponentStatus", "LocalStack", "StackPorts", "StackStatus"]

log = logging.getLogger(__name__)

#: The secured stack's super users: the SCRAM admin and the controller listener's user.
_ADMIN = "admin"
_CONTROLLER = "controller"
#: The broker's own certificate (its inter-broker identity, a super user under --mtls).
_BROKER = "liangfa-broker"
#: How the secured stack's client listener uses TLS (``stack.json`` key ``tls``).
TlsMode = Literal["sasl-ssl", "mtls"]


@dataclass
class StackPorts:
    """Loopback ports of the stack's servers, fixed per home once chosen."""

    kafka: int = 19092
    controller: int = 19093
    registry: int = 18081
    #: [client, controller] port of nodes 2, 3, … of a multi-broker home (``--brokers``).
    extra_nodes: list[list[int]] = field(default_factory=list)

    def nodes(self, brokers: int) -> list[tuple[int, int, int]]:
        """(node id, client port, controller port) of each of ``brokers`` nodes.

        Nodes past those remembered get the next pair after node 1's (19094/19095,
        19096/19097 by default) when both are free, else two free ports; ``stack.json``
        keeps them from then on.
        """
        from hub.local.processes import free_port

        while len(self.extra_nodes) < brokers - 1:
            step = 2 * (len(self.extra_nodes) + 1)
            pair = [self.kafka + step, self.controller + step]
            taken = {port for node in self.extra_nodes for port in node} | {
                self.kafka, self.controller, self.registry}
            if any(port in taken or port > 65535 or port_is_open(port) for port in pair):
                pair = [free_port(), free_port()]
            self.extra_nodes.append(pair)
        return [(1, self.kafka, self.controller)] + [
            (index, node[0], node[1])
            for index, node in enumerate(self.extra_nodes[:brokers - 1], start=2)]


@dataclass
class ComponentStatus:
    """One component as ``liangfa status`` shows it."""

    name: str
    running: bool
    healthy: bool
    address: str
    pids: list[int] = field(default_factory=list)
    rss_mib: float = 0.0
    detail: str = ""


@dataclass
class StackStatus:
    """Every component of the stack."""

    components: list[ComponentStatus]

    @property
    def healthy(self) -> bool:
        return all(c.healthy for c in self.components)


class LocalStack:
    """A broker and a registry living under ``home``.

    ``secured=True`` (what ``liangfa up`` starts unless ``--insecure``) runs the broker with
    SCRAM-SHA-512 on its client listener, SASL/PLAIN on its controller listener and the
    StandardAuthorizer (``BrokerSecurity``), and the registry on its own principal with
    writes reserved to the admin (``RegistrySecurity``). Passwords are generated once into
    ``<home>/secrets/scram.json`` (mode 0600); the choice is remembered in ``stack.json``,
    so a later ``LocalStack(home)`` talks to the stack the same way. A home keeps the mode
    it was created with: ``secured`` contradicting ``stack.json`` is a StackError.
    """

    def __init__(self, home: Path, ports: StackPorts | None = None, *,
                 secured: bool | None = None, mtls: bool | None = None,
                 brokers: int | None = None) -> None:
        self.home = home.expanduser().resolve()
        self._state_file = self.home / "stack.json"
        self.ports = ports or self._load_ports()
        self.brokers = _broker_count(self.home, self._state_file, brokers)
        remembered = self._load_secured()
        if secured is not None and remembered is not None and secured != remembered:
            raise StackError(
                f"{self.home} holds a {'secured' if remembered else 'PLAINTEXT (--insecure)'} "
                f"stack; it keeps that mode (run `liangfa up` {'without' if remembered else 'with'}"
                f" --insecure, or choose another --home)")
        self.secured = bool(remembered if secured is None else secured)
        self.services = ServicePrincipals()
        self._broker_security: BrokerSecurity | None = None
        self._registry_security: RegistrySecurity | None = None
        self.tls_mode = _tls_mode(self.home, self._state_file, self.secured, mtls)
        if self.secured:
            passwords = self.passwords([_ADMIN, _CONTROLLER, self.registry_user])
            self._broker_security = BrokerSecurity(admin_password=passwords[_ADMIN],
                                                   controller_password=passwords[_CONTROLLER],
                                                   admin_user=_ADMIN,
                                                   controller_user=_CONTROLLER,
                                                   tls=self._broker_tls())
            self._registry_security = RegistrySecurity(
                kafka_user=self.registry_user, kafka_password=passwords[self.registry_user],
                admin_user=_ADMIN, admin_password=passwords[_ADMIN],
                ca_file=self._ca_file(), keystore=self._registry_keystore())

    @property
    def registry_user(self) -> str:
        """The SCRAM user of the registry's kafkasql storage."""
        return self.services.registry.removeprefix("User:")

    # -- TLS (hub.security.certificates) -----------------------------------------------------
    @property
    def tls_folder(self) -> Path:
        """The home's CA and the certificates it signed, every file mode 0600."""
        return self.home / "secrets" / "tls"

    def _ca_file(self) -> Path | None:
        """The home's CA certificate (created on first use); None without TLS."""
        return None if self.tls_mode is None else self._ca_path()

    def _ca_path(self) -> Path:
        from hub.security.certificates import ensure_ca

        return ensure_ca(self.tls_folder, str(self.home)).cert

    def _issue(self, user: str, *, server: bool = False) -> IssuedCertificate:
        from hub.security.certificates import certificate_subject, ensure_ca, ensure_certificate

        ca = ensure_ca(self.tls_folder, str(self.home))
        return ensure_certificate(ca, self.tls_folder, user, server=server,
                                  common_name=certificate_subject(user))

    def certificate_security(self, user: str) -> KafkaSecurity:
        """``user``'s client certificate on the ``--mtls`` listener, issued when missing."""
        issued = self._issue(user)
        return certificate_security(self._ca_path(), issued.cert, issued.key)

    def _broker_tls(self) -> BrokerTls | None:
        if self.tls_mode is None:
            return None
        from hub.security.certificates import principal_mapping_rules

        return BrokerTls(keystore=self._issue(_BROKER, server=True).keystore,
                         ca_file=self._ca_path(),
                         mutual=self.tls_mode == "mtls",
                         mapping_rules=principal_mapping_rules(), broker_user=_BROKER)

    def _node_security(self, node_id: int) -> BrokerSecurity | None:
        """Node ``node_id``'s security: node 1's, with a key and certificate of its own.

        Every node's certificate has the SAN 127.0.0.1/localhost (each node advertises
        127.0.0.1) and the CN ``liangfa-broker``, so under ``--mtls`` each node is the
        same super user to the others.
        """
        security = self._broker_security
        if security is None or security.tls is None or node_id == 1:
            return security
        from hub.security.certificates import ensure_ca, ensure_certificate

        issued = ensure_certificate(ensure_ca(self.tls_folder, str(self.home)),
                                    self.tls_folder, f"{_BROKER}-{node_id}",
                                    common_name=_BROKER, server=True)
        return replace(security, tls=replace(security.tls, keystore=issued.keystore))

    def _registry_keystore(self) -> Path | None:
        """The registry's certificate under --mtls (its broker identity), else None."""
        return (self._issue(self.registry_user).keystore if self.tls_mode == "mtls"
                else None)

    def passwords(self, users: list[str]) -> dict[str, SecretStr]:
        """The passwords of ``users``, generated into the secrets file when missing."""
        from hub.security.secrets import ensure_passwords

        self.secrets_file.parent.mkdir(parents=True, exist_ok=True)
        self.secrets_file.parent.chmod(0o700)
        return ensure_passwords(self.secrets_file, users)

    def client_security(self, user: str) -> KafkaSecurity | None:
        """Client settings of ``user`` on this stack; None on the PLAINTEXT stack."""
        if not self.secured:
            return None
        if self.tls_mode == "mtls":
            return self.certificate_security(user)
        return client_security(user, self.passwords([user])[user], ca_file=self._ca_file())

    def _load_ports(self) -> StackPorts:
        if self._state_file.exists():
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
            return StackPorts(**data.get("ports", {}))
        return StackPorts()

    def _load_secured(self) -> bool | None:
        """The mode ``stack.json`` remembers; None for a home never started."""
        if self._state_file.exists():
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
            return bool(data.get("security") == "sasl-scram")
        return None

    def _save_state(self) -> None:
        private_folder(self.home)  # the broker's data, stores, the view's database
        self.ports.nodes(self.brokers)  # the extra nodes' ports, chosen once
        state: dict[str, object] = {"ports": asdict(self.ports)}
        if self.brokers > 1:
            state["brokers"] = self.brokers
        if self.secured:
            state["security"] = "sasl-scram"
        if self.tls_mode is not None:
            state["tls"] = self.tls_mode
        self._state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")

    @property
    def secrets_file(self) -> Path:
        """Passwords of the secured stack (admin, controller, every principal), mode 0600."""
        return self.home / "secrets" / "scram.json"

    @property
    def admin_security(self) -> KafkaSecurity | None:
        """Client settings of the secured broker's super user; None for PLAINTEXT."""
        if self._broker_security is None:
            return None
        return self.client_security(self._broker_security.admin_user)

    @property
    def registry_auth(self) -> RegistryAuth | None:
        """The registry's admin (the only one who may register schemas); None for PLAINTEXT."""
        if self._registry_security is None:
            return None
        return RegistryAuth(username=self._registry_security.admin_user,
                            password=self._registry_security.admin_password)

    @property
    def broker_config(self) -> BrokerConfig:
        """Node 1 (the only node of the default stack)."""
        return self.broker_configs[0]

    @property
    def broker_configs(self) -> list[BrokerConfig]:
        """Every node: its own id, ports, folder and certificate; all of them voters."""
        nodes = self.ports.nodes(self.brokers)
        voters = tuple((node, controller) for node, _, controller in nodes) \
            if self.brokers > 1 else ()
        return [BrokerConfig(self.home, port, controller, security=self._node_security(node),
                             node_id=node, voters=voters)
                for node, port, controller in nodes]

    @property
    def registry_config(self) -> RegistryConfig:
        return RegistryConfig(self.home, self.ports.registry, self.bootstrap,
                              security=self._registry_security)

    @property
    def bootstrap(self) -> str:
        """Every node's client address: a client still connects with one of them down."""
        return ",".join(f"127.0.0.1:{port}" for _, port, _ in self.ports.nodes(self.brokers))

    @property
    def registry_url(self) -> str:
        return self.registry_config.ccompat_url

    # -- up -------------------------------------------------------------------------------
    def up(self, *, timeout_s: float = 180.0, broker_only: bool = False,
           access: HubAccess | None = None) -> StackStatus:
        """Start whatever is not running yet and wait until both answer; safe to repeat.

        ``broker_only`` starts no registry (tests of the broker alone). On the secured
        stack, before the registry starts, every principal of ``access`` (default: the
        registry and the hub's services, no unit) gets its SCRAM credentials and the ACLs
        generated for it; ``broker_only`` skips that too.
        """
        artifacts = ensure_artifacts()
        java = find_java(17)
        self._save_state()
        broker_pids: list[int] = []
        # Every missing node is started before any is waited for: a quorum of three
        # elects its leader only once two voters run.
        for config in self.broker_configs:
            pids = find_stack_processes(self.home, config.component)
            if not pids:
                node = "" if self.brokers == 1 else f" (node {config.node_id})"
                self._check_port_free(config.port, f"Kafka broker{node}")
                self._check_port_free(config.controller_port, f"Kafka controller{node}")
                format_storage(config, java, artifacts.kafka_lib)
                pids = [start_broker(config, java, artifacts.kafka_lib)]
            broker_pids += pids
        self._wait(self._broker_healthy, broker_pids, timeout_s,
                   "Kafka broker" if self.brokers == 1 else f"{self.brokers}-node Kafka cluster",
                   self.broker_config.folder / "logs" / "server.log")
        if broker_only:
            return self.status()
        if self.secured:
            self.provision(access)
        registry_pids = find_stack_processes(self.home, "registry")
        if not registry_pids:
            self._check_port_free(self.ports.registry, "schema registry")
            registry_pids = [start_registry(self.registry_config, java,
                                            artifacts.registry_jar)]
        self._wait(self._registry_healthy, registry_pids, timeout_s, "schema registry",
                   self.registry_config.folder / "registry.log")
        self._set_registry_compatibility()
        return self.status()

    @staticmethod
    def _check_port_free(port: int, what: str) -> None:
        if port_is_open(port):
            raise StackError(
                f"port {port} for the {what} is taken by another process; stop it or choose "
                f"another home/port (see `liangfa up --help`)"
            )

    @staticmethod
    def _wait(check: Callable[[], bool], pids: list[int], timeout_s: float, what: str,
              log_file: Path) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return
            if not any(process_alive(p) for p in pids):
                raise StackError(f"the {what} exited during start-up; see {log_file}:\n"
                                 + _tail(log_file))
            time.sleep(0.5)
        raise StackError(f"the {what} did not become healthy within {timeout_s:.0f}s; see "
                         f"{log_file}:\n" + _tail(log_file))

    # -- health ---------------------------------------------------------------------------
    def _broker_healthy(self) -> bool:
        """The broker answers a metadata request (not merely an open port); on a cluster,
        every node is registered with the quorum."""
        if self.brokers > 1:
            return len(self._registered_nodes()) == self.brokers
        if not port_is_open(self.ports.kafka):
            return False
        from hub.kafka import broker_answers

        if self.secured:
            return _secured_broker_answers(self.bootstrap, self.admin_security)
        return broker_answers(self.bootstrap, timeout_s=5.0)

    def _registered_nodes(self) -> set[int]:
        """Ids of the nodes the cluster's metadata lists as live brokers (empty: no answer)."""
        if not any(port_is_open(port) for _, port, _ in self.ports.nodes(self.brokers)):
            return set()
        return _live_broker_ids(self.bootstrap, self.admin_security)

    def _registry_healthy(self) -> bool:
        try:
            ready = httpx.get(f"{self.registry_config.base_url}/health/ready", timeout=3.0)
            if ready.status_code != 200:
                return False
            subjects = httpx.get(f"{self.registry_url}/subjects", timeout=3.0)
        except httpx.HTTPError:
            return False
        return subjects.status_code == 200

    def provision(self, access: HubAccess | None = None) -> None:
        """SCRAM credentials for every principal that has none, then the generated ACLs.

        Idempotent: existing passwords are kept, existing ACLs left alone, and bindings
        present but no longer generated are reported as drift (``apply_acls``), never
        deleted. Waits until the authorizer serves the new ACLs, so the processes started
        next are not refused by a grant still on its way through the metadata log.
        """
        from hub.security.admin import apply_acls, apply_scram_credentials, current_acls
        from hub.units import UnitRegistry

        access = access or HubAccess(UnitRegistry([]), services=self.services)
        admin = self.admin_security
        users = access.users()
        apply_scram_credentials(self.bootstrap, admin, self.passwords(users))
        wanted = access.bindings()
        apply_acls(self.bootstrap, admin, wanted)
        deadline = time.monotonic() + 30.0
        while not set(wanted) <= set(current_acls(self.bootstrap, admin)):
            if time.monotonic() > deadline:
                raise StackError("the broker did not show the generated ACLs within 30s")
            time.sleep(0.2)

    def _set_registry_compatibility(self) -> None:
        """Apicurio's global default is NONE; the hub's contract is BACKWARD_TRANSITIVE."""
        auth = self.registry_auth
        basic = (None if auth is None or auth.username is None or auth.password is None
                 else httpx.BasicAuth(auth.username, auth.password.get_secret_value()))
        try:
            response = httpx.put(f"{self.registry_url}/config", auth=basic,
                                 json={"compatibility": "BACKWARD_TRANSITIVE"}, timeout=10.0)
        except httpx.HTTPError as exc:
            raise StackError(f"could not set registry compatibility: {exc}") from exc
        if response.status_code >= 300:
            raise StackError(f"registry refused compatibility setting: {response.text}")

    # -- status / down --------------------------------------------------------------------
    def _broker_statuses(self) -> list[ComponentStatus]:
        """One line per node; on a cluster a node is healthy when the metadata lists it."""
        if self.brokers == 1:
            pids = find_stack_processes(self.home, "kafka")
            return [ComponentStatus("kafka", bool(pids), bool(pids) and self._broker_healthy(),
                                    self.bootstrap, pids, sum(rss_mib(p) for p in pids))]
        live = self._registered_nodes()
        statuses = []
        for config in self.broker_configs:
            pids = find_stack_processes(self.home, config.component)
            statuses.append(ComponentStatus(
                config.component, bool(pids), bool(pids) and config.node_id in live,
                config.bootstrap, pids, sum(rss_mib(p) for p in pids),
                detail=f"node {config.node_id}, controller 127.0.0.1:{config.controller_port}"))
        return statuses

    def status(self) -> StackStatus:
        registry_pids = find_stack_processes(self.home, "registry")
        from hub.local.services import service_statuses

        return StackStatus([
            *self._broker_statuses(),
            ComponentStatus("registry", bool(registry_pids),
                            bool(registry_pids) and self._registry_healthy(),
                            self.registry_url, registry_pids,
                            sum(rss_mib(p) for p in registry_pids)),
            *service_statuses(self.home),
        ])

    def down(self) -> list[int]:
        """Stop services first (they flush to the broker), then the registry, then Kafka."""
        stopped: list[int] = []
        nodes = [config.component for config in self.broker_configs]
        services = [pid for name, pids in stack_components(self.home).items()
                    if name != "registry" and name not in nodes for pid in pids]
        stop_processes(services)
        stopped.extend(services)
        registry = find_stack_processes(self.home, "registry")
        stop_processes(registry)
        stopped.extend(registry)
        # Every node at once: stopped one by one, the last ones would wait in vain for a
        # quorum to acknowledge their controlled shutdown.
        brokers = [pid for component in nodes
                   for pid in find_stack_processes(self.home, component)]
        stop_processes(brokers)
        stopped.extend(brokers)
        leftovers = find_stack_processes(self.home)
        if leftovers:
            stop_processes(leftovers, grace_s=5)
            stopped.extend(leftovers)
        return stopped


def _secured_broker_answers(bootstrap: str, security: KafkaSecurity | None) -> bool:
    """A metadata request as the admin user (``broker_answers`` speaks PLAINTEXT only)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from hub.security.admin import admin_config

    try:
        AdminClient(admin_config(bootstrap, security)).list_topics(timeout=5.0)
    except KafkaException:
        return False
    return True


def _live_broker_ids(bootstrap: str, security: KafkaSecurity | None) -> set[int]:
    """Broker ids in the cluster's metadata, asked of any node of ``bootstrap``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from hub.security.admin import admin_config

    try:
        # log_level 2: a node not up yet is the expected answer here, not an error to log.
        client = AdminClient({**admin_config(bootstrap, security), "log_level": 2})
        metadata = client.list_topics(timeout=5.0)
    except KafkaException:
        return set()
    return {int(node) for node in metadata.brokers}


def _broker_count(home: Path, state_file: Path, asked: int | None) -> int:
    """The home's broker count: what ``stack.json`` remembers, else what was asked, else 1.

    A home keeps its count (its topics' replication and its nodes' data are made for
    it): asking for another is a StackError, as for ``--insecure``.
    """
    if asked is not None and asked < 1:
        raise StackError(f"--brokers must be at least 1, got {asked}")
    remembered: int | None = None
    if state_file.exists():
        remembered = int(json.loads(state_file.read_text(encoding="utf-8")).get("brokers", 1))
    if asked is not None and remembered is not None and asked != remembered:
        raise StackError(f"{home} holds a {remembered}-broker stack; it keeps that count "
                         f"(run `liangfa up --brokers {remembered}`, or choose another --home)")
    return remembered or asked or 1


def _tls_mode(home: Path, state_file: Path, secured: bool,
              mtls: bool | None) -> TlsMode | None:
    """The TLS mode of a home: what ``stack.json`` remembers, else what was asked.

    A secured home is ``sasl-ssl`` unless ``--mtls`` was asked at its first start (a home
    secured before TLS existed gets ``sasl-ssl`` at its next start: every certificate is
    generated then and every component's credentials file rewritten). ``mtls=None`` keeps
    the remembered mode; asking for the other one is a StackError, as for ``--insecure``.
    """
    remembered: str | None = None
    if state_file.exists():
        remembered = json.loads(state_file.read_text(encoding="utf-8")).get("tls")
    if not secured:
        if mtls:
            raise StackError("--mtls needs the secured stack; it cannot go with --insecure")
        return None
    if mtls is not None and remembered is not None and mtls != (remembered == "mtls"):
        raise StackError(
            f"{home} holds a {'--mtls' if remembered == 'mtls' else 'SASL_SSL'} stack; it "
            f"keeps that mode (run `liangfa up` {'with' if remembered == 'mtls' else 'without'}"
            f" --mtls, or choose another --home)")
    if remembered in ("sasl-ssl", "mtls"):
        return "mtls" if remembered == "mtls" else "sasl-ssl"
    return "mtls" if mtls else "sasl-ssl"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"
