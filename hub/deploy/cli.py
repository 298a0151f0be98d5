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
    connector_config: Annotated[list[Path] | None, typer.Option(
        "--connector-config", exists=True, dir_okay=False,
        help="A connector's YAML: its Deployment, ConfigMap and drop-folder claim are "
        "rendered, its DLQ topic and ACLs too; repeatable.")] = None,
) -> None:
    """Write Strimzi Kafka, node pools, topics, users with their ACLs, the hub's workloads,
    one Deployment per connector configuration, and ServiceMonitors."""
    from connectors.config import load_config
    from hub.cli.acl import _connectors
    from hub.deploy.render import ClusterShape, render_k8s, write_k8s
    from hub.errors import ConfigError
    from hub.topics import load_manifest
    from hub.units import load_unit_registry

    try:
        configs = [(load_config(path), path.read_text(encoding="utf-8"))
                   for path in connector_config or ()]
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--connector-config") from exc
    try:
        rendered = render_k8s(load_unit_registry(units), load_manifest(manifest),
                              connectors=_connectors(connector), connector_configs=configs,
                              shape=ClusterShape(brokers=brokers))
    except (KeyError, ValueError) as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--connector") from exc
    for path in write_k8s(rendered, out):
        typer.echo(f"{path}: {len(rendered[path.name])} resources")
