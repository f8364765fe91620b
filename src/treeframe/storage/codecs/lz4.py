"""lz4 (``lz4.frame``): the fastest codec, for hot stores where CPU matters more than space.

Level 0 (lz4's fast mode). Frames carry a content checksum, so corrupt
bytes are caught by the codec.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import lz4.frame

from treeframe.storage.codecs.base import corrupt, joined

__all__ = ["LEVEL", "Lz4Compression"]

LEVEL = 0


class Lz4Compression:
    """One lz4 frame at :data:`LEVEL` with a content checksum."""

    name = "lz4"

    def compress(self, data: bytes) -> bytes:
        """One lz4 frame."""
        return bytes(lz4.frame.compress(data, compression_level=LEVEL, content_checksum=True))

    def decompress(self, data: bytes) -> bytes:
        """The frame's bytes; StoreCorrupt when it is damaged or cut off."""
        return joined(self.decompress_stream([data]))

    def compress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """One lz4 frame, emitted as it fills."""
        packer = lz4.frame.LZ4FrameCompressor(compression_level=LEVEL, content_checksum=True)
        yield packer.begin()
        for chunk in chunks:
            if out := packer.compress(chunk):
                yield out
        yield packer.flush()

    def decompress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Unpacked chunks of exactly one complete frame."""
        unpacker = lz4.frame.LZ4FrameDecompressor()
        try:
            for chunk in chunks:
                if unpacker.eof and chunk:
                    raise corrupt(self.name, "bytes after the end of the frame")
                if out := unpacker.decompress(chunk):
                    yield out
        except RuntimeError as exc:  # lz4.frame reports every decoding failure so
            raise corrupt(self.name, exc) from exc
        if not unpacker.eof:
            raise corrupt(self.name, "the frame ends early")
        if unpacker.unused_data:
            raise corrupt(self.name, "bytes after the end of the frame")
