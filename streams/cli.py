"""``liangfa worker run`` / ``python -m streams run``: one stream worker process.

Start several with different ``--worker-id``, ``--data-dir`` and ``--web-port`` to share
the partitions; they find each other through the consumer group (the app id).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from hub.logs import configure_logging

__all__ = ["app", "run"]

log = logging.getLogger(__name__)

app = typer.Typer(
    help="Stream processors: normalize, route, match, deadlines, screen, aggregate, stats.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _group() -> None:
    """Stream worker commands."""


@app.command()
def run(
    worker_id: Annotated[str, typer.Option("--worker-id", help="Name of this worker.")] = "w1",
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Worker's own state directory (RocksDB tables)."),
    ] = None,
    web_port: Annotated[
        int, typer.Option("--web-port", help="Port of the worker's /metrics.")
    ] = 6066,
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="Kafka bootstrap servers.")
    ] = None,
    registry_url: Annotated[
        str | None, typer.Option("--registry-url", help="Confluent-compatible registry URL.")
    ] = None,
    units: Annotated[
        Path | None, typer.Option("--units", help="Unit registry YAML (for routing).")
    ] = None,
    app_id: Annotated[
        str, typer.Option("--app-id", help="Consumer group and changelog prefix.")
    ] = "liangfa-streams",
    topic_prefix: Annotated[
        str, typer.Option("--topic-prefix", help="Prefix of every topic name (tests).")
    ] = "",
    hub_unit: Annotated[
        str | None,
        typer.Option("--hub-unit", help="Credit code of the unit operating the hub (default: "
                     "the unit registry's first procuratorate)."),
    ] = None,
    tick_interval: Annotated[
        float,
        typer.Option("--deadline-tick-interval", help="Seconds between deadline sweeps."),
    ] = 30.0,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Log level.")] = "info",
) -> None:
    """Run one worker until SIGTERM/SIGINT."""
    from hub.config import HubSettings
    from hub.paths import default_home
    from streams.engine import run_worker
    from streams.engine.tuning import EngineTuning, TuningError
    from streams.settings import DEFAULT_HUB_UNIT, StreamSettings
    from streams.topics import TopicNames

    try:
        EngineTuning.from_environment()
    except TuningError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    overrides: dict[str, str] = {}
    if bootstrap:
        overrides["bootstrap"] = bootstrap
    if registry_url:
        overrides["registry_url"] = registry_url
    hub_settings = HubSettings(**overrides)  # type: ignore[arg-type]
    settings = StreamSettings(
        hub=hub_settings,
        topics=TopicNames(prefix=topic_prefix),
        app_id=app_id,
        units_file=units,
        hub_unit_code=hub_unit or _procuratorate_of(units) or DEFAULT_HUB_UNIT,
        deadline_tick_interval_s=tick_interval,
    )
    directory = data_dir or default_home() / "streams" / worker_id
    configure_logging(loglevel)
    run_worker(settings, worker_id, directory, web_port)


def _procuratorate_of(units: Path | None) -> str | None:
    """The unit operating the hub by default: the registry's first procuratorate (its
    两法衔接 management centre), as the view chooses its operator unit."""
    if units is None:
        return None
    from hub.units import load_unit_registry

    return next((unit.code for unit in load_unit_registry(units)
                 if unit.kind == "procuratorate"), None)

