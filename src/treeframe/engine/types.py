"""Typed requests and responses of the context API (what the REST API will expose one-to-one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from treeframe.frames.frame import DEFAULT_CONTENT_TYPE, Basis, Frame
from treeframe.ids import FrameId, NodeId
from treeframe.tree.records import NodeRecord

__all__ = [
    "FrameContext",
    "FrameInput",
    "NodeContext",
    "PutResult",
    "RegenerationReport",
    "StaleFrame",
    "StaleReport",
    "SynthesisResult",
    "listed_paths",
]

_SHOWN = 3


def listed_paths(paths: tuple[str, ...] | list[str]) -> str:
    """A few paths for a one-line message ("a, b, c and 4 more"; the root shows as ".")."""
    shown = ", ".join(p or "." for p in paths[:_SHOWN])
    more = len(paths) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


@dataclass(frozen=True, slots=True)
class FrameInput:
    """A frame to append: the node and agent are given separately to ``put_frame``."""

    frame_type: str
    content: bytes
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: Mapping[str, str] = field(default_factory=dict)
    basis: Basis | None = None


@dataclass(frozen=True, slots=True)
class PutResult:
    """What PutFrame did: the frame as stored and whether this call stored it.

    ``created`` is False for a re-put of a stored FrameID: nothing new was
    stored and ``frame`` carries the stored metadata and content type (not the
    request's); the frame is the current head either way.
    """

    frame: Frame
    created: bool

    @property
    def frame_id(self) -> FrameId:
        """The frame's ID."""
        return self.frame.frame_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the ``frame/1`` record plus ``created``."""
        out = self.frame.to_dict()
        out["created"] = self.created
        return out


@dataclass(frozen=True, slots=True)
class FrameContext:
    """A frame as served to a reader: with its content, explicit freshness and completeness.

    ``stale`` is True when the frame's node or anything its basis names is no
    longer current. ``previous`` marks a head of an earlier NodeID at the same
    path (served only on request, always stale). A synthesis that is not stale
    is ``incomplete`` when children of its directory have no input of its
    input type (``missing``: their paths) or their input is stale or lacks
    inputs itself (``stale_inputs``): it covers less than its directory holds.
    """

    frame: Frame
    content: bytes
    stale: bool
    previous: bool = False
    missing: tuple[str, ...] = ()
    stale_inputs: tuple[str, ...] = ()

    @property
    def incomplete(self) -> bool:
        """True for a synthesis that lacks current inputs for some of its children."""
        return bool(self.missing or self.stale_inputs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the ``frame/1`` record plus content, freshness and completeness."""
        out = self.frame.to_dict()
        out["content"] = self.content.decode("utf-8", errors="replace")
        out["stale"] = self.stale
        out["previous"] = self.previous
        out["incomplete"] = self.incomplete
        out["missing"] = list(self.missing)
        out["stale_inputs"] = list(self.stale_inputs)
        return out


@dataclass(frozen=True, slots=True)
class NodeContext:
    """GetNode's answer: the record, the selected frames and the node's total frame count."""

    node_record: NodeRecord
    frames: tuple[FrameContext, ...]
    frame_count: int
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "node": self.node_record.to_dict(),
            "frames": [f.to_dict() for f in self.frames],
            "frame_count": self.frame_count,
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class StaleFrame:
    """A head frame whose basis is no longer current, and why."""

    frame_id: FrameId
    node_id: NodeId
    path: str
    frame_type: str
    agent_id: str
    reason: str
    recomputable: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "frame_id": self.frame_id,
            "node_id": self.node_id,
            "path": self.path,
            "frame_type": self.frame_type,
            "agent_id": self.agent_id,
            "reason": self.reason,
            "recomputable": self.recomputable,
        }


@dataclass(frozen=True, slots=True)
class StaleReport:
    """Every stale head frame in a scope (plus frames up the chain built on them)."""

    node_id: NodeId
    frames: tuple[StaleFrame, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"node_id": self.node_id, "frames": [f.to_dict() for f in self.frames]}


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    """What a synthesis produced, per directory in post-order."""

    frames: tuple[Frame, ...]
    skipped: tuple[str, ...] = ()
    """Children (paths) that had no input frame and were left out of a written frame."""
    without_inputs: tuple[str, ...] = ()
    """Directories (paths) that got no frame: none of their children had an input."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "frames": [f.to_dict() for f in self.frames],
            "skipped": list(self.skipped),
            "without_inputs": list(self.without_inputs),
        }


@dataclass(frozen=True, slots=True)
class RegenerationReport:
    """What ``regenerate`` did (or, with ``dry_run``, would do)."""

    node_id: NodeId
    regenerated_count: int
    frame_ids: tuple[FrameId, ...]
    stale_unrecomputable: tuple[StaleFrame, ...]
    duration_ms: int
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "node_id": self.node_id,
            "regenerated_count": self.regenerated_count,
            "frame_ids": list(self.frame_ids),
            "stale_unrecomputable": [f.to_dict() for f in self.stale_unrecomputable],
            "duration_ms": self.duration_ms,
            "dry_run": self.dry_run,
        }
