"""Alert construction shared by the pure decision modules: ids, event ids, change detection.

An alert's id is a UUIDv5 of what makes it unique (case, rule, the event that started its
clock), and the id of each alert *event* is a UUIDv5 of the alert id and its state. So a
processor that evaluates a case twice, or replays after a crash, produces byte-for-byte
the same events, which downstream deduplication drops.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from hub.identity import HUB_NAMESPACE
from hub.models import Alert, AlertKind, AlertSeverity, AlertStatus

__all__ = [
    "AlertState",
    "alert_changes",
    "alert_id_for",
    "build_alert",
    "snapshot_of",
    "uuid_for",
]

SOURCE_SYSTEM = "liangfa-hub"


def uuid_for(*parts: str) -> str:
    """A deterministic UUIDv5 in the hub's namespace from the given parts."""
    return _uuid5("|".join(parts))


_NAMESPACE_BYTES = HUB_NAMESPACE.bytes


@functools.lru_cache(maxsize=65_536)
def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(HUB_NAMESPACE, name))`` without building UUID objects.

    Memoised: a case is evaluated again at every batch that touches it and each
    evaluation derives the same alert and alert-event ids (SHA-1 each) again. The
    version and variant bits are set exactly as :func:`uuid.uuid5` sets them.
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"),
                                    usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def alert_id_for(case_id: str, rule_id: str, trigger_event_id: str) -> str:
    """The alert id of one clock: the same case, rule and starting event give the same id."""
    return uuid_for("alert", case_id, rule_id, trigger_event_id)


def build_alert(
    *,
    alert_id: str,
    case_id: str,
    kind: AlertKind,
    severity: str,
    status: AlertStatus,
    hub_unit_code: str,
    responsible_unit_code: str,
    rule_id: str,
    legal_source: str,
    occurred_at: datetime,
    recorded_at: datetime,
    processor: str,
    message: str,
    due_date: date | None = None,
    trigger_event_id: str | None = None,
    resolved_by_event_id: str | None = None,
    details: Mapping[str, str] | None = None,
) -> Alert:
    """An Alert event whose ``event_id`` depends only on the alert's state.

    ``recorded_at`` (when the hub evaluated) is deliberately not part of the id: a later
    evaluation that finds the same state yields the same event id.
    """
    event_id = uuid_for(
        "alert-event", alert_id, status.value, severity, resolved_by_event_id or ""
    )
    # Severity spellings come from rule files (INFO/WARNING/CRITICAL); the enum checks them.
    return Alert(
        event_id=event_id,
        case_id=case_id,
        source_unit=hub_unit_code,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        source_system=SOURCE_SYSTEM,
        source_record=f"{processor}:{rule_id}",
        connector_id=f"streams.{processor}",
        alert_id=alert_id,
        kind=kind,
        severity=AlertSeverity(severity),
        status=status,
        responsible_unit_code=responsible_unit_code,
        rule_id=rule_id,
        legal_source=legal_source,
        due_date=due_date,
        trigger_event_id=trigger_event_id,
        resolved_by_event_id=resolved_by_event_id,
        message=message,
        details=dict(details or {}),
    )


@dataclass(frozen=True)
class AlertState:
    """An alert as an evaluation sees it now.

    ``emit_if_new`` is False for a resolution of something that may never have been
    raised (a reply that came on time but was entered after the due date): emitted only
    when a raised alert of that id is known, so no one sees a resolved alert that never
    existed.
    """

    alert: Alert
    emit_if_new: bool = True
    #: A resolution that exists only to undo a sweep that ran ahead of an act made and
    #: recorded in time (a backfill read after the sweep): never news on its own.
    undoes_early_sweep: bool = False
    #: A resolution that withdraws an alert of a rule that no longer applies to the case
    #: (its offence category became known later): never news on its own.
    withdraws_inapplicable: bool = False

    @property
    def alert_id(self) -> str:
        """The alert's id."""
        return self.alert.alert_id


def snapshot_of(alert: Alert) -> str:
    """What a processor remembers of an emitted alert to detect changes: status:severity."""
    return f"{alert.status.value}:{alert.severity.value}"


def alert_changes(
    previous: Mapping[str, str], current: Iterable[AlertState]
) -> list[Alert]:
    """Alerts whose state differs from what was emitted before (``previous``: id → snapshot).

    The caller stores ``snapshot_of`` for each returned alert; re-running with the same
    inputs then returns nothing.
    """
    changes: list[Alert] = []
    for state in current:
        before = previous.get(state.alert_id)
        if before is None and not state.emit_if_new:
            continue
        if before != snapshot_of(state.alert):
            changes.append(state.alert)
    return changes
