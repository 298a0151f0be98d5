"""Who may see what in the view: users, argon2 passwords, signed sessions, CSRF, roles.

Roles (角色):

* ``prosecutor`` (检察官): every case, every queue, reports and actions.
* ``unit`` (成员单位用户): only the cases its unit is involved in and that unit's alerts
  (its inbox); may acknowledge and assign its own alerts.
* ``operations`` (运维): status and metrics, never case data.

Sessions are stateless signed tokens (HMAC-SHA256 over user, role, unit and expiry),
carried in an HttpOnly SameSite=Lax cookie for the browser or as a bearer token for the
REST API. Forms and cookie-authenticated API writes must carry a CSRF token derived from
the session token, so another site cannot make a logged-in browser act.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from hub.errors import ConfigError
from hub.view.settings import ViewSettings
from hub.view.store import Store, UserRow, utc_now

__all__ = [
    "ROLES",
    "Principal",
    "Role",
    "SessionSigner",
    "authenticate",
    "hash_password",
    "seed_users",
]

logger = logging.getLogger(__name__)

Role = Literal["prosecutor", "unit", "operations"]
ROLES: tuple[Role, ...] = ("prosecutor", "unit", "operations")

_hasher = PasswordHasher()
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

    @property
    def sees_all_cases(self) -> bool:
        """Prosecutors see the whole province; unit users their unit; operations none."""
        return self.role == "prosecutor"

    @property
    def may_see_cases(self) -> bool:
        """Operations staff get status and metrics only."""
        return self.role in ("prosecutor", "unit")


def authenticate(store: Store, username: str, password: str) -> UserRow | None:
    """The active user with these credentials, or None (never says which part was wrong)."""
    with store.session() as session:
        user = session.get(UserRow, username)
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

    def issue(self, user: UserRow, *, now: datetime | None = None) -> tuple[str, datetime]:
        """A token for the user and when it expires."""
        expires = (now or utc_now()) + self.lifetime
        claims = {
            "u": user.username,
            "r": user.role,
            "c": user.unit_code,
            "n": user.display_name,
            "e": int(expires.timestamp()),
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
        )

    def csrf_token(self, session_token: str) -> str:
        """The CSRF token bound to one session (synchronizer token, no server state)."""
        return _b64(hmac.new(self._csrf_key, session_token.encode(), hashlib.sha256).digest())

    def csrf_valid(self, session_token: str, candidate: str | None) -> bool:
        """Whether a submitted CSRF token belongs to this session."""
        return bool(candidate) and hmac.compare_digest(
            self.csrf_token(session_token), candidate or ""
        )


def _upsert_user(
    store: Store,
    username: str,
    password_hash: str,
    role: str,
    unit_code: str | None,
    display_name: str,
) -> None:
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
                    active=True,
                )
            )
        else:
            user.password_hash = password_hash
            user.role = role
            user.unit_code = unit_code
            user.display_name = display_name
            user.active = True


def _load_users_file(path: Path) -> list[dict[str, str | None]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read users file {path}: {exc}") from exc
    entries = document.get("users", []) if isinstance(document, dict) else document
    problems: list[str] = []
    users: list[dict[str, str | None]] = []
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
        if not str(entry.get("password_hash", "")).startswith("$argon2"):
            problems.append(f"users[{index}].password_hash: not an argon2 hash")
        users.append({k: (str(v) if v is not None else None) for k, v in entry.items()})
    if problems:
        raise ConfigError(f"users file {path} is invalid", problems)
    return users


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
            )
            created.append(str(entry["username"]))
    if settings.seed_demo_users:
        password_hash = hash_password(settings.demo_password.get_secret_value())
        demo: list[tuple[str, str, str | None, str]] = [
            ("prosecutor", "prosecutor", None, "演示检察官"),
            ("operations", "operations", None, "演示运维"),
        ]
        demo += [
            (f"unit-{code.lower()}", "unit", code.upper(), f"演示单位用户 {code.upper()}")
            for code in settings.demo_unit_codes
        ]
        for username, role, unit_code, display in demo:
            _upsert_user(store, username, password_hash, role, unit_code, display)
            created.append(username)
    with store.session() as session:
        count = len(session.scalars(select(UserRow.username)).all())
    logger.info("view users ready: %s configured now, %s in the store", len(created), count)
    return created
