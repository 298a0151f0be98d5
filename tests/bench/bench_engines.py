"""Stream engines side by side: aiokafka and confluent-kafka passthroughs, Quix Streams.

Run (the project's venv drives; Quix Streams lives in its own venv so that its pinned
confluent-kafka does not disturb the project's dependencies)::

    python3.11 -m venv /tmp/quixvenv
    /tmp/quixvenv/bin/pip install quixstreams psutil aiokafka
    .venv/bin/python tests/bench/bench_engines.py --events 200000 --rounds 2 \\
        --quix-python /tmp/quixvenv/bin/python [--variants a,b,c-eos,c-alo] [--json]

It starts a private Kafka broker (``LocalStack(...).up(broker_only=True)`` in a temp
home on free ports, stopped at the end; ``--bootstrap`` uses a running one instead),
writes N records of ~600 bytes keyed over ~100k distinct keys to a 6-partition topic,
then runs every variant on those same records, interleaved round by round
(a, b, c, a, b, c), each as its own worker process with a fresh consumer group and a
fresh output topic:

- ``a``: aiokafka consume → produce: ``getmany`` (1000 records), one idempotent ``send``
  per record, await the batch, commit (the loop of ``streams/bench.py``'s baseline);
- ``b``: confluent-kafka, the same loop: ``consume(num_messages=1000)``, ``produce`` +
  ``poll(0)`` per record on an idempotent producer, ``flush``, synchronous commit;
- ``c-eos`` / ``c-alo``: Quix Streams with the hub's shape: bytes in, a keyed stateful
  step (RocksDB store per partition with its changelog topic: read a small per-key
  record, update it, write it back), one output per input; exactly-once and
  at-least-once;
- ``c-pass`` (opt-in): Quix Streams at-least-once with a stateless step, the framework's
  own cost per record without state.

Per run the worker reports events/s (first record consumed → last output acknowledged
and its offsets committed), CPU seconds of the worker process per event (psutil, all its
threads: librdkafka's and RocksDB's included) and its peak RSS; ratios are against the
mean of ``a`` and of ``b`` in the same invocation. The load average is printed with the
figures: this machine is shared. Not a pytest test (tests/bench holds benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

PARTITIONS = 6
RECORD_BYTES = 600
DISTINCT_KEYS = 100_000
BATCH = 1000


# --------------------------------------------------------------------------- workers
# Each runs in its own process and prints one JSON line; imports are local so that the
# Quix venv needs neither the hub nor aiokafka for its own variant.

def _self_cpu() -> float:
    import psutil

    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


class _PeakRss:
    """The process's peak RSS, sampled every 0.1 s (``ru_maxrss`` is no use here: Linux
    carries it across ``execve``, so a worker would report its parent's peak)."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self._process.memory_info().rss)


_RSS: _PeakRss | None = None


def _report(count: int, started: float, cpu_started: float, extra: dict[str, Any]) -> None:
    elapsed = time.perf_counter() - started
    cpu = _self_cpu() - cpu_started
    peak = _RSS.stop() if _RSS else 0
    print(json.dumps({"events": count, "elapsed_s": elapsed, "cpu_s": cpu,
                      "peak_rss_mib": peak / 2**20, **extra}), flush=True)


def worker_aiokafka(bootstrap: str, source: str, target: str, count: int,
                    group: str) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def run() -> None:
        consumer = AIOKafkaConsumer(
            source, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
            auto_offset_reset="earliest", isolation_level="read_committed",
            max_poll_records=BATCH)
        # hub.kafka.make_producer's options.
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
            linger_ms=5, max_batch_size=512 * 1024, compression_type=None)
        await consumer.start()
        await producer.start()
        seen = 0
        started = cpu_started = 0.0
        try:
            while seen < count:
                batches = await consumer.getmany(timeout_ms=500)
                if batches and not seen:
                    started, cpu_started = time.perf_counter(), _self_cpu()
                futures = []
                for records in batches.values():
                    for record in records:
                        futures.append(await producer.send(
                            target, record.value, key=record.key,
                            headers=list(record.headers)))
                    seen += len(records)
                await asyncio.gather(*futures)
                if batches:
                    await consumer.commit()
            _report(seen, started, cpu_started, {})
        finally:
            await consumer.stop()
            await producer.stop()

    asyncio.run(run())


