"""Frame routes: put a frame (optionally compare-and-set on its head), batches, reads, content.

A put answers 201 when it stored a new frame and 200 when the FrameID was
already stored (puts are idempotent). ``If-Match: "<frame id>"`` (or
``If-None-Match: *``) makes the head move conditional: a lost race is 412
``precondition_failed`` and nothing is written. A frame's record and content
never change, so they are served with strong ETags (the FrameID, the content
hash) and ``immutable``; the content is verified against its hash and
streamed in chunks without a second copy.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from treeframe.api.caching import (
    NO_CACHE,
    expected_head,
    immutable_headers,
    matches,
    not_modified,
    quoted,
)
from treeframe.api.convert import content_fields, frame_record, put_result
from treeframe.api.deps import Bound, BoundWorkspace
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.engine.contents import verified_contents
from treeframe.engine.principal import Permission, authorize
from treeframe.engine.types import FrameInput, PutResult
from treeframe.errors import (
    ConcurrentUpdate,
    FrameNotFound,
    InvalidFrame,
    InvalidRequest,
    PreconditionFailed,
)
from treeframe.frames.frame import Basis, Frame
from treeframe.ids import FrameId, parse_hex_id
from treeframe.storage.values import AnyHead
from treeframe.wire.frames import (
    FrameBatchRequest,
    FrameBatchResult,
    FrameResource,
    PutFrameRequest,
    PutFrameResult,
)

__all__ = ["CHUNK_BYTES", "router"]

CHUNK_BYTES = 64 * 1024

router = APIRouter(prefix="/v1/workspaces/{ws}/frames", tags=["frames"], responses=ERROR_RESPONSES)

_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match named this resource."}
}


def _frame_input(request: PutFrameRequest) -> FrameInput:
    spec = request.frame
    if spec.content_b64 is not None:
        try:
            content = base64.b64decode(spec.content_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidFrame(f"content_b64 is not valid base64: {exc}") from None
    else:
        content = (spec.content or "").encode("utf-8")
    basis = (
        Basis.from_dict(spec.basis.model_dump(exclude_none=True))
        if spec.basis is not None
        else None
    )
    return FrameInput(
        frame_type=spec.frame_type,
        content=content,
        content_type=spec.content_type,
        metadata=dict(spec.metadata),
        basis=basis,
    )


def _put(
    bound: BoundWorkspace, request: PutFrameRequest, expected: FrameId | AnyHead | None
) -> PutResult:
    try:
        return bound.api.put_frame_record(
            request.node_id,
            _frame_input(request),
            principal=bound.principal,
            expected_head=expected,
        )
    except ConcurrentUpdate as exc:
        if isinstance(expected, AnyHead):
            raise
        raise PreconditionFailed(
            f"{exc.message}: If-Match named {expected or 'no head'}, "
            f"the head is {exc.actual or 'none'}",
            expected=exc.expected,
            actual=exc.actual,
        ) from exc


@router.post(
    "",
    summary="Put a frame (201 new, 200 stored); If-Match makes the head move conditional",
    status_code=201,
    responses={200: {"model": PutFrameResult, "description": "The frame was already stored."}},
)
def put_frame(
    bound: Bound,
    body: PutFrameRequest,
    response: Response,
    if_match: Annotated[str | None, Header(description='"<frame id>" or *')] = None,
    if_none_match: Annotated[str | None, Header(description="* : no head yet")] = None,
) -> PutFrameResult:
    """Append a frame authored by the caller's agent; it becomes its (node, type) head."""
    if (if_match, if_none_match) != (None, None) and (body.if_match, body.if_none_match) != (
        None,
        None,
    ):
        raise InvalidRequest("give the put's condition as headers or in the body, not both")
    if (if_match, if_none_match) == (None, None):
        if_match, if_none_match = body.if_match, body.if_none_match
    result = _put(bound, body, expected_head(if_match, if_none_match))
    response.status_code = 201 if result.created else 200
    response.headers["ETag"] = quoted(result.frame_id)
    response.headers["Location"] = (
        f"/v1/workspaces/{bound.info.workspace_id}/frames/{result.frame_id}"
    )
    return put_result(result)


