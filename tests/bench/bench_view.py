"""Benchmark of the prosecutor view: search and timeline latency, ingest rate from the bus.

Run (a plain script, not collected by pytest)::

    .venv/bin/python tests/bench/bench_view.py --cases 1000000 --backends sqlite postgres
    source /tmp/liangfa-devstack.env   # or any running broker + registry
    .venv/bin/python tests/bench/bench_view.py --cases 0 --ingest 50000

Latency: the store is bulk-loaded with N fictional cases (units, parties, document
numbers, a three-step timeline each, as the consumer would write them), the planner's
statistics refreshed, then each query kind runs ``--repeat`` times with random
parameters through the same functions the REST API calls (SQL + response models).
p50/p95 per kind. PostgreSQL runs on a throwaway local cluster (tests/support/postgres.py).

Ingest: ``--ingest`` CaseState records (Confluent Avro) are produced to a fresh topic,
then read back three ways: a bare aiokafka consumer (no decoding), the same plus Avro
decoding, and the view's own consumer applying them to a fresh SQLite store (offsets in
the same transactions). Records per second of each.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert, text

from hub.view import queries
from hub.view import search as search_module
from hub.view.keys import name_key, number_key
from hub.view.search import CaseFilters, search_cases
from hub.view.store import (
    CaseNumberRow,
    CasePartyRow,
    CaseRow,
    CaseUnitRow,
    Store,
    TimelineRow,
)
from tests.support.view_data import company_code, resident_id

AGENCIES = [f"1142990103{i:07d}"[:17] for i in range(15)]
POLICE_UNITS = [f"1142990104{i:07d}"[:17] for i in range(4)]
STAGES = ["RECORDED"] * 6 + ["REFERRED", "RECEIVED", "FILED", "NOT_FILED", "PROSECUTION",
                            "JUDGED", "CLOSED"]
VIOLATIONS = [f"违法行为类型{i:02d}" for i in range(20)]
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "伟芳娜敏静强磊洋勇艳杰军丽涛明超秀霞平刚桂英华"
START = date(2021, 1, 1)


def _codes() -> None:
    from hub.identity import credit_code_check_char

    for group in (AGENCIES, POLICE_UNITS):
        for index, prefix in enumerate(group):
            if len(prefix) == 17:
                group[index] = prefix + credit_code_check_char(prefix)


def person(rng: random.Random) -> str:
    """A fictional name; ~27,000 distinct, so an exact name matches a few dozen cases."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)