def worker_confluent(bootstrap: str, source: str, target: str, count: int,
                     group: str) -> None:
    from confluent_kafka import Consumer, Producer

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    producer = Producer({
        "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 5, "compression.type": "none"})
    consumer.subscribe([source])
    seen = 0
    started = cpu_started = 0.0
    try:
        while seen < count:
            messages = consumer.consume(num_messages=BATCH, timeout=0.5)
            if not messages:
                continue
            if not seen:
                started, cpu_started = time.perf_counter(), _self_cpu()
            for message in messages:
                if message.error():
                    raise RuntimeError(str(message.error()))
                while True:
                    try:
                        producer.produce(target, message.value(), message.key(),
                                         headers=message.headers())
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
            seen += len(messages)
            if producer.flush(30):
                raise RuntimeError("produce did not complete")
            consumer.commit(asynchronous=False)
        _report(seen, started, cpu_started, {})
    finally:
        consumer.close()


def worker_quix(bootstrap: str, source: str, target: str, count: int, group: str,
                guarantee: str, state_dir: str, stateful: bool = True) -> None:
    import logging

    from quixstreams import Application, State

    app = Application(
        broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
        processing_guarantee=guarantee,  # type: ignore[arg-type]
        state_dir=state_dir, loglevel=logging.WARNING, use_changelog_topics=True)
    source_topic = app.topic(source, key_deserializer="bytes", value_deserializer="bytes")
    target_topic = app.topic(target, key_serializer="bytes", value_serializer="bytes")
    seen = [0]
    clock = [0.0, 0.0]

    def step(value: bytes, state: State) -> bytes:
        # The hub's keyed stateful step in miniature: read the key's record, update it,
        # write it back (RocksDB, changelogged), emit one output.
        if not seen[0]:
            clock[0], clock[1] = time.perf_counter(), _self_cpu()
        record = state.get("r") or {"n": 0, "bytes": 0}
        record["n"] += 1
        record["bytes"] += len(value)
        state.set("r", record)
        seen[0] += 1
        if seen[0] >= count:
            app.stop()
        return value

    def passthrough(value: bytes) -> bytes:
        if not seen[0]:
            clock[0], clock[1] = time.perf_counter(), _self_cpu()
        seen[0] += 1
        if seen[0] >= count:
            app.stop()
        return value

    sdf = app.dataframe(source_topic)
    sdf = sdf.apply(step, stateful=True) if stateful else sdf.apply(passthrough)
    sdf.to_topic(target_topic)
    app.run()
    _report(seen[0], clock[0], clock[1], {})


# ------------------------------------------------------------------------ orchestrator

def _admin_create(bootstrap: str, names: list[str]) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, PARTITIONS, 1) for name in names])
    for future in futures.values():
        future.result(60)


def _fill(bootstrap: str, topic: str, count: int, seed: int = 10) -> None:
    from confluent_kafka import Producer

    rng = random.Random(seed)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "enable.idempotence": True, "queue.buffering.max.kbytes": 262144})
    body = bytes(rng.getrandbits(8) for _ in range(4096))
    for number in range(count):
        key = f"case-{rng.randrange(DISTINCT_KEYS):06d}".encode()
        start = number % (len(body) - RECORD_BYTES)
        while True:
            try:
                producer.produce(topic, body[start:start + RECORD_BYTES], key,
                                 headers=[("type", b"PenaltyCaseRecorded")])
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("fill did not complete")


