"""Export a workspace at a root, whole or a subtree, to a snapshot archive (docs/SCHEMAS.md §15).

Two passes inside one ``store.snapshot()``, so the archive is one consistent
state while writers keep writing. Pass 1 walks the tree depth-first and
spools the record lines to a temporary file, hashing each records entry as
it is cut and collecting the distinct contents the frames name; pass 2
writes the manifest (which needs those hashes and counts), the signature,
``checksums.b3``, the spooled records and the contents, streamed from the
blob store. Memory holds one directory's children per level of the walk
and the set of distinct content hashes, never content bytes or records.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import blake3

from treeframe.errors import ConfigError, NodeNotFound, StoreCorrupt, WorkspaceNotFound
from treeframe.frames.frame import Frame
from treeframe.frames.merkle_set import root_of
from treeframe.hashing.canonical_json import loads
from treeframe.ids import ContentHash, NodeId, WorkspaceId
from treeframe.observability.progress import ProgressFn, throttled
from treeframe.release import VERSION
from treeframe.snapshot.format import (
    CHECKSUMS,
    MANIFEST,
    MAX_LINE,
    RECORDS_TARGET,
    SCHEMAS,
    SIGNATURE,
    Counts,
    Manifest,
    WorkspaceMeta,
    content_name,
    encode_line,
    records_name,
)
from treeframe.snapshot.signing import SigningKey, sign_manifest
from treeframe.snapshot.streams import COMPRESSIONS, Writable, compressor
from treeframe.snapshot.tar import END, entry_header, padding
from treeframe.storage.base import NodeSetState, StorageBackend, WorkspaceInfo
from treeframe.tree.paths import normalize_path
from treeframe.tree.records import NodeRecord

__all__ = ["SCHEMAS", "ExportReport", "export_snapshot", "resolve_export"]

"""The record schemas an archive of this format version holds."""


_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportReport:
    """What was written: the manifest and the archive's size in bytes (after compression)."""

    manifest: Manifest
    archive_bytes: int


def resolve_export(
    store: StorageBackend, ws: WorkspaceId, root: NodeId | None, path: str
) -> tuple[WorkspaceInfo, NodeId, list[NodeRecord], NodeRecord]:
    """Check what an export names before any byte is written.

    Returns the workspace, the root, the ancestor records (root first, empty
    for a whole export) and the exported node's record, whose ``path`` is
    ``path`` normalized as every command normalizes one (``""`` or ``"."``
    is the whole tree). ``root`` may be any stored root (a directory record
    at path ``""``), default the current one. Raises WorkspaceNotFound,
    NodeNotFound (no such root, or nothing at ``path`` in it) or InvalidPath
    (a malformed path). Records are immutable, so what this finds stays true
    inside a later snapshot.
    """
    subtree = normalize_path(path)
    info = store.get_workspace(ws)
    if info is None or info.deleted_at is not None:
        raise WorkspaceNotFound(f"workspace {ws} not found")
    if root is None:
        current = store.current_root(ws)
        if current is None:
            raise NodeNotFound("the workspace has no root yet: scan it before exporting")
        root = current.root
    record = store.get_node(ws, root)
    if record is None or record.kind != "dir" or record.path != "":
        raise NodeNotFound(f"no root {root} in this workspace")
    ancestors: list[NodeRecord] = []
    for name in subtree.split("/") if subtree else ():
        child = dict(record.children).get(name)
        if child is None:
            raise NodeNotFound(f"no {subtree!r} in the tree of root {root}")
        ancestors.append(record)
        found = store.get_node(ws, child)
        if found is None:
            raise StoreCorrupt(f"node {child} of {record.path or '/'} is missing from the store")
        record = found
    return info, root, ancestors, record


