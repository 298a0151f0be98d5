"""Kafka 4.x brokers in KRaft combined mode (each node broker and controller in one).

One node by default; ``liangfa up --brokers 3`` runs three such nodes, each its own JVM,
node id, log directory and ports, all three voters of the controller quorum
(``BrokerConfig.voters``).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from hub.errors import StackError
from hub.local.processes import JavaRuntime, start_jvm
from hub.security.private_files import write_private_file

__all__ = ["BrokerConfig", "BrokerSecurity", "BrokerTls", "format_storage", "start_broker"]

_LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="{log_dir}/server.log"
                 filePattern="{log_dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
  </Loggers>
</Configuration>
"""


@dataclass(frozen=True)
class BrokerTls:
    """TLS on the client listener, certificates from the home's CA (``hub.security.certificates``).

    ``SASL_SSL`` (the default of a secured home): SCRAM-SHA-512 as before, inside TLS.
    ``mutual`` (``liangfa up --mtls``): an ``SSL`` listener with ``ssl.client.auth=required``
    whose principal is the client certificate's CN mapped by
    ``ssl.principal.mapping.rules`` to the names the generated ACLs use; the broker's own
    certificate (``broker_user``) is then its inter-broker identity and a super user.
    The controller listener is left as ``BrokerSecurity`` sets it (docs/security.md).
    """

    keystore: Path
    ca_file: Path
    mutual: bool = False
    mapping_rules: str = "DEFAULT"
    broker_user: str = "liangfa-broker"

    def apply(self, entries: dict[str, str], port: int) -> dict[str, str]:
        """``entries`` of ``BrokerSecurity.properties`` with the client listener on TLS."""
        name = "SSL" if self.mutual else "SASL_SSL"
        controller = entries["listeners"].split(",", 1)[1]
        jaas = entries.pop("listener.name.sasl_plaintext."
                           f"{entries['sasl.enabled.mechanisms'].lower()}.sasl.jaas.config")
        updated = {
            **entries,
            "listeners": f"{name}://127.0.0.1:{port},{controller}",
            "advertised.listeners": f"{name}://127.0.0.1:{port}",
            "inter.broker.listener.name": name,
            "listener.security.protocol.map": f"{name}:{name},CONTROLLER:SASL_PLAINTEXT",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "ssl.endpoint.identification.algorithm": "https",
            "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        }
        if self.mutual:
            updated["listener.name.ssl.ssl.client.auth"] = "required"
            updated["ssl.principal.mapping.rules"] = self.mapping_rules
            updated["super.users"] += f";User:{self.broker_user}"
        else:
            mechanism = entries["sasl.enabled.mechanisms"].lower()
            updated[f"listener.name.sasl_ssl.{mechanism}.sasl.jaas.config"] = jaas
        return updated


@dataclass(frozen=True)
class BrokerSecurity:
    """The secured mode: every listener authenticates, ACLs decide, nobody is anonymous.

    The client listener is ``SASL_PLAINTEXT`` with SCRAM-SHA-512 (loopback only; production
    adds TLS, see ``docs/security.md``). The KRaft controller listener cannot use SCRAM (the
    credentials live in the metadata log the controller itself serves), so it speaks
    SASL/PLAIN with one static user, ``controller``, declared in its JAAS entry: the broker
    half of this combined node logs in to its own controller with it (on a cluster, each
    node also to the other voters), and any other client of that port needs that password
    too. There is no ``User:ANONYMOUS`` anywhere, and the
    only super users are ``admin`` (SCRAM, written into the metadata at format time with
    ``--add-scram``: there is no unauthenticated way to add it later, and every other user
    is created through it) and ``controller``.
    """

    admin_password: SecretStr
    controller_password: SecretStr
    admin_user: str = "admin"
    controller_user: str = "controller"
    mechanism: str = "SCRAM-SHA-512"
    #: TLS on the client listener (``BrokerTls``); None keeps it SASL_PLAINTEXT.
    tls: BrokerTls | None = None

    @property
    def super_users(self) -> list[str]:
        """The principals the authorizer lets do anything (``super.users``)."""
        return [f"User:{self.admin_user}", f"User:{self.controller_user}"]

    def properties(self, port: int, controller_port: int) -> dict[str, str]:
        """server.properties entries that replace or extend the PLAINTEXT ones."""
        password = self.admin_password.get_secret_value()
        controller = self.controller_password.get_secret_value()
        jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{self.admin_user}" password="{password}";')
        # username/password: what this node logs in to its controller with;
        # user_<name>: the only account the controller listener accepts.
        controller_jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                           f'username="{self.controller_user}" password="{controller}" '
                           f'user_{self.controller_user}="{controller}";')
        entries = {
            "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},"
                         f"CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map":
                "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            f"listener.name.sasl_plaintext.{self.mechanism.lower()}.sasl.jaas.config": jaas,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": controller_jaas,
            "authorizer.class.name":
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": ";".join(self.super_users),
            "allow.everyone.if.no.acl.found": "false",
        }
        return entries if self.tls is None else self.tls.apply(entries, port)

    def format_arguments(self) -> list[str]:
        """``--add-scram`` for the StorageTool: the admin user exists from the first start."""
        password = self.admin_password.get_secret_value()
        return ["--add-scram",
                f"{self.mechanism}=[name={self.admin_user},password={password}]"]