def _run_worker(python: str, variant: str, bootstrap: str, source: str, count: int,
                work: Path, timeout_s: float) -> dict[str, Any]:
    target = f"{source}.out.{variant}.{uuid.uuid4().hex[:6]}"
    _admin_create(bootstrap, [target])
    group = f"bench-{variant}-{uuid.uuid4().hex[:8]}"
    state_dir = work / f"state-{group}"
    command = [python, str(Path(__file__).resolve()), "--worker", variant,
               "--bootstrap", bootstrap, "--source", source, "--target", target,
               "--events", str(count), "--group", group, "--state-dir", str(state_dir)]
    load_before = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                          check=False)
    shutil.rmtree(state_dir, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"worker {variant} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1])
    result.update(variant=variant, load1_before=load_before, load1_after=os.getloadavg()[0],
                  events_per_s=result["events"] / result["elapsed_s"],
                  cpu_us_per_event=result["cpu_s"] * 1e6 / result["events"])
    return result


def _versions(quix_python: str | None) -> dict[str, str]:
    from importlib.metadata import version

    found = {"aiokafka": version("aiokafka"),
             "confluent-kafka (project venv)": version("confluent-kafka")}
    if quix_python:
        probe = ("from importlib.metadata import version as v;"
                 "import confluent_kafka as c;"
                 "print(v('quixstreams'), v('confluent-kafka'), c.libversion()[0])")
        out = subprocess.run([quix_python, "-c", probe], capture_output=True, text=True,
                             check=True).stdout.split()
        found.update({"quixstreams": out[0], "confluent-kafka (quix venv)": out[1],
                      "librdkafka (quix venv)": out[2]})
    try:
        from hub.local.artifacts import KAFKA_VERSION
        found["kafka"] = KAFKA_VERSION
    except ImportError:
        pass
    return found


def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    pythons = {"a": sys.executable, "b": args.quix_python or sys.executable,
               "c-eos": args.quix_python, "c-alo": args.quix_python,
               "c-pass": args.quix_python}
    for variant in variants:
        if variant not in pythons:
            raise SystemExit(f"unknown variant {variant!r}")
        if not pythons[variant]:
            raise SystemExit(f"variant {variant} needs --quix-python")
    work = Path(tempfile.mkdtemp(prefix="liangfa-bench-engines-"))
    stack = None
    bootstrap = args.bootstrap
    try:
        if not bootstrap:
            from hub.local import LocalStack
            from hub.local.processes import free_port
            from hub.local.stack import StackPorts

            stack = LocalStack(work / "stack", StackPorts(
                kafka=free_port(), controller=free_port(), registry=free_port()))
            stack.up(broker_only=True)
            bootstrap = stack.bootstrap
        source = f"bench-engines-{uuid.uuid4().hex[:8]}.in"
        _admin_create(bootstrap, [source])
        filled = time.perf_counter()
        _fill(bootstrap, source, args.events)
        print(f"# {args.events} records in {source} "
              f"({time.perf_counter() - filled:.1f} s)", file=sys.stderr)
        runs: list[dict[str, Any]] = []
        for round_number in range(1, args.rounds + 1):
            for variant in variants:
                result = _run_worker(pythons[variant], variant, bootstrap, source,
                                     args.events, work, args.timeout)
                result["round"] = round_number
                runs.append(result)
                print(f"# round {round_number} {variant}: "
                      f"{result['events_per_s']:,.0f} ev/s, "
                      f"{result['cpu_us_per_event']:.1f} µs CPU/ev, "
                      f"{result['peak_rss_mib']:.0f} MiB, "
                      f"load {result['load1_before']:.2f}→{result['load1_after']:.2f}",
                      file=sys.stderr)
        return {"events": args.events, "versions": _versions(args.quix_python),
                "runs": runs, "summary": _summary(runs)}
    finally:
        if stack is not None:
            stack.down()
        shutil.rmtree(work, ignore_errors=True)


def _summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_variant.setdefault(run["variant"], []).append(run)
    means = {v: statistics.mean(r["events_per_s"] for r in rs)
             for v, rs in by_variant.items()}
    rows = []
    for variant, rs in by_variant.items():
        row: dict[str, Any] = {
            "variant": variant,
            "events_per_s": [round(r["events_per_s"]) for r in rs],
            "mean_events_per_s": round(means[variant]),
            "cpu_us_per_event": [round(r["cpu_us_per_event"], 1) for r in rs],
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs)),
        }
        for base in ("a", "b"):
            if base in means:
                row[f"ratio_vs_{base}"] = round(means[variant] / means[base], 3)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default="a,b,c-eos,c-alo")
    parser.add_argument("--quix-python", default=None,
                        help="python of the venv with quixstreams (variants b, c-*)")
    parser.add_argument("--bootstrap", default=None, help="a running private broker")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", action="store_true")
    # Worker mode (internal).
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--source", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--target", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--group", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        global _RSS
        _RSS = _PeakRss()
        common = (args.bootstrap, args.source, args.target, args.events, args.group)
        if args.worker == "a":
            worker_aiokafka(*common)
        elif args.worker == "b":
            worker_confluent(*common)
        else:
            guarantee = "exactly-once" if args.worker == "c-eos" else "at-least-once"
            worker_quix(*common, guarantee, args.state_dir, stateful=args.worker != "c-pass")
        return
    result = orchestrate(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"N={result['events']}  versions: {result['versions']}")
    header = (f"{'variant':8} {'events/s (runs)':24} {'mean':>8} {'µs CPU/ev (runs)':20} "
              f"{'RSS MiB':>8} {'vs a':>6} {'vs b':>6}")
    print(header)
    for row in result["summary"]:
        print(f"{row['variant']:8} {row['events_per_s']!s:24} "
              f"{row['mean_events_per_s']:>8} {row['cpu_us_per_event']!s:20} "
              f"{row['peak_rss_mib']:>8} {row.get('ratio_vs_a', ''):>6} "
              f"{row.get('ratio_vs_b', ''):>6}")


if __name__ == "__main__":
    main()
