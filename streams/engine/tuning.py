"""The engine's tuning knobs: ``LIANGFA_ENGINE_*`` variables of a worker's environment.

Every knob is read here and nowhere else, so an operator finds them all in one place
(``docs/operations.md``, "Worker tuning", lists the same) and a value that is not a
number stops the worker at its start with the variable's name and what it expected,
instead of a ``ValueError`` from deep inside an assignment or a batch. The defaults fit
a county's workers on a two-core host; each says why where it is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["EngineTuning", "TuningError"]


class TuningError(ValueError):
    """A ``LIANGFA_ENGINE_*`` variable that does not hold what it must."""


@dataclass(frozen=True)
class EngineTuning:
    """What the worker's environment sets, each field with its default."""

    #: ``LIANGFA_ENGINE_GC_THRESHOLDS`` (``a,b,c``): the collector's thresholds. A batch
    #: allocates tens of thousands of short-lived objects, so the youngest generation is
    #: collected less often than CPython's 700; the older ones keep their default pace.
    gc_thresholds: tuple[int, int, int] = (20_000, 10, 10)
    #: ``LIANGFA_ENGINE_METADATA_MAX_AGE_MS``: how often the consumer refreshes topic
    #: metadata, i.e. how soon a new unit's ingest topic is subscribed (Kafka: 5 min).
    metadata_max_age_ms: int = 30_000
    #: ``LIANGFA_ENGINE_MAX_DOCUMENT_BYTES``: lowers a case document's size limit (tests);
    #: unset, the limit follows the producer's request size (it is never raised past it).
    max_document_bytes: int | None = None
    #: ``LIANGFA_ENGINE_AWAIT_CASE_S``: how long an event not entitled to a case the hub
    #: knows nothing of waits for the case (a backfill reads folders in no legal order).
    await_case_s: int = 900
    #: ``LIANGFA_ENGINE_RECHECK_REFUSED_S``: how long an event refused on a known case is
    #: kept to be checked again as the case changes (a forward exported days after the
    #: new organ's answer: a week spans a weekend and most holidays); 0: never.
    recheck_refused_s: int = 7 * 24 * 3600
    #: ``LIANGFA_ENGINE_HEAP_TRIM_S``: seconds between two ``malloc_trim`` calls; 0 off.
    heap_trim_s: float = 2.0
    #: ``LIANGFA_ENGINE_BLOCK_CACHE_MB``: the process's one RocksDB block cache.
    block_cache_mb: int = 64
    #: ``LIANGFA_ENGINE_REINDEX_DUE_TIMES=1``: index every store's due times again at
    #: assignment (after an upgrade that changed how they are kept).
    reindex_due_times: bool = False
    #: ``LIANGFA_ENGINE_INDEX_PREBUILD_MINIMUM``: referral-index entries from which an
    #: empty index store is built in a child process (below, its start costs more).
    index_prebuild_minimum: int = 20_000
    #: ``LIANGFA_ENGINE_FRONTIER_MAX_WAIT_S``: how far behind the clock the input frontier
    #: may hold timed judgements back before they go back to wall time; 0: never held.
    frontier_max_wait_s: float = 900.0
    #: ``LIANGFA_ENGINE_SOURCE_STALE_S``: seconds without a progress mark after which a
    #: connector counts as gone and holds nothing back.
    source_stale_s: float = 60.0
    #: ``LIANGFA_ENGINE_PURGE_INTERVAL_S``: seconds between two deletions of the consumed
    #: records of the engine's repartition topics (Kafka Streams: 30 s); 0 keeps them.
    purge_interval_s: float = 30.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> EngineTuning:
        """The knobs set in ``environ`` (the process's environment by default), the
        defaults for the others; :class:`TuningError` names a variable set wrong."""
        variables = os.environ if environ is None else environ
        defaults = cls()

        def text(suffix: str) -> str:
            return variables.get(f"LIANGFA_ENGINE_{suffix}", "").strip()

        def number(suffix: str, default: float | None, *, integer: bool,
                   least: float = 0) -> float | None:
            value = text(suffix)
            if not value:
                return default
            shown = "unset" if default is None else default
            try:
                parsed = int(value) if integer else float(value)
            except ValueError:
                kind = "a whole number" if integer else "a number"
                raise TuningError(f"LIANGFA_ENGINE_{suffix}={value!r}: expected {kind} "
                                  f"(default {shown})") from None
            if not least <= parsed < float("inf"):  # below the least, infinite, or NaN
                raise TuningError(f"LIANGFA_ENGINE_{suffix}={value!r}: expected a "
                                  f"number of {least:g} or more (default {shown})")
            return parsed

        def whole(suffix: str, default: int) -> int:
            return int(number(suffix, default, integer=True) or 0)

        def seconds(suffix: str, default: float) -> float:
            return float(number(suffix, default, integer=False) or 0.0)

        thresholds = text("GC_THRESHOLDS")
        gc_thresholds = defaults.gc_thresholds
        if thresholds:
            parts = [part.strip() for part in thresholds.split(",")]
            if len(parts) != 3 or not all(part.isascii() and part.isdecimal()
                                          for part in parts):
                raise TuningError(f"LIANGFA_ENGINE_GC_THRESHOLDS={thresholds!r}: expected "
                                  f"three whole numbers a,b,c (default 20000,10,10)")
            gc_thresholds = (int(parts[0]), int(parts[1]), int(parts[2]))
        document_bytes = number("MAX_DOCUMENT_BYTES", None, integer=True, least=1)
        reindex = text("REINDEX_DUE_TIMES").lower()
        if reindex not in ("", "0", "1", "false", "true", "no", "yes", "off", "on"):
            raise TuningError(f"LIANGFA_ENGINE_REINDEX_DUE_TIMES={reindex!r}: expected 1 "
                              f"(index again) or 0")
        return cls(
            gc_thresholds=gc_thresholds,
            metadata_max_age_ms=whole("METADATA_MAX_AGE_MS", defaults.metadata_max_age_ms),
            max_document_bytes=None if document_bytes is None else int(document_bytes),
            await_case_s=whole("AWAIT_CASE_S", defaults.await_case_s),
            recheck_refused_s=whole("RECHECK_REFUSED_S", defaults.recheck_refused_s),
            heap_trim_s=seconds("HEAP_TRIM_S", defaults.heap_trim_s),
            block_cache_mb=whole("BLOCK_CACHE_MB", defaults.block_cache_mb),
            reindex_due_times=reindex in ("1", "true", "yes", "on"),
            index_prebuild_minimum=whole("INDEX_PREBUILD_MINIMUM",
                                         defaults.index_prebuild_minimum),
            frontier_max_wait_s=seconds("FRONTIER_MAX_WAIT_S", defaults.frontier_max_wait_s),
            source_stale_s=seconds("SOURCE_STALE_S", defaults.source_stale_s),
            purge_interval_s=seconds("PURGE_INTERVAL_S", defaults.purge_interval_s),
        )
