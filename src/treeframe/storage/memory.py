"""MemoryStore: the dict-backed reference backend (a real store, not a mock).

One re-entrant lock makes every write atomic. Path history and the basis
index are lists appended under that lock, so they are in ``seq`` order by
construction. A unit of work copies nothing up front: the workspaces it
touches are seen through overlays (a map's writes and deletions, a log's
appended tail) over the committed state, which other threads keep reading
unchanged; commit folds the overlays in, an exception drops them. So a
unit costs what it writes, whatever the store holds. Writes refuse malformed IDs (uppercase, padded, short) with
InvalidId before touching anything, exactly like the SQLite backend; reads of
such an ID find nothing.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, TypeVar, overload

from treeframe.errors import (
    ConcurrentUpdate,
    Conflict,
    InvalidId,
    NodeNotFound,
    StorageError,
    WorkspaceNotFound,
)
from treeframe.frames.frame import Frame
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId, parse_hex_id
from treeframe.storage.blobs import BlobStore
from treeframe.storage.catalog import CatalogBlobs, ContentPolicy
from treeframe.storage.derived import BatchDerivedStore
from treeframe.storage.values import (
    ANY_HEAD,
    SUPERSEDED,
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
    chain_entry,
    is_token_id,
    missing_content,
    workspace_deleted,
)
from treeframe.tree.records import NodeRecord

__all__ = ["MemoryStore"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
_ABSENT: Any = object()


class _Overlay(MutableMapping[K, V]):
    """A unit of work's view of a committed map: its writes and deletions over the base.

    The base is never touched until :meth:`fold` (commit). Values that are
    themselves containers are copied on first write (:func:`owned`), so the
    base's inner lists and maps stay as committed too.
    """

    __slots__ = ("base", "deleted", "writes")

    def __init__(self, base: MutableMapping[K, V]) -> None:
        self.base = base
        self.writes: dict[K, V] = {}
        self.deleted: set[K] = set()

    def __getitem__(self, key: K) -> V:
        if key in self.writes:
            return self.writes[key]
        if key in self.deleted:
            raise KeyError(key)
        return self.base[key]

    def __setitem__(self, key: K, value: V) -> None:
        self.deleted.discard(key)
        self.writes[key] = value

    def __delitem__(self, key: K) -> None:
        if key not in self:
            raise KeyError(key)
        self.writes.pop(key, None)
        self.deleted.add(key)

    def __contains__(self, key: object) -> bool:
        if key in self.writes:
            return True
        return key not in self.deleted and key in self.base

    def __iter__(self) -> Iterator[K]:
        for key in self.base:
            if key not in self.deleted and key not in self.writes:
                yield key
        yield from self.writes

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def fold(self) -> None:
        """Apply the writes and deletions to the base (commit)."""
        for key in self.deleted:
            self.base.pop(key, None)
        self.base.update(self.writes)


def owned(mapping: MutableMapping[K, T], key: K, factory: Callable[[], T]) -> T:
    """``mapping[key]`` ready to be changed in place (created by ``factory`` if absent).

    Inside a unit of work (an overlay) a committed value is copied into the
    overlay first, so the committed state is not changed through it.
    """
    if isinstance(mapping, _Overlay):
        if key in mapping.writes:
            written: T = mapping.writes[key]
            return written
        found: Any = mapping.get(key, _ABSENT)
        fresh: T = factory() if found is _ABSENT else type(found)(found)
        mapping[key] = fresh
        return fresh
    current: Any = mapping.get(key, _ABSENT)
    if current is _ABSENT:
        current = mapping[key] = factory()
    return current  # type: ignore[no-any-return]


class _Log(Sequence[T]):
    """An append-only list; inside a unit of work, a committed log plus the unit's tail."""

    __slots__ = ("base", "items")

    def __init__(self, items: Iterable[T] = (), base: _Log[T] | None = None) -> None:
        self.items: list[T] = list(items)
        self.base = base

    def _all(self) -> list[T]:
        return self.items if self.base is None else [*self.base.items, *self.items]

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if self.base is None:
            return self.items[index]
        if isinstance(index, int) and index < 0 and -index <= len(self.items):
            return self.items[index]  # the newest entries, without joining
        return self._all()[index]

    def __len__(self) -> int:
        return len(self.items) + (0 if self.base is None else len(self.base))

    def __iter__(self) -> Iterator[T]:
        if self.base is not None:
            yield from self.base.items
        yield from self.items

    def append(self, item: T) -> None:
        """Append one item (to the unit's tail inside a unit of work)."""
        self.items.append(item)

    def fold(self) -> None:
        """Append the tail to the base (commit)."""
        if self.base is not None:
            self.base.items.extend(self.items)


