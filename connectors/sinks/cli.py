"""``liangfa connector run`` for sink configs: recognised by ``direction: sink``.

``connectors.cli.run`` hands sink files here, so one command runs sources and sinks alike
(a unit's whole connector set in one process for the demo, one process per file in
production).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import typer
import yaml

from connectors.sinks.config import SinkConfig, is_sink_config, load_sink_config
from connectors.sinks.runner import SinkRunner
from hub.config import HubSettings
from hub.errors import ConfigError

__all__ = ["is_sink_file", "load_sink", "run_sinks"]

log = logging.getLogger(__name__)


def is_sink_file(path: Path) -> bool:
    """Whether a YAML file is a sink config (an unreadable file is left to the source
    loader, which reports it)."""
    try:
        return is_sink_config(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError):
        return False


def load_sink(path: Path) -> SinkConfig:
    """A sink config, or exit 2 listing every problem with its YAML path."""
    try:
        return load_sink_config(path)
    except ConfigError as exc:
        typer.echo(f"{path}: invalid sink config", err=True)
        for problem in exc.problems or [str(exc)]:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2) from exc


async def run_sinks(configs: list[SinkConfig], *, once: bool,
                    settings: HubSettings | None = None) -> list[dict[str, Any]]:
    """Run sinks as tasks of this process; one result line each, a failure reported."""
    if not configs:
        return []
    runners = [SinkRunner(config, settings=settings) for config in configs]
    loop = asyncio.get_running_loop()

    def stop_all(*_: Any) -> None:
        for runner in runners:
            runner.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_all)
    try:
        outcomes = await asyncio.gather(*(r.run(once=once) for r in runners),
                                        return_exceptions=True)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    results: list[dict[str, Any]] = []
    for runner, outcome in zip(runners, outcomes, strict=True):
        result: dict[str, Any] = {"sink": runner.config.id,
                                  "delivered": runner.summary.delivered,
                                  "refused": runner.summary.refused}
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome
            log.error("sink %s failed: %s", runner.config.id, outcome, exc_info=outcome)
            result["error"] = f"{type(outcome).__name__}: {outcome}"
        results.append(result)
    return results
