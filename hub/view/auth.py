"""Who may see what in the view: users, argon2 passwords, signed sessions, CSRF, roles.

Roles (角色):

* ``prosecutor`` (检察官): every case, every queue, reports and actions.
* ``unit`` (成员单位用户): only the cases its unit is involved in and that unit's alerts
  (its inbox); may acknowledge and assign its own alerts.
* ``operations`` (运维): status and metrics, never case data.

Sessions are signed tokens (HMAC-SHA256 over user, session id and expiry) backed by a
session row in the store: the signature rejects forgeries without a database read, and
the row (one primary-key read joined with the user, per request) makes logout, a disabled
user and a changed role or unit take effect at once. Role and unit are read from the user
row, never trusted from the token. Tokens are carried in an HttpOnly SameSite=Lax cookie
for the browser or as a bearer token for the REST API. Forms and cookie-authenticated API
writes must carry a CSRF token derived from the session token, so another site cannot make
a logged-in browser act.

User names are matched case-insensitively (the README writes ``unit-11429901030089405N``,
the demo user is stored in lower case). Failed logins are counted per user name and per
client address (``LoginThrottle``); past the limit both the web form and the token
endpoint refuse for a while, even the right password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import SecretStr
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request

from hub.errors import ConfigError
from hub.view.settings import ViewSettings
from hub.view.store import LoginThrottleRow, SessionRow, Store, UserRow, utc_now

__all__ = [
    "ROLES",
    "LoginThrottle",
    "Principal",
    "Role",
    "SessionSigner",
    "Sessions",
    "authenticate",
    "clear_lockout",
    "find_user",
    "hash_password",
    "scraper_allowed",
    "seed_users",
    "set_active",
]

logger = logging.getLogger(__name__)

Role = Literal["prosecutor", "unit", "operations"]
ROLES: tuple[Role, ...] = ("prosecutor", "unit", "operations")

_hasher = PasswordHasher()
#: How long ended sessions and stale failure counts are kept before they are deleted.
_KEEP = timedelta(days=1)
#: Locks that serialize login attempts per user name and address (``serialized``).
_THROTTLE_STRIPES = 64
#: Verified against when the user does not exist, so that timing does not tell
#: "no such user" from "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2id hash of the password (parameters: argon2-cffi's defaults)."""
    return _hasher.hash(password)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated person behind a request."""

    username: str
    role: Role
    unit_code: str | None
    display_name: str
    token: str
    via: Literal["cookie", "bearer"]
    session_id: str = ""

    @property
    def sees_all_cases(self) -> bool:
        """Prosecutors see the whole province; unit users their unit; operations none."""
        return self.role == "prosecutor"

    @property
    def may_see_cases(self) -> bool:
        """Operations staff get status and metrics only."""
        return self.role in ("prosecutor", "unit")


def _find(session: Session, username: str) -> UserRow | None:
    user = session.get(UserRow, username)
    if user is None and username:
        matches = session.scalars(
            select(UserRow).where(func.lower(UserRow.username) == username.lower()).limit(2)
        ).all()
        # Two stored names differing only in case are ambiguous: neither logs in by a
        # third spelling (the users file refuses such pairs; this guards older stores).
        user = matches[0] if len(matches) == 1 else None
    return user


def find_user(store: Store, username: str) -> UserRow | None:
    """The user of a name as people write it (exact spelling first, then any case)."""
    with store.session() as session:
        user = _find(session, username.strip())
        if user is not None:
            session.expunge(user)
        return user


def authenticate(store: Store, username: str, password: str) -> UserRow | None:
    """The active user with these credentials, or None (never says which part was wrong).

    The name matches whatever its case: people type the README's
    ``unit-11429901030089405N`` while the store holds it in lower case.
    """
    with store.session() as session:
        user = _find(session, username.strip())
        stored = user.password_hash if user is not None and user.active else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if user is None or not user.active:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = _hasher.hash(password)
        session.expunge(user)
        return user


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session tokens and their CSRF tokens with one secret key."""

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        self._key = hashlib.sha256(("liangfa-view-session|" + secret).encode()).digest()
        self._csrf_key = hashlib.sha256(("liangfa-view-csrf|" + secret).encode()).digest()
        self.lifetime = lifetime

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def issue(
        self, user: UserRow, *, now: datetime | None = None, session_id: str | None = None
    ) -> tuple[str, datetime]:
        """A token for the user and when it expires (``Sessions.open`` records it)."""
        expires = (now or utc_now()) + self.lifetime
        claims = {
            "u": user.username,
            "r": user.role,
            "c": user.unit_code,
            "n": user.display_name,
            "e": int(expires.timestamp()),
            "s": session_id or secrets.token_urlsafe(18),
        }
        body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        return f"{body}.{self._sign(body)}", expires

    def verify(
        self, token: str, via: Literal["cookie", "bearer"], *, now: datetime | None = None
    ) -> Principal | None:
        """The principal of a valid, unexpired token; None for anything else."""
        body, _, signature = token.partition(".")
        if not body or not signature or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("r") not in ROLES:
            return None
        if int(claims.get("e", 0)) < int((now or utc_now()).timestamp()):
            return None
        return Principal(
            username=str(claims["u"]),
            role=claims["r"],
            unit_code=claims.get("c"),
            display_name=str(claims.get("n") or claims["u"]),
            token=token,
            via=via,
            session_id=str(claims.get("s") or ""),
        )

    def csrf_token(self, session_token: str) -> str:
        """The CSRF token bound to one session (synchronizer token, no server state)."""
        return _b64(hmac.new(self._csrf_key, session_token.encode(), hashlib.sha256).digest())

    def csrf_valid(self, session_token: str, candidate: str | None) -> bool:
        """Whether a submitted CSRF token belongs to this session."""
        return bool(candidate) and hmac.compare_digest(
            self.csrf_token(session_token), candidate or ""
        )