@dataclass
class _Workspace:
    info: WorkspaceInfo
    next_seq: int = 1
    nodes: MutableMapping[NodeId, NodeRecord] = field(default_factory=dict)
    paths: MutableMapping[str, NodeId] = field(default_factory=dict)
    history: _Log[RootEntry] = field(default_factory=_Log)
    staging: MutableMapping[str, dict[str, NodeId | None]] = field(default_factory=dict)
    frames: MutableMapping[FrameId, Frame] = field(default_factory=dict)
    # The content catalog: (codec, packed bytes, or None when the external store holds them).
    contents: MutableMapping[ContentHash, tuple[str, bytes | None]] = field(default_factory=dict)
    node_frames: MutableMapping[NodeId, list[Frame]] = field(default_factory=dict)  # by put_seq
    sets: MutableMapping[NodeId, NodeSetState] = field(default_factory=dict)
    heads: MutableMapping[tuple[NodeId, str], FrameId] = field(default_factory=dict)
    node_heads: MutableMapping[NodeId, dict[str, FrameId]] = field(default_factory=dict)
    agents: MutableMapping[str, bytes] = field(default_factory=dict)
    path_history: MutableMapping[str, list[tuple[int, NodeId]]] = field(default_factory=dict)
    built_on: MutableMapping[str, list[tuple[int, FrameId]]] = field(default_factory=dict)
    acl: MutableMapping[str, AclEntry] = field(default_factory=dict)
    audit: _Log[AuditEntry] = field(default_factory=_Log)  # by seq

    _MAPS = (
        "nodes",
        "paths",
        "staging",
        "frames",
        "contents",
        "node_frames",
        "sets",
        "heads",
        "node_heads",
        "agents",
        "path_history",
        "built_on",
        "acl",
    )
    _LOGS = ("history", "audit")

    def copy(self) -> _Workspace:
        """An independent copy: every container copied, the immutable values shared."""
        return _Workspace(
            self.info,
            self.next_seq,
            dict(self.nodes),
            dict(self.paths),
            _Log(self.history),
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
            dict(self.acl),
            _Log(self.audit),
        )

    def overlay(self) -> _Workspace:
        """A unit of work's view: every container an overlay on this (committed) one."""
        view = replace(self)
        for name in self._MAPS:
            setattr(view, name, _Overlay(getattr(self, name)))
        for name in self._LOGS:
            setattr(view, name, _Log(base=getattr(self, name)))
        return view

    def fold_into(self, base: _Workspace) -> None:
        """Commit this overlay view into ``base``."""
        for name in self._MAPS:
            getattr(self, name).fold()
        for name in self._LOGS:
            log = getattr(self, name)
            if log.base is None:  # rebuilt by an out-of-order import: replaces the committed log
                setattr(base, name, log)
            else:
                log.fold()
        base.info = self.info
        base.next_seq = self.next_seq


class _Unit(MutableMapping[WorkspaceId, _Workspace]):
    """The workspaces as one unit of work sees them: overlays, created lazily per workspace."""

    def __init__(self, committed: dict[WorkspaceId, _Workspace]) -> None:
        self.committed = committed
        self.views: dict[WorkspaceId, _Workspace] = {}
        self.created: dict[WorkspaceId, _Workspace] = {}

    def __getitem__(self, ws: WorkspaceId) -> _Workspace:
        if ws in self.created:
            return self.created[ws]
        view = self.views.get(ws)
        if view is None:
            view = self.views[ws] = self.committed[ws].overlay()
        return view

    def __setitem__(self, ws: WorkspaceId, space: _Workspace) -> None:
        self.created[ws] = space

    def __delitem__(self, ws: WorkspaceId) -> None:
        raise StorageError("workspaces are never removed")

    def __contains__(self, ws: object) -> bool:
        return ws in self.created or ws in self.committed

    def __iter__(self) -> Iterator[WorkspaceId]:
        yield from self.committed
        yield from (ws for ws in self.created if ws not in self.committed)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def commit(self) -> None:
        """Fold every view into its committed workspace and add the created ones."""
        for ws, view in self.views.items():
            view.fold_into(self.committed[ws])
        self.committed.update(self.created)


