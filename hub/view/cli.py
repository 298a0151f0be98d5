"""``liangfa view …``: run the prosecutor view, rebuild its store, hash passwords.

Settings come from ``LIANGFA_VIEW_*`` environment variables (see ``ViewSettings``);
the options here override the common ones.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

from hub.view.settings import DEFAULT_DEMO_PASSWORD, ViewSettings

if TYPE_CHECKING:
    from hub.view.store import Store

__all__ = ["app", "run_view"]

logger = logging.getLogger(__name__)

app = typer.Typer(help="The prosecutor view 检察监督视图: web UI, REST API, monthly report.",
                  no_args_is_help=True)


def _settings(
    database_url: str | None,
    bootstrap: str | None,
    registry_url: str | None,
    demo: bool | None = None,
) -> ViewSettings:
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if bootstrap:
        overrides["bootstrap"] = bootstrap
    if registry_url:
        overrides["registry_url"] = registry_url
    if demo is not None:
        overrides["seed_demo_users"] = demo
    return ViewSettings(**overrides)  # type: ignore[arg-type]


def run_view(settings: ViewSettings, *, host: str = "127.0.0.1", port: int = 8600) -> None:
    """Serve the view until interrupted (blocking)."""
    from hub.view.app import create_app

    application = create_app(settings)
    logger.info("prosecutor view on http://%s:%s (store: %s)", host, port,
                settings.database_url.split("@")[-1])
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=False)


DatabaseOption = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite file).")
]
BootstrapOption = Annotated[
    str | None, typer.Option(envvar="LIANGFA_BOOTSTRAP", help="Kafka bootstrap servers.")
]
RegistryOption = Annotated[
    str | None,
    typer.Option(envvar="LIANGFA_REGISTRY_URL", help="Confluent-compatible registry URL."),
]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8600,
    database_url: DatabaseOption = None,
    bootstrap: BootstrapOption = None,
    registry_url: RegistryOption = None,
    demo_users: Annotated[
        bool | None,
        typer.Option("--demo-users/--no-demo-users",
                     help="Create the demo users (prosecutor, operations, unit-<code>)."),
    ] = None,
) -> None:
    """Serve the web UI and REST API and keep the store in step with the bus."""
    settings = _settings(database_url, bootstrap, registry_url, demo_users)
    if settings.seed_demo_users:
        password = settings.demo_password.get_secret_value()
        shown = password if password == DEFAULT_DEMO_PASSWORD else "(LIANGFA_VIEW_DEMO_PASSWORD)"
        typer.echo(f"demo users: prosecutor / operations / unit-<code>, password {shown}")
    typer.echo(f"prosecutor view: http://{host}:{port}/  (API docs: /docs, spec: /openapi.json)")
    run_view(settings, host=host, port=port)


@app.command()
def replay(
    database_url: DatabaseOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget everything learnt from the bus; the next start re-reads every topic.

    Users and events still waiting in the outbox are kept.
    """
    from hub.view.store import Store

    settings = _settings(database_url, None, None)
    if not yes:
        typer.confirm(f"Drop the bus tables of {settings.database_url}?", abort=True)
    store = Store(settings.database_url)
    try:
        store.create_all()
        store.drop_bus_tables()
    finally:
        store.dispose()
    typer.echo("bus tables dropped: the view replays every topic from the beginning on start")


@app.command("hash-password")
def hash_password_command(
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ],
) -> None:
    """Print an argon2 hash for a users file entry (``password_hash``)."""
    from hub.view.auth import hash_password

    typer.echo(hash_password(password))


UsernameArgument = Annotated[str, typer.Argument(help="User name (any case).")]


def _audit_admin(settings: ViewSettings, store: Store, command: str, target: str,
                 detail: str) -> None:
    """Queue an ``ADMIN_CHANGE`` audit record in the store's outbox: the view's relay
    produces it (within a second if the view runs, at its next start if not), like the
    view's own records, under the OS user who ran the command."""
    from hub.audit.record import operator_name
    from hub.models import AuditOperation
    from hub.view.outbox import Actor, Outbox
    from hub.view.units import UnitDirectory

    operator = settings.operator_unit_code
    if operator is None:
        procuratorate = UnitDirectory.load(settings.units_file).first_of_kind("procuratorate")
        operator = procuratorate.code if procuratorate is not None else None
    if operator is None:
        typer.echo(f"error: {command} is done but not audited: no operator unit (set "
                   "LIANGFA_VIEW_OPERATOR_UNIT_CODE)", err=True)
        raise typer.Exit(3)
    outbox = Outbox(store=store, operator_unit_code=operator,
                    action_topic=settings.topics.view_actions,
                    audit_topic=settings.topics.audit)
    outbox.audit(Actor(username=operator_name(), unit_code=operator),
                 AuditOperation.ADMIN_CHANGE, target=f"{command}: {target}", query=detail)


def _set_active(database_url: str | None, username: str, active: bool) -> None:
    from hub.view.auth import set_active
    from hub.view.store import Store

    settings = _settings(database_url, None, None)
    store = Store(settings.database_url)
    try:
        store.create_all()
        user = set_active(store, username, active)
        if user is not None:
            _audit_admin(settings, store, "view enable-user" if active
                         else "view disable-user", f"user {user.username}",
                         "active" if active else "disabled; sessions revoked")
    finally:
        store.dispose()
    if user is None:
        typer.echo(f"no such user: {username}", err=True)
        raise typer.Exit(1)
    state = "enabled" if active else "disabled; open sessions revoked"
    typer.echo(f"{user.username}: {state}")


@app.command("disable-user")
def disable_user(username: UsernameArgument, database_url: DatabaseOption = None) -> None:
    """Disable a user at once: their open sessions stop working at the next request.

    A user from the users file is enabled again at the next start unless the file says
    ``active: false``.
    """
    _set_active(database_url, username, False)


@app.command("enable-user")
def enable_user(username: UsernameArgument, database_url: DatabaseOption = None) -> None:
    """Enable a disabled user again."""
    _set_active(database_url, username, True)


@app.command()
def unlock(
    username: Annotated[str | None, typer.Option(help="Clear this user name's lockout.")] = None,
    address: Annotated[
        str | None, typer.Option(help="Clear this client address's lockout.")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Lift a login lockout before it ends by itself (after checking who was guessing)."""
    from hub.view.auth import clear_lockout
    from hub.view.store import Store

    if not username and not address:
        typer.echo("give --username or --address", err=True)
        raise typer.Exit(2)
    settings = _settings(database_url, None, None)
    store = Store(settings.database_url)
    try:
        store.create_all()
        cleared = clear_lockout(store, username=username, address=address)
        _audit_admin(settings, store, "view unlock",
                     f"user {username}" if username else f"address {address}",
                     f"cleared {cleared} lockout record(s)")
    finally:
        store.dispose()
    typer.echo(f"cleared {cleared} lockout record(s)")
