"""The case processors bound to batches: normalize, route, clocks, screening, aggregate.

A batch is folded in memory: each record is decoded once (a poison record goes to
``lf.dlq.streams`` through :class:`streams.safety.Guard`), each case's state document
(:mod:`streams.engine.case_document`) is read once, changed by every record of the case in
offset order, evaluated once (deadline clocks, screening, CaseState) and staged for
writing once. Outputs are queued on the producer without waiting; the worker awaits them
all, then the state changelog, then commits (see :mod:`streams.engine.worker`). Matching
(:mod:`streams.engine.matching`) and statistics (:mod:`streams.engine.statistics`) are
processors of their own, called from here and from the worker.

One class for the worker, its steps in modules of their own: a record's first step
(:mod:`streams.engine.intake`), each record on its case
(:mod:`streams.engine.case_records`), each case once per batch
(:mod:`streams.engine.evaluation`), the timed work between batches
(:mod:`streams.engine.sweeps`), and the documents they share
(:mod:`streams.engine.document_store`). What binds them, the stores, indexes and
processors of one worker, is set up here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from hub.models import CaseEvent
from hub.registry import SchemaRegistryClient
from hub.rules import RuleSet
from hub.serde import AvroSerde
from hub.units import UnitRegistry
from streams.engine.case_document import MAX_DOCUMENT_BYTES, CaseDocument
from streams.engine.case_records import AWAIT_CASE_S
from streams.engine.document_store import CASE_PROCESSORS
from streams.engine.global_index import GlobalIndex
from streams.engine.intake import Intake
from streams.engine.matching import MatchingProcessor, Rekeyed
from streams.engine.outputs import Outputs
from streams.engine.state import PartitionStore
from streams.engine.statistics import StatisticsProcessor
from streams.engine.sweeps import Sweeps
from streams.engine.timers import DUE_KEYS, HELD_KEYS, DueIndex, DueScan
from streams.engine.tuning import EngineTuning
from streams.safety import Guard
from streams.screening_assessment import ScreeningRules
from streams.topics import TopicNames

__all__ = ["Processors"]


class Processors(Intake, Sweeps):
    """The case processors over the partition stores this worker owns, with matching and
    statistics beside them."""

    def __init__(self, *, topics: TopicNames, rules: RuleSet, units: UnitRegistry,
                 hub_unit_code: str, registry: SchemaRegistryClient, serde: AvroSerde,
                 outputs: Outputs, index: GlobalIndex,
                 max_document_bytes: int = MAX_DOCUMENT_BYTES,
                 await_case_s: float = AWAIT_CASE_S,
                 recheck_refused_s: float = EngineTuning.recheck_refused_s) -> None:
        self.topics = topics
        #: How long an event waits for a case the hub knows nothing of (``AWAIT_CASE_S``).
        self.await_case_s = await_case_s
        self.recheck_refused_s = recheck_refused_s
        self.judging_time: Callable[[], datetime] = lambda: datetime.now(UTC)
        #: Largest case document written (see :meth:`stage_document`).
        self.max_document_bytes = max_document_bytes
        self.rules = rules
        self.units = units
        self.hub_unit_code = hub_unit_code
        self.registry = registry
        self.serde = serde
        self.outputs = outputs
        self.index = index
        self.screening_rules = ScreeningRules(
            thresholds=rules.thresholds, violation_types=rules.violation_types,
            violation_offences=rules.violation_offences, screening=rules.screening)
        self.case_stores: dict[int, PartitionStore] = {}
        self.due = DueIndex(DUE_KEYS, self.case_stores)
        #: Held feedback (see :data:`MATCH_GRACE_S`) and events waiting for what would
        #: entitle them to their case (``CaseEntitlement.entitled``) by partition and case.
        self.held = DueIndex(HELD_KEYS, self.case_stores)
        self.matching = MatchingProcessor(topics=topics, hub_unit_code=hub_unit_code,
                                          serde=serde, outputs=outputs, index=index,
                                          held=self.held)
        self.statistics = StatisticsProcessor(
            topics=topics, hub_unit_code=hub_unit_code, outputs=outputs, decode=self.decode,
            dead_letter=lambda record, exc: self.guards["stats"].dead_letter(record, exc))
        self.guards = {name: Guard(name, topics.dead_letters, outputs.send)
                       for name in ("normalize", "entitlement", "routing", "matching",
                                    "deadlines",
                                    "screening", "aggregate", "stats", CASE_PROCESSORS)}
        self.procuratorate_inbox = topics.inbox(hub_unit_code)
        #: Partitions of ``lf.case-events`` (set by the worker from the broker's metadata;
        #: empty until then, which sends every event the two-hop way).
        self.case_partitions: list[int] = []
        self.rekeyed: list[Rekeyed] = []
        #: Due-time scans of freshly assigned partitions (see :meth:`index_due_times`).
        self._due_scans: dict[int, DueScan] = {}
        #: Kept refusals of freshly assigned partitions (see :meth:`recheck_assigned`).
        self._refusal_scans = {}
        #: Documents of recently finished cases (see :meth:`keep_document`).
        self._documents: dict[tuple[int, str], CaseDocument] = {}
        #: Recently decoded record values (see :meth:`decode`), oldest first.
        self._decoded: dict[bytes, CaseEvent] = {}
        outputs.decoded = self._decoded


    def forget_partition(self, partition: int) -> None:
        """Drop the kept documents and the scans of a partition this worker no longer
        owns (before its store closes: the scans read the store)."""
        self._due_scans.pop(partition, None)
        self._refusal_scans.pop(partition, None)
        for key in [key for key in self._documents if key[0] == partition]:
            del self._documents[key]
