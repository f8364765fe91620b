"""Frame routes of API v1: putting frames (one or a batch) and reading them back.

A put names its node (NodeID or path in the current root) and the frame:
its type, basis (the ``frame/1`` basis; omitted means a ``node`` basis on
the node), content as UTF-8 text (``content``) or as base64 bytes
(``content_b64``, exactly one of the two), content type and metadata.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from treeframe.wire.common import ApiResponse
from treeframe.wire.nodes import BasisRecord, FrameRecord

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "FrameBatchRequest",
    "FrameBatchResult",
    "FrameResource",
    "FrameSpec",
    "PutFrameRequest",
    "PutFrameResult",
]

DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"


class FrameSpec(BaseModel):
    """The frame to put; the author is the caller's agent (from its token)."""

    model_config = ConfigDict(extra="forbid")

    frame_type: str = Field(min_length=1, max_length=128)
    basis: BasisRecord | None = Field(
        default=None, description="The frame/1 basis; omitted: a node basis on node_id."
    )
    content: str | None = Field(default=None, description="UTF-8 text content.")
    content_b64: str | None = Field(default=None, description="Binary content, base64.")
    content_type: str = Field(default=DEFAULT_CONTENT_TYPE, min_length=1, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict, description="Not hashed.")

    @model_validator(mode="after")
    def _one_content(self) -> Self:
        if (self.content is None) == (self.content_b64 is None):
            raise ValueError("give exactly one of content or content_b64")
        return self


class PutFrameRequest(BaseModel):
    """POST frames: the node (NodeID, or path in the current root) and the frame.

    ``If-Match: "<frame id>"`` (or ``If-None-Match: *``: no head yet) makes the
    put a compare-and-set on the node's head of the frame's type: 412
    ``precondition_failed`` when the head is another frame; ``If-Match: *``
    or no header puts unconditionally.
    """

    model_config = ConfigDict(extra="forbid")

    node_id: str = Field(min_length=1, description="NodeID, or path in the current root.")
    frame: FrameSpec
    if_match: str | None = Field(
        default=None,
        description="This put's If-Match in header syntax ('\"<frame id>\"' or '*'); "
        "for batch items (a single put may send the header instead, not both).",
    )
    if_none_match: str | None = Field(
        default=None, description="'*': no head of this type yet (as the header)."
    )


class PutFrameResult(ApiResponse):
    """What a put did: 201 ``created`` True for a new frame, 200 False for a stored one.

    ``frame`` is the record as stored (a re-put keeps the stored metadata and
    content type); it is the head of its (node, type) either way.
    """

    frame_id: str
    node_id: str
    created: bool
    created_at: str
    frame: FrameRecord


class FrameBatchRequest(BaseModel):
    """POST frames/batch: several puts in one transaction (all or none), in order.

    Each item may carry its own ``if_match`` / ``if_none_match``; one lost
    race fails the whole batch with 412 and writes nothing.
    """

    model_config = ConfigDict(extra="forbid")

    frames: list[PutFrameRequest] = Field(min_length=1)


class FrameBatchResult(ApiResponse):
    """The result of each put of a batch, in request order."""

    results: list[PutFrameResult]


class FrameResource(ApiResponse, FrameRecord):
    """GET frames/{id}: the frame's record, content and its node's path.

    Without ``?fresh=true`` the answer is immutable (strong ETag, cached
    forever) and the freshness fields are null; with it they are set (as on
    every frame a node view serves) and the answer is ``no-cache``.
    """

    path: str | None = Field(description="The frame's node's path (None: node record missing).")
    content: str = Field(description="UTF-8 text (undecodable bytes replaced).")
    content_b64: str | None = Field(
        default=None, description="The exact bytes, base64, only when they are not UTF-8."
    )
    stale: bool | None = None
    previous: bool | None = None
    incomplete: bool | None = None
    missing: list[str] | None = None
    stale_inputs: list[str] | None = None
