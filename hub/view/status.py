"""What operations staff see of the view: progress on the bus and the outbox backlog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from hub.view.schemas import StatusOut
from hub.view.store import ConsumerOffsetRow, DeadLetterRow

if TYPE_CHECKING:
    from hub.view.context import ViewContext

__all__ = ["view_status"]


async def view_status(context: ViewContext) -> StatusOut:
    """Offsets stored with the rows, lag against the topics' ends, pending outbox events."""
    with context.store.session() as session:
        offsets = {
            f"{row.topic}:{row.partition}": row.next_offset
            for row in session.scalars(select(ConsumerOffsetRow))
        }
        dead_letters = {
            str(outcome): int(count)
            for outcome, count in session.execute(
                select(DeadLetterRow.outcome, func.count()).group_by(DeadLetterRow.outcome)
            )
        }
    bus = context.bus
    lag = await bus.lag() if bus is not None and bus.running else {}
    return StatusOut(
        dialect=context.store.dialect,
        consumer_running=bool(bus is not None and bus.running),
        offsets=offsets,
        lag=lag,
        outbox_pending=context.outbox.pending(),
        records_applied=bus.records_applied if bus is not None else 0,
        last_applied_at=bus.last_applied_at if bus is not None else None,
        dead_letters=dead_letters,
    )
