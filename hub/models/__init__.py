"""Canonical case events: pydantic models of the Avro contract in ``schemas/``.

Connectors build these models from agency exports (validators check identifiers there,
where a wrong row can still be fixed); processors and the view read them back from the
serde. ``EVENT_TYPES`` maps every full Avro name to its model, which is how the decoder
and the catalogue find a model from a schema. A test keeps models and ``.avsc`` in step.
"""

from __future__ import annotations

from hub.models.common import IdDocumentType, Party, PartyCategory, Quantity
from hub.models.coordination import (
    ConsultationAnswered,
    ConsultationRequested,
    EarlyInterventionAttended,
    EarlyInterventionInvited,
)
from hub.models.court import CourtJudgment, JudicialRecommendation, Verdict
from hub.models.delivery import DeliveryAcknowledged, DeliveryTargetKind
from hub.models.derived import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertStatus,
    CaseStage,
    CaseState,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    MatchCandidate,
    MatchMethod,
    TimelineEntry,
    UnitMonthlyStats,
)
from hub.models.header import (
    AVRO_NAMESPACE,
    CHINA_TZ,
    STORED_CONTEXT,
    AvroRecord,
    CaseEvent,
    EventEnum,
)
from hub.models.penalty import (
    AgencyCaseOpened,
    EnforcementStatus,
    PenaltyCaseRecorded,
    PenaltyCategory,
    PenaltyProcedure,
)
from hub.models.police import (
    ArrestRequested,
    CaseForwarded,
    FilingDecided,
    FilingDecision,
    NonFilingReasonsExplained,
    ReconsiderationDecided,
    ReconsiderationDecision,
    ReferralReceived,
    TransferredForProsecution,
)
from hub.models.prosecution import (
    LeadDestination,
    LeadTransferred,
    ProsecutorialAction,
    ProsecutorialActionKind,
    ProsecutorialOutcome,
)
from hub.models.referral import (
    AgencyReplied,
    CaseReferred,
    FilingSupervisionRequested,
    MaterialsHandedOver,
    PackageItem,
    PackageItemKind,
    ReconsiderationRequested,
    ReplyOutcome,
)
from hub.models.view import AuditOperation, AuditRecorded, ViewAction, ViewActionKind

__all__ = [
    "AVRO_NAMESPACE",
    "CHINA_TZ",
    "EVENT_TYPES",
    "STORED_CONTEXT",
    "AgencyCaseOpened",
    "AgencyReplied",
    "Alert",
    "AlertKind",
    "AlertSeverity",
    "AlertStatus",
    "ArrestRequested",
    "AuditOperation",
    "AuditRecorded",
    "AvroRecord",
    "CaseEvent",
    "CaseForwarded",
    "CaseReferred",
    "CaseStage",
    "CaseState",
    "ConsultationAnswered",
    "ConsultationRequested",
    "CourtJudgment",
    "DeliveryAcknowledged",
    "DeliveryTargetKind",
    "EarlyInterventionAttended",
    "EarlyInterventionInvited",
    "EnforcementStatus",
    "EventEnum",
    "FeedbackMatchWithdrawn",
    "FeedbackMatched",
    "FeedbackUnmatched",
    "FilingDecided",
    "FilingDecision",
    "FilingSupervisionRequested",
    "IdDocumentType",
    "JudicialRecommendation",
    "LeadDestination",
    "LeadTransferred",
    "MatchCandidate",
    "MatchMethod",
    "MaterialsHandedOver",
    "NonFilingReasonsExplained",
    "PackageItem",
    "PackageItemKind",
    "Party",
    "PartyCategory",
    "PenaltyCaseRecorded",
    "PenaltyCategory",
    "PenaltyProcedure",
    "ProsecutorialAction",
    "ProsecutorialActionKind",
    "ProsecutorialOutcome",
    "Quantity",
    "ReconsiderationDecided",
    "ReconsiderationDecision",
    "ReconsiderationRequested",
    "ReferralReceived",
    "ReplyOutcome",
    "TimelineEntry",
    "TransferredForProsecution",
    "UnitMonthlyStats",
    "Verdict",
    "ViewAction",
    "ViewActionKind",
    "event_type_for",
]

#: Every event model, in lifecycle order (source events first, then derived ones).
_ALL_EVENTS: tuple[type[CaseEvent], ...] = (
    PenaltyCaseRecorded,
    # the agency's open case (立案登记) precedes its penalty in law; listed second so the
    # penalty, the event every agency must enter, stays first in the catalogue
    AgencyCaseOpened,
    CaseReferred,
    ReferralReceived,
    CaseForwarded,
    FilingDecided,
    ReconsiderationRequested,
    ReconsiderationDecided,
    FilingSupervisionRequested,
    MaterialsHandedOver,
    ProsecutorialAction,
    NonFilingReasonsExplained,
    AgencyReplied,
    ArrestRequested,
    TransferredForProsecution,
    CourtJudgment,
    JudicialRecommendation,
    LeadTransferred,
    ConsultationRequested,
    ConsultationAnswered,
    EarlyInterventionInvited,
    EarlyInterventionAttended,
    DeliveryAcknowledged,
    Alert,
    CaseState,
    UnitMonthlyStats,
    FeedbackMatched,
    FeedbackMatchWithdrawn,
    FeedbackUnmatched,
    ViewAction,
    AuditRecorded,
)

#: Full Avro name → model class, for every event type of the contract.
EVENT_TYPES: dict[str, type[CaseEvent]] = {model.avro_name: model for model in _ALL_EVENTS}


def event_type_for(avro_name: str) -> type[CaseEvent]:
    """The model of a full Avro name; ``KeyError`` names the unknown type."""
    try:
        return EVENT_TYPES[avro_name]
    except KeyError:
        raise KeyError(f"no event model for Avro type {avro_name!r}") from None
