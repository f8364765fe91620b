"""Freshness by lookup: is a frame's node, and everything its basis names, still current?

* A node is current when the path index maps its recorded path to it.
* A frame is current when its node is current and it is its (node, type) head.
* A frame is stale when its node is not current, or its basis names a node
  or frame that is not current, or — for a synthesis — the inputs the same
  selection would take today (each child's head of the input type) differ
  from the ordered child FrameIDs in its basis.
* A synthesis that is not stale can still be *incomplete*: a child of its
  directory has no input of the input type (``missing``; ``--missing skip``
  left it out), or a child's input is itself stale or lacks inputs of its own
  (``stale_inputs``). Such a frame covers less than its directory holds and
  says so on every read; the basis is not involved, it is decided by lookup.

Completeness reaches all the way down without walking the subtree: a
synthesis built while a child lacked an input, or on an input so marked, is
marked itself when it is built (metadata :data:`INCOMPLETE_KEY`, never hashed
and a pure function of the frame's basis, so every build of one FrameID gets
the same mark). A read then needs only the directory's own selection and its
inputs' records. Staleness is decided one level of inputs deep: an input that
is stale makes a synthesis incomplete, but a stale input two levels down is
not looked at — that would walk the whole subtree on every read. ``stale()``
closes that gap by following the basis index (frames built on a stale or
incomplete frame are stale through it), and ``regenerate`` (post-order)
rebuilds what it can and reports the rest.

Every answer is a handful of index lookups, batched per directory (a
directory's children, and the children of its child syntheses); nothing is
recomputed or hashed. One instance memoizes lookups for the duration of one
API call; selections can be shared across the steps of a post-order walk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from treeframe.engine.types import FrameContext, listed_paths
from treeframe.frames.frame import Frame
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.tree.paths import child_path
from treeframe.tree.records import NodeRecord

__all__ = [
    "ANY_TYPE",
    "INCOMPLETE_KEY",
    "Completeness",
    "Freshness",
    "HeadOverlay",
    "Selection",
    "marked_incomplete",
    "selection_inputs",
    "selections",
]

ANY_TYPE = "*"
INCOMPLETE_KEY = "treeframe.incomplete"
"""Metadata a synthesis gets when built with children lacking inputs, here or below."""

HeadOverlay = Mapping[tuple[NodeId, str], FrameId]
"""Heads a dry run would have moved: consulted before the store's heads."""

Selection = tuple[list[tuple[str, FrameId]], list[str]]
"""``([(child name, frame id)], [names of children without an input])``."""

FrameSource = Callable[[Sequence[FrameId]], Mapping[FrameId, Frame]]


def selections(
    store: StorageBackend,
    ws: WorkspaceId,
    wanted: Sequence[tuple[NodeRecord, str]],
    overlay: HeadOverlay | None = None,
) -> dict[tuple[NodeId, str], Selection]:
    """The inputs a synthesis of each ``(directory, input type)`` takes today, in two batched reads.

    Each selection lists the children's heads of the input type ordered by
    child name then FrameID (``*``: every head of each child), plus the names
    of children without one.
    """
    typed = [(child, t) for record, t in wanted if t != ANY_TYPE for _, child in record.children]
    every = [child for record, t in wanted if t == ANY_TYPE for _, child in record.children]
    nodes = list(dict.fromkeys([child for child, _ in typed] + every))
    all_heads = store.get_heads_many(ws, nodes) if nodes else {}
    heads = {key: fid for key in typed if (fid := all_heads.get(key[0], {}).get(key[1]))}
    if overlay:
        keys = set(typed)
        heads.update({key: fid for key, fid in overlay.items() if key in keys})
    out: dict[tuple[NodeId, str], Selection] = {}
    for record, input_type in wanted:
        found: list[tuple[str, FrameId]] = []
        missing: list[str] = []
        for name, child in record.children:
            if input_type != ANY_TYPE:
                fid = heads.get((child, input_type))
                if fid is None:
                    missing.append(name)
                else:
                    found.append((name, fid))
                continue
            merged = dict(all_heads.get(child, {}))
            if overlay:
                merged.update({t: f for (n, t), f in overlay.items() if n == child})
            if not merged:
                missing.append(name)
            found.extend((name, fid) for fid in sorted(merged.values()))
        out[(record.node_id, input_type)] = (found, missing)
    return out


