"""Kafka ACLs generated from the unit registry (DESIGN.md, "Topics and security model").

The ACLs are a function of the registry, never a file someone edits: adding a unit to
``units.yaml`` and re-running ``liangfa acl apply`` is the only way a principal gains
access, so what a unit may do is always what the registry says it is.

Principals. A unit's principal is ``User:unit-<统一社会信用代码>``: the SCRAM user name on
the embedded stack, and what ``ssl.principal.mapping.rules`` turns a client certificate
``CN=<code>,…`` into in production (``docs/security.md``), so one set of ACLs serves both.

What each principal gets:

- every unit: Write and Read on the prefix ``lf.ingest.<code>.`` (its connectors re-read
  what they wrote after a restart to skip duplicates), Read on ``lf.inbox.<code>``, Read
  on consumer groups whose id starts with its code, and Write/Read on the literal
  ``lf.dlq.<connector>`` of each of *its own* connectors. Per-connector rather than a
  shared ``lf.dlq.`` prefix: a dead letter carries the raw source row, so one agency
  must not read, or fill, another agency's DLQ.
- a procuratorate (检察院): additionally Read on every ``lf.`` topic (法律监督 sees all).
- the streams workers: Read on ``lf.ingest.``, Read/Write on the derived topics, Write
  (and Create, the worker creates inboxes of new units) on ``lf.inbox.``, everything on
  their own ``<app id>-`` changelog topics, their internal ``lf.streams.`` topics (Delete
  too: they delete what the group consumed) and group.
- the public-feed publisher: Read on the internal topics it masks, Write on ``lf.public.``
  and ``lf.dlq.streams``, its own group.
- the view: Read on what builds its store, Write on ``lf.view-actions`` and
  ``lf.audit-intake`` (its audit records, unchained), Write and Create on the operator's
  ``lf.ingest.<operator>.view-acts`` (supervision acts recorded in the view; the operator is
  ``ServicePrincipals.view_operator``, by default the registry's first procuratorate, as
  the view chooses it).
- the audit sealer (``hub/audit``): Read on ``lf.audit-intake``, Read and Write on
  ``lf.audit`` (its only writer: nobody else may append to the chain), Write on
  ``lf.dlq.audit``, its own group.
- the schema registry (Apicurio's kafkasql storage): its journal and snapshot topics and
  its own groups, nothing of the hub's.
- a downstream subscriber: Read on ``lf.public.`` (PII-masked) and its own groups only.

Idempotent producers need no IdempotentWrite on the cluster: since Kafka 3.0 (KIP-679)
Write on any topic implies it, which the integration test checks with the hub's
idempotent producers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from hub.units import UnitRegistry, inbox_topic

__all__ = [
    "CONNECTOR_ID",
    "RESERVED_CONNECTOR_IDS",
    "AclBinding",
    "Operation",
    "PatternType",
    "ResourceType",
    "ServicePrincipals",
    "acl_bindings",
    "format_table",
    "scram_users",
    "unit_principal",
    "unit_user",
    "usable_connector_id",
]

log = logging.getLogger(__name__)

ResourceType = Literal["TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"]
PatternType = Literal["LITERAL", "PREFIXED"]
Operation = Literal[
    "READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER", "DELETE",
    "IDEMPOTENT_WRITE", "ALL",
]
Permission = Literal["ALLOW", "DENY"]

#: Topics the streams workers write (and read back: the engine sources and sinks them).
_STREAMS_OUTPUTS = (
    "lf.case-events", "lf.alerts", "lf.case-state", "lf.stats", "lf.unmatched",
    "lf.dlq.streams",
)
#: Topics the view consumes to build its store (``hub/view/settings.py``, ``Topics``).
_VIEW_INPUTS = (
    "lf.case-state", "lf.case-events", "lf.alerts", "lf.stats", "lf.unmatched",
    "lf.view-actions",
)
#: Topics the view's outbox writes.
_VIEW_OUTPUTS = ("lf.view-actions", "lf.audit-intake")
#: Internal topics the public-feed publisher masks (``hub/rules/masking.yaml``).
_PUBLIC_INPUTS = ("lf.case-events", "lf.case-state", "lf.stats")
#: Topics of Apicurio's kafkasql storage (``hub/local/registry.py``).
_REGISTRY_TOPICS = ("kafkasql-journal", "kafkasql-snapshots", "registry-events")


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ACL entry, in Kafka's own terms (principal, resource pattern, operation)."""

    principal: str
    resource_type: ResourceType
    pattern_type: PatternType
    name: str
    operation: Operation
    permission: Permission = "ALLOW"
    host: str = "*"

    def describe(self) -> str:
        """One line for logs and drift reports."""
        pattern = "prefix" if self.pattern_type == "PREFIXED" else "literal"
        return (f"{self.permission} {self.principal} {self.operation} on "
                f"{self.resource_type} {pattern} {self.name!r} from {self.host}")


