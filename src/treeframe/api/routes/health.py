"""``/v1/health/live`` (the process answers) and ``/v1/health/ready`` (the store does too).

Readiness makes a real store round trip — a read of the workspace table,
which fails when the store's file is gone, damaged or unreachable — in a
worker thread under ``server.ready_timeout_ms``, so a hung store makes the
probe answer 503 in time instead of hanging the load balancer's check.
Any store failure is 503 ``backend_unavailable`` naming the cause: the
question is "may I route traffic here?", and the answer is no. A probe that
timed out leaves its thread waiting on the store; at most
``MAX_PENDING_PROBES`` may wait at once (later probes answer 503 without
starting another), so a hung store cannot drain the worker thread pool.
"""

from __future__ import annotations

import threading
import time

import anyio
from fastapi import APIRouter, Request

from treeframe.api.errors import ERROR_RESPONSES
from treeframe.config.settings import Settings
from treeframe.errors import BackendUnavailable, TreeframeError
from treeframe.hashing.ids import workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.wire.common import Live, Ready, ReadyCheck

__all__ = ["router"]

MAX_PENDING_PROBES = 4

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
    gate = _probe_gate(request)
    if not gate.acquire(blocking=False):
        raise BackendUnavailable(
            f"store is not ready: {MAX_PENDING_PROBES} earlier probes have not returned yet"
        )
    probe = _Probe(store, workspace_id(settings.workspace), gate)
    timeout = settings.server.ready_timeout_ms / 1000
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            await anyio.to_thread.run_sync(probe.run, abandon_on_cancel=True)
    except TimeoutError:
        probe.abandon()
        raise BackendUnavailable(
            f"store is not ready: no answer within {settings.server.ready_timeout_ms} ms"
        ) from None
    except TreeframeError as exc:
        raise BackendUnavailable(f"store is not ready: {exc.message} [{exc.code}]") from exc
    elapsed = (time.perf_counter() - started) * 1000
    return Ready(checks={"store": ReadyCheck(ok=True, duration_ms=round(elapsed, 3))})


class _Probe:
    """One store round trip whose gate slot is released exactly once.

    By the thread when it ran (even after a timeout), or by :meth:`abandon`
    when the timeout came before a worker thread picked it up at all.
    """

    def __init__(self, store: StorageBackend, ws: WorkspaceId, gate: threading.BoundedSemaphore):
        self._store, self._ws, self._gate = store, ws, gate
        self._lock = threading.Lock()
        self._started = self._abandoned = False

    def run(self) -> None:
        with self._lock:
            if self._abandoned:
                return
            self._started = True
        try:
            self._store.get_workspace(self._ws)
        finally:
            self._gate.release()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            if not self._started:
                self._gate.release()


def _probe_gate(request: Request) -> threading.BoundedSemaphore:
    """The app's bound on waiting probes (made on first use: no await between look-up and set)."""
    gate: threading.BoundedSemaphore | None = getattr(request.app.state, "ready_probes", None)
    if gate is None:
        gate = threading.BoundedSemaphore(MAX_PENDING_PROBES)
        request.app.state.ready_probes = gate
    return gate
