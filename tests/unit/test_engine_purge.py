"""What a worker may delete of its repartition topics (``streams.engine.purge``).

The broker's side (DeleteRecords on a real topic, the Delete ACL, a restart after a
purge) is ``tests/integration/test_streams_repartition_purge.py`` and
``test_security.py``; here a stand-in for the admin client (it needs a broker) records
the requests, so the rule itself is held: nothing a successor would read again goes.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.engine.purge import RepartitionPurge
from streams.metrics import REPARTITION_PURGE_FAILURES

INTAKE = "lf.streams.case-intake"
FEED = "lf.streams.stats-feed"


class _RecordedRequests:
    """Stands in for confluent_kafka's AdminClient: keeps each request's futures."""

    def __init__(self) -> None:
        self.requests: list[dict[tuple[str, int], tuple[Future[None], int]]] = []

    def poll(self, timeout: float) -> int:
        return 0

    def delete_records(self, partitions: list[TopicPartition], **_: Any
                       ) -> dict[TopicPartition, Future[None]]:
        futures: dict[TopicPartition, Future[None]] = {tp: Future() for tp in partitions}
        self.requests.append({(tp.topic, tp.partition): (future, tp.offset)
                              for tp, future in futures.items()})
        return futures


def _purge(admin: _RecordedRequests | None) -> RepartitionPurge:
    return RepartitionPurge(admin, (INTAKE,), "w1",  # type: ignore[arg-type]
                            interval_s=1e-9, checkpointed_topics=(FEED,))


def test_intake_below_the_commit_the_feed_below_its_snapshot_too() -> None:
    purge = _purge(_RecordedRequests())
    purge.committed({(INTAKE, 0): 40, (FEED, 0): 50, ("lf.case-events", 0): 9})
    # No snapshot written yet: a new owner would count the feed again from its start.
    assert purge.purgeable() == {(INTAKE, 0): 40}
    purge.checkpointed((FEED, 0), 10)
    assert purge.purgeable() == {(INTAKE, 0): 40, (FEED, 0): 10}
    # A snapshot covering more than the group committed (a commit failed after it was
    # flushed): the commit bounds it.
    purge.checkpointed((FEED, 0), 70)
    assert purge.purgeable()[(FEED, 0)] == 50
    purge.checkpointed((FEED, 0), None)
    assert (FEED, 0) not in purge.purgeable()


def test_only_what_the_broker_confirmed_is_not_asked_again() -> None:
    admin = _RecordedRequests()
    purge = _purge(admin)
    purge.committed({(INTAKE, 0): 40, (INTAKE, 1): 5})
    assert purge.maybe_purge() == 2
    [request] = admin.requests
    request[(INTAKE, 0)][0].set_result(None)
    failures = REPARTITION_PURGE_FAILURES.labels(INTAKE)._value.get()
    request[(INTAKE, 1)][0].set_exception(KafkaException(KafkaError(
        KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert REPARTITION_PURGE_FAILURES.labels(INTAKE)._value.get() == failures + 1
    assert purge.purgeable() == {(INTAKE, 1): 5}
    purge.committed({(INTAKE, 1): 3})  # an older commit never moves it back
    assert purge.purgeable() == {(INTAKE, 1): 5}
    # An answer for a partition forgotten meanwhile leaves nothing behind.
    purge.committed({(INTAKE, 2): 8})
    assert purge.maybe_purge() == 2  # the failed one is asked again
    purge.forget([(INTAKE, 2)])
    admin.requests[-1][(INTAKE, 2)][0].set_result(None)
    purge.committed({(INTAKE, 2): 4})
    assert purge.purgeable()[(INTAKE, 2)] == 4


def test_a_partition_that_moved_away_is_left_to_its_new_owner() -> None:
    purge = _purge(_RecordedRequests())
    purge.committed({(INTAKE, 0): 40, (FEED, 0): 50})
    purge.checkpointed((FEED, 0), 10)
    purge.forget([(INTAKE, 0), (FEED, 0)])
    assert purge.purgeable() == {}


def test_switched_off_nothing_is_asked() -> None:
    purge = _purge(None)
    purge.committed({(INTAKE, 0): 40})
    assert purge.maybe_purge() == 0
