"""The storage seams every backend implements, one Protocol per concern.

A backend author implements and tests one seam at a time (the packaged
conformance suite, :mod:`treeframe.testing.conformance`, has one test class per
seam): :class:`NodeStore` (tree records, roots, path index, scans),
:class:`FrameStore` (frames, frame sets, heads, recency), :class:`IndexStore`
(path history, basis index), :class:`MetadataStore` (workspaces, agents),
:class:`ExportSource` (full iteration), :class:`AccessStore` (API tokens and
per-workspace ACL entries), :class:`AuditStore` (the per-workspace
audit hash chain) and :class:`BulkImport` (rows written exactly as another
store holds them, for ``treeframe migrate``). :class:`StorageBackend` is
their union plus the lifecycle. Single lookups (``get_node``, ``get_frame``, ``get_head``,
...) are part of the seams but derived from the batch forms by
:class:`~treeframe.storage.derived.BatchDerivedStore`, so a backend writes
only the batch queries.

Design rules every implementation follows (the conformance suite checks them):

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
* heads are read one way: :meth:`FrameStore.get_heads_many` (every head of
  many nodes in one query per batch); ``get_head`` is its single convenience;
* path history and the basis index are append-only indexes, written in the
  same transaction as the change they record and never pruned; their reads
  take a ``limit`` so they stay bounded;
* agent records are opaque bytes owned by the engine; the registry is a
  pointer-like table (insert or replace), not an immutable record;
* tokens and ACL entries are access configuration: they never enter a hash;
  a token is found by its ``token_id`` with one indexed lookup;
* the audit log is append-only: an entry is chained (``seq``, ``prev_hash``,
  ``entry_hash``) by the store inside the transaction that appends it, so
  ``seq`` is gapless per workspace even with concurrent writers;
* driver errors never escape: they are mapped onto :mod:`treeframe.errors`.

The value types live in :mod:`treeframe.storage.values` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol, runtime_checkable

from treeframe.frames.frame import Frame
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.storage.blobs import BlobStore
from treeframe.storage.values import (
    ANY_HEAD,
    AclEntry,
    AnyHead,
    Appended,
    AuditDraft,
    AuditEntry,
    Damaged,
    NodeSetState,
    RootEntry,
    SetRootFn,
    TokenRecord,
    WorkspaceInfo,
    basis_refs,
)
from treeframe.tree.records import NodeRecord

__all__ = [
    "ANY_HEAD",
    "AccessStore",
    "AclEntry",
    "AnyHead",
    "Appended",
    "AuditDraft",
    "AuditEntry",
    "AuditStore",
    "BulkImport",
    "Damaged",
    "ExportSource",
    "FrameStore",
    "IndexStore",
    "MetadataStore",
    "NodeSetState",
    "NodeStore",
    "RootEntry",
    "ScanRows",
    "SetRootFn",
    "StorageBackend",
    "TokenRecord",
    "WorkspaceInfo",
    "basis_refs",
]


@runtime_checkable
class NodeStore(Protocol):
    """Tree records, the current root and its history, the path index and scan staging."""

    def put_nodes(self, ws: WorkspaceId, records: Sequence[NodeRecord]) -> None:
        """Store records in one transaction; records already present are left as they are."""

    def get_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> dict[NodeId, NodeRecord]:
        """Batch lookup; missing IDs are absent from the result."""

    def get_node(self, ws: WorkspaceId, node_id: NodeId) -> NodeRecord | None:
        """One record (derived from :meth:`get_nodes` by ``BatchDerivedStore``)."""

    def current_root(self, ws: WorkspaceId) -> RootEntry | None:
        """The workspace's current root, or None before the first scan."""

    def root_history(
        self, ws: WorkspaceId, limit: int, before_seq: int | None = None
    ) -> list[RootEntry]:
        """Up to ``limit`` history entries, newest first, older than ``before_seq``."""

    def lookup_paths(self, ws: WorkspaceId, paths: Sequence[str]) -> dict[str, NodeId]:
        """Batch form of :meth:`lookup_path`."""

    def lookup_path(self, ws: WorkspaceId, path: str) -> NodeId | None:
        """Current NodeID at a path (``""`` is the root); derived from :meth:`lookup_paths`."""

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