class MemoryStore(BatchDerivedStore):
    """Keeps everything in process memory; one lock makes every write atomic."""

    def __init__(self, url: str = "memory://", *, content: ContentPolicy | None = None) -> None:
        """An empty store; ``content`` packs and places contents like every backend's."""
        self.url = url
        self._content = content
        self._lock = threading.RLock()
        self._committed: dict[WorkspaceId, _Workspace] = {}
        self._committed_tokens: dict[str, TokenRecord] = {}
        self._local = (
            threading.local()
        )  # .unit: this thread's open unit of work; .tokens: its tokens
        self._read_only = False  # a snapshot
        self.blobs: BlobStore = CatalogBlobs(self, content)
        self._closed = False

    @property
    def _spaces(self) -> MutableMapping[WorkspaceId, _Workspace]:
        """The state this thread sees: its unit of work's overlays, else the committed one."""
        unit: _Unit | None = getattr(self._local, "unit", None)
        return self._committed if unit is None else unit

    @property
    def _tokens(self) -> dict[str, TokenRecord]:
        """The tokens this thread sees (a unit of work's copy, else the committed ones)."""
        working: dict[str, TokenRecord] | None = getattr(self._local, "tokens", None)
        return self._committed_tokens if working is None else working

    def _writing(self) -> AbstractContextManager[object]:
        """The write lock; a snapshot refuses every write."""
        if self._read_only:
            raise StorageError("a snapshot is read-only")
        return self._lock

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Writes of this thread inside join one all-or-nothing unit (overlays, no copies).

        The write lock is held for the whole unit (as SQLite's BEGIN IMMEDIATE
        holds the write lock); the unit writes into overlays over the
        committed workspaces it touches, folded in at exit, so other threads
        never see half a unit and an exception simply drops them. Nothing is
        copied up front: a unit costs what it writes. A nested unit joins.
        """
        if getattr(self._local, "unit", None) is not None:
            yield
            return
        with self._writing():
            unit = self._local.unit = _Unit(self._committed)
            self._local.tokens = dict(self._committed_tokens)
            try:
                yield
                unit.commit()
                self._committed_tokens = self._local.tokens
            finally:
                self._local.unit = None
                self._local.tokens = None

    @contextmanager
    def snapshot(self) -> Iterator[MemoryStore]:
        """A read-only store over a frozen copy of the committed state."""
        with self._lock:
            frozen = {ws: space.copy() for ws, space in self._committed.items()}
            tokens = dict(self._committed_tokens)
        view = MemoryStore(self.url, content=self._content)
        view._committed = frozen
        view._committed_tokens = tokens
        view._read_only = True
        try:
            yield view
        finally:
            view.close()

    # -- the content catalog (store.blobs is CatalogBlobs over it) ----------
    def catalog_insert(
        self, ws: WorkspaceId, digest: ContentHash, codec: str, stored: bytes | None
    ) -> bool:
        """Add the row once, under the write lock (joining a unit of work)."""
        parse_hex_id(digest, "content hash")
        with self._writing():
            contents = self._ws(ws).contents
            if digest in contents:
                return False
            contents[digest] = (codec, None if stored is None else bytes(stored))
            return True

    def catalog_get(
        self, ws: WorkspaceId, digests: Sequence[ContentHash]
    ) -> dict[ContentHash, tuple[str, bytes | None]]:
        """The rows of the catalogued digests."""
        contents = self._ws(ws).contents
        return {d: contents[d] for d in digests if d in contents}

    def catalog_exists(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Catalogued digests among ``digests``."""
        contents = self._ws(ws).contents
        return {d for d in digests if d in contents}

    def catalog_iter(self, ws: WorkspaceId) -> Iterator[ContentHash]:
        """Every catalogued digest in ascending order."""
        yield from sorted(self._ws(ws).contents)

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
                nodes.setdefault(record.node_id, record)

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
            self._ws(ws).staging[token] = {}
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
            if stage is None:
                return  # superseded: it can only lose, so what it stages is dropped
            for path, node in entries:
                stage[path] = node

    def _stage(self, ws: WorkspaceId, token: str) -> dict[str, NodeId | None] | None:
        """The scan's staging area; None when it was superseded (see SUPERSEDED)."""
        staging = self._ws(ws).staging
        if token in staging:
            return owned(staging, token, dict)
        if SUPERSEDED + token in staging:
            return None
        raise StorageError(
            f"unknown scan token {token!r} (aborted, or dropped after other scans moved the root)"
        )

    def commit_scan(
        self, ws: WorkspaceId, token: str, root: NodeId, expected: NodeId | None, created_at: str
    ) -> RootEntry:
        """Apply staged paths and move the root (compare-and-set)."""
        with self._writing():
            space = self._ws(ws)
            stage = self._stage(ws, token)
            current = space.history[-1].root if space.history else None
            if current != expected or stage is None:
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
                    owned(space.path_history, path, list).append((seq, old))
                if node is None:
                    space.paths.pop(path, None)
                else:
                    space.paths[path] = node
            del space.staging[token]
            for other in list(space.staging):  # every other scan is superseded
                del space.staging[other]
                if not other.startswith(SUPERSEDED):
                    space.staging[SUPERSEDED + other] = {}
            entry = RootEntry(seq, root, created_at)
            space.history.append(entry)
            return entry

    def abort_scan(self, ws: WorkspaceId, token: str) -> None:
        """Drop the staging area."""
        with self._writing():
            self._ws(ws).staging.pop(token, None)
            self._ws(ws).staging.pop(SUPERSEDED + token, None)

    def workspace_counts(self, ws: WorkspaceId) -> tuple[int, int]:
        """Stored records and frames."""
        space = self._ws(ws)
        return len(space.nodes), len(space.frames)

    # -- agent registry -----------------------------------------------------
    def put_agent(self, ws: WorkspaceId, agent_id: str, record: bytes) -> None:
        """Insert or replace an agent's record."""
        with self._writing():
            self._ws(ws).agents[agent_id] = bytes(record)

    def get_agent(self, ws: WorkspaceId, agent_id: str) -> bytes | None:
        """An agent's record, or None."""
        return self._ws(ws).agents.get(agent_id)

    def list_agents(self, ws: WorkspaceId) -> list[tuple[str, bytes]]:
        """Every agent record, sorted by agent ID."""
        return sorted(self._ws(ws).agents.items())

    # -- tokens and ACL -----------------------------------------------------
    def put_token(self, record: TokenRecord) -> None:
        """Store a new token (its ID must be free; a scoped one's workspace must exist)."""
        if not is_token_id(record.token_id):
            raise InvalidId(f"malformed token ID {record.token_id!r}")
        with self._writing():
            if record.scope is not None:
                self._ws(record.scope)
            if record.token_id in self._tokens:
                raise Conflict(f"token ID {record.token_id} is already taken")
            self._tokens[record.token_id] = record

    def get_token(self, token_id: str) -> TokenRecord | None:
        """One token by ID, or None."""
        if self._closed:
            raise StorageError("store is closed")
        return self._tokens.get(token_id)

    def list_tokens(
        self, ws: WorkspaceId | None = None, *, after: str | None = None, limit: int = 100
    ) -> list[TokenRecord]:
        """Tokens by ID after ``after``, scoped to ``ws`` (None: every token)."""
        if self._closed:
            raise StorageError("store is closed")
        found = sorted(
            (t for t in self._tokens.values() if ws is None or t.scope == ws),
            key=lambda t: t.token_id,
        )
        if after is not None:
            found = [t for t in found if t.token_id > after]
        return found[: max(limit, 0)]

    def revoke_token(self, token_id: str, revoked_at: str) -> TokenRecord | None:
        """Set the revocation time unless already set."""
        with self._writing():
            found = self._tokens.get(token_id)
            if found is None:
                return None
            if found.revoked_at is None:
                found = replace(found, revoked_at=revoked_at)
                self._tokens[token_id] = found
            return found

    def put_acl(self, ws: WorkspaceId, entry: AclEntry) -> None:
        """Insert or replace an agent's entry."""
        with self._writing():
            self._ws(ws).acl[entry.agent_id] = entry

    def get_acl(self, ws: WorkspaceId, agent_id: str) -> AclEntry | None:
        """An agent's entry, or None."""
        return self._ws(ws).acl.get(agent_id)

    def delete_acl(self, ws: WorkspaceId, agent_id: str) -> bool:
        """Remove an agent's entry; whether it existed."""
        with self._writing():
            return self._ws(ws).acl.pop(agent_id, None) is not None

    def list_acl(self, ws: WorkspaceId) -> list[AclEntry]:
        """Every entry, sorted by agent ID."""
        acl = self._ws(ws).acl
        return [acl[agent] for agent in sorted(acl)]

    def list_workspaces_of_agent(
        self,
        agent_id: str,
        *,
        include_deleted: bool = False,
        after: str | None = None,
        limit: int = 100,
    ) -> list[WorkspaceInfo]:
        """Workspaces the agent owns, has an ACL entry in or is registered in, by name."""
        if self._closed:
            raise StorageError("store is closed")
        found = sorted(
            (
                space.info
                for space in self._spaces.values()
                if (include_deleted or space.info.deleted_at is None)
                and (after is None or space.info.name > after)
                and (
                    space.info.owner == agent_id
                    or agent_id in space.acl
                    or agent_id in space.agents
                )
            ),
            key=lambda info: info.name,
        )
        return found[: max(limit, 0)]

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
            seq = space.next_seq
            space.next_seq += 1
            node_frames = owned(space.node_frames, frame.node_id, list)
            if existing is not None:
                # A re-put: a pointer move to the end of the recency order.
                stored = replace(existing, put_seq=seq)
                node_frames.remove(existing)
            else:
                members = [bytes.fromhex(f.frame_id) for f in node_frames]
                members.append(bytes.fromhex(frame.frame_id))
                space.sets[frame.node_id] = NodeSetState(set_root(members).hex(), len(members))
                stored = replace(frame, seq=seq, created_at=created_at, put_seq=seq)
                for ref in basis_refs(frame):
                    owned(space.built_on, ref, list).append((seq, frame.frame_id))
            space.frames[frame.frame_id] = stored
            node_frames.append(stored)
            space.heads[head_key] = frame.frame_id
            owned(space.node_heads, frame.node_id, dict)[frame.frame_type] = frame.frame_id
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

    # -- bulk import (migration): rows as another store holds them ------------
    def import_workspace(self, info: WorkspaceInfo, next_seq: int) -> None:
        """Create the workspace or replace its metadata; next seq at least ``next_seq``."""
        parse_hex_id(info.workspace_id, "workspace ID")
        with self._writing():
            space = self._spaces.get(info.workspace_id)
            if space is None:
                self._spaces[info.workspace_id] = _Workspace(info, max(next_seq, 1))
                return
            space.info = info
            space.next_seq = max(space.next_seq, next_seq)

    def import_frames(self, ws: WorkspaceId, frames: Sequence[Frame]) -> None:
        """Frames as stored; a FrameID already present keeps its record, only ``put_seq`` moves."""
        for frame in frames:
            parse_hex_id(frame.frame_id, "FrameID")
            parse_hex_id(frame.node_id, "NodeID")
        with self._writing():
            space = self._ws(ws)
            for frame in frames:
                existing = space.frames.get(frame.frame_id)
                if existing is not None and existing.put_seq == frame.put_seq:
                    continue
                stored = frame
                if existing is not None:  # the record stays; the recency pointer moves
                    stored = replace(existing, put_seq=frame.put_seq)
                node_frames = owned(space.node_frames, stored.node_id, list)
                if existing is not None:
                    node_frames.remove(existing)
                space.frames[stored.frame_id] = stored
                bisect.insort(node_frames, stored, key=lambda f: f.put_seq)

    def import_frame_sets(
        self, ws: WorkspaceId, sets: Sequence[tuple[NodeId, NodeSetState]]
    ) -> None:
        """Set roots and counts, replacing what is there."""
        for node, _state in sets:
            parse_hex_id(node, "NodeID")
        with self._writing():
            stored = self._ws(ws).sets
            for node, state in sets:
                stored[node] = state

    def import_heads(self, ws: WorkspaceId, heads: Sequence[tuple[NodeId, str, FrameId]]) -> None:
        """(node, type) heads, replacing what is there."""
        for node, _type, frame in heads:
            parse_hex_id(node, "NodeID")
            parse_hex_id(frame, "FrameID")
        with self._writing():
            space = self._ws(ws)
            for node, frame_type, frame in heads:
                space.heads[(node, frame_type)] = frame
                owned(space.node_heads, node, dict)[frame_type] = frame

    def import_roots(self, ws: WorkspaceId, entries: Sequence[RootEntry]) -> None:
        """Root-history entries (a seq already present keeps its entry)."""
        for entry in entries:
            parse_hex_id(entry.root, "NodeID")
        with self._writing():
            space = self._ws(ws)
            space.history = _merged(space.history, entries, lambda e: e.seq)

    def import_paths(self, ws: WorkspaceId, entries: Sequence[tuple[str, NodeId]]) -> None:
        """Current path-index entries, replacing what is there."""
        for _path, node in entries:
            parse_hex_id(node, "NodeID")
        with self._writing():
            paths = self._ws(ws).paths
            for path, node in entries:
                paths[path] = node

    def import_path_history(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, NodeId]]
    ) -> None:
        """Path-history entries; a (path, seq) already present is kept."""
        for _path, _seq, node in entries:
            parse_hex_id(node, "NodeID")
        with self._writing():
            history = self._ws(ws).path_history
            for path, seq, node in entries:
                _insert_once(owned(history, path, list), (seq, node))

    def import_basis_refs(
        self, ws: WorkspaceId, entries: Sequence[tuple[str, int, FrameId]]
    ) -> None:
        """Basis-index entries; a (ref, seq) already present is kept."""
        for ref, _seq, frame in entries:
            parse_hex_id(ref, "basis reference")
            parse_hex_id(frame, "FrameID")
        with self._writing():
            built_on = self._ws(ws).built_on
            for ref, seq, frame in entries:
                _insert_once(owned(built_on, ref, list), (seq, frame))

    def import_audit(self, ws: WorkspaceId, entries: Sequence[AuditEntry]) -> None:
        """Audit entries as stored, never re-chained (a seq already present keeps its entry)."""
        with self._writing():
            space = self._ws(ws)
            space.audit = _merged(space.audit, entries, lambda e: e.seq)


def _merged(log: _Log[T], entries: Sequence[T], seq: Callable[[T], int]) -> _Log[T]:
    """``log`` with the entries whose seq it lacks, in seq order.

    Entries after the last one are appended (the copier sends them in
    order); anything else rebuilds the log, which ``fold_into`` then
    installs whole.
    """
    last = seq(log[-1]) if len(log) else 0
    fresh: dict[int, T] = {}
    for entry in entries:
        fresh.setdefault(seq(entry), entry)
    if all(key > last for key in fresh):
        for key in sorted(fresh):
            log.append(fresh[key])
        return log
    known = {seq(entry) for entry in log}
    added = [entry for key, entry in fresh.items() if key not in known]
    return _Log(sorted([*log, *added], key=seq)) if added else log


def _insert_once(entries: list[tuple[int, T]], entry: tuple[int, T]) -> None:
    """Insert ``entry`` into a list sorted by seq unless that seq is there already."""
    at = bisect.bisect_left(entries, entry[0], key=lambda e: e[0])
    if at == len(entries) or entries[at][0] != entry[0]:
        entries.insert(at, entry)
