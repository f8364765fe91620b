"""Diagnostics of API v1: diff two roots, explain a frame, verify a workspace.

Each body is the ``--json`` output of the CLI command of the same name
(``treeframe diff``, ``treeframe explain``, ``treeframe verify``) plus the
version fields every response carries.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from treeframe.wire.common import ApiResponse
from treeframe.wire.nodes import FrameRecord

__all__ = [
    "Diff",
    "DiffEntryModel",
    "ExplainedInputModel",
    "Explanation",
    "ProblemModel",
    "RootRefModel",
    "VerifyRequest",
    "VerifyResult",
]

NodeKindName = Literal["file", "dir", "symlink"]


class DiffEntryModel(BaseModel):
    """One minimal changed subtree (nothing above it differs but its ancestors' IDs)."""

    path: str
    kind: Literal["added", "removed", "changed", "type_changed"]
    old_id: str | None
    new_id: str | None
    old_kind: NodeKindName | None
    new_kind: NodeKindName | None


class Diff(ApiResponse):
    """GET diff: the minimal changed subtrees between two roots, with counts.

    ``counts`` has ``files_added``, ``files_removed``, ``files_changed``,
    ``dirs_added``, ``dirs_removed`` and ``dirs_changed`` (symlinks count as
    files); ``nodes_read`` is the records the walk read (O(changes x depth)).
    """

    from_root: str | None
    to_root: str | None
    same: bool
    entries: list[DiffEntryModel]
    counts: dict[str, int]
    nodes_read: int


class RootRefModel(BaseModel):
    """A root-history entry: the scan after which an input was no longer current."""

    seq: int
    root: str
    created_at: str


class ExplainedInputModel(BaseModel):
    """One basis input: whether it is current, what is current now and since which root."""

    role: Literal["basis_node", "basis_frame", "child_frame"]
    ref: str = Field(description="The NodeID or FrameID the basis names.")
    path: str | None
    frame_type: str | None
    current: bool
    reason: str | None = Field(
        description="changed, removed, superseded, its node changed, ... (null when current)."
    )
    now: str | None = Field(description="The NodeID at the path / the head of the type today.")
    since: RootRefModel | None
    inputs: list[ExplainedInputModel] = Field(description="This frame's own basis inputs.")


class Explanation(ApiResponse):
    """GET frames/{id}/explain: the frame's node, basis chain and a plain verdict."""

    model_config = ConfigDict(populate_by_name=True)

    frame: FrameRecord
    path: str | None
    node_current: bool
    node_now: str | None
    since: RootRefModel | None
    head: str | None
    is_head: bool
    verdict: Literal["fresh", "stale", "incomplete"]
    reasons: list[str]
    inputs: list[ExplainedInputModel]
    truncated: bool = Field(description="The chain was cut at the depth or input bound.")
    current_root: str | None


class VerifyRequest(BaseModel):
    """POST verify: check everything, or only what was added after ``since``, within a time limit.

    ``max_duration_ms`` is capped by the server's ``server.verify_max_ms``
    (also the default).
    """

    model_config = ConfigDict(extra="forbid")

    since: str | None = Field(
        default=None, description="A root hash, an unambiguous prefix of one, HEAD or HEAD~N."
    )
    max_duration_ms: int | None = Field(default=None, ge=1)
    limit: int = Field(default=1000, ge=1, le=10000, description="Most problems listed.")


class ProblemModel(BaseModel):
    """One mismatch verify found."""

    kind: str
    key: str
    message: str


class VerifyResult(ApiResponse):
    """What verify checked (per phase) and the problems it found (at most ``limit`` listed)."""

    ok: bool
    checked: dict[str, int]
    problem_count: int
    problems: list[ProblemModel]
    complete: bool = Field(description="False when the time limit stopped it.")
    stopped_in: str | None = Field(description="The phase the time limit stopped it in.")
    scope: Literal["all", "since"]
    since: str | None
