"""Snapshots over HTTP: export streams a ``treeframe-snapshot/1`` archive, import takes one.

The archive is written by :func:`treeframe.snapshot.export.export_snapshot`
in a worker thread that holds one store snapshot for the whole export and
hands chunks to the response through a small bounded queue, so memory stays
flat however large the archive and a slow client slows the export instead of
filling the server's memory. Everything that can be wrong with the request
(the root, the path, permissions) is checked before the first byte, so those
errors are the normal JSON envelope; a failure after that (a damaged content
found while streaming) cuts the stream short, which every reader detects as
a truncated archive.

Import spools the request body to a temporary file (the edge middleware
caps it at ``server.max_import_bytes`` instead of the usual body limit), then
runs :func:`treeframe.snapshot.importer.import_snapshot` in the thread pool:
verified completely, written in one unit of work, audited; with
``Prefer: respond-async`` in a job (:func:`treeframe.api.jobs.run_as_job`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from treeframe.api.auth import access_service
from treeframe.api.caching import NO_CACHE
from treeframe.api.deps import Authenticated, Bound, Identity, Service
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.api.jobs import JOB_RESPONSES, run_as_job, wants_async
from treeframe.api.observe.metrics import Metrics
from treeframe.engine.principal import Permission, authorize
from treeframe.engine.workspaces import check_name
from treeframe.errors import (
    AccessDenied,
    Conflict,
    InvalidRequest,
    StorageError,
    WorkspaceNotFound,
)
from treeframe.hashing.ids import workspace_id
from treeframe.ids import NodeId, WorkspaceId, parse_hex_id
from treeframe.observability.progress import ProgressFn
from treeframe.snapshot.export import export_snapshot, resolve_export
from treeframe.snapshot.importer import import_snapshot, manifest_name
from treeframe.snapshot.signing import load_trusted_key
from treeframe.storage.base import StorageBackend, WorkspaceInfo
from treeframe.wire.snapshots import ImportResult

__all__ = ["IMPORT_PATH", "MEDIA_TYPES", "imports", "router"]

IMPORT_PATH = "/v1/workspaces/import"

MEDIA_TYPES = {"none": "application/x-tar", "zstd": "application/zstd", "gzip": "application/gzip"}
_SUFFIX = {"none": ".tar", "zstd": ".tar.zst", "gzip": ".tar.gz"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_HEX_KEY = re.compile(r"[0-9a-f]{64}")
_CHUNK = 256 << 10
_QUEUE_CHUNKS = 8  # at most ~2 MiB in flight per export

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["snapshots"], responses=ERROR_RESPONSES)
imports = APIRouter(tags=["snapshots"], responses=ERROR_RESPONSES)


class _Cancelled(Exception):
    """The client went away: the worker stops and releases its snapshot."""


class _QueueWriter:
    """The export's output: buffers writes into chunks and blocks while the queue is full."""

    def __init__(
        self,
        chunks: queue.Queue[bytes | BaseException | None],
        stop: threading.Event,
        depth: Callable[[int], None],
    ):
        self._chunks = chunks
        self._stop = stop
        self._depth = depth
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()

    def _put(self, item: bytes | BaseException | None) -> None:
        while True:
            if self._stop.is_set():
                raise _Cancelled
            try:
                self._chunks.put(item, timeout=0.5)
            except queue.Full:
                continue
            if isinstance(item, bytes):
                self._depth(1)
            return

    def finish(self, error: BaseException | None) -> None:
        try:
            if error is None:
                self.flush()
            self._put(error)
        except _Cancelled:
            pass


def _stream(
    store: StorageBackend,
    ws: WorkspaceId,
    root: NodeId,
    path: str,
    compression: str,
    depth: Callable[[int], None],
) -> Iterator[bytes]:
    """The archive's chunks; ``depth(n)`` follows how many wait in the queue (the metrics gauge)."""
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_QUEUE_CHUNKS)
    stop = threading.Event()
    writer = _QueueWriter(chunks, stop, depth)

    def work() -> None:
        error: BaseException | None = None
        try:
            export_snapshot(store, ws, writer, root=root, path=path, compression=compression)
        except _Cancelled:
            return
        except BaseException as exc:  # handed to the response, which cuts the stream
            error = exc
        writer.finish(error)

    worker = threading.Thread(target=work, name="treeframe-export", daemon=True)
    worker.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            depth(-1)
            yield item
    finally:
        stop.set()
        # The worker may still land one chunk after stop (its put was waiting for room):
        # wait for it to end (it checks stop every 0.5 s), then count what nobody read.
        worker.join(timeout=5)
        left = 0
        while True:  # chunks nobody will read leave the gauge too
            try:
                left += isinstance(chunks.get_nowait(), bytes)
            except queue.Empty:
                break
        if left:
            depth(-left)


