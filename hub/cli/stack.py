"""``liangfa up | down | status``: the embedded default on one machine.

``up`` is the one command an evaluator or a new engineer runs: it starts the broker and the
registry, applies the topic manifest and registers the schemas; each step is idempotent, so
running it twice changes nothing. A new home is secured unless ``--insecure`` is given
(``docs/security.md``): every listener authenticates, ACLs generated from the unit registry
decide, and every process runs on its own principal.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.options import HomeOption, JsonOption
from hub.config import RegistryAuth
from hub.errors import HubError
from hub.local import LocalStack
from hub.local.hub_services import HubServices
from hub.local.stack import ComponentStatus, StackPorts
from hub.topics import apply_topics, load_manifest

__all__ = ["down", "status", "up"]


def _stack(home_value: Path, kafka_port: int | None = None, registry_port: int | None = None,
           controller_port: int | None = None, *, secured: bool | None = None,
           mtls: bool | None = None, brokers: int | None = None) -> LocalStack:
    stack = LocalStack(home_value, secured=secured, mtls=mtls, brokers=brokers)
    if kafka_port or registry_port or controller_port:
        stack.ports = StackPorts(
            kafka=kafka_port or stack.ports.kafka,
            controller=controller_port or stack.ports.controller,
            registry=registry_port or stack.ports.registry,
            extra_nodes=stack.ports.extra_nodes,
        )
    return stack


def up(
    home: HomeOption,
    kafka_port: Annotated[int | None, typer.Option(help="Broker port (first start only).")]
    = None,
    controller_port: Annotated[int | None, typer.Option(help="KRaft controller port.")] = None,
    registry_port: Annotated[int | None, typer.Option(help="Registry port.")] = None,
    view_port: Annotated[int, typer.Option(help="Port of the prosecutor view.")] = 8600,
    workers: Annotated[int, typer.Option(min=0, help="Stream workers to run.")] = 1,
    demo: Annotated[bool, typer.Option("--demo/--no-demo",
                                       help="Run the demo county's connectors.")] = True,
    demo_cases: Annotated[int, typer.Option(help="Penalty cases in the demo county.")]
    = 10_000,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="PLAINTEXT broker without authorizer and an open registry "
        "(first start of a home only; anyone on the machine can then read and write "
        "everything).")] = False,
    mtls: Annotated[bool, typer.Option(
        "--mtls", help="Client listener with mutual TLS: every component authenticates "
        "with its own certificate from the home's CA instead of a SCRAM password (first "
        "start of a home only; later starts keep it).")] = False,
    brokers: Annotated[int | None, typer.Option(
        min=1, max=9, help="Kafka nodes (KRaft, each broker and controller): 3 gives "
        "replication factor 3 and min.insync.replicas 2, so one node may die (first start "
        "of a home only; later starts keep it; default 1).")] = None,
) -> None:
    """Start the broker and registry, apply topics, register schemas, then the workers,
    the view and (by default) the demo county's connectors. Safe to run twice."""
    started = time.monotonic()
    try:
        stack = _stack(home, kafka_port, registry_port, controller_port,
                       secured=not insecure, mtls=True if mtls else None, brokers=brokers)
        services = HubServices(stack, view_port=view_port)
        demo_configs = services.prepare_demo(demo_cases) if demo else []
        stack.up(access=services.access(demo_configs))
        typer.echo(f"stack healthy in {time.monotonic() - started:.1f}s "
                   f"({'secured' if stack.secured else 'PLAINTEXT, --insecure'}"
                   f"{f', {stack.brokers} brokers' if stack.brokers > 1 else ''})"
                   f"{_tls_note(stack)}")
        _register_schemas(stack.registry_url, stack.registry_auth)
        manifest = load_manifest().for_brokers(stack.brokers)
        specs = manifest.expand(units=services.unit_codes(),
                                connectors=services.connector_ids(demo_configs))
        specs += [manifest.spec_for(t) for t in services.ingest_topics(demo_configs)]
        report = asyncio.run(apply_topics(stack.bootstrap, specs,
                                          security=stack.admin_security))
        typer.echo(f"topics: {len(report.created)} created, {len(report.existing)} present")
        for line in services.start(workers=workers, connector_configs=demo_configs):
            typer.echo(line)
        services.wait_healthy(timeout_s=120)
    except HubError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from exc
    _print_status(stack.status().components, as_json=False)
    typer.echo(f"\nexport LIANGFA_BOOTSTRAP={stack.bootstrap}")
    typer.echo(f"export LIANGFA_REGISTRY_URL={stack.registry_url}")
    if stack.secured:
        operator = _operator_env(stack)
        typer.echo(f"set -a; . {operator}; set +a   # the admin's credentials (mode 0600)")
    typer.echo(f"prosecutor view: http://127.0.0.1:{view_port}/  (see README: Logging in; "
               f"the demo users' password is LIANGFA_VIEW_DEMO_PASSWORD in "
               f"{services.view_env_file})")
    typer.echo(f"up in {time.monotonic() - started:.1f}s")


