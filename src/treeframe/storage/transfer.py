"""Copy a store (or one workspace) into another, of any backend, and verify the copy.

What ``treeframe migrate`` runs. The source is read through its seams inside
one ``snapshot()`` (a consistent state while others write); the target is
written through :class:`~treeframe.storage.base.BulkImport` plus the
ordinary idempotent writes (``put_nodes``, ``blobs.put``, ``put_agent``,
``put_acl``, ``put_token``), in batches of ``batch`` rows, each batch one
transaction. Memory stays bounded by the batch size.

Resumable and idempotent: before writing a batch the copier asks the target
which of its rows are already there (records, contents, frames) or already
equal (pointers), and writes only the rest; the append-only indexes are
imported as they are (the import leaves present rows alone). A frame's
``put_seq`` is a pointer: a frame present with another one is imported
again, which moves only that. A rerun after
an interruption therefore skips what was copied and ends identical, and a
rerun after success writes nothing.

Order: a workspace's metadata first (every row needs it), then the rows that
are never changed (records, contents, frames), then the indexes, and last
the pointers that name those rows (frame sets, heads, current paths, root
history, then the workspace's final metadata with its tombstone and next
sequence number), so at no moment does a pointer of the target name a row
it lacks. The next sequence number is ``max(put_seq) + 1`` of the source:
the last number a store consumed is the ``put_seq`` of its most recent put.

The copy ends with :func:`verify_copy`: every copied NodeID, FrameID and
content hash is recomputed from the target's rows, and the canonical dumps
(:mod:`treeframe.storage.dump`) of source and target must be equal, kind by
kind; a difference raises IntegrityError naming the first kind that differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import TypeVar

from treeframe.errors import ConfigError, IntegrityError, StoreCorrupt
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import content_hash
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.observability.progress import ProgressFn, throttled
from treeframe.storage.base import (
    Damaged,
    NodeSetState,
    RootEntry,
    StorageBackend,
    WorkspaceInfo,
)
from treeframe.storage.dump import DumpSummary, find_workspace, iter_workspaces, summarize
from treeframe.tree.records import NodeRecord

__all__ = [
    "COPY_KINDS",
    "DEFAULT_BATCH",
    "TransferReport",
    "copy_store",
    "verify_copy",
]

T = TypeVar("T")

DEFAULT_BATCH = 500
"""Rows per batch (one target transaction each)."""

_BLOB_BATCH_BYTES = 8 << 20
"""A contents batch is also cut when its bytes reach this, so big blobs stay bounded."""

COPY_KINDS = (
    "workspace",
    "node",
    "content",
    "frame",
    "basis_ref",
    "path_history",
    "audit",
    "agent",
    "acl",
    "frame_set",
    "head",
    "path",
    "root",
    "token",
)
"""What the copier copies, in copy order (progress reports use these names)."""


@dataclass
class TransferReport:
    """What a copy did: rows seen and rows written per kind, and the verification.

    ``written`` counts the rows the copier found missing or different and
    wrote; for the append-only indexes (``basis_ref``, ``path_history``),
    which have no batch existence read, it counts the rows handed to the
    import, which leaves those already present alone.
    """

    workspaces: list[str] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COPY_KINDS, 0))
    written: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COPY_KINDS, 0))
    source: DumpSummary | None = None
    target: DumpSummary | None = None
    verified: bool = False


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _sound(rows: Iterable[T | Damaged], kind: str) -> Iterator[T]:
    """Rows of the source, refusing a damaged one (a copy must not paper over damage)."""
    for row in rows:
        if isinstance(row, Damaged):
            raise StoreCorrupt(
                f"source {kind} row {row.key} is damaged ({row.reason}): "
                "run 'treeframe verify' on the source first"
            )
        yield row


class _Copier:
    """One copy run: source snapshot, target, batch size, progress and the report."""

    def __init__(
        self,
        source: StorageBackend,
        target: StorageBackend,
        batch: int,
        progress: ProgressFn | None,
        report: TransferReport,
    ) -> None:
        self.source = source
        self.target = target
        self.batch = batch
        self.progress = throttled(progress)
        self.report = report
        self.totals: dict[str, int] = {}  # known totals, summed over the workspaces begun so far

    def _tick(self, kind: str, seen: int, written: int) -> None:
        self.report.seen[kind] += seen
        self.report.written[kind] += written
        if self.progress is not None:
            self.progress(kind, self.report.seen[kind], self.totals.get(kind))

    def workspace(self, info: WorkspaceInfo) -> None:
        """Copy one workspace: rows first, pointers last, metadata and next seq at the end."""
        ws = info.workspace_id
        src, dst = self.source, self.target
        nodes, frames = src.workspace_counts(ws)
        self.totals["node"] = self.totals.get("node", 0) + nodes
        self.totals["frame"] = self.totals.get("frame", 0) + frames
        next_seq = 1 + max((f.put_seq for f in _sound(src.iter_all_frames(ws), "frame")), default=0)
        existing = dst.get_workspace(ws)
        # Created with the source's metadata, but never tombstoned before the end.
        kept = None if existing is None else existing.deleted_at
        dst.import_workspace(replace(info, deleted_at=kept), 1)
        self._tick("workspace", 1, int(existing is None))
        self._nodes(ws)
        self._contents(ws)
        self._frames(ws)
        self._basis_refs(ws)
        self._imported(
            "path_history", src.iter_all_path_history(ws), lambda b: dst.import_path_history(ws, b)
        )
        self._audit(ws)
        self._agents_and_acl(ws)
        self._frame_sets(ws)
        self._heads(ws)
        self._paths(ws)
        self._roots(ws)
        dst.import_workspace(info, next_seq)

    def _nodes(self, ws: WorkspaceId) -> None:
        for chunk in _batches(_sound(self.source.iter_all_nodes(ws), "node"), self.batch):
            present = self.target.get_nodes(ws, [r.node_id for r in chunk])
            missing: list[NodeRecord] = [r for r in chunk if r.node_id not in present]
            if missing:
                self.target.put_nodes(ws, missing)
            self._tick("node", len(chunk), len(missing))

    def _content_batches(self, ws: WorkspaceId) -> Iterator[list[tuple[ContentHash, bytes]]]:
        chunk: list[tuple[ContentHash, bytes]] = []
        size = 0
        for digest, data in self.source.blobs.iter_all(ws):
            chunk.append((digest, data))
            size += len(data)
            if len(chunk) >= self.batch or size >= _BLOB_BATCH_BYTES:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    def _contents(self, ws: WorkspaceId) -> None:
        for chunk in self._content_batches(ws):
            present = self.target.blobs.exists_many(ws, [d for d, _ in chunk])
            missing = [(d, data) for d, data in chunk if d not in present]
            if missing:
                with self.target.unit_of_work():
                    for digest, data in missing:
                        self.target.blobs.put(ws, digest, data)
            self._tick("content", len(chunk), len(missing))

    def _frames(self, ws: WorkspaceId) -> None:
        for chunk in _batches(_sound(self.source.iter_all_frames(ws), "frame"), self.batch):
            present = self.target.get_frames(ws, [f.frame_id for f in chunk])
            missing: list[Frame] = [
                f
                for f in chunk
                if f.frame_id not in present or present[f.frame_id].put_seq != f.put_seq
            ]
            if missing:
                self.target.import_frames(ws, missing)
            self._tick("frame", len(chunk), len(missing))

    def _basis_refs(self, ws: WorkspaceId) -> None:
        for chunk in _batches(self.source.iter_all_basis_refs(ws), self.batch):
            frames = self.source.get_frames(ws, list({f for _, f in chunk}))
            rows: list[tuple[str, int, FrameId]] = []
            for ref, frame_id in chunk:
                frame = frames.get(frame_id)
                if frame is None:
                    raise StoreCorrupt(
                        f"source basis index names frame {frame_id}, which is not stored"
                    )
                rows.append((ref, frame.seq, frame_id))
            self.target.import_basis_refs(ws, rows)
            self._tick("basis_ref", len(chunk), len(chunk))

    def _imported(self, kind: str, rows: Iterable[T], write: Callable[[list[T]], None]) -> None:
        """An append-only index: imported batch by batch (present rows are left alone)."""
        for chunk in _batches(rows, self.batch):
            write(chunk)
            self._tick(kind, len(chunk), len(chunk))

    def _audit(self, ws: WorkspaceId) -> None:
        head = self.target.audit_head(ws)
        done = 0 if head is None else head.seq
        for chunk in _batches(self.source.iter_audit(ws), self.batch):
            fresh = [e for e in chunk if e.seq > done]
            if fresh:
                self.target.import_audit(ws, fresh)
            self._tick("audit", len(chunk), len(fresh))

    def _agents_and_acl(self, ws: WorkspaceId) -> None:
        src, dst = self.source, self.target
        for agent, record in src.list_agents(ws):
            changed = dst.get_agent(ws, agent) != record
            if changed:
                dst.put_agent(ws, agent, record)
            self._tick("agent", 1, int(changed))
        for entry in src.list_acl(ws):
            changed = dst.get_acl(ws, entry.agent_id) != entry
            if changed:
                dst.put_acl(ws, entry)
            self._tick("acl", 1, int(changed))

    def _frame_sets(self, ws: WorkspaceId) -> None:
        for chunk in _batches(self.source.iter_all_frame_sets(ws), self.batch):
            there = self.target.get_frame_sets(ws, [n for n, _ in chunk])
            changed: list[tuple[NodeId, NodeSetState]] = [
                (n, s) for n, s in chunk if there.get(n) != s
            ]
            if changed:
                self.target.import_frame_sets(ws, changed)
            self._tick("frame_set", len(chunk), len(changed))

    def _heads(self, ws: WorkspaceId) -> None:
        for chunk in _batches(self.source.iter_all_heads(ws), self.batch):
            there = self.target.get_heads_many(ws, list({n for n, _, _ in chunk}))
            changed = [(n, t, f) for n, t, f in chunk if there.get(n, {}).get(t) != f]
            if changed:
                self.target.import_heads(ws, changed)
            self._tick("head", len(chunk), len(changed))

    def _paths(self, ws: WorkspaceId) -> None:
        for chunk in _batches(self.source.iter_all_paths(ws), self.batch):
            there = self.target.lookup_paths(ws, [p for p, _ in chunk])
            changed = [(p, n) for p, n in chunk if there.get(p) != n]
            if changed:
                self.target.import_paths(ws, changed)
            self._tick("path", len(chunk), len(changed))

    def _roots(self, ws: WorkspaceId) -> None:
        """Root history last (its newest entry is the current root): imported whole, idempotently.

        The history is one entry per scan, small; the import keeps present
        entries, so a rerun rewrites nothing.
        """
        before: int | None = None
        while True:
            page: list[RootEntry] = self.source.root_history(ws, self.batch, before)
            if not page:
                return
            there = {e.seq for e in self.target.root_history(ws, len(page), page[0].seq + 1)}
            fresh = [e for e in reversed(page) if e.seq not in there]
            if fresh:
                self.target.import_roots(ws, fresh)
            self._tick("root", len(page), len(fresh))
            if len(page) < self.batch:
                return
            before = page[-1].seq

    def tokens(self, scope: WorkspaceId | None) -> None:
        """Tokens (all, or those scoped to the one workspace copied); revocations carried over."""
        after: str | None = None
        while True:
            page = self.source.list_tokens(scope, after=after, limit=self.batch)
            for record in page:
                there = self.target.get_token(record.token_id)
                written = 0
                if there is None:
                    self.target.put_token(record)
                    written = 1
                elif there != record and record.revoked_at is not None:
                    self.target.revoke_token(record.token_id, record.revoked_at)
                    written = 1
                self._tick("token", 1, written)
            if len(page) < self.batch:
                return
            after = page[-1].token_id


def copy_store(
    source: StorageBackend,
    target: StorageBackend,
    *,
    workspace: str | None = None,
    batch: int = DEFAULT_BATCH,
    progress: ProgressFn | None = None,
    verify: bool = True,
) -> TransferReport:
    """Copy every workspace of ``source`` (or the one named/ID'd ``workspace``) into ``target``.

    Resumable and idempotent (see the module docstring); ends with
    :func:`verify_copy` unless ``verify`` is False. ``progress`` sees one
    phase per :data:`COPY_KINDS` entry (rows handled; ``node`` and ``frame``
    know their totals up front), each ended with ``done == total``. Raises
    WorkspaceNotFound before writing anything when ``workspace`` is unknown.
    """
    if batch < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch}")
    if source.url == target.url and not source.url.startswith("memory:"):
        raise ConfigError(f"source and target are the same store ({source.url})")
    report = TransferReport()
    with source.snapshot() as src:
        if workspace is None:
            infos = list(iter_workspaces(src))
            scope: WorkspaceId | None = None
        else:
            infos = [find_workspace(src, workspace)]
            scope = infos[0].workspace_id
        copier = _Copier(src, target, batch, progress, report)
        for info in sorted(infos, key=lambda i: i.workspace_id):
            report.workspaces.append(info.name)
            copier.workspace(info)
        copier.tokens(scope)
        if progress is not None:  # each kind's end: its final count is its total
            for kind in COPY_KINDS:
                progress(kind, report.seen[kind], report.seen[kind])
        if verify:
            report.source, report.target = verify_copy(src, target, scope)
            report.verified = True
    return report


def _recompute(store: StorageBackend, ws: WorkspaceId) -> None:
    """Every NodeID, FrameID and content hash of ``ws`` recomputed from the stored rows."""
    for record in _sound(store.iter_all_nodes(ws), "node"):
        got = record.compute_id()
        if got != record.node_id:
            raise IntegrityError(
                f"node {record.node_id} of the target hashes to {got}",
                expected=record.node_id,
                got=got,
            )
    for frame in _sound(store.iter_all_frames(ws), "frame"):
        got_frame = frame.compute_id()
        if got_frame != frame.frame_id:
            raise IntegrityError(
                f"frame {frame.frame_id} of the target hashes to {got_frame}",
                expected=frame.frame_id,
                got=got_frame,
            )
    for digest, data in store.blobs.iter_all(ws):
        got_content = content_hash(data)
        if got_content != digest:
            raise IntegrityError(
                f"content {digest} of the target hashes to {got_content}",
                expected=digest,
                got=got_content,
            )


def verify_copy(
    source: StorageBackend, target: StorageBackend, workspace: WorkspaceId | None = None
) -> tuple[DumpSummary, DumpSummary]:
    """Check that ``target`` holds what ``source`` holds (one workspace, or all of it).

    Recomputes the target's hashes, then compares record and frame counts,
    heads and every other kind through the canonical dump digests. Raises
    IntegrityError on the first difference; returns both summaries.
    """
    spaces: Sequence[WorkspaceId] = (
        [workspace] if workspace is not None else [i.workspace_id for i in iter_workspaces(source)]
    )
    for ws in spaces:
        if target.get_workspace(ws) is None:
            raise IntegrityError(f"workspace {ws} is missing from the target", expected=ws)
        _recompute(target, ws)
        if source.workspace_counts(ws) != target.workspace_counts(ws):
            raise IntegrityError(
                f"workspace {ws}: (records, frames) differ",
                expected=str(source.workspace_counts(ws)),
                got=str(target.workspace_counts(ws)),
            )
    left, right = summarize(source, workspace), summarize(target, workspace)
    for kind, digest in left.digests.items():
        if right.digests.get(kind) != digest:
            raise IntegrityError(
                f"the target's {kind} rows differ from the source's "
                f"({left.counts[kind]} in the source, {right.counts.get(kind, 0)} in the target)",
                expected=digest,
                got=right.digests.get(kind, ""),
            )
    return left, right
