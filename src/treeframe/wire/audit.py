"""The audit resource: entries of a workspace's hash chain, a page of them, a verification."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from treeframe.wire.common import ApiResponse

__all__ = ["AuditEntryModel", "AuditPage", "AuditProblemModel", "AuditVerification"]


class AuditEntryModel(BaseModel):
    """One entry of the chain, exactly as hashed (docs/SCHEMAS.md, "Audit chain")."""

    seq: int = Field(description="Position in the workspace's chain, from 1, without gaps.")
    time: str = Field(description="When the write happened (UTC, RFC 3339).")
    workspace: str = Field(description="Workspace ID (64 hex).")
    agent: str | None = Field(description="The agent that wrote (null: the local owner).")
    operation: str = Field(description="What was done, e.g. frame.put (a closed list).")
    node: str | None = Field(description="NodeID the write touched, if any.")
    frame: str | None = Field(description="FrameID the write stored, if any.")
    success: bool = Field(description="False for a refused write (nothing changed).")
    error: str | None = Field(description="The refusal's error code, e.g. access_denied.")
    request_id: str | None = Field(description="X-Request-ID of the API request (null: CLI).")
    prev_hash: str = Field(description="entry_hash of the entry before (64 zeros for seq 1).")
    entry_hash: str = Field(description="BLAKE3 over every other field (64 hex).")


class AuditPage(ApiResponse):
    """A keyset page of entries by ascending seq."""

    entries: list[AuditEntryModel]
    next_after: int | None = Field(
        description="Pass as ?after= for the next page; null on the last page."
    )


class AuditProblemModel(BaseModel):
    """The first bad entry found."""

    seq: int
    kind: Literal["edited", "missing", "reordered", "inserted", "truncated"]
    message: str


class AuditVerification(ApiResponse):
    """The chain recomputed: intact or not, how long, its head, and the first problem."""

    ok: bool
    entries: int = Field(description="Entries stored.")
    head: str | None = Field(description="<seq>:<entry_hash> of the last entry (null: empty).")
    problem: AuditProblemModel | None = None
