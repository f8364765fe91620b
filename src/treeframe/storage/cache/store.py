"""CachedStore: a read-through cache in front of any store, which never changes an answer.

Two kinds of state, two rules:

* **Immutable records** — NodeRecords, frames, contents — are named by the
  hash of what they hold, so a cached copy can never be wrong. They are
  kept in this process (:class:`~.lru.ByteLRU`, bounded by bytes) and, with a
  shared tier (Redis), for every instance; hits from the shared tier are
  re-hashed before use, so a damaged cache entry is dropped, never served.
  Only what the store returned outside a unit of work is kept (an
  uncommitted record must not outlive a rollback), and absences are never
  cached (a record missing now may be stored a moment later).
* **Mutable state** — heads, frame sets, the current root, path look-ups,
  workspace metadata — is cached only with :class:`~.base.Stamps`: each
  entry is tagged with the workspace's stamp read *before* the store was
  asked, and served only while the stamp is unchanged (and younger than
  ``max_age``). Every write through a CachedStore changes the stamp after
  it committed (at the end of the unit of work when inside one), so a write
  acknowledged by any instance is seen by every read that starts after it.
  Reads inside a unit of work or a snapshot bypass mutable entries.

One wrinkle of the frame cache: a frame's ``put_seq`` (its recency position,
not part of the record) moves when an old frame is made current again. A
re-put through this store evicts the frame here and in the shared tier;
another process's local copy may show the older ``put_seq`` until evicted.
Nothing in the engine or the API reads ``put_seq`` from ``get_frames``
(recency views read the store's index), which is why this is acceptable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

from treeframe.errors import TreeframeError
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import content_hash
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.storage.cache.base import SharedTier, Stamps
from treeframe.storage.cache.lru import ByteLRU
from treeframe.storage.values import Appended, NodeSetState, RootEntry, WorkspaceInfo
from treeframe.tree.records import NodeRecord

__all__ = ["CacheObserver", "CachedBlobs", "CachedStore"]

CacheObserver = Callable[[str, int, int], None]
"""``observer(cache, hits, misses)`` after each look-up that asked the cache."""

MAX_CONTENT = 256 * 1024
"""Contents larger than this are read from the blob store every time (they stream)."""

_READS = frozenset(
    {
        "current_root",
        "root_history",
        "workspace_counts",
        "recent_frames",
        "node_frame_ids",
        "frames_built_on",
        "audit_head",
    }
)
_READ_PREFIXES = ("get_", "iter_", "list_", "lookup_", "path_history")
_INVISIBLE_WRITES = frozenset(
    {
        "put_nodes",
        "put_node_rows",
        "begin_scan",
        "stage_paths",
        "stage_path_rows",
        "abort_scan",
        "lock_nodes",
    }
)
"""Writes no cached answer depends on: new immutable records, a scan's private staging
(``put_node_rows``/``stage_path_rows`` are the ScanRows forms of the same),
the node locks a unit of work takes first (PostgresStore.lock_nodes: it changes nothing)."""
_PASS = frozenset({"close", "url", "blobs"})

_ABSENT = object()
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


def _node_size(record: NodeRecord) -> int:
    return 160 + len(record.path) + 72 * len(record.children)


def _frame_size(frame: Frame) -> int:
    return (
        360
        + sum(len(k) + len(v) for k, v in frame.metadata)
        + 72 * len(frame.basis.child_frames)
        + len(frame.basis.params_json)
    )


def _workspace_of(args: tuple[Any, ...]) -> WorkspaceId | None:
    """The workspace a write names: its first argument, or the WorkspaceInfo's."""
    if not args:
        return None
    first = args[0]
    if isinstance(first, str):
        return WorkspaceId(first)
    if isinstance(first, WorkspaceInfo):
        return first.workspace_id
    return None


