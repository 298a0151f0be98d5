"""The engine's tuning knobs: one reader of ``LIANGFA_ENGINE_*``, clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.engine.tuning import EngineTuning, TuningError


def test_unset_knobs_take_their_defaults() -> None:
    assert EngineTuning.from_environment({}) == EngineTuning()
    blank = EngineTuning.from_environment({"LIANGFA_ENGINE_AWAIT_CASE_S": "  "})
    assert blank.await_case_s == 900


def test_set_knobs_are_read_with_their_types() -> None:
    tuning = EngineTuning.from_environment({
        "LIANGFA_ENGINE_GC_THRESHOLDS": "700, 10,10",
        "LIANGFA_ENGINE_METADATA_MAX_AGE_MS": "2000",
        "LIANGFA_ENGINE_MAX_DOCUMENT_BYTES": "65536",
        "LIANGFA_ENGINE_AWAIT_CASE_S": "2",
        "LIANGFA_ENGINE_HEAP_TRIM_S": "0",
        "LIANGFA_ENGINE_BLOCK_CACHE_MB": "16",
        "LIANGFA_ENGINE_REINDEX_DUE_TIMES": "1",
        "LIANGFA_ENGINE_INDEX_PREBUILD_MINIMUM": "1",
        "LIANGFA_ENGINE_FRONTIER_MAX_WAIT_S": "0.5",
        "LIANGFA_ENGINE_SOURCE_STALE_S": "600",
        "LIANGFA_ENGINE_PURGE_INTERVAL_S": "0",
        "LIANGFA_ENGINE_RECHECK_REFUSED_S": "86400",
    })
    assert tuning == EngineTuning(
        gc_thresholds=(700, 10, 10), metadata_max_age_ms=2000, max_document_bytes=65536,
        await_case_s=2, heap_trim_s=0.0, block_cache_mb=16, reindex_due_times=True,
        index_prebuild_minimum=1, frontier_max_wait_s=0.5, source_stale_s=600.0,
        purge_interval_s=0.0, recheck_refused_s=86400)


@pytest.mark.parametrize(("name", "value"), [
    ("LIANGFA_ENGINE_AWAIT_CASE_S", "15m"),
    ("LIANGFA_ENGINE_AWAIT_CASE_S", "1.5"),
    ("LIANGFA_ENGINE_BLOCK_CACHE_MB", "-64"),
    ("LIANGFA_ENGINE_FRONTIER_MAX_WAIT_S", "nan"),
    ("LIANGFA_ENGINE_GC_THRESHOLDS", "700,10"),
    ("LIANGFA_ENGINE_GC_THRESHOLDS", "a,b,c"),
    ("LIANGFA_ENGINE_GC_THRESHOLDS", "\u00b9,2,3"),
    ("LIANGFA_ENGINE_MAX_DOCUMENT_BYTES", "0"),
    ("LIANGFA_ENGINE_SOURCE_STALE_S", "inf"),
    ("LIANGFA_ENGINE_PURGE_INTERVAL_S", "-1"),
    ("LIANGFA_ENGINE_RECHECK_REFUSED_S", "7d"),
    ("LIANGFA_ENGINE_REINDEX_DUE_TIMES", "always"),
])
def test_a_knob_set_wrong_is_named_with_what_it_expects(name: str, value: str) -> None:
    with pytest.raises(TuningError) as raised:
        EngineTuning.from_environment({name: value})
    assert f"{name}={value!r}" in str(raised.value)
    assert "expected" in str(raised.value)


def test_the_worker_refuses_to_start_on_a_knob_set_wrong() -> None:
    """Before it connects to anything: no broker is needed to see the error."""
    result = CliRunner().invoke(app, ["run", "--bootstrap", "127.0.0.1:9"],
                                env={"LIANGFA_ENGINE_HEAP_TRIM_S": "often"})
    assert result.exit_code == 2
    assert "LIANGFA_ENGINE_HEAP_TRIM_S='often'" in result.output


def test_a_switch_takes_the_usual_spellings() -> None:
    for value, expected in (("true", True), ("YES", True), ("0", False), ("off", False)):
        tuning = EngineTuning.from_environment({"LIANGFA_ENGINE_REINDEX_DUE_TIMES": value})
        assert tuning.reindex_due_times is expected
