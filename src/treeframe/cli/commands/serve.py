"""serve: run the REST API (treeframe.api) on uvicorn, over the configured store.

FastAPI and uvicorn are imported only when the command runs (they are the
``server`` extra, and they would slow every other command's start-up). The
store is opened here first, ``create=False``, so a missing or broken store
is one error line before any socket is bound. With ``--workers N > 1``
uvicorn starts N processes that each import :func:`worker_app`; they get
the effective settings and the store URL through one environment variable,
so every worker serves exactly what this command resolved, including a
jobs directory (``server.jobs_dir``, docs/API.md "Jobs") this command creates
for them and removes when they stop, unless the settings name one.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from treeframe.cli.common import StoreOpt, configured_store, stamped
from treeframe.errors import BackendUnavailable, ConfigError
from treeframe.processes import process_alive
from treeframe.storage.registry import open_store
from treeframe.workspace.settings import store_content

if TYPE_CHECKING:
    from fastapi import FastAPI

    from treeframe.config.settings import Settings
    from treeframe.storage.base import StorageBackend

    AppFactory = Callable[..., FastAPI]

__all__ = ["DEFAULT_APP", "WORKER_ENV", "load_app_factory", "register", "worker_app"]

WORKER_ENV = "_TREEFRAME_SERVE_WORKER"
"""Carries ``{"settings", "store", "app"}`` to the worker processes (not ``TREEFRAME_*``: not a setting)."""

DEFAULT_APP = "treeframe.api:create_app"

_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METRICS_PREFIX = "treeframe-metrics-"
_JOBS_PREFIX = "treeframe-jobs-"
"""Also the prefix of a one-worker app's private jobs directory (api/jobs.py)."""

# Seconds uvicorn lets in-flight requests finish after SIGTERM/SIGINT.
_GRACEFUL_SECONDS = 10


def _require_server_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"the REST server needs the server extra ({exc.name} is missing): "
            "pip install 'treeframe[server]'"
        ) from exc


def load_app_factory(spec: str) -> AppFactory:
    """The callable named ``module:attribute``: ``create_app`` or one with its signature."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"--app {spec!r} must be MODULE:CALLABLE, e.g. {DEFAULT_APP}")
    try:
        factory: Any = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"--app {spec!r} cannot be loaded: {exc}") from exc
    if not callable(factory):
        raise ConfigError(f"--app {spec!r} is not callable")
    result: AppFactory = factory
    return result


def _build(factory: AppFactory, settings: Settings, store: StorageBackend) -> FastAPI:
    app: FastAPI = factory(settings, store, close_store=True)
    return app


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (``--workers N``): opens its own store."""
    from treeframe.config.settings import Settings

    spec = json.loads(os.environ[WORKER_ENV])
    settings = Settings.model_validate(spec["settings"])
    _configure_logging(settings)
    factory = load_app_factory(spec["app"])
    return _build(
        factory, settings, open_store(spec["store"], create=False, content=store_content(settings))
    )


def _parse_scans(specs: list[str]) -> list[tuple[Path, str]]:
    """``DIR=WORKSPACE`` pairs; ConfigError names the first malformed one."""
    pairs = []
    for spec in specs:
        directory, sep, name = spec.rpartition("=")
        if not sep or not directory or not name:
            raise ConfigError(f"--scan {spec!r} must be DIR=WORKSPACE")
        pairs.append((Path(directory), name))
    return pairs


