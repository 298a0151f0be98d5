"""Stored events read back tolerantly: a case document outlives the models it was written with.

A case document keeps its legal history as stored events for months or years, across
releases of the hub. An event written by an earlier version (or damaged on disk) that no
longer validates must cost a warning and a metric, never every batch of its case; both
the document's history and the matcher's copies read stored events through here.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from hub.models import CaseEvent
from streams._events import decode_stored
from streams.metrics import STATE_DROPPED

__all__ = ["decode_tolerant"]

log = logging.getLogger(__name__)


def decode_tolerant(items: list[list[Any]], case_id: str
                    ) -> tuple[list[CaseEvent], list[list[Any]]]:
    """Stored events back as models, skipping any that no longer validate.

    Returns the models and the stored items that produced them (the readable ones, in
    order). A skipped item is logged (its id and type) and counted; it was written by an
    earlier version or damaged, and failing on it would fail every batch of the case.
    """
    try:
        return decode_stored(items), items
    except (ValidationError, KeyError, ValueError, TypeError):
        pass
    events: list[CaseEvent] = []
    kept: list[list[Any]] = []
    for item in items:
        try:
            [event] = decode_stored([item])
        except (ValidationError, KeyError, ValueError, TypeError) as exc:
            STATE_DROPPED.labels("unreadable-event").inc()
            described = item[:2] if isinstance(item, list) else type(item).__name__
            log.warning("case %s: stored event %s no longer validates, skipped: %s",
                        case_id, described, str(exc).splitlines()[0] if str(exc) else exc)
            continue
        events.append(event)
        kept.append(item)
    return events, kept
