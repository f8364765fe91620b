"""The compression seam: how stored bytes are packed, never what is hashed.

A codec turns content bytes into the bytes a blob store keeps and back.
Nothing hashed ever passes through a codec: a content hash is computed over
the uncompressed bytes before :meth:`Compression.compress` runs, so switching
codecs never changes an ID. Every stored blob records the ``name`` of the
codec that packed it, so a store written under one default stays readable
after the default changes.

Large blobs are packed and unpacked as chunk iterators
(:meth:`Compression.compress_stream` / :meth:`Compression.decompress_stream`)
so memory stays bounded by the chunk size, not the blob size. Every codec
refuses corrupt or truncated input with
:class:`~treeframe.errors.StoreCorrupt` naming itself, never a library
exception: a packed stream always ends with an end-of-stream marker, so a
cut-off blob is detected rather than silently served short.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from treeframe.errors import StoreCorrupt

__all__ = ["Compression", "corrupt", "joined"]


@runtime_checkable
class Compression(Protocol):
    """One compression codec; stateless, so one instance serves every thread."""

    name: str
    """The stable name stored beside each blob (``none``, ``zstd``, ``gzip``, ``lz4``, ``brotli``)."""

    def compress(self, data: bytes) -> bytes:
        """The packed form of ``data``."""
        ...

    def decompress(self, data: bytes) -> bytes:
        """The bytes :meth:`compress` was given; StoreCorrupt for corrupt input, never a crash."""
        ...

    def compress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The packed form of the concatenated ``chunks``, produced incrementally."""
        ...

    def decompress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Unpacked bytes of a packed stream, incrementally; StoreCorrupt when corrupt or cut off."""
        ...


def corrupt(name: str, why: object) -> StoreCorrupt:
    """The error every codec raises for bytes it cannot unpack."""
    return StoreCorrupt(f"stored {name}-compressed bytes are corrupt or truncated: {why}")


def joined(chunks: Iterable[bytes]) -> bytes:
    """All of ``chunks`` as one bytes object (one-shot calls built on the streams)."""
    return b"".join(chunks)