@runtime_checkable
class ScanRows(Protocol):
    """Optional: a scan's writes as ready rows, for a store that keeps records as their JSON.

    A scanner that finds a store with these methods sends what it already
    encoded (hashing workers build file records' canonical JSON, see
    :mod:`treeframe.tree.filehash`) instead of :class:`NodeRecord` objects
    the store would encode again. They mean exactly what :meth:`NodeStore.put_nodes`
    and :meth:`NodeStore.stage_paths` mean; IDs are raw 32-byte digests and
    nothing is re-validated, so only code that computed the rows itself (the
    scanner) calls them.
    """

    def put_node_rows(self, ws: WorkspaceId, rows: Sequence[tuple[bytes, bytes]]) -> None:
        """Store (raw NodeID, ``NodeRecord.to_json()`` bytes) rows in one transaction."""

    def stage_path_rows(
        self, ws: WorkspaceId, token: str, rows: Sequence[tuple[str, bytes | None]]
    ) -> None:
        """Stage (path, raw NodeID or None to delete) rows, as :meth:`NodeStore.stage_paths`."""


@runtime_checkable
class FrameStore(Protocol):
    """Frames and their content, per-node frame sets, heads and recency order."""

    def append_frame(
        self,
        ws: WorkspaceId,
        frame: Frame,
        set_root: SetRootFn,
        created_at: str,
        *,
        expected_head: FrameId | AnyHead | None = ANY_HEAD,
    ) -> Appended:
        """Put a frame in one transaction: append it, or make an existing one current again.

        The content must already be in :attr:`StorageBackend.blobs` (put it
        first): a new frame whose content blob is missing raises
        IntegrityError and writes nothing, so no frame points at missing
        content. A new FrameID, atomically: the frame
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

    def get_frames(self, ws: WorkspaceId, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Batch lookup; missing IDs are absent from the result."""

    def get_frame(self, ws: WorkspaceId, frame_id: FrameId) -> Frame | None:
        """One frame (without its content); derived from :meth:`get_frames`."""

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

    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """Batch form of :meth:`get_frame_set` (nodes without frames are absent)."""

    def get_frame_set(self, ws: WorkspaceId, node_id: NodeId) -> NodeSetState | None:
        """A node's stored set root and count (None: no frames); derived from :meth:`get_frame_sets`."""

    def recent_frames(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId], limit: int
    ) -> dict[NodeId, list[Frame]]:
        """Up to ``limit`` most recently put frames of each node, by ``put_seq`` (one query for all).

        Nodes without frames are absent. This is the batch path of the
        default recency view; filtered views use :meth:`iter_node_frames`.
        """

    def get_heads_many(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, dict[str, FrameId]]:
        """Every head of many nodes, by frame type sorted (nodes without heads are absent).

        The one way to read heads: a typed lookup over many nodes is this
        call filtered by type, so it stays one query per batch of nodes.
        """

    def get_head(self, ws: WorkspaceId, node_id: NodeId, frame_type: str) -> FrameId | None:
        """The (node, type) head, or None; derived from :meth:`get_heads_many`."""


@runtime_checkable
class IndexStore(Protocol):
    """The append-only indexes: path history and the basis index."""

    def path_history_many(
        self, ws: WorkspaceId, paths: Sequence[str], limit: int
    ) -> dict[str, list[tuple[int, NodeId]]]:
        """Batch form of :meth:`path_history` (paths without history are absent)."""

    def path_history(self, ws: WorkspaceId, path: str, limit: int) -> list[tuple[int, NodeId]]:
        """Up to ``limit`` earlier NodeIDs of ``path``, newest first, as ``(seq, node_id)``.

        ``seq`` is the root-history seq of the scan that replaced (changed or
        deleted) that NodeID. :meth:`commit_scan` records one entry for every
        staged path whose indexed NodeID it changes, in its own transaction;
        newly added paths get none. History is append-only. Derived from
        :meth:`path_history_many`.
        """

    def frames_built_on(
        self, ws: WorkspaceId, ref: str, limit: int, after_seq: int | None = None
    ) -> list[tuple[int, FrameId]]:
        """Up to ``limit`` frames whose basis names ``ref`` (a NodeID or FrameID), as ``(seq, id)``.

        Ordered by the dependent frame's ``seq``, oldest first, starting after
        ``after_seq`` (keyset paging: pass the last ``seq`` of a page to get the
        next one; a page shorter than ``limit`` is the last). Served from the
        basis index that :meth:`append_frame` maintains.
        """


