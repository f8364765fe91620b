"""A record store's content catalog, and the one BlobStore every backend builds on it.

Every backend keeps a *catalog* of the contents each workspace holds, inside
its own database: one row per (workspace, content hash) with the name of the
codec that packed the bytes and, for a blob kept in the store, the packed
bytes themselves. A blob above the policy's ``inline_max`` lives in an
external :class:`~treeframe.storage.blobs.BlobStore` (a directory, an S3
bucket) and its row says so (``stored`` is None). Because the catalog row is
in the record database, a frame append checks "is the content there?" inside
its own transaction whatever holds the bytes, and the row is written only
after the external store acknowledged the bytes: no frame ever names content
that is not durably stored.

:class:`CatalogBlobs` is the generic ``store.blobs``: a backend implements the
four :class:`ContentCatalog` methods and gets compression, the inline
threshold and the external store from here, identical on every backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from treeframe.errors import IntegrityError
from treeframe.ids import ContentHash, WorkspaceId
from treeframe.storage.blobs import BlobStore, verified_digest
from treeframe.storage.codecs import Compression, codec
from treeframe.storage.codecs.none import NoCompression

__all__ = ["DEFAULT_INLINE_MAX", "CatalogBlobs", "ContentCatalog", "ContentPolicy"]

DEFAULT_INLINE_MAX = 64 << 10
"""Contents up to this many bytes stay in the record store when an external store is set."""


@runtime_checkable
class ContentCatalog(Protocol):
    """The per-backend half of the blob store: catalog rows in the record database."""

    def catalog_insert(
        self, ws: WorkspaceId, digest: ContentHash, codec: str, stored: bytes | None
    ) -> bool:
        """Add the row for ``digest`` in one transaction (joining a unit of work); False if present.

        ``stored`` is the packed bytes kept in the store, or None when the
        external blob store holds them. An existing row is never changed.
        Raises WorkspaceNotFound for an unknown workspace.
        """
        ...

    def catalog_get(
        self, ws: WorkspaceId, digests: Sequence[ContentHash]
    ) -> dict[ContentHash, tuple[str, bytes | None]]:
        """``(codec, stored bytes or None)`` of each catalogued digest; others are absent."""
        ...

    def catalog_exists(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Which of ``digests`` are catalogued, without reading their bytes."""
        ...

    def catalog_iter(self, ws: WorkspaceId) -> Iterator[ContentHash]:
        """Every catalogued digest of ``ws`` in ascending order, paged (bounded memory)."""
        ...


@dataclass(frozen=True)
class ContentPolicy:
    """Where contents go and how they are packed: the same on every backend."""

    codec: Compression = field(default_factory=NoCompression)
    """The codec new blobs are packed with (stored blobs keep the one they were written with)."""

    external: BlobStore | None = None
    """Holds blobs above ``inline_max``; None keeps every blob in the record store."""

    inline_max: int = DEFAULT_INLINE_MAX
    """Largest content (in uncompressed bytes) kept in the record store when ``external`` is set."""


class CatalogBlobs:
    """``store.blobs`` of every backend: verify, pack, place, and catalog each blob."""

    def __init__(self, catalog: ContentCatalog, policy: ContentPolicy | None = None) -> None:
        self._catalog = catalog
        self.policy = policy or ContentPolicy()

    def put(self, ws: WorkspaceId, digest: ContentHash, data: bytes) -> bool:
        """Verify, then store once: external bytes first, the catalog row last."""
        verified_digest(digest, data)
        if self._catalog.catalog_exists(ws, [digest]):
            return False
        external = self.policy.external
        if external is not None and len(data) > self.policy.inline_max:
            external.put(ws, digest, data)
            return self._catalog.catalog_insert(ws, digest, NoCompression.name, None)
        packer = self.policy.codec
        return self._catalog.catalog_insert(ws, digest, packer.name, packer.compress(data))

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Stored bytes by hash: unpacked from the catalog or read from the external store."""
        rows = self._catalog.catalog_get(ws, digests)
        found: dict[ContentHash, bytes] = {}
        outside = [d for d, (_, stored) in rows.items() if stored is None]
        if outside:
            external = self.policy.external
            if external is None:
                raise IntegrityError(
                    f"{len(outside)} content(s) of this store are kept in an external blob "
                    "store, and none is configured",
                    expected=outside[0],
                    got="",
                )
            found.update(external.get_many(ws, outside))
        for digest, (name, stored) in rows.items():
            if stored is not None:
                found[digest] = codec(name).decompress(stored)
        return {d: found[d] for d in digests if d in found}

    def exists_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Catalogued hashes among ``digests`` (the catalog is the truth for membership)."""
        return self._catalog.catalog_exists(ws, digests)

    def iter_all(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every blob in hash order, one read per blob so memory stays bounded."""
        for digest in self._catalog.catalog_iter(ws):
            data = self.get_many(ws, [digest]).get(digest)
            if data is not None:
                yield digest, data