@dataclass(frozen=True)
class ServicePrincipals:
    """The hub's own principals and the names their clients use.

    ``streams_app_id`` is the engine's app id: it names its consumer group and its
    changelog topics after it. Subscribers are downstream systems reading ``lf.public.``,
    keyed by a short name (their SCRAM user is ``sub-<name>``).
    """

    streams: str = "User:liangfa-streams"
    streams_app_id: str = "liangfa-streams"
    view: str = "User:liangfa-view"
    view_group: str = "liangfa-view"
    #: The procuratorate operating the view (its acts' ingest topic); None: the registry's
    #: first procuratorate, the view's own default.
    view_operator: str | None = None
    audit_sealer: str = "User:liangfa-audit"
    audit_sealer_group: str = "liangfa-audit-sealer"
    public: str = "User:liangfa-public"
    public_group: str = "liangfa-streams-public"
    registry: str = "User:liangfa-registry"
    #: Prefix of Apicurio's consumer groups (``<prefix>-<uuid>``, ``hub/local/registry.py``).
    registry_group: str = "liangfa-registry"
    subscribers: tuple[str, ...] = field(default_factory=tuple)

    def subscriber_principal(self, name: str) -> str:
        """``User:sub-<name>``."""
        return f"User:sub-{name}"

    def users(self) -> list[str]:
        """SCRAM user names of the service principals (the part after ``User:``)."""
        principals = [self.streams, self.view, self.audit_sealer, self.public, self.registry,
                      *(self.subscriber_principal(name) for name in self.subscribers)]
        return [principal.removeprefix("User:") for principal in principals]


def unit_user(unit_code: str) -> str:
    """The SCRAM user name of a unit: ``unit-<code>``."""
    return f"unit-{unit_code}"


def unit_principal(unit_code: str) -> str:
    """The Kafka principal of a unit: ``User:unit-<code>`` (SCRAM, or mapped from mTLS)."""
    return f"User:{unit_user(unit_code)}"


def _topic(principal: str, pattern: PatternType, name: str,
           *operations: Operation) -> list[AclBinding]:
    return [AclBinding(principal, "TOPIC", pattern, name, op) for op in operations]


def _group(principal: str, prefix: str) -> AclBinding:
    return AclBinding(principal, "GROUP", "PREFIXED", prefix, "READ")


#: Connector (and sink) ids that would name the hub's own dead-letter topics.
RESERVED_CONNECTOR_IDS = frozenset({"streams", "audit"})
#: What a connector (or sink) id is: its dead-letter topic is ``lf.dlq.<id>``.
CONNECTOR_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


def usable_connector_id(value: str) -> str:
    """``value`` when it may name a connector or sink (configurations validate with it)."""
    if value in RESERVED_CONNECTOR_IDS:
        raise ValueError(f"{value!r} is reserved: lf.dlq.{value} is the hub's own "
                         "dead-letter topic")
    return value


def _unit_bindings(registry: UnitRegistry,
                   connectors: Mapping[str, str]) -> list[AclBinding]:
    bindings: list[AclBinding] = []
    for unit in registry:
        principal = unit_principal(unit.code)
        bindings += _topic(principal, "PREFIXED", f"lf.ingest.{unit.code}.", "WRITE", "READ")
        bindings += _topic(principal, "LITERAL", inbox_topic(unit.code), "READ")
        bindings.append(_group(principal, unit.code))
        if unit.kind == "procuratorate":
            bindings += _topic(principal, "PREFIXED", "lf.", "READ")
    for connector_id, unit_code in sorted(connectors.items()):
        owner = registry.get(unit_code)
        if owner is None:
            raise KeyError(f"connector {connector_id!r} belongs to unit {unit_code!r}, which "
                           "is not in the unit registry")
        if not CONNECTOR_ID.fullmatch(connector_id):
            # the dead-letter tooling tells a connector's topic by this form
            raise ValueError(f"connector id {connector_id!r} is not lower-case letters, "
                             "digits and hyphens (2-63 characters)")
        if connector_id in RESERVED_CONNECTOR_IDS:
            # lf.dlq.streams and lf.dlq.audit are the hub's: a unit writing there could
            # forge dead letters an operator then replays under the hub's name
            raise ValueError(f"connector id {connector_id!r} is reserved (lf.dlq."
                             f"{connector_id} is the hub's dead-letter topic)")
        bindings += _topic(unit_principal(owner.code), "LITERAL", f"lf.dlq.{connector_id}",
                           "WRITE", "READ")
    return bindings


