"""Small builders for records and frames used by the test suites (and the conformance suite)."""

from __future__ import annotations

from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.values import ANY_HEAD, AnyHead, Appended, SetRootFn, WorkspaceInfo
from treeframe.tree.records import NodeRecord

CREATED_AT = "2024-01-01T00:00:00Z"


def make_ws(name: str = "ws-a") -> WorkspaceId:
    """Workspace ID derived from ``name``, as a real workspace gets it."""
    return workspace_id(name)


def workspace_info(ws: WorkspaceId, name: str, *, created_at: str = CREATED_AT) -> WorkspaceInfo:
    """Metadata of a live workspace, as ``create_workspace`` takes it."""
    return WorkspaceInfo(ws, name, "", None, created_at, None)


def make_file(
    path: str = "a.txt", content: bytes = b"hello", *, size: int | None = None
) -> NodeRecord:
    """A file record; ``size`` is not hashed, so overriding it keeps the NodeID."""
    return NodeRecord.file(
        path, content_hash(content), len(content) if size is None else size, False
    )


def make_dir(path: str = "", children: list[NodeRecord] | None = None) -> NodeRecord:
    """A directory record over the given child records."""
    entries = [(child.name, child.node_id) for child in children or []]
    return NodeRecord.directory(path, entries)


def make_frame(
    node: NodeRecord | NodeId,
    content: bytes = b"a note",
    *,
    frame_type: str = "note",
    agent: str = "agent-a",
    basis: Basis | None = None,
) -> tuple[Frame, bytes]:
    """An unsequenced frame on ``node`` and its content bytes."""
    node_id = node.node_id if isinstance(node, NodeRecord) else node
    return new_frame(node_id, frame_type, agent, content, basis=basis), content


def put_frame(
    store: StorageBackend,
    ws: WorkspaceId,
    frame: Frame,
    content: bytes,
    set_root: SetRootFn,
    created_at: str,
    *,
    expected_head: FrameId | AnyHead | None = ANY_HEAD,
) -> Appended:
    """Put ``content`` in the blob store, then append ``frame``: the engine's write order."""
    store.blobs.put(ws, frame.content_hash, content)
    return store.append_frame(ws, frame, set_root, created_at, expected_head=expected_head)
