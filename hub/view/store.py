"""The view's SQL store: a cache of the bus, rebuilt by replaying the topics.

Two kinds of tables live here:

* **bus tables** (``BusBase``): cases, parties, timeline, alerts, statistics, unmatched
  feedback, applied view actions and the consumer offsets that produced them. Rows and
  offsets are written in one transaction, so a restart resumes exactly after the last
  applied record: nothing lost, nothing applied twice. ``drop_bus_tables`` plus a seek to
  the beginning of every topic rebuilds them (``liangfa view replay``).
* **local tables** (``LocalBase``): users of the view and the outbox of events waiting to
  be produced (view actions, audit records). They are not derived from the bus and
  survive a replay.

Indexes are chosen for the searches the view offers at a million cases: every filter has
an index that also yields the result order (decision date, newest first), so a page is
read from an index range instead of sorting the whole match set.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    String,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from hub.view.keys import name_key, number_key
from hub.view.trigrams import drop_trigram_tables

__all__ = [
    "AlertRow",
    "AppliedActionRow",
    "BusBase",
    "CaseNumberRow",
    "CasePartyRow",
    "CaseRow",
    "CaseUnitRow",
    "ConsumerOffsetRow",
    "DeadLetterRow",
    "LocalBase",
    "LoginThrottleRow",
    "MatcherResolutionRow",
    "OutboxRow",
    "SessionRow",
    "Store",
    "TimelineRow",
    "UnitStatsRow",
    "UnmatchedRow",
    "UserRow",
    "utc_now",
]

logger = logging.getLogger(__name__)

#: The advisory lock replicas take to create and upgrade the store's tables one at a
#: time (PostgreSQL; any constant the hub uses for nothing else).
_SCHEMA_LOCK = 0x4C46_5649_4557  # "LFVIEW"


def utc_now() -> datetime:
    """Aware current time; stored instants are UTC, shown in China time."""
    return datetime.now(UTC)


class AwareDateTime(TypeDecorator[datetime]):
    """An instant stored as UTC and always read back timezone-aware.

    SQLite has no time zone type and returns naive values; PostgreSQL's ``timestamptz``
    returns aware ones. This type makes both return aware UTC so that deadline arithmetic
    never mixes naive and aware times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Reject naive instants: their meaning (UTC? China time?) would be a guess."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: instants must be timezone-aware")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to SQLite's naive values."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class BusBase(DeclarativeBase):
    """Tables derived from the bus; dropped and rebuilt by a replay."""


class LocalBase(DeclarativeBase):
    """Tables the view owns (users, outbox); kept across replays."""


class CaseRow(BusBase):
    """One case (案件) as the case aggregate last described it (``lf.case-state``)."""

    __tablename__ = "view_cases"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(18))
    unit_name: Mapped[str] = mapped_column(String(200), default="")
    case_number: Mapped[str] = mapped_column(String(200), default="")
    stage: Mapped[str] = mapped_column(String(40))
    violation_type: Mapped[str] = mapped_column(String(200), default="")
    domain: Mapped[str] = mapped_column(String(60), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    decided_on: Mapped[date] = mapped_column(Date)
    last_event_at: Mapped[datetime] = mapped_column(AwareDateTime())
    party_summary: Mapped[str] = mapped_column(String(500), default="")
    is_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    # Each filter has an index in result order (decision date, newest first) that also
    # carries the amount, so "type X, at least ¥N" is answered, and counted, from the
    # index alone. Unit filters use view_case_units (a case involves several units).
    __table_args__ = (
        Index("ix_view_cases_decided", "decided_on", "case_id", "amount_fen"),
        Index("ix_view_cases_stage_decided", "stage", "decided_on", "case_id", "amount_fen"),
        Index("ix_view_cases_violation_decided", "violation_type", "decided_on", "case_id",
              "amount_fen"),
        Index("ix_view_cases_amount", "amount_fen", "decided_on"),
    )


class CaseUnitRow(BusBase):
    """A unit involved in a case (owner, police, procuratorate, court) and its role.

    Unit users see exactly the cases their unit is involved in; the decision date and
    the stage are copied here so that "my unit's cases (at this stage), newest first" is
    one index range.
    """

    __tablename__ = "view_case_units"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), default="owner")
    decided_on: Mapped[date] = mapped_column(Date)
    stage: Mapped[str] = mapped_column(String(40), default="")

    __table_args__ = (
        Index("ix_view_case_units_unit", "unit_code", "decided_on", "case_id"),
        Index("ix_view_case_units_unit_stage", "unit_code", "stage", "decided_on", "case_id"),
    )


