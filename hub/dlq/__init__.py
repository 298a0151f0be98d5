"""Dead letters a person can fix: list, show and replay the records on ``lf.dlq.*``.

Two kinds of dead-letter topic exist (``hub/topics.yaml``):

* ``lf.dlq.streams``: records a stream processor could not decode or process. Each keeps
  its original key, value and headers and adds the error headers of
  :data:`streams.safety.ERROR_HEADERS` (``error.type``, ``error.reason``,
  ``source.topic``, ``source.partition``, ``source.offset``, ``processor``), so it can be
  sent back to ``source.topic`` unchanged once the cause (a unit missing from the
  registry, an entitlement, a rule file) is fixed.
* ``lf.dlq.<connector id>``: source rows a connector refused (``connectors/delivery.py``):
  the raw bytes of the row with ``dlq.id``, ``error.*``, ``source.reference``,
  ``source.file``, ``source.row``, ``connector.id`` and ``unit``. They are not events:
  they go back through the connector's (fixed) mapping by dropping the corrected export
  again, not by a replay to a topic.

:mod:`hub.dlq.records` reads and renders them, :mod:`hub.dlq.replay` sends them back,
:mod:`hub.dlq.exporter` serves their depth as Prometheus series.
"""

from hub.dlq.records import (
    DLQ_PREFIX,
    DeadLetterRecord,
    Selection,
    TopicSummary,
    dead_letter_topics,
    read_dead_letters,
    summarize,
)

__all__ = [
    "DLQ_PREFIX",
    "DeadLetterRecord",
    "Selection",
    "TopicSummary",
    "dead_letter_topics",
    "read_dead_letters",
    "summarize",
]
