"""Engine values to the wire models of API v1, in one place.

Each converter starts from the library's own JSON form (``to_dict``), the
one the CLI's ``--json`` prints, so the server and the CLI cannot disagree
on a field; the wire models then check the shape on the way out.
"""

from __future__ import annotations

import base64
from typing import Any

from treeframe.engine.composition import ComposedContext, CompositionPolicy
from treeframe.engine.types import (
    FrameContext,
    NodeContext,
    PutResult,
    RegenerationReport,
    StaleReport,
)
from treeframe.frames.frame import Frame
from treeframe.frames.views import ViewPolicy
from treeframe.storage.values import RootEntry
from treeframe.tree.records import NodeRecord
from treeframe.wire.frames import PutFrameResult
from treeframe.wire.nodes import (
    FrameRecord,
    FrameView,
    NodeRecordModel,
    NodeView,
    ViewPolicyModel,
)
from treeframe.wire.operations import (
    Composition,
    Regeneration,
    RootEntryModel,
)
from treeframe.wire.operations import (
    StaleReport as StaleReportModel,
)

__all__ = [
    "composition",
    "content_fields",
    "frame_record",
    "frame_view",
    "node_record",
    "node_view",
    "put_result",
    "regeneration",
    "root_entry",
    "stale_report",
]


def node_record(record: NodeRecord) -> NodeRecordModel:
    """The ``node/1`` record."""
    return NodeRecordModel.model_validate(record.to_dict())


def frame_record(frame: Frame) -> FrameRecord:
    """The ``frame/1`` record (no content)."""
    return FrameRecord.model_validate(frame.to_dict())


def content_fields(content: bytes) -> dict[str, Any]:
    """``content`` as text (replaced where not UTF-8) and, only then, ``content_b64`` exact."""
    try:
        return {"content": content.decode("utf-8"), "content_b64": None}
    except UnicodeDecodeError:
        return {
            "content": content.decode("utf-8", errors="replace"),
            "content_b64": base64.b64encode(content).decode("ascii"),
        }


def _frame_view_dict(item: FrameContext) -> dict[str, Any]:
    out = item.to_dict()
    out.update(content_fields(item.content))
    return out


def frame_view(item: FrameContext) -> FrameView:
    """A served frame: record, content, ``stale`` and completeness."""
    return FrameView.model_validate(_frame_view_dict(item))


def node_view(context: NodeContext, policy: ViewPolicy) -> NodeView:
    """GetNode's answer with the policy applied (``treeframe get --json`` plus the record)."""
    record = context.node_record
    return NodeView(
        node_id=record.node_id,
        path=record.path,
        node_record=node_record(record),
        policy=ViewPolicyModel.model_validate(policy.to_dict()),
        frames=[frame_view(item) for item in context.frames],
        frame_count=context.frame_count,
        truncated=context.truncated,
    )


def put_result(result: PutResult) -> PutFrameResult:
    """What a put did, with the stored record."""
    frame = result.frame
    return PutFrameResult(
        frame_id=frame.frame_id,
        node_id=frame.node_id,
        created=result.created,
        created_at=frame.created_at,
        frame=frame_record(frame),
    )


def stale_report(report: StaleReport) -> StaleReportModel:
    """``treeframe stale --json``."""
    return StaleReportModel.model_validate(report.to_dict())


def regeneration(report: RegenerationReport) -> Regeneration:
    """``treeframe regenerate --json``."""
    return Regeneration.model_validate(report.to_dict())


def composition(result: ComposedContext, policy: CompositionPolicy) -> Composition:
    """``treeframe compose --json``: the composed frames, candidates and the policy applied."""
    payload = result.to_dict()
    for entry, item in zip(payload["frames"], result.frames, strict=True):
        entry.update(content_fields(item.context.content))
    payload["policy"] = policy.to_dict()
    return Composition.model_validate(payload)


def root_entry(entry: RootEntry) -> RootEntryModel:
    """One root-history entry."""
    return RootEntryModel(seq=entry.seq, root=entry.root, created_at=entry.created_at)
