"""The worker's heap trimming: glibc's real ``malloc_trim`` in a child interpreter, and the
trimmer's pacing on a controlled clock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streams.engine.heap import HeapTrimmer, libc_malloc_trim
from streams.engine.tuning import EngineTuning

ROOT = Path(__file__).resolve().parents[2]

# Freed 4 KB buffers (above CPython's small-object limit, so in glibc's heap) under a
# buffer that stays: glibc keeps the freed pages until they are trimmed.
_FRAGMENTED_HEAP = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from streams.engine.heap import libc_malloc_trim

    def resident_mib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024

    kept, transient = [], []
    for number in range(50_000):
        transient.append(bytes(4000) + bytes([number % 256]))
        if number % 100 == 0:
            kept.append(bytes(4000) + b"k")
    transient.clear()
    freed = resident_mib()
    libc_malloc_trim()()
    print(freed, resident_mib(), len(kept))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc only")
def test_trimming_gives_freed_heap_pages_back_to_the_system() -> None:
    assert libc_malloc_trim() is not None  # this machine's C library is glibc
    output = subprocess.run([sys.executable, "-c", _FRAGMENTED_HEAP, str(ROOT)],
                            check=True, capture_output=True, text=True).stdout
    freed, trimmed, kept = (int(part) for part in output.split())
    assert kept == 500
    # ~200 MB of freed buffers stayed resident until trimmed
    assert freed - trimmed > 100, (freed, trimmed)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_trimmer_trims_at_most_once_per_interval() -> None:
    clock = _Clock()
    trims: list[float] = []
    trimmer = HeapTrimmer(2.0, lambda: trims.append(clock.now), clock=clock)
    assert trimmer.enabled
    assert not trimmer.maybe_trim()  # not before the first interval has passed
    clock.now = 102.0
    assert trimmer.maybe_trim()
    clock.now = 103.5
    assert not trimmer.maybe_trim()
    clock.now = 104.0
    assert trimmer.maybe_trim()
    assert trims == [102.0, 104.0]


def test_an_interval_of_zero_or_no_malloc_trim_turns_it_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    clock = _Clock()
    off = HeapTrimmer(0.0, lambda: calls.append(1), clock=clock)
    missing = HeapTrimmer(2.0, None, clock=clock)
    clock.now = 1e6
    assert not off.enabled and not off.maybe_trim()
    assert not missing.enabled and not missing.maybe_trim()
    assert calls == []
    monkeypatch.setenv("LIANGFA_ENGINE_HEAP_TRIM_S", "0")
    assert EngineTuning.from_environment().heap_trim_s == 0.0
    monkeypatch.delenv("LIANGFA_ENGINE_HEAP_TRIM_S")
    assert EngineTuning.from_environment().heap_trim_s == 2.0
