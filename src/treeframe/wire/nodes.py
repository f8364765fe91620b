"""Node routes of API v1: node records, views of their frames, children, heads and proofs.

The shapes follow the library's JSON forms (``node/1`` and ``frame/1`` of
docs/SCHEMAS.md, ``FrameContext.to_dict``) and the CLI's ``--json`` output of
``get``, ``ls``, ``node``, ``heads`` and ``proof``, so a client can print
exactly what the local command prints.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from treeframe.wire.common import ApiResponse

__all__ = [
    "BasisRecord",
    "ChildEntry",
    "Children",
    "FrameRecord",
    "FrameView",
    "Heads",
    "NodeBatch",
    "NodeBatchRequest",
    "NodeRecordModel",
    "NodeRecordResponse",
    "NodeView",
    "Proof",
    "ProofStep",
    "ViewPolicyModel",
    "ViewSpec",
]


class BasisRecord(BaseModel):
    """A frame's basis as in the ``frame/1`` record: what the frame was derived from.

    ``node`` names ``node_id``; ``frame`` names ``frame_id``; ``node+frame``
    both; ``synthesis`` the ordered ``child_frames``, ``policy_id`` and ``params``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["node", "frame", "node+frame", "synthesis"]
    node_id: str | None = None
    frame_id: str | None = None
    child_frames: list[str] | None = None
    policy_id: str | None = None
    params: dict[str, Any] | None = None


class NodeRecordModel(BaseModel):
    """The ``node/1`` record: files carry content_hash/size/executable, links target, dirs children."""

    schema_: Literal["node/1"] = Field(default="node/1", alias="schema")
    node_id: str
    path: str
    kind: Literal["file", "dir", "symlink"]
    content_hash: str | None = None
    size: int | None = None
    executable: bool | None = None
    target: str | None = None
    children: list[list[str]] | None = Field(
        default=None, description="[name, NodeID] pairs in UTF-8 name order (directories only)."
    )

    model_config = ConfigDict(populate_by_name=True)


class NodeRecordResponse(ApiResponse, NodeRecordModel):
    """GET nodes/{id}/record: the immutable ``node/1`` record a NodeID names."""


class FrameRecord(BaseModel):
    """The ``frame/1`` record (content not included); ``seq`` and ``created_at`` are never hashed."""

    schema_: Literal["frame/1"] = Field(default="frame/1", alias="schema")
    frame_id: str
    node_id: str
    frame_type: str
    agent_id: str
    basis: BasisRecord
    content_hash: str
    size: int
    content_type: str
    metadata: dict[str, str]
    seq: int
    created_at: str

    model_config = ConfigDict(populate_by_name=True)


class FrameView(FrameRecord):
    """A frame as served to a reader: its record, content, freshness and completeness.

    ``content`` is the UTF-8 text (undecodable bytes replaced, as the CLI
    prints it); ``content_b64`` carries the exact bytes, base64, only when they
    are not valid UTF-8. ``GET …/frames/{id}/content`` serves the raw bytes.
    """

    content: str
    content_b64: str | None = None
    stale: bool
    previous: bool = False
    incomplete: bool = False
    missing: list[str] = Field(default_factory=list)
    stale_inputs: list[str] = Field(default_factory=list)


class ViewSpec(BaseModel):
    """How to pick a node's frames (the library's ViewPolicy); omitted fields use server defaults.

    ``max_frames`` and ``ordering`` default to the server's ``view.*``
    settings. ``priority`` ranks frame types (ordering ``type``) or agents
    (ordering ``agent``) first; without it the ``types`` / ``agents`` filters
    rank, as ``treeframe get --priority`` does.
    """

    model_config = ConfigDict(extra="forbid")

    max_frames: int | None = Field(default=None, ge=1)
    ordering: Literal["recency", "type", "agent"] | None = None
    types: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)
    priority: list[str] = Field(default_factory=list)
    max_bytes: int | None = Field(default=None, ge=0)
    include_previous: bool = False


class ViewPolicyModel(BaseModel):
    """The view policy the server applied (``ViewPolicy.to_dict``)."""

    max_frames: int
    ordering: Literal["recency", "type", "agent"]
    types: list[str]
    agents: list[str]
    type_priority: list[str]
    agent_priority: list[str]
    max_bytes: int | None


class NodeView(ApiResponse):
    """GET node: the record, the selected frames (each with ``stale``) and the total frame count."""

    node_id: str
    path: str
    node_record: NodeRecordModel
    policy: ViewPolicyModel
    frames: list[FrameView]
    frame_count: int
    truncated: bool


class NodeBatchRequest(BaseModel):
    """POST nodes/batch: NodeIDs (or paths) and one view for all of them."""

    model_config = ConfigDict(extra="forbid")

    node_ids: list[str] = Field(min_length=1)
    view: ViewSpec = Field(default_factory=ViewSpec)


class NodeBatch(ApiResponse):
    """The views of a batch, keyed by the reference as it was sent."""

    nodes: dict[str, NodeView]


class ChildEntry(BaseModel):
    """One child of a directory, as ``treeframe ls --json`` lists it."""

    name: str
    path: str
    kind: Literal["file", "dir", "symlink"]
    node_id: str
    frame_count: int


class Children(ApiResponse):
    """A page of a directory's children in name order (UTF-8 bytes).

    ``next_after`` is the ``after`` of the next page, None on the last one.
    A file or link has no children (``entries`` empty).
    """

    node_id: str
    path: str
    kind: Literal["file", "dir", "symlink"]
    entries: list[ChildEntry]
    next_after: str | None


class Heads(ApiResponse):
    """The node's current frame of each type, plus its frame set (``treeframe node``/``heads``).

    ``current`` is True when the node is the one at its path in the current root.
    """

    node_id: str
    path: str
    heads: dict[str, str]
    frame_count: int
    frame_set_root: str | None
    current: bool


class ProofStep(BaseModel):
    """One sibling digest on the way to the root; ``side`` is where the sibling sits."""

    side: Literal["left", "right"]
    digest: str


class Proof(ApiResponse):
    """A Merkle membership proof of a frame in the node's frame set (``treeframe proof --json``).

    ``valid`` is the server's own check of the proof against ``root``; a
    client should verify it itself (``treeframe.frames.merkle_set.verify``).
    """

    node_id: str
    root: str
    valid: bool
    frame_id: str
    steps: list[ProofStep]
