"""Applying ACLs and SCRAM credentials to a live cluster with confluent-kafka's AdminClient.

Why confluent-kafka at runtime: aiokafka's admin client has no ACL calls
(CreateAcls/DescribeAcls) and no SCRAM calls (AlterUserScramCredentials), and those are
what ``liangfa acl apply`` and ``liangfa acl users`` exist for. It is used here and
nowhere else; every other Kafka client of the hub stays on aiokafka (``hub/kafka.py``).

Both calls are idempotent: what exists is left alone, what is missing is created, and
bindings present on the cluster but not wanted are *reported* as drift, never deleted, so
a hand-made emergency grant is seen by an operator instead of silently disappearing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding as KafkaAclBinding
from confluent_kafka.admin._acl import AclBindingFilter, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr

from hub.config import KafkaSecurity
from hub.errors import FatalError, RetriableError
from hub.kafka import librdkafka_config
from hub.security.acl import AclBinding

__all__ = ["AclReport", "admin_config", "apply_acls", "apply_scram_credentials", "current_acls"]

log = logging.getLogger(__name__)

_SCRAM_ITERATIONS = 8192


@dataclass
class AclReport:
    """What ``apply_acls`` did and found; ``drift`` lists unwanted bindings it left alone."""

    created: list[AclBinding] = field(default_factory=list)
    present: list[AclBinding] = field(default_factory=list)
    drift: list[AclBinding] = field(default_factory=list)


def admin_config(bootstrap: str, security: KafkaSecurity | None) -> dict[str, Any]:
    """librdkafka settings equivalent to ``hub.kafka.client_options`` for aiokafka."""
    return librdkafka_config(bootstrap, security)


def _admin(bootstrap: str, security: KafkaSecurity | None) -> AdminClient:
    return AdminClient(admin_config(bootstrap, security))


def _hub_error(what: str, exc: KafkaException) -> Exception:
    """Authorization and configuration problems are fatal; the rest may pass on a retry."""
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError) and not error.retriable():
        return FatalError(f"{what}: {error.str()}")
    return RetriableError(f"{what}: {exc}")


def _to_kafka(binding: AclBinding) -> KafkaAclBinding:
    return KafkaAclBinding(
        ResourceType[binding.resource_type], binding.name,
        ResourcePatternType[binding.pattern_type], binding.principal, binding.host,
        AclOperation[binding.operation], AclPermissionType[binding.permission])


def _name(value: object) -> Any:
    """An enum member's name: the hub's bindings use Kafka's names as plain literals."""
    return value.name if isinstance(value, Enum) else str(value)


def _from_kafka(binding: KafkaAclBinding) -> AclBinding:
    return AclBinding(
        principal=binding.principal,
        resource_type=_name(binding.restype),
        pattern_type=_name(binding.resource_pattern_type),
        name=binding.name,
        operation=_name(binding.operation),
        permission=_name(binding.permission_type),
        host=binding.host,
    )


def current_acls(bootstrap: str, security: KafkaSecurity | None = None,
                 *, timeout_s: float = 30.0) -> list[AclBinding]:
    """Every ACL binding on the cluster (needs Describe on the cluster: a super user)."""
    admin = _admin(bootstrap, security)
    # None matches any name, principal and host (librdkafka's filter semantics).
    match_all = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
        AclOperation.ANY, AclPermissionType.ANY)
    try:
        found = admin.describe_acls(match_all, request_timeout=timeout_s).result()
    except KafkaException as exc:
        raise _hub_error("describing ACLs failed", exc) from exc
    return sorted(_from_kafka(binding) for binding in found)


def apply_acls(bootstrap: str, security: KafkaSecurity | None,
               bindings: Iterable[AclBinding], *, timeout_s: float = 30.0) -> AclReport:
    """Create the missing bindings; report present ones and unwanted ones (drift)."""
    wanted = sorted(set(bindings))
    existing = set(current_acls(bootstrap, security, timeout_s=timeout_s))
    report = AclReport(present=[b for b in wanted if b in existing],
                       drift=sorted(existing - set(wanted)))
    missing = [b for b in wanted if b not in existing]
    if missing:
        admin = _admin(bootstrap, security)
        futures = admin.create_acls([_to_kafka(b) for b in missing], request_timeout=timeout_s)
        failures: list[str] = []
        for binding, future in zip(missing, futures.values(), strict=True):
            try:
                future.result()
            except KafkaException as exc:
                failures.append(f"{binding.describe()}: {exc}")
                continue
            report.created.append(binding)
        if failures:
            raise FatalError("creating ACLs failed: " + "; ".join(failures))
    log.info("ACLs: %d created, %d already present, %d drift", len(report.created),
             len(report.present), len(report.drift))
    for binding in report.drift:
        log.warning("ACL drift (present on the cluster, not generated): %s",
                    binding.describe())
    return report


def apply_scram_credentials(bootstrap: str, security: KafkaSecurity | None,
                            passwords: Mapping[str, SecretStr], *, rotate: bool = False,
                            timeout_s: float = 30.0) -> list[str]:
    """Create SCRAM-SHA-512 credentials for users that have none; returns those written.

    Existing credentials are kept unless ``rotate``: re-running must not change a
    password a unit's connector is using.
    """
    admin = _admin(bootstrap, security)
    users = sorted(passwords)
    if not users:
        return []
    existing: set[str] = set()
    if not rotate:
        described = admin.describe_user_scram_credentials(users, request_timeout=timeout_s)
        assert isinstance(described, dict)  # a list of users gives one future per user
        for user, future in described.items():
            try:
                future.result()
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if (isinstance(error, KafkaError)
                        and error.code() == KafkaError.RESOURCE_NOT_FOUND):
                    continue
                raise _hub_error(f"describing SCRAM credentials of {user} failed",
                                 exc) from exc
            existing.add(user)
    todo = [user for user in users if user not in existing]
    if not todo:
        return []
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _SCRAM_ITERATIONS)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info,
                                      passwords[user].get_secret_value().encode("utf-8"))
         for user in todo],
        request_timeout=timeout_s)
    for user, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            raise _hub_error(f"writing SCRAM credentials of {user} failed", exc) from exc
    log.info("SCRAM credentials written for %d users", len(todo))
    return todo
