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
from treeframe.wire.access import (
    AclEntryOut,
    AclGrant,
    AclList,
    AgentList,
    AgentOut,
    AgentPut,
    PermissionName,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
)
from treeframe.wire.audit import AuditPage, AuditVerification
from treeframe.wire.common import Live, Ready
from treeframe.wire.diagnostics import Diff, Explanation, VerifyRequest, VerifyResult
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
    GenerateRequest,
    Generation,
    RegenerateRequest,
    Regeneration,
    Roots,
    StaleReport,
    Synthesis,
    SynthesizeRequest,
)
from treeframe.wire.push import (
    CommitRequest,
    CommitResponse,
    NegotiateRequest,
    NegotiateResponse,
    RecordsRequest,
    RecordsResponse,
)
from treeframe.wire.workspaces import Workspace, WorkspaceCreate, WorkspaceDetail, WorkspaceList

__all__ = [
    "audit_log",
    "compose",
    "create_token",
    "create_workspace",
    "delete_acl",
    "delete_workspace",
    "diff",
    "explain_frame",
    "get_children",
    "get_frame",
    "get_frame_content",
    "get_heads",
    "get_node",
    "get_node_by_path",
    "get_node_record",
    "get_nodes_batch",
    "get_proof",
    "get_workspace",
    "grant_acl",
    "health_live",
    "health_ready",
    "list_acl",
    "list_agents",
    "list_tokens",
    "list_workspaces",
    "push_commit",
    "push_negotiate",
    "push_records",
    "put_frame",
    "put_frames_batch",
    "regenerate",
    "register_agent",
    "restore_workspace",
    "revoke_token",
    "roots",
    "stale",
    "synthesize",
    "verify",
    "verify_audit",
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
    # The query's names are singular: ?type=a&type=b, as on the command line.
    for field, name in (("types", "type"), ("agents", "agent"), ("priority", "priority")):
        values = getattr(view, field)
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


def generate(ws: str, request: GenerateRequest) -> Call[Generation]:
    """``POST …/generate``: frames from the caller's model agent (``dry_run``: report only)."""
    return Call(
        "POST",
        _ws(ws, "generate"),
        model(Generation),
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


# -- diagnostics ---------------------------------------------------------------
def diff(ws: str, from_root: str, to_root: str = "HEAD") -> Call[Diff]:
    """``GET …/diff``: the minimal changed subtrees between two roots (hash, prefix, HEAD~N)."""
    params = {"from": from_root, "to": to_root}
    return Call("GET", _ws(ws, "diff"), model(Diff), params=params)


def explain_frame(ws: str, frame_id: str) -> Call[Explanation]:
    """``GET …/frames/{id}/explain``: the frame's basis chain, what changed and since which root."""
    return Call("GET", _ws(ws, "frames", frame_id, "explain"), model(Explanation))


def verify(ws: str, request: VerifyRequest) -> Call[VerifyResult]:
    """``POST …/verify``: recompute the stored hashes within the server's time cap (a read: retried)."""
    return Call("POST", _ws(ws, "verify"), model(VerifyResult), json=body(request), idempotent=True)


# -- workspaces ----------------------------------------------------------------
def create_workspace(name: str, *, description: str = "") -> Call[Workspace]:
    """``POST /v1/workspaces``: create (idempotent by name: the same workspace the second time)."""
    request = WorkspaceCreate(name=name, description=description)
    return Call("POST", "/v1/workspaces", model(Workspace), json=body(request), idempotent=True)


def list_workspaces(*, after: str | None = None, limit: int = 100) -> Call[WorkspaceList]:
    """``GET /v1/workspaces``: a page of the workspaces the caller may read (``next`` pages on)."""
    params = {"after": after, "limit": limit}
    return Call("GET", "/v1/workspaces", model(WorkspaceList), params=params)


def get_workspace(ws: str) -> Call[WorkspaceDetail]:
    """``GET /v1/workspaces/{ws}``: metadata, current root and counts."""
    return Call("GET", _ws(ws), model(WorkspaceDetail))


def delete_workspace(ws: str, *, confirm: str) -> Call[Workspace]:
    """``DELETE /v1/workspaces/{ws}?confirm=<name>``: tombstone it (admin; data kept)."""
    return Call("DELETE", _ws(ws), model(Workspace), params={"confirm": confirm})


def restore_workspace(ws: str) -> Call[Workspace]:
    """``POST …/restore``: bring a tombstoned workspace back (admin; idempotent)."""
    return Call("POST", _ws(ws, "restore"), model(Workspace), idempotent=True)


# -- tokens, ACL, agents -------------------------------------------------------
def create_token(
    ws: str,
    agent_id: str,
    permissions: Sequence[PermissionName],
    *,
    expires_in: str | None = None,
) -> Call[TokenCreated]:
    """``POST …/tokens``: a token for ``agent_id`` here (admin); its secret is in this answer only."""
    request = TokenCreate(agent_id=agent_id, permissions=list(permissions), expires_in=expires_in)
    return Call("POST", _ws(ws, "tokens"), model(TokenCreated), json=body(request))


def list_tokens(ws: str, *, after: str | None = None, limit: int = 100) -> Call[TokenList]:
    """``GET …/tokens``: this workspace's tokens without secrets (admin)."""
    params = {"after": after, "limit": limit}
    return Call("GET", _ws(ws, "tokens"), model(TokenList), params=params)


def revoke_token(ws: str, token_id: str) -> Call[TokenOut]:
    """``DELETE …/tokens/{token_id}``: refuse the token from now on (admin)."""
    return Call("DELETE", _ws(ws, "tokens", token_id), model(TokenOut))


def list_acl(ws: str) -> Call[AclList]:
    """``GET …/acl``: every ACL entry (admin)."""
    return Call("GET", _ws(ws, "acl"), model(AclList))


def grant_acl(ws: str, agent_id: str, permissions: Sequence[PermissionName]) -> Call[AclEntryOut]:
    """``PUT …/acl/{agent_id}``: set the agent's permissions here to exactly these (admin)."""
    request = AclGrant(permissions=list(permissions))
    return Call("PUT", _ws(ws, "acl", agent_id), model(AclEntryOut), json=body(request))


def delete_acl(ws: str, agent_id: str) -> Call[AclEntryOut]:
    """``DELETE …/acl/{agent_id}``: remove the agent's entry (admin)."""
    return Call("DELETE", _ws(ws, "acl", agent_id), model(AclEntryOut))


def list_agents(ws: str) -> Call[AgentList]:
    """``GET …/agents``: the workspace's agents, sorted by ID (read)."""
    return Call("GET", _ws(ws, "agents"), model(AgentList))


def register_agent(ws: str, agent_id: str, agent: AgentPut) -> Call[AgentOut]:
    """``PUT …/agents/{agent_id}``: register or replace an agent (admin)."""
    return Call("PUT", _ws(ws, "agents", agent_id), model(AgentOut), json=body(agent))


# -- push (the steps; Client.push_tree drives them) ------------------------------
def push_negotiate(ws: str, request: NegotiateRequest) -> Call[NegotiateResponse]:
    """``POST …/push/negotiate``: which of these NodeIDs the workspace lacks (a read)."""
    path = _ws(ws, "push", "negotiate")
    return Call("POST", path, model(NegotiateResponse), json=body(request), idempotent=True)


def push_records(ws: str, request: RecordsRequest) -> Call[RecordsResponse]:
    """``POST …/push/records``: store a batch of verified records (content-addressed: retried)."""
    path = _ws(ws, "push", "records")
    return Call("POST", path, model(RecordsResponse), json=body(request), idempotent=True)


def push_commit(ws: str, request: CommitRequest) -> Call[CommitResponse]:
    """``POST …/push/commit``: move the root, compare-and-set on ``expected_root`` (never retried)."""
    return Call("POST", _ws(ws, "push", "commit"), model(CommitResponse), json=body(request))


# -- audit ---------------------------------------------------------------------
def audit_log(
    ws: str,
    *,
    after: int = 0,
    limit: int = 100,
    agent: str | None = None,
    operation: str | None = None,
    node: str | None = None,
) -> Call[AuditPage]:
    """``GET …/audit``: a page of the audit chain after seq ``after``, filtered (admin)."""
    params = {
        "after": after,
        "limit": limit,
        "agent": agent,
        "operation": operation,
        "node": node,
    }
    return Call("GET", _ws(ws, "audit"), model(AuditPage), params=params)


def verify_audit(ws: str, *, head: str | None = None) -> Call[AuditVerification]:
    """``GET …/audit/verify``: recompute the chain (admin).

    ``head``, an ``X-Audit-Head`` kept from a write answer (``client.audit_head``),
    also detects a log truncated since.
    """
    return Call("GET", _ws(ws, "audit", "verify"), model(AuditVerification), params={"head": head})
