"""The native row path: rows of an export mapped by compiled code, same bytes as Python's.

A 双公示 row costs ~40–70 µs of CPU through the Python stages (``connectors.chunks``):
CPython's floor per field and step, times ~40 fields and five steps. The Rust core in
``native/rowpath`` (built by ``scripts/build-native.sh`` into ``_rowpath.so`` here) maps
the same raw row in ~6 µs and returns exactly the outcome :func:`~connectors.chunks.map_rows`
returns — key, Avro value, headers, event id, partition hash — or ``None`` when it is not
sure it would (*doubt*). Doubted rows go through the Python stages, which also write every
dead letter, so the reasons a clerk reads have one implementation.

What the core handles is decided once per export, from the built mapper, the schema and
the file's header (:mod:`connectors.rowpath.plan`): a mapping, type or check it does not
know refuses the plan, and the whole export maps in Python. Held to the Python path by
``tests/unit/test_connector_rowpath.py`` (byte for byte, hostile rows included) and the
pinned output test.

``LIANGFA_CONNECTOR_NATIVE=0`` (or ``false``/``no``/``off``) maps every row in Python.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.mapping import AnyMapper, Mapper
from connectors.rowpath.plan import Unsupported, build_plan, gb18030_doubt_pairs
from hub.serde import LocalSerde

__all__ = ["ENVIRONMENT_SWITCH", "available", "covers", "enabled", "map_native"]

log = logging.getLogger(__name__)

#: The environment variable that turns the native path off.
ENVIRONMENT_SWITCH = "LIANGFA_CONNECTOR_NATIVE"
_OFF = frozenset({"0", "false", "no", "off"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Plans kept, per export (a parser per file): a drop folder's files share few headers.
_PLAN_LIMIT = 64

_module: Any = None
_loaded = False
_doubt_pairs: list[int] | None = None
#: (mapper id, serde id, parser) -> the mapper and serde (kept alive, so their ids stay
#: theirs) and the plan, or None when the export is not one the core knows. The parser
#: is a frozen dataclass, a key by value: a mapping process receives a new copy of it
#: with every chunk.
_plans: dict[tuple[int, int, Any], tuple[Mapper, LocalSerde, Any]] = {}
#: Per export (same key): rows the core mapped and rows it doubted, in this process.
_doubts: dict[tuple[int, int, Any], list[int]] = {}
#: From this many rows of an export on, a doubt rate above :data:`_DOUBT_LIMIT` sends its
#: chunks to the mapping processes (:func:`covers`): the doubted rows map in Python.
_DOUBT_SAMPLE = 512
_DOUBT_LIMIT = 0.1


def _extension() -> Any:
    """The compiled core, or None when it was not built here."""
    global _module, _loaded
    if not _loaded:
        _loaded = True
        try:
            _module = importlib.import_module("connectors.rowpath._rowpath")
        except ModuleNotFoundError:
            _module = None
        except (ImportError, OSError) as exc:  # built for another interpreter or host
            log.warning("the native row path does not load here (%s): rows map in "
                        "Python; run scripts/build-native.sh again", exc)
            _module = None
    return _module


def available() -> bool:
    """Whether the compiled core is installed (``scripts/build-native.sh``)."""
    return _extension() is not None


def enabled() -> bool:
    """Whether rows go through the compiled core: installed, and not switched off."""
    switch = os.environ.get(ENVIRONMENT_SWITCH, "").strip().lower()
    return switch not in _OFF and available()


def _plan_for(mapper: Mapper, local: LocalSerde, parser: Any) -> Any:
    """The core's plan for one export (None: it maps in Python), built once per file."""
    global _doubt_pairs
    key = (id(mapper), id(local), parser)
    cached = _plans.get(key)
    if cached is not None:
        return cached[2]
    module = _extension()
    plan = None
    try:
        if _doubt_pairs is None:
            _doubt_pairs = gb18030_doubt_pairs(module.decode_gb18030)
        plan = module.Plan(build_plan(mapper, local, parser, _doubt_pairs))
    except (Unsupported, ValueError, KeyError, AttributeError, TypeError) as exc:
        log.info("connector %s: rows of this export map in Python (%s)",
                 mapper.connector_id, exc)
    if len(_plans) >= _PLAN_LIMIT:
        _plans.clear()
        _doubts.clear()
    _plans[key] = (mapper, local, plan)
    return plan


def covers(mapper: AnyMapper, local: LocalSerde, rows: Sequence[tuple[Any, str, Any]]
           ) -> bool:
    """Whether every row of the chunk belongs to an export the core has a plan for."""
    if not isinstance(mapper, Mapper) or not enabled():
        return False
    parser: Any = None
    for _, _, row_parser in rows:
        if row_parser is None:
            return False
        if row_parser is not parser:
            parser = row_parser
            if _plan_for(mapper, local, parser) is None:
                return False
            seen = _doubts.get((id(mapper), id(local), parser))
            if seen is not None and seen[0] >= _DOUBT_SAMPLE and \
                    seen[1] > _DOUBT_LIMIT * seen[0]:
                return False  # most of its rows would map in Python here: not worth it
    return True


def map_native(mapper: AnyMapper, local: LocalSerde, rows: Sequence[tuple[Any, str, Any]],
               recorded_at: datetime) -> list[Any] | None:
    """Per row, the outcome the core gives (None: the Python stages map it); None when
    no row can go through the core (switched off, a dispatching mapper, rows parsed
    already, an export the core does not know).

    Rows of one export in a row go to the core together; the chunk's order is kept.
    """
    if not isinstance(mapper, Mapper) or not enabled():
        return None
    outcomes: list[Any] = [None] * len(rows)
    recorded_us = (recorded_at - _EPOCH) // _MICROSECOND
    used = False
    start = 0
    while start < len(rows):
        parser = rows[start][2]
        end = start + 1
        while end < len(rows) and rows[end][2] is parser:
            end += 1
        plan = _plan_for(mapper, local, parser) if parser is not None else None
        if plan is not None:
            part = rows[start:end]
            mapped = plan.map_chunk([raw for raw, _, _ in part],
                                    [reference for _, reference, _ in part], recorded_us)
            outcomes[start:end] = mapped
            seen = _doubts.setdefault((id(mapper), id(local), parser), [0, 0])
            seen[0] += len(mapped)
            seen[1] += sum(outcome is None for outcome in mapped)
            used = True
        start = end
    return outcomes if used else None