class CasePartyRow(BusBase):
    """A party (当事人) of a case; searched by part of its name or its whole identifier.
    ``name_key``: the name as searched (:func:`hub.view.keys.name_key`), set on every
    insert."""

    __tablename__ = "view_case_parties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    identifier: Mapped[str] = mapped_column(String(40), default="")
    kind: Mapped[str] = mapped_column(String(40), default="")
    name_key: Mapped[str] = mapped_column(String(300), default=lambda context: name_key(
        context.get_current_parameters()["name"]))

    __table_args__ = (
        Index("ix_view_case_parties_identifier", "identifier", "case_id"),
        Index("ix_view_case_parties_name_key", "name_key", "case_id"),
    )


class CaseNumberRow(BusBase):
    """A document or case number a case is known by (决定书文号, 移送书文号, 公安案件编号…).

    Police feedback quotes whichever number the police have; one indexed table answers
    "which case has this number" whatever kind the number is. ``number_key``: the number
    as searched (:func:`hub.view.keys.number_key`), set on every insert so none lacks it.
    """

    __tablename__ = "view_case_numbers"

    number: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    number_key: Mapped[str] = mapped_column(String(200), default=lambda context: number_key(
        context.get_current_parameters()["number"]))

    __table_args__ = (Index("ix_view_case_numbers_case", "case_id"),
                      Index("ix_view_case_numbers_key", "number_key", "case_id"))


class TimelineRow(BusBase):
    """One step of a case's timeline (案件时间线): an event of the case or a view action."""

    __tablename__ = "view_timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(80))
    occurred_at: Mapped[datetime] = mapped_column(AwareDateTime())
    recorded_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    source_unit: Mapped[str] = mapped_column(String(18), default="")
    summary: Mapped[str] = mapped_column(String(1000), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    __table_args__ = (
        Index("ix_view_timeline_case", "case_id", "occurred_at", "id"),
        Index("ux_view_timeline_event", "case_id", "event_id", unique=True),
    )


class AlertRow(BusBase):
    """An alert (预警): late entry, missing acknowledgement, suspected non-referral lead…

    Content columns come from ``lf.alerts``; the handling columns (assignee,
    acknowledgement, review) change only when a ViewAction comes back through the bus.
    ``status`` is derived from both: resolved on the bus wins, then acknowledged, then
    assigned, else open.
    """

    __tablename__ = "view_alerts"

    alert_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    unit_code: Mapped[str] = mapped_column(String(18), default="")
    kind: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(20), default="WARNING")
    rule_id: Mapped[str] = mapped_column(String(100), default="")
    legal_source: Mapped[str] = mapped_column(String(300), default="")
    raised_at: Mapped[datetime] = mapped_column(AwareDateTime())
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    message: Mapped[str] = mapped_column(String(1000), default="")
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    is_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    bus_status: Mapped[str] = mapped_column(String(20), default="RAISED")
    status: Mapped[str] = mapped_column(String(20), default="open")
    assigned_to: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    review_conclusion: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    __table_args__ = (
        Index("ix_view_alerts_status", "status", "raised_at"),
        Index("ix_view_alerts_unit_status", "unit_code", "status", "raised_at"),
    )


class UnitStatsRow(BusBase):
    """One unit's figures for one month (``lf.stats``), the material of the 通报."""

    __tablename__ = "view_unit_stats"

    unit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    penalty_cases_entered: Mapped[int] = mapped_column(Integer, default=0)
    penalty_cases_entered_late: Mapped[int] = mapped_column(Integer, default=0)
    referrals: Mapped[int] = mapped_column(Integer, default=0)
    receipts: Mapped[int] = mapped_column(Integer, default=0)
    filing_decisions: Mapped[int] = mapped_column(Integer, default=0)
    alerts_raised: Mapped[int] = mapped_column(Integer, default=0)
    feedback_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    median_days_to_decision: Mapped[float | None] = mapped_column(Float, nullable=True)
    arrest_requests: Mapped[int] = mapped_column(Integer, default=0)
    transfers_for_prosecution: Mapped[int] = mapped_column(Integer, default=0)
    non_filing_explanations: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())

    __table_args__ = (Index("ix_view_unit_stats_month", "month", "unit_code"),)


