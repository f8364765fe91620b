"""Node routes: a node's view, record, children, heads, Merkle proofs, and views in batches.

Routes are thin: each authorizes through the ContextAPI (the principal from
:data:`~treeframe.api.deps.Bound`), calls it, and converts the answer with
:mod:`treeframe.api.convert`. A node is named by NodeID (or, for
``by-path``, by path in the current root). The view of a node depends on the
current state, so it is ``no-cache``; the ``node/1`` record behind a NodeID
never changes, so ``…/record`` is cached forever under its strong ETag.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response

from treeframe.api.caching import NO_CACHE, immutable_headers, matches, not_modified
from treeframe.api.convert import node_record, node_view
from treeframe.api.deps import Bound
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.config.settings import Settings
from treeframe.engine.principal import Permission, authorize
from treeframe.errors import InvalidRequest, NodeNotFound
from treeframe.frames import merkle_set
from treeframe.frames.views import ViewPolicy
from treeframe.ids import FrameId, NodeId, parse_hex_id
from treeframe.wire.nodes import (
    ChildEntry,
    Children,
    Heads,
    NodeBatch,
    NodeBatchRequest,
    NodeRecordResponse,
    NodeView,
    Proof,
    ProofStep,
    ViewSpec,
)

__all__ = ["MAX_CHILDREN_PAGE", "router", "view_policy"]

MAX_CHILDREN_PAGE = 1000

router = APIRouter(prefix="/v1/workspaces/{ws}/nodes", tags=["nodes"], responses=ERROR_RESPONSES)

MaxFrames = Annotated[
    int | None, Query(ge=1, description="Most frames (default: server view.default_max_frames).")
]
OrderingQ = Annotated[
    Literal["recency", "type", "agent"] | None,
    Query(description="recency | type | agent (default: server view.default_ordering)."),
]
TypesQ = Annotated[list[str], Query(alias="type", description="Only frames of this type; repeat.")]
AgentsQ = Annotated[
    list[str], Query(alias="agent", description="Only frames by this agent; repeat.")
]
PriorityQ = Annotated[
    list[str], Query(description="Types (ordering type) or agents (ordering agent) ranked first.")
]
MaxBytes = Annotated[int | None, Query(ge=0, description="Budget for the returned content.")]
Previous = Annotated[
    bool, Query(description="Also the head frames of the path's previous NodeIDs (always stale).")
]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def view_policy(spec: ViewSpec, settings: Settings) -> ViewPolicy:
    """The library's ViewPolicy for ``spec``, defaults and ranking as ``treeframe get`` has them."""
    chosen = spec.ordering or settings.view.default_ordering
    ranked = tuple(spec.priority)
    return ViewPolicy(
        max_frames=spec.max_frames
        if spec.max_frames is not None
        else settings.view.default_max_frames,
        ordering=chosen,
        types=tuple(spec.types),
        agents=tuple(spec.agents),
        type_priority=ranked if chosen == "type" else tuple(spec.types),
        agent_priority=ranked if chosen == "agent" else tuple(spec.agents),
        max_bytes=spec.max_bytes,
    )


def _view(
    bound: Bound,
    request: Request,
    response: Response,
    ref: str,
    spec: ViewSpec,
) -> NodeView:
    policy = view_policy(spec, _settings(request))
    context = bound.api.get_node(
        ref, policy, include_previous=spec.include_previous, principal=bound.principal
    )
    response.headers["Cache-Control"] = NO_CACHE
    return node_view(context, policy)


@router.get("/by-path", summary="A node's view by path in the current root")
def get_node_by_path(
    bound: Bound,
    request: Request,
    response: Response,
    path: Annotated[str, Query(description="Workspace-relative path ('' or '.' for the root).")],
    max_frames: MaxFrames = None,
    ordering: OrderingQ = None,
    types: TypesQ = [],  # noqa: B006 (FastAPI copies query defaults)
    agents: AgentsQ = [],  # noqa: B006
    priority: PriorityQ = [],  # noqa: B006
    max_bytes: MaxBytes = None,
    include_previous: Previous = False,
) -> NodeView:
    """The record at ``path`` and a bounded view of its frames, each with ``stale``."""
    spec = ViewSpec(
        max_frames=max_frames,
        ordering=ordering,
        types=types,
        agents=agents,
        priority=priority,
        max_bytes=max_bytes,
        include_previous=include_previous,
    )
    return _view(bound, request, response, path, spec)


@router.post("/batch", summary="Views of many nodes in one call")
def get_nodes_batch(bound: Bound, request: Request, body: NodeBatchRequest) -> NodeBatch:
    """One view for every node (NodeIDs or paths), keyed as sent; the engine caps the batch size."""
    if body.view.include_previous:
        raise InvalidRequest("include_previous is not available in a batch; use GET nodes/by-path")
    policy = view_policy(body.view, _settings(request))
    contexts = bound.api.get_nodes_batch(body.node_ids, policy, principal=bound.principal)
    return NodeBatch(
        nodes={
            ref: node_view(ctx, policy) for ref, ctx in zip(body.node_ids, contexts, strict=True)
        }
    )