def export_snapshot(
    store: StorageBackend,
    ws: WorkspaceId,
    out: Writable,
    *,
    root: NodeId | None = None,
    path: str = "",
    compression: str = "none",
    signing_key: SigningKey | None = None,
    progress: ProgressFn | None = None,
) -> ExportReport:
    """Write the archive of ``ws`` at ``root`` (default: the current root), subtree ``path``.

    Reads inside one ``store.snapshot()``; memory bounded by the tree's
    depth and fan-out and the number of distinct contents, not their bytes.
    ``progress`` sees phase ``records`` (nodes spooled; total known at its
    end), then ``content_bytes`` (content bytes written, of their total).
    Raises StoreCorrupt (after writing part of the archive, which is then
    unusable) when the store's rows contradict their hashes.
    """
    if compression not in COMPRESSIONS:
        raise ConfigError(
            f"unknown compression {compression!r} (choose from {', '.join(COMPRESSIONS)})"
        )
    counter = _Counting(out)
    progress = throttled(progress)
    with store.snapshot() as view, tempfile.TemporaryFile() as spool:
        info, root_id, ancestors, top = resolve_export(view, ws, root, path)
        records = _Records(spool)
        contents: dict[ContentHash, int] = {}
        counts = _walk(view, ws, records, contents, ancestors, top, progress)
        if progress is not None:
            progress("records", counts["nodes"], counts["nodes"])
        records.finish()
        listing = "".join(f"{digest}  {name}\n" for name, _, digest in records.entries).encode()
        manifest = Manifest(
            workspace=WorkspaceMeta(
                info.workspace_id, info.name, info.description, info.owner or "", info.created_at
            ),
            root_hash=root_id,
            path=top.path,
            node_id=top.node_id,
            counts=Counts(
                contents=len(contents),
                content_bytes=sum(contents.values()),
                records_entries=len(records.entries),
                record_bytes=sum(size for _, size, _ in records.entries),
                **counts,
            ),
            checksums_blake3=blake3.blake3(listing).hexdigest(),
            checksums_size=len(listing),
            compression=compression,
            tool_version=VERSION,
            schemas=SCHEMAS,
        )
        tar = compressor(compression, counter)
        manifest_bytes = manifest.to_bytes()
        _entry(tar, MANIFEST, manifest_bytes)
        if signing_key is not None:
            _entry(tar, SIGNATURE, sign_manifest(manifest_bytes, signing_key))
        _entry(tar, CHECKSUMS, listing)
        spool.seek(0)
        for name, size, _ in records.entries:
            tar.write(entry_header(name, size))
            _copy(spool, size, tar)
            tar.write(bytes(padding(size)))
        _write_contents(view, ws, tar, contents, progress)
        tar.write(END)
        tar.close()
    return ExportReport(manifest, counter.count)


class _Counting:
    """Counts the bytes passed through to the real output."""

    def __init__(self, sink: Writable) -> None:
        self._sink = sink
        self.count = 0

    def write(self, data: bytes) -> None:
        self._sink.write(data)
        self.count += len(data)


class _Records:
    """Spools record lines, cutting and hashing records entries by the 4 MiB rule."""

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool
        self._size = 0
        self._hasher = blake3.blake3()
        self.entries: list[tuple[str, int, str]] = []

    def line(self, record: dict[str, Any], *, typed: bool = True) -> None:
        """Spool one line; ``typed`` lines come from record dataclasses (no float walk needed)."""
        data = encode_line(record, checked=typed)
        if len(data) > MAX_LINE:
            raise StoreCorrupt(f"a {record['kind']} record of {len(data)} bytes cannot be exported")
        if self._size and self._size + len(data) > RECORDS_TARGET:
            self._cut()
        self._spool.write(data)
        self._hasher.update(data)
        self._size += len(data)

    def _cut(self) -> None:
        name = records_name(len(self.entries) + 1)
        self.entries.append((name, self._size, self._hasher.hexdigest()))
        self._size = 0
        self._hasher = blake3.blake3()

    def finish(self) -> None:
        if self._size:
            self._cut()


def _walk(
    store: StorageBackend,
    ws: WorkspaceId,
    records: _Records,
    contents: dict[ContentHash, int],
    ancestors: list[NodeRecord],
    top: NodeRecord,
    progress: ProgressFn | None,
) -> dict[str, int]:
    """Pass 1: agents, ancestors, then the subtree in pre-order with frames, sets and heads."""
    counts = dict.fromkeys(("agents", "ancestors", "nodes", "frames", "frame_sets", "heads"), 0)
    for _, raw in store.list_agents(ws):
        records.line({"kind": "agent", "record": _agent(raw)}, typed=False)
        counts["agents"] += 1
    for record in ancestors:
        records.line({"kind": "ancestor", "record": record.to_dict()})
        counts["ancestors"] += 1
    # Each stack level is one directory's children, fetched with their frames, sets and heads.
    stack: list[Iterator[_Item]] = [iter(_batch(store, ws, [top]))]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        record, state, frames, heads = item
        _node(records, contents, record, state, frames, heads, counts)
        if progress is not None:
            progress("records", counts["nodes"], None)
        if record.kind == "dir" and record.children:
            ids = [child for _, child in record.children]
            found = store.get_nodes(ws, ids)
            missing = [child for child in ids if child not in found]
            if missing:
                raise StoreCorrupt(f"node {missing[0]} of {record.path or '/'} is missing")
            stack.append(iter(_batch(store, ws, [found[child] for child in ids])))
    return counts


