"""Diagnostics that only read: diff two roots, diff the store against disk, explain a frame, doctor.

* :func:`resolve_root` turns what a user types (a root hash, an unambiguous
  prefix of one, ``HEAD``, ``HEAD~N``) into a root of the workspace's history.
* :func:`diff_trees` walks two trees top-down in parallel and descends only
  where NodeIDs differ, one batched ``get_nodes`` per level, so its cost is
  the changed nodes times the depth, never the tree: equal NodeIDs mean equal
  subtrees (paths are hashed into NodeIDs, so equal IDs also mean equal
  places). The result is the list of minimal changed subtrees plus counts.
* :func:`scan_in_memory` scans a directory into a private
  :class:`~treeframe.storage.memory.MemoryStore`; the workspace's store and
  its stat cache are never written (the cache is only read, through a wrapper
  that drops writes). :func:`diff_disk` and :func:`doctor` build on it.
* :func:`explain_frame` answers "why is this stale": the frame's node and
  basis chain (bounded), which input is no longer current, what is current
  now and since which root (from the path history).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from treeframe.engine.freshness import Freshness
from treeframe.errors import (
    FrameNotFound,
    InvalidId,
    InvalidRequest,
    NodeNotFound,
    StoreCorrupt,
)
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import workspace_id
from treeframe.ids import FrameId, NodeId, WorkspaceId, parse_hex_id
from treeframe.storage.base import RootEntry, StorageBackend, WorkspaceInfo
from treeframe.storage.memory import MemoryStore
from treeframe.tree.filehash import HashPool
from treeframe.tree.paths import child_path
from treeframe.tree.records import NodeKind, NodeRecord
from treeframe.tree.scan import ScanResult, scan_tree
from treeframe.tree.statcache import StatCache

__all__ = [
    "EXPLAIN_MAX_DEPTH",
    "EXPLAIN_MAX_INPUTS",
    "ROOT_PREFIX_MIN",
    "DiffEntry",
    "DiffKind",
    "DiskDiff",
    "DiskScan",
    "DoctorReport",
    "ExplainedInput",
    "Explanation",
    "NodeSource",
    "ResolvedRoot",
    "RootRef",
    "TreeDiff",
    "Verdict",
    "diff_disk",
    "diff_roots",
    "diff_trees",
    "doctor",
    "explain_frame",
    "resolve_root",
    "scan_in_memory",
]

ROOT_PREFIX_MIN = 4
"""Shortest root-hash prefix accepted (as git's abbreviations)."""

EXPLAIN_MAX_DEPTH = 8
"""Basis levels :func:`explain_frame` follows below the frame."""

EXPLAIN_MAX_INPUTS = 256
"""Inputs :func:`explain_frame` reports at most (then ``truncated``)."""

PATH_HISTORY_LIMIT = 1000
"""Path-history entries read per input to find the root that replaced it."""

_BATCH = 1000
_HISTORY_PAGE = 1000
_HEAD = re.compile(r"HEAD(?:~(\d{1,9}))?")
_PREFIX = re.compile(rf"[0-9a-f]{{{ROOT_PREFIX_MIN},64}}")
_SCRATCH = workspace_id("treeframe-diagnostics-scratch")

NodeSource = Callable[[Sequence[NodeId]], Mapping[NodeId, NodeRecord]]
"""Batch lookup of records by NodeID (missing ones absent), e.g. a store's ``get_nodes``."""

DiffKind = Literal["added", "removed", "changed", "type_changed"]
Verdict = Literal["fresh", "stale", "incomplete"]


def _source(store: StorageBackend, ws: WorkspaceId) -> NodeSource:
    return lambda ids: store.get_nodes(ws, ids)


# -- roots -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResolvedRoot:
    """A root a user named: its NodeID and its newest root-history entry (None if not in history)."""

    ref: str
    root: NodeId
    entry: RootEntry | None


def _history(store: StorageBackend, ws: WorkspaceId) -> Iterator[RootEntry]:
    before: int | None = None
    while True:
        page = store.root_history(ws, _HISTORY_PAGE, before)
        yield from page
        if len(page) < _HISTORY_PAGE:
            return
        before = page[-1].seq


def resolve_root(store: StorageBackend, ws: WorkspaceId, ref: str) -> ResolvedRoot:
    """The root ``ref`` names: ``HEAD``, ``HEAD~N``, a root hash or an unambiguous prefix of one.

    ``HEAD~N`` is N entries back in the root history; a prefix (at least
    :data:`ROOT_PREFIX_MIN` hex digits) is matched against the history.

    Raises InvalidId for a malformed ``ref``, NodeNotFound for a root the
    workspace does not have, InvalidRequest for an ambiguous prefix.
    """
    head = _HEAD.fullmatch(ref)
    if head is not None:
        back = int(head.group(1) or 0)
        entries = store.root_history(ws, back + 1)
        if not entries:
            raise NodeNotFound("nothing scanned yet: run 'treeframe scan' first")
        if len(entries) <= back:
            raise NodeNotFound(f"{ref}: the root history has only {len(entries)} entries")
        chosen = entries[back]
        return ResolvedRoot(ref, chosen.root, chosen)
    if _PREFIX.fullmatch(ref) is None:
        shown = ref if len(ref) <= 80 else ref[:80] + "..."
        raise InvalidId(
            f"bad root {shown!r}: give a root hash (or {ROOT_PREFIX_MIN} to 64 of its lowercase "
            "hex digits), HEAD or HEAD~N"
        )
    matches: dict[NodeId, RootEntry] = {}
    for entry in _history(store, ws):
        if entry.root.startswith(ref):
            matches.setdefault(entry.root, entry)  # newest first: the first seen is the newest
    if len(matches) > 1:
        listed = ", ".join(sorted(m[:12] for m in matches)[:5])
        raise InvalidRequest(
            f"root prefix {ref!r} is ambiguous: {len(matches)} roots match ({listed}...)"
        )
    if matches:
        ((root, entry),) = matches.items()
        return ResolvedRoot(ref, root, entry)
    if len(ref) == 64:
        record = store.get_node(ws, NodeId(ref))
        if record is not None and record.kind == "dir" and record.path == "":
            return ResolvedRoot(ref, record.node_id, None)
    raise NodeNotFound(f"no root {ref} in this workspace's root history")


# -- diff --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One minimal changed subtree: nothing above it differs but its ancestors' IDs."""

    path: str
    kind: DiffKind
    old_id: NodeId | None
    new_id: NodeId | None
    old_kind: NodeKind | None
    new_kind: NodeKind | None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / wire shape."""
        return {
            "path": self.path,
            "kind": self.kind,
            "old_id": self.old_id,
            "new_id": self.new_id,
            "old_kind": self.old_kind,
            "new_kind": self.new_kind,
        }


COUNT_KEYS = (
    "files_added",
    "files_removed",
    "files_changed",
    "dirs_added",
    "dirs_removed",
    "dirs_changed",
)


@dataclass(frozen=True, slots=True)
class TreeDiff:
    """Two trees' differences: minimal changed subtrees by path, counts, and the cost.

    Counts treat symlinks as files (every entry that is not a directory);
    a type change counts as a removal of the old entry and an addition of the
    new one (with their subtrees). ``dirs_changed`` counts directories present
    in both trees with different NodeIDs (the ancestors of every change).
    ``nodes_read`` is how many records the walk fetched.
    """

    old_root: NodeId | None
    new_root: NodeId | None
    entries: tuple[DiffEntry, ...]
    counts: Mapping[str, int]
    nodes_read: int

    @property
    def same(self) -> bool:
        """True when both trees are one tree."""
        return self.old_root == self.new_root

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / wire shape."""
        return {
            "from_root": self.old_root,
            "to_root": self.new_root,
            "same": self.same,
            "entries": [e.to_dict() for e in self.entries],
            "counts": dict(self.counts),
            "nodes_read": self.nodes_read,
        }


def _fetch(source: NodeSource, ids: list[NodeId]) -> dict[NodeId, NodeRecord]:
    out: dict[NodeId, NodeRecord] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _BATCH):
        out.update(source(unique[start : start + _BATCH]))
    return out


