"""The identity codec: stored bytes are the content bytes."""

from __future__ import annotations

__all__ = ["NoCompression"]


class NoCompression:
    """Stores bytes as they are (the default for content that is already compressed)."""

    name = "none"

    def compress(self, data: bytes) -> bytes:
        """``data`` unchanged."""
        return bytes(data)

    def decompress(self, data: bytes) -> bytes:
        """``data`` unchanged."""
        return bytes(data)