def selection_inputs(
    store: StorageBackend,
    ws: WorkspaceId,
    directory: NodeRecord,
    input_type: str,
    overlay: HeadOverlay | None = None,
) -> Selection:
    """Child head frames a synthesis of ``input_type`` takes from ``directory`` today."""
    return selections(store, ws, [(directory, input_type)], overlay)[
        (directory.node_id, input_type)
    ]


def marked_incomplete(frame: Frame) -> bool:
    """True for a synthesis built with children lacking inputs (at its level or below)."""
    return any(key == INCOMPLETE_KEY for key, _ in frame.metadata)


def _input_type(frame: Frame) -> str:
    return str(frame.basis.params.get("input_type", frame.frame_type))


@dataclass(frozen=True, slots=True)
class Completeness:
    """What a synthesis that is not stale lacks, if anything."""

    input_type: str
    missing: tuple[str, ...] = ()
    """Child paths without an input of the input type."""
    stale_inputs: tuple[str, ...] = ()
    """Child paths whose input is stale, or a synthesis lacking inputs itself."""
    stale_input_ids: tuple[FrameId, ...] = ()
    """The FrameIDs of those inputs, in the same order."""
    deep: bool = False
    """Some stale input lacks inputs itself (so rebuilding it cannot help)."""

    @property
    def incomplete(self) -> bool:
        """True when the synthesis does not cover its whole directory with current inputs."""
        return bool(self.missing or self.stale_inputs)

    def reason(self) -> str:
        """A short reason for reports, e.g. "incomplete: no 'summary' frame for src/db/pool.py"."""
        parts = []
        if self.missing:
            parts.append(f"no {self.input_type!r} frame for {listed_paths(self.missing)}")
        if self.stale_inputs:
            parts.append(f"the input from {listed_paths(self.stale_inputs)} is stale or incomplete")
        return "incomplete: " + "; ".join(parts)


