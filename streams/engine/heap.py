"""Hand the C heap's free pages back to the system between batches.

Why: a batch decodes and re-encodes a few thousand case documents, so the worker's C heap
(glibc's arenas, where CPython puts every object over 512 bytes and RocksDB its
memtable blocks) fills and empties once a batch. glibc returns memory to the system only
from the top of an arena; the free pages in between stay resident, and long-lived objects
(due times, kept documents) scattered among them keep the heap from shrinking. The
resident size then grows with the number of cases faster than what is live. Measured on a
worker 600,000 events into a 1,000,000-event run: ``malloc_trim(0)`` released 176 of its
738 MiB, which the following batches took back within 30 s. Called every few seconds,
it keeps the resident size near what the live objects and one batch need.

``malloc_trim`` is glibc's; elsewhere (musl, macOS) the trimmer does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

from streams.metrics import HEAP_TRIM_SECONDS

__all__ = ["HeapTrimmer", "libc_malloc_trim"]

log = logging.getLogger(__name__)

def libc_malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` as a callable, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return lambda: function(0)


class HeapTrimmer:
    """Trims the heap at most once per ``interval_s`` (monotonic clock)."""

    def __init__(self, interval_s: float, trim: Callable[[], object] | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._trim = trim if interval_s > 0 else None
        self._clock = clock
        self._next = clock() + interval_s
        if interval_s > 0 and trim is None:
            log.info("malloc_trim is not available here: the heap is not trimmed")

    @property
    def enabled(self) -> bool:
        return self._trim is not None

    def maybe_trim(self) -> bool:
        """Trim if the interval has passed since the last trim; True when it trimmed."""
        if self._trim is None:
            return False
        now = self._clock()
        if now < self._next:
            return False
        self._trim()
        done = self._clock()
        HEAP_TRIM_SECONDS.observe(done - now)
        self._next = done + self.interval_s
        return True
