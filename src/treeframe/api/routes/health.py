"""``/v1/health/live`` (the process answers) and ``/v1/health/ready`` (the store does too).

Readiness makes a real store round trip — a read of the workspace table,
which fails when the store's file is gone, damaged or unreachable — in a
worker thread under ``server.ready_timeout_ms``, so a hung store makes the
probe answer 503 in time instead of hanging the load balancer's check.
Any store failure is 503 ``backend_unavailable`` naming the cause: the
question is "may I route traffic here?", and the answer is no.
"""

from __future__ import annotations

import time

import anyio
from fastapi import APIRouter, Request

from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.models import Live, Ready, ReadyCheck
from treeframe.config.settings import Settings
from treeframe.errors import BackendUnavailable, TreeframeError
from treeframe.hashing.ids import workspace_id
from treeframe.storage.base import StorageBackend

__all__ = ["router"]

router = APIRouter(prefix="/v1/health", tags=["health"], responses=ERROR_RESPONSES)


@router.get("/live", summary="The process is up")
async def live() -> Live:
    """Answers as long as the process serves requests; touches nothing else."""
    return Live()


@router.get("/ready", summary="The store answers a real round trip")
async def ready(request: Request) -> Ready:
    """200 when the store completed a read within the timeout, else 503 ``backend_unavailable``."""
    store: StorageBackend = request.app.state.store
    settings: Settings = request.app.state.settings
    ws = workspace_id(settings.workspace)
    timeout = settings.server.ready_timeout_ms / 1000
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            await anyio.to_thread.run_sync(store.workspace_name, ws, abandon_on_cancel=True)
    except TimeoutError:
        raise BackendUnavailable(
            f"store is not ready: no answer within {settings.server.ready_timeout_ms} ms"
        ) from None
    except TreeframeError as exc:
        raise BackendUnavailable(f"store is not ready: {exc.message} [{exc.code}]") from exc
    elapsed = (time.perf_counter() - started) * 1000
    return Ready(checks={"store": ReadyCheck(ok=True, duration_ms=round(elapsed, 3))})
