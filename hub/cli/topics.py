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
    registry: Annotated[Path | None, typer.Option(
        "--units", exists=True, dir_okay=False,
        help="Unit registry YAML: its first procuratorate is the unit the audit record of "
        "this change is filed under (default: the demo county's, in a checkout).")] = None,
) -> None:
    """Create missing topics from the manifest and report drift; never deletes.

    Audited: an ``ADMIN_CHANGE`` record names who ran it and the topics it created.
    """
    from hub.audit.cli import audit_admin_change

    settings = HubSettings()
    if bootstrap:
        settings = settings.model_copy(update={"bootstrap": bootstrap})
    specs = load_manifest(manifest).expand(units=units or [], connectors=connectors or [])
    report = asyncio.run(apply_topics(settings.bootstrap, specs,
                                      security=settings.kafka_security))
    summary = (f"created {len(report.created)}, already present {len(report.existing)}, "
               f"drift {len(report.drift)}")
    typer.echo(summary)
    for line in report.drift:
        typer.echo(f"  drift: {line}")
    created = ", ".join(report.created)
    audit_admin_change(settings, units=registry, command="topics apply",
                       target=f"{len(specs)} topics of {manifest or 'the shipped manifest'}",
                       detail=f"{summary}{'; created: ' + created if created else ''}",
                       count=len(report.created))
    if report.drift:
        raise typer.Exit(1)
