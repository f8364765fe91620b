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

from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import chain
from typing import Protocol, runtime_checkable

from treeframe.errors import ConfigError, IntegrityError, NotFound, StoreCorrupt
from treeframe.ids import ContentHash, WorkspaceId, parse_hex_id
from treeframe.storage.blobs import (
    PROBE_DIGEST,
    BlobStore,
    chunked,
    probe_blobs,
    verified_digest,
    verifying,
)
from treeframe.storage.codecs import Compression, codec
from treeframe.storage.codecs.none import NoCompression

__all__ = ["DEFAULT_INLINE_MAX", "CatalogBlobs", "ContentCatalog", "ContentPolicy"]

DEFAULT_INLINE_MAX = 64 << 10
"""Contents up to this many bytes stay in the record store when an external store is set.

Chosen from ``benchmarks/bench_blobs.py`` (docs/BACKENDS.md): up to 64 KiB a
row is several times faster to put and read than a file or an S3 object;
from 1 MiB inline rows make SQLite's write transactions pay for WAL checkpoints.
"""


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


def _unpacker(name: str) -> Compression:
    """The codec a catalog row names; an unknown name means a damaged row."""
    try:
        return codec(name)
    except ConfigError as exc:
        raise StoreCorrupt(f"a stored content names an unknown codec {name!r}") from exc


class CatalogBlobs:
    """``store.blobs`` of every backend: verify, pack, place, and catalog each blob."""

    def __init__(self, catalog: ContentCatalog, policy: ContentPolicy | None = None) -> None:
        self._catalog = catalog
        self.policy = policy or ContentPolicy()

    def _goes_outside(self, size: int) -> BlobStore | None:
        """The external store a blob of ``size`` bytes belongs in, or None to inline it."""
        external = self.policy.external
        return external if external is not None and size > self.policy.inline_max else None

    def put(self, ws: WorkspaceId, digest: ContentHash, data: bytes) -> bool:
        """Verify, then store once: external bytes first, the catalog row last."""
        verified_digest(digest, data)
        if self._catalog.catalog_exists(ws, [digest]):
            return False
        external = self._goes_outside(len(data))
        if external is not None:
            external.put(ws, digest, data)
            return self._catalog.catalog_insert(ws, digest, NoCompression.name, None)
        packer = self.policy.codec
        return self._catalog.catalog_insert(ws, digest, packer.name, packer.compress(data))

    def put_stream(self, ws: WorkspaceId, digest: ContentHash, chunks: Iterable[bytes]) -> bool:
        """:meth:`put` of a stream: buffered up to ``inline_max``, then streamed to the external store.

        Without an external store every blob is one catalog row, so the
        stream is gathered whole. The row is written only after the external
        store verified and acknowledged the bytes.
        """
        parse_hex_id(digest, "content hash")
        if self._catalog.catalog_exists(ws, [digest]):
            return False
        rest = iter(chunks)
        buffered = bytearray()
        for chunk in rest:
            buffered += chunk
            external = self._goes_outside(len(buffered))
            if external is not None:
                external.put_stream(ws, digest, chain([bytes(buffered)], rest))
                return self._catalog.catalog_insert(ws, digest, NoCompression.name, None)
        return self.put(ws, digest, bytes(buffered))

    def _external(self, outside: Sequence[ContentHash]) -> BlobStore:
        external = self.policy.external
        if external is None:
            raise IntegrityError(
                f"{len(outside)} content(s) of this store are kept in an external blob "
                "store, and none is configured",
                expected=outside[0],
                got="",
            )
        return external

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Stored bytes by hash: unpacked from the catalog or read (verified) from the external store."""
        rows = self._catalog.catalog_get(ws, digests)
        found: dict[ContentHash, bytes] = {}
        outside = [d for d, (_, stored) in rows.items() if stored is None]
        if outside:
            found.update(self._external(outside).get_many(ws, outside))
        for digest, (name, stored) in rows.items():
            if stored is not None:
                found[digest] = _unpacker(name).decompress(stored)
        return {d: found[d] for d in digests if d in found}

    def read_stream(self, ws: WorkspaceId, digest: ContentHash) -> Iterator[bytes] | None:
        """The blob in chunks, hashed as it goes; None when it is not catalogued."""
        row = self._catalog.catalog_get(ws, [digest]).get(digest)
        if row is None:
            return None
        name, stored = row
        if stored is None:
            stream = self._external([digest]).read_stream(ws, digest)
            if stream is None:
                raise IntegrityError(
                    f"content {digest} is catalogued but missing from the external blob store",
                    expected=digest,
                    got="",
                )
            return stream
        unpacked = _unpacker(name).decompress_stream(chunked(stored))
        return verifying(digest, unpacked, action="the stored bytes are damaged")

    def exists_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Catalogued hashes among ``digests`` (the catalog is the truth for membership)."""
        return self._catalog.catalog_exists(ws, digests)

    def probe(self, ws: WorkspaceId) -> None:
        """A catalog read of :data:`PROBE_DIGEST`, then the external store's own probe (if any).

        ``ws`` need not exist: a store that answers "no such workspace" has answered.
        """
        with suppress(NotFound):
            self._catalog.catalog_exists(ws, [PROBE_DIGEST])
        if self.policy.external is not None:
            probe_blobs(self.policy.external, ws)

    def iter_all(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every blob in hash order, one read per blob so memory stays bounded."""
        for digest in self._catalog.catalog_iter(ws):
            data = self.get_many(ws, [digest]).get(digest)
            if data is not None:
                yield digest, data
