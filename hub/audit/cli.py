"""``liangfa audit verify | seal``: check the chained audit log; run its sealer.

``verify`` exits 0 when every partition's chain holds, 1 when a record was altered,
removed, inserted or moved (each named by partition, offset and audit id), 2 when the
topic cannot be read.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from hub.audit.chain import AUDIT_TOPIC, INTAKE_TOPIC
from hub.config import HubSettings

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True)

BootstrapOption = Annotated[str | None, typer.Option("--bootstrap", help="Broker address "
                                                     "(default: settings).")]
RegistryOption = Annotated[str | None, typer.Option("--registry-url", help="Registry URL "
                                                    "(default: settings).")]


def _settings(bootstrap: str | None, registry_url: str | None) -> HubSettings:
    overrides: dict[str, str] = {}
    if bootstrap:
        overrides["bootstrap"] = bootstrap
    if registry_url:
        overrides["registry_url"] = registry_url
    return HubSettings(**overrides)  # type: ignore[arg-type]


@app.command("verify")
def verify(
    bootstrap: BootstrapOption = None,
    registry_url: RegistryOption = None,
    topic: Annotated[str, typer.Option(help="The chained audit topic.")] = AUDIT_TOPIC,
    anchors: Annotated[Path | None, typer.Option(
        "--anchors", exists=True, dir_okay=False,
        help="Heads written by an earlier --write-anchors: each must still be in the "
        "chain (finds a cut tail or a rewritten chain).")] = None,
    write_anchors: Annotated[Path | None, typer.Option(
        "--write-anchors", dir_okay=False,
        help="Write each partition's head here (keep it off this host).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
) -> None:
    """Check every record of the audit log's hash chain; exit 1 naming each broken one."""
    from aiokafka.errors import KafkaError

    from hub.audit.verify import load_anchors, verify_topic
    from hub.audit.verify import write_anchors as save_anchors
    from hub.errors import HubError

    settings = _settings(bootstrap, registry_url)
    try:
        wanted = load_anchors(anchors) if anchors else None
        report = asyncio.run(verify_topic(
            settings.bootstrap, settings.registry_url, topic,
            security=settings.kafka_security, registry_auth=settings.registry_auth,
            anchors=wanted))
    except (HubError, KafkaError, OSError) as exc:
        typer.echo(f"error: cannot read {topic}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps({
            "topic": report.topic, "ok": report.ok,
            "partitions": [{"partition": p, "records": s.records, "sealed": s.sealed,
                            "legacy": s.legacy, "head_sequence": s.head_sequence,
                            "head_hash": s.head_hash}
                           for p, s in sorted(report.partitions.items())],
            "findings": [{"kind": f.kind, "partition": f.partition, "offset": f.offset,
                          "audit_id": f.audit_id, "detail": f.detail}
                         for f in report.findings]}, ensure_ascii=False, indent=2))
    else:
        for partition, summary in sorted(report.partitions.items()):
            head = ("empty" if summary.head_sequence is None
                    else f"head sequence {summary.head_sequence} "
                         f"hash {(summary.head_hash or '')[:16]}…")
            legacy = f", {summary.legacy} from before the chain" if summary.legacy else ""
            typer.echo(f"{topic}[{partition}]: {summary.sealed} sealed records{legacy}; "
                       f"{head}")
        for finding in report.findings:
            typer.echo(str(finding), err=True)
        verdict = ("chain intact" if report.ok
                   else f"{len(report.findings)} problem(s) found")
        typer.echo(f"{topic}: {verdict}", err=not report.ok)
    if write_anchors is not None:
        save_anchors(write_anchors, report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("seal")
def seal(
    bootstrap: BootstrapOption = None,
    registry_url: RegistryOption = None,
    intake: Annotated[str, typer.Option(help="Where writers produce audit records.")]
    = INTAKE_TOPIC,
    topic: Annotated[str, typer.Option(help="The chained audit topic.")] = AUDIT_TOPIC,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port",
                                                     help="Port of /metrics.")] = None,
) -> None:
    """Run the audit sealer: append intake records to the chain until SIGTERM/SIGINT."""
    from hub.audit.sealer import run_sealer

    run_sealer(_settings(bootstrap, registry_url), intake=intake, audit=topic,
               metrics_port=metrics_port)


def audit_admin_change(settings: HubSettings, *, units: Path | None, command: str,
                       target: str, detail: str, count: int | None = None) -> None:
    """Audit an administrative command that has run; exit 3 if the record is not written.

    The change is already made when this runs (the bus cannot hold a record of a change
    that might still fail), so a failure here is said loudly, never swallowed.
    """
    from hub.audit.record import record_admin_change

    try:
        record_admin_change(settings, units=units, command=command, target=target,
                            detail=detail, count=count)
    except Exception as exc:  # whatever failed, the operator must know
        typer.echo(f"error: {command} is done but its audit record was not written: {exc}",
                   err=True)
        raise typer.Exit(3) from exc
