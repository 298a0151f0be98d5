"""``liangfa connector validate | test | run``: the commands an agency's IT team uses.

``validate`` lists every config problem at once; ``test`` maps a sample export and shows
the events and the rejections without producing anything (a dry run); ``run`` runs one or
more connectors until stopped (or once through the available data with ``--once``). One
process per config is the recommended deployment; ``run a.yaml b.yaml`` runs several as
independent pipelines in one process, for small units and the demo.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from connectors.config import ConnectorConfig, load_config
from connectors.mapping import MappingSpec, build_mapper
from connectors.runner import ConnectorRunner, dead_letter_for, summary_counts
from connectors.source import SourceRecord
from hub.config import HubSettings
from hub.errors import ConfigError, HubError, MappingError, RecordRejected
from hub.models import CHINA_TZ

__all__ = ["app", "main", "run_configs", "sample_records"]

app = typer.Typer(help="Connectors: agency exports become case events.", no_args_is_help=True)
log = logging.getLogger(__name__)


def _load(config_path: Path) -> ConnectorConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        typer.echo(f"{config_path}: invalid connector config", err=True)
        for problem in exc.problems or [str(exc)]:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2) from exc


def _event_types(config: ConnectorConfig) -> str:
    mapping = config.mapping
    if isinstance(mapping, MappingSpec):
        return mapping.event_type
    return ", ".join(sorted({route.event_type for route in mapping.routes.values()}))


@app.command()
def validate(configs: Annotated[list[Path], typer.Argument(help="Connector YAML file(s)")]
             ) -> None:
    """Check connector configs; every problem is listed with its YAML path."""
    failed = False
    for config in configs:
        try:
            loaded = load_config(config)
        except ConfigError as exc:
            failed = True
            typer.echo(f"{config}: invalid connector config", err=True)
            for problem in exc.problems or [str(exc)]:
                typer.echo(f"  - {problem}", err=True)
            continue
        typer.echo(f"{config}: valid ({loaded.kind} connector {loaded.id}, "
                   f"{_event_types(loaded)} → lf.ingest.{loaded.unit}.{loaded.stream})")
    if failed:
        raise typer.Exit(2)


def sample_records(config: ConnectorConfig, sample: Path) -> Iterator[SourceRecord]:
    """Records of a sample file, read the way the config's kind reads its source."""
    if config.kind == "xml":
        from connectors.kinds.xml import iter_xml_records

        yield from iter_xml_records(sample, config.source.record_tag, "sample")  # type: ignore[union-attr]
        return
    if config.kind in ("http", "sql") or sample.suffix.lower() == ".json":
        data: Any = json.loads(sample.read_text(encoding="utf-8"))
        path = getattr(config.source, "records_path", "")
        from connectors.kinds.http import dotted, flatten_record

        records = dotted(data, path) if path and isinstance(data, dict) else data
        for index, row in enumerate(records or [], start=1):
            raw = json.dumps(row, ensure_ascii=False).encode()
            flat = flatten_record(row) if config.kind == "http" else row
            yield SourceRecord(flat, raw, {}, f"{sample.name}#{index}")
        return
    from connectors.config import FileSourceConfig
    from connectors.kinds.file import FileSource

    source_config = config.source if isinstance(config.source, FileSourceConfig) \
        else FileSourceConfig(path=sample.parent)
    source = FileSource(source_config)
    reader = source._xlsx if sample.suffix.lower() in (".xlsx", ".xlsm") else source._csv
    yield from reader(sample, "sample", {})


@app.command()
def test(config: Annotated[Path, typer.Argument(help="Connector YAML")],
         sample: Annotated[Path, typer.Option(help="A sample export to map")],
         limit: Annotated[int, typer.Option(help="Events to print")] = 5) -> None:
    """Dry run: map a sample export, print events and rejections; nothing is produced."""
    loaded = _load(config)
    mapper = build_mapper(loaded.mapping, unit=loaded.unit, connector_id=loaded.id)
    now = datetime.now(CHINA_TZ)
    mapped = rejected = 0
    for record in sample_records(loaded, sample):
        if record.marker:
            continue
        try:
            if record.problem is not None or record.row is None:
                raise record.problem or RecordRejected("unparseable record")
            event = mapper.map(record.row, record.reference, now).event
        except (RecordRejected, MappingError, ValidationError) as exc:
            rejected += 1
            letter = dead_letter_for(exc)
            typer.echo(f"REJECTED {record.reference}: {letter.error_type}: {letter.reason}"
                       f" (field {letter.field or '-'}, value {letter.value!r})")
            continue
        mapped += 1
        if mapped <= limit:
            typer.echo(json.dumps(event.model_dump(mode="json"), ensure_ascii=False, indent=2))
    typer.echo(f"{mapped} event(s) mapped, {rejected} rejected")


@app.command()
def run(configs: Annotated[list[Path], typer.Argument(help="Connector YAML file(s)")],
        once: Annotated[bool, typer.Option("--once", help="Stop when the source is drained")]
        = False) -> None:
    """Run connectors until stopped; SIGTERM stops them all cleanly.

    One process per config is the recommended deployment (a crash, a restart or a memory
    spike touches one source). Several configs in one process are for small units and the
    demo: each runs as its own pipeline (own checkpoint, DLQ and metrics labels) and one
    that fails does not stop the others.
    """
    loaded = [_load(path) for path in configs]
    duplicates = sorted({c.id for c in loaded if [d.id for d in loaded].count(c.id) > 1})
    if duplicates:
        typer.echo(f"connector ids must be unique in one process: {', '.join(duplicates)}",
                   err=True)
        raise typer.Exit(2)
    results = asyncio.run(run_configs(loaded, once=once))
    for result in results:
        typer.echo(json.dumps(result, ensure_ascii=False))
    if any(result.get("error") for result in results):
        raise typer.Exit(1)


async def run_configs(configs: list[ConnectorConfig], *, once: bool,
                      settings: HubSettings | None = None) -> list[dict[str, Any]]:
    """Run several configs as asyncio tasks of this process; one result line per config.

    A config that fails is logged and reported with its error while the others go on;
    SIGTERM / SIGINT ask every runner to stop, each finishing its in-flight records and
    writing its checkpoint.
    """
    runners: list[ConnectorRunner] = []
    results: list[dict[str, Any]] = []
    for config in configs:
        try:
            runners.append(ConnectorRunner(config, settings=settings))
        except HubError as exc:  # e.g. a mapping that does not compile: report, go on
            log.exception("connector %s cannot start", config.id)
            results.append({"connector": config.id, "read": 0, "produced": 0, "rejected": 0,
                            "error": f"{type(exc).__name__}: {exc}"})

    def stop_all() -> None:
        for runner in runners:
            runner.stop()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_all)
    try:
        outcomes = await asyncio.gather(*(runner.run(once=once) for runner in runners),
                                        return_exceptions=True)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    for runner, outcome in zip(runners, outcomes, strict=True):
        counts = summary_counts(runner.metrics)
        result: dict[str, Any] = {"connector": runner.config.id, "read": int(counts["read"]),
                                  "produced": int(counts["produced"]),
                                  "rejected": int(counts["rejected"])}
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome  # KeyboardInterrupt, cancellation: not a connector failure
            log.error("connector %s failed: %s", runner.config.id, outcome,
                      exc_info=outcome)
            result["error"] = f"{type(outcome).__name__}: {outcome}"
        results.append(result)
    return results


def main() -> None:
    """Entry point of ``python -m connectors``."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app()
