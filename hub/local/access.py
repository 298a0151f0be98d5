"""Who may do what on the secured embedded stack, and the credentials each process runs with.

``liangfa up`` gives every process its own Kafka principal (DESIGN.md, "Topics and security
model"; ``docs/security.md``): each demo unit's connector process runs as
``unit-<code>``, the stream workers as ``liangfa-streams``, the public-feed publisher as
``liangfa-public``, the view as ``liangfa-view`` and the registry's storage as
``liangfa-registry``. Their SCRAM passwords are generated once per home into
``<home>/secrets/scram.json``; each process gets only its own, through an environment file
``<home>/secrets/<component>.env`` read when the process is started (``hub.local.services``),
so ``services.json`` and command lines never carry a password. The client listener is
TLS (``SASL_SSL``; the file names the home's CA), or under ``--mtls`` certificates
replace the passwords and the file names the process's own certificate and key. Every
file under ``<home>/secrets`` is mode 0600 and the folder 0700.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from hub.config import KafkaSecurity
from hub.security.acl import AclBinding, ServicePrincipals, acl_bindings, scram_users
from hub.security.private_files import write_private_file
from hub.units import UnitRegistry

__all__ = [
    "SCRAM_MECHANISM",
    "HubAccess",
    "certificate_security",
    "client_security",
    "read_env_file",
    "security_env",
    "write_env_file",
    "write_private_file",
]

SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class HubAccess:
    """The principals of one hub and their ACLs: the unit registry, the connectors of each
    unit (each gets its own dead-letter topic) and the hub's service principals."""

    units: UnitRegistry
    connectors: Mapping[str, str] = field(default_factory=dict)
    services: ServicePrincipals = field(default_factory=ServicePrincipals)

    def users(self) -> list[str]:
        """SCRAM users to create: every unit, then the services (registry included)."""
        return scram_users(self.units, self.services)

    def bindings(self) -> list[AclBinding]:
        """Every ACL the hub wants (``hub.security.acl.acl_bindings``)."""
        return acl_bindings(self.units, self.services, connectors=self.connectors)


def client_security(user: str, password: SecretStr, *,
                    ca_file: Path | None = None) -> KafkaSecurity:
    """Client settings of one SCRAM principal on the embedded stack's SASL listener:
    SASL_SSL verified against ``ca_file`` (the home's CA), else SASL_PLAINTEXT (a home
    secured before TLS)."""
    return KafkaSecurity(security_protocol="SASL_SSL" if ca_file else "SASL_PLAINTEXT",
                         ssl_cafile=ca_file, sasl_mechanism=SCRAM_MECHANISM,
                         sasl_username=user, sasl_password=password)


def certificate_security(ca_file: Path, cert_file: Path, key_file: Path) -> KafkaSecurity:
    """Client settings of one principal on the ``--mtls`` listener: its certificate is its
    identity (``hub.security.certificates``), no password."""
    return KafkaSecurity(security_protocol="SSL", ssl_cafile=ca_file,
                         ssl_certfile=cert_file, ssl_keyfile=key_file)


def security_env(security: KafkaSecurity) -> dict[str, str]:
    """``LIANGFA_KAFKA_*`` variables that make ``HubSettings().kafka_security`` equal
    ``security`` in a child process (every component reads its settings that way)."""
    env: dict[str, str] = {"LIANGFA_KAFKA_SECURITY_PROTOCOL": security.security_protocol}
    for name, path in (("CAFILE", security.ssl_cafile), ("CERTFILE", security.ssl_certfile),
                       ("KEYFILE", security.ssl_keyfile)):
        if path is not None:
            env[f"LIANGFA_KAFKA_SSL_{name}"] = str(path)
    if security.sasl_mechanism:
        env["LIANGFA_KAFKA_SASL_MECHANISM"] = security.sasl_mechanism
    if security.sasl_username:
        env["LIANGFA_KAFKA_SASL_USERNAME"] = security.sasl_username
    if security.sasl_password:
        env["LIANGFA_KAFKA_SASL_PASSWORD"] = security.sasl_password.get_secret_value()
    return env


def write_env_file(path: Path, env: Mapping[str, str]) -> Path:
    """An environment file (``KEY=value`` lines, sourceable by a shell), mode 0600."""
    for key, value in env.items():
        if "\n" in value or "'" in value:
            raise ValueError(f"{key} holds a newline or a quote; it cannot go in {path}")
    return write_private_file(path, "".join(f"{key}='{value}'\n" for key, value in env.items()))


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of an environment file written by :func:`write_env_file`."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, separator, value = line.partition("=")
        if separator and key:
            env[key.strip()] = value.strip().removeprefix("'").removesuffix("'")
    return env