def _service_bindings(services: ServicePrincipals) -> list[AclBinding]:
    streams, view = services.streams, services.view
    app_prefix = f"{services.streams_app_id}-"
    bindings = _topic(streams, "PREFIXED", "lf.ingest.", "READ")
    for name in _STREAMS_OUTPUTS:
        bindings += _topic(streams, "LITERAL", name, "READ", "WRITE", "CREATE")
    bindings += _topic(streams, "LITERAL", "lf.view-actions", "READ")
    # The engine audits events it refuses (a unit not entitled to add them to a case)
    # through the sealer's intake. Create only on lf.audit: the worker creates its output
    # topics when missing, and cannot see (Describe) the chain it must not write.
    bindings += _topic(streams, "LITERAL", "lf.audit-intake", "WRITE", "CREATE")
    bindings += _topic(streams, "LITERAL", "lf.audit", "CREATE")
    bindings += _topic(streams, "PREFIXED", "lf.inbox.", "WRITE", "CREATE")
    bindings += _topic(streams, "PREFIXED", app_prefix, "READ", "WRITE", "CREATE",
                       "DESCRIBE_CONFIGS")
    # Internal topics of the engine (the statistics feed on one partition, the intake),
    # whose consumed records the workers delete (DeleteRecords: streams/engine/purge.py).
    bindings += _topic(streams, "PREFIXED", "lf.streams.", "READ", "WRITE", "CREATE",
                       "DELETE")
    bindings.append(_group(streams, services.streams_app_id))
    public = services.public
    for name in _PUBLIC_INPUTS:
        bindings += _topic(public, "LITERAL", name, "READ")
    bindings += _topic(public, "PREFIXED", "lf.public.", "WRITE")
    bindings += _topic(public, "LITERAL", "lf.dlq.streams", "WRITE")
    bindings.append(_group(public, services.public_group))
    registry = services.registry
    for name in _REGISTRY_TOPICS:
        bindings += _topic(registry, "LITERAL", name, "READ", "WRITE", "CREATE",
                           "DESCRIBE_CONFIGS")
    bindings.append(_group(registry, services.registry_group))
    sealer = services.audit_sealer
    bindings += _topic(sealer, "LITERAL", "lf.audit-intake", "READ")
    bindings += _topic(sealer, "LITERAL", "lf.audit", "READ", "WRITE")
    bindings += _topic(sealer, "LITERAL", "lf.dlq.audit", "WRITE")
    bindings.append(_group(sealer, services.audit_sealer_group))
    for name in _VIEW_INPUTS:
        bindings += _topic(view, "LITERAL", name, "READ")
    for name in _VIEW_OUTPUTS:
        bindings += _topic(view, "LITERAL", name, "WRITE")
    bindings.append(_group(view, services.view_group))
    for name in services.subscribers:
        principal = services.subscriber_principal(name)
        bindings += _topic(principal, "PREFIXED", "lf.public.", "READ")
        bindings.append(_group(principal, f"sub-{name}"))
    return bindings


def _group_fences(bindings: Iterable[AclBinding]) -> list[AclBinding]:
    """A DENY for each principal whose group prefix also covers another's groups.

    Group names nest: the engine's prefix ``liangfa-streams`` covers the publisher's group
    ``liangfa-streams-public``, a subscriber ``sub-a`` covers ``sub-ab``'s groups, a unit
    code may begin another's. Without a fence the first principal could join the second's
    group or move its committed offsets (the publisher would then skip the withdrawal of a
    public record). Renaming groups would move their committed offsets; a DENY, which
    Kafka puts before every ALLOW, keeps the names.
    """
    groups = [b for b in bindings if b.resource_type == "GROUP" and b.permission == "ALLOW"]
    fences: list[AclBinding] = []
    for outer in groups:
        if outer.pattern_type != "PREFIXED":
            continue
        for inner in groups:
            if (inner.principal != outer.principal and inner.name != outer.name
                    and inner.name.startswith(outer.name)):
                fences.append(AclBinding(outer.principal, "GROUP", inner.pattern_type,
                                         inner.name, "ALL", "DENY"))
    return fences


def acl_bindings(registry: UnitRegistry,
                 service_principals: ServicePrincipals | None = None,
                 *, connectors: Mapping[str, str] | None = None) -> list[AclBinding]:
    """Every ACL the hub wants, sorted and without duplicates.

    ``connectors`` maps a connector id to the code of the unit that runs it (the ``id``
    and ``unit`` of each connector config); each gets its own DLQ topic's Write. A
    connector of a unit missing from the registry is a KeyError: an ACL for a principal
    the registry does not know would be access nobody approved.
    """
    services = service_principals or ServicePrincipals()
    wanted = {*_unit_bindings(registry, connectors or {}), *_service_bindings(services)}
    wanted.update(_group_fences(wanted))
    procuratorates = registry.find(kind="procuratorate")
    operator = services.view_operator or (procuratorates[0].code if procuratorates else None)
    if operator is not None:
        wanted.update(_topic(services.view, "LITERAL", f"lf.ingest.{operator}.view-acts",
                             "WRITE", "CREATE"))
    return sorted(wanted)


def scram_users(registry: UnitRegistry,
                service_principals: ServicePrincipals | None = None) -> list[str]:
    """SCRAM user names to create: one per unit, then the hub's service principals."""
    services = service_principals or ServicePrincipals()
    return [unit_user(unit.code) for unit in registry] + services.users()


def format_table(bindings: Iterable[AclBinding]) -> str:
    """A Markdown table of the bindings (``liangfa acl plan`` and ``docs/security.md``)."""
    lines = ["| principal | resource | pattern | name | operation | permission |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{b.principal}` | {b.resource_type} | {b.pattern_type} | `{b.name}` | "
              f"{b.operation} | {b.permission} |" for b in bindings]
    return "\n".join(lines)