@router.get(
    "/export",
    summary="The workspace at a root (or one subtree) as a snapshot archive, streamed",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in MEDIA_TYPES.values()
            },
            "description": "A treeframe-snapshot/1 archive (docs/SCHEMAS.md §15).",
        }
    },
)
def export_workspace(
    bound: Bound,
    request: Request,
    root_hash: Annotated[
        str | None, Query(description="The root to export (default: the current root).")
    ] = None,
    path: Annotated[str, Query(description="Export only this subtree (a workspace path).")] = "",
    compression: Annotated[
        Literal["none", "zstd", "gzip"], Query(description="Compression of the whole stream.")
    ] = "none",
) -> StreamingResponse:
    """Stream the archive ``treeframe export`` writes, byte for byte the same."""
    authorize(bound.principal, Permission.READ)
    root = None if root_hash is None else NodeId(parse_hex_id(root_hash, "root_hash"))
    store, ws = bound.api.store, bound.api.ws
    info, root_id, _, record = resolve_export(store, ws, root, path)
    name = f"{_UNSAFE.sub('_', info.name)}-{root_id[:12]}{_SUFFIX[compression]}"
    headers = {
        "Cache-Control": NO_CACHE,
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Treeframe-Root": root_id,
        "X-Treeframe-Node": record.node_id,
    }
    return StreamingResponse(
        _stream(store, ws, root_id, record.path, compression, _depth_gauge(request)),
        media_type=MEDIA_TYPES[compression],
        headers=headers,
    )


def _depth_gauge(request: Request) -> Callable[[int], None]:
    """``treeframe_queue_depth{queue="export_chunks"}`` moved by n (nothing without metrics)."""
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is None:
        return lambda _n: None
    gauge = metrics.queue_depth.labels("export_chunks")

    def move(n: int) -> None:
        metrics.later(gauge.inc, n)

    return move


def _admission(request: Request, identity: Identity) -> Any:
    """Who may import: what creating the workspace needs, or ``admin`` in the existing one."""
    access = access_service(request)

    def admit(name: str, existing: WorkspaceInfo | None) -> None:
        bearer = identity.bearer()
        if existing is None:
            if bearer.scope is not None or Permission.ADMIN not in bearer.permissions:
                raise AccessDenied(
                    "importing into a new workspace needs a token for all workspaces with admin"
                )
            return
        held = bearer.permissions & access.held(identity.agent_id, existing)
        if bearer.scope not in (None, existing.workspace_id) or not held:
            raise Conflict(f"the workspace name {name!r} is not available")
        if existing.deleted_at is not None and Permission.ADMIN not in held:
            raise WorkspaceNotFound(f"no workspace {name!r}")
        if Permission.ADMIN not in held:
            raise AccessDenied(f"importing into workspace {name!r} needs admin there")

    return admit


@imports.post(
    IMPORT_PATH,
    status_code=201,
    response_model=ImportResult,
    responses={
        200: {"model": ImportResult, "description": "Into an existing workspace."},
        **JOB_RESPONSES,
    },
    summary="Import a snapshot archive: verified completely, written all-or-nothing",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("application/octet-stream", *MEDIA_TYPES.values())
            },
        }
    },
)
async def import_workspace(
    request: Request,
    response: Response,
    identity: Authenticated,
    service: Service,
    workspace: Annotated[
        str | None, Query(description="Import under this name (default: the archive's).")
    ] = None,
    trust: Annotated[
        list[str], Query(description="A trusted ed25519 public key (64 hex); repeat.")
    ] = [],  # noqa: B006 - FastAPI copies query defaults
) -> ImportResult | Response:
    """The body is the archive (any compression); 201 with what was written and what was present.

    ``Prefer: respond-async`` runs the import as a job once the body is
    spooled (202; phases ``verify_bytes``, then ``import_bytes``).
    """
    if not all(_HEX_KEY.fullmatch(key) for key in trust):
        # Only the hex form: the server never reads a key file a request names.
        raise InvalidRequest("trust must be 64-hex ed25519 public keys")
    keys = [load_trusted_key(key) for key in trust]
    fd, name = tempfile.mkstemp(prefix="treeframe-import-", suffix=".archive")
    spooled = Path(name)
    handed_over = False  # once a job runs, the job removes the spool
    try:
        with os.fdopen(fd, "wb") as spool:
            async for chunk in request.stream():
                try:
                    spool.write(chunk)
                except OSError as exc:
                    raise StorageError(f"cannot spool the archive: {exc.strerror}") from None
        admit = _admission(request, identity)
        target: WorkspaceId | None = None
        if wants_async(request):
            # Refused before a job starts, as the import itself would refuse it first.
            named = workspace if workspace is not None else manifest_name(spooled)
            if named is not None:
                named = check_name(named)
                target = workspace_id(named)
                admit(named, service.store.get_workspace(target))

        def work(progress: ProgressFn | None) -> ImportResult:
            try:
                report = import_snapshot(
                    service.store,
                    spooled,
                    workspace=workspace,
                    trust=keys,
                    progress=progress,
                    owner=identity.agent_id,
                    agent=identity.agent_id,
                    admit=admit,
                    clock=service.runtime.clock,
                    label="the archive",
                )
            finally:
                with contextlib.suppress(OSError):
                    spooled.unlink()
            return ImportResult.model_validate(report.to_dict())

        result = await run_as_job(request, "workspace.import", target, work)
        handed_over = True  # work ran (and removed it), or a job's thread owns it now
    finally:
        if not handed_over:
            with contextlib.suppress(OSError):
                spooled.unlink()
    if isinstance(result, ImportResult) and not result.created:
        response.status_code = 200
    return result