@router.post("/batch", summary="Put several frames in one transaction (all or none)")
def put_frames_batch(bound: Bound, body: FrameBatchRequest) -> FrameBatchResult:
    """Every put of the batch, in order, in one unit of work: one failure writes nothing."""
    limit = bound.api.limits.max_batch
    if len(body.frames) > limit:
        raise InvalidRequest(f"batch of {len(body.frames)} exceeds the limit of {limit}")
    with bound.api.store.unit_of_work():
        bound.api.lock_for_puts([i.node_id for i in body.frames], principal=bound.principal)
        results = [
            _put(bound, item, expected_head(item.if_match, item.if_none_match))
            for item in body.frames
        ]
    return FrameBatchResult(results=[put_result(r) for r in results])


def _stored_frame(bound: BoundWorkspace, frame_id: str) -> Frame:
    fid = FrameId(parse_hex_id(frame_id, "FrameID"))
    authorize(bound.principal, Permission.READ)
    frame = bound.api.store.get_frame(bound.api.ws, fid)
    if frame is None:
        raise FrameNotFound(f"no frame {fid} in this workspace")
    return frame


@router.get(
    "/{frame_id}",
    summary="A frame's record and content (immutable; ?fresh=true adds stale)",
    response_model=FrameResource,
    responses=_NOT_MODIFIED,
)
def get_frame(
    bound: Bound,
    frame_id: str,
    fresh: Annotated[
        bool, Query(description="Add stale/incomplete (the answer is then no-cache).")
    ] = False,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The ``frame/1`` record, its verified content and its node's path."""
    frame = _stored_frame(bound, frame_id)
    if not fresh and matches(if_none_match, frame.frame_id):
        return not_modified(frame.frame_id)
    store, ws = bound.api.store, bound.api.ws
    node = store.get_node(ws, frame.node_id)
    payload = frame_record(frame).model_dump(by_alias=True)
    payload["path"] = node.path if node is not None else None
    if fresh:
        (item,) = bound.api.get_frames_batch([frame.frame_id], principal=bound.principal)
        payload.update(content_fields(item.content))
        payload.update(
            stale=item.stale,
            previous=item.previous,
            incomplete=item.incomplete,
            missing=list(item.missing),
            stale_inputs=list(item.stale_inputs),
        )
        headers = {"Cache-Control": NO_CACHE}
    else:
        content = verified_contents(store, ws, [frame])[frame.content_hash]
        payload.update(content_fields(content))
        headers = immutable_headers(frame.frame_id)
    body = FrameResource.model_validate(payload)
    return Response(
        body.model_dump_json(by_alias=True), media_type="application/json", headers=headers
    )


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_BYTES):
        yield bytes(view[start : start + CHUNK_BYTES])


@router.get(
    "/{frame_id}/content",
    summary="The frame's raw content bytes, verified and streamed (immutable)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The raw bytes, with the frame's content type.",
        },
        **_NOT_MODIFIED,
    },
)
def get_frame_content(
    bound: Bound,
    frame_id: str,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The content as stored, with the frame's content type; ETag is the content hash."""
    frame = _stored_frame(bound, frame_id)
    if matches(if_none_match, frame.content_hash):
        return not_modified(frame.content_hash)
    data = verified_contents(bound.api.store, bound.api.ws, [frame])[frame.content_hash]
    headers = immutable_headers(frame.content_hash)
    headers["Content-Length"] = str(len(data))
    # Frame content is untrusted and its type the writer's: a browser must never run it
    # in the server's origin (where the explorer keeps its token), nor sniff another type.
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return StreamingResponse(_chunks(data), media_type=frame.content_type, headers=headers)
