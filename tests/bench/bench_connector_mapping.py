"""CPU per row of one connector mapping process, without a broker or a registry.

Run: ``.venv/bin/python tests/bench/bench_connector_mapping.py [--records N]
[--repeat R] [--chunk C] [--profile] [--json]``.

``liangfa bench ingest`` needs a broker and measures everything at once; this measures
what a mapping process does to a chunk (:func:`connectors.chunks.map_rows` on the raw
GBK records of a generated 双公示 export, parsing deferred as the runner defers it) and
splits it into steps, so a change to one step can be judged by its own CPU µs per row on a
shared machine (process time, not wall clock). Schema ids are bound locally
(:class:`hub.serde.LocalSerde`), as the pinned-output test does. ``--profile`` adds a
cProfile of one ``map_rows`` call sorted by own time.

``map_rows`` goes through the native row path when it is built and on
(``connectors.rowpath``; ``LIANGFA_CONNECTOR_NATIVE=0`` turns it off); the Python steps
alone are measured beside it in the same run, and the native outcomes are compared with
theirs, row by row.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors import rowpath
from connectors.chunks import EventHeaders, RowItem, _map_python, map_rows
from connectors.config import parse_config
from connectors.delivery import key_hash
from connectors.mapping import build_mapper
from connectors.runner import make_source
from connectors.samples import DEMO_MARKET_UNIT, write_penalty_csv
from hub.models import CHINA_TZ
from hub.serde import LocalSerde

_RECORDED_AT = datetime(2024, 7, 1, 9, 30, tzinfo=CHINA_TZ)


def _rows(root: Path, records: int) -> tuple[Any, LocalSerde, list[RowItem]]:
    drop = root / "drop"
    drop.mkdir()
    write_penalty_csv(drop / "penalties.csv", records, encoding="gbk")
    config = parse_config({
        "id": "bench-mapping", "unit": DEMO_MARKET_UNIT, "kind": "file",
        "source": {"path": str(drop), "settle_seconds": 0}, "preset": "penalty-disclosure",
        "mapping": {"stream": "bench-mapping"}, "state_dir": str(root / "state")})
    mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
    local = LocalSerde()
    for number, name in enumerate(sorted(mapper.avro_names()), start=101):
        local.bind_writer(name, number)
    source = make_source(config)
    source.defer_rows = True
    items: list[RowItem] = []

    async def read() -> None:
        try:
            async for record in source.read(None):
                if record.marker or record.problem is not None:
                    continue
                items.append((record.raw, record.reference, record.parser)
                             if record.parser is not None
                             else (record.row, record.reference, None))
        finally:
            await source.aclose()

    asyncio.run(read())
    if any(parser is None for _, _, parser in items):
        raise SystemExit("the file source did not defer parsing: nothing to measure")
    return mapper, local, items


def _parse(item: RowItem) -> Any:
    raw, _, parser = item
    assert parser is not None  # checked once in _rows
    return parser.parse(raw)


def _cpu_us(step: Callable[[], object], rows: int, repeat: int) -> float:
    """Median process-CPU µs per row of ``step`` over ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        started = time.process_time()
        step()
        runs.append((time.process_time() - started) / rows * 1e6)
    return round(statistics.median(runs), 2)


def run(records: int, repeat: int, profile: bool, chunk: int = 2000) -> dict[str, Any]:
    """The numbers as a JSON-ready dict (and the profile text under ``profile``).

    ``map_rows`` runs on chunks of ``chunk`` rows after ``gc.freeze()``, as a mapping
    process does (``connectors.parallel``: ``worker_chunk_rows``, frozen inherited heap)."""
    with tempfile.TemporaryDirectory(prefix="bench-mapping-") as directory:
        mapper, local, items = _rows(Path(directory), records)
    headers = EventHeaders()
    rows = len(items)
    chunks = [items[start:start + chunk] for start in range(0, rows, chunk)]
    parsed = [_parse(item) for item in items]
    mapped = [mapper.map(row, reference, _RECORDED_AT)
              for row, (_, reference, _) in zip(parsed, items, strict=True)]
    keys = [event.key for event in mapped]
    native = [rowpath.map_native(mapper, local, part, _RECORDED_AT) for part in chunks]
    doubted = sum(outcome is None for outcomes in native if outcomes is not None
                  for outcome in outcomes)
    identical = all(map_rows(mapper, local, headers, part, _RECORDED_AT)
                    == _map_python(mapper, local, headers, part, _RECORDED_AT)
                    for part in chunks)
    gc.collect()
    gc.freeze()
    result: dict[str, Any] = {
        "native_doubted_rows": doubted,
        "native_identical": identical,
        "rows": rows,
        "repeat": repeat,
        "chunk": chunk,
        "map_rows_cpu_us_per_row": _cpu_us(
            lambda: [map_rows(mapper, local, headers, part, _RECORDED_AT)
                     for part in chunks], rows, repeat),
        "native_core": rowpath.enabled(),
        "python_map_rows_cpu_us_per_row": _cpu_us(
            lambda: [_map_python(mapper, local, headers, part, _RECORDED_AT)
                     for part in chunks], rows, repeat),
        "parse_us": _cpu_us(lambda: [_parse(item) for item in items], rows, repeat),
        "map_validate_us": _cpu_us(
            lambda: [mapper.map(row, "r", _RECORDED_AT) for row in parsed], rows, repeat),
        "avro_encode_us": _cpu_us(
            lambda: [local.encode_dict(event.avro_name, event.record) for event in mapped],
            rows, repeat),
        "headers_us": _cpu_us(
            lambda: [headers.of(event.avro_name, event.record) for event in mapped],
            rows, repeat),
        "key_hash_us": _cpu_us(lambda: [key_hash(key) for key in keys], rows, repeat),
    }
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(map_rows, mapper, local, headers, items, _RECORDED_AT)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        result["profile"] = text.getvalue()
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=2000,
                        help="rows per map_rows call (a worker's worker_chunk_rows)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.records, args.repeat, args.profile, args.chunk)
    profile = result.pop("profile", "")
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    if profile:
        print(profile)


if __name__ == "__main__":
    main(sys.argv[1:])