@dataclass(frozen=True)
class BrokerConfig:
    """What the broker needs to know; everything binds to loopback."""

    home: Path
    port: int
    controller_port: int
    heap_mib: int = 512
    #: None keeps the PLAINTEXT broker with no authorizer (the default dev stack).
    security: BrokerSecurity | None = None
    #: This node's id; node 1 keeps the single broker's folder and component name.
    node_id: int = 1
    #: (node id, controller port) of every voter of the quorum; empty: this node alone.
    voters: tuple[tuple[int, int], ...] = ()

    @property
    def component(self) -> str:
        """The process marker (``hub.local.processes``): ``kafka``, ``kafka-2``, …"""
        return "kafka" if self.node_id == 1 else f"kafka-{self.node_id}"

    @property
    def folder(self) -> Path:
        return self.home / self.component

    @property
    def cluster_id_file(self) -> Path:
        """One cluster id for every node, kept in node 1's folder."""
        return self.home / "kafka" / "cluster.id"

    @property
    def brokers(self) -> int:
        return max(1, len(self.voters))

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> str:
        """server.properties for KRaft; auto-creation off, internal topics replicated as the
        topic manifest's (``replication_for_brokers``: 1 on one node, 3 / min ISR 2 on 3)."""
        from hub.topics import replication_for_brokers

        data = self.folder / "data"
        voters = self.voters or ((self.node_id, self.controller_port),)
        replication, min_insync = (str(n) for n in replication_for_brokers(self.brokers))
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": ",".join(f"{node}@127.0.0.1:{port}"
                                                 for node, port in voters),
            "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
                         f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": replication,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": min_insync,
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": replication,
            "share.coordinator.state.topic.min.isr": min_insync,
            "group.initial.rebalance.delay.ms": "0",
            "min.insync.replicas": min_insync,
            "default.replication.factor": replication,
            "log.retention.hours": "-1",
            "log.segment.bytes": str(256 * 1024 * 1024),
            "message.max.bytes": str(8 * 1024 * 1024),
        }
        if self.security is not None:
            lines.update(self.security.properties(self.port, self.controller_port))
        return "".join(f"{k}={v}\n" for k, v in lines.items())


def _write_config(config: BrokerConfig) -> tuple[Path, Path]:
    # written 0600 from the start: it holds the admin password of the secured broker
    props = write_private_file(config.folder / "server.properties", config.properties())
    log4j = config.folder / "log4j2.xml"
    log4j.write_text(_LOG4J2.format(log_dir=config.folder / "logs"), encoding="utf-8")
    return props, log4j


def _classpath(lib: Path) -> str:
    return ":".join(str(p) for p in sorted(lib.glob("*.jar")))


def format_storage(config: BrokerConfig, java: JavaRuntime, lib: Path) -> bool:
    """Format the KRaft log directory on first start; returns True when it formatted.

    Formatting an already formatted directory would fail (and must never wipe data), so the
    ``meta.properties`` file written by the formatter is the guard.
    """
    props, log4j = _write_config(config)
    if (config.folder / "data" / "meta.properties").exists():
        return False
    cluster_id_file = config.cluster_id_file
    if not cluster_id_file.exists():
        cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(
            [java.executable, "-cp", _classpath(lib), f"-Dlog4j2.configurationFile={log4j}",
             "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True, text=True, check=False, timeout=120,
        )
        if out.returncode != 0:
            raise StackError(f"kafka storage tool failed: {out.stderr[-2000:]}")
        cluster_id_file.write_text(out.stdout.strip().splitlines()[-1], encoding="utf-8")
    cluster_id = cluster_id_file.read_text(encoding="utf-8").strip()
    tool = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
            "--ignore-formatted",
            *(config.security.format_arguments() if config.security is not None else [])]
    # The tool and its arguments from a Java argument file of mode 0600, not the command
    # line: the admin's password is in them, and every local user reads command lines
    # (ps, /proc) for as long as the tool runs.
    arguments = write_private_file(config.folder / "storage-format.args",
                                   "\n".join(java_argument(value) for value in tool) + "\n")
    try:
        out = subprocess.run(
            [java.executable, "-cp", _classpath(lib), f"-Dlog4j2.configurationFile={log4j}",
             f"@{arguments}"],
            capture_output=True, text=True, check=False, timeout=120,
        )
    finally:
        arguments.unlink(missing_ok=True)
    if out.returncode != 0:
        raise StackError(f"formatting Kafka storage failed: {(out.stdout + out.stderr)[-2000:]}")
    return True


def java_argument(value: str) -> str:
    """One argument as a line of a Java argument file (``java @file``): quoted, with the
    backslash, the quote and line breaks escaped, so it reads back as it was."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r"))
    return f'"{escaped}"'


def start_broker(config: BrokerConfig, java: JavaRuntime, lib: Path) -> int:
    """Start the broker JVM detached; returns its pid."""
    props, log4j = _write_config(config)
    heap = f"{config.heap_mib}m"
    return start_jvm(
        java,
        home=config.home,
        component=config.component,
        jvm_args=[f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                  "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
                  f"-Dkafka.logs.dir={config.folder / 'logs'}", "-cp", _classpath(lib)],
        main=["kafka.Kafka", str(props)],
        log_file=config.folder / "logs" / "stdout.log",
    )
