"""What the worker judges at, given its input frontier (``streams.engine.frontier``).

The rounds themselves need a broker (``tests/integration/test_streams_input_frontier.py``);
here the frontier's value is set as a finished round sets it, and the clock is the
test's. The consumer is real but never connects: nothing here asks the broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer

from streams.engine.frontier import InputFrontier, subscribed
from streams.metrics import FRONTIER_AT_WALL_TIME, FRONTIER_LAG

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _frontier(max_wait_s: float, started: datetime = NOW) -> InputFrontier:
    consumer = Consumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "unused"})
    return InputFrontier(consumer, lambda name: True, lambda name: False, None,
                         max_wait_s=max_wait_s, wall_clock=lambda: started.timestamp())


def test_nothing_is_judged_before_the_first_round_ends() -> None:
    frontier = _frontier(900)
    judged = frontier.judging_time(NOW + timedelta(seconds=5))
    assert judged < NOW - timedelta(days=365 * 1000)


def test_judged_at_the_frontier_while_it_is_behind_the_clock() -> None:
    frontier = _frontier(900)
    frontier.frontier = (NOW - timedelta(seconds=40)).timestamp()
    assert frontier.judging_time(NOW) == NOW - timedelta(seconds=40)
    assert FRONTIER_LAG._value.get() == 40.0
    # Never later than the clock, even when a round started after ``now`` was read.
    frontier.frontier = (NOW + timedelta(seconds=1)).timestamp()
    assert frontier.judging_time(NOW) == NOW


def test_too_far_behind_the_clock_is_judged_at_wall_time_and_reported() -> None:
    frontier = _frontier(60)
    frontier.frontier = (NOW - timedelta(seconds=61)).timestamp()
    assert frontier.judging_time(NOW) == NOW
    assert FRONTIER_AT_WALL_TIME._value.get() == 1
    # Caught up: judged at the frontier again, and reported so.
    frontier.frontier = (NOW - timedelta(seconds=2)).timestamp()
    assert frontier.judging_time(NOW) == NOW - timedelta(seconds=2)
    assert FRONTIER_AT_WALL_TIME._value.get() == 0


def test_no_first_round_for_longer_than_the_limit_is_judged_at_wall_time() -> None:
    frontier = _frontier(60, started=NOW - timedelta(seconds=120))
    assert frontier.judging_time(NOW) == NOW


def test_the_wait_is_counted_from_the_worker_being_ready() -> None:
    """A start's index load and restores are not time the frontier fell behind."""
    clock = [NOW - timedelta(seconds=120)]
    consumer = Consumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "unused"})
    frontier = InputFrontier(consumer, lambda name: True, lambda name: False, None,
                             max_wait_s=60, wall_clock=lambda: clock[0].timestamp())
    clock[0] = NOW - timedelta(seconds=10)
    frontier.begin()
    assert frontier.judging_time(NOW) < NOW - timedelta(days=1)


def test_a_zero_limit_judges_at_wall_time_and_asks_the_broker_nothing() -> None:
    frontier = _frontier(0)
    frontier.advance()  # would fail to reach 127.0.0.1:9 within its timeout otherwise
    assert frontier.frontier is None
    assert frontier.judging_time(NOW + timedelta(hours=5)) == NOW + timedelta(hours=5)
    assert FRONTIER_LAG._value.get() == 0.0


def test_input_topics_are_told_by_the_workers_subscription() -> None:
    is_input = subscribed([r"^p\.lf\.ingest\.[^.]+\.[^.]+$", "p.lf.case-events"])
    assert is_input("p.lf.ingest.11421181MB00000013.cases")
    assert is_input("p.lf.case-events")
    assert not is_input("p.lf.case-state")
    assert not is_input("p.lf.ingest.too.many.parts")
