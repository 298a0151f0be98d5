"""The stream worker's own Prometheus metrics.

Labels are low-cardinality on purpose: processor names, error types and alert kinds are
closed sets; unit codes appear only on the security counter, where the unit *is* the
finding an operator must act on.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ALERTS",
    "CONSUMER_LAG",
    "DEAD_LETTERED",
    "DUPLICATES",
    "HANDLE_SECONDS",
    "PROCESSED",
    "SOURCE_MISMATCH",
    "STATE_DROPPED",
]

PROCESSED = Counter(
    "liangfa_streams_processed_total",
    "Records a stream processor handled successfully.",
    ["processor"],
)
DEAD_LETTERED = Counter(
    "liangfa_streams_dead_lettered_total",
    "Records sent to lf.dlq.streams, by processor and error type.",
    ["processor", "reason"],
)
DUPLICATES = Counter(
    "liangfa_streams_duplicates_total",
    "Records dropped because their event id was already processed (at-least-once replays).",
    ["processor"],
)
SOURCE_MISMATCH = Counter(
    "liangfa_streams_source_mismatch_total",
    "Events whose declared source unit is not the unit owning the ingest topic "
    "(a unit writing on another's behalf: a security finding).",
    ["ingest_unit"],
)
ALERTS = Counter(
    "liangfa_streams_alerts_total",
    "Alerts emitted, by kind and status (RAISED, RESOLVED, ...).",
    ["kind", "status"],
)
CONSUMER_LAG = Gauge(
    "liangfa_streams_consumer_lag",
    "End offset minus the worker's committed offset, per assigned partition.",
    ["topic", "partition"],
)
HANDLE_SECONDS = Histogram(
    "liangfa_streams_handle_seconds",
    "Time a processor spent on one record (decode, decide, produce), retries included.",
    ["processor"],
)
STATE_DROPPED = Counter(
    "liangfa_streams_state_dropped_total",
    "Parts of a case state document the native engine dropped to keep the worker going: "
    "stored events or timeline entries beyond the per-case bound (trimmed), stored "
    "events that no longer validate (unreadable), documents too large to write (the "
    "triggering records went to lf.dlq.streams).",
    ["what"],
)

NOT_ENTITLED = Counter(
    "liangfa_streams_not_entitled_total",
    "Events refused because their unit may not add them to the case (entitlements.yaml)",
    ["unit", "event_type"],
)

RESTORE_SECONDS = Gauge(
    "liangfa_streams_restore_seconds",
    "How long the last assignment took to restore its stores from their changelogs",
)
CALENDAR_UNKNOWN_YEARS = Gauge(
    "liangfa_calendar_unknown_years",
    "Years whose holidays the working-day calendar does not know (counted Monday-Friday: "
    "working-day deadlines in them may be off until an override file covers them)",
)
