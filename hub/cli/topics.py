"""``liangfa topics apply``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from hub.config import HubSettings
from hub.topics import apply_topics, load_manifest

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)


@app.command("apply")
def apply(
    bootstrap: Annotated[str | None, typer.Option(help="Broker address (default: settings).")]
    = None,
    units: Annotated[list[str] | None, typer.Option("--unit", help="Unit code for per-unit "
                                                    "topics; repeatable.")] = None,
    connectors: Annotated[list[str] | None, typer.Option("--connector", help="Connector id "
                                                         "for its DLQ; repeatable.")] = None,
    manifest: Annotated[Path | None, typer.Option(help="Another manifest file.")] = None,
) -> None:
    """Create missing topics from the manifest and report drift; never deletes."""
    settings = HubSettings()
    specs = load_manifest(manifest).expand(units=units or [], connectors=connectors or [])
    report = asyncio.run(apply_topics(bootstrap or settings.bootstrap, specs,
                                      security=settings.kafka_security))
    typer.echo(f"created {len(report.created)}, already present {len(report.existing)}, "
               f"drift {len(report.drift)}")
    for line in report.drift:
        typer.echo(f"  drift: {line}")
    if report.drift:
        raise typer.Exit(1)
