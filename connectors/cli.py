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
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from connectors.chunks import EventHeaders, dead_letter_for, map_rows
from connectors.config import ConnectorConfig, load_config
from connectors.delivery import DeadLetter
from connectors.kinds.dropfolder import FileRejected
from connectors.mapping import AnyMapper, DispatchMapper, Mapper, MappingSpec, build_mapper
from connectors.runner import ConnectorRunner, summary_counts
from connectors.source import SourceRecord
from hub.config import HubSettings
from hub.errors import ConfigError, HubError, RecordRejected
from hub.logs import configure_logging
from hub.models import CHINA_TZ
from hub.serde import LocalSerde

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
def validate(configs: Annotated[list[Path], typer.Argument(help="Connector YAML file(s)")],
             sample: Annotated[Path | None, typer.Option(
                 help="A sample export: list its columns no rule reads and the mapped "
                      "fields it leaves empty")] = None) -> None:
    """Check connector configs; every problem is listed with its YAML path."""
    from connectors.sinks.cli import is_sink_file
    from connectors.sinks.config import load_sink_config

    failed = False
    for config in configs:
        if is_sink_file(config):
            try:
                sink = load_sink_config(config)
            except ConfigError as exc:
                failed = True
                typer.echo(f"{config}: invalid sink config", err=True)
                for problem in exc.problems or [str(exc)]:
                    typer.echo(f"  - {problem}", err=True)
                continue
            typer.echo(f"{config}: valid ({sink.kind} sink {sink.id}, {sink.inbox} → "
                       f"{sink.kind} target, receipts → lf.ingest.{sink.unit}."
                       f"{sink.receipts_stream})")
            continue
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
        if sample is not None:
            mapper = build_mapper(loaded.mapping, unit=loaded.unit, connector_id=loaded.id)
            records = list(sample_records(loaded, sample))
            for record in records:
                if isinstance(record.problem, FileRejected):
                    failed = True
                    typer.echo(f"  - {sample}: {record.problem.reason}", err=True)
            rows = [r.row for r in records if r.row is not None]
            for line in column_report(mapper, rows):
                typer.echo(f"  - WARNING {line}")
    if failed:
        raise typer.Exit(2)


def sample_records(config: ConnectorConfig, sample: Path) -> Iterator[SourceRecord]:
    """Records of a sample file, read the way the config's kind reads its source.

    A sample that cannot be read as a whole (malformed JSON, not a zip, an XML entity
    bomb...) ends with one record carrying the refusal, exactly what the running
    connector would dead-letter and quarantine: never a traceback.
    """
    try:
        yield from _sample_records(config, sample)
    except FileRejected as exc:
        yield _refused(sample, exc)
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        yield _refused(sample, FileRejected(f"{sample.name} is not valid JSON: {exc}",
                                            error_type="malformed_json", value=sample.name))
    except OSError as exc:
        yield _refused(sample, FileRejected(f"{sample.name} cannot be read: {exc}",
                                            error_type="unreadable_file", value=sample.name))
    except Exception as exc:  # noqa: BLE001 - a parser failing on a file refuses that file
        yield _refused(sample, FileRejected(
            f"{sample.name} cannot be read: {type(exc).__name__}: {exc}",
            error_type="unreadable_file", value=sample.name))


def _refused(sample: Path, problem: FileRejected) -> SourceRecord:
    return SourceRecord(None, b"", {}, f"{sample.name}#file",
                        {"source.file": sample.name, "source.row": "file"}, problem)


def _sample_records(config: ConnectorConfig, sample: Path) -> Iterator[SourceRecord]:
    if config.kind == "xml":
        from connectors.kinds.xml import iter_xml_records

        yield from iter_xml_records(sample, config.source.record_tag, "sample")  # type: ignore[union-attr]
        return
    if config.kind in ("http", "sql") or sample.suffix.lower() == ".json":
        data: Any = json.loads(sample.read_text(encoding="utf-8"))
        path = getattr(config.source, "records_path", "")
        from connectors.kinds.http import dotted, flatten_record

        records = dotted(data, path) if path and isinstance(data, dict) else data
        if not isinstance(records, list):
            raise FileRejected(f"{sample.name}: expected a list of records"
                               f"{f' at {path!r}' if path else ''}, found "
                               f"{type(records).__name__}", error_type="malformed_json",
                               value=sample.name)
        for index, row in enumerate(records, start=1):
            raw = json.dumps(row, ensure_ascii=False).encode()
            if not isinstance(row, dict):
                yield SourceRecord(None, raw, {}, f"{sample.name}#{index}", {},
                                   RecordRejected(f"record {index} is not an object",
                                                  field="record", error_type="malformed_json"))
                continue
            flat = flatten_record(row) if config.kind == "http" else row
            payload_column = getattr(config.source, "payload_column", None)
            if config.kind == "sql" and payload_column and payload_column in flat:
                # an outbox row as the table holds it: its JSON payload becomes columns,
                # as the sql kind reads it (a bad payload is refused, naming the column)
                from connectors.kinds.sql import _with_payload

                try:
                    flat = _with_payload(flat, payload_column)
                except RecordRejected as exc:
                    yield SourceRecord(None, raw, {}, f"{sample.name}#{index}", {}, exc)
                    continue
            yield SourceRecord(flat, raw, {}, f"{sample.name}#{index}")
        return
    from connectors.config import FileSourceConfig
    from connectors.kinds.file import FileSource

    source_config = config.source if isinstance(config.source, FileSourceConfig) \
        else FileSourceConfig(path=sample.parent)
    source = FileSource(source_config)
    reader = source._xlsx if sample.suffix.lower() in (".xlsx", ".xlsm") else source._csv
    yield from reader(sample, "sample", {})