class UnmatchedRow(BusBase):
    """Feedback the matcher could not tie to a case (待匹配反馈), waiting for a person."""

    __tablename__ = "view_unmatched"

    unmatched_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    arrived_case_id: Mapped[str] = mapped_column(String(36), default="")
    feedback_unit_code: Mapped[str] = mapped_column(String(18), default="")
    feedback_type: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(AwareDateTime())
    police_case_number: Mapped[str] = mapped_column(String(200), default="")
    referral_number: Mapped[str] = mapped_column(String(200), default="")
    agency_decision_number: Mapped[str] = mapped_column(String(200), default="")
    party_name: Mapped[str] = mapped_column(String(300), default="")
    party_identifier: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(20), default="open")
    resolved_case_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    feedback: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)

    __table_args__ = (Index("ix_view_unmatched_status", "status", "received_at"),)


class AppliedActionRow(BusBase):
    """A ViewAction as it came back through ``lf.view-actions``.

    Kept so that an action that arrives before its alert, feedback or case (topics are
    read in parallel) is applied when that arrives, and so that a replay reaches the
    same state.
    """

    __tablename__ = "view_applied_actions"

    action_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64))
    action_type: Mapped[str] = mapped_column(String(60))
    target_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_unit_code: Mapped[str] = mapped_column(String(18), default="")
    occurred_at: Mapped[datetime] = mapped_column(AwareDateTime())
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)

    __table_args__ = (
        Index("ix_view_applied_actions_target", "target_id", "occurred_at"),
        Index("ix_view_applied_actions_case", "case_id"),
    )


class MatcherResolutionRow(BusBase):
    """A FeedbackMatched as the view read it: the matcher tied feedback to its case.

    Kept because ``lf.unmatched`` and the matcher's ``FeedbackMatched`` are read in
    parallel: when the match is read first, the parked item that arrives after it must
    come in already resolved rather than reopen the queue.
    """

    __tablename__ = "view_matcher_resolutions"

    feedback_event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    method: Mapped[str] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime())


class ConsumerOffsetRow(BusBase):
    """Next offset to read per topic partition, committed with the rows it produced."""

    __tablename__ = "view_consumer_offsets"

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime())


class DeadLetterRow(BusBase):
    """A bus record the store refused (or had to alter to accept): where it was, why, and
    what became of it. The consumer moves on instead of retrying it forever."""

    __tablename__ = "view_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(200), default="")
    event_type: Mapped[str] = mapped_column(String(200), default="")
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(1000))
    recorded_at: Mapped[datetime] = mapped_column(AwareDateTime())


class UserRow(LocalBase):
    """A person who may log in to the view."""

    __tablename__ = "view_users"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    unit_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SessionRow(LocalBase):
    """A login session (登录会话): the token carries only its id, so logging out, disabling
    the user or changing their role or unit ends or changes the session at once."""

    __tablename__ = "view_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    expires_at: Mapped[datetime] = mapped_column(AwareDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(100), nullable=True)


class LoginThrottleRow(LocalBase):
    """Failed logins of one user name or one client address within the current window,
    and until when further attempts are refused (shared by replicas on one store)."""

    __tablename__ = "view_login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(AwareDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)


class OutboxRow(LocalBase):
    """An event the view has decided to produce but the bus has not acknowledged yet.

    A request writes here and returns; the relay produces rows in id order with an
    idempotent producer and marks them sent. Nothing is lost if Kafka is down, and the
    view still shows nothing until the event comes back through the bus.
    """

    __tablename__ = "view_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(64))
    record_type: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)

    __table_args__ = (Index("ix_view_outbox_pending", "sent_at", "id"),)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web requests read while the consumer writes; NORMAL sync is safe in WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


class Store:
    """Engine and sessions of one view store (SQLite file or PostgreSQL database)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create every table and index that does not exist yet, and add to a store made
        by an older version the columns it lacks (:mod:`hub.view.upgrade`).

        In one transaction, on PostgreSQL under an advisory lock: replicas of the view
        started together against one database would otherwise each see a table or a
        column missing and each create it, and all but one would fail their start.
        """
        from hub.view.upgrade import upgrade_bus_tables

        with self.engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
            BusBase.metadata.create_all(connection)
            LocalBase.metadata.create_all(connection)
            upgrade_bus_tables(connection)

    def drop_bus_tables(self) -> None:
        """Forget everything learnt from the bus (users and the outbox stay)."""
        with self.engine.begin() as connection:
            drop_trigram_tables(connection)
            BusBase.metadata.drop_all(connection)
        self.create_all()
        logger.info("dropped and recreated the view's bus tables in %s", self.dialect)

    def analyze(self) -> None:
        """Refresh the planner's statistics (after a bulk load or a replay)."""
        with self.engine.begin() as connection:
            connection.execute(text("ANALYZE"))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, and between tests)."""
        self.engine.dispose()
