"""The routes of API v1 as functions returning a :class:`~treeframe.client.call.Call`.

One function per route; ``Client`` and ``AsyncClient`` turn each into a
method of the same name and signature (:mod:`treeframe.client.client`), so a
route is described once. Workspace routes take the workspace ID first; a
node is named by NodeID (or, where the route says so, by path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from treeframe.client.call import Call, body, model, raw, segment
from treeframe.wire.common import Live, Ready
from treeframe.wire.frames import (
    FrameBatchRequest,
    FrameBatchResult,
    FrameResource,
    FrameSpec,
    PutFrameRequest,
    PutFrameResult,
)
from treeframe.wire.nodes import (
    Children,
    Heads,
    NodeBatch,
    NodeBatchRequest,
    NodeRecordResponse,
    NodeView,
    Proof,
    ViewSpec,
)
from treeframe.wire.operations import (
    ComposeRequest,
    Composition,
    RegenerateRequest,
    Regeneration,
    Roots,
    StaleReport,
    Synthesis,
    SynthesizeRequest,
)

__all__ = [
    "compose",
    "get_children",
    "get_frame",
    "get_frame_content",
    "get_heads",
    "get_node",
    "get_node_by_path",
    "get_node_record",
    "get_nodes_batch",
    "get_proof",
    "health_live",
    "health_ready",
    "put_frame",
    "put_frames_batch",
    "regenerate",
    "roots",
    "stale",
    "synthesize",
]


def _ws(ws: str, *rest: str) -> str:
    return "/v1/workspaces/" + "/".join(segment(part) for part in (ws, *rest))


def _view_params(view: ViewSpec | None) -> dict[str, Any]:
    """A view as the query of the GET node routes (lists as repeated parameters)."""
    if view is None:
        return {}
    params: dict[str, Any] = {
        "max_frames": view.max_frames,
        "ordering": view.ordering,
        "max_bytes": view.max_bytes,
        "include_previous": "true" if view.include_previous else None,
    }
    for name in ("types", "agents", "priority"):
        values = getattr(view, name)
        if values:
            params[name] = list(values)
    return params


# -- health --------------------------------------------------------------------
def health_live() -> Call[Live]:
    """``GET /v1/health/live``: the server process answers."""
    return Call("GET", "/v1/health/live", model(Live))


def health_ready() -> Call[Ready]:
    """``GET /v1/health/ready``: the server did a real store round trip (503 otherwise)."""
    return Call("GET", "/v1/health/ready", model(Ready))


# -- nodes ---------------------------------------------------------------------
def get_node(ws: str, node_id: str, *, view: ViewSpec | None = None) -> Call[NodeView]:
    """``GET …/nodes/{node_id}``: the record and a bounded view of its frames, each with ``stale``."""
    return Call("GET", _ws(ws, "nodes", node_id), model(NodeView), params=_view_params(view))


def get_node_by_path(ws: str, path: str, *, view: ViewSpec | None = None) -> Call[NodeView]:
    """``GET …/nodes/by-path?path=``: :func:`get_node` for a path in the current root."""
    params = {"path": path, **_view_params(view)}
    return Call("GET", _ws(ws, "nodes", "by-path"), model(NodeView), params=params)


def get_node_record(ws: str, node_id: str) -> Call[NodeRecordResponse]:
    """``GET …/nodes/{node_id}/record``: the immutable ``node/1`` record."""
    return Call("GET", _ws(ws, "nodes", node_id, "record"), model(NodeRecordResponse))


def get_nodes_batch(
    ws: str, node_ids: Sequence[str], *, view: ViewSpec | None = None
) -> Call[NodeBatch]:
    """``POST …/nodes/batch``: views of many nodes (IDs or paths) in one call, keyed as sent."""
    request = NodeBatchRequest(node_ids=list(node_ids), view=view or ViewSpec())
    return Call(
        "POST", _ws(ws, "nodes", "batch"), model(NodeBatch), json=body(request), idempotent=True
    )


def get_children(
    ws: str, node_id: str, *, after: str | None = None, limit: int = 100
) -> Call[Children]:
    """``GET …/nodes/{node_id}/children``: a page of a directory's children (``next_after`` pages on)."""
    params = {"after": after, "limit": limit}
    return Call("GET", _ws(ws, "nodes", node_id, "children"), model(Children), params=params)


