"""What one batch touched, handed from the worker's loop to the processors and back."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.engine.case_document import CaseDocument

__all__ = ["Batch"]


@dataclass
class Batch:
    """What one batch touched: case documents, stats keys, normalize's seen ids."""

    documents: dict[tuple[int, str], CaseDocument] = field(default_factory=dict)
    stats_changed: set[tuple[str, str]] = field(default_factory=set)
    stats_offset: int | None = None
