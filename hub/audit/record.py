"""Audit records of administrative changes made from the command line.

An operator who applies ACLs, SCRAM credentials or topics changes who may do what on the
bus: that is audited like a case view, as an ``ADMIN_CHANGE`` record on the intake topic
(the sealer chains it). The actor is the operating-system user who ran the command
(``os:<name>``); the unit is the hub's operating procuratorate.
"""

from __future__ import annotations

import asyncio
import getpass
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

from hub.audit.chain import INTAKE_TOPIC
from hub.config import HubSettings
from hub.errors import ConfigError
from hub.identity import case_id_for, content_hash, event_id_for
from hub.kafka import make_producer
from hub.models import AuditOperation, AuditRecorded
from hub.registry import SchemaRegistryClient
from hub.serde import AvroSerde

__all__ = [
    "admin_change_record",
    "hub_unit_code",
    "operator_name",
    "produce_audit",
    "record_admin_change",
]

_SOURCE_SYSTEM = "liangfa-cli"


def operator_name() -> str:
    """``os:<user>@<host>``: who ran the command, as the machine knows them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"os:{user}@{socket.gethostname()}"


def admin_change_record(*, unit_code: str, command: str, target: str, detail: str,
                        count: int | None = None, actor: str | None = None) -> AuditRecorded:
    """An ``ADMIN_CHANGE`` record: ``command`` (e.g. ``acl apply``) changed ``target``."""
    now = datetime.now(UTC)
    audit_id = str(uuid.uuid4())
    who = actor or operator_name()
    body: dict[str, object] = {"audit_id": audit_id, "actor": who, "command": command,
                               "target": target, "detail": detail}
    return AuditRecorded(
        event_id=event_id_for(_SOURCE_SYSTEM, f"audit:{audit_id}", content_hash(body)),
        case_id=case_id_for(unit_code, "audit:" + who),
        source_unit=unit_code, occurred_at=now, recorded_at=now,
        source_system=_SOURCE_SYSTEM, source_record=f"audit:{audit_id}",
        connector_id="cli", actor=who[:200], actor_unit_code=unit_code,
        operation=AuditOperation.ADMIN_CHANGE, target=f"{command}: {target}"[:500],
        query=detail[:2000], result_count=count)


async def _produce(settings: HubSettings, topic: str, records: list[AuditRecorded]) -> None:
    async with SchemaRegistryClient(settings.registry_url,
                                    auth=settings.registry_auth) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(settings.bootstrap, security=settings.kafka_security,
                                 client_id="liangfa-cli-audit")
        await producer.start()
        try:
            for record in records:
                serialized = await serde.serialize(record)
                await producer.send_and_wait(topic, value=serialized.value,
                                             key=serialized.key, headers=serialized.headers)
        finally:
            await producer.stop()


def produce_audit(settings: HubSettings, *records: AuditRecorded,
                  topic: str = INTAKE_TOPIC) -> None:
    """Produce audit records to the intake and wait for the broker's acknowledgement."""
    asyncio.run(_produce(settings, topic, list(records)))


def hub_unit_code(units: Path | None) -> str:
    """The unit operating the hub: the registry's first procuratorate (as the view and
    the stream workers choose theirs); the demo county's registry in a checkout."""
    from hub.units import load_unit_registry
    from hub.view.units import default_units_file

    path = units or default_units_file()
    code = (next((unit.code for unit in load_unit_registry(path)
                  if unit.kind == "procuratorate"), None) if path is not None else None)
    if code is None:
        raise ConfigError("no procuratorate to record the administrative change under",
                          ["give --units with the unit registry (a unit of kind "
                           "'procuratorate' operates the hub)"])
    return code


def record_admin_change(settings: HubSettings, *, units: Path | None, command: str,
                        target: str, detail: str, count: int | None = None) -> AuditRecorded:
    """Audit one administrative command on the intake; returns the record produced."""
    record = admin_change_record(unit_code=hub_unit_code(units), command=command,
                                 target=target, detail=detail, count=count)
    produce_audit(settings, record)
    return record
