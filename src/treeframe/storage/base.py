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
* a frame's (node, type) head is the frame of that type most recently put
  there: a new frame, or an existing one put again (a re-put makes it
  current again and most recent in recency order, without touching the
  immutable record or the frame set);
* path history and the basis index are append-only indexes, written in the
  same transaction as the change they record and never pruned; their reads
  take a ``limit`` so they stay bounded;
* agent records are opaque bytes owned by the engine; the registry is a
  pointer-like table (insert or replace), not an immutable record;
* driver errors never escape: they are mapped onto :mod:`treeframe.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Protocol, runtime_checkable

from treeframe.frames.frame import Frame
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.tree.records import NodeRecord

__all__ = [
    "ANY_HEAD",
    "Appended",
    "Damaged",
    "NodeSetState",
    "RootEntry",
    "SetRootFn",
    "StorageBackend",
    "basis_refs",
]

SetRootFn = Callable[[list[bytes]], bytes]
"""Computes a frame-set root from the node's raw FrameIDs (see frames.merkle_set)."""


class _AnyHead:
    """Type of :data:`ANY_HEAD`; it has exactly one instance."""

    __slots__ = ()
    _instance: _AnyHead | None = None

    def __new__(cls) -> _AnyHead:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ANY_HEAD"

    def __reduce__(self) -> str:
        return "ANY_HEAD"  # unpickles as the module-level singleton


ANY_HEAD: Final[_AnyHead] = _AnyHead()
"""``append_frame(expected_head=ANY_HEAD)``: append without checking the current head."""


def basis_refs(frame: Frame) -> list[str]:
    """IDs a frame's basis names, in basis order without repeats (the basis-index keys).

    The node of a ``node`` / ``node+frame`` basis, the frame of a ``frame`` /
    ``node+frame`` basis and every child frame of a ``synthesis`` basis.
    """
    basis = frame.basis
    refs: list[str] = []
    if basis.node_id is not None:
        refs.append(basis.node_id)
    if basis.frame_id is not None:
        refs.append(basis.frame_id)
    refs.extend(basis.child_frames)
    return list(dict.fromkeys(refs))


@dataclass(frozen=True, slots=True)
class RootEntry:
    """One entry of a workspace's root history; ``created_at`` is never hashed."""

    seq: int
    root: NodeId
    created_at: str


@dataclass(frozen=True, slots=True)
class Appended:
    """What :meth:`StorageBackend.append_frame` did.

    ``frame`` is the frame as stored (its record, metadata and content type
    are those of the first append; ``put_seq`` is current). ``created`` is
    False when the FrameID was already stored: nothing new was written, at
    most the head and recency pointer moved back to it.
    """

    frame: Frame
    created: bool


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

    def path_history(self, ws: WorkspaceId, path: str, limit: int) -> list[tuple[int, NodeId]]:
        """Up to ``limit`` earlier NodeIDs of ``path``, newest first, as ``(seq, node_id)``.

        ``seq`` is the root-history seq of the scan that replaced (changed or
        deleted) that NodeID. :meth:`commit_scan` records one entry for every
        staged path whose indexed NodeID it changes, in its own transaction;
        newly added paths get none. History is append-only.
        """

    # -- stat cache (machine-local, never exported) -------------------------
    def get_stat_dir(self, ws: WorkspaceId, dir_path: str) -> bytes | None:
        """Encoded stat-cache entries of one directory (see tree.statcache)."""

    def put_stat_dirs(self, ws: WorkspaceId, items: Sequence[tuple[str, bytes]]) -> None:
        """Replace the stat-cache entries of the given directories."""

    # -- agent registry (configuration: insert or replace) -------------------
    def put_agent(self, ws: WorkspaceId, agent_id: str, record: bytes) -> None:
        """Insert or replace one agent's record (opaque bytes; the engine owns its schema)."""

    def get_agent(self, ws: WorkspaceId, agent_id: str) -> bytes | None:
        """One agent's record, or None if it is not registered."""

    def list_agents(self, ws: WorkspaceId) -> list[tuple[str, bytes]]:
        """Every registered ``(agent_id, record)``, sorted by agent ID."""

    # -- frames -------------------------------------------------------------
    def append_frame(
        self,
        ws: WorkspaceId,
        frame: Frame,
        content: bytes,
        set_root: SetRootFn,
        created_at: str,
        *,
        expected_head: FrameId | _AnyHead | None = ANY_HEAD,
    ) -> Appended:
        """Put a frame in one transaction: append it, or make an existing one current again.

        A new FrameID, atomically: content stored by hash (once), the frame
        gets the next workspace sequence number (``seq`` = ``put_seq``), the
        node's frame-set root and count are recomputed with ``set_root``, the
        (node, type) head moves to it, and one basis-index row per
        :func:`basis_refs` entry is recorded. Raises NodeNotFound when the
        node record does not exist in the workspace.

        An existing FrameID (``created`` False; the stored record, metadata
        and content type win over the argument's): when it is its (node,
        type) head, nothing is written. Otherwise it becomes current again:
        the next workspace sequence number becomes its ``put_seq`` (the
        most recent in recency order) and the head moves to it; the record,
        the frame set and the basis index stay as they are.

        Compare-and-set: unless ``expected_head`` is :data:`ANY_HEAD`, any
        write (an append or a head move) happens only if the current (node,
        type) head is ``expected_head`` (None: no head yet), checked in the
        same transaction; otherwise ConcurrentUpdate is raised and nothing is
        written (no seq is consumed). A put of the current head succeeds
        whatever ``expected_head`` says: retrying a write that succeeded must
        not fail. This serializes writers of one head, e.g. per-directory
        synthesis across threads and processes.
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
        """A node's frames, most recently put first (by ``put_seq``), optionally of one type/agent.

        Served from an index and consumed lazily: callers stop early to stay bounded.
        """

    def node_frame_ids(self, ws: WorkspaceId, node_id: NodeId) -> list[FrameId]:
        """All FrameIDs of a node (for membership proofs and set rebuilds)."""

    def get_frame_set(self, ws: WorkspaceId, node_id: NodeId) -> NodeSetState | None:
        """Stored root and count of a node's frame set (None: no frames yet)."""

    def get_heads_many(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, dict[str, FrameId]]:
        """Every head of many nodes (nodes without heads are absent)."""

    def path_history_many(
        self, ws: WorkspaceId, paths: Sequence[str], limit: int
    ) -> dict[str, list[tuple[int, NodeId]]]:
        """Batch form of :meth:`path_history` (paths without history are absent)."""

    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """Batch form of :meth:`get_frame_set` (nodes without frames are absent)."""

    def recent_frames(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId], limit: int
    ) -> dict[NodeId, list[Frame]]:
        """Up to ``limit`` most recently put frames of each node, by ``put_seq`` (one query for all).

        Nodes without frames are absent. This is the batch path of the
        default recency view; filtered views use :meth:`iter_node_frames`.
        """

    def get_head(self, ws: WorkspaceId, node_id: NodeId, frame_type: str) -> FrameId | None:
        """O(1) head lookup."""

    def get_heads(self, ws: WorkspaceId, node_id: NodeId) -> dict[str, FrameId]:
        """Every head of a node, by frame type."""

    def get_heads_batch(
        self, ws: WorkspaceId, keys: Sequence[tuple[NodeId, str]]
    ) -> dict[tuple[NodeId, str], FrameId]:
        """Heads of many ``(node, frame_type)`` keys in a few queries; missing keys are absent."""

    def frames_built_on(
        self, ws: WorkspaceId, ref: str, limit: int, after_seq: int | None = None
    ) -> list[tuple[int, FrameId]]:
        """Up to ``limit`` frames whose basis names ``ref`` (a NodeID or FrameID), as ``(seq, id)``.

        Ordered by the dependent frame's ``seq``, oldest first, starting after
        ``after_seq`` (keyset paging: pass the last ``seq`` of a page to get the
        next one; a page shorter than ``limit`` is the last). Served from the
        basis index that :meth:`append_frame` maintains.
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

    def iter_all_path_history(self, ws: WorkspaceId) -> Iterator[tuple[str, int, NodeId]]:
        """Every path-history entry as (path, seq, previous NodeID), by path then seq."""

    def iter_all_basis_refs(self, ws: WorkspaceId) -> Iterator[tuple[str, FrameId]]:
        """Every basis-index entry as (referenced ID, dependent FrameID)."""
