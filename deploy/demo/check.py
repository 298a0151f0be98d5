"""``liangfa demo check``: the hub's alerts and dead letters against the planted gaps.

The generator writes what it planted into ``manifest.json``: gaps that were due by the
export date (``gaps[]``) and clocks still running then (``pending_clocks[]``). The hub's
deadline sweep runs on today's date, so every pending clock whose due date has passed
since the export is expected too. The comparison is per alert kind and per case, so a
person sees not only whether the counts agree but which cases the hub found that nobody
planted, and which planted cases it missed.

An alert resolved as done in time (``details.late == "false"``) is not a finding: the hub
raised it only because it read the act after the clock's due time (a backfill whose sources
arrive in a different order, a sweep on wall time before the next batch) and took it back
once the act arrived. Such cases are counted apart (``in time``), never as found or extra.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.config import KafkaSecurity

__all__ = ["ActComparison", "KindComparison", "act_rules", "app", "compare_acts",
           "compare_alerts", "read_alerts"]

app = typer.Typer(help="Check the demo county's results against its planted gaps.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@dataclass
class KindComparison:
    """One alert kind: what the hub raised against what the generator expects."""

    kind: str
    hub_cases: int = 0
    hub_open: int = 0
    planted: int = 0
    pending_now_due: int = 0
    found: int = 0
    missed: int = 0
    extra_open: int = 0
    extra_resolved: int = 0
    #: Cases whose every alert of the kind was resolved as done in time (see module doc).
    in_time: int = 0
    missed_cases: list[str] = field(default_factory=list)
    extra_cases: list[str] = field(default_factory=list)


def compare_alerts(alerts: Iterable[Mapping[str, Any]], manifest: Mapping[str, Any],
                   today: date, *, examples: int = 5) -> list[KindComparison]:
    """Compare the latest state of each alert with the manifest's gaps and due clocks."""
    expected: dict[str, set[str]] = defaultdict(set)
    planted: dict[str, set[str]] = defaultdict(set)
    planted_gaps: dict[str, int] = defaultdict(int)  # gaps without a case id count too
    pending: dict[str, set[str]] = defaultdict(set)
    for gap in manifest.get("gaps", []):
        if gap.get("alert_kind"):
            planted_gaps[gap["alert_kind"]] += 1
            if gap.get("case_id"):
                planted[gap["alert_kind"]].add(gap["case_id"])
    for clock in manifest.get("pending_clocks", []):
        # ``due`` is the last day allowed: the hub raises the alert when that day is over.
        if date.fromisoformat(str(clock["due"])) < today:
            pending[clock["alert_kind"]].add(clock["case_id"])
    for kind in set(planted) | set(pending):
        expected[kind] = planted[kind] | pending[kind]
    raised: dict[str, set[str]] = defaultdict(set)
    still_open: dict[str, set[str]] = defaultdict(set)
    in_time: dict[str, set[str]] = defaultdict(set)
    for alert in alerts:
        kind, case = str(alert["kind"]), str(alert["case_id"])
        if _done_in_time(alert):
            in_time[kind].add(case)
            continue
        raised[kind].add(case)
        if str(alert["status"]) != "RESOLVED":
            still_open[kind].add(case)
    rows = []
    for kind in sorted(set(raised) | set(expected) | set(in_time)):
        hub, wanted = raised[kind], expected[kind]
        extra = hub - wanted
        rows.append(KindComparison(
            kind=kind, hub_cases=len(hub), hub_open=len(still_open[kind]),
            planted=max(len(planted[kind]), planted_gaps[kind]),
            pending_now_due=len(pending[kind] - planted[kind]),
            found=len(hub & wanted), missed=len(wanted - hub),
            extra_open=len(extra & still_open[kind]),
            extra_resolved=len(extra - still_open[kind]),
            in_time=len(in_time[kind] - hub),
            missed_cases=sorted(wanted - hub)[:examples],
            extra_cases=sorted(extra)[:examples]))
    return rows


