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


def _optional_groups() -> None:
    """Attach the sub-command groups of the other packages."""
    import importlib

    groups: list[tuple[str, str, str]] = [
        # ("hub.cli.schemas", "schemas", "List, register and check Avro schemas."),
    ]
    for module_name, name, help_text in groups:
        module = importlib.import_module(module_name)
        app.add_typer(module.app, name=name, help=help_text)


def main() -> None:
    """Console entry point."""
    logging.basicConfig(
        level=os.environ.get("LIANGFA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _optional_groups()
    app()
