"""``/v1/workspaces/{ws}/push/...``: a client's tree into a workspace by Merkle negotiation.

Thin: each route hands its body to :class:`~treeframe.engine.push.PushReceiver`
with the caller's principal (``write`` needed) and turns the result into the
wire model. Routes are plain ``def`` so the store's blocking calls run in the
worker thread pool, not on the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter

from treeframe.api.deps import Bound, BoundWorkspace
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.engine.push import PushReceiver
from treeframe.wire.push import (
    CommitRequest,
    CommitResponse,
    NegotiateRequest,
    NegotiateResponse,
    RecordsRequest,
    RecordsResponse,
)

__all__ = ["receiver", "router"]

router = APIRouter(prefix="/v1/workspaces/{ws}/push", tags=["push"], responses=ERROR_RESPONSES)


def receiver(bound: BoundWorkspace) -> PushReceiver:
    """The push receiver of the bound workspace, under the operator's batch limit."""
    api = bound.api
    return PushReceiver(api.store, api.ws, max_batch=api.limits.max_batch, clock=api.runtime.clock)


@router.post("/negotiate", summary="Which of these NodeIDs does the workspace lack?")
def negotiate(body: NegotiateRequest, bound: Bound) -> NegotiateResponse:
    """Answers which offered NodeIDs are not stored (a stored directory has its whole subtree)."""
    result = receiver(bound).negotiate(body.root, body.node_ids, principal=bound.principal)
    return NegotiateResponse(
        current_root=result.current_root,
        root_present=result.root_present,
        missing=list(result.missing),
        offered=result.offered,
        max_batch=result.max_batch,
    )


@router.post("/records", summary="Store a batch of verified node records")
def records(body: RecordsRequest, bound: Bound) -> RecordsResponse:
    """Verifies every record (NodeID recomputed, children present) and stores the batch whole."""
    result = receiver(bound).receive(body.records, principal=bound.principal)
    return RecordsResponse(
        received=result.received, stored=result.stored, already_present=result.already_present
    )


@router.post("/commit", summary="Move the workspace root to the pushed tree (compare-and-set)")
def commit(body: CommitRequest, bound: Bound) -> CommitResponse:
    """Moves the root if it is still ``expected_root``; 409 ``concurrent_update`` otherwise."""
    result = receiver(bound).commit(body.root, body.expected_root, principal=bound.principal)
    return CommitResponse(
        root=result.root,
        previous_root=result.previous_root,
        changed=result.changed,
        seq=result.entry.seq,
        created_at=result.entry.created_at,
        paths_changed=result.paths_changed,
    )
