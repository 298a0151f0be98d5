"""The benchmark's generated load: distinct cases, each with its own numbers and parties.

Kept apart from the benchmark's harness (:mod:`streams.bench`: topics, worker processes,
timings) because the events are used without it: the engine's order-property test
(``tests/integration/test_streams_order_property.py``) and the decision layer's
measurements (``streams/PERFORMANCE.md``) read the same case histories. And because how
the load is made decides what the benchmark measures: events that shared a template's
document numbers or parties made the matcher re-key thousands of events into one case
or score every decision against every case, so the run measured that pathology rather
than the engine; the comments below say what each field guards against.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from hub.identity import (
    case_id_for,
    content_hash,
    credit_code_check_char,
    event_id_for,
    resident_id_check_char,
)
from hub.models import (
    AgencyReplied,
    CaseEvent,
    CaseReferred,
    ConsultationRequested,
    FilingDecided,
    FilingSupervisionRequested,
    MaterialsHandedOver,
    Party,
    PenaltyCaseRecorded,
    ReferralReceived,
)
from hub.models.examples import EXAMPLE_AGENCY, example_events

__all__ = ["bench_events"]

_PER_CASE = (PenaltyCaseRecorded, CaseReferred, ReferralReceived, FilingDecided)
#: Further events of a longer case history (``--events-per-case`` over 4): the agency's
#: later acts, each a new event of the same case.
_LATER = (ConsultationRequested, MaterialsHandedOver, FilingSupervisionRequested,
          AgencyReplied)


def bench_events(count: int, events_per_case: int = 4) -> Iterator[CaseEvent]:
    """``count`` distinct events: cases of penalty → referral → receipt → filing decision,
    then (``events_per_case`` over 4) the agency's later acts on the same case, so the
    cost of a long case history can be compared with a short one's."""
    if events_per_case < len(_PER_CASE):
        raise ValueError(f"events_per_case must be at least {len(_PER_CASE)}")
    templates = {type(event): event for event in example_events().values()}
    for number in range(count):
        case_number, position = divmod(number, events_per_case)
        model = (_PER_CASE[position] if position < len(_PER_CASE)
                 else _LATER[(position - len(_PER_CASE)) % len(_LATER)])
        decision_number = f"基准市监罚〔2024〕{case_number}号"
        case_id = case_id_for(EXAMPLE_AGENCY, decision_number)
        template = templates[model]
        update: dict[str, Any] = {
            "case_id": case_id,
            "event_id": event_id_for("bench", f"{model.__name__}|{case_number}|{position}",
                                     content_hash({"n": number})),
            "source_record": f"bench#{number}",
        }
        # Every document number is the case's own, as in real exports. With the
        # template's shared police case number and agency case number, the first
        # matched filing decision linked that police number to one case, and every
        # later decision read before its own referral was re-keyed to that case: one
        # case collected thousands of events (quadratic re-evaluation, and its state
        # document outgrew the broker's request limit and stopped the worker).
        if model in (PenaltyCaseRecorded, CaseReferred):
            update["decision_number"] = decision_number
            update["agency_case_number"] = f"基准市监立〔2024〕{case_number}号"
        if model is not PenaltyCaseRecorded:
            update["referral_number"] = f"基准市监移〔2024〕{case_number}号"
        if model is FilingDecided:
            update["police_case_number"] = f"A421181000000{case_number:010d}"
            update["agency_decision_number"] = decision_number
            update["notice_number"] = f"基准公立〔2024〕{case_number}号"
        # Each case's own parties too: with one company and one person in every case,
        # a decision read before its referral was scored against every case by party
        # identifier (O(cases) per decision, most of the worker's time).
        for name in ("parties", "defendants", "persons_concerned"):
            parties = getattr(template, name, None)
            if parties:
                update[name] = [_own_party(party, case_number) for party in parties]
        yield template.model_copy(update=update)


def _own_party(party: Party, case_number: int) -> Party:
    """The template's party with valid identifiers unique to bench case ``case_number``."""
    update: dict[str, Any] = {}
    if party.credit_code:
        first17 = f"91421181MA{case_number:07d}"
        update["credit_code"] = first17 + credit_code_check_char(first17)
    born = (date(1950, 1, 1) + timedelta(days=case_number // 1000)).strftime("%Y%m%d")
    if party.id_number:
        first17 = f"421181{born}{case_number % 1000:03d}"
        update["id_number"] = first17 + resident_id_check_char(first17)
    if party.legal_representative_id_number:
        first17 = f"421182{born}{case_number % 1000:03d}"
        update["legal_representative_id_number"] = first17 + resident_id_check_char(first17)
    return party.model_copy(update=update)