@runtime_checkable
class MetadataStore(Protocol):
    """Workspaces and the agent registry (configuration, not records)."""

    def create_workspace(self, info: WorkspaceInfo) -> tuple[WorkspaceInfo, bool]:
        """Create the workspace ``info`` names, idempotently by ``info.workspace_id``.

        Returns the stored info and whether this call created it: an existing
        workspace wins and nothing changes. Raises WorkspaceDeleted (and
        changes nothing) when the existing one is tombstoned.
        """

    def get_workspace(self, ws: WorkspaceId) -> WorkspaceInfo | None:
        """A workspace's metadata, tombstoned ones included (``deleted_at`` set); None if unknown."""

    def list_workspaces(
        self, *, include_deleted: bool = False, after: str | None = None, limit: int = 100
    ) -> list[WorkspaceInfo]:
        """Up to ``limit`` workspaces ordered by name, after the name ``after`` (keyset paging)."""

    def set_workspace_deleted(self, ws: WorkspaceId, deleted_at: str | None) -> WorkspaceInfo:
        """Tombstone a workspace (``deleted_at`` a time string) or restore it (None).

        Only the metadata changes: the workspace's data is kept untouched.
        Raises WorkspaceNotFound for an unknown workspace.
        """

    def workspace_counts(self, ws: WorkspaceId) -> tuple[int, int]:
        """``(node records, frames)`` stored in ``ws`` (every version ever stored, not one tree)."""

    def put_agent(self, ws: WorkspaceId, agent_id: str, record: bytes) -> None:
        """Insert or replace one agent's record (opaque bytes; the engine owns its schema)."""

    def get_agent(self, ws: WorkspaceId, agent_id: str) -> bytes | None:
        """One agent's record, or None if it is not registered."""

    def list_agents(self, ws: WorkspaceId) -> list[tuple[str, bytes]]:
        """Every registered ``(agent_id, record)``, sorted by agent ID."""


@runtime_checkable
class ExportSource(Protocol):
    """Full iteration of a workspace: for verify and export only, never for lookups."""

    def iter_all_nodes(self, ws: WorkspaceId) -> Iterator[NodeRecord | Damaged]:
        """Every stored NodeRecord (damaged rows yielded as Damaged)."""

    def iter_all_frames(self, ws: WorkspaceId) -> Iterator[Frame | Damaged]:
        """Every stored frame in ``seq`` order (damaged rows yielded as Damaged)."""

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


