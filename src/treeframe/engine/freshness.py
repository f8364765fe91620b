"""Freshness by lookup: is a frame's node, and everything its basis names, still current?

* A node is current when the path index maps its recorded path to it.
* A frame is current when its node is current and it is its (node, type) head.
* A frame is stale when its node is not current, or its basis names a node
  or frame that is not current, or — for a synthesis — the inputs the same
  selection would take today (each child's head of the input type) differ
  from the ordered child FrameIDs in its basis.

Freshness is decided one step deep: a synthesis built on a child synthesis
that is itself stale (but still the child's head) reads as fresh here;
``stale()`` follows the basis index to report such frames as stale through
their input, and ``regenerate`` (post-order) rebuilds them.

Every answer is a handful of index lookups (batched for a directory's
children); nothing is recomputed or hashed. One instance memoizes lookups for
the duration of one API call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from treeframe.frames.frame import Frame
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.tree.records import NodeRecord

__all__ = ["ANY_TYPE", "Freshness", "HeadOverlay", "selection_inputs"]

ANY_TYPE = "*"


HeadOverlay = Mapping[tuple[NodeId, str], FrameId]
"""Heads a dry run would have moved: consulted before the store's heads."""


def selection_inputs(
    store: StorageBackend,
    ws: WorkspaceId,
    directory: NodeRecord,
    input_type: str,
    overlay: HeadOverlay | None = None,
) -> tuple[list[tuple[str, FrameId]], list[str]]:
    """Child head frames a synthesis of ``input_type`` takes from ``directory`` today.

    Returns (``[(child name, frame id)]`` ordered by child name then FrameID,
    names of children without such a frame). ``*`` takes every head of each child.
    """
    children = list(directory.children)
    found: list[tuple[str, FrameId]] = []
    missing: list[str] = []
    if input_type == ANY_TYPE:
        for name, child in children:
            merged = store.get_heads(ws, child)
            if overlay:
                merged.update({t: f for (n, t), f in overlay.items() if n == child})
            heads = sorted(merged.values())
            if not heads:
                missing.append(name)
            found.extend((name, fid) for fid in heads)
        return found, missing
    heads_by_key = store.get_heads_batch(ws, [(child, input_type) for _, child in children])
    if overlay:
        heads_by_key.update(
            {
                (c, input_type): overlay[(c, input_type)]
                for _, c in children
                if (c, input_type) in overlay
            }
        )
    for name, child in children:
        fid = heads_by_key.get((child, input_type))
        if fid is None:
            missing.append(name)
        else:
            found.append((name, fid))
    return found, missing


class Freshness:
    """Memoized freshness lookups for one call."""

    def __init__(
        self,
        store: StorageBackend,
        ws: WorkspaceId,
        overlay: HeadOverlay | None = None,
        *,
        nodes: dict[NodeId, bool] | None = None,
    ) -> None:
        self.store = store
        self.ws = ws
        self.overlay = overlay
        self._nodes: dict[NodeId, bool] = nodes if nodes is not None else {}
        self._frames: dict[FrameId, bool] = {}

    def seed(self, records: Iterable[NodeRecord]) -> None:
        """Decide the currency of many nodes with one batched path lookup."""
        todo = [r for r in records if r.node_id not in self._nodes]
        if not todo:
            return
        current = self.store.lookup_paths(self.ws, [r.path for r in todo])
        for record in todo:
            self._nodes[record.node_id] = current.get(record.path) == record.node_id

    def node_current(self, node_id: NodeId, record: NodeRecord | None = None) -> bool:
        """True when the path index maps the node's path to this node."""
        known = self._nodes.get(node_id)
        if known is not None:
            return known
        rec = record or self.store.get_node(self.ws, node_id)
        current = rec is not None and self.store.lookup_path(self.ws, rec.path) == node_id
        self._nodes[node_id] = current
        return current

    def frame_current(self, frame_id: FrameId) -> bool:
        """True when the frame is its node's head of its type and the node is current."""
        known = self._frames.get(frame_id)
        if known is not None:
            return known
        frame = self.store.get_frame(self.ws, frame_id)
        current = (
            frame is not None
            and self.store.get_head(self.ws, frame.node_id, frame.frame_type) == frame_id
            and self.node_current(frame.node_id)
        )
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
            record = self.store.get_node(self.ws, frame.node_id)
            if record is None or record.kind != "dir":
                return "synthesis basis on a non-directory"
            input_type = str(basis.params.get("input_type", frame.frame_type))
            found, _ = selection_inputs(self.store, self.ws, record, input_type, self.overlay)
            if tuple(fid for _, fid in found) != basis.child_frames:
                return "child frames changed"
        return None
