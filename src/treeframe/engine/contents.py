"""Frame content as read back from the store, checked against its content hash.

A frame's ID covers its content hash, so serving bytes whose BLAKE3 differs
(a flipped bit on disk, a bad restore) or inventing empty bytes for a missing
blob would pass damaged context off under a valid FrameID. Every read that
serves or synthesizes from content goes through :func:`verified_contents`;
hashing is cheap next to the read itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from treeframe.errors import IntegrityError
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import content_hash
from treeframe.ids import ContentHash, WorkspaceId
from treeframe.storage.base import StorageBackend

__all__ = ["verified_contents"]


def verified_contents(
    store: StorageBackend, ws: WorkspaceId, frames: Iterable[Frame]
) -> dict[ContentHash, bytes]:
    """The content of every frame, by content hash, in one batched read.

    Raises IntegrityError (``expected``: the frame's content hash, ``got``: the
    hash of the stored bytes, empty when the blob is missing) naming the first
    frame whose content is damaged; nothing is returned for any of them then.
    """
    owners: dict[ContentHash, Frame] = {}
    for frame in frames:
        owners.setdefault(frame.content_hash, frame)
    found = store.blobs.get_many(ws, list(owners))
    for digest, frame in owners.items():
        data = found.get(digest)
        if data is None:
            raise IntegrityError(
                f"content {digest} of frame {frame.frame_id} is missing from the store "
                "(run 'treeframe verify')",
                expected=digest,
                got="",
            )
        got = content_hash(data)
        if got != digest:
            raise IntegrityError(
                f"stored content of frame {frame.frame_id} does not match its hash "
                f"(expected {digest}, got {got}; run 'treeframe verify')",
                expected=digest,
                got=got,
            )
    return found
