"""Context views: bounded, deterministic selection of a node's frames.

A view never returns more than ``max_frames`` frames (itself capped by a
hard limit) and, when ``max_bytes`` is set, stops before the first frame
whose content would overflow the budget, so lower-ranked frames never jump
ahead of higher-ranked ones. Frames are read lazily from the store's
per-node indexes, newest first, so a view reads only what it returns plus
the frames its filters skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from treeframe.errors import InvalidViewPolicy
from treeframe.frames.frame import Frame
from treeframe.ids import NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend

__all__ = ["DEFAULT_MAX_FRAMES", "HARD_MAX_FRAMES", "Ordering", "View", "ViewPolicy", "select_view"]

Ordering = Literal["recency", "type", "agent"]
DEFAULT_MAX_FRAMES = 20
HARD_MAX_FRAMES = 1000


@dataclass(frozen=True, slots=True)
class ViewPolicy:
    """How to pick frames for one node.

    ``ordering``: ``recency`` (newest append first), ``type`` (by position of
    the frame type in ``type_priority``, unlisted types after, newest first
    within a rank) or ``agent`` (the same over ``agent_priority``).
    ``types`` / ``agents`` filter; an empty tuple means no filter.
    """

    max_frames: int = DEFAULT_MAX_FRAMES
    ordering: Ordering = "recency"
    types: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    type_priority: tuple[str, ...] = ()
    agent_priority: tuple[str, ...] = ()
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("types", "agents", "type_priority", "agent_priority"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, tuple):
                raise InvalidViewPolicy(f"{name} must be a tuple of strings, got {value!r}")
        if self.ordering not in ("recency", "type", "agent"):
            raise InvalidViewPolicy(
                f"unknown ordering {self.ordering!r} (use recency, type or agent)"
            )
        if self.max_frames < 1:
            raise InvalidViewPolicy(f"max_frames must be at least 1, got {self.max_frames}")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise InvalidViewPolicy("max_bytes must not be negative")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "max_frames": self.max_frames,
            "ordering": self.ordering,
            "types": list(self.types),
            "agents": list(self.agents),
            "type_priority": list(self.type_priority),
            "agent_priority": list(self.agent_priority),
            "max_bytes": self.max_bytes,
        }


@dataclass(frozen=True, slots=True)
class View:
    """The frames a policy selected, plus the node's total frame count."""

    node_id: NodeId
    frames: tuple[Frame, ...]
    frame_count: int
    truncated: bool
    """True when more frames matched than the view returned."""


def _ranked(
    store: StorageBackend, ws: WorkspaceId, node_id: NodeId, policy: ViewPolicy
) -> Iterator[Frame]:
    """Candidate frames in policy order, filters applied."""
    types = set(policy.types)
    agents = set(policy.agents)

    def wanted(frame: Frame) -> bool:
        return (not types or frame.frame_type in types) and (not agents or frame.agent_id in agents)

    if policy.ordering == "recency":
        # One filter can be pushed down to an index; the other is applied here.
        only_type = policy.types[0] if len(types) == 1 else None
        only_agent = policy.agents[0] if len(agents) == 1 else None
        stream = store.iter_node_frames(ws, node_id, frame_type=only_type, agent_id=only_agent)
        yield from (f for f in stream if wanted(f))
        return
    if policy.ordering == "type":
        priority = [t for t in dict.fromkeys(policy.type_priority) if not types or t in types]
        for frame_type in priority:
            stream = store.iter_node_frames(ws, node_id, frame_type=frame_type)
            yield from (f for f in stream if wanted(f))
        listed = set(priority)
        rest = store.iter_node_frames(ws, node_id)
        yield from (f for f in rest if f.frame_type not in listed and wanted(f))
        return
    ranked_agents = [a for a in dict.fromkeys(policy.agent_priority) if not agents or a in agents]
    for agent in ranked_agents:
        stream = store.iter_node_frames(ws, node_id, agent_id=agent)
        yield from (f for f in stream if wanted(f))
    listed = set(ranked_agents)
    rest = store.iter_node_frames(ws, node_id)
    yield from (f for f in rest if f.agent_id not in listed and wanted(f))


def select_view(
    store: StorageBackend,
    ws: WorkspaceId,
    node_id: NodeId,
    policy: ViewPolicy,
    *,
    hard_cap: int = HARD_MAX_FRAMES,
) -> View:
    """Apply ``policy`` to a node's frames: bounded and deterministic.

    ``hard_cap`` is the deployment's limit (configured by the operator, not
    the caller); a policy asking for more is refused rather than clipped,
    so a caller never mistakes a clipped view for the whole answer.
    """
    if policy.max_frames > hard_cap:
        raise InvalidViewPolicy(
            f"max_frames must be between 1 and {hard_cap}, got {policy.max_frames}"
        )
    state = store.get_frame_set(ws, node_id)
    total = state.count if state else 0
    chosen: list[Frame] = []
    used = 0
    truncated = False
    for frame in _ranked(store, ws, node_id, policy):
        if len(chosen) >= policy.max_frames:
            truncated = True
            break
        if policy.max_bytes is not None and used + frame.size > policy.max_bytes:
            truncated = True
            break
        chosen.append(frame)
        used += frame.size
    return View(node_id, tuple(chosen), total, truncated)
