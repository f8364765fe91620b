"""Workspace operations of API v1: synthesize, regenerate, stale, compose and the root history.

Each mirrors its ContextAPI method and the ``--json`` output of the CLI
command of the same name. A node is named by NodeID or by path in the
current root (``""`` or ``"."``: the root); the acting agent is the caller's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from treeframe.wire.common import ApiResponse
from treeframe.wire.nodes import FrameRecord, FrameView

__all__ = [
    "ComposeRequest",
    "ComposedFrameView",
    "Composition",
    "CompositionPolicyModel",
    "GenerateRequest",
    "GeneratedEntryModel",
    "Generation",
    "RegenerateRequest",
    "Regeneration",
    "RootEntryModel",
    "Roots",
    "StaleFrameModel",
    "StaleReport",
    "Synthesis",
    "SynthesizeRequest",
    "SynthesizedFrame",
]


Source = Literal["node", "parent", "siblings", "related"]


def _node_only() -> list[Source]:
    return ["node"]


class SynthesizeRequest(BaseModel):
    """POST synthesize: build a directory's frame (or, recursively, its subtree's) from child heads.

    ``policy`` and ``missing`` default to the server's ``synthesis.*`` settings.
    """

    model_config = ConfigDict(extra="forbid")

    node: str = Field(default="", description="Directory NodeID or path ('' for the root).")
    frame_type: str = Field(min_length=1, description="Input frame type ('*' for all heads).")
    policy: str | None = Field(default=None, description="concat | summary | filter | a plugin.")
    params: dict[str, Any] = Field(default_factory=dict)
    recursive: bool = False
    missing: Literal["skip", "fail"] | None = None
    output_type: str | None = None


class SynthesizedFrame(FrameRecord):
    """A frame a synthesis wrote, with its directory's path."""

    path: str | None


class Synthesis(ApiResponse):
    """What a synthesis produced, per directory in post-order."""

    frames: list[SynthesizedFrame]
    skipped: list[str] = Field(description="Children left out of a written frame (no input).")
    without_inputs: list[str] = Field(description="Directories that got no frame.")


class RegenerateRequest(BaseModel):
    """POST regenerate: recompute the stale frames the engine can, in scope."""

    model_config = ConfigDict(extra="forbid")

    node: str = Field(default="", description="NodeID or path ('' for the root).")
    recursive: bool = False
    dry_run: bool = False
    agents: bool = Field(
        default=False,
        description="Also redo frames model agents wrote, by asking their providers again "
        "(a dry run asks none and reports them).",
    )


class GenerateRequest(BaseModel):
    """POST generate: frames from the caller's model agent for a node (its subtree when recursive).

    A server holds no working tree: the bytes of the files to describe come
    in ``contents`` (path -> base64), each checked against the file's scanned
    content hash; a file without them is reported as failed. Defaults are
    the server's ``generate.*`` settings.
    """

    model_config = ConfigDict(extra="forbid")

    node: str = Field(default="", description="NodeID or path ('' for the root).")
    frame_type: str | None = Field(
        default=None, description="Frame type written (default: generate.frame_type)."
    )
    recursive: bool = False
    dry_run: bool = False
    force: bool = Field(default=False, description="Also replace fresh heads of other agents.")
    directories: Literal["provider", "synthesis", "none"] | None = None
    contents: dict[str, str] = Field(
        default_factory=dict, description="File bytes by workspace path, base64-encoded."
    )


class GeneratedEntryModel(BaseModel):
    """What became of one node of a generate call."""

    path: str
    node_id: str
    kind: str
    status: Literal["generated", "current", "would_generate", "skipped", "failed"]
    frame_id: str | None
    reason: str
    code: str | None = Field(description="The error code of a failed node.")
    input_tokens: int
    output_tokens: int


class Generation(ApiResponse):
    """What ``generate`` did (or, with ``dry_run``, would do), with tokens and cost."""

    node_id: str
    agent_id: str
    provider: str
    model: str
    frame_type: str
    dry_run: bool
    generated: int
    current: int
    would_generate: int
    skipped: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost: float
    duration_ms: int
    entries: list[GeneratedEntryModel]


class StaleFrameModel(BaseModel):
    """A head frame whose basis is no longer current, and why."""

    frame_id: str
    node_id: str
    path: str
    frame_type: str
    agent_id: str
    reason: str
    recomputable: bool


class Regeneration(ApiResponse):
    """What ``regenerate`` did (or, with ``dry_run``, would do)."""

    node_id: str
    regenerated_count: int
    frame_ids: list[str]
    stale_unrecomputable: list[StaleFrameModel]
    duration_ms: int
    dry_run: bool


class StaleReport(ApiResponse):
    """GET stale: every stale head frame in scope, plus frames up the chain built on them."""

    node_id: str
    frames: list[StaleFrameModel]


class ComposeRequest(BaseModel):
    """POST compose: a bounded context from the node, its parent, siblings and related nodes.

    ``ordering`` and ``max_frames`` default to the server's ``view.*``
    settings; ``priority`` ranks types (ordering ``type`` or ``score``) or
    agents (ordering ``agent``) first, as ``treeframe compose --priority``.
    Naming ``related`` nodes adds the ``related`` source.
    """

    model_config = ConfigDict(extra="forbid")

    node: str = Field(default="", description="NodeID or path ('' for the root).")
    sources: list[Source] = Field(default_factory=_node_only)
    related: list[str] = Field(default_factory=list, description="NodeIDs or paths.")
    types: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    ordering: Literal["recency", "type", "agent", "score"] | None = None
    priority: list[str] = Field(default_factory=list)
    max_frames: int | None = Field(default=None, ge=1)


class CompositionPolicyModel(BaseModel):
    """The composition policy the server applied (``CompositionPolicy.to_dict``)."""

    model_config = ConfigDict(extra="allow")

    sources: list[str]
    related: list[str]
    types: list[str]
    agents: list[str]
    ordering: str
    type_priority: list[str]
    agent_priority: list[str]
    max_frames: int
    per_node: int
    max_siblings: int


class ComposedFrameView(FrameView):
    """One composed frame: the frame served, where it came from and its score."""

    source: Source
    path: str
    score: int


class Composition(ApiResponse):
    """The composed frames (at most ``max_frames``), the number of candidates and the policy."""

    node_id: str
    frames: list[ComposedFrameView]
    candidates: int
    policy: CompositionPolicyModel


class RootEntryModel(BaseModel):
    """One entry of the root history; ``created_at`` is never hashed."""

    seq: int
    root: str
    created_at: str


class Roots(ApiResponse):
    """GET roots: root history newest first; ``next_before`` pages on (None: no older entry)."""

    current: RootEntryModel | None
    roots: list[RootEntryModel]
    next_before: int | None