class Freshness:
    """Memoized freshness and completeness lookups for one call."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        overlay: HeadOverlay | None = None,
        *,
        nodes: dict[NodeId, bool] | None = None,
        selections: dict[tuple[NodeId, str], Selection] | None = None,
        records: dict[NodeId, NodeRecord | None] | None = None,
        frames: FrameSource | None = None,
    ) -> None:
        """``nodes``, ``selections`` and ``records`` may be shared by several instances.

        That is safe through a post-order walk: node currency and records
        never change during a call, and a directory's selection depends only
        on its children's heads, which the walk has finished with. Frame
        currency (heads of any node) is always per instance. ``frames``
        fetches frames by ID (default: the store), e.g. from a walk's cache.
        """
        self.store = store
        self.ws = ws
        self.overlay = overlay
        self._nodes: dict[NodeId, bool] = nodes if nodes is not None else {}
        self._selections = selections if selections is not None else {}
        self._records = records if records is not None else {}
        self._load = frames or (lambda ids: store.get_frames(ws, ids))
        self._frames: dict[FrameId, bool] = {}

    # -- nodes ---------------------------------------------------------------
    def seed(self, records: Iterable[NodeRecord]) -> None:
        """Decide the currency of many nodes with one batched path lookup (and keep the records)."""
        listed = list(records)
        self._records.update({r.node_id: r for r in listed})
        self._seed_paths([(r.path, r.node_id) for r in listed])

    def _seed_paths(self, entries: Sequence[tuple[str, NodeId]]) -> None:
        todo = [(path, node) for path, node in entries if node not in self._nodes]
        if not todo:
            return
        current = self.store.lookup_paths(self.ws, [path for path, _ in todo])
        for path, node in todo:
            self._nodes[node] = current.get(path) == node

    def node_current(self, node_id: NodeId, record: NodeRecord | None = None) -> bool:
        """True when the path index maps the node's path to this node."""
        known = self._nodes.get(node_id)
        if known is not None:
            return known
        rec = record or self._record(node_id)
        current = rec is not None and self.store.lookup_path(self.ws, rec.path) == node_id
        self._nodes[node_id] = current
        return current

    def _record(self, node_id: NodeId) -> NodeRecord | None:
        if node_id not in self._records:
            self._records[node_id] = self.store.get_node(self.ws, node_id)
        return self._records[node_id]

    def _fetch_records(self, node_ids: Sequence[NodeId]) -> None:
        todo = [n for n in dict.fromkeys(node_ids) if n not in self._records]
        if todo:
            found = self.store.get_nodes(self.ws, todo)
            self._records.update({n: found.get(n) for n in todo})

    # -- selections ----------------------------------------------------------
    def selection(self, directory: NodeRecord, input_type: str) -> Selection:
        """What a synthesis of ``input_type`` takes from ``directory`` today (memoized)."""
        key = (directory.node_id, input_type)
        if key not in self._selections:
            self._prefetch([(directory, input_type)])
        return self._selections[key]

    def _prefetch(self, wanted: Sequence[tuple[NodeRecord, str]]) -> None:
        todo = [(r, t) for r, t in wanted if (r.node_id, t) not in self._selections]
        if todo:
            self._selections.update(selections(self.store, self.ws, todo, self.overlay))

    # -- frames --------------------------------------------------------------
    def frame_current(self, frame_id: FrameId) -> bool:
        """True when the frame is its node's head of its type and the node is current."""
        known = self._frames.get(frame_id)
        if known is not None:
            return known
        frame = self._load([frame_id]).get(frame_id)
        head = None
        if frame is not None:
            head = (self.overlay or {}).get((frame.node_id, frame.frame_type)) or (
                self.store.get_head(self.ws, frame.node_id, frame.frame_type)
            )
        current = frame is not None and head == frame_id and self.node_current(frame.node_id)
        self._frames[frame_id] = current
        return current

    def why_stale(self, frame: Frame) -> str | None:
        """None for a fresh frame, else a short reason."""
        if not self.node_current(frame.node_id):
            return "node changed"
        basis = frame.basis
        if basis.node_id is not None and not self.node_current(basis.node_id):
            return "basis node changed"
        if basis.frame_id is not None and not self.frame_current(basis.frame_id):
            return "basis frame superseded"
        if basis.kind == "synthesis":
            record = self._record(frame.node_id)
            if record is None or record.kind != "dir":
                return "synthesis basis on a non-directory"
            found, _ = self.selection(record, _input_type(frame))
            if tuple(fid for _, fid in found) != basis.child_frames:
                return "child frames changed"
        return None

    def completeness(self, frame: Frame) -> Completeness | None:
        """What a synthesis frame that is not stale lacks (None: not a synthesis of a directory).

        Batched per directory: the directory's selection, its inputs, their
        nodes' currency, and the selections of the inputs that are syntheses.
        """
        if frame.basis.kind != "synthesis":
            return None
        record = self._record(frame.node_id)
        if record is None or record.kind != "dir":
            return None
        input_type = _input_type(frame)
        found, absent = self.selection(record, input_type)
        missing = tuple(child_path(record.path, name) for name in absent)
        inputs = self._load([fid for _, fid in found])
        self._seed_paths([(child_path(record.path, n), c) for n, c in record.children])
        nested = [f for f in inputs.values() if f.basis.kind == "synthesis"]
        self._fetch_records([f.node_id for f in nested])
        self._prefetch(
            [
                (rec, _input_type(f))
                for f in nested
                if (rec := self._records.get(f.node_id)) is not None and rec.kind == "dir"
            ]
        )
        stale: list[tuple[str, FrameId]] = []
        deep = False
        for name, fid in found:
            path = child_path(record.path, name)
            child = inputs.get(fid)
            if child is None or self.why_stale(child) is not None:
                stale.append((path, fid))
            elif marked_incomplete(child) or self._lacks_inputs(child):
                stale.append((path, fid))
                deep = True
        return Completeness(
            input_type,
            missing,
            tuple(p for p, _ in stale),
            tuple(f for _, f in stale),
            deep,
        )

    def _lacks_inputs(self, frame: Frame) -> bool:
        """True for a synthesis whose directory has children without an input."""
        if frame.basis.kind != "synthesis":
            return False
        record = self._record(frame.node_id)
        if record is None or record.kind != "dir":
            return False
        return bool(self.selection(record, _input_type(frame))[1])

    # -- serving -------------------------------------------------------------
    def serve(self, frame: Frame, content: bytes, *, previous: bool = False) -> FrameContext:
        """The frame as a reader gets it: with content, freshness and completeness."""
        if previous or self.why_stale(frame) is not None:
            return FrameContext(frame, content, True, previous=previous)
        gaps = self.completeness(frame)
        if gaps is None or not gaps.incomplete:
            return FrameContext(frame, content, False)
        return FrameContext(
            frame, content, False, missing=gaps.missing, stale_inputs=gaps.stale_inputs
        )
