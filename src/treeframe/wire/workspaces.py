"""The JSON shapes of the workspace routes: create, list (keyset-paged), show, delete, restore."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from treeframe.wire.common import ApiResponse

__all__ = ["Workspace", "WorkspaceCreate", "WorkspaceDetail", "WorkspaceFields", "WorkspaceList"]


class WorkspaceCreate(BaseModel):
    """``POST /v1/workspaces``: the name fixes the ID (the same name is the same workspace)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=256, description="Workspace name (unique per store)."
    )
    description: str = Field(default="", max_length=4096, description="What the workspace holds.")


class WorkspaceFields(BaseModel):
    """A workspace's metadata (never hashed)."""

    workspace_id: str = Field(description="64 hex, derived from the name.")
    name: str
    description: str
    owner: str | None = Field(description="The agent that owns it (holds every permission).")
    created_at: str
    deleted_at: str | None = Field(description="Set while tombstoned (its data is kept).")


class Workspace(ApiResponse, WorkspaceFields):
    """One workspace (create, delete and restore answer with it)."""


class WorkspaceDetail(Workspace):
    """``GET /v1/workspaces/{ws}``: metadata plus the current root and what is stored."""

    root: str | None = Field(description="Current root NodeID (None before the first scan/push).")
    root_seq: int | None = Field(description="Root-history sequence number of that root.")
    node_count: int = Field(description="NodeRecords stored (every version, not one tree).")
    frame_count: int = Field(description="Frames stored.")


class WorkspaceList(ApiResponse):
    """One page of the workspaces the caller may read, by name."""

    workspaces: list[WorkspaceFields]
    next: str | None = Field(
        description="Cursor for the next page (pass as ?after=); None on the last page."
    )
