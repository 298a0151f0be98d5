"""Settings of the prosecutor view (检察监督视图), read from ``LIANGFA_VIEW_*`` variables.

Everything that differs between the embedded demo and a production deployment is here:
the store URL, the bus, the session secret and the demo credentials. Nothing secret has
a production default: without a configured session secret a random one is made per
process (sessions then end on restart), and demo users exist only when asked for.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.errors import ConfigError
from hub.paths import default_home
from hub.view.units import default_units_file

__all__ = ["DEFAULT_DEMO_PASSWORD", "DEMO_PASSWORD_ENV", "MINIMUM_METRICS_TOKEN", "Topics",
           "ViewSettings"]

#: The password of demo users created by ``liangfa view serve --demo-users`` run by hand
#: (tests, a laptop). ``liangfa up`` never uses it: it makes one per home
#: (``hub.local.hub_services``), since any local user could otherwise log in as the
#: prosecutor. Override with :data:`DEMO_PASSWORD_ENV`.
DEFAULT_DEMO_PASSWORD = "liangfa-demo-2024"  # noqa: S105 - documented demo credential
DEMO_PASSWORD_ENV = "LIANGFA_VIEW_DEMO_PASSWORD"  # noqa: S105 - a variable's name


#: Shortest metrics token taken (a guessable one would open the per-unit alert counts).
MINIMUM_METRICS_TOKEN = 16


def _default_database_url() -> str:
    return f"sqlite:///{default_home() / 'view' / 'view.sqlite3'}"


class Topics(BaseSettings):
    """Topic names the view reads and writes (DESIGN.md, "Topics and security model")."""

    model_config = SettingsConfigDict(frozen=True, env_prefix="LIANGFA_VIEW_TOPIC_")

    case_state: str = "lf.case-state"
    case_events: str = "lf.case-events"
    alerts: str = "lf.alerts"
    stats: str = "lf.stats"
    unmatched: str = "lf.unmatched"
    view_actions: str = "lf.view-actions"
    #: Where the view's audit records go: the intake, unchained; the audit sealer appends
    #: them to the hash-chained ``lf.audit`` (hub/audit).
    audit: str = "lf.audit-intake"

    def consumed(self) -> list[str]:
        """Every topic whose records build the store, in no particular order.

        ``lf.case-events`` is read for a few event types only (PenaltyCaseRecorded and
        AgencyCaseOpened: the violation type and amounts the case state does not carry;
        the matcher's matches), chosen by their ``ce_type`` header without decoding the
        others.
        """
        return [
            self.case_state,
            self.case_events,
            self.alerts,
            self.stats,
            self.unmatched,
            self.view_actions,
        ]


class ViewSettings(BaseSettings):
    """Configuration of one view instance; each instance keeps its own store."""

    model_config = SettingsConfigDict(frozen=True, env_prefix="LIANGFA_VIEW_")

    database_url: str = Field(
        default_factory=_default_database_url,
        description="SQLAlchemy URL of the store: a SQLite file by default, "
        "postgresql+psycopg://… in production. The store is a cache of the bus.",
    )
    bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers; None runs the view without the bus (tests "
        "of the read side only: actions then wait in the outbox).",
    )
    registry_url: str | None = Field(default=None, description="Confluent-compatible registry.")
    group_id: str = Field(
        default="liangfa-view",
        description="Consumer group the view reports its progress under; the offsets "
        "that count are the ones stored in the SQL store with the rows.",
    )
    topics: Topics = Field(default_factory=Topics)
    session_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="Key that signs session cookies and CSRF tokens. Set it in production "
        "so that sessions survive a restart and are shared by replicas.",
    )
    session_hours: int = Field(default=8, ge=1, le=24 * 7)
    login_max_failures_per_user: int = Field(
        default=5, ge=1, le=1000,
        description="Failed logins of one user name within the window before it is locked.",
    )
    login_max_failures_per_address: int = Field(
        default=20, ge=1, le=100_000,
        description="Failed logins from one client address within the window before the "
        "address is locked (guessing across many user names).",
    )
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure (set it when served over TLS)."
    )
    seed_demo_users: bool = Field(
        default=False, description="Create the demo users (embedded stack only)."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a Prometheus on another host presents to read /metrics "
        "(the scraper on this host needs none; without a token nobody else reads them).",
    )
    metrics_token_file: Path | None = Field(
        default=None,
        description="A file holding the metrics token instead (the compose install: the "
        "view and Prometheus read the same file).",
    )
    demo_password: SecretStr = Field(default=SecretStr(DEFAULT_DEMO_PASSWORD))
    demo_unit_codes: list[str] = Field(
        default_factory=list,
        description="Unit codes that get a demo unit user named unit-<code>.",
    )
    units_file: Path | None = Field(
        default_factory=default_units_file,
        description="Unit registry YAML (names for display); the demo county's by default.",
    )
    operator_unit_code: str | None = Field(
        default=None,
        description="统一社会信用代码 of the procuratorate operating the view: the source "
        "unit of its ViewAction and AuditRecorded events. Default: the registry's first "
        "procuratorate.",
    )
    agency_requests: bool = Field(
        default=False,
        description="Let an agency's unit users send 案件咨询 and 邀请提前介入 on their own "
        "cases from the view (hub/view/acts.py). They go on lf.ingest.<agency>.view-acts as "
        "the agency: with Kafka ACLs the view's principal needs WRITE and CREATE there, "
        "which `liangfa acl` does not grant yet (operator setting).",
    )
    users_file: Path | None = Field(
        default=None,
        description="YAML list of users {username, role, unit_code, password_hash, active} "
        "(argon2 hashes made with `liangfa view hash-password`).",
    )
    default_language: Literal["zh", "en"] = "zh"
    consume: bool = Field(default=True, description="Run the bus consumer inside the app.")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    search_count_limit: int = Field(
        default=10_000,
        ge=100,
        description="Searches count matches up to this many, then report 'more than': an "
        "exact count over a million cases costs more than the page itself.",
    )

    def scrape_token(self) -> SecretStr | None:
        """The metrics token, from ``metrics_token`` or ``metrics_token_file``; a token
        shorter than :data:`MINIMUM_METRICS_TOKEN` characters or still the install's
        placeholder is refused (it would be a working token anyone can guess)."""
        if self.metrics_token is not None:
            token, where = self.metrics_token.get_secret_value().strip(), "metrics_token"
        elif self.metrics_token_file is None:
            return None
        else:
            where = str(self.metrics_token_file)
            try:
                token = self.metrics_token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{where}: the metrics token file cannot be read: {exc}"
                                  ) from exc
        if len(token) < MINIMUM_METRICS_TOKEN or "REPLACE-ME" in token.upper():
            raise ConfigError(f"{where}: the metrics token must be at least "
                              f"{MINIMUM_METRICS_TOKEN} characters and not the placeholder "
                              "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return SecretStr(token)
