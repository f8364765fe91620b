"""``GET /v1/workspaces/{ws}/audit`` (a page of the log) and ``…/audit/verify`` (the chain checked).

Both need ``admin`` in the workspace (the engine decides, like every
permission). Listing is keyset-paged by ``seq``: pass a page's
``next_after`` as ``?after=`` for the next one; filters (``agent``,
``operation``, ``node``) narrow a page, never reorder it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from treeframe.api.deps import Bound
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.engine.audit import Operation
from treeframe.storage.base import AuditEntry
from treeframe.wire.audit import AuditEntryModel, AuditPage, AuditProblemModel, AuditVerification

__all__ = ["router"]

router = APIRouter(prefix="/v1/workspaces/{ws}/audit", tags=["audit"], responses=ERROR_RESPONSES)

MAX_PAGE = 1000


def entry_model(entry: AuditEntry) -> AuditEntryModel:
    """The wire form of one stored entry."""
    return AuditEntryModel(
        seq=entry.seq,
        time=entry.time,
        workspace=entry.workspace,
        agent=entry.agent,
        operation=entry.operation,
        node=entry.node,
        frame=entry.frame,
        success=entry.success,
        error=entry.error,
        request_id=entry.request_id,
        prev_hash=entry.prev_hash,
        entry_hash=entry.entry_hash,
    )


@router.get("", summary="A page of the workspace's audit log (admin)")
def list_audit(
    bound: Bound,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Entries after this seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Most entries.")] = 100,
    agent: Annotated[str | None, Query(max_length=256, description="Only this agent.")] = None,
    operation: Annotated[Operation | None, Query(description="Only this operation.")] = None,
    node: Annotated[
        str | None, Query(pattern="^[0-9a-f]{64}$", description="Only this NodeID.")
    ] = None,
) -> AuditPage:
    """Entries by ascending seq after ``after``; ``next_after`` is null on the last page."""
    found = bound.api.audit_log(
        principal=bound.principal,
        after=after,
        limit=min(limit + 1, MAX_PAGE + 1),
        agent=agent,
        operation=None if operation is None else str(operation),
        node=node,
    )
    page = found[:limit]
    more = len(found) > limit
    return AuditPage(
        entries=[entry_model(e) for e in page], next_after=page[-1].seq if more else None
    )


@router.get("/verify", summary="Recompute the workspace's audit chain (admin)")
def verify_audit(
    bound: Bound,
    head: Annotated[
        str | None,
        Query(
            pattern="^[1-9][0-9]*:[0-9a-f]{64}$",
            description="A head kept from X-Audit-Head (<seq>:<hash>): also detects truncation.",
        ),
    ] = None,
) -> AuditVerification:
    """``ok`` true when every entry's hash and link verify (and ``head`` is still in the chain)."""
    report = bound.api.verify_audit(principal=bound.principal, head=head)
    problem = report.problem
    return AuditVerification(
        ok=report.ok,
        entries=report.entries,
        head=report.head,
        problem=None
        if problem is None
        else AuditProblemModel(seq=problem.seq, kind=problem.kind, message=problem.message),
    )
