"""The connectors' progress marks, as the worker reads them (``streams.engine.sources``).

Records are applied as the marks' consumer would hand them over; the clock is the
test's. Reading them from a real broker, written by a real connector, is in
``tests/integration/test_source_progress.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from confluent_kafka import Consumer

from connectors.progress import ProgressMark
from hub.topics import load_manifest, source_progress_topic
from streams.engine.frontier import InputFrontier
from streams.engine.sources import SourceMarks, progress_pattern
from streams.metrics import SOURCE_PROGRESS_LAG

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
AGENCY = "11421181MB0000001X"
POLICE = "11421181MB0000002A"


def _marks(stale_s: float = 60.0) -> SourceMarks:
    return SourceMarks(None, progress_pattern(), stale_s=stale_s, wall_clock=lambda: NOW)


def _value(unit: str, *, running: bool = True, read_to_end_at: float | None = None,
           alive_at: float = NOW, since: float = NOW - 5) -> bytes:
    return ProgressMark("c1", unit, "cases", running, read_to_end_at, alive_at,
                        since).encode()


def _apply(marks: SourceMarks, unit: str, value: bytes | None, connector: str = "c1") -> None:
    marks.apply(source_progress_topic(unit), connector.encode(), value)


def test_the_slowest_live_connector_bounds_the_judging_instant() -> None:
    marks = _marks()
    assert marks.bound(900) is None  # no connector: nothing held back
    _apply(marks, AGENCY, _value(AGENCY, read_to_end_at=NOW - 3))
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=NOW - 30), connector="p1")
    assert marks.bound(900) == NOW - 30
    assert SOURCE_PROGRESS_LAG.labels(POLICE, "p1")._value.get() == 30.0
    # The police connector's next pass reads its folder to the end.
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=NOW - 1), connector="p1")
    assert marks.bound(900) == NOW - 3


def test_a_running_connector_that_confirmed_nothing_holds_everything() -> None:
    marks = _marks()
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=None, since=NOW - 20))
    assert marks.bound(900) == 0.0
    # ... but not for longer than the frontier's limit, counted from its start.
    assert marks.bound(10) is None


def test_a_connector_that_keeps_starting_over_holds_nothing_back_for_long() -> None:
    """A hostile (or crash-looping) connector writes "running, nothing confirmed, since
    now" again and again: its lag is counted from the first such mark the worker read,
    so it holds judgements back for the frontier's limit at most, not for ever."""
    clock = [NOW]
    marks = SourceMarks(None, progress_pattern(), stale_s=60, wall_clock=lambda: clock[0])
    for _ in range(20):  # a new session's mark every 30 s, for ten minutes
        _apply(marks, POLICE, _value(POLICE, since=clock[0], alive_at=clock[0]))
        clock[0] += 30
    _apply(marks, POLICE, _value(POLICE, since=clock[0], alive_at=clock[0]))
    assert marks.bound(900) == 0.0  # ten minutes: still within the limit
    assert marks.bound(599) is None  # counted from the first mark, 600 s ago
    # A pass begun since then, read to its end, starts the count afresh.
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=clock[0] - 1, alive_at=clock[0]))
    assert marks.bound(599) == clock[0] - 1
    _apply(marks, POLICE, _value(POLICE, since=clock[0], alive_at=clock[0]))
    assert marks.bound(10) == 0.0
    # An old "read to end" does not: it confirms nothing after the first unconfirmed mark.
    clock[0] += 100
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=NOW, alive_at=clock[0]))
    _apply(marks, POLICE, _value(POLICE, since=clock[0], alive_at=clock[0]))
    assert marks.bound(99) is None


def test_stopped_silent_or_too_late_connectors_hold_nothing_back() -> None:
    SOURCE_PROGRESS_LAG.clear()  # the gauge is the process's; other tests set it too
    marks = _marks(stale_s=60)
    _apply(marks, AGENCY, _value(AGENCY, running=False, read_to_end_at=NOW - 500))
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=NOW - 500, alive_at=NOW - 61))
    assert marks.bound(900) is None
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=NOW - 500, alive_at=NOW - 1))
    assert marks.bound(900) == NOW - 500
    assert marks.bound(499) is None  # behind by more than the limit: judged without it
    # Only the live connector has a lag series; a stopped or silent one has none.
    assert set(SOURCE_PROGRESS_LAG._metrics) == {(POLICE, "c1")}
    _apply(marks, POLICE, _value(POLICE, running=False, read_to_end_at=NOW - 500))
    assert marks.bound(900) is None
    assert set(SOURCE_PROGRESS_LAG._metrics) == set()