@runtime_checkable
class AccessStore(Protocol):
    """API tokens (by token ID) and per-workspace ACL entries: access configuration, never hashed."""

    def put_token(self, record: TokenRecord) -> None:
        """Store a new token; Conflict (nothing written) if its ``token_id`` is taken.

        A scoped token's workspace must exist (WorkspaceNotFound otherwise).
        """

    def get_token(self, token_id: str) -> TokenRecord | None:
        """One token by its ID (a primary-key lookup), revoked and expired ones included."""

    def list_tokens(
        self, ws: WorkspaceId | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[TokenRecord]:
        """Up to ``limit`` tokens by token ID after ``after``: those scoped to ``ws``, or all (None)."""

    def revoke_token(self, token_id: str, revoked_at: str) -> TokenRecord | None:
        """Mark a token revoked (the first revocation time is kept); the record, None if unknown."""

    def put_acl(self, ws: WorkspaceId, entry: AclEntry) -> None:
        """Insert or replace one agent's ACL entry in ``ws`` (WorkspaceNotFound if unknown)."""

    def get_acl(self, ws: WorkspaceId, agent_id: str) -> AclEntry | None:
        """One agent's ACL entry in ``ws``, or None."""

    def delete_acl(self, ws: WorkspaceId, agent_id: str) -> bool:
        """Remove one agent's ACL entry; whether there was one."""

    def list_acl(self, ws: WorkspaceId) -> list[AclEntry]:
        """Every ACL entry of ``ws``, sorted by agent ID."""

    def list_workspaces_of_agent(
        self,
        agent_id: str,
        *,
        include_deleted: bool = False,
        after: str | None = None,
        limit: int = 100,
    ) -> list[WorkspaceInfo]:
        """Workspaces by name (keyset after ``after``) ``agent_id`` owns, is listed or registered in.

        The candidates the engine then filters for what the agent holds there.
        """


@runtime_checkable
class AuditStore(Protocol):
    """The tamper-evident audit log: one hash chain of entries per workspace."""

    def append_audit(self, ws: WorkspaceId, draft: AuditDraft) -> AuditEntry:
        """Chain ``draft`` after the workspace's last entry and store it, in one transaction.

        The store assigns ``seq`` (last + 1, from 1) and ``prev_hash`` and
        computes ``entry_hash`` with :func:`~treeframe.storage.values.chain_entry`
        under its write lock; inside a unit of work the entry commits or rolls
        back with the change it records. Raises WorkspaceNotFound for an
        unknown workspace.
        """

    def audit_head(self, ws: WorkspaceId) -> AuditEntry | None:
        """The entry with the highest ``seq``, or None for an empty log."""

    def list_audit(
        self,
        ws: WorkspaceId,
        *,
        after_seq: int | None = None,
        limit: int = 100,
        agent: str | None = None,
        operation: str | None = None,
        node: str | None = None,
    ) -> list[AuditEntry]:
        """Up to ``limit`` entries by ascending ``seq`` after ``after_seq``, optionally filtered.

        Keyset paging: pass the last ``seq`` of a page to get the next one.
        """

    def iter_audit(self, ws: WorkspaceId) -> Iterator[AuditEntry]:
        """Every stored entry by ascending ``seq``, as stored (for verification)."""


@runtime_checkable
class BulkImport(Protocol):
    """Rows written exactly as another store holds them: for migration and snapshot import only.

    The engine never calls these: they bypass every engine rule (seq
    assignment, set recomputation, head moves, chaining) so a copy keeps the
    source's numbers and hashes bit for bit. Each call is one transaction
    (joining a unit of work) and idempotent: an immutable row already present
    (same key) is left as it is, a pointer row (head, path, frame set) is
    replaced. Referential rules are not checked here; the copier verifies the
    target when it is done. Workspaces must exist first (:meth:`import_workspace`).
    """

    def import_workspace(self, info: WorkspaceInfo, next_seq: int) -> None:
        """Create the workspace or replace its metadata; its next frame seq becomes at least ``next_seq``."""

    def import_frames(self, ws: WorkspaceId, frames: Sequence[Frame]) -> None:
        """Frames as stored (``seq``, ``put_seq``, ``created_at`` kept); no head, set or basis row moves.

        A FrameID already present keeps its record (``seq``, ``created_at``,
        metadata); only its ``put_seq``, the recency pointer, takes the given
        value, so a rerun after the source re-put a frame converges.
        """

    def import_frame_sets(
        self, ws: WorkspaceId, sets: Sequence[tuple[NodeId, NodeSetState]]
    ) -> None:
        """Frame-set roots and counts as stored."""

    def import_heads(self, ws: WorkspaceId, heads: Sequence[tuple[NodeId, str, FrameId]]) -> None:
        """(node, type) heads as stored."""

    def import_roots(self, ws: WorkspaceId, entries: Sequence[RootEntry]) -> None:
        """Root-history entries as stored; the one with the highest seq is the current root."""

    def import_paths(self, ws: WorkspaceId, entries: Sequence[tuple[str, NodeId]]) -> None:
        """Current path-index entries."""

    def import_path_history(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, NodeId]]
    ) -> None:
        """Path-history entries as ``(path, seq, previous NodeID)``."""

    def import_basis_refs(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, FrameId]]
    ) -> None:
        """Basis-index entries as ``(referenced ID, dependent frame's seq, dependent FrameID)``."""

    def import_audit(self, ws: WorkspaceId, entries: Sequence[AuditEntry]) -> None:
        """Audit entries exactly as stored (``seq`` and both hashes kept, never re-chained)."""


@runtime_checkable
class StorageBackend(
    NodeStore,
    FrameStore,
    IndexStore,
    MetadataStore,
    ExportSource,
    AccessStore,
    AuditStore,
    BulkImport,
    Protocol,
):
    """Persistent state of any number of workspaces: every seam plus the lifecycle."""

    url: str
    """The URL this store was opened from (no credentials)."""

    blobs: BlobStore
    """Content bytes by hash; written before the frames that name them."""

    def unit_of_work(self) -> AbstractContextManager[None]:
        """Make every write of this thread inside the block one all-or-nothing transaction.

        Every write method called on the store (blobs included) inside the
        block, in the same thread, joins one transaction: it commits when the
        block exits and rolls back entirely when an exception leaves it (a
        lost compare-and-set included). Other threads and processes never see
        part of it. Outside a unit each write method is its own transaction.
        A nested unit joins the outer one.
        """

    def snapshot(self) -> AbstractContextManager[StorageBackend]:
        """A read-only view answering every read and export from one consistent state.

        The state is the store's when the block starts, whatever other
        threads and processes write meanwhile; the view's writes raise
        StorageError, and it is unusable after the block.
        """

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""

    def __enter__(self) -> StorageBackend: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
