"""The blob store seam: content bytes by content hash, written before the frame naming them.

A frame names its content by BLAKE3 hash, so content is a pure function of
its key: it is written first, verified and written once, and only then is
the frame record appended (which refuses a frame whose content is missing).
Content therefore never rides inside the record transaction, and a backend
can keep it elsewhere (the SQLite file today; a directory or S3 later) while
records stay in the database. A put whose frame append then fails leaves an
unreferenced blob behind: harmless, like a scan's unreferenced NodeRecords,
and reused by the next put of the same bytes.

Each backend's blob store is bound to it (``store.blobs``) and namespaced by
workspace like every other key; ``open_store`` can later pair a record store
with another blob store (a filesystem or S3 one) behind this same Protocol.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from treeframe.errors import IntegrityError
from treeframe.hashing.ids import content_hash
from treeframe.ids import ContentHash, WorkspaceId, parse_hex_id

__all__ = ["BlobStore", "verified_digest"]


@runtime_checkable
class BlobStore(Protocol):
    """Content bytes of any number of workspaces, keyed by (workspace, content hash)."""

    def put(self, ws: WorkspaceId, digest: ContentHash, data: bytes) -> bool:
        """Store ``data`` under ``digest`` once; True if it was not stored before.

        Raises IntegrityError (and stores nothing) when the BLAKE3 content
        hash of ``data`` is not ``digest``, InvalidId for a malformed digest.
        """

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Stored bytes by hash; missing (or malformed) hashes are absent. Never re-verified here."""

    def exists_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Which of ``digests`` are stored, without reading their bytes."""

    def iter_all(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every stored blob with the hash it is stored under (verify and export only)."""


def verified_digest(digest: ContentHash, data: bytes) -> ContentHash:
    """``digest`` if it is well-formed and is the content hash of ``data``; else raise.

    Every blob store calls this before writing, so a blob can never be
    stored under a hash that does not name it.
    """
    parse_hex_id(digest, "content hash")
    got = content_hash(data)
    if got != digest:
        raise IntegrityError(
            f"content hashes to {got}, not {digest}: refusing to store it",
            expected=digest,
            got=got,
        )
    return digest