_Item = tuple[NodeRecord, NodeSetState | None, list[Frame], dict[str, Any]]


def _batch(store: StorageBackend, ws: WorkspaceId, nodes: list[NodeRecord]) -> list[_Item]:
    """One directory's children with everything exported about them, in three queries.

    ``recent_frames`` with a limit of the largest set's count returns every
    frame of every child at once (a query per node made 100k nodes take minutes).
    """
    ids = [record.node_id for record in nodes]
    sets = store.get_frame_sets(ws, ids)
    heads = store.get_heads_many(ws, ids)
    with_frames = [node for node in ids if node in sets]
    frames: dict[NodeId, list[Frame]] = {}
    if with_frames:
        most = max(sets[node].count for node in with_frames)
        frames = store.recent_frames(ws, with_frames, most)
    return [
        (r, sets.get(r.node_id), frames.get(r.node_id, []), heads.get(r.node_id, {})) for r in nodes
    ]


def _node(
    records: _Records,
    contents: dict[ContentHash, int],
    record: NodeRecord,
    state: NodeSetState | None,
    stored: list[Frame],
    heads: dict[str, Any],
    counts: dict[str, int],
) -> None:
    if record.compute_id() != record.node_id:
        raise StoreCorrupt(f"node {record.node_id} does not hash to its ID")
    records.line({"kind": "node", "record": record.to_dict()})
    counts["nodes"] += 1
    frames = sorted(stored, key=lambda frame: frame.frame_id)
    if state is not None and (
        len(frames) != state.count or root_of([frame.frame_id for frame in frames]) != state.root
    ):
        raise StoreCorrupt(f"the frame set of node {record.node_id} does not match its frames")
    if state is None and frames:
        raise StoreCorrupt(f"node {record.node_id} has frames but no frame set")  # pragma: no cover
    for frame in frames:
        if frame.compute_id() != frame.frame_id:
            raise StoreCorrupt(f"frame {frame.frame_id} does not hash to its ID")
        known = contents.setdefault(frame.content_hash, frame.size)
        if known != frame.size:
            raise StoreCorrupt(
                f"content {frame.content_hash} has two sizes ({known}, {frame.size})"
            )
        records.line({"kind": "frame", "put_seq": frame.put_seq, "record": frame.to_dict()})
    counts["frames"] += len(frames)
    if state is not None:
        records.line(
            {
                "count": state.count,
                "kind": "frame_set",
                "node_id": record.node_id,
                "root": state.root,
            }
        )
        counts["frame_sets"] += 1
    for frame_type in sorted(heads):
        records.line(
            {
                "frame_id": heads[frame_type],
                "frame_type": frame_type,
                "kind": "head",
                "node_id": record.node_id,
            }
        )
    counts["heads"] += len(heads)


def _agent(raw: bytes) -> Any:
    try:
        return loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorrupt(f"an agent record is not JSON: {exc}") from exc


def _entry(tar: Writable, name: str, data: bytes) -> None:
    tar.write(entry_header(name, len(data)))
    tar.write(data)
    tar.write(bytes(padding(len(data))))


def _copy(source: IO[bytes], size: int, sink: Writable) -> None:
    left = size
    while left:
        chunk = source.read(min(_CHUNK, left))
        if not chunk:
            raise StoreCorrupt("the records spool ended early")  # pragma: no cover - local file
        sink.write(chunk)
        left -= len(chunk)


def _write_contents(
    store: StorageBackend,
    ws: WorkspaceId,
    tar: Writable,
    contents: dict[ContentHash, int],
    progress: ProgressFn | None,
) -> None:
    """Pass 2's last part: each distinct content, ascending by hash, streamed (the store re-hashes)."""
    total = sum(contents.values())
    done = 0
    if progress is not None:
        progress("content_bytes", 0, total)
    for digest in sorted(contents):
        size = contents[digest]
        stream = store.blobs.read_stream(ws, digest)
        if stream is None:
            raise StoreCorrupt(f"content {digest} is missing from the store")
        tar.write(entry_header(content_name(digest), size))
        written = 0
        for chunk in stream:  # read_stream re-hashes: IntegrityError after a damaged last chunk
            written += len(chunk)
            if written > size:
                break
            tar.write(chunk)
        if written != size:
            raise StoreCorrupt(
                f"content {digest} in the store is not the {size} bytes its frames say"
            )
        tar.write(bytes(padding(size)))
        done += size
        if progress is not None:
            progress("content_bytes", done, total)