def _missing(path: str, node_id: NodeId) -> StoreCorrupt:
    return StoreCorrupt(f"node {node_id} at {path or '.'!r} is not stored")


# (path, old id, new id, top): top items are minimal entries; the others are counted only.
_Item = tuple[str, NodeId | None, NodeId | None, bool]


def diff_trees(
    old: NodeSource,
    old_root: NodeId | None,
    new: NodeSource,
    new_root: NodeId | None,
    *,
    visit_new: Callable[[NodeRecord], None] | None = None,
    on_missing: Callable[[str, NodeId], None] | None = None,
) -> TreeDiff:
    """Diff the tree at ``old_root`` (read from ``old``) against the one at ``new_root``.

    One batched lookup per level and side (one in all when ``old is new``);
    only pairs whose NodeIDs differ are read, plus the insides of added and
    removed subtrees (to count them). None as a root is the empty tree.
    ``visit_new`` sees every new-side record read: exactly the nodes of the
    new tree that the old one does not have. A record neither source holds is
    StoreCorrupt, or reported to ``on_missing`` (and skipped) when given.
    """
    counts = dict.fromkeys(COUNT_KEYS, 0)
    entries: list[DiffEntry] = []
    level: list[_Item] = [] if old_root == new_root else [("", old_root, new_root, True)]
    reads = 0
    while level:
        old_ids = [o for _, o, _, _ in level if o is not None]
        new_ids = [n for _, _, n, _ in level if n is not None]
        if old is new:
            old_found = new_found = _fetch(old, old_ids + new_ids)
        else:
            old_found, new_found = _fetch(old, old_ids), _fetch(new, new_ids)
        reads += len(set(old_ids)) + len(set(new_ids))
        following: list[_Item] = []
        for path, old_id, new_id, top in level:
            old_rec = new_rec = None
            if old_id is not None:
                old_rec = old_found.get(old_id)
                if old_rec is None:
                    if on_missing is None:
                        raise _missing(path, old_id)
                    on_missing(path, old_id)
            if new_id is not None:
                new_rec = new_found.get(new_id)
                if new_rec is None:
                    if on_missing is None:
                        raise _missing(path, new_id)
                    on_missing(path, new_id)
                elif visit_new is not None:
                    visit_new(new_rec)
            if (old_id is not None and old_rec is None) or (new_id is not None and new_rec is None):
                continue
            _step(path, old_rec, new_rec, top, counts, entries, following)
        level = following
    entries.sort(key=lambda e: e.path.encode("utf-8"))
    return TreeDiff(old_root, new_root, tuple(entries), counts, reads)


