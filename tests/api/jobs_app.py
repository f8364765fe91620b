"""The real app plus one gated workspace route run through ``run_as_job``, and who answered.

``POST /v1/workspaces/{ws}/probe/gated?gate=PATH`` counts ``ticks`` until
the file ``PATH`` exists (so a test holds a job running as long as it needs:
to kill its worker); every response names the process that served it in
``X-Served-By``, so a test can see a status request reach another worker.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from treeframe.api import create_app
from treeframe.api.deps import Bound
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.jobs import JOB_RESPONSES, run_as_job
from treeframe.api.routes import ROUTERS
from treeframe.config.settings import Settings
from treeframe.observability.progress import ProgressFn
from treeframe.storage.base import StorageBackend
from treeframe.wire.common import ApiResponse

router = APIRouter(prefix="/v1/workspaces/{ws}/probe", responses=ERROR_RESPONSES)


class Gated(ApiResponse):
    ticks: int


@router.post("/gated", response_model=Gated, responses=JOB_RESPONSES)
async def gated(bound: Bound, request: Request, gate: str) -> Gated | Response:
    def work(progress: ProgressFn | None) -> Gated:
        ticks = 0
        deadline = time.monotonic() + 60
        while not Path(gate).exists() and time.monotonic() < deadline:
            ticks += 1
            if progress is not None:
                progress("ticks", ticks, None)
            time.sleep(0.02)
        if progress is not None:
            progress("ticks", ticks, ticks)
        return Gated(ticks=ticks)

    return await run_as_job(request, "probe.gated", bound.info.workspace_id, work)


def jobs_app(settings: Settings, store: StorageBackend, **kwargs: Any) -> FastAPI:
    app = create_app(settings, store, routers=(*ROUTERS, router), **kwargs)

    @app.middleware("http")
    async def served_by(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-Served-By"] = str(os.getpid())
        return response

    return app
