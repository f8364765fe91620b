"""``create_app(settings, store)``: the FastAPI application of API v1, with no module-level state.

Everything a request needs hangs off ``app.state`` (``settings``, ``store``,
``workspaces``: the :class:`~treeframe.engine.workspaces.WorkspaceService`,
``access``: the :class:`~treeframe.engine.access.AccessService` over it,
``jobs``: the :class:`~treeframe.api.jobs.JobStore` of background requests),
so several apps over different stores can live in one process (tests do)
and nothing is opened on import. The caller owns the store unless it passes ``close_store``.
The layers, outside in: :class:`~treeframe.api.middleware.EdgeMiddleware`
(request ID, version, body limit, last-resort envelope, the request
observer), FastAPI's exception handlers (:mod:`treeframe.api.errors`), then
the routers of :data:`~treeframe.api.routes.ROUTERS`.

Observation (see OPERATIONS.md): with ``metrics.enabled`` (the default) the
app keeps its :class:`~treeframe.api.observe.metrics.Metrics` in
``app.state.metrics``, times every store and blob-store call through an
:class:`~treeframe.observability.storage.InstrumentedStore` (also with
tracing on), listens to engine events, and recounts written workspaces'
gauges on a thread its lifespan starts and stops.

With ``server.ui`` (the default) it also serves the web explorer's static
files at ``/ui`` (:mod:`treeframe.api.ui`; EXPLORER.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from treeframe.api.errors import install_handlers
from treeframe.api.jobs import JobStore
from treeframe.api.middleware import EdgeMiddleware
from treeframe.api.observe import route as metrics_route
from treeframe.api.observe.gauges import WorkspaceGauges
from treeframe.api.observe.metrics import Metrics
from treeframe.api.observe.requests import RequestObserver
from treeframe.api.ratelimit import rate_limiter
from treeframe.api.readiness import close_readiness
from treeframe.api.routes import ROUTERS
from treeframe.api.routes.snapshots import IMPORT_PATH
from treeframe.api.ui import router as ui_router
from treeframe.api.versioning import API_VERSION
from treeframe.api.work import WorkQueue
from treeframe.config.settings import Settings
from treeframe.engine.access import AccessService
from treeframe.engine.workspaces import WorkspaceService
from treeframe.observability import events, tracing
from treeframe.observability.logs import flush_logs, logging_configured
from treeframe.observability.storage import InstrumentedStore
from treeframe.storage.base import StorageBackend
from treeframe.storage.breaker import CircuitBreaker
from treeframe.storage.cache import cache_prefix, cached_store

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
    metrics = _metrics(settings, store) if settings.metrics.enabled else None
    breakers = _breakers(settings, metrics)
    served: StorageBackend = store
    if metrics is not None or settings.tracing.enabled or breakers is not None:
        if settings.tracing.enabled:
            tracing.enable_tracing()
        served = InstrumentedStore(  # type: ignore[assignment]
            store,
            metrics.observe_storage if metrics is not None else _unobserved,
            metrics.observe_blobs if metrics is not None else _unobserved,
            breaker=breakers[0] if breakers is not None else None,
            blob_breaker=breakers[1] if breakers is not None else None,
        )
    cached = _cached(settings, served, metrics)
    served = cached if cached is not None else served
    gauges = WorkspaceGauges(served, metrics, settings.metrics) if metrics is not None else None
    if metrics is not None and gauges is not None:
        # Held weakly by the event bus: an app that goes away stops listening by itself.
        events.subscribe(metrics.on_event)
        events.subscribe(gauges.on_event)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if gauges is not None and metrics is not None:
            metrics.start()
            gauges.start()
        try:
            yield
        finally:
            if gauges is not None:
                gauges.stop()  # it reads the store
            app.state.jobs.close()
            close_readiness(app.state)
            if app.state.rate_limiter is not None:
                app.state.rate_limiter.close()
            if close_store:
                store.close()
            if cached is not None:
                cached.close_cache()
            if metrics is not None and gauges is not None:
                events.unsubscribe(metrics.on_event)
                events.unsubscribe(gauges.on_event)
                metrics.close()  # after everything that may still count
            flush_logs()  # last: the lines of all of the above, before the signal ends the process

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
    app.state.store = served
    app.state.metrics = metrics
    app.state.gauges = gauges
    app.state.workspaces = WorkspaceService(
        served,
        settings,
        on_cache=(lambda hit: metrics.cache_result("workspace", hit)) if metrics else None,
    )
    app.state.access = AccessService(app.state.workspaces)
    app.state.rate_limiter = rate_limiter(settings)
    app.state.jobs = JobStore.from_settings(settings)
    app.state.work = WorkQueue(settings.server.work_concurrency, settings.server.work_queue)
    install_handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(metrics_route.router)
    if settings.server.ui:
        app.include_router(ui_router)
    # Request lines only where the process set up the pipeline (serve does; an embedding
    # program calls configure_logging): structlog's own default would print to stdout.
    log_requests = settings.log.requests and logging_configured()
    observer = None
    if metrics is not None or log_requests:
        observer = RequestObserver(metrics, log_requests)
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        body_limits={IMPORT_PATH: settings.server.max_import_bytes},
        observer=observer,
        max_in_flight=settings.server.max_in_flight,
    )
    return app


def _metrics(settings: Settings, store: StorageBackend) -> Metrics:
    backend = store.url.partition(":")[0] or "unknown"
    blobs = (settings.store.blobs or "").partition(":")[0] or "catalog"
    return Metrics(backend, blobs, settings.metrics.multiprocess_dir)


def _cached(settings: Settings, store: StorageBackend, metrics: Metrics | None) -> Any:
    """The store behind the read-through caches ``cache.*`` ask for (None: ``cache.url`` off)."""
    config = settings.cache
    if config.url == "off":
        return None
    return cached_store(
        store,
        config.url,
        memory_bytes=config.memory_mb << 20,
        heads=config.heads,
        max_age_seconds=config.head_max_age_ms / 1000,
        ttl_seconds=config.ttl_seconds,
        observe=metrics.cache_results if metrics is not None else None,
        prefix=cache_prefix(config.namespace),
    )


def _breakers(
    settings: Settings, metrics: Metrics | None
) -> tuple[CircuitBreaker, CircuitBreaker] | None:
    """The store's and the blob store's circuit breakers (None: ``server.breaker_failures`` 0)."""
    failures = settings.server.breaker_failures
    if failures <= 0:
        return None
    reset = settings.server.breaker_reset_ms / 1000

    def opened(name: str) -> None:
        if metrics is not None:
            metrics.later(metrics.circuit_opened.labels(name).inc, 1)

    return (
        CircuitBreaker("store", failures, reset, on_open=opened),
        CircuitBreaker("blobs", failures, reset, on_open=opened),
    )


def _unobserved(_operation: str, _seconds: float) -> None:
    """The observer of a store timed for tracing only."""


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of API v1 (what docs/openapi.json holds); opens no store."""
    from treeframe.storage.memory import MemoryStore

    document: dict[str, Any] = create_app(Settings(), MemoryStore("memory://")).openapi()
    return document
