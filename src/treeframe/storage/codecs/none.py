"""The identity codec: stored bytes are the content bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["NoCompression"]


class NoCompression:
    """Stores bytes as they are (the default; right for content that is already compressed)."""

    name = "none"

    def compress(self, data: bytes) -> bytes:
        """``data`` unchanged."""
        return bytes(data)

    def decompress(self, data: bytes) -> bytes:
        """``data`` unchanged."""
        return bytes(data)

    def compress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks`` unchanged (empty ones dropped)."""
        return (bytes(c) for c in chunks if c)

    def decompress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks`` unchanged (empty ones dropped)."""
        return (bytes(c) for c in chunks if c)
