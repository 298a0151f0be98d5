"""``liangfa``: one command for operators and agency IT teams.

Sub-commands live next to what they drive (``hub/cli/stack.py`` for the local stack,
``hub/cli/schemas.py`` for schema evolution, ``connectors/cli.py``, ``streams/cli.py``,
``hub/view/cli.py``); this module only assembles them.
"""

from __future__ import annotations

import logging
import os

import typer

from hub.cli import stack, topics

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
        ("streams.public_cli", "public", "Publish the PII-masked public feeds (lf.public.*)."),
        ("deploy.demo.check", "demo", "Check the demo county against its planted gaps."),
    ]
    for module_name, name, help_text in groups:
        module = importlib.import_module(module_name)
        app.add_typer(module.app, name=name, help=help_text)
    from streams import cli as streams_cli

    app.command("worker", help="Run a stream-processing worker.")(streams_cli.run)
    bench = typer.Typer(no_args_is_help=True, help="Benchmarks against a side-by-side baseline.")
    for module_name in ("connectors.bench_cli", "streams.bench_cli"):
        module = importlib.import_module(module_name)
        for command in module.app.registered_commands:
            bench.registered_commands.append(command)
    app.add_typer(bench, name="bench")


def main() -> None:
    """Console entry point."""
    logging.basicConfig(
        level=os.environ.get("LIANGFA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _attach_groups()
    app()