@dataclass
class ActComparison:
    """One kind of act that must be answered: what the generator planted (manifest
    ``acts``: sent, answered in time, late, never, pending at the export) against the
    hub's clock for it (its deadlines.yaml rule): expected = answered late or never
    (gaps with ``detail.act``) plus clocks pending at the export and due by ``today``."""

    act: str
    rule_id: str
    planted: int = 0
    in_time: int = 0
    late: int = 0
    unanswered: int = 0
    pending: int = 0
    expected: int = 0
    pending_now_due: int = 0
    found: int = 0
    missed: int = 0
    #: Open alerts of the rule on a case no act of that rule expects.
    extra_open: int = 0
    missed_cases: list[str] = field(default_factory=list)
    extra_cases: list[str] = field(default_factory=list)


#: Acts that are not ProsecutorialAction.action values: the rule timing their answer.
OTHER_ACT_RULES: dict[str, str] = {
    "CONSULTATION": "consultation-unanswered",
    "EARLY_INTERVENTION_INVITATION": "early-intervention-unattended",
    "JUDICIAL_RECOMMENDATION": "judicial-recommendation-unanswered",
    "RAISED_JUDICIAL_RECOMMENDATION": "raised-judicial-recommendation-unanswered",
    # the clock to enforcement 执行到位, started by a penalty exported 未执行
    "PENALTY_ENFORCEMENT": "penalty-not-enforced",
    # leads 线索移送 per destination: the receiver's feedback clock
    "LEAD_SUPERVISION_COMMISSION": "lead-feedback-overdue",
    "LEAD_JUSTICE_BUREAU": "lead-feedback-overdue",
    "LEAD_PUBLIC_INTEREST_LITIGATION": "lead-feedback-overdue",
    # 撤案 stops the filed case's year: its row expects no alert of that rule on its cases
    "POLICE_CANCELLATION": "filed-case-not-concluded-1-year",
}


def act_rules() -> dict[str, str]:
    """Act (ProsecutorialAction.action) → the deadlines.yaml rule whose clock it starts."""
    from hub.rules import load_deadlines

    rules: dict[str, str] = {}
    for rule in load_deadlines().rules:
        for matcher in rule.starts_on:
            if matcher.event_type == "ProsecutorialAction":
                for act in matcher.where.get("action", ()):
                    rules.setdefault(act, rule.id)
    return {**rules, **OTHER_ACT_RULES}


