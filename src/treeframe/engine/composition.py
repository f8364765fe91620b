"""Composition: a bounded, deterministic, read-only context built from several nodes.

Candidates come from the listed sources — the node itself, its parent (in
the current tree), its siblings (the parent's other children, the first
``max_siblings`` by name) and explicitly related nodes — each read through a
view of at most ``per_node`` frames. Missing nodes (an unknown related ID, the
root's parent) are skipped. Candidates are filtered by type/agent, ordered,
de-duplicated by FrameID and cut to ``max_frames``. Orderings:

* ``recency``: most recently put first (a re-put makes a frame current and
  most recent again, as heads and views have it);
* ``type`` / ``agent``: rank in ``type_priority`` / ``agent_priority``
  (unlisted last), newest first within a rank;
* ``score``: highest integer score first, where
  ``score = 100 * source_weight + 10 * type_rank + agent_rank`` with source
  weights node 4, related 3, parent 2, sibling 1 and ranks counting down from
  the length of the priority list (0 when unlisted); ties newest first.

Every ordering ends with the FrameID as the final tie-break, so the result
is a pure function of the store's state and the policy. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from treeframe.engine.contents import verified_contents
from treeframe.engine.freshness import Freshness
from treeframe.engine.principal import Principal
from treeframe.engine.types import FrameContext
from treeframe.errors import InvalidPolicy, NotFound
from treeframe.frames.frame import Frame
from treeframe.frames.views import ViewPolicy, select_view
from treeframe.tree.paths import parent_path
from treeframe.tree.records import NodeRecord

if TYPE_CHECKING:
    from treeframe.engine.context_api import ContextAPI

__all__ = ["SOURCES", "ComposedContext", "ComposedFrame", "CompositionPolicy", "compose"]

Source = Literal["node", "parent", "siblings", "related"]
SOURCES: tuple[Source, ...] = ("node", "parent", "siblings", "related")
_WEIGHTS = {"node": 4, "related": 3, "parent": 2, "siblings": 1}
CompositionOrdering = Literal["recency", "type", "agent", "score"]


@dataclass(frozen=True, slots=True)
class CompositionPolicy:
    """What to compose and how to bound it."""

    sources: tuple[Source, ...] = ("node",)
    related: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    ordering: CompositionOrdering = "recency"
    type_priority: tuple[str, ...] = ()
    agent_priority: tuple[str, ...] = ()
    max_frames: int = 20
    per_node: int = 20
    max_siblings: int = 100

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown or not self.sources:
            raise InvalidPolicy(
                f"composition sources must be among {list(SOURCES)}, got {list(self.sources)}"
            )
        if self.ordering not in ("recency", "type", "agent", "score"):
            raise InvalidPolicy(f"unknown composition ordering {self.ordering!r}")
        for name in ("max_frames", "per_node", "max_siblings"):
            if getattr(self, name) < 1:
                raise InvalidPolicy(f"{name} must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "sources": list(self.sources),
            "related": list(self.related),
            "types": list(self.types),
            "agents": list(self.agents),
            "ordering": self.ordering,
            "type_priority": list(self.type_priority),
            "agent_priority": list(self.agent_priority),
            "max_frames": self.max_frames,
            "per_node": self.per_node,
            "max_siblings": self.max_siblings,
        }


@dataclass(frozen=True, slots=True)
class ComposedFrame:
    """One composed frame and where it came from."""

    source: Source
    path: str
    score: int
    context: FrameContext

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = self.context.to_dict()
        out.update(source=self.source, path=self.path, score=self.score)
        return out


@dataclass(frozen=True, slots=True)
class ComposedContext:
    """The composition's frames (at most ``max_frames``) and how many candidates there were."""

    node_id: str
    frames: tuple[ComposedFrame, ...]
    candidates: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "node_id": self.node_id,
            "frames": [f.to_dict() for f in self.frames],
            "candidates": self.candidates,
        }


def _rank(value: str, priority: tuple[str, ...]) -> int:
    return len(priority) - priority.index(value) if value in priority else 0


def _sources(
    api: ContextAPI, record: NodeRecord, policy: CompositionPolicy, principal: Principal
) -> list[tuple[Source, NodeRecord]]:
    store, ws = api.store, api.ws
    out: list[tuple[Source, NodeRecord]] = []
    parent: NodeRecord | None = None
    if record.path and ("parent" in policy.sources or "siblings" in policy.sources):
        parent_id = store.lookup_path(ws, parent_path(record.path))
        parent = store.get_node(ws, parent_id) if parent_id else None
    for source in policy.sources:
        if source == "node":
            out.append(("node", record))
        elif source == "parent" and parent is not None:
            out.append(("parent", parent))
        elif source == "siblings" and parent is not None:
            ids = [c for name, c in parent.children if c != record.node_id][: policy.max_siblings]
            found = store.get_nodes(ws, ids)
            out.extend(("siblings", found[i]) for i in ids if i in found)
        elif source == "related":
            for ref in policy.related:
                try:
                    out.append(("related", api.resolve(ref, principal=principal)))
                except NotFound:
                    continue  # missing related nodes are skipped
    return out


def compose(
    api: ContextAPI, record: NodeRecord, policy: CompositionPolicy, principal: Principal
) -> ComposedContext:
    """Compose (read-only) the context for ``record`` under ``policy``, read as ``principal``."""
    view = ViewPolicy(
        max_frames=min(policy.per_node, api.limits.hard_max_frames),
        types=policy.types,
        agents=policy.agents,
    )
    candidates: dict[str, tuple[Source, NodeRecord, Frame]] = {}
    for source, node in _sources(api, record, policy, principal):
        selected = select_view(
            api.store, api.ws, node.node_id, view, hard_cap=api.limits.hard_max_frames
        )
        for frame in selected.frames:
            candidates.setdefault(frame.frame_id, (source, node, frame))

    def score(source: Source, frame: Frame) -> int:
        return (
            100 * _WEIGHTS[source]
            + 10 * _rank(frame.frame_type, policy.type_priority)
            + _rank(frame.agent_id, policy.agent_priority)
        )

    def key(item: tuple[Source, NodeRecord, Frame]) -> tuple[int, int, str]:
        source, _, frame = item
        if policy.ordering == "type":
            primary = -_rank(frame.frame_type, policy.type_priority)
        elif policy.ordering == "agent":
            primary = -_rank(frame.agent_id, policy.agent_priority)
        elif policy.ordering == "score":
            primary = -score(source, frame)
        else:
            primary = 0
        return (primary, -frame.put_seq, frame.frame_id)

    chosen = sorted(candidates.values(), key=key)[: policy.max_frames]
    contents = verified_contents(api.store, api.ws, [f for _, _, f in chosen])
    freshness = Freshness(api.store, api.ws)
    frames = tuple(
        ComposedFrame(
            source,
            node.path,
            score(source, frame),
            freshness.serve(frame, contents[frame.content_hash]),
        )
        for source, node, frame in chosen
    )
    return ComposedContext(record.node_id, frames, len(candidates))
