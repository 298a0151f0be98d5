"""Addressees a case's earlier events name once its relations change.

An event names addressees (the units routing sends it to become the case's, so they may
answer) only when its sender stands in a naming relation to the case as it is read. Read
before the referral, a bureau's forward (移送管辖) is taken as ``unaddressed:police``,
which names nobody; when the referral then makes the bureau an addressee, the forward
names its organ here, as it would have had it been read in order
(:func:`~streams.entitlement_logic.name_addressees`). What the change revoked is raised
for review at the evaluation (``CaseEvaluation.review_history``).
"""

from __future__ import annotations

import logging

from hub.models import CaseEvent
from hub.rules import RuleSet
from hub.units import UnitRegistry
from streams.engine.case_document import CaseDocument
from streams.entitlement_logic import name_addressees
from streams.routing_logic import route_event

__all__ = ["LateAddressees"]

log = logging.getLogger(__name__)


class LateAddressees:
    """Naming late addressees (part of :class:`~streams.engine.processors.Processors`)."""

    rules: RuleSet
    units: UnitRegistry
    hub_unit_code: str

    def _relations_moved(self, document: CaseDocument) -> None:
        """The case's relations changed in a way that can revoke what it took (another
        unit took it; its first addressee of a kind an ``unaddressed:`` relation names
        came; or one that may lift a review): the events whose senders now name
        addressees name them at once (:func:`name_addressees`: a forward read before the
        referral), so the rest of the batch and its kept refusals are judged against
        them; what the change revoked is raised at the evaluation (``review_history``)."""
        document.relations_changed = True
        if document.has_history:
            try:
                self.name_late_addressees(document)
            except Exception:  # never the batch's failure: named again at the evaluation
                log.exception("naming the addressees of case %s's earlier events failed",
                              document.case_id)

    def name_late_addressees(self, document: CaseDocument) -> None:
        """Let the case's events whose senders now stand in a naming relation name their
        destinations (:func:`name_addressees`)."""
        if name_addressees(document.events(), document.relations(),
                           rules=self.rules.entitlements, units=self.units,
                           hub_unit_code=self.hub_unit_code,
                           destinations=self._destinations):
            document.changed = True

    def _destinations(self, event: CaseEvent) -> tuple[str, ...]:
        """Where routing sends ``event`` (the units it names, for ``name_addressees``)."""
        return tuple(route_event(event, self.units, self.rules.routing,
                                 self.rules.thresholds).destinations)