def compare_acts(alerts: Iterable[Mapping[str, Any]], manifest: Mapping[str, Any],
                 *, today: date | None = None, examples: int = 5,
                 delivered: Mapping[str, set[str]] | None = None) -> list[ActComparison]:
    """Per act: whether the hub raised that act's own reply clock (its rule id) on every
    case the generator answered late or never (gap ``detail.act``) and on every clock
    pending at the export that is due by ``today`` (pending clock ``detail.act``), and
    which of the rule's open alerts nobody planted — so each act is counted, not only
    the REPLY_OVERDUE kind most of them share. An act with no clock but an ``inbox``
    (the agency's objection to a 撤案) is found where it reached that inbox
    (``delivered``: act → case ids, see :func:`read_delivered`)."""
    rules = act_rules()
    tallies: Mapping[str, Mapping[str, Any]] = manifest.get("acts") or {}
    for act, tally in tallies.items():
        if tally.get("rule_id"):
            rules[act] = str(tally["rule_id"])
    gapped: dict[str, set[str]] = defaultdict(set)
    for gap in manifest.get("gaps", []):
        gap_act = (gap.get("detail") or {}).get("act")
        if gap_act and gap.get("case_id"):
            gapped[str(gap_act)].add(str(gap["case_id"]))
    due: dict[str, set[str]] = defaultdict(set)
    for clock in manifest.get("pending_clocks", []):
        clock_act = (clock.get("detail") or {}).get("act")
        if clock_act and today is not None and date.fromisoformat(str(clock["due"])) < today:
            due[str(clock_act)].add(str(clock["case_id"]))
    raised: dict[str, set[str]] = defaultdict(set)
    still_open: dict[str, set[str]] = defaultdict(set)
    for alert in alerts:
        if not _done_in_time(alert):
            rule_id, case = str(alert.get("rule_id", "")), str(alert["case_id"])
            raised[rule_id].add(case)
            if str(alert["status"]) != "RESOLVED":
                still_open[rule_id].add(case)
    acts = sorted(set(gapped) | set(due) | set(tallies))
    wanted_by_rule: dict[str, set[str]] = defaultdict(set)
    for act in acts:
        wanted_by_rule[rules.get(act, "")] |= gapped[act] | due[act]
    rows = []
    for act in acts:
        rule_id = rules.get(act, "")
        wanted, hub = gapped[act] | due[act], raised[rule_id]
        tally = tallies.get(act) or {}
        scope = {str(case) for case in tally.get("case_ids") or ()}
        if tally.get("inbox"):
            reached = set((delivered or {}).get(act, ()))
            rows.append(ActComparison(
                act=act, rule_id=f"(no clock) lf.inbox.{tally['inbox']}",
                planted=int(tally.get("planted", len(scope))),
                in_time=int(tally.get("in_time", 0)), expected=len(scope),
                found=len(scope & reached), missed=len(scope - reached),
                missed_cases=sorted(scope - reached)[:examples]))
            continue
        # An act that stops another clock (case_ids): only its own cases are its business.
        extra = (still_open[rule_id] & scope - wanted if scope
                 else still_open[rule_id] - wanted_by_rule[rule_id])
        rows.append(ActComparison(
            act=act, rule_id=rule_id,
            planted=int(tally.get("planted", len(gapped[act]))),
            in_time=int(tally.get("in_time", 0)), late=int(tally.get("late", 0)),
            unanswered=int(tally.get("unanswered", len(gapped[act]))),
            pending=int(tally.get("pending", 0)), expected=len(wanted),
            pending_now_due=len(due[act] - gapped[act]),
            found=len(wanted & hub), missed=len(wanted - hub), extra_open=len(extra),
            missed_cases=sorted(wanted - hub)[:examples],
            extra_cases=sorted(extra)[:examples]))
    return rows


def _done_in_time(alert: Mapping[str, Any]) -> bool:
    """Resolved as done in time, or withdrawn because its rule stopped applying (the
    case's offence category became known after the alert was raised)."""
    details = alert.get("details") or {}
    return str(alert["status"]) == "RESOLVED" and (
        str(details.get("late")) == "false" or "withdrawn" in details)


async def read_alerts(bootstrap: str, registry_url: str,
                      topic: str = "lf.alerts", *,
                      security: KafkaSecurity | None = None) -> list[dict[str, Any]]:
    """The latest record of every alert id on ``topic`` (read to its end, no group).

    ``security``: on the secured embedded stack, a principal that may read ``lf.alerts``
    (the admin of ``<home>/secrets/operator.env``, or a procuratorate).
    """
    latest = await read_latest(bootstrap, registry_url, topic, "alert_id", security=security)
    return [record for _, record in latest.values()]


async def read_delivered(bootstrap: str, registry_url: str, manifest: Mapping[str, Any], *,
                         security: KafkaSecurity | None = None) -> dict[str, set[str]]:
    """Per act with no reply clock (manifest ``acts`` with an ``inbox``): the cases whose
    act of its ``event_type`` reached that unit's inbox ``lf.inbox.<unit>``."""
    delivered: dict[str, set[str]] = {}
    for act, tally in (manifest.get("acts") or {}).items():
        if not tally.get("inbox"):
            continue
        events = await read_latest(bootstrap, registry_url, f"lf.inbox.{tally['inbox']}",
                                   "event_id", security=security)
        delivered[act] = {str(record["case_id"]) for name, record in events.values()
                          if name.rsplit(".", 1)[-1] == tally.get("event_type")}
    return delivered


