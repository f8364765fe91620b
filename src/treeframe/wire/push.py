"""The JSON shapes of a push (``/v1/workspaces/{ws}/push/...``), shared by server and client.

Records travel as their ``node/1`` JSON objects (docs/SCHEMAS.md §12): every
hashed field is in them, so the server recomputes each NodeID from what it
received. They are typed loosely here (a JSON object each) on purpose: the
server's own parser checks them strictly and reports every bad record by
index, which a pydantic model of the three kinds could not do as precisely.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from treeframe.wire.common import ApiResponse

__all__ = [
    "CommitRequest",
    "CommitResponse",
    "NegotiateRequest",
    "NegotiateResponse",
    "RecordsRequest",
    "RecordsResponse",
]

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="64 lowercase hex.")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NegotiateRequest(_Request):
    """Offer the tree's root, and optionally NodeIDs of it, to learn which the server lacks."""

    root: Hex64 = Field(description="The root NodeID of the tree being pushed.")
    node_ids: list[Hex64] | None = Field(
        default=None,
        description="NodeIDs to ask about (at most `limits.max_batch`); omitted: just `root`.",
    )


class NegotiateResponse(ApiResponse):
    """Which offered NodeIDs the workspace's store lacks, and the root a commit must expect."""

    current_root: str | None = Field(
        description="The workspace's current root (null before its first tree): "
        "send it as `expected_root` on commit."
    )
    root_present: bool = Field(
        description="The pushed root is stored already (then its whole tree is)."
    )
    missing: list[str] = Field(
        description="The offered NodeIDs not stored, in offered order. A stored directory "
        "implies its whole subtree is stored: walk down only into missing ones."
    )
    offered: int = Field(description="Distinct NodeIDs asked about.")
    max_batch: int = Field(description="Most NodeIDs per negotiation and records per batch.")


class RecordsRequest(_Request):
    """A batch of records, children before (or beside) their parents."""

    records: list[dict[str, Any]] = Field(
        description="node/1 records as JSON objects (docs/SCHEMAS.md §12); "
        "at most `limits.max_batch`."
    )


class RecordsResponse(ApiResponse):
    """The batch was verified and stored whole."""

    received: int = Field(description="Records in the request.")
    stored: int = Field(description="Records new to the store.")
    already_present: int = Field(description="Distinct records the store held already.")


class CommitRequest(_Request):
    """Move the workspace root to the pushed tree, compare-and-set on the current root."""

    root: Hex64 = Field(description="The new root (must be stored: its tree is then complete).")
    expected_root: Hex64 | None = Field(
        description="The root the workspace must still have (`current_root` of the "
        "negotiation); null when it has none yet. Required: a push always says what it replaces."
    )


class CommitResponse(ApiResponse):
    """The workspace's root now, and whether this commit moved it."""

    root: str
    previous_root: str | None
    changed: bool = Field(description="False when the root was already `root` (nothing written).")
    seq: int = Field(description="Root-history sequence number of the current entry.")
    created_at: str = Field(description="When that entry was made.")
    paths_changed: int = Field(description="Path-index entries the commit changed or removed.")
