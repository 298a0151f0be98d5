"""What people do in the prosecutor's view, as events: the view holds no state the bus
does not, and every search, view and export of case data leaves an audit trail."""

from __future__ import annotations

from pydantic import Field

from hub.models.header import CaseEvent, EventEnum, UnitCode

__all__ = ["AuditOperation", "AuditRecorded", "ViewAction", "ViewActionKind"]


class ViewActionKind(EventEnum):
    """View action 操作类型: ACKNOWLEDGE_ALERT 知悉预警, RESOLVE_ALERT 解除预警,
    MANUAL_MATCH 人工匹配, REJECT_CANDIDATE 排除候选, ADD_NOTE 添加备注, ASSIGN 指派,
    ISSUE_RECOMMENDATION 发出检察建议, UNKNOWN 未知."""

    ACKNOWLEDGE_ALERT = "ACKNOWLEDGE_ALERT"
    RESOLVE_ALERT = "RESOLVE_ALERT"
    MANUAL_MATCH = "MANUAL_MATCH"
    REJECT_CANDIDATE = "REJECT_CANDIDATE"
    ADD_NOTE = "ADD_NOTE"
    ASSIGN = "ASSIGN"
    ISSUE_RECOMMENDATION = "ISSUE_RECOMMENDATION"
    UNKNOWN = "UNKNOWN"


class ViewAction(CaseEvent):
    """An action taken in the prosecutor's view 平台操作 (topic lf.view-actions)."""

    action_id: str = Field(description="Action id 操作编号 (UUID), idempotency key.")
    actor: str = Field(description="Actor 操作人 (user id in the view).")
    actor_unit_code: UnitCode = Field(description="Actor's unit 操作人单位统一社会信用代码.")
    action_kind: ViewActionKind = Field(
        default=ViewActionKind.UNKNOWN, description="Action kind 操作类型."
    )
    target: str = Field(
        description="Target 操作对象 (alert id, case id or feedback event id, per kind)."
    )
    payload: dict[str, str] = Field(
        default_factory=dict, description="Payload 操作内容 (kind-specific key/value pairs)."
    )


class AuditOperation(EventEnum):
    """Audited operation 审计操作: SEARCH 查询, VIEW 查看, EXPORT 导出, LOGIN 登录,
    LOGIN_FAILED 登录失败, WRITE_REFUSED 拒绝写入 (an event a unit was not entitled to add to a
    case), LOGOUT 退出登录, ACTION 平台操作 (a view action), ADMIN_CHANGE 管理变更 (ACLs,
    credentials, topics or users changed by an operator), WRITE_ADMITTED 准予写入 (an event
    refused before, admitted to its case once its unit was entitled), UNKNOWN 未知."""

    SEARCH = "SEARCH"
    VIEW = "VIEW"
    EXPORT = "EXPORT"
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    WRITE_REFUSED = "WRITE_REFUSED"
    LOGOUT = "LOGOUT"
    ACTION = "ACTION"
    ADMIN_CHANGE = "ADMIN_CHANGE"
    WRITE_ADMITTED = "WRITE_ADMITTED"
    UNKNOWN = "UNKNOWN"


class AuditRecorded(CaseEvent):
    """Someone searched, viewed or exported case data 审计记录 (topic lf.audit).

    ``case_id`` is the case viewed, or ``case_id_for(actor_unit_code, "audit:" + actor)``
    when the operation concerns no single case. Writers leave the ``chain_*`` fields empty
    and produce to ``lf.audit-intake``; the audit sealer (``hub.audit.sealer``) fills them
    and appends the record to ``lf.audit``, where ``liangfa audit verify`` checks them.
    """

    actor: str = Field(description="Actor 操作人 (user id).")
    actor_unit_code: UnitCode = Field(description="Actor's unit 操作人单位统一社会信用代码.")
    operation: AuditOperation = Field(
        default=AuditOperation.UNKNOWN, description="Operation 审计操作."
    )
    target: str = Field(description="Target 操作对象 (case id, report name, search scope).")
    query: str | None = Field(default=None, description="Search query 查询条件, for a search.")
    result_count: int | None = Field(
        default=None, ge=0, description="Result count 结果数量 (rows found or exported)."
    )
    client_address: str | None = Field(
        default=None, description="Client address 客户端地址 (IP) of the request."
    )
    chain_sequence: int | None = Field(
        default=None, ge=0,
        description="Chain sequence 链序号: position of the record in its lf.audit partition's "
        "hash chain (0, 1, 2, …); set by the audit sealer, empty on the intake topic.",
    )
    chain_previous_hash: str | None = Field(
        default=None,
        description="Previous hash 前一记录哈希: chain_hash of the record before this one in "
        "the same lf.audit partition (64 zeros for the first); set by the audit sealer.",
    )
    chain_hash: str | None = Field(
        default=None,
        description="Record hash 本记录哈希: SHA-256 (hex) over the canonical encoding of "
        "this record's other fields and its partition (hub.audit.chain); set by the audit "
        "sealer.",
    )
