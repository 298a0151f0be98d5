"""Open alerts as Prometheus gauges, read from the view's alert table when /metrics is scraped.

Why here: the view is the one process that holds every alert with its handling state (a
prosecutor's acknowledgement comes back through the bus to it), so "how many alerts nobody
has taken up, per kind and unit, and since when" is a query on its table, not a counter a
worker could keep. Read at scrape time, the figure cannot drift from what the pages show.

Label sets stay stable: a (kind, unit) pair once seen is reported at 0 when its last alert
is taken up, instead of vanishing, so ``increase`` and ``delta`` over it stay meaningful.
"""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy import func, select

from hub.view.queries import _OPEN_ALERT_STATUSES
from hub.view.store import AlertRow, Store

__all__ = ["OLDEST_OPEN_ALERT", "OPEN_ALERTS", "refresh_alert_gauges"]

OPEN_ALERTS = Gauge(
    "liangfa_view_open_alerts",
    "Alerts (预警) open or assigned and not yet acknowledged or resolved, by kind and unit.",
    ["kind", "unit"],
)
OLDEST_OPEN_ALERT = Gauge(
    "liangfa_view_oldest_open_alert_timestamp_seconds",
    "When the oldest open alert was raised (Unix seconds); 0 when no alert is open.",
)
_seen: set[tuple[str, str]] = set()


def refresh_alert_gauges(store: Store) -> None:
    """Set the open-alert gauges from the alert table (one grouped query)."""
    with store.session() as session:
        rows = session.execute(
            select(AlertRow.kind, AlertRow.unit_code, func.count(), func.min(AlertRow.raised_at))
            .where(AlertRow.status.in_(_OPEN_ALERT_STATUSES))
            .group_by(AlertRow.kind, AlertRow.unit_code)
        ).all()
    current = {(str(kind), str(unit)): int(count) for kind, unit, count, _ in rows}
    for key in _seen - current.keys():
        OPEN_ALERTS.labels(*key).set(0)
    for key, count in current.items():
        OPEN_ALERTS.labels(*key).set(count)
    _seen.update(current)
    oldest = [raised for *_, raised in rows if raised is not None]
    OLDEST_OPEN_ALERT.set(min(oldest).timestamp() if oldest else 0)
