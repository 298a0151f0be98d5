"""``liangfa bench streams --events N --json``: the stream topology's throughput."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

__all__ = ["app", "streams"]

app = typer.Typer(help="Benchmarks of the stream worker.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _group() -> None:
    """Stream benchmarks."""


@app.command()
def streams(
    events: Annotated[int, typer.Option("--events", help="Number of case events.")] = 20_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    events_per_case: Annotated[int, typer.Option(
        "--events-per-case", help="Events of each case's history (at least 4).")] = 4,
    workers: Annotated[int, typer.Option(
        "--workers", help="Worker processes sharing the partitions.")] = 1,
    keep_topics: Annotated[bool, typer.Option(
        "--keep-topics", help="Leave the run's private topics on the broker (to inspect "
        "them); by default they are deleted at the end.")] = False,
) -> None:
    """Push N events through one worker and through a bare passthrough; compare."""
    from hub.config import HubSettings
    from streams.bench import result_dict, run_bench

    result = result_dict(asyncio.run(run_bench(events, settings=HubSettings(),
                                               events_per_case=events_per_case,
                                               workers=workers,
                                               keep_topics=keep_topics)))
    if as_json:
        typer.echo(json.dumps(result))
        return
    for name, value in result.items():
        typer.echo(f"{name:>22}: {value}")
