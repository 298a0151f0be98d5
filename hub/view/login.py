"""One login attempt, the same for the web form and ``POST /api/auth/token``.

Both doors share the throttle, the audit and the session record, so an attacker gains
nothing by switching from one to the other, and every attempt — refused, locked out or
successful — leaves an ``AuditRecorded`` on ``lf.audit`` (target ``view`` or ``api``, the
reason in ``query``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from hub.models import AuditOperation
from hub.view.auth import Principal, authenticate
from hub.view.context import ViewContext
from hub.view.i18n import Translator
from hub.view.outbox import Actor
from hub.view.store import UserRow

__all__ = ["LoginResult", "attempt_login", "locked_message", "logout"]

Channel = Literal["view", "api"]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class LoginResult:
    """What came of an attempt: a session, wrong credentials, or a lockout until when."""

    outcome: Literal["ok", "credentials", "locked"]
    user: UserRow | None = None
    token: str = ""
    expires_at: datetime | None = None
    locked_until: datetime | None = None

    def retry_after_seconds(self, now: datetime) -> int:
        """Whole seconds until the lock ends (at least 1), for ``Retry-After``."""
        if self.locked_until is None:
            return 0
        return max(1, math.ceil((self.locked_until - now).total_seconds()))


def locked_message(translate: Translator, minutes: int) -> str:
    """The lockout message in one language."""
    return translate("login.error_locked_minutes", minutes=minutes)


def attempt_login(
    context: ViewContext, username: str, password: str, client: str | None, channel: Channel
) -> LoginResult:
    """Check the throttle, then the password; audit the attempt; open a session if right.

    A locked name or address is refused before the password is checked: even the right
    password does not open it until the lock ends, so guessing gains nothing.
    """
    throttle = context.throttle
    shown = _CONTROL.sub("", username.strip())[:100] or "?"
    locked_now: datetime | None = None
    # One attempt at a time per name and address: parallel guesses would otherwise all
    # pass the lock check while the first password is being hashed, and each be checked.
    with throttle.serialized(username, client):
        locked = throttle.locked_until(username, client)
        if locked is not None:
            user = None
        elif (user := authenticate(context.store, username, password)) is None:
            locked_now = throttle.failed(username, client)
        else:
            throttle.succeeded(username)
    if locked is not None:
        _audit(context, shown, None, client, AuditOperation.LOGIN_FAILED, channel, "locked")
        return LoginResult("locked", locked_until=locked)
    if user is None:
        reason = "credentials" if locked_now is None else "credentials;locked"
        _audit(context, shown, None, client, AuditOperation.LOGIN_FAILED, channel, reason)
        if locked_now is not None:
            return LoginResult("locked", locked_until=locked_now)
        return LoginResult("credentials")
    token, expires = context.sessions.open(user, client_address=client)
    _audit(context, user.username, user.unit_code, client, AuditOperation.LOGIN, channel, None)
    return LoginResult("ok", user=user, token=token, expires_at=expires)


def logout(context: ViewContext, principal: Principal) -> None:
    """Revoke the session: its token stops working now, not when it would expire.

    Audited as ``LOGOUT`` (target ``view`` for the browser's cookie, ``api`` for a bearer
    token), so the log shows when each session ended, not only when it began.
    """
    context.sessions.revoke(principal)
    channel: Channel = "view" if principal.via == "cookie" else "api"
    _audit(context, principal.username, principal.unit_code, None, AuditOperation.LOGOUT,
           channel, None)


def _audit(
    context: ViewContext,
    username: str,
    unit_code: str | None,
    client: str | None,
    operation: AuditOperation,
    channel: Channel,
    reason: str | None,
) -> None:
    context.outbox.audit(
        Actor(username=username, unit_code=unit_code or context.operator_unit_code,
              client_address=client),
        operation,
        target=channel,
        query=f"reason={reason}" if reason else None,
    )
