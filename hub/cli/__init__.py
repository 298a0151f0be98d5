"""``liangfa``: one command for operators and agency IT teams.

Sub-commands live next to what they drive (``hub/cli/stack.py`` for the local stack,
``hub/cli/schemas.py`` for schema evolution, ``connectors/cli.py``, ``streams/cli.py``,
``hub/view/cli.py``); this module only assembles them.
"""

from __future__ import annotations

import os

import typer

from hub.cli import stack, topics
from hub.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="liangfa",
    help="Liangfa Hub: 两法衔接 case events over Kafka, from agency exports to the "
         "prosecutor's view.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("up")(stack.up)
app.command("down")(stack.down)
app.command("status")(stack.status)
app.add_typer(topics.app, name="topics", help="Apply the topic manifest.")


def _attach_groups() -> None:
    """Attach the sub-commands of the other packages (imported late: a command loads only
    what it runs)."""
    import importlib

    groups: list[tuple[str, str, str]] = [
        ("hub.cli.schemas", "schemas", "List, register and check the Avro schemas."),
        ("connectors.cli", "connector", "Validate, test and run a connector."),
        ("hub.view.cli", "view", "The prosecutor view: web UI, REST API, reports."),
        ("hub.cli.acl", "acl", "Generate and apply Kafka ACLs and SCRAM users."),
        ("hub.cli.dlq", "dlq", "List, show and replay dead letters (lf.dlq.*)."),
        ("hub.audit.cli", "audit", "Verify the hash-chained audit log; run its sealer."),
        ("streams.public_cli", "public", "Publish the PII-masked public feeds (lf.public.*)."),
        ("deploy.demo.check", "demo", "Check the demo county against its planted gaps."),
        ("hub.deploy.cli", "deploy", "Render deployment manifests (Kubernetes, Strimzi)."),
    ]
    for module_name, name, help_text in groups:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not _optional(module_name, exc):
                raise
            app.add_typer(_missing(module_name, name), name=name,
                          help=f"{help_text} (not installed)")
            continue
        app.add_typer(module.app, name=name, help=help_text)
    from streams import cli as streams_cli

    app.command("worker", help="Run a stream-processing worker.")(streams_cli.run)
    bench = typer.Typer(no_args_is_help=True, help="Benchmarks against a side-by-side baseline.")
    for module_name in ("connectors.bench_cli", "streams.bench_cli"):
        module = importlib.import_module(module_name)
        for command in module.app.registered_commands:
            bench.registered_commands.append(command)
    app.add_typer(bench, name="bench")


#: Top-level packages that ship in the source checkout but not in the wheel: an agency
#: host runs ``liangfa`` from the wheel and has neither the demo nor the local stack's
#: demo data. Their commands are then absent with a word, never an import error.
_OPTIONAL_PACKAGES = ("deploy",)


def _optional(module_name: str, exc: ModuleNotFoundError) -> bool:
    missing = (exc.name or "").split(".", 1)[0]
    return missing in _OPTIONAL_PACKAGES and module_name.split(".", 1)[0] == missing


def _missing(module_name: str, name: str) -> typer.Typer:
    """A command group that says it is not installed (instead of failing ``liangfa``)."""
    group = typer.Typer(no_args_is_help=False, invoke_without_command=True)

    @group.callback()
    def not_installed() -> None:
        typer.echo(f"liangfa {name}: {module_name} is not installed here; it ships with "
                   "the source checkout (git clone, then pip install -e .), not the wheel",
                   err=True)
        raise typer.Exit(2)

    return group


def main() -> None:
    """Console entry point."""
    configure_logging(os.environ.get("LIANGFA_LOG_LEVEL", "INFO"))
    _attach_groups()
    app()
