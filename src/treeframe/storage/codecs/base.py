"""The compression seam: how stored bytes are packed, never what is hashed.

A codec turns content bytes into the bytes a blob store keeps and back.
Nothing hashed ever passes through a codec: a content hash is computed over
the uncompressed bytes before :meth:`Compression.compress` runs, so switching
codecs never changes an ID. Every stored blob records the ``name`` of the
codec that packed it, so a store written under one default stays readable
after the default changes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Compression"]


@runtime_checkable
class Compression(Protocol):
    """One compression codec; stateless, so one instance serves every thread."""

    name: str
    """The stable name stored beside each blob (``none``, ``zstd``, ``gzip``, ``lz4``, ``brotli``)."""

    def compress(self, data: bytes) -> bytes:
        """The packed form of ``data``."""
        ...

    def decompress(self, data: bytes) -> bytes:
        """The bytes :meth:`compress` was given; StorageError for corrupt input, never a crash."""
        ...