def _scan_into(backend: StorageBackend, settings: Settings, scans: list[tuple[Path, str]]) -> None:
    """Scan each directory into its workspace (created if absent) before the server starts."""
    from treeframe.engine.workspaces import WorkspaceService
    from treeframe.tree.scan import scan_tree

    service = WorkspaceService(backend, settings)
    for directory, name in scans:
        info, _ = service.create(name)
        result = scan_tree(directory, backend, info.workspace_id)
        typer.echo(
            f"scanned {directory} into workspace {name!r}: root {result.root} "
            f"({result.files} files, {len(result.skipped)} skipped)",
            err=True,
        )


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (loopback by default; 0.0.0.0 for all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8420,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Server processes (each opens the store).")
    ] = 1,
    store: StoreOpt = None,
    app_spec: Annotated[
        str,
        typer.Option(
            "--app",
            help="App factory MODULE:CALLABLE with create_app's signature "
            "(to mount extra routes, e.g. for benchmarks or tests).",
        ),
    ] = DEFAULT_APP,
    scan: Annotated[
        list[str] | None,
        typer.Option(
            "--scan",
            help="DIR=WORKSPACE: scan DIR into WORKSPACE (created if absent) before serving; "
            "repeatable.",
            show_default=False,
        ),
    ] = None,
    cache: Annotated[
        str | None,
        typer.Option(
            "--cache",
            help="memory, off, or redis://HOST:PORT/DB to share the caches (and cached heads) "
            "between instances (the cache.url setting).",
            show_default=False,
        ),
    ] = None,
    print_openapi: Annotated[
        bool,
        typer.Option(
            "--print-openapi", help="Print the OpenAPI document (docs/openapi.json) and exit."
        ),
    ] = False,
) -> None:
    """Serve the REST API v1 over the store (see docs/API.md); Ctrl-C or SIGTERM stops it gracefully."""
    _require_server_extra()
    if print_openapi:
        from treeframe.api import openapi_document

        typer.echo(json.dumps(openapi_document(), indent=2, sort_keys=True))
        return
    import uvicorn

    settings, url = configured_store(store, {"cache.url": ("--cache", cache)})
    _configure_logging(settings)
    _sweep_dead_servers_dirs()
    # Several workers share their metrics through files; one process keeps them in memory
    # (and a single server ended by SIGTERM, which skips any cleanup, leaves nothing behind).
    shared = settings.metrics.enabled and workers > 1
    # Never an inherited directory (another server's, maybe gone): ours or none.
    os.environ.pop(_MULTIPROC_ENV, None)
    metrics_dir = tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-") if shared else None
    jobs_dir: str | None = None
    try:
        if metrics_dir is not None:
            # prometheus-client reads the variable when first imported, so before the
            # app factory (and prometheus-client with it) is: every worker inherits it.
            os.environ[_MULTIPROC_ENV] = metrics_dir
            settings = settings.model_copy(
                update={
                    "metrics": settings.metrics.model_copy(update={"multiprocess_dir": metrics_dir})
                }
            )
        factory = load_app_factory(app_spec)
        scans = _parse_scans(scan or [])
        if workers > 1 and url.startswith("memory:"):
            raise ConfigError(
                f"{url} lives in one process: --workers {workers} needs a shared store"
            )
        backend = open_store(url, create=False, content=store_content(settings))
        try:
            _scan_into(stamped(backend, settings), settings, scans)
        except BaseException:
            backend.close()
            raise
        if workers == 1:
            # One process: with no server.jobs_dir the app keeps (and removes) a private one.
            target: FastAPI | str = _build(factory, settings, backend)
        else:
            backend.close()  # it only proved the store opens; each worker opens its own
            if settings.server.jobs_dir is None:
                # The workers share one jobs directory (a status request may reach any of them).
                jobs_dir = tempfile.mkdtemp(prefix=f"{_JOBS_PREFIX}{os.getpid()}-")
                server = settings.server.model_copy(update={"jobs_dir": jobs_dir})
                settings = settings.model_copy(update={"server": server})
            os.environ[WORKER_ENV] = json.dumps(
                {"settings": _revealed(settings), "store": url, "app": app_spec}
            )
            target = f"{__name__}:worker_app"
        uvicorn.run(
            target,
            host=host,
            port=port,
            workers=workers,
            factory=workers > 1,
            timeout_graceful_shutdown=_GRACEFUL_SECONDS,
            server_header=False,
            log_config=None,  # our pipeline (treeframe.observability.logs) formats uvicorn's lines
            access_log=False,  # the edge writes one line per request itself
        )
    finally:
        # The supervisor of several workers returns after stopping them (signal or not).
        if metrics_dir is not None:
            os.environ.pop(_MULTIPROC_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if jobs_dir is not None:
            shutil.rmtree(jobs_dir, ignore_errors=True)


def _sweep_dead_servers_dirs() -> None:
    """Remove the metrics and jobs directories of servers that died.

    A server ended by SIGTERM (which ends it by the signal) or killed (``kill -9``,
    OOM) never runs its cleanup. Each directory's name carries its server's pid;
    one whose process is gone is removed.
    """
    for prefix in (_METRICS_PREFIX, _JOBS_PREFIX):
        for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
            pid = path.name[len(prefix) :].partition("-")[0]
            if not pid.isdigit() or process_alive(int(pid)):
                continue
            shutil.rmtree(path, ignore_errors=True)


def _configure_logging(settings: Settings) -> None:
    from treeframe.observability.logs import configure_logging

    configure_logging(settings.log.level, settings.log.format)


def _revealed(settings: Settings) -> dict[str, Any]:
    """The settings as JSON for the workers, secrets in clear (a dump masks them)."""
    dumped: dict[str, Any] = settings.model_dump(mode="json")
    if settings.metrics.token is not None:
        dumped["metrics"]["token"] = settings.metrics.token.get_secret_value()
    return dumped


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(serve)
