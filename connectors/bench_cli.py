"""``liangfa bench ingest``: the connector ingest benchmark from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from connectors.bench import run_ingest_benchmark
from hub.config import HubSettings

__all__ = ["app"]

app = typer.Typer(help="Benchmarks.", no_args_is_help=True)


@app.command()
def ingest(records: Annotated[int, typer.Option(help="Rows in the generated CSV")] = 100_000,
           as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")]
           = False,
           workers: Annotated[int | None, typer.Option(
               min=1, help="Mapping processes of the connector (default: its own default)")]
           = None,
           keep_topics: Annotated[bool, typer.Option(
               "--keep-topics", help="Leave the run's private topics on the broker (to "
               "inspect them); by default they are deleted at the end.")] = False) -> None:
    """Ingest N generated 双公示 rows through the file connector; compare with bare aiokafka."""
    settings = HubSettings()
    result = run_ingest_benchmark(records, settings.bootstrap, settings.registry_url,
                                  workers, keep_topics=keep_topics)
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:>24}: {value}")
