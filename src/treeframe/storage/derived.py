"""BatchDerivedStore: single lookups derived from the batch forms a backend writes.

A backend implements only the batch queries of the seams (``get_nodes``,
``get_frames``, ``lookup_paths``, ...); this base class answers every single
lookup with a batch of one, so the two can never disagree and a new backend
(PostgreSQL, LMDB) has one query per concern to get right. A backend may still
override a single lookup when it measures faster, as long as the conformance
suite keeps passing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from treeframe.frames.frame import Frame
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.storage.values import NodeSetState
from treeframe.tree.records import NodeRecord

__all__ = ["BatchDerivedStore"]


class BatchDerivedStore(ABC):
    """Mixin for backends: ``get_X`` from ``get_Xs`` for every seam's single lookup."""

    @abstractmethod
    def get_nodes(self, ws: WorkspaceId, node_ids: Sequence[NodeId]) -> dict[NodeId, NodeRecord]:
        """Batch lookup of records (see :class:`~treeframe.storage.base.NodeStore`)."""

    @abstractmethod
    def lookup_paths(self, ws: WorkspaceId, paths: Sequence[str]) -> dict[str, NodeId]:
        """Batch lookup of current NodeIDs by path."""

    @abstractmethod
    def get_frames(self, ws: WorkspaceId, frame_ids: Sequence[FrameId]) -> dict[FrameId, Frame]:
        """Batch lookup of frames."""

    @abstractmethod
    def get_frame_sets(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, NodeSetState]:
        """Batch lookup of frame-set states."""

    @abstractmethod
    def get_heads_many(
        self, ws: WorkspaceId, node_ids: Sequence[NodeId]
    ) -> dict[NodeId, dict[str, FrameId]]:
        """Every head of many nodes: the one head read."""

    @abstractmethod
    def path_history_many(
        self, ws: WorkspaceId, paths: Sequence[str], limit: int
    ) -> dict[str, list[tuple[int, NodeId]]]:
        """Batch form of path history."""

    def get_node(self, ws: WorkspaceId, node_id: NodeId) -> NodeRecord | None:
        """One record, from :meth:`get_nodes`."""
        return self.get_nodes(ws, [node_id]).get(node_id)

    def lookup_path(self, ws: WorkspaceId, path: str) -> NodeId | None:
        """Current NodeID at ``path``, from :meth:`lookup_paths`."""
        return self.lookup_paths(ws, [path]).get(path)

    def get_frame(self, ws: WorkspaceId, frame_id: FrameId) -> Frame | None:
        """One frame, from :meth:`get_frames`."""
        return self.get_frames(ws, [frame_id]).get(frame_id)

    def get_frame_set(self, ws: WorkspaceId, node_id: NodeId) -> NodeSetState | None:
        """A node's frame-set state, from :meth:`get_frame_sets`."""
        return self.get_frame_sets(ws, [node_id]).get(node_id)

    def get_head(self, ws: WorkspaceId, node_id: NodeId, frame_type: str) -> FrameId | None:
        """The (node, type) head, from :meth:`get_heads_many`."""
        return self.get_heads_many(ws, [node_id]).get(node_id, {}).get(frame_type)

    def path_history(self, ws: WorkspaceId, path: str, limit: int) -> list[tuple[int, NodeId]]:
        """A path's earlier NodeIDs, newest first, from :meth:`path_history_many`."""
        return self.path_history_many(ws, [path], limit).get(path, [])
