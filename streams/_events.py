"""Event helpers the engine's processors share: feedback types, stored forms of events."""

from __future__ import annotations

import json
from typing import Any

from hub.models import (
    EVENT_TYPES,
    STORED_CONTEXT,
    ArrestRequested,
    CaseEvent,
    CaseForwarded,
    CourtJudgment,
    FilingDecided,
    JudicialRecommendation,
    NonFilingReasonsExplained,
    ReconsiderationDecided,
    ReferralReceived,
    TransferredForProsecution,
)

__all__ = ["COURT_FEEDBACK_TYPES", "FEEDBACK_TYPES", "MATCHED_HEADER", "ORIGIN_HEADER",
           "POLICE_FEEDBACK_TYPES", "PROCESSED_HEADER", "decode_stored", "dumps_json",
           "stored_form"]

#: Header the matcher puts on feedback it re-keyed to the matched case.
MATCHED_HEADER = "lf_matched"
#: Header on an ``lf.case-events`` record whose event the engine already processed in the
#: task that normalized it (one hop): the engine skips it when reading the topic back.
PROCESSED_HEADER = "lf_processed"
#: Header on an ``lf.streams.case-intake`` record: ``[topic, partition, offset]`` of the
#: ingest record it was read as (only the engine writes that topic).
ORIGIN_HEADER = "lf_origin"
#: Police feedback: keyed by the police's own case number until matched.
POLICE_FEEDBACK_TYPES = (ReferralReceived, CaseForwarded, FilingDecided,
                         ReconsiderationDecided, ArrestRequested, TransferredForProsecution,
                         NonFilingReasonsExplained)
#: Court outcomes: keyed by the court case number under the court's code until matched
#: (the court export knows the referral and police case numbers, not the hub's case id).
#: Unlike police feedback they name their addressee themselves (a recommendation's
#: ``target_unit_code``), so they are routed on first sight, not as the re-keyed copy.
COURT_FEEDBACK_TYPES = (CourtJudgment, JudicialRecommendation)
#: Everything the matcher re-keys to the hub's case.
FEEDBACK_TYPES = POLICE_FEEDBACK_TYPES + COURT_FEEDBACK_TYPES


def decode_stored(items: list[list[Any]]) -> list[CaseEvent]:
    """Events a table keeps as ``[event_id, avro name, JSON dict]`` back as models.

    Validated as stored data (:data:`~hub.models.STORED_CONTEXT`): identifiers are kept
    as written, not judged again by rules added since the event was stored.
    """
    return [EVENT_TYPES[name].model_validate(data, context=STORED_CONTEXT)
            for _, name, data in items]


def stored_form(event: CaseEvent) -> list[Any]:
    """The JSON-able form of an event kept in a table (see :func:`decode_stored`).

    Empty (None) fields are left out: a case document keeps its events whole and is
    written to its changelog at every change, and the nulls were ~30 % of an event's
    JSON (a 4-event bench case: 9.5 → 7.8 KB). Every optional field of every event
    model defaults to None and none is required-but-nullable, so the model read back is
    the same (``tests/unit/test_stored_form.py`` keeps that true).
    """
    return [event.event_id, event.avro_name, event.model_dump(mode="json", exclude_none=True)]


def dumps_json(value: Any) -> bytes:
    """Compact JSON for internal topics (ticks)."""
    return json.dumps(value, separators=(",", ":"), default=str).encode("utf-8")