def _tls_note(stack: LocalStack) -> str:
    """How the secured stack's client listener uses TLS, as ``up`` prints it."""
    if stack.tls_mode is None:
        return ""
    listener = "SSL, client certificates" if stack.tls_mode == "mtls" else "SASL_SSL"
    return f", client listener {listener} (CA {stack.tls_folder / 'ca.pem'})"


def _register_schemas(registry_url: str, auth: RegistryAuth | None) -> None:
    """Register every shipped schema; on the secured stack only the admin may."""
    from hub.schemas import register_all

    registered = register_all(registry_url, auth=auth)
    typer.echo(f"schemas: {len(registered)} registered")


def _operator_env(stack: LocalStack) -> Path:
    """``<home>/secrets/operator.env`` (0600): the admin's Kafka and registry credentials
    as ``LIANGFA_*`` variables, for ``liangfa demo check``, ``acl apply`` and the like."""
    from hub.local.access import security_env, write_env_file

    env = {"LIANGFA_HOME": str(stack.home), "LIANGFA_BOOTSTRAP": stack.bootstrap,
           "LIANGFA_REGISTRY_URL": stack.registry_url}
    if stack.admin_security is not None:
        env.update(security_env(stack.admin_security))
    auth = stack.registry_auth
    if auth is not None and auth.username and auth.password:
        env["LIANGFA_REGISTRY_USERNAME"] = auth.username
        env["LIANGFA_REGISTRY_PASSWORD"] = auth.password.get_secret_value()
    return write_env_file(stack.home / "secrets" / "operator.env", env)


def down(home: HomeOption) -> None:
    """Stop every process of this home; no JVM is left behind."""
    stopped = _stack(home).down()
    typer.echo(f"stopped {len(stopped)} process(es)" if stopped else "nothing was running")


def status(home: HomeOption, as_json: JsonOption = False) -> None:
    """Each component: running, healthy, address, memory."""
    state = _stack(home).status()
    _print_status(state.components, as_json=as_json)
    _warn_unscheduled_years()
    if not state.healthy:
        raise typer.Exit(1)


def _warn_unscheduled_years() -> None:
    """Years whose working days the calendar guesses (Monday–Friday): on stderr, so the
    table and ``--json`` stay as they are; not a health failure."""
    from hub.calendar import OVERRIDE_TEMPLATE, unscheduled_years

    years = unscheduled_years()
    if years:
        typer.echo(f"warning: no verified public-holiday schedule for "
                   f"{', '.join(map(str, years))}: working-day deadlines there may be off; "
                   f"add the State Council notice to calendar_overrides.yaml and mark it "
                   f"verified: true (template: {OVERRIDE_TEMPLATE})", err=True)


def _print_status(components: list[ComponentStatus], *, as_json: bool) -> None:
    rows = [asdict(c) for c in components]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        health = "healthy" if row["healthy"] else ("running" if row["running"] else "stopped")
        typer.echo(f"{row['name']:<38} {health:<8} rss {row['rss_mib']:>4.0f} MiB  "
                   f"{row['address']}")
