"""``/v1/health/live`` (the process answers) and ``/v1/health/ready`` (its dependencies do too).

Liveness touches nothing but the event loop: a failing store must not make
an orchestrator restart a healthy process. Readiness probes every
dependency for real (:mod:`treeframe.api.readiness`): the store, the blob
store and, when configured, Redis, each under ``server.ready_timeout_ms``,
all at once. Any failure is 503 ``backend_unavailable``: the question is
"may I route traffic here?", and the answer is no; the envelope carries
every check's result in ``checks`` so the 503 says which one failed and why.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.readiness import checks_for, not_ready, run_checks
from treeframe.config.settings import Settings
from treeframe.storage.base import StorageBackend
from treeframe.wire.common import Live, NotReady, Ready

__all__ = ["router"]

router = APIRouter(prefix="/v1/health", tags=["health"], responses=ERROR_RESPONSES)


@router.get("/live", summary="The process is up")
async def live() -> Live:
    """Answers as long as the process serves requests; touches nothing else."""
    return Live()


@router.get(
    "/ready",
    summary="Every dependency answers a real round trip",
    response_model_exclude_none=True,
    responses={
        503: {
            "model": NotReady,
            "description": "A check failed: `backend_unavailable`, with every check in `checks`.",
        }
    },
)
async def ready(request: Request) -> Ready:
    """200 when every check answered within its timeout, else 503 ``backend_unavailable``."""
    store: StorageBackend = request.app.state.store
    settings: Settings = request.app.state.settings
    state = request.app.state
    results = await run_checks(
        state, checks_for(state, settings, store), settings.server.ready_timeout_ms / 1000
    )
    if all(result.ok for result in results.values()):
        return Ready(checks=results)
    raise not_ready(results)
