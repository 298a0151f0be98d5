"""The connector's output is pinned: same rows in, same event ids and Avro bytes out.

The per-row path (mapping, validation, content hash, Avro encoding, CloudEvents headers)
is rewritten for speed from time to time (issue #12); a re-read export must still yield
the ids it yielded before (the dedup of every consumer depends on it) and the same bytes.
``tests/unit/data/connector_pinned.json`` holds what the code produced *before* the
issue #12 hot-path rewrite, for a fixed sample of records of every connector kind (CSV
file, XML file, HTTP API, SQL table), good and bad: event id, key, encoded value and
headers, or the dead letter's type, reason, field and value. Regenerate it only for an
intended change of output (``python -m tests.unit.test_connector_pinned_output``),
which changes every downstream dedup key: say so in the commit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.chunks import EventHeaders, dead_letter_for, map_rows
from connectors.config import parse_config
from connectors.delivery import DeadLetter
from connectors.mapping import build_mapper
from connectors.runner import make_source
from connectors.testing import CsvFileHarness, HttpHarness, SqlHarness, XmlFileHarness
from hub.models import CHINA_TZ
from hub.serde import LocalSerde

_PINNED = Path(__file__).with_name("data") / "connector_pinned.json"
_RECORDED_AT = datetime(2024, 7, 1, 9, 30, tzinfo=CHINA_TZ)
_HARNESSES = (CsvFileHarness, XmlFileHarness, HttpHarness, SqlHarness)
_GOOD_ROWS = 15


def _outcome(item: Any) -> dict[str, Any]:
    if isinstance(item, DeadLetter):
        return {"dead_letter": [item.error_type, item.reason, item.field, item.value]}
    key, value, headers, event_id, hashed = item
    return {"event_id": event_id, "key": key.decode(), "value": value.hex(),
            "headers": [[name, data.decode()] for name, data in headers],
            "partition_hash": hashed}


def _without_port(outcomes: list[dict[str, Any]], server: Any) -> list[dict[str, Any]]:
    """The HTTP kind's references (and so its records) name the test server's random port:
    its address is replaced by ``ADDRESS``, in the text and in the encoded bytes' hex."""
    if server is None:
        return outcomes
    address = server.url.split("/")[2]  # 127.0.0.1:<port>: long enough never to match
    text = json.dumps(outcomes, ensure_ascii=False)  # by chance inside the bytes' hex
    text = text.replace(address.encode().hex(), "ADDRESS").replace(address, "ADDRESS")
    loaded: list[dict[str, Any]] = json.loads(text)
    return loaded


async def _kind_outcomes(harness_type: type[Any], root: Path,
                         defer: bool) -> list[dict[str, Any]]:
    harness = harness_type(root)
    try:
        harness.write_batch(_GOOD_ROWS, bad=True)
        config = parse_config({**harness.config(f"pin-{harness.name}"),
                               "state_dir": str(root / "state")})
        mapper = build_mapper(config.mapping, unit=config.unit, connector_id=config.id)
        local = LocalSerde()
        for number, name in enumerate(sorted(mapper.avro_names()), start=101):
            local.bind_writer(name, number)
        source = make_source(config)
        source.defer_rows = defer
        headers = EventHeaders()
        outcomes: list[dict[str, Any]] = []
        try:
            async for record in source.read(None):
                if record.marker:
                    continue
                if record.problem is not None:
                    result = _outcome(dead_letter_for(record.problem))
                else:
                    item = (record.raw, record.reference, record.parser) \
                        if record.parser is not None else (record.row, record.reference, None)
                    result = _outcome(map_rows(mapper, local, headers, [item],
                                               _RECORDED_AT)[0])
                outcomes.append({"reference": record.reference, **result})
        finally:
            await source.aclose()
        return _without_port(outcomes, getattr(harness, "server", None))
    finally:
        harness.close()


def current_outcomes(defer: bool = False) -> dict[str, list[dict[str, Any]]]:
    """What today's code makes of the sample, per connector kind."""
    result = {}
    for harness_type in _HARNESSES:
        with tempfile.TemporaryDirectory(prefix="pin-") as directory:
            result[harness_type.name] = asyncio.run(
                _kind_outcomes(harness_type, Path(directory), defer))
    return result


@pytest.fixture(scope="module")
def pinned() -> dict[str, list[dict[str, Any]]]:
    loaded: dict[str, list[dict[str, Any]]] = json.loads(_PINNED.read_text(encoding="utf-8"))
    return loaded


def test_the_sample_covers_events_and_dead_letters_of_every_kind(
        pinned: dict[str, list[dict[str, Any]]]) -> None:
    assert set(pinned) == {h.name for h in _HARNESSES}
    for outcomes in pinned.values():
        assert sum("event_id" in o for o in outcomes) >= _GOOD_ROWS
        assert any("dead_letter" in o for o in outcomes)


@pytest.mark.parametrize("defer", [False, True], ids=["in-process", "deferred-parse"])
def test_event_ids_bytes_and_dead_letters_equal_the_pinned_ones(
        pinned: dict[str, list[dict[str, Any]]], defer: bool) -> None:
    current = current_outcomes(defer)
    for kind, expected in pinned.items():
        assert len(current[kind]) == len(expected), kind
        for got, want in zip(current[kind], expected, strict=True):
            assert got == want, f"{kind} {want['reference']}"


if __name__ == "__main__":  # regenerate (an intended change of output only)
    _PINNED.parent.mkdir(exist_ok=True)
    _PINNED.write_text(json.dumps(current_outcomes(), ensure_ascii=False, indent=1) + "\n",
                       encoding="utf-8")
    sys.stdout.write(f"wrote {_PINNED}\n")