class _Shared:
    """What a store and the views it hands out share: the tiers, the stamps, the observer."""

    def __init__(
        self,
        records: ByteLRU | None,
        tier: SharedTier | None,
        stamps: Stamps | None,
        mutable: ByteLRU | None,
        max_age: float,
        observe: CacheObserver | None,
    ) -> None:
        self.records = records
        self.tier = tier
        self.stamps = stamps
        self.mutable = mutable if stamps is not None else None
        self.max_age = max_age
        self.observe = observe
        self.local = threading.local()

    def in_unit(self) -> bool:
        return getattr(self.local, "depth", 0) > 0

    def count(self, cache: str, hits: int, misses: int) -> None:
        if self.observe is not None and (hits or misses):
            self.observe(cache, hits, misses)

    def read_through(
        self,
        cache: str,
        kind: str,
        ws: WorkspaceId,
        ids: Sequence[_K],
        fetch: Callable[[WorkspaceId, list[_K]], dict[_K, _V]],
        size: Callable[[_V], int],
        encode: Callable[[_V], bytes],
        decode: Callable[[_K, bytes], _V | None],
        keep: Callable[[_V], bool] = lambda _: True,
    ) -> dict[_K, _V]:
        """Values by key: this process's LRU, then the shared tier (``decode`` checks), then ``fetch``.

        Only what ``fetch`` returned outside a unit of work, and ``keep`` accepts, is kept.
        """
        records = self.records
        if records is None:
            return fetch(ws, list(ids))
        found: dict[_K, _V] = {}
        missing: list[_K] = []
        for key in ids:
            value = records.get((kind, ws, key))
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        hits = len(ids) - len(missing)
        if missing and self.tier is not None:
            names = {f"{kind}:{ws}:{key}": key for key in missing}
            for name, data in self.tier.get_many(list(names)).items():
                key = names[name]
                value = decode(key, data)
                if value is not None:
                    found[key] = value
                    records.put((kind, ws, key), value, size(value))
            missing = [key for key in missing if key not in found]
        if missing:
            fetched = fetch(ws, missing)
            found.update(fetched)
            if not self.in_unit():
                kept = {key: value for key, value in fetched.items() if keep(value)}
                for key, value in kept.items():
                    records.put((kind, ws, key), value, size(value))
                if self.tier is not None:
                    self.tier.put_many(
                        {f"{kind}:{ws}:{key}": encode(value) for key, value in kept.items()}
                    )
        self.count(cache, hits, len(ids) - hits)
        return {key: found[key] for key in ids if key in found}