class Sessions:
    """Server-side session records: opened at login, checked on every request, revoked
    at logout; a disabled user's sessions stop working at their next request."""

    def __init__(self, store: Store, signer: SessionSigner) -> None:
        self.store = store
        self.signer = signer

    def open(
        self, user: UserRow, *, client_address: str | None = None, now: datetime | None = None
    ) -> tuple[str, datetime]:
        """Record a new session for the user; its token and expiry."""
        now = now or utc_now()
        session_id = secrets.token_urlsafe(18)
        token, expires = self.signer.issue(user, now=now, session_id=session_id)
        with self.store.session() as session:
            # Forget sessions that ended over a day ago (kept a day to answer "who was
            # logged in"); done at login, so the table stays the size of its users' use.
            session.execute(delete(SessionRow).where(SessionRow.expires_at < now - _KEEP))
            session.add(
                SessionRow(
                    session_id=session_id,
                    username=user.username,
                    created_at=now,
                    expires_at=expires,
                    client_address=(client_address or "")[:100] or None,
                )
            )
        return token, expires

    def principal(
        self, token: str, via: Literal["cookie", "bearer"], *, now: datetime | None = None
    ) -> Principal | None:
        """The principal of a valid token whose session is open and whose user is active,
        with the user's role and unit as they are now (not as they were at login)."""
        now = now or utc_now()
        claimed = self.signer.verify(token, via, now=now)
        if claimed is None or not claimed.session_id:
            return None
        with self.store.session() as session:
            row = session.execute(
                select(SessionRow, UserRow)
                .join(UserRow, UserRow.username == SessionRow.username)
                .where(SessionRow.session_id == claimed.session_id)
            ).first()
            if row is None:
                return None
            record, user = row
            if record.revoked_at is not None or record.expires_at <= now or not user.active:
                return None
            if user.role not in ROLES:
                return None
            return replace(
                claimed,
                username=user.username,
                role=user.role,
                unit_code=user.unit_code,
                display_name=user.display_name or user.username,
            )

    def revoke(self, principal: Principal, *, now: datetime | None = None) -> None:
        """End one session (logout); its token is refused from now on."""
        with self.store.session() as session:
            session.execute(
                update(SessionRow)
                .where(SessionRow.session_id == principal.session_id)
                .where(SessionRow.revoked_at.is_(None))
                .values(revoked_at=now or utc_now())
            )


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How many failed logins, within which window, lock a user name or an address."""

    per_user: int
    per_address: int
    window: timedelta
    lockout: timedelta

    @classmethod
    def from_settings(cls, settings: ViewSettings) -> ThrottlePolicy:
        """The policy a view's settings give."""
        return cls(
            per_user=settings.login_max_failures_per_user,
            per_address=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_window_minutes),
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )


