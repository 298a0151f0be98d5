"""``liangfa public run`` / ``python -m streams.public_cli run``: the public feed publisher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.logs import configure_logging

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
    """Publish masked copies of the internal case topics until SIGTERM/SIGINT.

    The key of the event ids' pseudonyms comes from ``LIANGFA_PUBLIC_ID_KEY`` (at least
    16 bytes; keep it, or subscribers see every event again under new ids).
    """
    import os

    from hub.config import HubSettings
    from hub.rules.masking import load_masking
    from streams.public import ID_KEY_ENV, MINIMUM_ID_KEY_BYTES, run_publisher

    id_key = os.environ.get(ID_KEY_ENV, "").encode("utf-8")
    if len(id_key) < MINIMUM_ID_KEY_BYTES:
        typer.echo(f"error: set {ID_KEY_ENV} to a secret of at least {MINIMUM_ID_KEY_BYTES} "
                   "bytes (the key of the public event ids' pseudonyms)", err=True)
        raise typer.Exit(2)

    configure_logging(loglevel)
    overrides: dict[str, str] = {}
    if bootstrap:
        overrides["bootstrap"] = bootstrap
    if registry_url:
        overrides["registry_url"] = registry_url
    run_publisher(HubSettings(**overrides), load_masking(rules),  # type: ignore[arg-type]
                  id_key=id_key, metrics_port=metrics_port)


if __name__ == "__main__":
    app()