def _step(
    path: str,
    old_rec: NodeRecord | None,
    new_rec: NodeRecord | None,
    top: bool,
    counts: dict[str, int],
    entries: list[DiffEntry],
    following: list[_Item],
) -> None:
    """One pair of the walk: record what it is and queue what below it must be read."""
    if old_rec is not None and new_rec is not None:
        if old_rec.kind == "dir" and new_rec.kind == "dir":
            counts["dirs_changed"] += 1
            old_children = dict(old_rec.children)
            new_children = dict(new_rec.children)
            for name in dict.fromkeys([*old_children, *new_children]):
                o, n = old_children.get(name), new_children.get(name)
                if o != n:
                    following.append((child_path(path, name), o, n, True))
            return
        same_kind = old_rec.kind == new_rec.kind
        entries.append(
            DiffEntry(
                path,
                "changed" if same_kind else "type_changed",
                old_rec.node_id,
                new_rec.node_id,
                old_rec.kind,
                new_rec.kind,
            )
        )
        if same_kind:
            counts["files_changed"] += 1
            return
        _count(path, old_rec, "removed", counts, following)
        _count(path, new_rec, "added", counts, following)
        return
    record = new_rec if new_rec is not None else old_rec
    assert record is not None
    side: Literal["added", "removed"] = "added" if new_rec is not None else "removed"
    if top:
        entries.append(
            DiffEntry(
                path,
                side,
                old_rec.node_id if old_rec is not None else None,
                new_rec.node_id if new_rec is not None else None,
                old_rec.kind if old_rec is not None else None,
                new_rec.kind if new_rec is not None else None,
            )
        )
    _count(path, record, side, counts, following)