def test_a_unit_speaks_only_for_its_own_connectors() -> None:
    marks = _marks()
    # On the agency's topic, a mark naming the police: not the police's, and not a mark.
    _apply(marks, AGENCY, _value(POLICE, read_to_end_at=None))
    assert marks.bound(900) is None
    for hostile in (b"{", b"[]", b'{"unit": "%s"}' % AGENCY.encode(),
                    orjson.dumps({"unit": AGENCY, "running": True, "alive_at": "NaN",
                                  "read_to_end_at": None})):
        _apply(marks, AGENCY, hostile)
        assert marks.bound(900) is None
    # A topic that is not a progress topic, or a record without a key: ignored.
    marks.apply(f"lf.ingest.{AGENCY}.cases", b"c1", _value(AGENCY))
    marks.apply(source_progress_topic(AGENCY), None, _value(AGENCY))
    assert marks.bound(900) is None


def test_a_tombstone_forgets_the_connector() -> None:
    marks = _marks()
    _apply(marks, POLICE, _value(POLICE, read_to_end_at=NOW - 30))
    assert marks.bound(900) == NOW - 30
    _apply(marks, POLICE, None)
    assert marks.bound(900) is None


def test_the_frontier_judges_no_later_than_the_sources_confirmed() -> None:
    consumer = Consumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "unused"})
    frontier = InputFrontier(consumer, lambda name: True, lambda name: False, None,
                             max_wait_s=900, wall_clock=lambda: NOW)
    now = datetime.fromtimestamp(NOW, UTC)
    frontier.frontier = NOW - 2
    frontier.sources_bound = NOW - 40
    assert frontier.judging_time(now) == now - timedelta(seconds=40)
    frontier.sources_bound = 0.0  # a connector through no pass yet: nothing is due
    assert frontier.judging_time(now) == datetime.fromtimestamp(0, UTC)
    frontier.sources_bound = None
    assert frontier.judging_time(now) == now - timedelta(seconds=2)


@pytest.mark.parametrize("unit", [AGENCY, POLICE])
def test_the_progress_topic_is_compacted_with_one_partition(unit: str) -> None:
    name = source_progress_topic(unit)
    spec = load_manifest().spec_for(name)
    assert (spec.name, spec.partitions, spec.cleanup_policy) == (name, 1, "compact")
    assert progress_pattern().match(name).group(1) == unit  # type: ignore[union-attr]
    # An ingest topic keeps the defaults, and is no progress topic.
    ingest = load_manifest().spec_for(f"lf.ingest.{unit}.cases")
    assert (ingest.partitions, ingest.cleanup_policy) == (4, "delete")
    assert progress_pattern().match(f"lf.ingest.{unit}.cases") is None



def test_a_batch_judges_deadlines_no_later_than_the_judging_time() -> None:
    """A referral read today from an export of last year: its case's deadlines are judged
    at its latest time only once the bus and every live connector are read that far."""
    from hub.models import CaseReferred
    from hub.models.examples import example_events
    from streams.engine.evaluation import _batch_time

    referral = next(e for e in example_events().values() if isinstance(e, CaseReferred))
    acted = datetime(2025, 1, 10, 2, 0, tzinfo=UTC)
    entered = datetime(2025, 1, 12, 9, 0, tzinfo=UTC)
    event = referral.model_copy(update={"occurred_at": acted, "recorded_at": entered})
    assert _batch_time([event], None) == entered  # no worker: the latest time known
    assert _batch_time([event], datetime(2026, 12, 5, tzinfo=UTC)) == entered
    judged = entered - timedelta(hours=3)
    assert _batch_time([event], judged) == judged
    # Before the first round, or while a connector confirmed nothing: nothing is due.
    assert _batch_time([event], datetime.min.replace(tzinfo=UTC)) == datetime(1970, 1, 1,
                                                                             tzinfo=UTC)