async def read_latest(bootstrap: str, registry_url: str, topic: str, key_field: str, *,
                      security: KafkaSecurity | None = None
                      ) -> dict[str, tuple[str, dict[str, Any]]]:
    """The latest (Avro name, record) per ``key_field`` value on ``topic``, read to its
    end without a group."""
    from hub.kafka import make_consumer
    from hub.registry import SchemaRegistryClient
    from hub.serde import AvroSerde

    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        consumer = make_consumer(bootstrap, topic, group_id=None, security=security)
        await consumer.start()
        try:
            partitions = consumer.assignment() or set()
            while not partitions:
                await asyncio.sleep(0.1)
                partitions = consumer.assignment()
            ends = await consumer.end_offsets(list(partitions))
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if record.value is None:
                            continue
                        name, value = await serde.decode_raw(record.value)
                        latest[str(value[key_field])] = (name, value)
        finally:
            await consumer.stop()
    return latest


def _table(rows: list[KindComparison]) -> str:
    header = (f"{'alert kind':34} {'hub':>5} {'open':>5} {'planted':>8} {'+due':>5} "
              f"{'found':>6} {'missed':>7} {'extra open':>11} {'extra resolved':>15} "
              f"{'in time':>8}")
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row.kind:34} {row.hub_cases:>5} {row.hub_open:>5} {row.planted:>8} "
                     f"{row.pending_now_due:>5} {row.found:>6} {row.missed:>7} "
                     f"{row.extra_open:>11} {row.extra_resolved:>15} {row.in_time:>8}")
    return "\n".join(lines)


def _act_table(rows: list[ActComparison]) -> str:
    header = (f"{'act':32} {'rule':42} {'planted':>7} {'in time':>7} {'late':>5} "
              f"{'never':>5} {'pending':>7} {'+due':>5} {'found':>5} {'missed':>6} "
              f"{'extra open':>10}")
    lines = ["  " + header, "  " + "-" * len(header)]
    for row in rows:
        lines.append(f"  {row.act:32} {row.rule_id:42} {row.planted:>7} {row.in_time:>7} "
                     f"{row.late:>5} {row.unanswered:>5} {row.pending:>7} "
                     f"{row.pending_now_due:>5} {row.found:>5} {row.missed:>6} "
                     f"{row.extra_open:>10}")
    return "\n".join(lines)


@app.command()
def check(
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", help="The demo's manifest.json (default: <home>/demo/manifest.json).")]
    = None,
    bootstrap: Annotated[str | None, typer.Option("--bootstrap")] = None,
    registry_url: Annotated[str | None, typer.Option("--registry-url")] = None,
    today: Annotated[str | None, typer.Option(
        "--today", help="Date the hub's sweep ran on (default: today).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare lf.alerts with the planted gaps and the clocks due since the export."""
    from hub.config import HubSettings

    overrides = {k: v for k, v in (("bootstrap", bootstrap),
                                   ("registry_url", registry_url)) if v}
    settings = HubSettings(**overrides)  # type: ignore[arg-type]
    path = manifest or settings.home / "demo" / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    alerts = asyncio.run(read_alerts(settings.bootstrap, settings.registry_url,
                                     security=settings.kafka_security))
    from hub.models import CHINA_TZ

    now = date.fromisoformat(today) if today else datetime.now(CHINA_TZ).date()
    delivered = asyncio.run(read_delivered(settings.bootstrap, settings.registry_url, data,
                                           security=settings.kafka_security))
    rows = compare_alerts(alerts, data, now)
    acts = compare_acts(alerts, data, today=now, delivered=delivered)
    if as_json:
        # One list: the kinds, then one row per act (kind "act:<ACT>"), same counters.
        typer.echo(json.dumps([asdict(row) for row in rows]
                              + [{"kind": f"act:{a.act}", **asdict(a)} for a in acts],
                              ensure_ascii=False, indent=2))
        return
    typer.echo(_table(rows))
    if acts:
        typer.echo("\nacts that must be answered (per act, against the hub's clock for it):")
        typer.echo(_act_table(acts))
    typer.echo("\nplanted: gaps due by the export date; +due: clocks still running at the "
               "export whose due date has passed since; extra: cases the hub alerted that "
               "the generator did not plant (resolved ones were late but done); in time: cases "
               "whose alerts the hub raised before it read the act and resolved as done in "
               "time (not counted as found or extra). Acts: late and never answered are "
               "found when the hub raised the act's own rule on the case; pending: the "
               "answer falls after the export (+due once its clock has run out).")


if __name__ == "__main__":
    app()
