"""What the statistics need of a counted event, as a small tuple the case tasks batch.

The statistics (:mod:`streams.stats_logic`) and the missing-entry tracker
(:mod:`streams.missing_entry_logic`) are global: a referral counts for the agency, its
receipt for the police, and a unit's decision numbers come from all its cases. So every
counted event reaches the one task that folds them. It used to reach it as itself: the
event's Avro bytes forwarded, one Kafka record each, decoded again into a pydantic model
to read a dozen fields. Of 20,000 bench events that was ~26,000 records produced,
consumed and decoded a second time, the worker's largest avoidable cost after the clocks.

A :class:`StatsFact` is those dozen fields, taken from the event in the task that already
holds it decoded. The case tasks gather a batch's facts and send them as one record
(:func:`encode_facts`); the statistics task reads them back with :func:`decode_facts`.
Nothing in the figures depends on which form the event came in: the accumulator and the
tracker are fed facts either way (``StatsAccumulator.add(event)`` makes the fact first).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from hub.models import Alert, AlertStatus, CaseEvent, PenaltyCaseRecorded, PenaltyProcedure
from hub.rules.deadlines import DeadlineRules, load_deadlines

__all__ = ["FACTS_HEADER", "StatsFact", "decode_facts", "encode_facts", "fact_of"]

#: Header of a statistics-feed record that carries a batch of facts (an older worker's
#: feed carries one Avro event per record, and is still read as such).
FACTS_HEADER = "lf-stats-facts"
#: The rule whose start the entry-late figure counts from (送达, else 生效, else the
#: decision: ``deadlines.yaml`` ``start_fields``), as the entry-late alert does.
_ENTRY_RULE = "entry-late"
#: The fields that hold instants, by position, for decoding.
_INSTANTS = (4, 5, 6)
#: The fields that hold flags, by position.
_FLAGS = (7, 15)


class StatsFact(NamedTuple):
    """One counted event, reduced to what the figures and the tracker read."""

    kind: str  #: the event's type name (``PenaltyCaseRecorded``, ``Alert``, …)
    case_id: str
    event_id: str
    source_unit: str
    occurred_at: datetime
    recorded_at: datetime
    #: a penalty: when its entry clock starts (served on, else effective on, else decided)
    entry_started_at: datetime | None = None
    #: a penalty decided by summary procedure (简易程序: no entry deadline counted)
    summary: bool = False
    decision_number: str | None = None
    referral_number: str | None = None
    referring_unit_code: str | None = None
    decision: str | None = None  #: a filing decision's value
    police_case_number: str | None = None
    document_number: str | None = None
    alert_id: str | None = None
    raised: bool = False  #: an alert in status RAISED
    responsible_unit_code: str | None = None


def fact_of(event: CaseEvent, *, deadlines: DeadlineRules | None = None) -> StatsFact:
    """The fact of a counted event (any :data:`~streams.stats_logic.COUNTED_TYPES`).

    ``deadlines``: the rules in force (default: :func:`~hub.rules.load_deadlines`); the
    engine passes its own, already loaded. Fields are read from the model's ``__dict__``:
    most types lack most of them, and a missing attribute through pydantic's
    ``__getattr__`` cost more than the rest of the fact.
    """
    values = event.__dict__
    entry_started_at: datetime | None = None
    summary = False
    if isinstance(event, PenaltyCaseRecorded):
        matcher = (deadlines or load_deadlines()).by_id(_ENTRY_RULE).start_matcher(event)
        entry_started_at = (matcher.start_instant(event) if matcher else None) \
            or event.occurred_at
        summary = event.procedure is PenaltyProcedure.SUMMARY
    alert_id = responsible = None
    raised = False
    if isinstance(event, Alert):
        alert_id, responsible = event.alert_id, event.responsible_unit_code
        raised = event.status is AlertStatus.RAISED
    decision = values.get("decision")
    return StatsFact(
        type(event).__name__, event.case_id, event.event_id, event.source_unit,
        event.occurred_at, event.recorded_at, entry_started_at, summary,
        values.get("decision_number"), values.get("referral_number"),
        values.get("referring_unit_code"),
        None if decision is None else str(getattr(decision, "value", decision)),
        values.get("police_case_number"), values.get("document_number"),
        alert_id, raised, responsible)


def encode_facts(facts: Sequence[StatsFact]) -> bytes:
    """A batch of facts as one record value (JSON: instants as RFC 3339 with offset)."""
    return orjson.dumps([list(fact) for fact in facts])


def decode_facts(value: bytes) -> list[StatsFact]:
    """Inverse of :func:`encode_facts`; raises ``ValueError`` or ``TypeError`` on
    anything else (the caller dead-letters the record)."""
    rows = orjson.loads(value)
    if not isinstance(rows, list):
        raise TypeError("a statistics-facts record holds a list of facts")
    return [_fact(row) for row in rows]


def _fact(row: Any) -> StatsFact:
    if not isinstance(row, list) or len(row) != len(StatsFact._fields):
        raise TypeError(f"not a statistics fact: {str(row)[:200]}")
    values: list[Any] = list(row)
    for position in _INSTANTS:
        if values[position] is not None:
            values[position] = datetime.fromisoformat(values[position])
    if any(values[position] is not None and values[position].tzinfo is None
           for position in _INSTANTS) or values[4] is None or values[5] is None:
        raise ValueError("a statistics fact's instants carry their offset")
    # A well-shaped row with a field of the wrong type would fail later, inside the
    # accumulator, where it stops the statistics task instead of being dead-lettered.
    for position, value in enumerate(values):
        if position in _INSTANTS:
            continue
        wanted = bool if position in _FLAGS else str
        if not isinstance(value, wanted) and (value is not None or position < 4):
            raise TypeError(f"statistics fact field {StatsFact._fields[position]!r}: "
                            f"{type(value).__name__}, not {wanted.__name__}")
    return StatsFact(*values)
