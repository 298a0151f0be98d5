"""``liangfa dlq list | show | replay``: dead letters a person can fix (``hub/dlq``)."""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.config import HubSettings
from hub.dlq.records import (
    DeadLetterRecord,
    Selection,
    dead_letter_topics,
    read_dead_letters,
    render_record,
    render_text,
    settled_letters,
    summarize,
)
from hub.dlq.replay import AUDIT_INTAKE_TOPIC

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

_Bootstrap = Annotated[str | None, typer.Option(help="Broker address (default: settings).")]
_Partition = Annotated[int | None, typer.Option(help="Only this partition.")]
_From = Annotated[int | None, typer.Option("--from", help="First offset (inclusive).")]
_To = Annotated[int | None, typer.Option("--to", help="Last offset (inclusive).")]
_Reason = Annotated[str | None, typer.Option(
    "--reason", help="Only this error type (error.type header, e.g. not-entitled).")]
_AuditTopic = Annotated[str, typer.Option(
    help="Where the audit record goes (the audit sealer's intake).")]
_Source = Annotated[str | None, typer.Option(
    help="Only records from this topic (source.topic) or this file (source.file).")]


def _selection(partition: int | None, from_offset: int | None, to_offset: int | None,
               reason: str | None, source: str | None) -> Selection:
    return Selection(partition, from_offset, to_offset, reason, source)