def get_heads(ws: str, node_id: str) -> Call[Heads]:
    """``GET …/nodes/{node_id}/heads``: the current frame of each type and the frame set."""
    return Call("GET", _ws(ws, "nodes", node_id, "heads"), model(Heads))


def get_proof(ws: str, node_id: str, frame_id: str) -> Call[Proof]:
    """``GET …/nodes/{node_id}/proof/{frame_id}``: a Merkle membership proof (verify it yourself)."""
    return Call("GET", _ws(ws, "nodes", node_id, "proof", frame_id), model(Proof))


# -- frames --------------------------------------------------------------------
def put_frame(
    ws: str,
    node_id: str,
    frame: FrameSpec,
    *,
    if_match: str | None = None,
    if_none_match: bool = False,
) -> Call[PutFrameResult]:
    """``POST …/frames``: append a frame authored by the token's agent; it becomes the head.

    Content-addressed, so retried like any idempotent call. ``if_match`` (the
    FrameID the head of the frame's type must be) or ``if_none_match`` (there
    must be no head yet) make the head move a compare-and-set:
    ``precondition_failed`` on a lost race. A conditional put is never
    retried: after a success lost in transit, the retry would lose to itself.
    """
    headers: dict[str, str] = {}
    if if_match is not None:
        headers["If-Match"] = f'"{if_match}"'
    if if_none_match:
        headers["If-None-Match"] = "*"
    request = PutFrameRequest(node_id=node_id, frame=frame)
    return Call(
        "POST",
        _ws(ws, "frames"),
        model(PutFrameResult),
        json=body(request),
        headers=headers,
        idempotent=not headers,
    )


def put_frames_batch(ws: str, frames: Sequence[PutFrameRequest]) -> Call[FrameBatchResult]:
    """``POST …/frames/batch``: several puts in one transaction (all or none), in order."""
    request = FrameBatchRequest(frames=list(frames))
    return Call(
        "POST",
        _ws(ws, "frames", "batch"),
        model(FrameBatchResult),
        json=body(request),
        idempotent=True,
    )


def get_frame(ws: str, frame_id: str, *, fresh: bool = False) -> Call[FrameResource]:
    """``GET …/frames/{frame_id}``: the record, content and path (``fresh``: with ``stale``)."""
    params = {"fresh": "true" if fresh else None}
    return Call("GET", _ws(ws, "frames", frame_id), model(FrameResource), params=params)


def get_frame_content(ws: str, frame_id: str) -> Call[bytes]:
    """``GET …/frames/{frame_id}/content``: the content's exact bytes."""
    return Call("GET", _ws(ws, "frames", frame_id, "content"), raw)


# -- operations ----------------------------------------------------------------
def synthesize(ws: str, request: SynthesizeRequest) -> Call[Synthesis]:
    """``POST …/synthesize``: a directory's (or subtree's) frames from child heads."""
    return Call("POST", _ws(ws, "synthesize"), model(Synthesis), json=body(request))


def regenerate(ws: str, request: RegenerateRequest) -> Call[Regeneration]:
    """``POST …/regenerate``: recompute the stale frames the engine can (``dry_run``: report)."""
    return Call(
        "POST",
        _ws(ws, "regenerate"),
        model(Regeneration),
        json=body(request),
        idempotent=request.dry_run,
    )


def stale(ws: str, node: str = "", *, recursive: bool = False) -> Call[StaleReport]:
    """``GET …/stale``: head frames whose basis is no longer current."""
    params = {"node": node, "recursive": "true" if recursive else None}
    return Call("GET", _ws(ws, "stale"), model(StaleReport), params=params)


def compose(ws: str, request: ComposeRequest) -> Call[Composition]:
    """``POST …/compose``: a bounded context from several nodes (a read: retried)."""
    return Call("POST", _ws(ws, "compose"), model(Composition), json=body(request), idempotent=True)


def roots(ws: str, *, limit: int = 20, before: int | None = None) -> Call[Roots]:
    """``GET …/roots``: the root history newest first (``next_before`` pages on)."""
    params = {"limit": limit, "before": before}
    return Call("GET", _ws(ws, "roots"), model(Roots), params=params)
