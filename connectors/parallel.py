"""Mapping in worker processes: chunks of rows in, encoded events out, in source order.

Mapping, validating and encoding a row costs about 100 µs of CPU in CPython, several
times what producing it costs; one process is bound by it. With ``workers`` > 1 the
runner hands chunks of rows (``worker_chunk_rows`` each) to a pool of forked processes
and delivers their results in the order the chunks were read. The main process keeps
everything that has to be in one place: reading the source, producing, acks,
dead-lettering and checkpoints, so the delivery guarantees are those of the single
process path. At most ``2 × workers + 1`` chunks are in flight: memory stays flat
whatever the size of the export.

Workers are forked (no re-import, no pickling of the compiled mapper: the callable is
inherited), ignore SIGINT/SIGTERM (the main process decides when to stop, finishing what
it has in hand) and die with the main process (``PR_SET_PDEATHSIG`` on Linux), so a
``kill -9`` of the connector leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import Any

from hub.errors import RetriableError

__all__ = ["ChunkMapper", "MappingPool", "default_workers"]

#: What a pool runs on a chunk: (row or raw bytes, reference, parser or None) items and
#: the chunk's read time in, one outcome per row out (picklable).
ChunkMapper = Callable[[list[tuple[Any, str, Any]], datetime], list[Any]]

_PR_SET_PDEATHSIG = 1
_chunk_mapper: ChunkMapper | None = None


def default_workers(kind: str) -> int:
    """Mapping processes when a config does not say: up to 4 for file exports (large and
    read as fast as the disk allows), 1 for the other kinds (their sources are the limit)."""
    if kind != "file":
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _init_worker(mapper: ChunkMapper, parent: int) -> None:
    global _chunk_mapper
    _chunk_mapper = mapper
    # Everything inherited from the connector process stays alive for the worker's life:
    # out of the collector's generations, its collections scan only the worker's own
    # objects, and do not write to (copy) the pages it shares with its parent.
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def _run_chunk(rows: list[tuple[Any, str, Any]], recorded_at: datetime) -> list[Any]:
    assert _chunk_mapper is not None, "worker not initialised"
    return _chunk_mapper(rows, recorded_at)


class MappingPool:
    """A lazily started pool of forked mapping processes for one connector session.

    ``in_process`` says of a chunk whether it is mapped here instead: the rows the
    native core takes (``connectors.rowpath``) cost ~6 µs each in compiled code, less
    than pickling them to a worker and their outcomes back. With ``processes`` 0 every
    chunk is mapped here.
    """

    def __init__(self, mapper: ChunkMapper, processes: int,
                 in_process: Callable[[list[tuple[Any, str, Any]]], bool] | None = None
                 ) -> None:
        self.mapper = mapper
        self.processes = processes
        self.in_process = in_process
        self._executor: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    def submit(self, rows: list[tuple[Any, str, Any]],
               recorded_at: datetime) -> asyncio.Future[list[Any]]:
        """Map a chunk in a worker (or here); the future resolves to one outcome per row,
        in order."""
        if self.processes == 0 or (self.in_process is not None and self.in_process(rows)):
            done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            try:
                done.set_result(self.mapper(rows, recorded_at))
            except Exception as exc:  # noqa: BLE001 - raised where a worker's would be
                done.set_exception(exc)  # (when the chunk's turn comes, not before)
            return done
        if self._executor is None:
            # fork: the workers inherit the compiled mapper and the bound schema ids. With
            # the fork start method the executor starts every worker before its manager
            # thread, so no thread of this process is forked mid-operation.
            self._executor = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("fork"),
                initializer=_init_worker, initargs=(self.mapper, os.getpid()))
        try:
            future = self._executor.submit(_run_chunk, rows, recorded_at)
        except BrokenProcessPool as exc:
            raise RetriableError(f"mapping worker died: {exc!r}") from exc
        return asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the workers (pending chunks are dropped: they were never delivered)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


async def outcomes_of(future: asyncio.Future[list[Any]]) -> list[Any]:
    """A chunk's outcomes; a dead worker is a retriable failure of the session."""
    try:
        return await future
    except BrokenProcessPool as exc:
        raise RetriableError(f"mapping worker died: {exc!r}") from exc
