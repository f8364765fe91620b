"""Snapshot export: a workspace's state at one root, streamed as a ``treeframe-snapshot/1`` archive.

The archive is written by :func:`treeframe.snapshot.export.export_snapshot`
in a worker thread that holds one store snapshot for the whole export and
hands chunks to the response through a small bounded queue, so memory stays
flat however large the archive and a slow client slows the export instead of
filling the server's memory. Everything that can be wrong with the request
(the root, the path, permissions) is checked before the first byte, so those
errors are the normal JSON envelope; a failure after that (a damaged content
found while streaming) cuts the stream short, which every reader detects as
a truncated archive.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from treeframe.api.caching import NO_CACHE
from treeframe.api.deps import Bound
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.engine.principal import Permission, authorize
from treeframe.ids import NodeId, WorkspaceId, parse_hex_id
from treeframe.snapshot.export import export_snapshot, resolve_export
from treeframe.storage.base import StorageBackend

__all__ = ["MEDIA_TYPES", "router"]

MEDIA_TYPES = {"none": "application/x-tar", "zstd": "application/zstd", "gzip": "application/gzip"}
_SUFFIX = {"none": ".tar", "zstd": ".tar.zst", "gzip": ".tar.gz"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_CHUNK = 256 << 10
_QUEUE_CHUNKS = 8  # at most ~2 MiB in flight per export

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["snapshots"], responses=ERROR_RESPONSES)


class _Cancelled(Exception):
    """The client went away: the worker stops and releases its snapshot."""


class _QueueWriter:
    """The export's output: buffers writes into chunks and blocks while the queue is full."""

    def __init__(self, chunks: queue.Queue[bytes | BaseException | None], stop: threading.Event):
        self._chunks = chunks
        self._stop = stop
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
                return
            except queue.Full:
                continue

    def finish(self, error: BaseException | None) -> None:
        try:
            if error is None:
                self.flush()
            self._put(error)
        except _Cancelled:
            pass


def _stream(
    store: StorageBackend, ws: WorkspaceId, root: NodeId, path: str, compression: str
) -> Iterator[bytes]:
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_QUEUE_CHUNKS)
    stop = threading.Event()
    writer = _QueueWriter(chunks, stop)

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
            yield item
    finally:
        stop.set()


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
        _stream(store, ws, root_id, record.path, compression),
        media_type=MEDIA_TYPES[compression],
        headers=headers,
    )
