"""What the view says on the bus: ViewAction and AuditRecorded events, via an outbox.

A request never changes the store's bus tables. It writes the event it wants produced
into ``view_outbox`` and returns; the relay (``hub.view.bus``) produces outbox rows in
order with an idempotent, acks=all producer. The view shows the effect only when the
action comes back through ``lf.view-actions``, so what the view shows is always what the
bus holds. If Kafka is down, actions and audit records wait in the outbox instead of
being lost or failing the request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from hub.identity import case_id_for, content_hash, event_id_for
from hub.models import AuditOperation, AuditRecorded, CaseEvent, ViewAction, ViewActionKind
from hub.view.store import OutboxRow, Store, utc_now

__all__ = ["Actor", "Outbox"]

logger = logging.getLogger(__name__)

_SOURCE_SYSTEM = "liangfa-view"
_CONNECTOR_ID = "view"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the user and the unit they act for."""

    username: str
    unit_code: str
    client_address: str | None = None


@dataclass
class Outbox:
    """Writes events to the outbox table and wakes the relay."""

    store: Store
    operator_unit_code: str
    action_topic: str
    audit_topic: str
    #: Set by the relay: wakes it (thread-safe) when a request queued an event.
    waker: Callable[[], None] | None = None

    def _enqueue(self, topic: str, event: CaseEvent) -> None:
        with self.store.session() as session:
            session.add(
                OutboxRow(
                    topic=topic,
                    key=event.case_id,
                    record_type=event.avro_name,
                    payload=event.model_dump(mode="json"),
                    created_at=utc_now(),
                    sent_at=None,
                )
            )
        if self.waker is not None:
            self.waker()

    def _header(self, natural_key: str, body: dict[str, object]) -> dict[str, str]:
        return {
            "event_id": event_id_for(_SOURCE_SYSTEM, natural_key, content_hash(body)),
            "source_unit": self.operator_unit_code,
            "source_system": _SOURCE_SYSTEM,
            "source_record": natural_key,
            "connector_id": _CONNECTOR_ID,
        }

    def action(
        self,
        actor: Actor,
        kind: ViewActionKind,
        *,
        target: str,
        case_id: str,
        payload: dict[str, str] | None = None,
    ) -> ViewAction:
        """Queue a ViewAction; returns it (its ``action_id`` is the idempotency key)."""
        now = utc_now()
        action_id = str(uuid.uuid4())
        body: dict[str, object] = {
            "action_id": action_id,
            "actor": actor.username,
            "kind": kind.value,
            "target": target,
            "payload": payload or {},
        }
        event = ViewAction(
            **self._header(f"view-action:{action_id}", body),
            case_id=case_id,
            occurred_at=now,
            recorded_at=now,
            action_id=action_id,
            actor=actor.username,
            actor_unit_code=actor.unit_code,
            action_kind=kind,
            target=target,
            payload=dict(payload or {}),
        )
        self._enqueue(self.action_topic, event)
        logger.info("queued view action %s %s on %s by %s", kind.value, action_id, target,
                    actor.username)
        # Audited too: lf.view-actions is the bus's working copy (replayed, superseded);
        # the chained lf.audit is the record of who did what.
        details = [f"action_id={action_id}",
                   *(f"{key}={value}" for key, value in sorted((payload or {}).items()))]
        self.audit(actor, AuditOperation.ACTION, target=f"{kind.value}:{target}",
                   case_id=case_id, query=";".join(details))
        return event

    def event(self, topic: str, event: CaseEvent) -> CaseEvent:
        """Queue an event the view built itself (a supervision act, ``hub.view.acts``)
        for ``topic``; the relay produces it like any outbox row."""
        self._enqueue(topic, event)
        logger.info("queued %s %s on %s", event.avro_name, event.event_id, topic)
        return event

    def audit(
        self,
        actor: Actor,
        operation: AuditOperation,
        *,
        target: str,
        case_id: str | None = None,
        query: str | None = None,
        result_count: int | None = None,
    ) -> AuditRecorded:
        """Queue an audit record of a search, a view, an export, a login or an action."""
        now = utc_now()
        audit_id = str(uuid.uuid4())
        subject = case_id or case_id_for(actor.unit_code, "audit:" + actor.username)
        body: dict[str, object] = {
            "audit_id": audit_id,
            "actor": actor.username,
            "operation": operation.value,
            "target": target,
        }
        event = AuditRecorded(
            **self._header(f"audit:{audit_id}", body),
            case_id=subject,
            occurred_at=now,
            recorded_at=now,
            actor=actor.username,
            actor_unit_code=actor.unit_code,
            operation=operation,
            target=target[:500],
            query=query[:2000] if query else None,
            result_count=result_count,
            client_address=actor.client_address,
        )
        self._enqueue(self.audit_topic, event)
        return event

    def pending(self) -> int:
        """Events not yet acknowledged by the bus."""
        with self.store.session() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))
                )
                or 0
            )
