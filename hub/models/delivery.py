"""What a unit's own case system said when the hub delivered an inbox event into it.

A unit's sink connector (``connectors/sinks``) pushes every event routed to
``lf.inbox.<unit>`` into the unit's system (an HTTP endpoint, a file drop, a table). When
that system acknowledges (HTTP 2xx, the file renamed into place, the transaction
committed), the sink records a :class:`DeliveryAcknowledged` on the case: the prosecutor
sees that the referral or request reached the unit's desk without phoning to ask. For a
police unit whose system answers with a receipt number, it carries that number: the 回执.
"""

from __future__ import annotations

from pydantic import Field

from hub.models.header import CaseEvent, EventEnum

__all__ = ["DeliveryAcknowledged", "DeliveryTargetKind"]


class DeliveryTargetKind(EventEnum):
    """Target kind 送达方式: HTTP 接口推送, FILE 文件投递, SQL 数据库写入, UNKNOWN 未知."""

    HTTP = "HTTP"
    FILE = "FILE"
    SQL = "SQL"
    UNKNOWN = "UNKNOWN"


class DeliveryAcknowledged(CaseEvent):
    """The unit's own case system acknowledged an inbox event delivered into it 送达回执."""

    delivered_event_id: str = Field(
        description="Event id 事件编号 of the inbox event delivered (the idempotency key the "
        "target saw).")
    delivered_event_type: str = Field(
        description="Full Avro name 事件类型 of the delivered event.")
    target_kind: DeliveryTargetKind = Field(
        default=DeliveryTargetKind.UNKNOWN,
        description="How it was delivered 送达方式 (HTTP push, file drop, SQL table).")
    target: str = Field(
        description="Where it landed 送达位置: the endpoint URL, the file name or the table.")
    acknowledgement: str = Field(
        description="What the target answered 接收确认 (HTTP status, file renamed, "
        "transaction committed).")
    receipt_number: str | None = Field(
        default=None,
        description="The unit system's own receipt or registration number 回执编号, when it "
        "returns one.")
