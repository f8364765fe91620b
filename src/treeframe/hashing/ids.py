"""The hash functions behind every ID; docs/SCHEMAS.md describes exactly this file.

All hashes are BLAKE3-256 over ``tagged(domain_tag, fields...)`` from
:mod:`treeframe.hashing.encoding`. Inputs and outputs are 64-hex strings at
this boundary; digests enter the encoding as their raw 32 bytes.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import blake3

from treeframe.hashing.encoding import blob, count, tagged, text, u8
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId, parse_hex_id

__all__ = [
    "BASIS_FRAME",
    "BASIS_NODE",
    "BASIS_NODE_FRAME",
    "BASIS_SYNTHESIS",
    "TAG_BASIS",
    "TAG_CONTENT",
    "TAG_DIR",
    "TAG_FILE",
    "TAG_FRAME",
    "TAG_SET_EMPTY",
    "TAG_SET_INNER",
    "TAG_SET_LEAF",
    "TAG_SYMLINK",
    "TAG_WORKSPACE",
    "basis_hash",
    "content_hash",
    "content_hasher",
    "dir_node_id",
    "file_node_id",
    "frame_id",
    "set_empty_root",
    "set_inner",
    "set_leaf",
    "symlink_node_id",
    "workspace_id",
]

TAG_CONTENT = b"treeframe:content:v1"
TAG_FILE = b"treeframe:node:file:v1"
TAG_DIR = b"treeframe:node:dir:v1"
TAG_SYMLINK = b"treeframe:node:symlink:v1"
TAG_BASIS = b"treeframe:basis:v1"
TAG_FRAME = b"treeframe:frame:v1"
TAG_SET_LEAF = b"treeframe:set:leaf:v1"
TAG_SET_INNER = b"treeframe:set:inner:v1"
TAG_SET_EMPTY = b"treeframe:set:empty:v1"
TAG_WORKSPACE = b"treeframe:workspace:v1"

BASIS_NODE = 1
BASIS_FRAME = 2
BASIS_NODE_FRAME = 3
BASIS_SYNTHESIS = 4

_CONTENT_PREFIX = blob(TAG_CONTENT)


def _digest(data: bytes) -> bytes:
    return blake3.blake3(data).digest()


def _raw(hex_id: str) -> bytes:
    # bytes.fromhex() also accepts uppercase and whitespace; two spellings of
    # one ID must not both hash, so only the canonical 64-lowercase-hex form may.
    return bytes.fromhex(parse_hex_id(hex_id))


def content_hasher() -> Any:
    """Return a streaming BLAKE3 hasher already fed the content domain tag.

    Feed it the content with ``update()`` and finish with ``hexdigest()``; the
    result equals :func:`content_hash` of the concatenated bytes.
    """
    return blake3.blake3(_CONTENT_PREFIX)


def content_hash(data: bytes) -> ContentHash:
    """Hash a byte string (file content or frame content)."""
    return ContentHash(blake3.blake3(_CONTENT_PREFIX + data).hexdigest())


def file_node_id(path: str, content: ContentHash, executable: bool) -> NodeId:
    """NodeID of a regular file at ``path`` (normalized, workspace-relative)."""
    data = tagged(TAG_FILE, text(path), blob(_raw(content)), u8(1 if executable else 0))
    return NodeId(_digest(data).hex())


def symlink_node_id(path: str, target: str) -> NodeId:
    """NodeID of a symbolic link; the target string is hashed, never followed."""
    return NodeId(_digest(tagged(TAG_SYMLINK, text(path), text(target))).hex())


_HEX_RUN = re.compile(r"[0-9a-f]*")
_U32 = struct.Struct(">I")
_DIR_PREFIX = blob(TAG_DIR)
_DIGEST_LEN = _U32.pack(32)


def dir_node_id(path: str, children: Sequence[tuple[str, NodeId]]) -> NodeId:
    """NodeID of a directory; ``children`` must already be sorted by UTF-8 name bytes.

    The bytes are exactly ``tagged(TAG_DIR, text(path), count(text(name) +
    blob(raw child ID) ...))``; the child IDs are checked and decoded all at
    once (a scan computes one per directory, over every child).
    """
    ids = [child for _, child in children]
    joined = "".join(ids) if all(type(c) is str and len(c) == 64 for c in ids) else None
    if joined is None or _HEX_RUN.fullmatch(joined) is None:
        entries = (text(name) + blob(_raw(child)) for name, child in children)  # raises InvalidId
        return NodeId(_digest(tagged(TAG_DIR, text(path), count(entries))).hex())
    raw = bytes.fromhex(joined)
    pack = _U32.pack
    parts = [_DIR_PREFIX, text(path), pack(len(ids))]
    for index, (name, _) in enumerate(children):
        encoded = name.encode("utf-8")
        start = index * 32
        parts += (pack(len(encoded)), encoded, _DIGEST_LEN, raw[start : start + 32])
    return NodeId(_digest(b"".join(parts)).hex())


def basis_hash(
    kind: int,
    *,
    node_id: NodeId | None = None,
    frame_id: FrameId | None = None,
    child_frames: Iterable[FrameId] = (),
    policy_id: str = "",
    params_json: bytes = b"",
) -> str:
    """Hash of a frame's basis; which fields enter depends on ``kind``."""
    if kind == BASIS_NODE and node_id is not None:
        fields = blob(_raw(node_id))
    elif kind == BASIS_FRAME and frame_id is not None:
        fields = blob(_raw(frame_id))
    elif kind == BASIS_NODE_FRAME and node_id is not None and frame_id is not None:
        fields = blob(_raw(node_id)) + blob(_raw(frame_id))
    elif kind == BASIS_SYNTHESIS:
        children = count(blob(_raw(f)) for f in child_frames)
        fields = children + text(policy_id) + blob(params_json)
    else:
        raise ValueError(f"unknown basis kind {kind} or a missing node_id / frame_id")
    return _digest(tagged(TAG_BASIS, u8(kind), fields)).hex()


def frame_id(
    node_id: NodeId, frame_type: str, agent_id: str, basis: str, content: ContentHash
) -> FrameId:
    """FrameID over (node_id, frame_type, agent_id, basis hash, content hash) only."""
    data = tagged(
        TAG_FRAME,
        blob(_raw(node_id)),
        text(frame_type),
        text(agent_id),
        blob(_raw(basis)),
        blob(_raw(content)),
    )
    return FrameId(_digest(data).hex())


def set_leaf(frame: bytes) -> bytes:
    """Raw digest of a frame Merkle set leaf over a raw 32-byte FrameID."""
    return _digest(tagged(TAG_SET_LEAF, blob(frame)))


def set_inner(left: bytes, right: bytes) -> bytes:
    """Raw digest of a frame Merkle set inner node over two raw child digests."""
    return _digest(tagged(TAG_SET_INNER, blob(left), blob(right)))


def set_empty_root() -> bytes:
    """Raw digest of the empty frame set (a documented constant)."""
    return _digest(tagged(TAG_SET_EMPTY))


def workspace_id(name: str) -> WorkspaceId:
    """Workspace ID derived from its name, so creating a workspace is idempotent."""
    return WorkspaceId(_digest(tagged(TAG_WORKSPACE, text(name))).hex())
