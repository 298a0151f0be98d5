"""``liangfa public run`` / ``python -m streams.public_cli run``: the public feed publisher."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "run"]

app = typer.Typer(help="PII-masked public feeds (lf.public.*) for downstream subscribers.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _group() -> None:
    """Public feed commands."""


@app.command()
def run(
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="Kafka bootstrap servers.")
    ] = None,
    registry_url: Annotated[
        str | None, typer.Option("--registry-url", help="Confluent-compatible registry URL.")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option("--rules", help="Masking rules YAML (default: shipped).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Port of /metrics.")
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Log level.")] = "info",
) -> None:
    """Publish masked copies of the internal case topics until SIGTERM/SIGINT."""
    from hub.config import HubSettings
    from hub.rules.masking import load_masking
    from streams.public import run_publisher

    logging.basicConfig(level=loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides: dict[str, str] = {}
    if bootstrap:
        overrides["bootstrap"] = bootstrap
    if registry_url:
        overrides["registry_url"] = registry_url
    run_publisher(HubSettings(**overrides), load_masking(rules),  # type: ignore[arg-type]
                  metrics_port=metrics_port)


if __name__ == "__main__":
    app()
