"""MemoryStore: the dict-backed reference backend (a real store, not a mock).

One re-entrant lock makes every write atomic. Path history and the basis
index are lists appended under that lock, so they are in ``seq`` order by
construction. A unit of work writes in place and keeps an undo journal of
what it changed (a key's old value, a list's old length), so its cost is the
size of its changes, never of the store; the journal is replayed backwards
when the unit fails. Writes refuse malformed IDs (uppercase, padded, short) with
InvalidId before touching anything, exactly like the SQLite backend; reads of
such an ID find nothing.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TypeVar

from treeframe.errors import (
    ConcurrentUpdate,
    NodeNotFound,
    StorageError,
    WorkspaceNotFound,
)
from treeframe.frames.frame import Frame
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId, parse_hex_id
from treeframe.storage.blobs import BlobStore, verified_digest
from treeframe.storage.derived import BatchDerivedStore
from treeframe.storage.values import (
    ANY_HEAD,
    AnyHead,
    Appended,
    AuditDraft,
    AuditEntry,
    Damaged,
    NodeSetState,
    RootEntry,
    SetRootFn,
    WorkspaceInfo,
    basis_refs,
    chain_entry,
    missing_content,
    workspace_deleted,
)
from treeframe.tree.records import NodeRecord

__all__ = ["MemoryStore"]

_K = TypeVar("_K")
_V = TypeVar("_V")
_T = TypeVar("_T")


@dataclass
class _Workspace:
    info: WorkspaceInfo
    next_seq: int = 1
    nodes: dict[NodeId, NodeRecord] = field(default_factory=dict)
    paths: dict[str, NodeId] = field(default_factory=dict)
    history: list[RootEntry] = field(default_factory=list)
    staging: dict[str, dict[str, NodeId | None]] = field(default_factory=dict)
    frames: dict[FrameId, Frame] = field(default_factory=dict)
    contents: dict[ContentHash, bytes] = field(default_factory=dict)
    node_frames: dict[NodeId, list[Frame]] = field(default_factory=dict)  # by put_seq
    sets: dict[NodeId, NodeSetState] = field(default_factory=dict)
    heads: dict[tuple[NodeId, str], FrameId] = field(default_factory=dict)
    node_heads: dict[NodeId, dict[str, FrameId]] = field(default_factory=dict)  # by node
    agents: dict[str, bytes] = field(default_factory=dict)
    path_history: dict[str, list[tuple[int, NodeId]]] = field(default_factory=dict)  # seq order
    built_on: dict[str, list[tuple[int, FrameId]]] = field(default_factory=dict)  # by seq
    audit: list[AuditEntry] = field(default_factory=list)  # by seq

    def copy(self) -> _Workspace:
        """An independent copy: every container copied, the immutable values shared."""
        return _Workspace(
            self.info,
            self.next_seq,
            dict(self.nodes),
            dict(self.paths),
            list(self.history),
            {token: dict(stage) for token, stage in self.staging.items()},
            dict(self.frames),
            dict(self.contents),
            {node: list(frames) for node, frames in self.node_frames.items()},
            dict(self.sets),
            dict(self.heads),
            {node: dict(heads) for node, heads in self.node_heads.items()},
            dict(self.agents),
            {path: list(entries) for path, entries in self.path_history.items()},
            {ref: list(entries) for ref, entries in self.built_on.items()},
            list(self.audit),
        )


class MemoryBlobs:
    """The memory store's blob store: its workspaces' ``contents`` maps, under its lock."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def put(self, ws: WorkspaceId, digest: ContentHash, data: bytes) -> bool:
        """Verify and store once."""
        verified_digest(digest, data)
        with self._store._writing():
            contents = self._store._ws(ws).contents
            if digest in contents:
                return False
            self._store._keep_key(contents, digest)
            contents[digest] = bytes(data)
            return True

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Stored bytes by hash."""
        contents = self._store._ws(ws).contents
        return {d: contents[d] for d in digests if d in contents}

    def exists_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Stored hashes among ``digests``."""
        contents = self._store._ws(ws).contents
        return {d for d in digests if d in contents}

    def iter_all(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every blob of ``ws``."""
        yield from list(self._store._ws(ws).contents.items())


class MemoryStore(BatchDerivedStore):
    """Keeps everything in process memory; one lock makes every write atomic."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._committed: dict[WorkspaceId, _Workspace] = {}
        self._unit_owner: int | None = None  # the thread running a unit of work
        self._journal: list[Callable[[], None]] | None = None  # that unit's undo steps
        self._read_only = False  # a snapshot
        self.blobs: BlobStore = MemoryBlobs(self)
        self._closed = False

    @property
    def _spaces(self) -> dict[WorkspaceId, _Workspace]:
        """The state; a reader waits while another thread's unit of work is open (isolation)."""
        owner = self._unit_owner
        if owner is not None and owner != threading.get_ident():
            with self._lock:
                pass
        return self._committed

    # -- the undo journal of a unit of work (no-ops outside one) ---------------
    def _keep_key(self, mapping: MutableMapping[_K, _V], key: _K) -> None:
        """Journal ``mapping[key]`` (or its absence) before a write changes it."""
        if self._journal is None:
            return
        if key in mapping:
            old = mapping[key]

            def restore() -> None:
                mapping[key] = old

            self._journal.append(restore)
        else:
            self._journal.append(lambda: mapping.pop(key, None))  # type: ignore[arg-type]

    def _keep_list(self, mapping: MutableMapping[_K, list[_T]], key: _K) -> None:
        """Journal the list at ``mapping[key]`` (its items, or its absence) before it changes."""
        if self._journal is None:
            return
        if key not in mapping:
            self._keep_key(mapping, key)
            return
        items = mapping[key]
        old = list(items)

        def restore() -> None:
            items[:] = old

        self._journal.append(restore)

    def _keep_attr(self, obj: _Workspace, name: str) -> None:
        """Journal one attribute of a workspace (its info, its sequence counter)."""
        if self._journal is not None:
            old = getattr(obj, name)
            self._journal.append(lambda: setattr(obj, name, old))

    def _keep_len(self, items: list[_T]) -> None:
        """Journal a list's length before items are appended to it."""
        if self._journal is not None:
            n = len(items)

            def restore() -> None:
                del items[n:]

            self._journal.append(restore)

    def _writing(self) -> AbstractContextManager[object]:
        """The write lock; a snapshot refuses every write."""
        if self._read_only:
            raise StorageError("a snapshot is read-only")
        return self._lock

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Writes of this thread inside join one all-or-nothing unit (undo journal).

        The write lock is held for the whole unit (as SQLite's BEGIN IMMEDIATE
        holds the write lock) and readers of other threads wait for it, so
        nobody sees half a unit. Writes apply in place and journal what they
        change; an exception replays the journal backwards. Nothing is copied
        up front, so a unit costs what it writes. A nested unit joins the outer one.
        """
        if self._unit_owner == threading.get_ident():
            yield
            return
        with self._writing():
            self._unit_owner = threading.get_ident()
            self._journal = []
            try:
                yield
            except BaseException:
                for undo in reversed(self._journal):
                    undo()
                raise
            finally:
                self._journal = None
                self._unit_owner = None

    @contextmanager
    def snapshot(self) -> Iterator[MemoryStore]:
        """A read-only store over a frozen copy of the committed state."""
        with self._lock:
            frozen = {ws: space.copy() for ws, space in self._committed.items()}
        view = MemoryStore(self.url)
        view._committed = frozen
        view._read_only = True
        try:
            yield view
        finally:
            view.close()

    def close(self) -> None:
        """Mark the store closed."""
        self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _ws(self, ws: WorkspaceId) -> _Workspace:
        if self._closed:
            raise StorageError("store is closed")
        space = self._spaces.get(ws)
        if space is None:
            raise WorkspaceNotFound(f"workspace {ws} does not exist in this store")
        return space

    # -- workspaces ---------------------------------------------------------
    def create_workspace(self, info: WorkspaceInfo) -> tuple[WorkspaceInfo, bool]:
        """Create the workspace if absent; an existing one wins (a tombstoned one raises)."""
        parse_hex_id(info.workspace_id, "workspace ID")
        with self._writing():
            space = self._spaces.get(info.workspace_id)
            if space is None:
                self._keep_key(self._spaces, info.workspace_id)
                self._spaces[info.workspace_id] = _Workspace(info)
                return info, True
            if space.info.deleted_at is not None:
                raise workspace_deleted(space.info)
            return space.info, False

    def get_workspace(self, ws: WorkspaceId) -> WorkspaceInfo | None:
        """A workspace's metadata (tombstoned included), or None."""
        space = self._spaces.get(ws)
        return space.info if space else None

    def list_workspaces(
        self, *, include_deleted: bool = False, after: str | None = None, limit: int = 100
    ) -> list[WorkspaceInfo]:
        """Workspaces by name, keyset-paged after the name ``after``."""
        with self._lock:  # a read: a consistent list
            infos = sorted((s.info for s in self._spaces.values()), key=lambda i: i.name)
        return [
            info
            for info in infos
            if (include_deleted or info.deleted_at is None) and (after is None or info.name > after)
        ][: max(limit, 0)]

    def set_workspace_deleted(self, ws: WorkspaceId, deleted_at: str | None) -> WorkspaceInfo:
        """Tombstone or restore a workspace; its data stays as it is."""
        with self._writing():
            space = self._spaces.get(ws)
            if space is None:
                raise WorkspaceNotFound(f"no workspace {ws} in this store")
            self._keep_attr(space, "info")
            space.info = replace(space.info, deleted_at=deleted_at)
            return space.info

    # -- node records -------------------------------------------------------
    def put_nodes(self, ws: WorkspaceId, records: Sequence[NodeRecord]) -> None:
        """Store records; existing ones are kept."""
        for record in records:
            parse_hex_id(record.node_id, "NodeID")
        with self._writing():
            nodes = self._ws(ws).nodes
            for record in records:
                if record.node_id not in nodes:
                    self._keep_key(nodes, record.node_id)
                    nodes[record.node_id] = record

    def get_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> dict[NodeId, NodeRecord]:
        """Records by ID."""
        nodes = self._ws(ws).nodes
        return {n: nodes[n] for n in node_ids if n in nodes}

    # -- current tree -------------------------------------------------------
    def current_root(self, ws: WorkspaceId) -> RootEntry | None:
        """Newest history entry."""
        history = self._ws(ws).history
        return history[-1] if history else None

    def root_history(
        self, ws: WorkspaceId, limit: int, before_seq: int | None = None
    ) -> list[RootEntry]:
        """History, newest first."""
        entries = [
            e for e in reversed(self._ws(ws).history) if before_seq is None or e.seq < before_seq
        ]
        return entries[:limit]

    def lookup_paths(self, ws: WorkspaceId, paths: Sequence[str]) -> dict[str, NodeId]:
        """Current NodeIDs at paths."""
        index = self._ws(ws).paths
        return {p: index[p] for p in paths if p in index}

    def begin_scan(self, ws: WorkspaceId) -> str:
        """Open a staging area."""
        with self._writing():
            token = uuid.uuid4().hex
            staging = self._ws(ws).staging
            self._keep_key(staging, token)
            staging[token] = {}
            return token

    def stage_paths(
        self, ws: WorkspaceId, token: str, entries: Sequence[tuple[str, NodeId | None]]
    ) -> None:
        """Stage path changes."""
        for _path, node in entries:
            if node is not None:
                parse_hex_id(node, "NodeID")
        with self._writing():
            stage = self._stage(ws, token)
            for path, node in entries:
                self._keep_key(stage, path)
                stage[path] = node

    def _stage(self, ws: WorkspaceId, token: str) -> dict[str, NodeId | None]:
        try:
            return self._ws(ws).staging[token]
        except KeyError:
            raise StorageError(f"unknown scan token {token!r}") from None

    def commit_scan(
        self, ws: WorkspaceId, token: str, root: NodeId, expected: NodeId | None, created_at: str
    ) -> RootEntry:
        """Apply staged paths and move the root (compare-and-set)."""
        with self._writing():
            space = self._ws(ws)
            stage = self._stage(ws, token)
            current = space.history[-1].root if space.history else None
            if current != expected:
                raise ConcurrentUpdate(
                    "the workspace root moved during the scan; scan again",
                    expected=expected or "",
                    actual=current or "",
                )
            if root not in space.nodes:
                raise NodeNotFound(f"root node {root} is not stored")
            seq = space.history[-1].seq + 1 if space.history else 1
            for path, node in stage.items():
                old = space.paths.get(path)
                if old is not None and old != node:
                    self._keep_list(space.path_history, path)
                    space.path_history.setdefault(path, []).append((seq, old))
                self._keep_key(space.paths, path)
                if node is None:
                    space.paths.pop(path, None)
                else:
                    space.paths[path] = node
            self._keep_key(space.staging, token)
            del space.staging[token]
            entry = RootEntry(seq, root, created_at)
            self._keep_len(space.history)
            space.history.append(entry)
            return entry

    def abort_scan(self, ws: WorkspaceId, token: str) -> None:
        """Drop the staging area."""
        with self._writing():
            staging = self._ws(ws).staging
            self._keep_key(staging, token)
            staging.pop(token, None)

    # -- agent registry -----------------------------------------------------
    def put_agent(self, ws: WorkspaceId, agent_id: str, record: bytes) -> None:
        """Insert or replace an agent's record."""
        with self._writing():
            agents = self._ws(ws).agents
            self._keep_key(agents, agent_id)
            agents[agent_id] = bytes(record)

    def get_agent(self, ws: WorkspaceId, agent_id: str) -> bytes | None:
        """An agent's record, or None."""
        return self._ws(ws).agents.get(agent_id)

    def list_agents(self, ws: WorkspaceId) -> list[tuple[str, bytes]]:
        """Every agent record, sorted by agent ID."""
        return sorted(self._ws(ws).agents.items())

    # -- frames -------------------------------------------------------------
    def append_frame(
        self,
        ws: WorkspaceId,
        frame: Frame,
        set_root: SetRootFn,
        created_at: str,
        *,
        expected_head: FrameId | AnyHead | None = ANY_HEAD,
    ) -> Appended:
        """Put a frame atomically: append it, or make an existing one current again."""
        parse_hex_id(frame.frame_id, "FrameID")
        parse_hex_id(frame.node_id, "NodeID")
        parse_hex_id(frame.content_hash, "content hash")
        for ref in basis_refs(frame):
            parse_hex_id(ref, "basis reference")
        with self._writing():
            space = self._ws(ws)
            head_key = (frame.node_id, frame.frame_type)
            current = space.heads.get(head_key)
            existing = space.frames.get(frame.frame_id)
            if existing is not None and current == frame.frame_id:
                return Appended(existing, False)
            if existing is None and frame.node_id not in space.nodes:
                raise NodeNotFound(f"node {frame.node_id} does not exist in this workspace")
            if existing is None and frame.content_hash not in space.contents:
                raise missing_content(frame)
            if not isinstance(expected_head, AnyHead) and current != expected_head:
                raise ConcurrentUpdate(
                    f"head of {frame.frame_type!r} on {frame.node_id} moved",
                    expected=expected_head or "",
                    actual=current or "",
                )
            self._keep_attr(space, "next_seq")
            seq = space.next_seq
            space.next_seq += 1
            self._keep_list(space.node_frames, frame.node_id)
            node_frames = space.node_frames.setdefault(frame.node_id, [])
            if existing is not None:
                # A re-put: a pointer move to the end of the recency order.
                stored = replace(existing, put_seq=seq)
                node_frames.remove(existing)
            else:
                members = [bytes.fromhex(f.frame_id) for f in node_frames]
                members.append(bytes.fromhex(frame.frame_id))
                self._keep_key(space.sets, frame.node_id)
                space.sets[frame.node_id] = NodeSetState(set_root(members).hex(), len(members))
                stored = replace(frame, seq=seq, created_at=created_at, put_seq=seq)
                for ref in basis_refs(frame):
                    self._keep_list(space.built_on, ref)
                    space.built_on.setdefault(ref, []).append((seq, frame.frame_id))
            self._keep_key(space.frames, frame.frame_id)
            space.frames[frame.frame_id] = stored
            node_frames.append(stored)
            self._keep_key(space.heads, head_key)
            space.heads[head_key] = frame.frame_id
            self._keep_key(space.node_heads, frame.node_id)
            node_heads = space.node_heads.setdefault(frame.node_id, {})
            self._keep_key(node_heads, frame.frame_type)
            node_heads[frame.frame_type] = frame.frame_id
            return Appended(stored, existing is None)

    def get_frames(self, ws: WorkspaceId, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Frames by ID."""
        frames = self._ws(ws).frames
        return {f: frames[f] for f in frame_ids if f in frames}

    def iter_node_frames(
        self,
        ws: WorkspaceId,
        node_id: NodeId,
        *,
        frame_type: str | None = None,
        agent_id: str | None = None,
    ) -> Iterator[Frame]:
        """A node's frames, most recently put first."""
        frames = list(self._ws(ws).node_frames.get(node_id, ()))
        for frame in reversed(frames):
            if frame_type is not None and frame.frame_type != frame_type:
                continue
            if agent_id is not None and frame.agent_id != agent_id:
                continue
            yield frame

    def node_frame_ids(self, ws: WorkspaceId, node_id: NodeId) -> list[FrameId]:
        """All FrameIDs of a node, sorted."""
        ids: list[FrameId] = []
        for frame in self._ws(ws).node_frames.get(node_id, ()):
            bisect.insort(ids, frame.frame_id)
        return ids

    def get_heads_many(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, dict[str, FrameId]]:
        """Every head of many nodes."""
        node_heads = self._ws(ws).node_heads
        return {n: dict(sorted(node_heads[n].items())) for n in node_ids if node_heads.get(n)}

    def path_history_many(
        self, ws: WorkspaceId, paths: Sequence[str], limit: int
    ) -> dict[str, list[tuple[int, NodeId]]]:
        """Batch form of :meth:`path_history`."""
        history = self._ws(ws).path_history
        bound = max(limit, 0)
        found = {p: history.get(p, [])[::-1][:bound] for p in dict.fromkeys(paths)}
        return {p: entries for p, entries in found.items() if entries}

    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """Stored set roots and counts of many nodes."""
        sets = self._ws(ws).sets
        return {n: sets[n] for n in node_ids if n in sets}

    def recent_frames(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId], limit: int
    ) -> dict[NodeId, list[Frame]]:
        """Up to ``limit`` most recently put frames of each node, newest put first."""
        node_frames = self._ws(ws).node_frames
        if limit <= 0:
            return {}
        return {
            n: list(reversed(node_frames[n][-limit:]))
            for n in dict.fromkeys(node_ids)
            if n in node_frames
        }

    def frames_built_on(
        self, ws: WorkspaceId, ref: str, limit: int, after_seq: int | None = None
    ) -> list[tuple[int, FrameId]]:
        """``(seq, FrameID)`` of the frames whose basis names ``ref``, oldest first, after ``after_seq``."""
        entries = self._ws(ws).built_on.get(ref, [])
        start = (
            0 if after_seq is None else bisect.bisect_right(entries, after_seq, key=lambda e: e[0])
        )
        return entries[start : start + max(limit, 0)]

    # -- full iteration -----------------------------------------------------
    def iter_all_nodes(self, ws: WorkspaceId) -> Iterator[NodeRecord | Damaged]:
        """Every record."""
        yield from list(self._ws(ws).nodes.values())

    def iter_all_frames(self, ws: WorkspaceId) -> Iterator[Frame | Damaged]:
        """Every frame in seq order."""
        yield from sorted(self._ws(ws).frames.values(), key=lambda f: f.seq)

    def iter_all_frame_sets(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, NodeSetState]]:
        """Every set root."""
        yield from list(self._ws(ws).sets.items())

    def iter_all_heads(self, ws: WorkspaceId) -> Iterator[tuple[NodeId, str, FrameId]]:
        """Every head."""
        yield from [(n, t, f) for (n, t), f in self._ws(ws).heads.items()]

    def iter_all_paths(self, ws: WorkspaceId) -> Iterator[tuple[str, NodeId]]:
        """Every path-index entry."""
        yield from list(self._ws(ws).paths.items())

    def iter_all_path_history(self, ws: WorkspaceId) -> Iterator[tuple[str, int, NodeId]]:
        """Every path-history entry, by path then seq."""
        history = self._ws(ws).path_history
        yield from [(p, seq, n) for p in sorted(history) for seq, n in history[p]]

    def iter_all_basis_refs(self, ws: WorkspaceId) -> Iterator[tuple[str, FrameId]]:
        """Every basis-index entry."""
        built_on = self._ws(ws).built_on
        yield from [(ref, f) for ref in sorted(built_on) for _seq, f in built_on[ref]]

    # -- audit log ----------------------------------------------------------
    def append_audit(self, ws: WorkspaceId, draft: AuditDraft) -> AuditEntry:
        """Chain and append one entry under the write lock."""
        with self._writing():
            log = self._ws(ws).audit
            entry = chain_entry(ws, draft, log[-1] if log else None)
            self._keep_len(log)
            log.append(entry)
            return entry

    def audit_head(self, ws: WorkspaceId) -> AuditEntry | None:
        """The last entry, or None."""
        log = self._ws(ws).audit
        return log[-1] if log else None

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
        """Entries by seq after ``after_seq``, filtered, at most ``limit``."""
        log = list(self._ws(ws).audit)
        start = 0 if after_seq is None else bisect.bisect_right(log, after_seq, key=lambda e: e.seq)
        out: list[AuditEntry] = []
        for entry in log[start:]:
            if len(out) >= max(limit, 0):
                break
            if agent is not None and entry.agent != agent:
                continue
            if operation is not None and entry.operation != operation:
                continue
            if node is not None and entry.node != node:
                continue
            out.append(entry)
        return out

    def iter_audit(self, ws: WorkspaceId) -> Iterator[AuditEntry]:
        """Every entry by seq."""
        yield from sorted(self._ws(ws).audit, key=lambda e: e.seq)
