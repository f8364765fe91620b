"""The blob store seam: content bytes by content hash, written before the frame naming them.

A frame names its content by BLAKE3 hash, so content is a pure function of
its key: it is written first, verified and written once, and only then is
the frame record appended (which refuses a frame whose content is missing).
Content therefore never rides inside the record transaction, and a backend
can keep it elsewhere (a directory, an S3 bucket: :mod:`treeframe.storage.blobstores`)
while records stay in the database. A put whose frame append then fails leaves an
unreferenced blob behind: harmless, like a scan's unreferenced NodeRecords,
and reused by the next put of the same bytes.

Large blobs move as chunk iterators (:meth:`BlobStore.put_stream`,
:meth:`BlobStore.read_stream`), so memory is bounded by :data:`CHUNK`, not
by the blob: a put stream is hashed as it is written and becomes visible only
once the hash matched; a read stream is hashed as it is read and raises
IntegrityError after the last chunk when the bytes do not hash to their key.

Each backend's blob store is bound to it (``store.blobs``) and namespaced by
workspace like every other key; ``open_store`` pairs a record store with an
external blob store behind this same Protocol (see :mod:`treeframe.storage.catalog`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from treeframe.errors import IntegrityError
from treeframe.hashing.ids import content_hash, content_hasher
from treeframe.ids import ContentHash, WorkspaceId, parse_hex_id

__all__ = [
    "CHUNK",
    "PROBE_DIGEST",
    "BlobStore",
    "ProbedBlobStore",
    "chunked",
    "probe_blobs",
    "verified_digest",
    "verifying",
]

CHUNK = 1 << 20
"""Bytes per chunk of the streaming reads (1 MiB)."""

PROBE_DIGEST = ContentHash("0" * 64)
"""The key readiness looks up: well-formed, and no content hashes to it in practice."""


@runtime_checkable
class BlobStore(Protocol):
    """Content bytes of any number of workspaces, keyed by (workspace, content hash)."""

    def put(self, ws: WorkspaceId, digest: ContentHash, data: bytes) -> bool:
        """Store ``data`` under ``digest`` once; True if it was not stored before.

        Raises IntegrityError (and stores nothing) when the BLAKE3 content
        hash of ``data`` is not ``digest``, InvalidId for a malformed digest.
        """

    def put_stream(self, ws: WorkspaceId, digest: ContentHash, chunks: Iterable[bytes]) -> bool:
        """:meth:`put` of the concatenated ``chunks``, in bounded memory where the store allows.

        The bytes become visible only after the whole stream hashed to
        ``digest``; on a mismatch IntegrityError is raised and nothing is stored.
        """

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Stored bytes by hash; missing (or malformed) hashes are absent.

        A store outside the record database re-verifies each blob's hash
        (IntegrityError or StoreCorrupt, never wrong bytes).
        """

    def read_stream(self, ws: WorkspaceId, digest: ContentHash) -> Iterator[bytes] | None:
        """The blob's bytes in chunks of at most about :data:`CHUNK`, or None if not stored.

        Hashed as it goes: after the last chunk IntegrityError is raised when
        the bytes read do not hash to ``digest``.
        """

    def exists_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Which of ``digests`` are stored, without reading their bytes."""

    def iter_all(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every stored blob with the hash it is stored under, in hash order (verify and export)."""


@runtime_checkable
class ProbedBlobStore(Protocol):
    """A blob store that can prove it answers, for readiness checks (optional beside :class:`BlobStore`)."""

    def probe(self, ws: WorkspaceId) -> None:
        """One real round trip to the medium that writes nothing; raise a treeframe error if it fails."""


def probe_blobs(blobs: BlobStore, ws: WorkspaceId) -> None:
    """Prove ``blobs`` answers without writing into its content namespace.

    A store with its own :meth:`ProbedBlobStore.probe` runs it (a directory
    listing, an S3 HEAD of the bucket, a catalog read); any other store
    answers an :meth:`BlobStore.exists_many` of :data:`PROBE_DIGEST`, which
    is a real lookup on every medium and never a write.
    """
    if isinstance(blobs, ProbedBlobStore):
        blobs.probe(ws)
    else:
        blobs.exists_many(ws, [PROBE_DIGEST])


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


def verifying(digest: ContentHash, chunks: Iterable[bytes], *, action: str) -> Iterator[bytes]:
    """``chunks`` passed through, then IntegrityError if they did not hash to ``digest``.

    ``action`` completes the message ("refusing to store it", "stored bytes
    are damaged"), so a caller knows whether a write or a read failed.
    """
    hasher = content_hasher()
    for chunk in chunks:
        hasher.update(chunk)
        yield chunk
    got = ContentHash(hasher.hexdigest())
    if got != digest:
        raise IntegrityError(
            f"content hashes to {got}, not {digest}: {action}", expected=digest, got=got
        )


def chunked(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    """``data`` in slices of ``size`` bytes (none for empty data)."""
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])
