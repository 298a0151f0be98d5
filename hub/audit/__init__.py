"""The tamper-evident audit log: ``lf.audit`` hash-chained per partition.

Writers (the view, the stream workers, the CLI) produce plain ``AuditRecorded`` records
to ``lf.audit-intake``; the sealer (:mod:`hub.audit.sealer`), the only writer of
``lf.audit``, gives each record its place in its partition's chain and appends it;
``liangfa audit verify`` (:mod:`hub.audit.verify`) reads ``lf.audit`` back and names every
record that was altered, removed, inserted or moved (docs/security.md, "Audit log").
"""

from hub.audit.chain import (
    AUDIT_TOPIC,
    GENESIS_HASH,
    INTAKE_TOPIC,
    canonical_bytes,
    record_hash,
    seal,
)

__all__ = [
    "AUDIT_TOPIC",
    "GENESIS_HASH",
    "INTAKE_TOPIC",
    "canonical_bytes",
    "record_hash",
    "seal",
]