def _count(
    path: str,
    record: NodeRecord,
    side: Literal["added", "removed"],
    counts: dict[str, int],
    following: list[_Item],
) -> None:
    """Count one added or removed entry and queue its children to be counted too."""
    if record.kind != "dir":
        counts[f"files_{side}"] += 1
        return
    counts[f"dirs_{side}"] += 1
    for name, child in record.children:
        if side == "added":
            following.append((child_path(path, name), None, child, False))
        else:
            following.append((child_path(path, name), child, None, False))


def diff_roots(store: StorageBackend, ws: WorkspaceId, root_a: NodeId, root_b: NodeId) -> TreeDiff:
    """Diff two roots of one workspace (e.g. from :func:`resolve_root`)."""
    source = _source(store, ws)
    return diff_trees(source, root_a, source, root_b)


# -- the working tree ----------------------------------------------------------
class _ReadOnly:
    """A stat cache seen through a wrapper that drops every write: scanning never changes it."""

    def __init__(self, cache: StatCache) -> None:
        self._cache = cache

    def get_dir(self, dir_path: str) -> bytes | None:
        return self._cache.get_dir(dir_path)

    def put_dirs(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Dropped: a diagnostic scan leaves the cache as it found it."""

    def close(self) -> None:
        """The caller owns (and closes) the wrapped cache."""


@dataclass(frozen=True, slots=True)
class DiskScan:
    """A working tree scanned into a private memory store (nothing else was written)."""

    store: MemoryStore
    ws: WorkspaceId
    result: ScanResult

    @property
    def root(self) -> NodeId:
        """The disk tree's root NodeID."""
        return self.result.root

    def source(self) -> NodeSource:
        """Its records, for :func:`diff_trees`."""
        return _source(self.store, self.ws)


def scan_in_memory(
    directory: Path,
    *,
    stat_cache: StatCache | None = None,
    workers: int | None = None,
    hash_pool: HashPool | None = None,
) -> DiskScan:
    """Scan ``directory`` into a new memory store, writing nothing anywhere else.

    ``stat_cache`` is only read (its writes are dropped), so unchanged files
    are taken from it as a scan would; None hashes every file. Costs memory
    in proportion to the tree (its records), like any scan into memory.
    """
    memory = MemoryStore("memory://diagnostics")
    memory.create_workspace(WorkspaceInfo(_SCRATCH, "diagnostics", "", None, "", None))
    result = scan_tree(
        directory,
        memory,
        _SCRATCH,
        workers=workers,
        stat_cache=_ReadOnly(stat_cache) if stat_cache is not None else None,
        hash_pool=hash_pool,
    )
    return DiskScan(memory, _SCRATCH, result)


@dataclass(frozen=True, slots=True)
class DiskDiff:
    """The stored current root against the working tree as it is on disk now."""

    stored: RootEntry | None
    scan: ScanResult
    diff: TreeDiff

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / wire shape: the diff plus what the scan saw."""
        out = self.diff.to_dict()
        out["disk"] = {
            "files": self.scan.files,
            "dirs": self.scan.dirs,
            "symlinks": self.scan.symlinks,
            "files_hashed": self.scan.files_hashed,
            "skipped": [s.to_dict() for s in self.scan.skipped],
            "warnings": list(self.scan.warnings),
        }
        return out


def diff_disk(
    store: StorageBackend,
    ws: WorkspaceId,
    directory: Path,
    *,
    stat_cache: StatCache | None = None,
    workers: int | None = None,
) -> DiskDiff:
    """Diff the stored current root (old) against ``directory`` scanned in memory (new)."""
    scanned = scan_in_memory(directory, stat_cache=stat_cache, workers=workers)
    stored = store.current_root(ws)
    diff = diff_trees(
        _source(store, ws),
        stored.root if stored is not None else None,
        scanned.source(),
        scanned.root,
    )
    return DiskDiff(stored, scanned.result, diff)


# -- doctor ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Difference:
    """The first differing node (in path order) between two trees, with its records' details."""

    path: str
    kind: DiffKind
    stored_id: NodeId | None
    rescanned_id: NodeId | None
    stored_kind: NodeKind | None
    rescanned_kind: NodeKind | None
    stored_content_hash: str | None
    rescanned_content_hash: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "kind": self.kind,
            "stored_id": self.stored_id,
            "rescanned_id": self.rescanned_id,
            "stored_kind": self.stored_kind,
            "rescanned_kind": self.rescanned_kind,
            "stored_content_hash": self.stored_content_hash,
            "rescanned_content_hash": self.rescanned_content_hash,
        }


