"""Serde throughput per event type, beside plain fastavro on the same records, same run.

Run: ``.venv/bin/python tests/bench/bench_serde.py [--records N] [--json]
[--registry-url URL]``.

For every event type it measures records per second of

- ``fastavro``: ``schemaless_writer`` / ``schemaless_reader`` of the record dict, the floor;
- ``hub raw``: the hub's Confluent-format ``encode_dict`` / ``decode_raw`` (wire prefix,
  id lookup, writer/reader resolution choice, rejection handling);
- ``hub model``: ``encode(model)`` / ``decode() -> model`` (adds ``to_avro`` and
  ``from_avro``).

The ratio is hub / fastavro (1.0 = no overhead; the target is >= 0.8 for the raw
paths). With a registry URL (``--registry-url`` or ``LIANGFA_REGISTRY_URL``) the hub side
is the async :class:`hub.serde.AvroSerde` after ``prepare()``, one ``await`` per record;
without one, :class:`hub.serde.LocalSerde` bound to local ids.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from hub.models import EVENT_TYPES
from hub.models.examples import example_events
from hub.registry import SchemaRegistryClient
from hub.schemas import local_schemas
from hub.serde import AvroSerde, LocalSerde

DEFAULT_REPEATS = 5

Loop = Callable[[], Awaitable[None] | None]


async def _interleaved_rates(loops: dict[str, Loop], count: int,
                             repeats: int) -> dict[str, float]:
    """Records per second of each loop: the fastest of ``repeats`` rounds, the loops taking
    turns within a round so that a busy neighbour on the machine slows all of them alike."""
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(repeats):
        for label, loop in loops.items():
            start = time.perf_counter()
            result = loop()
            if result is not None:
                await result
            best[label] = min(best[label], time.perf_counter() - start)
    return {label: count / seconds for label, seconds in best.items()}


def _fastavro_loops(schema: dict[str, Any], record: dict[str, Any],
                    count: int) -> dict[str, Loop]:
    parsed = parse_schema(schema)
    buffer = io.BytesIO()
    schemaless_writer(buffer, parsed, record)
    body = buffer.getvalue()

    def encode() -> None:
        for _ in range(count):
            out = io.BytesIO()
            schemaless_writer(out, parsed, record)
            out.getvalue()

    def decode() -> None:
        for _ in range(count):
            schemaless_reader(io.BytesIO(body), parsed)

    return {"fastavro_encode": encode, "fastavro_decode": decode}


async def _hub_loops(serde: AvroSerde | LocalSerde, avro_name: str, event: Any,
                     count: int) -> dict[str, Loop]:
    record = event.to_avro()
    if isinstance(serde, LocalSerde):
        local = serde
        wire = local.encode(event)

        def encode_raw() -> None:
            for _ in range(count):
                local.encode_dict(avro_name, record)

        def encode_model() -> None:
            for _ in range(count):
                local.encode(event)

        def decode_raw() -> None:
            for _ in range(count):
                local.decode_raw(wire)

        def decode_model() -> None:
            for _ in range(count):
                local.decode(wire)

        return {"hub_encode_raw": encode_raw, "hub_encode_model": encode_model,
                "hub_decode_raw": decode_raw, "hub_decode_model": decode_model}

    remote = serde
    wire = await remote.encode(event)

    async def a_encode_raw() -> None:
        for _ in range(count):
            await remote.encode_dict(avro_name, record)

    async def a_encode_model() -> None:
        for _ in range(count):
            await remote.encode(event)

    async def a_decode_raw() -> None:
        for _ in range(count):
            await remote.decode_raw(wire)

    async def a_decode_model() -> None:
        for _ in range(count):
            await remote.decode(wire)

    return {"hub_encode_raw": a_encode_raw, "hub_encode_model": a_encode_model,
            "hub_decode_raw": a_decode_raw, "hub_decode_model": a_decode_model}


async def run(count: int, registry_url: str | None,
              repeats: int = DEFAULT_REPEATS) -> dict[str, Any]:
    events = example_events()
    schemas = local_schemas()
    client: SchemaRegistryClient | None = None
    if registry_url:
        client = SchemaRegistryClient(registry_url)
        serde: AvroSerde | LocalSerde = AvroSerde(client)
        await serde.prepare()
    else:
        serde = LocalSerde()
        for index, name in enumerate(sorted(EVENT_TYPES)):
            serde.bind_writer(name, 1000 + index)
    results: dict[str, dict[str, float]] = {}
    try:
        for avro_name, event in events.items():
            loops = _fastavro_loops(schemas[avro_name], event.to_avro(), count)
            loops.update(await _hub_loops(serde, avro_name, event, count))
            rates = await _interleaved_rates(loops, count, repeats)
            for kind in ("encode", "decode"):
                base = rates[f"fastavro_{kind}"]
                rates[f"ratio_{kind}_raw"] = rates[f"hub_{kind}_raw"] / base
                rates[f"ratio_{kind}_model"] = rates[f"hub_{kind}_model"] / base
            results[avro_name.rsplit(".", 1)[1]] = rates
    finally:
        if client is not None:
            await client.aclose()
    summary = {
        key: statistics.median(r[key] for r in results.values())
        for key in ("ratio_encode_raw", "ratio_decode_raw", "ratio_encode_model",
                    "ratio_decode_model")
    }
    summary["min_ratio_encode_raw"] = min(r["ratio_encode_raw"] for r in results.values())
    summary["min_ratio_decode_raw"] = min(r["ratio_decode_raw"] for r in results.values())
    return {
        "records_per_type": count,
        "repeats": repeats,
        "mode": "AvroSerde (async, registry)" if registry_url else "LocalSerde (no registry)",
        "python": sys.version.split()[0],
        "per_type": results,
        "summary_median": summary,
    }


def _print_table(report: dict[str, Any]) -> None:
    print(f"records per type: {report['records_per_type']}, hub side: {report['mode']}")
    header = (f"{'event type':28} {'fastavro enc/s':>14} {'hub raw':>9} {'ratio':>6} "
              f"{'hub model':>9} {'ratio':>6} | {'fastavro dec/s':>14} {'hub raw':>9} "
              f"{'ratio':>6} {'hub model':>9} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for name, r in report["per_type"].items():
        print(f"{name:28} {r['fastavro_encode']:14,.0f} {r['hub_encode_raw']:9,.0f} "
              f"{r['ratio_encode_raw']:6.2f} {r['hub_encode_model']:9,.0f} "
              f"{r['ratio_encode_model']:6.2f} | {r['fastavro_decode']:14,.0f} "
              f"{r['hub_decode_raw']:9,.0f} {r['ratio_decode_raw']:6.2f} "
              f"{r['hub_decode_model']:9,.0f} {r['ratio_decode_model']:6.2f}")
    s = report["summary_median"]
    print(f"median ratio: encode raw {s['ratio_encode_raw']:.2f}, decode raw "
          f"{s['ratio_decode_raw']:.2f}, encode model {s['ratio_encode_model']:.2f}, "
          f"decode model {s['ratio_decode_model']:.2f}; worst raw: encode "
          f"{s['min_ratio_encode_raw']:.2f}, decode {s['min_ratio_decode_raw']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="records per event type")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help="rounds per measurement; the fastest counts")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--registry-url", default=os.environ.get("LIANGFA_REGISTRY_URL"),
                        help="use the async registry-backed serde (default: "
                             "$LIANGFA_REGISTRY_URL; none: local ids)")
    args = parser.parse_args()
    report = asyncio.run(run(args.records, args.registry_url, args.repeats))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)


if __name__ == "__main__":
    main()