def column_report(mapper: AnyMapper, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What a sample says about the mapping: every column it does not use, and every
    mapped field that stays empty in every row. A column lost without a word is how a
    whole export maps with the party's credit code empty."""
    lines: list[str] = []
    wanted = mapper.columns()
    routes = mapper.routes if isinstance(mapper, DispatchMapper) else {"": mapper}
    headers: dict[str, None] = {}
    for row in rows:
        headers.update(dict.fromkeys(row))
    resolved_headers = set()
    for header in headers:
        target = _resolved_name(routes, header, tuple(headers))
        resolved_headers.add(target)
        if target not in wanted:
            lines.append(f"unused column {header!r}: no rule of the mapping reads it")
        elif target != header:
            lines.append(f"column {header!r} read as {target!r}")
    for key, route in routes.items():
        chosen = [route.matcher.resolve(row) for row in rows
                  if not key or str(row.get(mapper.discriminator, "")).strip() == key]  # type: ignore[union-attr]
        if not chosen:
            continue
        for name, rule in route.spec.fields.items():
            columns = rule.source_columns()
            if not columns or any(_filled(row.get(c)) for row in chosen for c in columns):
                continue
            where = f" (record type {key})" if key else ""
            state = "absent from" if not resolved_headers.intersection(columns) \
                else "empty in every row of"
            lines.append(f"field {name}{where} stays empty: column(s) "
                         f"{' / '.join(columns)} {state} the sample")
    return lines


def _resolved_name(routes: Mapping[str, Mapper], header: str, headers: tuple[str, ...]
                   ) -> str:
    for route in routes.values():
        renamed = route.matcher.renames(headers).get(header)
        if renamed is not None:
            return renamed
    return header


def _filled(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


@app.command()
def test(config: Annotated[Path, typer.Argument(help="Connector YAML")],
         sample: Annotated[Path, typer.Option(help="A sample export to map")],
         limit: Annotated[int, typer.Option(help="Events to print")] = 5) -> None:
    """Dry run: the pipeline of ``run`` (parse, map, validate, Avro-encode) on a sample
    export; prints events, rejections, unused columns and fields left empty. Nothing is
    produced."""
    loaded = _load(config)
    mapper = build_mapper(loaded.mapping, unit=loaded.unit, connector_id=loaded.id,
                          validate=loaded.validate_events)
    local = LocalSerde()
    for avro_name in mapper.avro_names():
        local.bind_writer(avro_name, 0)  # no registry: the bytes are only checked
    headers = EventHeaders()
    now = datetime.now(CHINA_TZ)
    mapped = rejected = 0
    rows: list[Mapping[str, Any]] = []
    for record in sample_records(loaded, sample):
        if record.marker:
            continue
        letter: DeadLetter | None = None
        if record.problem is not None or (record.row is None and record.parser is None):
            letter = dead_letter_for(record.problem or RecordRejected("unparseable record"))
        else:
            item = record.row if record.row is not None else record.raw
            outcome = map_rows(mapper, local, headers, [(item, record.reference,
                                                         record.parser)], now)[0]
            if isinstance(outcome, DeadLetter):
                letter = outcome
            if record.row is not None:
                rows.append(record.row)
        if letter is not None:
            rejected += 1
            typer.echo(f"REJECTED {record.reference}: {letter.error_type}: {letter.reason}"
                       f" (field {letter.field or '-'}, value {letter.value[:200]!r})")
            continue
        mapped += 1
        if mapped <= limit and record.row is not None:
            event = mapper.map(record.row, record.reference, now).event
            typer.echo(json.dumps(event.model_dump(mode="json"), ensure_ascii=False, indent=2))
    for line in column_report(mapper, rows):
        typer.echo(f"WARNING {line}")
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
    from connectors.sinks.cli import is_sink_file, load_sink, run_sinks

    sinks = [load_sink(path) for path in configs if is_sink_file(path)]
    loaded = [_load(path) for path in configs if not is_sink_file(path)]
    ids = [c.id for c in loaded] + [s.id for s in sinks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        typer.echo(f"connector ids must be unique in one process: {', '.join(duplicates)}",
                   err=True)
        raise typer.Exit(2)
    if sinks and loaded:
        typer.echo("run sink configs (direction: sink) in their own process: each kind "
                   "installs its own SIGTERM handling", err=True)
        raise typer.Exit(2)
    results = asyncio.run(run_sinks(sinks, once=once) if sinks
                          else run_configs(loaded, once=once))
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
    configure_logging(logging.INFO)
    app()
