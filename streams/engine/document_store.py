"""Case documents between a partition's store and a batch: read once, kept, staged to write.

A case is read once per batch and written once, whatever number of its records the batch
holds; the document of a case finished a moment ago is usually wanted again a batch or
two later, so it stays in memory instead of being decoded from the store once more.

A case document that stays over the size limit after trimming is not written: the
records that changed it go to ``lf.dlq.streams`` and the batch completes
(``liangfa_streams_state_dropped_total``).
"""

from __future__ import annotations

import itertools
import logging

from hub.errors import RecordRejected
from streams.engine.batch import Batch
from streams.engine.case_document import CaseDocument
from streams.engine.state import PartitionStore, decode_value
from streams.metrics import STATE_DROPPED
from streams.safety import Guard

__all__ = ["CASE_PROCESSORS", "DocumentStore"]

log = logging.getLogger(__name__)

CASE_PROCESSORS = "case-processors"
#: Case documents kept in memory between batches (see ``Processors.keep_document``).
_DOCUMENT_CACHE = 1024


class DocumentStore:
    """The case documents of the partitions this worker owns (part of
    :class:`~streams.engine.processors.Processors`)."""

    case_stores: dict[int, PartitionStore]
    max_document_bytes: int
    guards: dict[str, Guard]
    _documents: dict[tuple[int, str], CaseDocument]

    def document(self, batch: Batch, partition: int, case_id: str) -> CaseDocument:
        """The case's document, read once per batch: from memory when a recent batch
        left it there (see :meth:`keep_document`), else from the store."""
        key = (partition, case_id)
        found = batch.documents.get(key)
        if found is None:
            found = self._documents.pop(key, None)
            if found is not None:
                found.begin_batch()
            else:
                store = self.case_stores[partition]
                stored = store.get(b"c|" + case_id.encode("utf-8"))
                found = CaseDocument(partition, case_id,
                                     decode_value(stored) if stored is not None else None)
            batch.documents[key] = found
        return found

    def keep_document(self, document: CaseDocument) -> None:
        """Keep a finished document (equal to what the store holds or has staged) in memory.

        A case is usually touched again a batch or two later (its alerts and feedback
        come back through ``lf.case-events`` and ``lf.alerts``): reusing the document
        skips decoding its JSON, its stored events (pydantic validation) and its
        aggregate. Bounded (least recently used dropped); a partition's documents are
        forgotten when it moves away (:meth:`forget_partition`); a failed batch ends the
        process, so a kept document never holds state the store did not take.
        """
        documents = self._documents
        documents[(document.partition, document.case_id)] = document
        if len(documents) > _DOCUMENT_CACHE:
            for key in list(itertools.islice(documents, _DOCUMENT_CACHE // 8)):
                del documents[key]

    async def stage_document(self, document: CaseDocument) -> bool:
        """Stage the document for writing if it fits; else dead-letter what changed it.

        A changelog record over the producer's request limit would fail the batch on
        every restart. An oversized document is shrunk (:meth:`CaseDocument.shrink`);
        if it still does not fit, the store keeps the case's previous document and every
        record that touched the case in this batch goes to ``lf.dlq.streams``
        (``state-too-large``), so nothing is lost silently and the batch completes.
        """
        limit = self.max_document_bytes
        encoded = document.encoded()
        if len(encoded) > limit:
            log.warning("case %s: state document of %d bytes over the %d-byte limit; "
                        "trimming its history", document.case_id, len(encoded), limit)
            shrunk = document.shrink(limit)
            if shrunk is None:
                await self._reject_document(document, len(encoded))
                return False
            encoded = shrunk
        self.case_stores[document.partition].put(document.key, encoded)
        return True

    async def _reject_document(self, document: CaseDocument, size: int) -> None:
        STATE_DROPPED.labels("document-too-large").inc()
        # The document in memory holds what was not written: drop it, the next batch
        # reads the case's last written document from the store.
        self._documents.pop((document.partition, document.case_id), None)
        error = RecordRejected(
            f"the state document of case {document.case_id} ({size} bytes) stays over "
            f"the {self.max_document_bytes}-byte limit after trimming; the case keeps its "
            "previous state and this record is not part of it",
            field="case_id", value=document.case_id, error_type="state-too-large")
        if not document.records:
            log.error("%s (no record to dead-letter: a deadline sweep or held feedback)",
                      error.reason)
        for record in document.records:
            await self.guards[CASE_PROCESSORS].dead_letter(record, error)
