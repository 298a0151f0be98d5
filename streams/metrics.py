"""The stream worker's own Prometheus metrics.

Labels are low-cardinality on purpose: processor names, error types and alert kinds are
closed sets; unit codes appear on the security counters, where the unit *is* the
finding an operator must act on, and on the feed-freshness gauges, one series per unit
(a province's ~3,000 units are 3,000 series per worker: small for Prometheus).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from hub.calendar import CHINA_TZ, is_working_day

__all__ = [
    "ALERTS",
    "CONSUMER_LAG",
    "DEAD_LETTERED",
    "DUPLICATES",
    "FRONTIER_AT_WALL_TIME",
    "FRONTIER_LAG",
    "HANDLE_SECONDS",
    "PROCESSED",
    "REPARTITIONS_PURGED",
    "REPARTITION_PURGE_FAILURES",
    "SOURCE_MISMATCH",
    "SOURCE_PROGRESS_LAG",
    "STATE_DROPPED",
    "UNIT_LAST_EVENT",
    "UNIT_SILENT_WORKING_HOURS",
    "unit_event_seen",
    "working_hours_between",
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
FRONTIER_LAG = Gauge(
    "liangfa_streams_input_frontier_lag_seconds",
    "How far the input frontier (the instant before which the group has processed every "
    "input record) is behind the clock: the hub's lag in time, and how late timed "
    "judgements (deadlines, feedback's grace) are made.",
)
FRONTIER_AT_WALL_TIME = Gauge(
    "liangfa_streams_input_frontier_at_wall_time",
    "1 while the input frontier is further behind the clock than its limit, so timed "
    "judgements are made at wall time (LIANGFA_ENGINE_FRONTIER_MAX_WAIT_S); else 0.",
)
SOURCE_PROGRESS_LAG = Gauge(
    "liangfa_streams_source_progress_lag_seconds",
    "How far behind the clock a live connector has confirmed reading its source to the "
    "end (its progress mark): timed judgements wait for the slowest, up to the frontier's "
    "limit. A connector stopped or silent for LIANGFA_ENGINE_SOURCE_STALE_S has no series.",
    ["unit", "connector"],
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
REFUSED_TAKEN = Counter(
    "liangfa_streams_refused_taken_total",
    "Refused events that joined their case when checked again (their unit entitled since, "
    "a forward read later, say); their dead letters need no replay",
    ["unit", "event_type"],
)
ENTITLEMENT_REVIEWS = Counter(
    "liangfa_streams_entitlement_reviews_total",
    "Events a case took whose senders its relations no longer entitle, once they changed "
    "(a referral naming another police organ, the proven owner's first event): raised "
    "for a person as ENTITLEMENT_REVIEW alerts; the events stay",
    ["unit", "event_type"],
)
AWAITING_CASE = Counter(
    "liangfa_streams_awaiting_case_total",
    "Events not entitled to their case yet, kept (unseen) while the case may be unread: "
    "checked again when the case changes, refused when their wait ends",
    ["unit", "event_type"],
)

REPARTITIONS_PURGED = Counter(
    "liangfa_streams_repartition_purges_total",
    "Partitions of the engine's repartition topics whose consumed records were deleted "
    "(DeleteRecords below the group's committed offset; the statistics feed no further "
    "than its last snapshot)",
    ["topic"],
)
REPARTITION_PURGE_FAILURES = Counter(
    "liangfa_streams_repartition_purge_failures_total",
    "DeleteRecords requests on the engine's repartition topics that failed (tried again "
    "at the next interval; a missing Delete ACL shows here)",
    ["topic"],
)

RESTORE_SECONDS = Gauge(
    "liangfa_streams_restore_seconds",
    "How long the last assignment took to restore its stores from their changelogs",
)
INDEX_LOAD_SECONDS = Gauge(
    "liangfa_streams_matching_index_load_seconds",
    "How long the worker's matching index took to load, from the load's start as the "
    "worker starts (a rebuild on an empty data directory; nothing is processed before "
    "it is ready)",
)
HEAP_TRIM_SECONDS = Histogram(
    "liangfa_streams_heap_trim_seconds",
    "Time the worker spent handing its C heap's free pages back to the system "
    "(malloc_trim, every few seconds between batches)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
CALENDAR_UNKNOWN_YEARS = Gauge(
    "liangfa_calendar_unknown_years",
    "Years whose holidays the working-day calendar does not know (counted Monday-Friday: "
    "working-day deadlines in them may be off until an override file covers them)",
)


UNIT_LAST_EVENT = Gauge(
    "liangfa_streams_unit_last_event_timestamp_seconds",
    "Unix time this worker last received an ingest event from a unit (feed freshness).",
    ["unit"],
)
UNIT_SILENT_WORKING_HOURS = Gauge(
    "liangfa_streams_unit_silent_working_hours",
    "Working hours since this worker last received an ingest event from a unit: hours "
    "that fall on PRC working days (China time, holidays and adjusted workdays from the "
    "working-day calendar), computed when scraped.",
    ["unit"],
)

#: Beyond this many days of silence the count stops growing (it is an alert already).
_SILENCE_HORIZON = timedelta(days=400)
_last_seen: dict[str, float] = {}
#: the gauge child of each unit's last event (see unit_event_seen)
_last_event_gauges: dict[str, Any] = {}
_last_seen_lock = threading.Lock()


def working_hours_between(start: datetime, end: datetime) -> float:
    """Hours of ``[start, end)`` that fall on working days in China time.

    A unit that exports on Friday evening and again on Monday morning was silent for a
    few working hours, not for 60 clock hours; a unit silent over the National Day week
    is not late. Whole working days count 24 hours: units export at any hour.
    """
    if end <= start:
        return 0.0
    start = max(start, end - _SILENCE_HORIZON).astimezone(CHINA_TZ)
    end = end.astimezone(CHINA_TZ)
    total = 0.0
    day = start.date()
    while day <= end.date():
        if is_working_day(day):
            day_start = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)
            overlap = min(end, day_start + timedelta(days=1)) - max(start, day_start)
            total += max(overlap.total_seconds(), 0.0) / 3600
        day += timedelta(days=1)
    return total


def unit_event_seen(unit: str, at: float | None = None) -> None:
    """Note that an ingest event from ``unit`` arrived at Unix time ``at`` (now).

    The engine's normalize step calls this once per ingest event it accepts; the working
    hours since are computed only when Prometheus scrapes. Cheap per record: one dict
    write, and a gauge child created at a unit's first event.
    """
    when = time.time() if at is None else at
    with _last_seen_lock:
        previous = _last_seen.get(unit)
        if previous is not None and previous >= when:
            return
        _last_seen[unit] = when
    gauge = _last_event_gauges.get(unit)
    if gauge is None:  # labels() per event was 2% of the engine: a lock and checks
        UNIT_SILENT_WORKING_HOURS.labels(unit).set_function(lambda: _silent_hours(unit))
        gauge = _last_event_gauges[unit] = UNIT_LAST_EVENT.labels(unit)
    gauge.set(when)


def _silent_hours(unit: str) -> float:
    with _last_seen_lock:
        last = _last_seen.get(unit)
    if last is None:
        return 0.0
    return working_hours_between(datetime.fromtimestamp(last, tz=UTC), datetime.now(UTC))
