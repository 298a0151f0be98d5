"""Apicurio Registry with ``kafkasql`` storage, so schemas live in the broker and survive.

On the secured stack (``RegistrySecurity``) the registry reaches the broker as its own SCRAM
principal, ``liangfa-registry``, whose ACLs cover only its journal topics and groups, and
every HTTP call that changes something needs the hub admin's password (HTTP basic, checked
against one user declared in the registry's own configuration): reads, and the lookup of a
schema by its text (``POST /subjects/<subject>``), stay open to the components, which hold no
registry password at all. Both secrets go in ``<home>/secrets/registry.properties`` (mode
0600), handed to Quarkus with ``-Dquarkus.config.locations``, never on a command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from hub.local.processes import JavaRuntime, start_jvm
from hub.security.private_files import write_private_file

__all__ = ["REGISTRY_GROUP_PREFIX", "RegistryConfig", "RegistrySecurity", "start_registry"]

#: Prefix of the embedded registry's consumer groups (``<prefix>-<uuid>``).
REGISTRY_GROUP_PREFIX = "liangfa-registry"
#: Topics the kafkasql storage keeps its journal and snapshots in.
REGISTRY_TOPICS = ("kafkasql-journal", "kafkasql-snapshots", "registry-events")

#: Quarkus HTTP permissions: the longest matching path wins, and a method not listed for
#: the winning path is refused, so every path named here lists its reads as well.
_CCOMPAT = "/apis/ccompat/v7"
_HTTP_PERMISSIONS = {
    "reads": ("/*," + f"{_CCOMPAT}/subjects/*,{_CCOMPAT}/subjects/*/versions",
              "GET,HEAD,OPTIONS", "permit"),
    "lookup": (f"{_CCOMPAT}/subjects/*", "POST", "permit"),
    "subject-changes": (f"{_CCOMPAT}/subjects/*", "PUT,DELETE,PATCH", "hub-admin"),
    "changes": (f"/*,{_CCOMPAT}/subjects/*/versions", "POST,PUT,DELETE,PATCH", "hub-admin"),
}


@dataclass(frozen=True)
class RegistrySecurity:
    """The registry's broker principal and the one HTTP user allowed to change schemas."""

    kafka_user: str
    kafka_password: SecretStr
    admin_user: str
    admin_password: SecretStr
    mechanism: str = "SCRAM-SHA-512"
    #: The home's CA: the registry reaches the broker over TLS (SASL_SSL).
    ca_file: Path | None = None
    #: Under ``--mtls``: the registry's key and certificate (PEM), its identity instead of
    #: its SCRAM password.
    keystore: Path | None = None

    def kafka_tls(self) -> dict[str, str]:
        """The Kafka client's TLS entries (``apicurio.kafka.common.*``), replacing SASL
        under ``--mtls``; empty when the broker listener is SASL_PLAINTEXT."""
        if self.ca_file is None:
            return {}
        common = "apicurio.kafka.common."
        entries = {f"{common}security.protocol": "SSL" if self.keystore else "SASL_SSL",
                   f"{common}ssl.truststore.type": "PEM",
                   f"{common}ssl.truststore.location": str(self.ca_file)}
        if self.keystore is not None:
            entries[f"{common}ssl.keystore.type"] = "PEM"
            entries[f"{common}ssl.keystore.location"] = str(self.keystore)
        return entries

    def properties(self) -> dict[str, str]:
        """Quarkus/Apicurio configuration entries of the secured registry."""
        kafka_password = self.kafka_password.get_secret_value()
        jaas = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{self.kafka_user}" password="{kafka_password}";')
        entries = {
            # Each consumer's group is <prefix><uuid>. Not ``registry.id``: setting it gives
            # the journal and snapshot consumers one group, and the idle snapshot consumer
            # then holds the journal's rebalance for max.poll.interval.ms.
            "apicurio.kafkasql.consumer.group-prefix": f"{REGISTRY_GROUP_PREFIX}-",
            "apicurio.kafka.common.security.protocol": "SASL_PLAINTEXT",
            "apicurio.kafka.common.sasl.mechanism": self.mechanism,
            "apicurio.kafka.common.sasl.jaas.config": jaas,
            # Basic authentication against the embedded (properties) realm; anonymous
            # reads are Apicurio's own switch once authentication is on.
            "quarkus.http.auth.basic": "true",
            "quarkus.security.users.embedded.enabled": "true",
            "quarkus.security.users.embedded.plain-text": "true",
            f"quarkus.security.users.embedded.users.{self.admin_user}":
                self.admin_password.get_secret_value(),
            f"quarkus.security.users.embedded.roles.{self.admin_user}": "sr-admin",
            "apicurio.auth.anonymous-read-access.enabled": "true",
            "quarkus.http.auth.policy.hub-admin.roles-allowed": "sr-admin",
        }
        entries.update(self.kafka_tls())
        if self.keystore is not None:
            del entries["apicurio.kafka.common.sasl.mechanism"]
            del entries["apicurio.kafka.common.sasl.jaas.config"]
        for name, (paths, methods, policy) in _HTTP_PERMISSIONS.items():
            entries[f"quarkus.http.auth.permission.{name}.paths"] = paths
            entries[f"quarkus.http.auth.permission.{name}.methods"] = methods
            entries[f"quarkus.http.auth.permission.{name}.policy"] = policy
        return entries


@dataclass(frozen=True)
class RegistryConfig:
    """The registry's port and the broker it keeps its journal in."""

    home: Path
    port: int
    bootstrap: str
    heap_mib: int = 384
    #: None keeps the open registry of the PLAINTEXT stack.
    security: RegistrySecurity | None = None

    @property
    def folder(self) -> Path:
        return self.home / "registry"

    @property
    def secrets_file(self) -> Path:
        """The secured registry's configuration (passwords), mode 0600."""
        return self.home / "secrets" / "registry.properties"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ccompat_url(self) -> str:
        """The Confluent-compatible API base, what every serde client is pointed at."""
        return f"{self.base_url}/apis/ccompat/v7"


def _escape(value: str) -> str:
    """A value as Java's Properties reads it back (backslashes and newlines escaped)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _write_secrets(config: RegistryConfig, security: RegistrySecurity) -> Path:
    text = "".join(f"{key}={_escape(value)}\n" for key, value in security.properties().items())
    return write_private_file(config.secrets_file, text)


def start_registry(config: RegistryConfig, java: JavaRuntime, runner: Path) -> int:
    """Start the registry JVM detached; returns its pid."""
    config.folder.mkdir(parents=True, exist_ok=True)
    heap = f"{config.heap_mib}m"
    env = {
        "APICURIO_STORAGE_KIND": "kafkasql",
        "APICURIO_KAFKASQL_BOOTSTRAP_SERVERS": config.bootstrap,
        "QUARKUS_HTTP_HOST": "127.0.0.1",
        "QUARKUS_HTTP_PORT": str(config.port),
        "QUARKUS_LOG_LEVEL": "WARN",
        "APICURIO_REST_DELETION_ARTIFACT_ENABLED": "true",
        "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED": "true",
    }
    extra: list[str] = []
    if config.security is not None:
        extra.append(f"-Dquarkus.config.locations={_write_secrets(config, config.security)}")
    return start_jvm(
        java,
        home=config.home,
        component="registry",
        jvm_args=["-Xms128m", f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                  "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={config.port}",
                  *extra, "-jar"],
        main=[str(runner)],
        log_file=config.folder / "registry.log",
        env=env,
    )