def _read(settings: HubSettings, bootstrap: str | None, topic: str,
          selection: Selection, *, markers: bool = False) -> list[DeadLetterRecord]:
    try:
        return asyncio.run(read_dead_letters(bootstrap or settings.bootstrap, topic,
                                             security=settings.kafka_security,
                                             selection=selection, markers=markers))
    except LookupError as exc:
        typer.echo(f"liangfa dlq: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("list")
def list_(
    topic: Annotated[str | None, typer.Argument(help="One dead-letter topic (default: all "
                                                "lf.dlq.* topics).")] = None,
    bootstrap: _Bootstrap = None,
    top: Annotated[int, typer.Option(help="Sources listed per topic.")] = 5,
) -> None:
    """Dead-letter topics with their pending records counted by error type and by source
    (settled ones, replayed or resolved, are counted apart)."""
    settings = HubSettings()
    address = bootstrap or settings.bootstrap
    topics = [topic] if topic else asyncio.run(
        dead_letter_topics(address, security=settings.kafka_security))
    if not topics:
        typer.echo("no dead-letter topics (lf.dlq.*) on the broker")
        return
    for name in topics:
        every = _read(settings, bootstrap, name, Selection(), markers=True)
        summary = summarize(name, every, settled_letters(every))
        if not summary.records:
            typer.echo(f"{name}: nothing pending ({summary.settled} settled)")
            continue
        assert summary.first is not None and summary.last is not None
        typer.echo(f"{name}: {summary.records} pending ({summary.replayable} replayable, "
                   f"{summary.settled} settled), "
                   f"{summary.first.isoformat(timespec='seconds')} .. "
                   f"{summary.last.isoformat(timespec='seconds')}")
        for error_type, count in summary.by_error.most_common():
            typer.echo(f"  reason {render_text(error_type)}: {count}")
        for source, count in summary.by_source.most_common(top):
            typer.echo(f"  source {render_text(source)}: {count}")


@app.command("show")
def show(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic.")],
    offset: Annotated[int | None, typer.Option(help="Only the record at this offset.")]
    = None,
    partition: _Partition = None,
    from_offset: _From = None,
    to_offset: _To = None,
    reason: _Reason = None,
    source: _Source = None,
    limit: Annotated[int, typer.Option(help="Records shown at most.")] = 20,
    unmasked: Annotated[bool, typer.Option(
        "--unmasked", help="Show ID numbers and names as they are (audit your reason).")]
    = False,
    bootstrap: _Bootstrap = None,
) -> None:
    """Records with their headers, reason and payload (ID numbers masked by default)."""
    settings = HubSettings()
    if offset is not None:
        from_offset = to_offset = offset
    records = _read(settings, bootstrap, topic,
                    _selection(partition, from_offset, to_offset, reason, source))
    if not records:
        typer.echo(f"{topic}: no record matches")
        raise typer.Exit(1)
    settled = settled_letters(_read(settings, bootstrap, topic, Selection(), markers=True))
    decoded = asyncio.run(_decode_all(settings, records[:limit]))
    for record, body in zip(records[:limit], decoded, strict=True):
        typer.echo(render_record(record, decoded=body, masked=not unmasked,
                                 settled=settled.get(record.letter_id, "")))
        typer.echo("")
    if len(records) > limit:
        typer.echo(f"… {len(records) - limit} more (--limit, --from/--to to page)")


async def _decode_all(settings: HubSettings,
                      records: list[DeadLetterRecord]) -> list[tuple[str, dict[str, Any]] | None]:
    """Decode Avro payloads (Confluent wire format) with the registry; None otherwise."""
    from hub.registry import SchemaRegistryClient
    from hub.serde import AvroSerde

    if not any(r.value and r.value[:1] == b"\x00" and len(r.value) > 5 for r in records):
        return [None] * len(records)
    out: list[tuple[str, dict[str, Any]] | None] = []
    async with SchemaRegistryClient(settings.registry_url,
                                    auth=settings.registry_auth) as registry:
        serde = AvroSerde(registry, register=False)
        for record in records:
            value = record.value
            if not value or value[:1] != b"\x00" or len(value) <= 5:
                out.append(None)
                continue
            try:
                out.append(await serde.decode_raw(value))
            except Exception:  # noqa: BLE001 - undecodable bytes are shown as text instead
                out.append(None)
    return out


@app.command("replay")
def replay(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic.")],
    partition: _Partition = None,
    from_offset: _From = None,
    to_offset: _To = None,
    reason: _Reason = None,
    source: _Source = None,
    unit: Annotated[str | None, typer.Option(
        help="统一社会信用代码 of the operator's unit, for the audit record "
             "(default: $LIANGFA_OPERATOR_UNIT).")] = None,
    actor: Annotated[str | None, typer.Option(help="Who replays (default: login name).")]
    = None,
    note: Annotated[str, typer.Option(help="Why: the fix that makes the replay work.")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be replayed.")]
    = False,
    audit_topic: _AuditTopic = AUDIT_INTAKE_TOPIC,
    bootstrap: _Bootstrap = None,
) -> None:
    """Send the selected dead letters back to their original topic, once each, audited."""
    from hub.dlq.replay import replay as run_replay
    from hub.registry import SchemaRegistryClient
    from hub.serde import AvroSerde

    settings = HubSettings()
    actor_unit = _check_selected("replay", unit, dry_run, from_offset, to_offset, reason,
                                 source)
    records = _read(settings, bootstrap, topic,
                    _selection(partition, from_offset, to_offset, reason, source))
    address = bootstrap or settings.bootstrap

    async def go() -> Any:
        if dry_run:
            return await run_replay(address, records, serde=None, actor="", actor_unit="",
                                    security=settings.kafka_security, dry_run=True)
        async with SchemaRegistryClient(settings.registry_url,
                                        auth=settings.registry_auth) as registry:
            return await run_replay(address, records, serde=AvroSerde(registry),
                                    actor=actor or getpass.getuser(), actor_unit=actor_unit,
                                    note=note, security=settings.kafka_security,
                                    audit_topic=audit_topic)

    report = asyncio.run(go())
    verb = "would replay" if dry_run else "replayed"
    typer.echo(f"{verb} {len(report.replayed)}, already replayed {len(report.already)}, "
               f"refused {len(report.refused)} (of {len(records)} selected)")
    for target, count in sorted(report.targets.items()):
        typer.echo(f"  → {target}: {count}")
    for letter_id, why in report.refused:
        typer.echo(f"  refused {letter_id}: {why}")
    if report.audit_event_id:
        typer.echo(f"audited: event {report.audit_event_id} on {audit_topic}")
    if report.refused:
        raise typer.Exit(1)


def _check_selected(command: str, unit: str | None, dry_run: bool, *criteria: object) -> str:
    """The operator's unit; exit 2 when no record is selected or no unit is given."""
    if all(criterion is None for criterion in criteria):
        typer.echo(f"liangfa dlq {command}: select the records (--from/--to, --reason or "
                   f"--source); a whole topic is never a default", err=True)
        raise typer.Exit(2)
    actor_unit = unit or os.environ.get("LIANGFA_OPERATOR_UNIT", "")
    if not actor_unit and not dry_run:
        typer.echo(f"liangfa dlq {command}: --unit (or LIANGFA_OPERATOR_UNIT) names the "
                   "operator's unit in the audit record", err=True)
        raise typer.Exit(2)
    return actor_unit


@app.command("resolve")
def resolve(
    topic: Annotated[str, typer.Argument(help="The dead-letter topic.")],
    note: Annotated[str, typer.Option(help="How they were fixed (required, audited).")],
    partition: _Partition = None,
    from_offset: _From = None,
    to_offset: _To = None,
    reason: _Reason = None,
    source: _Source = None,
    unit: Annotated[str | None, typer.Option(
        help="统一社会信用代码 of the operator's unit (default: $LIANGFA_OPERATOR_UNIT).")]
    = None,
    actor: Annotated[str | None, typer.Option(help="Who resolves (default: login name).")]
    = None,
    audit_topic: _AuditTopic = AUDIT_INTAKE_TOPIC,
    bootstrap: _Bootstrap = None,
) -> None:
    """Mark dead letters settled without replaying them (a connector's rows after the
    corrected export was dropped again, or records dropped on purpose), audited."""
    from hub.dlq.replay import settle
    from hub.registry import SchemaRegistryClient
    from hub.serde import AvroSerde

    settings = HubSettings()
    actor_unit = _check_selected("resolve", unit, False, from_offset, to_offset, reason,
                                 source)
    if not note.strip():
        typer.echo("liangfa dlq resolve: --note says how the records were fixed", err=True)
        raise typer.Exit(2)
    records = _read(settings, bootstrap, topic,
                    _selection(partition, from_offset, to_offset, reason, source))

    async def go() -> Any:
        async with SchemaRegistryClient(settings.registry_url,
                                        auth=settings.registry_auth) as registry:
            return await settle(bootstrap or settings.bootstrap, records,
                                serde=AvroSerde(registry), actor=actor or getpass.getuser(),
                                actor_unit=actor_unit, note=note,
                                security=settings.kafka_security, audit_topic=audit_topic)

    report = asyncio.run(go())
    typer.echo(f"resolved {len(report.replayed)}, already settled {len(report.already)} "
               f"(of {len(records)} selected)")
    if report.audit_event_id:
        typer.echo(f"audited: event {report.audit_event_id} on {audit_topic}")


@app.command("exporter")
def exporter(
    port: Annotated[int, typer.Option(help="Serve /metrics on this port (the view port + 40 "
                                      "by convention).")] = 8640,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    interval: Annotated[float, typer.Option(help="Seconds between refreshes.")] = 60.0,
    bootstrap: _Bootstrap = None,
) -> None:
    """Serve the DLQ depth (pending dead letters by topic and reason, the oldest pending
    one's age) as liangfa_dlq_* series for Prometheus, until SIGTERM/SIGINT."""
    import signal

    from prometheus_client import start_http_server

    from hub.dlq.exporter import DlqExporter

    settings = HubSettings()
    start_http_server(port, addr=host)
    typer.echo(f"liangfa dlq exporter: /metrics on {host}:{port}, refresh every {interval:g}s")

    async def go() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await DlqExporter(bootstrap or settings.bootstrap,
                          settings.kafka_security).run(interval, stopping)

    asyncio.run(go())


@app.command("quarantined")
def quarantined(
    configs: Annotated[list[Path], typer.Argument(help="Connector configuration files.")],
) -> None:
    """Files the connectors quarantined, with when and why (from their reason files)."""
    from connectors.config import load_config
    from hub.dlq.quarantine import quarantined_files

    total = 0
    for path in configs:
        config = load_config(path)
        quarantine = getattr(config.source, "quarantine_dir", None)
        if quarantine is None:
            typer.echo(f"{config.id}: a {config.kind} connector has no quarantine folder")
            continue
        folder = quarantine()
        files = quarantined_files(folder)
        total += len(files)
        typer.echo(f"{config.id} ({folder}): {len(files)} quarantined")
        for item in files:
            typer.echo(f"  {render_text(item.name)}  {item.size:,} bytes  {item.quarantined_at}"
                       f"  {render_text(item.reason)}")
    if total:
        typer.echo("Fix: drop a corrected export (the same bytes are skipped as already "
                   "seen), then `liangfa dlq resolve lf.dlq.<connector> --source <file>`.")
