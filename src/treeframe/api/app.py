"""``create_app(settings, store)``: the FastAPI application of API v1, with no module-level state.

Everything a request needs hangs off ``app.state`` (``settings``, ``store``,
``workspaces``: the :class:`~treeframe.engine.workspaces.WorkspaceService`,
``access``: the :class:`~treeframe.engine.access.AccessService` over it,
``jobs``: the :class:`~treeframe.api.jobs.JobStore` of background requests),
so several apps over different stores can live in one process (tests do)
and nothing is opened on import. The caller owns the store unless it passes ``close_store``.
The layers, outside in: :class:`~treeframe.api.middleware.EdgeMiddleware`
(request ID, version, body limit, last-resort envelope), FastAPI's exception
handlers (:mod:`treeframe.api.errors`), then the routers of
:data:`~treeframe.api.routes.ROUTERS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from treeframe.api.errors import install_handlers
from treeframe.api.jobs import JobStore
from treeframe.api.middleware import EdgeMiddleware
from treeframe.api.routes import ROUTERS
from treeframe.api.routes.snapshots import IMPORT_PATH
from treeframe.api.versioning import API_VERSION
from treeframe.config.settings import Settings
from treeframe.engine.access import AccessService
from treeframe.engine.workspaces import WorkspaceService
from treeframe.storage.base import StorageBackend

__all__ = ["OPENAPI_URL", "create_app", "openapi_document"]

OPENAPI_URL = f"/v{API_VERSION}/openapi.json"


def create_app(
    settings: Settings,
    store: StorageBackend,
    *,
    routers: Sequence[APIRouter] = ROUTERS,
    close_store: bool = False,
) -> FastAPI:
    """The app serving ``store`` under ``settings``; ``routers`` defaults to every v1 router.

    Passing ``routers`` mounts others (or more) behind the same edge and
    error handling, which is how tests exercise a route kind v1 has none of yet.
    ``close_store`` hands the store to the app, which closes it when the
    server shuts down (``treeframe serve``: after a SIGTERM uvicorn ends the
    process by the signal, so code after the server would never run).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            app.state.jobs.close()
            if close_store:
                store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="treeframe",
        version=API_VERSION,
        summary="Deterministic Merkle store of a workspace's files plus immutable context frames.",
        openapi_url=OPENAPI_URL,
        docs_url=None,  # the interactive pages load scripts from a CDN; docs/API.md instead
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.workspaces = WorkspaceService(store, settings)
    app.state.access = AccessService(app.state.workspaces)
    app.state.jobs = JobStore.from_settings(settings)
    install_handlers(app)
    for router in routers:
        app.include_router(router)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        body_limits={IMPORT_PATH: settings.server.max_import_bytes},
    )
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of API v1 (what docs/openapi.json holds); opens no store."""
    from treeframe.storage.memory import MemoryStore

    document: dict[str, Any] = create_app(Settings(), MemoryStore("memory://")).openapi()
    return document