class LoginThrottle:
    """Counts failed logins per user name and per client address in the store and locks
    either for a while past its limit, so guessing a password online takes years instead
    of minutes. The clock is injectable so tests move time instead of sleeping."""

    def __init__(
        self, store: Store, policy: ThrottlePolicy,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self._stripes = [threading.Lock() for _ in range(_THROTTLE_STRIPES)]

    @staticmethod
    def _keys(username: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("user", "user:" + username.strip().lower()[:150])]
        if address:
            keys.append(("address", "addr:" + address[:150]))
        return keys

    @contextmanager
    def serialized(self, username: str, address: str | None) -> Iterator[None]:
        """Hold the locks of the user name's and the address's stripes (in one order, so two
        attempts never wait on each other crosswise) for one check-verify-count.

        Within this process only: replicas of the view each let one attempt through at
        a time, so parallel guesses get at most one more check per replica. Striped, so
        the locks do not grow with the names an attacker tries.
        """
        stripes = sorted({hash(key) % len(self._stripes)
                          for _, key in self._keys(username, address)})
        with ExitStack() as held:
            for stripe in stripes:
                held.enter_context(self._stripes[stripe])
            yield

    def locked_until(self, username: str, address: str | None) -> datetime | None:
        """When the later of the user name's and the address's lock ends; None if open."""
        now = self.clock()
        with self.store.session() as session:
            ends = [
                row.locked_until
                for _, key in self._keys(username, address)
                if (row := session.get(LoginThrottleRow, key)) is not None
                and row.locked_until is not None
                and row.locked_until > now
            ]
        return max(ends) if ends else None

    def failed(self, username: str, address: str | None) -> datetime | None:
        """Count a failure; when this one locks the name or the address, until when.

        Two replicas counting the first failure of a name at once both insert its row;
        the loser counts again on the winner's row.
        """
        try:
            return self._failed(username, address)
        except IntegrityError:
            return self._failed(username, address)

    def _failed(self, username: str, address: str | None) -> datetime | None:
        now = self.clock()
        locked: datetime | None = None
        with self.store.session() as session:
            # Counts of names guessed once and never again would pile up: drop stale ones.
            session.execute(
                delete(LoginThrottleRow)
                .where(LoginThrottleRow.window_started_at < now - _KEEP)
                .where(
                    (LoginThrottleRow.locked_until.is_(None))
                    | (LoginThrottleRow.locked_until < now)
                )
            )
            for kind, key in self._keys(username, address):
                limit = self.policy.per_user if kind == "user" else self.policy.per_address
                row = session.get(LoginThrottleRow, key)
                if row is None:
                    row = LoginThrottleRow(key=key, failures=0, window_started_at=now)
                    session.add(row)
                if row.window_started_at + self.policy.window <= now or (
                    row.locked_until is not None and row.locked_until <= now
                ):
                    row.failures, row.window_started_at, row.locked_until = 0, now, None
                row.failures += 1
                if row.failures >= limit and row.locked_until is None:
                    row.locked_until = now + self.policy.lockout
                if row.locked_until is not None:
                    locked = max(locked or row.locked_until, row.locked_until)
        return locked

    def succeeded(self, username: str) -> None:
        """A correct password clears the user name's count (the address keeps its own)."""
        with self.store.session() as session:
            row = session.get(LoginThrottleRow, self._keys(username, None)[0][1])
            if row is not None:
                session.delete(row)


def clear_lockout(store: Store, *, username: str | None = None,
                  address: str | None = None) -> int:
    """Forget the failed logins of a user name and/or a client address; how many."""
    keys = [key for _, key in LoginThrottle._keys(username or "", address)]
    if not username:
        keys = keys[1:]
    with store.session() as session:
        removed = 0
        for key in keys:
            row = session.get(LoginThrottleRow, key)
            if row is not None:
                session.delete(row)
                removed += 1
        return removed


def _upsert_user(
    store: Store,
    username: str,
    password_hash: str,
    role: str,
    unit_code: str | None,
    display_name: str,
    active: bool | None = True,
) -> None:
    """Create or update a user; ``active=None`` keeps an existing user's flag (a demo user
    disabled with ``liangfa view disable-user`` stays disabled across restarts)."""
    with store.session() as session:
        user = session.get(UserRow, username)
        if user is None:
            session.add(
                UserRow(
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    unit_code=unit_code,
                    display_name=display_name,
                    active=True if active is None else active,
                )
            )
        else:
            if user.password_hash != password_hash:
                # A changed password ends the user's sessions: the old one may be known
                # to someone else, whose session must not outlive it.
                _revoke_sessions(session, username)
            user.password_hash = password_hash
            user.role = role
            user.unit_code = unit_code
            user.display_name = display_name
            if active is not None:
                user.active = active


def _demo_password_hash(store: Store, usernames: list[str], password: str) -> str:
    """The demo users' stored hash while it is still the demo password's, else a new one.

    Hashing again at every start (a new salt) would look like a changed password and end
    every demo user's sessions at each restart of the view (see ``_upsert_user``).
    """
    with store.session() as session:
        stored = session.scalars(select(UserRow.password_hash)
                                 .where(UserRow.username.in_(usernames))).first()
    if stored is not None:
        try:
            if _hasher.verify(stored, password):
                return stored
        except (VerificationError, InvalidHashError):
            pass
    return hash_password(password)


def _revoke_sessions(session: Session, username: str) -> None:
    session.execute(
        update(SessionRow)
        .where(SessionRow.username == username)
        .where(SessionRow.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


def _load_users_file(path: Path) -> list[dict[str, str | None]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read users file {path}: {exc}") from exc
    entries = document.get("users", []) if isinstance(document, dict) else document
    problems: list[str] = []
    users: list[dict[str, str | None]] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries or []):
        if not isinstance(entry, dict):
            problems.append(f"users[{index}]: expected a mapping")
            continue
        for key in ("username", "role", "password_hash"):
            if not entry.get(key):
                problems.append(f"users[{index}].{key}: required")
        role = entry.get("role")
        if role and role not in ROLES:
            problems.append(f"users[{index}].role: {role!r} is not one of {', '.join(ROLES)}")
        if role == "unit" and not entry.get("unit_code"):
            problems.append(f"users[{index}].unit_code: required for a unit user")
        folded = str(entry.get("username") or "").lower()
        if folded and folded in seen:
            problems.append(
                f"users[{index}].username: same as users[{seen[folded]}] but for case "
                "(user names are matched case-insensitively)"
            )
        seen.setdefault(folded, index)
        if not str(entry.get("password_hash", "")).startswith("$argon2"):
            problems.append(f"users[{index}].password_hash: not an argon2 hash")
        users.append({k: (str(v) if v is not None else None) for k, v in entry.items()})
    if problems:
        raise ConfigError(f"users file {path} is invalid", problems)
    return users


def set_active(store: Store, username: str, active: bool) -> UserRow | None:
    """Enable or disable a user (any case of the name); disabling also ends their
    sessions, though a disabled user's session is refused at its next request anyway."""
    with store.session() as session:
        user = _find(session, username.strip())
        if user is None:
            return None
        user.active = active
        if not active:
            _revoke_sessions(session, user.username)
        session.flush()
        session.expunge(user)
        return user


def seed_users(store: Store, settings: ViewSettings) -> list[str]:
    """Create the configured users (users file, then demo users if asked); their names.

    Demo users share the demo password: ``prosecutor``, ``operations`` and one
    ``unit-<code>`` per configured demo unit code.
    """
    created: list[str] = []
    if settings.users_file is not None:
        for entry in _load_users_file(settings.users_file):
            _upsert_user(
                store,
                str(entry["username"]),
                str(entry["password_hash"]),
                str(entry["role"]),
                entry.get("unit_code"),
                str(entry.get("display_name") or entry["username"]),
                active=str(entry.get("active", "true")).lower() not in ("false", "0", "no"),
            )
            created.append(str(entry["username"]))
    if settings.seed_demo_users:
        demo: list[tuple[str, str, str | None, str]] = [
            ("prosecutor", "prosecutor", None, "演示检察官"),
            ("operations", "operations", None, "演示运维"),
        ]
        demo += [
            (f"unit-{code.lower()}", "unit", code.upper(), f"演示单位用户 {code.upper()}")
            for code in settings.demo_unit_codes
        ]
        password_hash = _demo_password_hash(store, [name for name, *_ in demo],
                                            settings.demo_password.get_secret_value())
        for username, role, unit_code, display in demo:
            _upsert_user(store, username, password_hash, role, unit_code, display, active=None)
            created.append(username)
    with store.session() as session:
        # The users file (and the demo users) say who may log in: a user no longer in
        # it is removed, with their sessions, not left able to log in.
        removed = session.scalars(
            select(UserRow).where(UserRow.username.not_in(created))).all()
        for user in removed:
            _revoke_sessions(session, user.username)
            session.delete(user)
        count = len(session.scalars(select(UserRow.username)).all())
    if removed:
        logger.warning("view users removed (no longer configured): %s",
                       ", ".join(sorted(user.username for user in removed)))
    logger.info("view users ready: %s configured now, %s in the store", len(created), count)
    return created


#: Headers a reverse proxy adds for the client it relays: a request carrying one came
#: from elsewhere, even when the proxy itself connects from this host.
_RELAY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def scraper_allowed(request: Request, token: SecretStr | None) -> bool:
    """Whether ``request`` may read the view's ``/metrics``.

    Why not open: the view's port faces the users of every member unit, and the metrics
    count each unit's open and overdue alerts, which is oversight data. With a token
    configured (``LIANGFA_VIEW_METRICS_TOKEN``), every scraper presents it as a bearer
    token: a reverse proxy on this host that adds no relay header, or a sidecar, makes
    every client look local. Without one (the embedded hub), the scraper on this host (a
    loopback client no proxy says it relays) reads them, and nobody else.
    """
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if token is not None:
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode("utf-8"), token.get_secret_value().encode("utf-8"))
    if presented or any(name in request.headers for name in _RELAY_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