class CachedBlobs:
    """A blob store whose small contents are read through the cache (see the module docstring)."""

    def __init__(self, inner: Any, shared: _Shared) -> None:
        self._inner = inner
        self._shared = shared

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Contents by hash: this process, then the shared tier (re-hashed), then the blob store."""
        return self._shared.read_through(
            "content", "c", ws, digests, self._inner.get_many, len, bytes, _content, _small_content
        )


class CachedStore:
    """A store behind the cache; every method the cache does not answer passes through."""

    def __init__(
        self,
        inner: Any,
        *,
        records: ByteLRU | None = None,
        tier: SharedTier | None = None,
        stamps: Stamps | None = None,
        mutable: ByteLRU | None = None,
        max_age_seconds: float = 2.0,
        observe: CacheObserver | None = None,
        _shared: _Shared | None = None,
        _view: bool = False,
    ) -> None:
        self._inner = inner
        self._shared = _shared or _Shared(records, tier, stamps, mutable, max_age_seconds, observe)
        self._view = _view
        self.blobs = CachedBlobs(inner.blobs, self._shared)

    @property
    def url(self) -> str:
        """The inner store's URL."""
        url: str = self._inner.url
        return url

    @property
    def inner(self) -> Any:
        """The store being cached."""
        return self._inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or name in _PASS or not callable(attr):
            return attr
        if name in _READS or name in _INVISIBLE_WRITES or name.startswith(_READ_PREFIXES):
            self.__dict__[name] = attr  # later look-ups skip __getattr__ (every request makes many)
            return attr
        wrapped = self._stamped_write(attr)
        self.__dict__[name] = wrapped
        return wrapped

    # -- writes -----------------------------------------------------------------
    def _stamped_write(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._touched(_workspace_of(args))

        call.__name__ = getattr(fn, "__name__", "write")
        call.__doc__ = fn.__doc__
        return call

    def _touched(self, ws: WorkspaceId | None) -> None:
        shared = self._shared
        if ws is None or shared.stamps is None:
            return
        if shared.in_unit():
            shared.local.touched.add(ws)
        else:
            shared.stamps.bump(ws)

    def append_frame(self, ws: WorkspaceId, frame: Frame, *args: Any, **kwargs: Any) -> Appended:
        """The inner append; a re-put (``put_seq`` moved) evicts the cached frame."""
        try:
            appended: Appended = self._inner.append_frame(ws, frame, *args, **kwargs)
        finally:
            self._touched(ws)
        if not appended.created:
            self._evict_frame(ws, appended.frame.frame_id)
        return appended

    def _evict_frame(self, ws: WorkspaceId, frame_id: FrameId) -> None:
        shared = self._shared
        if shared.records is not None:
            shared.records.pop(("f", ws, frame_id))
        if shared.tier is not None:
            shared.tier.delete([f"f:{ws}:{frame_id}"])

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """The inner unit; the workspaces it wrote get new stamps once it has committed."""
        local = self._shared.local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            local.touched = set()
        local.depth = depth + 1
        try:
            with self._inner.unit_of_work():
                yield
        finally:
            local.depth = depth
            if depth == 0:
                touched, local.touched = local.touched, set()
                stamps = self._shared.stamps
                if stamps is not None:
                    for ws in sorted(touched):
                        stamps.bump(ws)

    @contextmanager
    def snapshot(self) -> Iterator[CachedStore]:
        """The inner snapshot behind the same record cache (mutable answers come from the view)."""
        with self._inner.snapshot() as view:
            yield CachedStore(view, _shared=self._shared, _view=True)

    def close(self) -> None:
        """Close the inner store and the cache's connections."""
        self._inner.close()
        self.close_cache()

    def close_cache(self) -> None:
        """Close the shared tier's and the stamps' connections (a view leaves them to its owner)."""
        if not self._view:
            tier, stamps = self._shared.tier, self._shared.stamps
            for part in {id(p): p for p in (tier, stamps) if p is not None}.values():
                part.close()

    def __enter__(self) -> CachedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- immutable records --------------------------------------------------------
    def get_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> dict[NodeId, NodeRecord]:
        """NodeRecords by ID, read through the cache."""
        return self._shared.read_through(
            "node", "n", ws, node_ids, self._inner.get_nodes, _node_size, NodeRecord.to_json, _node
        )

    def get_node(self, ws: WorkspaceId, node_id: NodeId) -> NodeRecord | None:
        """One NodeRecord (a batch of one)."""
        return self.get_nodes(ws, [node_id]).get(node_id)

    def get_frames(self, ws: WorkspaceId, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Frames by ID, read through the cache."""
        return self._shared.read_through(
            "frame", "f", ws, frame_ids, self._inner.get_frames, _frame_size, _frame_bytes, _frame
        )

    def get_frame(self, ws: WorkspaceId, frame_id: FrameId) -> Frame | None:
        """One frame (a batch of one)."""
        return self.get_frames(ws, [frame_id]).get(frame_id)

    # -- mutable state ------------------------------------------------------------
    def _stamp(self, ws: WorkspaceId) -> str | None:
        shared = self._shared
        if shared.mutable is None or shared.stamps is None or self._view or shared.in_unit():
            return None
        return shared.stamps.current(ws)

    def _mutable(
        self,
        cache: str,
        ws: WorkspaceId,
        keys: Sequence[_K],
        fetch: Callable[[WorkspaceId, list[_K]], dict[_K, _V]],
        size: Callable[[_V], int],
    ) -> dict[_K, _V]:
        stamp = self._stamp(ws)
        if stamp is None:
            return fetch(ws, list(keys))
        mutable = self._shared.mutable
        assert mutable is not None
        now = time.monotonic()
        oldest = now - self._shared.max_age
        found: dict[_K, Any] = {}
        missing: list[_K] = []
        for key in keys:
            entry = mutable.get((cache, ws, key))
            if entry is not None and entry[0] == stamp and entry[1] >= oldest:
                found[key] = entry[2]
            else:
                missing.append(key)
        hits = len(keys) - len(missing)
        if missing:
            fetched = fetch(ws, missing)
            for key in missing:
                if key in fetched:
                    value: Any = fetched[key]
                    charge = size(fetched[key])
                else:
                    value, charge = _ABSENT, 24
                found[key] = value
                mutable.put((cache, ws, key), (stamp, now, value), charge)
        self._shared.count(cache, hits, len(keys) - hits)
        return {key: _copy(found[key]) for key in keys if found.get(key, _ABSENT) is not _ABSENT}

    def get_heads_many(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, dict[str, FrameId]]:
        """Heads by node, cached under the workspace's stamp."""
        return self._mutable("head", ws, node_ids, self._inner.get_heads_many, _dict_size)

    def get_head(self, ws: WorkspaceId, node_id: NodeId, frame_type: str) -> FrameId | None:
        """One head (from the batch form)."""
        return self.get_heads_many(ws, [node_id]).get(node_id, {}).get(frame_type)

    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """Frame-set states by node, cached under the workspace's stamp."""
        return self._mutable("frame_set", ws, node_ids, self._inner.get_frame_sets, _small)

    def get_frame_set(self, ws: WorkspaceId, node_id: NodeId) -> NodeSetState | None:
        """One frame-set state (from the batch form)."""
        return self.get_frame_sets(ws, [node_id]).get(node_id)

    def lookup_paths(self, ws: WorkspaceId, paths: Sequence[str]) -> dict[str, NodeId]:
        """Current NodeIDs by path, cached under the workspace's stamp."""
        return self._mutable("path", ws, paths, self._inner.lookup_paths, _small)

    def lookup_path(self, ws: WorkspaceId, path: str) -> NodeId | None:
        """One path (from the batch form)."""
        return self.lookup_paths(ws, [path]).get(path)

    def current_root(self, ws: WorkspaceId) -> RootEntry | None:
        """The current root, cached under the workspace's stamp."""

        def fetch(ws: WorkspaceId, _: list[str]) -> dict[str, RootEntry]:
            entry = self._inner.current_root(ws)
            return {} if entry is None else {"": entry}

        return self._mutable("root", ws, [""], fetch, _small).get("")

    def get_workspace(self, ws: WorkspaceId) -> WorkspaceInfo | None:
        """A workspace's metadata, cached under its stamp."""

        def fetch(ws: WorkspaceId, _: list[str]) -> dict[str, WorkspaceInfo]:
            info = self._inner.get_workspace(ws)
            return {} if info is None else {"": info}

        return self._mutable("workspace_info", ws, [""], fetch, _small).get("")


def _small(_: object) -> int:
    return 64


def _dict_size(value: dict[str, FrameId]) -> int:
    return 64 + 96 * len(value)


def _copy(value: Any) -> Any:
    """Callers may change what they get: a dict answer is a fresh dict every time."""
    return dict(value) if isinstance(value, dict) else value


def _content(digest: ContentHash, data: bytes) -> bytes | None:
    """A shared-tier content, if it hashes to its key."""
    return data if content_hash(data) == digest else None


def _small_content(data: bytes) -> bool:
    return len(data) <= MAX_CONTENT


def _node(node_id: NodeId, data: bytes) -> NodeRecord | None:
    """A shared-tier record, if it parses and hashes to its ID (else it is ignored)."""
    try:
        record = NodeRecord.from_json(data)
    except TreeframeError:
        return None
    return record if record.node_id == node_id and record.compute_id() == node_id else None


def _frame_bytes(frame: Frame) -> bytes:
    return b"%d\n" % frame.put_seq + frame.to_json()


def _frame(frame_id: FrameId, data: bytes) -> Frame | None:
    """A shared-tier frame (``put_seq`` line, then the record), if it hashes to its ID."""
    head, _, body = data.partition(b"\n")
    try:
        frame = Frame.from_json(body)
        put_seq = int(head)
    except (TreeframeError, ValueError):
        return None
    if frame.frame_id != frame_id or frame.compute_id() != frame_id:
        return None
    return replace(frame, put_seq=put_seq)