@router.get("/{node_id}", summary="A node's view: record, frames with stale, frame count")
def get_node(
    bound: Bound,
    request: Request,
    response: Response,
    node_id: str,
    max_frames: MaxFrames = None,
    ordering: OrderingQ = None,
    types: TypesQ = [],  # noqa: B006
    agents: AgentsQ = [],  # noqa: B006
    priority: PriorityQ = [],  # noqa: B006
    max_bytes: MaxBytes = None,
    include_previous: Previous = False,
) -> NodeView:
    """The node's record and a bounded, deterministic view of its frames (current state)."""
    spec = ViewSpec(
        max_frames=max_frames,
        ordering=ordering,
        types=types,
        agents=agents,
        priority=priority,
        max_bytes=max_bytes,
        include_previous=include_previous,
    )
    parse_hex_id(node_id, "NodeID")
    return _view(bound, request, response, node_id, spec)


@router.get(
    "/{node_id}/record",
    summary="The node/1 record (immutable, strong ETag)",
    response_model=NodeRecordResponse,
    responses={304: {"description": "Not modified: If-None-Match named this record."}},
)
def get_node_record(
    bound: Bound,
    node_id: str,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The record a NodeID names; it never changes, so 304 answers a matching If-None-Match."""
    nid = NodeId(parse_hex_id(node_id, "NodeID"))
    authorize(bound.principal, Permission.READ)
    record = bound.api.store.get_node(bound.api.ws, nid)
    if record is None:
        raise NodeNotFound(f"no node {node_id} in this workspace")
    if matches(if_none_match, record.node_id):
        return not_modified(record.node_id)
    body = NodeRecordResponse.model_validate(node_record(record).model_dump(by_alias=True))
    return Response(
        body.model_dump_json(by_alias=True),
        media_type="application/json",
        headers=immutable_headers(record.node_id),
    )


@router.get("/{node_id}/children", summary="A directory's children, keyset paged by name")
def get_children(
    bound: Bound,
    response: Response,
    node_id: str,
    after: Annotated[str | None, Query(description="Name after which the page starts.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CHILDREN_PAGE)] = 100,
) -> Children:
    """Children in UTF-8 name order with kind, NodeID and frame count; ``next_after`` pages on."""
    parse_hex_id(node_id, "NodeID")
    record = bound.api.resolve(node_id, principal=bound.principal)
    names = record.children
    if after is not None:
        key = after.encode("utf-8")
        names = tuple(entry for entry in names if entry[0].encode("utf-8") > key)
    page, more = names[:limit], len(names) > limit
    ids = [child for _, child in page]
    store, ws = bound.api.store, bound.api.ws
    found = store.get_nodes(ws, ids)
    sets = store.get_frame_sets(ws, ids)
    entries = [
        ChildEntry(
            name=found[i].name,
            path=found[i].path,
            kind=found[i].kind,
            node_id=i,
            frame_count=sets[i].count if i in sets else 0,
        )
        for i in ids
        if i in found
    ]
    response.headers["Cache-Control"] = NO_CACHE
    return Children(
        node_id=record.node_id,
        path=record.path,
        kind=record.kind,
        entries=entries,
        next_after=page[-1][0] if more and page else None,
    )


@router.get("/{node_id}/heads", summary="The current frame of each type, and the frame set")
def get_heads(bound: Bound, response: Response, node_id: str) -> Heads:
    """Heads by frame type plus the frame-set root and count (``treeframe node``/``heads``)."""
    parse_hex_id(node_id, "NodeID")
    record = bound.api.resolve(node_id, principal=bound.principal)
    heads = bound.api.heads(record.node_id, principal=bound.principal)
    store, ws = bound.api.store, bound.api.ws
    state = store.get_frame_set(ws, record.node_id)
    response.headers["Cache-Control"] = NO_CACHE
    return Heads(
        node_id=record.node_id,
        path=record.path,
        heads=dict(heads),
        frame_count=state.count if state else 0,
        frame_set_root=state.root if state else None,
        current=store.lookup_path(ws, record.path) == record.node_id,
    )


@router.get("/{node_id}/proof/{frame_id}", summary="Merkle proof of a frame in the node's set")
def get_proof(bound: Bound, response: Response, node_id: str, frame_id: str) -> Proof:
    """Membership proof against the stored set root (``treeframe proof --json``)."""
    parse_hex_id(node_id, "NodeID")
    fid = FrameId(parse_hex_id(frame_id, "FrameID"))
    record = bound.api.resolve(node_id, principal=bound.principal)
    store, ws = bound.api.store, bound.api.ws
    state = store.get_frame_set(ws, record.node_id)
    membership = merkle_set.prove(store.node_frame_ids(ws, record.node_id), fid)
    root = state.root if state else merkle_set.EMPTY_ROOT
    response.headers["Cache-Control"] = NO_CACHE
    return Proof(
        node_id=record.node_id,
        root=root,
        valid=merkle_set.verify(membership, root),
        frame_id=membership.frame_id,
        steps=[ProofStep(side=s.side, digest=s.digest) for s in membership.steps],
    )
