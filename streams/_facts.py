"""Facts about a case read from its events, shared by the decision modules.

Who referred the case, which police unit has it, which offence category it belongs to:
several processors need the same answers, and they must agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hub.models import (
    CaseEvent,
    CaseForwarded,
    CaseReferred,
    FilingDecided,
    FilingSupervisionRequested,
    MaterialsHandedOver,
    PenaltyCaseRecorded,
    ReconsiderationDecided,
    ReconsiderationRequested,
    ReferralReceived,
)
from hub.rules import ThresholdTable, ViolationOffenceTable

__all__ = [
    "event_type_name",
    "offence_category",
    "ordered",
    "owning_unit",
    "receiving_police",
    "referring_agency",
]


def event_type_name(event: object) -> str:
    """The event's class name (``CaseReferred``), as rule files spell event types."""
    return type(event).__name__


def ordered(events: Iterable[CaseEvent]) -> list[CaseEvent]:
    """Events deduplicated by ``event_id``, in legal order (occurred, then recorded).

    Connectors deliver out of order (a backfill, a slow agency); decisions follow the
    order things happened in law, not the order they reached the bus.
    """
    unique: dict[str, CaseEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    return sorted(unique.values(), key=lambda e: (e.occurred_at, e.recorded_at, e.event_id))


def owning_unit(events: Sequence[CaseEvent]) -> str | None:
    """The agency whose case it is: author of the penalty or referral, else the first event."""
    for event in events:
        if isinstance(event, PenaltyCaseRecorded | CaseReferred):
            return event.source_unit
    return events[0].source_unit if events else None


def referring_agency(events: Sequence[CaseEvent]) -> str | None:
    """The agency that referred the case: its latest referral, else what others say of it.

    Without the referral on the bus (an agency not connected yet), the agency is still
    known from its own follow-up acts or from the police feedback naming it.
    """
    for event in reversed(events):
        if isinstance(event, CaseReferred):
            return event.source_unit
    for event in reversed(events):
        if isinstance(event, ReconsiderationRequested | FilingSupervisionRequested
                      | MaterialsHandedOver):
            return event.source_unit
        named = (
            event.referring_unit_code
            if isinstance(event, ReferralReceived | CaseForwarded | FilingDecided)
            else event.requested_by_unit_code
            if isinstance(event, ReconsiderationDecided)
            else None
        )
        if named:
            return named
    return None


def receiving_police(events: Sequence[CaseEvent]) -> str | None:
    """The police unit that has the referral: the latest receipt, else the addressee."""
    for event in reversed(events):
        if isinstance(event, ReferralReceived):
            return event.source_unit
    for event in reversed(events):
        if isinstance(event, CaseReferred):
            return event.receiving_unit_code
    return None


def offence_category(
    events: Sequence[CaseEvent],
    thresholds: ThresholdTable,
    violation_offences: ViolationOffenceTable | None = None,
) -> str | None:
    """The case's offence category (``economic``…), None when unknown or ambiguous.

    The referral's stated offence decides; failing that the police's filed offence; failing
    that the penalty's violation type, when all its offences share one category.
    """
    for event in reversed(events):
        if isinstance(event, CaseReferred):
            category = thresholds.category_of(event.criminal_law_article, event.suspected_offence)
            if category is not None:
                return category
    for event in reversed(events):
        if isinstance(event, FilingDecided) and event.offence:
            category = thresholds.category_of(None, event.offence)
            if category is not None:
                return category
    if violation_offences is not None:
        for event in reversed(events):
            if isinstance(event, PenaltyCaseRecorded) and event.violation_type_code:
                mapping = violation_offences.for_code(event.violation_type_code)
                if mapping is None or not mapping.offences:
                    continue
                categories = {thresholds.offence(o).category for o in mapping.offences}
                if len(categories) == 1:
                    return categories.pop()
    return None
