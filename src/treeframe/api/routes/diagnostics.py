"""Diagnostics: diff two roots, explain a frame, verify the workspace (all need ``read``).

They only read, so a reader may run them; verify's cost is bounded by the
server's ``server.verify_max_ms`` whatever the request asks. None is
cacheable: ``HEAD`` and freshness name current state.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from treeframe.api.caching import NO_CACHE
from treeframe.api.deps import Bound
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.jobs import JOB_RESPONSES, run_as_job
from treeframe.config.settings import Settings
from treeframe.engine.diagnostics import diff_roots, explain_frame, resolve_root
from treeframe.engine.principal import Permission, authorize
from treeframe.observability.progress import ProgressFn
from treeframe.wire.diagnostics import Diff, Explanation, VerifyRequest, VerifyResult
from treeframe.workspace.verify import verify_store

__all__ = ["router"]

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["diagnostics"], responses=ERROR_RESPONSES)

RootQuery = Annotated[
    str, Query(description="A root hash, an unambiguous prefix of one (4+ hex), HEAD or HEAD~N.")
]


@router.get("/diff", summary="The minimal changed subtrees between two roots")
def diff(
    bound: Bound,
    response: Response,
    from_: Annotated[str, Query(alias="from", description="The old root (hash, prefix, HEAD~N).")],
    to: RootQuery = "HEAD",
) -> Diff:
    """Walks both trees where their NodeIDs differ only: O(changes x depth), never O(tree)."""
    authorize(bound.principal, Permission.READ)
    store, ws = bound.api.store, bound.api.ws
    old = resolve_root(store, ws, from_)
    new = resolve_root(store, ws, to)
    response.headers["Cache-Control"] = NO_CACHE
    return Diff.model_validate(diff_roots(store, ws, old.root, new.root).to_dict())


@router.get("/frames/{frame_id}/explain", summary="Why a frame is fresh, stale or incomplete")
def explain(
    bound: Bound,
    response: Response,
    frame_id: Annotated[str, Path(description="FrameID (64 hex).")],
) -> Explanation:
    """The frame's node, its basis chain (bounded), which input changed and since which root."""
    authorize(bound.principal, Permission.READ)
    response.headers["Cache-Control"] = NO_CACHE
    found = explain_frame(bound.api.store, bound.api.ws, frame_id)
    return Explanation.model_validate(found.to_dict())


@router.post(
    "/verify",
    summary="Recompute the workspace's stored hashes (bounded in time)",
    response_model=VerifyResult,
    responses=JOB_RESPONSES,
)
async def verify(bound: Bound, request: Request, body: VerifyRequest) -> VerifyResult | Response:
    """Every problem found within the time limit; ``complete`` is false when the limit stopped it.

    ``Prefer: respond-async`` runs it as a job (202; one progress phase per verify phase).
    """
    authorize(bound.principal, Permission.READ)
    settings: Settings = request.app.state.settings
    cap = settings.server.verify_max_ms
    limit_ms = min(body.max_duration_ms or cap, cap)
    store, ws = bound.api.store, bound.api.ws
    # Resolved before any job starts: an unknown root is refused at once, never a job.
    since = (
        await run_in_threadpool(resolve_root, store, ws, body.since)
        if body.since is not None
        else None
    )

    def work(progress: ProgressFn | None) -> VerifyResult:
        deadline = time.monotonic() + limit_ms / 1000
        report = verify_store(store, ws, progress, since=since, deadline=deadline)
        payload = report.to_dict()
        payload["problem_count"] = len(report.problems)
        payload["problems"] = payload["problems"][: body.limit]
        return VerifyResult.model_validate(payload)

    return await run_as_job(request, "workspace.verify", ws, work)