def _first(diff: TreeDiff, old: NodeSource, new: NodeSource) -> Difference | None:
    if not diff.entries:
        return None
    entry = diff.entries[0]
    old_rec = old([entry.old_id]).get(entry.old_id) if entry.old_id else None
    new_rec = new([entry.new_id]).get(entry.new_id) if entry.new_id else None
    return Difference(
        entry.path,
        entry.kind,
        entry.old_id,
        entry.new_id,
        entry.old_kind,
        entry.new_kind,
        old_rec.content_hash if old_rec is not None else None,
        new_rec.content_hash if new_rec is not None else None,
    )


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Whether a rescan reproduces itself and the stored root, and if not, where not.

    ``repeatable``: two scans of the directory (in-process, then with the
    configured workers, neither using the stat cache) gave one root.
    ``matches``: that root is the stored current root. ``first_difference``
    names the first differing node in path order: between the two scans when
    not repeatable, else between the stored root and the rescan.
    """

    stored: RootEntry | None
    disk_root: NodeId
    repeatable: bool
    matches: bool
    first_difference: Difference | None
    counts: Mapping[str, int]
    scan: ScanResult

    @property
    def ok(self) -> bool:
        """True when the scan is repeatable and matches the stored root."""
        return self.repeatable and self.matches

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / wire shape."""
        return {
            "ok": self.ok,
            "repeatable": self.repeatable,
            "matches": self.matches,
            "stored_root": self.stored.root if self.stored is not None else None,
            "disk_root": self.disk_root,
            "first_difference": (
                self.first_difference.to_dict() if self.first_difference is not None else None
            ),
            "counts": dict(self.counts),
            "files": self.scan.files,
            "dirs": self.scan.dirs,
            "skipped": [s.to_dict() for s in self.scan.skipped],
        }


def doctor(
    store: StorageBackend,
    ws: WorkspaceId,
    directory: Path,
    *,
    workers: int | None = None,
) -> DoctorReport:
    """Rescan ``directory`` twice in memory (hashing every file) and compare with the stored root.

    Writes nothing: not the store, not the stat cache. The two scans differ in
    how they hash (in this process, then with ``workers`` processes), which a
    root must never depend on.
    """
    first = scan_in_memory(directory, workers=1)
    second = scan_in_memory(directory, workers=workers)
    stored = store.current_root(ws)
    if first.root != second.root:
        diff = diff_trees(first.source(), first.root, second.source(), second.root)
        return DoctorReport(
            stored,
            first.root,
            False,
            stored is not None and stored.root == first.root,
            _first(diff, first.source(), second.source()),
            diff.counts,
            first.result,
        )
    source = _source(store, ws)
    diff = diff_trees(source, stored.root if stored else None, first.source(), first.root)
    return DoctorReport(
        stored,
        first.root,
        True,
        diff.same,
        _first(diff, source, first.source()),
        diff.counts,
        first.result,
    )


# -- explain -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RootRef:
    """A root-history entry named in an explanation: the scan that changed something."""

    seq: int
    root: NodeId
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"seq": self.seq, "root": self.root, "created_at": self.created_at}


InputRole = Literal["basis_node", "basis_frame", "child_frame"]


