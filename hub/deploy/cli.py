"""``liangfa deploy render k8s``: the Strimzi layer of a Kubernetes install, rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)
render_app = typer.Typer(no_args_is_help=True)
app.add_typer(render_app, name="render", help="Render deployment manifests.")


@render_app.command("k8s")
def k8s(
    out: Annotated[Path, typer.Option(help="Directory the YAML files are written to.")],
    units: Annotated[Path, typer.Option("--units", exists=True, dir_okay=False,
                                        help="Unit registry YAML.")],
    connector: Annotated[list[str] | None, typer.Option(
        "--connector", help="ID=UNIT_CODE: a connector of a unit (its DLQ topic and ACLs); "
        "repeatable.")] = None,
    brokers: Annotated[int, typer.Option(
        min=0, help="0: three combined controller+broker nodes; N: three controllers and N "
        "brokers.")] = 0,
    manifest: Annotated[Path | None, typer.Option(help="Another topic manifest.")] = None,
) -> None:
    """Write Strimzi Kafka, node pools, topics, users with their ACLs, and ServiceMonitors."""
    from hub.cli.acl import _connectors
    from hub.deploy.render import ClusterShape, render_k8s, write_k8s
    from hub.topics import load_manifest
    from hub.units import load_unit_registry

    try:
        rendered = render_k8s(load_unit_registry(units), load_manifest(manifest),
                              connectors=_connectors(connector),
                              shape=ClusterShape(brokers=brokers))
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--connector") from exc
    for path in write_k8s(rendered, out):
        typer.echo(f"{path}: {len(rendered[path.name])} resources")
