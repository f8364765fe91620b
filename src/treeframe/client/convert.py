"""Wire models back into the engine's values, checking every ID the server sent.

A remote caller gets the same :class:`~treeframe.tree.records.NodeRecord`,
:class:`~treeframe.frames.frame.Frame` and
:class:`~treeframe.engine.types.FrameContext` a local one does. Records are
content-addressed, so the client does not have to trust the server: each
NodeID and FrameID is recomputed from the record that came with it and each
content is hashed again, and a mismatch is ``integrity_error``.
"""

from __future__ import annotations

import base64
import binascii

from treeframe.engine.types import FrameContext, StaleFrame
from treeframe.errors import IntegrityError
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import content_hash
from treeframe.ids import FrameId, NodeId
from treeframe.tree.records import NodeRecord
from treeframe.wire.nodes import FrameRecord, FrameView, NodeRecordModel
from treeframe.wire.operations import StaleFrameModel

__all__ = ["content_of", "frame_context", "frame_of", "record_of", "stale_frame"]


def record_of(model: NodeRecordModel) -> NodeRecord:
    """The NodeRecord of a ``node/1`` model; ``integrity_error`` if its NodeID does not match."""
    record = NodeRecord.from_dict(model.model_dump(by_alias=True, exclude_none=True))
    recomputed = record.compute_id()
    if recomputed != record.node_id:
        raise IntegrityError(
            f"the server sent node {record.node_id} whose record hashes to {recomputed}",
            expected=record.node_id,
            got=recomputed,
        )
    return record


def frame_of(model: FrameRecord) -> Frame:
    """The Frame of a ``frame/1`` model; ``integrity_error`` if its FrameID does not match."""
    frame = Frame.from_dict(model.model_dump(by_alias=True, exclude_none=True))
    recomputed = frame.compute_id()
    if recomputed != frame.frame_id:
        raise IntegrityError(
            f"the server sent frame {frame.frame_id} whose record hashes to {recomputed}",
            expected=frame.frame_id,
            got=recomputed,
        )
    return frame


def content_of(view: FrameView) -> bytes:
    """The exact content bytes of a served frame (``content_b64`` when the text is not UTF-8)."""
    if view.content_b64 is None:
        return view.content.encode("utf-8")
    try:
        return base64.b64decode(view.content_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IntegrityError(f"frame {view.frame_id}: content_b64 is not base64") from exc


def frame_context(view: FrameView) -> FrameContext:
    """The FrameContext of a served frame, its content hashed again against the record."""
    frame = frame_of(view)
    content = content_of(view)
    got = content_hash(content)
    if got != frame.content_hash:
        raise IntegrityError(
            f"the server sent content for frame {frame.frame_id} that hashes to {got}",
            expected=frame.content_hash,
            got=got,
        )
    return FrameContext(
        frame,
        content,
        view.stale,
        previous=view.previous,
        missing=tuple(view.missing),
        stale_inputs=tuple(view.stale_inputs),
    )


def stale_frame(model: StaleFrameModel) -> StaleFrame:
    """A StaleFrame from its model."""
    return StaleFrame(
        frame_id=FrameId(model.frame_id),
        node_id=NodeId(model.node_id),
        path=model.path,
        frame_type=model.frame_type,
        agent_id=model.agent_id,
        reason=model.reason,
        recomputable=model.recomputable,
    )
