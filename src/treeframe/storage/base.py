"""The StorageBackend Protocol every backend implements, and its small value types.

Design rules every implementation follows (the conformance suite in
``tests/conformance`` checks them):

* every key is namespaced by workspace ID;
* NodeRecords, frames and contents are written once and never changed; there
  is no update or delete method for them;
* each write method is one atomic transaction; pointers (current root, path
  index, heads, frame-set roots) move only inside such transactions;
* pointer moves that could race use compare-and-set and raise
  :class:`~treeframe.errors.ConcurrentUpdate` when they lose;
* driver errors never escape: they are mapped onto :mod:`treeframe.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, runtime_checkable

from treeframe.frames.frame import Frame
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.tree.records import NodeRecord

__all__ = ["Damaged", "NodeSetState", "RootEntry", "SetRootFn", "StorageBackend"]

SetRootFn = Callable[[list[bytes]], bytes]
"""Computes a frame-set root from the node's raw FrameIDs (see frames.merkle_set)."""


@dataclass(frozen=True, slots=True)
class RootEntry:
    """One entry of a workspace's root history; ``created_at`` is never hashed."""

    seq: int
    root: NodeId
    created_at: str


@dataclass(frozen=True, slots=True)
class NodeSetState:
    """A node's frame Merkle set as stored: its root and member count."""

    root: str
    count: int


@dataclass(frozen=True, slots=True)
class Damaged:
    """A stored row that could not even be parsed (reported by ``verify``)."""

    table: str
    key: str
    reason: str


