"""``liangfa acl plan | apply | users``: the registry's ACLs and SCRAM users on the cluster.

``apply`` and ``users`` authenticate with the hub's Kafka settings (``LIANGFA_KAFKA_*``),
which must be a super user's (``admin`` on the embedded secured stack). Both leave an
``ADMIN_CHANGE`` audit record (who ran them, what they changed) for the chained
``lf.audit`` (``hub.audit``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.config import HubSettings
from hub.security.acl import AclBinding, ServicePrincipals, acl_bindings, format_table
from hub.units import load_unit_registry

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

UnitsOption = Annotated[Path, typer.Option("--units", help="Unit registry YAML.", exists=True,
                                           dir_okay=False)]
ConnectorOption = Annotated[
    list[str] | None,
    typer.Option("--connector", help="ID=UNIT_CODE: a connector of a unit, granted its own "
                 "lf.dlq.<ID>; repeatable."),
]
SubscriberOption = Annotated[
    list[str] | None,
    typer.Option("--subscriber", help="Name of a downstream subscriber (user sub-<name>, "
                 "reads lf.public.*); repeatable."),
]
BootstrapOption = Annotated[str | None, typer.Option(help="Broker address (default: "
                                                     "settings).")]


def _connectors(values: list[str] | None) -> dict[str, str]:
    connectors: dict[str, str] = {}
    for value in values or []:
        connector_id, separator, unit_code = value.partition("=")
        if not separator or not connector_id or not unit_code:
            raise typer.BadParameter(f"{value!r} is not ID=UNIT_CODE", param_hint="--connector")
        connectors[connector_id] = unit_code
    return connectors


def _bindings(units: Path, connectors: list[str] | None,
              subscribers: list[str] | None) -> list[AclBinding]:
    registry = load_unit_registry(units)
    services = ServicePrincipals(subscribers=tuple(subscribers or ()))
    try:
        return acl_bindings(registry, services, connectors=_connectors(connectors))
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--connector") from exc


@app.command("plan")
def plan(units: UnitsOption, connector: ConnectorOption = None,
         subscriber: SubscriberOption = None) -> None:
    """Print the ACLs generated from the unit registry (a Markdown table)."""
    bindings = _bindings(units, connector, subscriber)
    typer.echo(format_table(bindings))
    typer.echo(f"\n{len(bindings)} bindings")


@app.command("apply")
def apply(units: UnitsOption, bootstrap: BootstrapOption = None,
          connector: ConnectorOption = None, subscriber: SubscriberOption = None) -> None:
    """Create the missing ACLs; list unwanted ones as drift (exit 1), never delete them."""
    from hub.audit.cli import audit_admin_change
    from hub.security.admin import apply_acls

    settings = HubSettings()
    if bootstrap:
        settings = settings.model_copy(update={"bootstrap": bootstrap})
    bindings = _bindings(units, connector, subscriber)
    report = apply_acls(settings.bootstrap, settings.kafka_security, bindings)
    summary = (f"created {len(report.created)}, already present {len(report.present)}, "
               f"drift {len(report.drift)}")
    typer.echo(summary)
    for binding in report.drift:
        typer.echo(f"  drift: {binding.describe()}")
    created = "; ".join(binding.describe() for binding in report.created)
    audit_admin_change(settings, units=units, command="acl apply",
                       target=f"{len(bindings)} ACL bindings of {units.name}",
                       detail=f"{summary}{'; ' + created if created else ''}",
                       count=len(report.created))
    if report.drift:
        raise typer.Exit(1)


@app.command("users")
def users(
    units: UnitsOption,
    secrets: Annotated[Path | None, typer.Option(help="JSON file user → password, mode 0600 "
                                                 "(default: $LIANGFA_SCRAM_SECRETS).")] = None,
    generate: Annotated[bool, typer.Option(help="Generate random passwords for users "
                                           "missing from the file (demo).")] = False,
    bootstrap: BootstrapOption = None,
    subscriber: SubscriberOption = None,
    rotate: Annotated[list[str] | None, typer.Option(
        "--rotate", help="A user (e.g. unit-<code>) whose credential is replaced by the "
        "file's password even though it has one; repeatable.")] = None,
) -> None:
    """Create SCRAM-SHA-512 credentials for every unit and service user that has none;
    ``--rotate USER`` replaces an existing one (the runbook's credential rotation)."""
    from hub.audit.cli import audit_admin_change
    from hub.security.acl import scram_users
    from hub.security.admin import apply_scram_credentials
    from hub.security.secrets import ensure_passwords, load_passwords, secrets_path

    settings = HubSettings()
    if bootstrap:
        settings = settings.model_copy(update={"bootstrap": bootstrap})
    wanted = scram_users(load_unit_registry(units),
                         ServicePrincipals(subscribers=tuple(subscriber or ())))
    path = secrets_path(secrets)
    passwords = ensure_passwords(path, wanted) if generate else load_passwords(path)
    missing = [user for user in wanted if user not in passwords]
    if missing:
        typer.echo(f"no password in {path} for: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    rotated = sorted(set(rotate or ()))
    unknown = [user for user in rotated if user not in wanted]
    if unknown:
        typer.echo(f"--rotate: not a user of this registry: {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    written = apply_scram_credentials(settings.bootstrap, settings.kafka_security,
                                      {user: passwords[user] for user in wanted
                                       if user not in rotated})
    if rotated:
        written += apply_scram_credentials(settings.bootstrap, settings.kafka_security,
                                           {user: passwords[user] for user in rotated},
                                           rotate=True)
    typer.echo(f"SCRAM credentials created for {len(written)} of {len(wanted)} users")
    audit_admin_change(settings, units=units, command="acl users",
                       target=f"SCRAM credentials of {len(wanted)} users",
                       detail="created for: " + (", ".join(written) or "nobody"),
                       count=len(written))