def rows_for(index: int, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """The rows the consumer writes for one case."""
    case_id = str(uuid.UUID(int=rng.getrandbits(128)))
    owner = AGENCIES[index % len(AGENCIES)]
    decided = START + timedelta(days=rng.randrange(0, 5 * 365))
    decided_at = datetime(decided.year, decided.month, decided.day, tzinfo=UTC)
    stage = rng.choice(STAGES)
    company = index % 2 == 1
    name = f"演示第{index}商贸有限公司" if company else person(rng)
    identifier = company_code(index % 9_999_999) if company else resident_id(index)
    police = POLICE_UNITS[index % len(POLICE_UNITS)] if stage != "RECORDED" else None
    number = f"演罚〔{decided.year}〕{index}号"
    units = [{"case_id": case_id, "unit_code": owner, "role": "owner", "decided_on": decided,
              "stage": stage}]
    if police:
        units.append({"case_id": case_id, "unit_code": police, "role": "involved",
                      "decided_on": decided, "stage": stage})
    parties = [{"case_id": case_id, "name": name, "identifier": identifier,
                "kind": "LEGAL_PERSON" if company else "NATURAL_PERSON"}]
    numbers = [{"number": number, "case_id": case_id, "kind": "decision_number"},
               {"number": f"AJ-{index:09d}", "case_id": case_id, "kind": "agency_case_number"}]
    if police:
        numbers.append({"number": f"演移〔{decided.year}〕{index}号", "case_id": case_id,
                        "kind": "referral_number"})
    for row in numbers:  # as the store keys them (COPY does not run the column's default)
        row["number_key"] = number_key(row["number"])
    for row in parties:
        row["name_key"] = name_key(row["name"])
    timeline = [
        {"case_id": case_id, "event_id": f"{index}-{step}",
         "event_type": ("PenaltyCaseRecorded", "CaseReferred", "FilingDecided")[step],
         "occurred_at": decided_at + timedelta(days=3 * step), "recorded_at": None,
         "source_unit": owner if step < 2 else (police or owner),
         "summary": f"演示步骤{step}", "detail": {}}
        for step in range(3 if police else 1)
    ]
    case = {
        "case_id": case_id, "unit_code": owner, "unit_name": f"演示单位{owner[-4:]}",
        "case_number": f"AJ-{index:09d}", "stage": stage,
        "violation_type": VIOLATIONS[rng.randrange(len(VIOLATIONS))], "domain": "market",
        "title": "演示案件", "amount_fen": int(rng.lognormvariate(13, 1.5)),
        "decided_on": decided, "last_event_at": timeline[-1]["occurred_at"],
        "party_summary": name, "is_overdue": rng.random() < 0.05, "is_lead": False,
        "state": {},
    }
    return {"cases": [case], "units": units, "parties": parties, "numbers": numbers,
            "timeline": timeline}


TABLES = {
    "cases": CaseRow,
    "units": CaseUnitRow,
    "parties": CasePartyRow,
    "numbers": CaseNumberRow,
    "timeline": TimelineRow,
}


def chunks(total: int, size: int, seed: int = 7) -> Iterator[dict[str, list[dict[str, Any]]]]:
    rng = random.Random(seed)
    for start in range(0, total, size):
        batch: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        for index in range(start, min(total, start + size)):
            for name, rows in rows_for(index, rng).items():
                batch[name] += rows
        yield batch


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def load(store: Store, total: int) -> float:
    """Bulk-load ``total`` cases; seconds taken. COPY on PostgreSQL, executemany on SQLite."""
    started = time.perf_counter()
    loaded = 0
    for batch in chunks(total, 50_000):
        if store.dialect == "postgresql":
            raw = store.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for name, model in TABLES.items():
                    rows = batch[name]
                    if not rows:
                        continue
                    columns = list(rows[0])
                    table = model.__tablename__
                    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row([_copy_value(row[c]) for c in columns])
                raw.commit()
            finally:
                raw.close()
        else:
            with store.engine.begin() as connection:
                for name, model in TABLES.items():
                    if batch[name]:
                        connection.execute(insert(model), batch[name])
        loaded += len(batch["cases"])
        print(f"  loaded {loaded:,} cases ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)
    store.analyze()
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(store: Store, total: int, repeat: int) -> dict[str, tuple[float, float, float]]:
    """p50, p95 and max in milliseconds per query kind."""
    rng = random.Random(99)
    sample_rng = random.Random(7)
    # Re-derive a few real identifiers, names and numbers of loaded cases to search for.
    samples = [rows_for(i, sample_rng) for i in range(min(total, 5_000))]
    everyone = queries.Scope()

    def search(filters: CaseFilters, scope: queries.Scope = everyone) -> Callable[[], Any]:
        return lambda: search_cases(session, filters, scope, page=1, page_size=50)

    def random_day() -> date:
        return START + timedelta(days=rng.randrange(0, 5 * 365 - 60))

    kinds: dict[str, Callable[[], Callable[[], Any]]] = {
        "search: no filter (newest first)": lambda: search(CaseFilters()),
        "search: unit": lambda: search(CaseFilters(unit_code=rng.choice(AGENCIES))),
        "search: unit + stage + 90 days": lambda: search(CaseFilters(
            unit_code=rng.choice(AGENCIES), stage=rng.choice(STAGES),
            decided_from=(d := random_day()), decided_to=d + timedelta(days=90))),
        "search: police unit (involved)": lambda: search(
            CaseFilters(), queries.Scope(unit_code=rng.choice(POLICE_UNITS))),
        "search: 30-day range": lambda: search(CaseFilters(
            decided_from=(d := random_day()), decided_to=d + timedelta(days=30))),
        "search: violation type + amount": lambda: search(CaseFilters(
            violation_type=rng.choice(VIOLATIONS), amount_min_fen=5_000_000)),
        "search: amount range only": lambda: search(CaseFilters(
            amount_min_fen=(low := rng.randrange(100_000, 50_000_000)),
            amount_max_fen=low + 10_000)),
        "search: stage only": lambda: search(CaseFilters(stage=rng.choice(STAGES))),
        "search: exact party name": lambda: search(CaseFilters(
            party=rng.choice(samples)["parties"][0]["name"])),
        "search: party ID / credit code": lambda: search(CaseFilters(
            party=rng.choice(samples)["parties"][0]["identifier"])),
        "search: document number": lambda: search(CaseFilters(
            case_number=rng.choice(samples)["numbers"][0]["number"])),
        # part of a number, as a prosecutor types it ("2024 123号"): the index scan tier
        "search: part of a document number": lambda: search(CaseFilters(
            case_number=(lambda n: f"{n[3:7]} {n[8:]}")(
                rng.choice(samples)["numbers"][0]["number"]))),
        "timeline (case detail)": lambda: (lambda cid: lambda: queries.case_detail(
            session, cid, everyone))(rng.choice(samples)["cases"][0]["case_id"]),
    }
    results: dict[str, tuple[float, float, float]] = {}
    with store.session() as session:
        for name, make in kinds.items():
            make()()  # warm the cache and the plan
            timings: list[float] = []
            for _ in range(repeat):
                call = make()
                started = time.perf_counter()
                call()
                timings.append((time.perf_counter() - started) * 1000)
            results[name] = (statistics.median(timings), percentile(timings, 0.95),
                             max(timings))
        # the same part searches as the previous version ran them, by a scan of the
        # (key, case) index: the trigram index gone (the store is thrown away after)
        trigram_index = search_module.NUMBER_KEYS
        _drop_trigram_index(session)
        name = "search: part of a document number"
        kinds[name]()()
        timings = []
        for _ in range(repeat):
            call = kinds[name]()
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        results[name + ", scan (before)"] = (statistics.median(timings),
                                             percentile(timings, 0.95), max(timings))
        search_module.NUMBER_KEYS = trigram_index
    return results


def _drop_trigram_index(session: Any) -> None:
    """The numbers' trigram index out of the search's way: dropped on PostgreSQL (whose
    planner would take it), on SQLite named as a table that does not exist."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"DROP INDEX {search_module.NUMBER_KEYS.postgres_index}"))
    else:
        search_module.NUMBER_KEYS = dataclasses.replace(search_module.NUMBER_KEYS,
                                                        sqlite_table="none")


def bench_latency(backend: str, total: int, repeat: int) -> None:
    _codes()
    base = Path(tempfile.mkdtemp(prefix=f"liangfa-bench-{backend}-"))
    cluster = None
    try:
        if backend == "sqlite":
            url = f"sqlite:///{base / 'view.sqlite3'}"
        else:
            from tests.support.postgres import PostgresCluster, _free_port

            cluster = PostgresCluster(base, _free_port())
            cluster.start()
            url = cluster.url
        store = Store(url)
        store.create_all()
        seconds = load(store, total)
        print(f"\n## {backend}: {total:,} cases loaded in {seconds:.0f} s "
              f"({total / max(seconds, 1e-9):,.0f} cases/s bulk)\n")
        print("| query | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|")
        for name, (p50, p95, worst) in measure(store, total, repeat).items():
            print(f"| {name} | {p50:.1f} | {p95:.1f} | {worst:.1f} |")
        store.dispose()
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


# -- ingest -------------------------------------------------------------------------------


async def bench_ingest(count: int, bootstrap: str, registry_url: str) -> None:
    from hub.kafka import make_consumer, make_producer
    from hub.registry import SchemaRegistryClient
    from hub.serde import AvroSerde
    from hub.topics import TopicSpec, apply_topics
    from hub.view.app import create_app
    from hub.view.bus import BusRunner
    from hub.view.settings import Topics, ViewSettings
    from tests.support.view_data import case_spec

    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"bench.view.{kind}.{suffix}" for kind in
             ("state", "events", "alerts", "stats", "unmatched", "actions", "audit")}
    await apply_topics(bootstrap, [
        TopicSpec(name=name, partitions=4 if kind == "state" else 1)
        for kind, name in names.items()])
    topic = names["state"]
    async with SchemaRegistryClient(registry_url) as registry:
        serde = AvroSerde(registry)
        producer = make_producer(bootstrap, client_id="bench-view", linger_ms=20)
        await producer.start()
        started = time.perf_counter()
        today = date(2026, 6, 30)
        for index in range(count):
            state = case_spec(index, today=today).state()
            serialized = await serde.serialize(state)
            await producer.send(topic, value=serialized.value, key=serialized.key,
                                headers=serialized.headers)
        await producer.flush()
        await producer.stop()
        produced = time.perf_counter() - started
        print(f"\n## ingest: {count:,} CaseState records produced in {produced:.1f} s\n")

        async def bare(decode: bool) -> float:
            consumer = make_consumer(bootstrap, topic, group_id=None,
                                     max_partition_fetch_bytes=4 * 1024 * 1024)
            await consumer.start()
            try:
                seen = 0
                begin = time.perf_counter()
                while seen < count:
                    batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
                    for messages in batch.values():
                        for message in messages:
                            if decode:
                                assert message.value is not None
                                await serde.decode(message.value)
                            seen += 1
                return time.perf_counter() - begin
            finally:
                await consumer.stop()

        bare_seconds = await bare(False)
        decode_seconds = await bare(True)

    base = Path(tempfile.mkdtemp(prefix="liangfa-bench-ingest-"))
    settings = ViewSettings(
        database_url=f"sqlite:///{base / 'view.sqlite3'}", bootstrap=bootstrap,
        registry_url=registry_url, group_id=f"bench-view-{suffix}", batch_size=2000,
        topics=Topics(case_state=topic, case_events=names["events"], alerts=names["alerts"],
                      stats=names["stats"], unmatched=names["unmatched"],
                      view_actions=names["actions"], audit=names["audit"]),
    )
    app = create_app(settings)
    context = app.state.view
    context.store.create_all()
    runner = BusRunner(context, bootstrap, registry_url)
    begin = time.perf_counter()
    await runner.start()
    try:
        while True:
            stored = await asyncio.to_thread(runner._stored_offsets)
            if sum(v for (t, _), v in stored.items() if t == topic) >= count:
                break
            await asyncio.sleep(0.05)
        view_seconds = time.perf_counter() - begin
    finally:
        await runner.stop()
        context.store.dispose()
        shutil.rmtree(base, ignore_errors=True)
    print("| consumer | seconds | records/s |\n|---|---:|---:|")
    for label, seconds in (("bare aiokafka (no decoding)", bare_seconds),
                           ("bare aiokafka + Avro decode", decode_seconds),
                           ("view: decode + apply to SQLite, offsets in txn", view_seconds)):
        print(f"| {label} | {seconds:.1f} | {count / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgres"])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=0,
                        help="CaseState records for the ingest benchmark (0: skip)")
    args = parser.parse_args()
    if args.cases:
        for backend in args.backends:
            bench_latency(backend, args.cases, args.repeat)
    if args.ingest:
        import os

        asyncio.run(bench_ingest(args.ingest, os.environ["LIANGFA_BOOTSTRAP"],
                                 os.environ["LIANGFA_REGISTRY_URL"]))


if __name__ == "__main__":
    main()
