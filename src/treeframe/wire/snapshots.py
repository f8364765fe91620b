"""The JSON shapes of the snapshot routes: what an import wrote and found already present."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from treeframe.wire.common import ApiResponse

__all__ = ["ImportCounts", "ImportResult", "ImportSignature"]


class ImportCounts(BaseModel):
    """Rows per kind (``treeframe import --json``'s ``written`` / ``present``)."""

    agents: int
    nodes: int
    frames: int
    frame_sets: int
    heads: int
    contents: int
    paths: int = Field(
        description="Path-index entries (a whole archive into a workspace without a root)."
    )


class ImportSignature(BaseModel):
    """The archive's signature as verification judged it (docs/SCHEMAS.md §15.6)."""

    state: Literal["unsigned", "trusted", "untrusted", "invalid"]
    signer: str | None = Field(description="The signing public key (64 hex), None when unsigned.")


class ImportResult(ApiResponse):
    """``POST /v1/workspaces/import``: what the import did (nothing on a second run)."""

    workspace: str
    workspace_id: str
    created: bool = Field(description="True when the import created the workspace (status 201).")
    root_hash: str = Field(description="The root the archive was exported at.")
    path: str = Field(description="The exported subtree ('' for the whole tree).")
    root_moved: bool = Field(description="Whether the workspace's current root became root_hash.")
    signature: ImportSignature
    written: ImportCounts
    present: ImportCounts