@dataclass(frozen=True, slots=True)
class ExplainedInput:
    """One input of a frame's basis and whether it is still current.

    For a node: current when the path index still maps its path to it; else
    ``now`` is the NodeID at that path today (None: removed) and ``since`` the
    root whose scan replaced it. For a frame: current when its node is
    current and it is its (node, type) head; else ``now`` is the head today
    (``superseded``) or its node changed (``since`` as for a node). A frame's
    own basis inputs follow in ``inputs``, up to :data:`EXPLAIN_MAX_DEPTH`.
    """

    role: InputRole
    ref: str
    path: str | None
    frame_type: str | None
    current: bool
    reason: str | None
    now: str | None
    since: RootRef | None
    inputs: tuple[ExplainedInput, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (recursive)."""
        return {
            "role": self.role,
            "ref": self.ref,
            "path": self.path,
            "frame_type": self.frame_type,
            "current": self.current,
            "reason": self.reason,
            "now": self.now,
            "since": self.since.to_dict() if self.since is not None else None,
            "inputs": [i.to_dict() for i in self.inputs],
        }

    def stale_inputs(self, depth: int = 1) -> list[tuple[int, ExplainedInput]]:
        """This input and those below it that are not current, with their depth."""
        out = [] if self.current else [(depth, self)]
        for child in self.inputs:
            out.extend(child.stale_inputs(depth + 1))
        return out


@dataclass(frozen=True, slots=True)
class Explanation:
    """A frame, its node's state and its basis chain, with a plain verdict.

    ``verdict`` is ``stale`` when the frame's node or any input anywhere in
    the (bounded) chain is no longer current, ``incomplete`` when it is a
    synthesis that covers less than its directory holds, else ``fresh``.
    ``reasons`` says why, one line per cause.
    """

    frame: Frame
    path: str | None
    node_current: bool
    node_now: NodeId | None
    since: RootRef | None
    head: FrameId | None
    verdict: Verdict
    reasons: tuple[str, ...]
    inputs: tuple[ExplainedInput, ...]
    truncated: bool
    current_root: RootEntry | None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / wire shape."""
        return {
            "frame": self.frame.to_dict(),
            "path": self.path,
            "node_current": self.node_current,
            "node_now": self.node_now,
            "since": self.since.to_dict() if self.since is not None else None,
            "head": self.head,
            "is_head": self.head == self.frame.frame_id,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "inputs": [i.to_dict() for i in self.inputs],
            "truncated": self.truncated,
            "current_root": self.current_root.root if self.current_root is not None else None,
        }


class _Explainer:
    def __init__(self, store: StorageBackend, ws: WorkspaceId) -> None:
        self.store = store
        self.ws = ws
        self.budget = EXPLAIN_MAX_INPUTS
        self.truncated = False
        self.reasons: list[str] = []

    def node_state(
        self, node_id: NodeId
    ) -> tuple[NodeRecord | None, NodeId | None, RootRef | None]:
        """(record, NodeID at its path now, the root that replaced it when it is not current)."""
        record = self.store.get_node(self.ws, node_id)
        if record is None:
            return None, None, None
        now = self.store.lookup_path(self.ws, record.path)
        since = None if now == node_id else self.since(record.path, node_id)
        return record, now, since

    def since(self, path: str, node_id: NodeId) -> RootRef | None:
        """The root whose scan last replaced ``node_id`` at ``path`` (path history, bounded)."""
        for seq, old in self.store.path_history(self.ws, path, PATH_HISTORY_LIMIT):
            if old == node_id:
                entries = self.store.root_history(self.ws, 1, seq + 1)
                if entries and entries[0].seq == seq:
                    return RootRef(seq, entries[0].root, entries[0].created_at)
                return None
        return None

    def take(self) -> bool:
        if self.budget <= 0:
            self.truncated = True
            return False
        self.budget -= 1
        return True

    def node_input(self, node_id: NodeId) -> ExplainedInput:
        record, now, since = self.node_state(node_id)
        if record is None:
            return ExplainedInput(
                "basis_node", node_id, None, None, False, "node is not stored", None, None
            )
        current = now == node_id
        reason = None if current else ("removed" if now is None else "changed")
        return ExplainedInput("basis_node", node_id, record.path, None, current, reason, now, since)

    def frame_input(self, frame_id: FrameId, role: InputRole, depth: int) -> ExplainedInput:
        frame = self.store.get_frame(self.ws, frame_id)
        if frame is None:
            return ExplainedInput(
                role, frame_id, None, None, False, "frame is not stored", None, None
            )
        record, now, since = self.node_state(frame.node_id)
        head = self.store.get_head(self.ws, frame.node_id, frame.frame_type)
        node_current = record is not None and now == frame.node_id
        reason: str | None = None
        shown_now: str | None = None
        if record is None:
            reason = "its node is not stored"
        elif not node_current:
            reason = "its node was removed" if now is None else "its node changed"
            shown_now = now
        elif head != frame_id:
            reason = "superseded"
            shown_now = head
        inputs = self.inputs(frame, depth + 1)
        return ExplainedInput(
            role,
            frame_id,
            record.path if record is not None else None,
            frame.frame_type,
            reason is None,
            reason,
            shown_now,
            since,
            inputs,
        )

    def inputs(self, frame: Frame, depth: int) -> tuple[ExplainedInput, ...]:
        if depth > EXPLAIN_MAX_DEPTH:
            basis = frame.basis
            if basis.frame_id is not None or basis.child_frames:
                self.truncated = True
            return ()
        basis = frame.basis
        out: list[ExplainedInput] = []
        if basis.node_id is not None and basis.node_id != frame.node_id and self.take():
            out.append(self.node_input(basis.node_id))
        if basis.frame_id is not None and self.take():
            out.append(self.frame_input(basis.frame_id, "basis_frame", depth))
        for child in basis.child_frames:
            if not self.take():
                break
            out.append(self.frame_input(child, "child_frame", depth))
        return tuple(out)


def _describe(item: ExplainedInput, depth: int) -> str:
    where = f" on {item.path or '.'}" if item.path is not None else ""
    what = "node" if item.role == "basis_node" else f"{item.frame_type or 'frame'} frame"
    level = "" if depth == 1 else f" (input {depth} levels down)"
    line = f"{item.role.replace('_', ' ')} {what} {item.ref[:12]}{where}{level}: {item.reason}"
    if item.now is not None:
        line += f", now {item.now[:12]}"
    if item.since is not None:
        line += f" since root {item.since.root[:12]} (seq {item.since.seq})"
    return line


def explain_frame(store: StorageBackend, ws: WorkspaceId, frame_id: str) -> Explanation:
    """Why a frame is fresh, stale or incomplete: its node, its basis chain, what replaced what.

    Raises InvalidId for a malformed FrameID, FrameNotFound for an unknown one.
    """
    fid = FrameId(parse_hex_id(frame_id, "FrameID"))
    frame = store.get_frame(ws, fid)
    if frame is None:
        raise FrameNotFound(f"no frame {fid} in this workspace")
    explainer = _Explainer(store, ws)
    record, now, since = explainer.node_state(frame.node_id)
    node_current = record is not None and now == frame.node_id
    head = store.get_head(ws, frame.node_id, frame.frame_type)
    inputs = explainer.inputs(frame, 1)
    freshness = Freshness(store, ws)
    reasons: list[str] = []
    if not node_current:
        path = record.path if record is not None else "?"
        change = "was removed" if now is None else f"changed (now {now[:12]})"
        line = f"the frame's node at {path or '.'} {change}"
        if since is not None:
            line += f" since root {since.root[:12]} (seq {since.seq})"
        reasons.append(line)
    for item in inputs:
        reasons.extend(_describe(it, d) for d, it in item.stale_inputs())
    one_level = freshness.why_stale(frame)
    if one_level is not None and not reasons:
        reasons.append(one_level)  # e.g. a synthesis whose children's heads moved
    if frame.basis.kind == "synthesis" and record is not None and record.kind == "dir":
        basis_set = set(frame.basis.child_frames)
        found, _ = freshness.selection(
            record, str(frame.basis.params.get("input_type", frame.frame_type))
        )
        for name, child in found:
            if child not in basis_set:
                reasons.append(
                    f"new input {child[:12]} from {child_path(record.path, name)} "
                    "(not in the basis)"
                )
    verdict: Verdict = "stale" if reasons else "fresh"
    if verdict == "fresh":
        gaps = freshness.completeness(frame)
        if gaps is not None and gaps.incomplete:
            verdict = "incomplete"
            reasons.append(gaps.reason())
    return Explanation(
        frame,
        record.path if record is not None else None,
        node_current,
        now,
        since,
        head,
        verdict,
        tuple(reasons),
        inputs,
        explainer.truncated,
        store.current_root(ws),
    )
