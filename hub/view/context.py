"""What every request handler needs, and the access rules applied to each request.

``ViewContext`` is built once by ``create_app`` and kept on ``app.state``. The dependency
functions here turn a request into a ``Principal`` (cookie or bearer token) and refuse
it early: no case data without authentication, no case data for operations staff, no
other unit's cases for a unit user, no cookie-authenticated write without a CSRF token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from hub.errors import ConfigError
from hub.view.auth import LoginThrottle, Principal, Sessions, SessionSigner, ThrottlePolicy
from hub.view.outbox import Actor, Outbox
from hub.view.queries import Scope
from hub.view.settings import ViewSettings
from hub.view.store import Store
from hub.view.units import UnitDirectory

if TYPE_CHECKING:
    from hub.view.bus import BusRunner

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CasePrincipal",
    "LoggedIn",
    "LoginRequired",
    "ProsecutorPrincipal",
    "StatusPrincipal",
    "ViewContext",
    "actor_of",
    "context_of",
    "optional_principal",
    "scope_of",
]

logger = logging.getLogger(__name__)

SESSION_COOKIE = "lf_session"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNSET = object()


@dataclass
class ViewContext:
    """The view's long-lived parts, shared by all requests."""

    settings: ViewSettings
    store: Store
    units: UnitDirectory
    signer: SessionSigner
    sessions: Sessions
    throttle: LoginThrottle
    outbox: Outbox
    operator_unit_code: str
    bus: BusRunner | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: ViewSettings, store: Store | None = None) -> ViewContext:
        """Wire the parts from settings; a view without an operator unit cannot act."""
        units = UnitDirectory.load(settings.units_file)
        operator = settings.operator_unit_code
        if operator is None:
            procuratorate = units.first_of_kind("procuratorate")
            if procuratorate is None:
                raise ConfigError(
                    "the view needs the 统一社会信用代码 of the procuratorate operating it",
                    [
                        "set LIANGFA_VIEW_OPERATOR_UNIT_CODE, or give a unit registry "
                        "(LIANGFA_VIEW_UNITS_FILE) with a unit of kind 'procuratorate'"
                    ],
                )
            operator = procuratorate.code
        store = store or Store(settings.database_url)
        signer = SessionSigner(
            settings.session_secret.get_secret_value(),
            timedelta(hours=settings.session_hours),
        )
        return cls(
            settings=settings,
            store=store,
            units=units,
            signer=signer,
            sessions=Sessions(store, signer),
            throttle=LoginThrottle(store, ThrottlePolicy.from_settings(settings)),
            outbox=Outbox(
                store=store,
                operator_unit_code=operator,
                action_topic=settings.topics.view_actions,
                audit_topic=settings.topics.audit,
            ),
            operator_unit_code=operator,
        )


class LoginRequired(Exception):
    """Raised for an unauthenticated browser request: the handler redirects to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def context_of(request: Request) -> ViewContext:
    """The view context stored on the application."""
    context: ViewContext = request.app.state.view
    return context


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def optional_principal(request: Request) -> Principal | None:
    """The principal from a bearer token or the session cookie, if valid and its session
    open; computed once per request (a page's dependencies and handler share it)."""
    cached = request.scope.get("lf_principal", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    context = context_of(request)
    header = request.headers.get("authorization", "")
    principal: Principal | None = None
    if header.lower().startswith("bearer "):
        principal = context.sessions.principal(header[7:].strip()[:4096], "bearer")
    elif cookie := request.cookies.get(SESSION_COOKIE):
        principal = context.sessions.principal(cookie[:4096], "cookie")
    request.scope["lf_principal"] = principal
    return principal


def _require_principal(request: Request) -> Principal:
    principal = optional_principal(request)
    if principal is None:
        if _is_api(request):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "authentication required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    if principal.via == "cookie" and request.method in _UNSAFE_METHODS and _is_api(request):
        token = request.headers.get(CSRF_HEADER)
        if not context_of(request).signer.csrf_valid(principal.token, token):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or invalid CSRF token")
    return principal


def _require_case_access(
    principal: Annotated[Principal, Depends(_require_principal)],
) -> Principal:
    if not principal.may_see_cases:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this role has no access to case data")
    return principal


def _require_prosecutor(
    principal: Annotated[Principal, Depends(_require_principal)],
) -> Principal:
    if principal.role != "prosecutor":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "prosecutors only")
    return principal


def _require_status_access(
    principal: Annotated[Principal, Depends(_require_principal)],
) -> Principal:
    if principal.role not in ("operations", "prosecutor"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "operations and prosecutors only")
    return principal


LoggedIn = Annotated[Principal, Depends(_require_principal)]
CasePrincipal = Annotated[Principal, Depends(_require_case_access)]
ProsecutorPrincipal = Annotated[Principal, Depends(_require_prosecutor)]
StatusPrincipal = Annotated[Principal, Depends(_require_status_access)]


def scope_of(principal: Principal) -> Scope:
    """All cases for prosecutors, the own unit's for unit users."""
    return Scope(unit_code=None if principal.sees_all_cases else principal.unit_code)


def actor_of(request: Request, principal: Principal) -> Actor:
    """The actor of an event: the user and their unit (the operator's for the centre)."""
    context = context_of(request)
    client = request.client.host if request.client else None
    return Actor(
        username=principal.username,
        unit_code=principal.unit_code or context.operator_unit_code,
        client_address=client,
    )