@runtime_checkable
class StorageBackend(Protocol):
    """Persistent state of any number of workspaces."""

    url: str
    """The URL this store was opened from (no credentials)."""

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""

    def __enter__(self) -> StorageBackend: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    # -- workspaces ---------------------------------------------------------
    def ensure_workspace(self, ws: WorkspaceId, name: str) -> None:
        """Create the workspace if absent (idempotent)."""

    def workspace_name(self, ws: WorkspaceId) -> str | None:
        """Name of the workspace, or None if it does not exist."""

    # -- node records -------------------------------------------------------
    def put_nodes(self, ws: WorkspaceId, records: Sequence[NodeRecord]) -> None:
        """Store records in one transaction; records already present are left as they are."""

    def get_node(self, ws: WorkspaceId, node_id: NodeId) -> NodeRecord | None:
        """O(1) lookup of one record."""

    def get_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> dict[NodeId, NodeRecord]:
        """Batch lookup; missing IDs are absent from the result."""

    # -- current tree, path index and root history --------------------------
    def current_root(self, ws: WorkspaceId) -> RootEntry | None:
        """The workspace's current root, or None before the first scan."""

    def root_history(
        self, ws: WorkspaceId, limit: int, before_seq: int | None = None
    ) -> list[RootEntry]:
        """Up to ``limit`` history entries, newest first, older than ``before_seq``."""

    def lookup_path(self, ws: WorkspaceId, path: str) -> NodeId | None:
        """Current NodeID at a workspace-relative path (``""`` is the root)."""

    def lookup_paths(self, ws: WorkspaceId, paths: Sequence[str]) -> dict[str, NodeId]:
        """Batch form of :meth:`lookup_path`."""

    def begin_scan(self, ws: WorkspaceId) -> str:
        """Open a staging area for a scan's path-index changes; returns its token."""

    def stage_paths(
        self, ws: WorkspaceId, token: str, entries: Sequence[tuple[str, NodeId | None]]
    ) -> None:
        """Stage path-index changes (``None`` deletes the path); nothing is visible yet."""

    def commit_scan(
        self, ws: WorkspaceId, token: str, root: NodeId, expected: NodeId | None, created_at: str
    ) -> RootEntry:
        """Atomically apply the staged paths, move the root and append to history.

        Compare-and-set: raises ConcurrentUpdate (and changes nothing) when
        the current root is not ``expected``. The root NodeRecord must exist.
        """

    def abort_scan(self, ws: WorkspaceId, token: str) -> None:
        """Drop a scan's staging area; no pointer moves."""

    # -- stat cache (machine-local, never exported) -------------------------
    def get_stat_dir(self, ws: WorkspaceId, dir_path: str) -> bytes | None:
        """Encoded stat-cache entries of one directory (see tree.statcache)."""

    def put_stat_dirs(self, ws: WorkspaceId, items: Sequence[tuple[str, bytes]]) -> None:
        """Replace the stat-cache entries of the given directories."""

    # -- frames -------------------------------------------------------------
    def append_frame(
        self, ws: WorkspaceId, frame: Frame, content: bytes, set_root: SetRootFn, created_at: str
    ) -> Frame:
        """Append a frame in one transaction and return it as stored (with ``seq``).

        Idempotent: an existing FrameID is returned unchanged and nothing is
        written. Otherwise, atomically: content stored by hash (once), the
        frame gets the next workspace sequence number, the node's frame-set
        root and count are recomputed with ``set_root``, and the
        (node, type) head moves to it. Raises NodeNotFound when the node
        record does not exist in the workspace.
        """

    def get_frame(self, ws: WorkspaceId, frame_id: FrameId) -> Frame | None:
        """O(1) lookup of one frame (without its content)."""

    def get_frames(self, ws: WorkspaceId, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Batch lookup; missing IDs are absent from the result."""

    def get_content(self, ws: WorkspaceId, digest: ContentHash) -> bytes | None:
        """Content bytes by content hash."""

    def get_contents(
        self, ws: WorkspaceId, digests: Sequence[ContentHash]
    ) -> dict[ContentHash, bytes]:
        """Batch form of :meth:`get_content`."""

    def iter_node_frames(
        self,
        ws: WorkspaceId,
        node_id: NodeId,
        *,
        frame_type: str | None = None,
        agent_id: str | None = None,
    ) -> Iterator[Frame]:
        """A node's frames, newest first (by ``seq``), optionally of one type/agent.

        Served from an index and consumed lazily: callers stop early to stay bounded.
        """

    def node_frame_ids(self, ws: WorkspaceId, node_id: NodeId) -> list[FrameId]:
        """All FrameIDs of a node (for membership proofs and set rebuilds)."""

    def get_frame_set(self, ws: WorkspaceId, node_id: NodeId) -> NodeSetState | None:
        """Stored root and count of a node's frame set (None: no frames yet)."""

    def get_head(self, ws: WorkspaceId, node_id: NodeId, frame_type: str) -> FrameId | None:
        """O(1) head lookup."""

    def get_heads(self, ws: WorkspaceId, node_id: NodeId) -> dict[str, FrameId]:
        """Every head of a node, by frame type."""

    def compare_and_set_head(
        self,
        ws: WorkspaceId,
        node_id: NodeId,
        frame_type: str,
        expected: FrameId | None,
        new: FrameId,
    ) -> None:
        """Move a head only if it still points at ``expected``; else ConcurrentUpdate.

        ``new`` must be a frame of that node and type (else InvalidFrame).
        """

    # -- full iteration: for verify and export only, never for lookups -------
    def iter_all_nodes(self, ws: WorkspaceId) -> Iterator[NodeRecord | Damaged]:
        """Every stored NodeRecord (damaged rows yielded as Damaged)."""

    def iter_all_frames(self, ws: WorkspaceId) -> Iterator[Frame | Damaged]:
        """Every stored frame in ``seq`` order (damaged rows yielded as Damaged)."""

    def iter_all_contents(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every stored content blob with the hash it is stored under."""

    def iter_all_frame_sets(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, NodeSetState]]:
        """Every stored frame-set root."""

    def iter_all_heads(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, str, FrameId]]:
        """Every stored head."""

    def iter_all_paths(self, ws: WorkspaceId) -> Iterator[tuple[str, NodeId]]:
        """Every entry of the current path index."""
