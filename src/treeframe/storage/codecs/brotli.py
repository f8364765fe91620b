"""brotli: the best ratio on text, slow to pack; for cold, write-once stores.

Quality 5, not brotli's default 11: 11 packs source text only a few percent
smaller at well over ten times the CPU, which would make every put of a
large blob slow. Brotli has no checksum of its own, so a flipped bit can
decode to wrong bytes; the content hash (checked on every read) catches that.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import brotli

from treeframe.storage.codecs.base import corrupt, joined

__all__ = ["QUALITY", "BrotliCompression"]

QUALITY = 5


class BrotliCompression:
    """One brotli stream at :data:`QUALITY`."""

    name = "brotli"

    def compress(self, data: bytes) -> bytes:
        """One brotli stream."""
        return bytes(brotli.compress(data, quality=QUALITY))

    def decompress(self, data: bytes) -> bytes:
        """The stream's bytes; StoreCorrupt when it is damaged or cut off."""
        return joined(self.decompress_stream([data]))

    def compress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """One brotli stream, emitted as it fills."""
        packer = brotli.Compressor(quality=QUALITY)
        for chunk in chunks:
            if out := packer.process(chunk):
                yield out
        yield packer.finish()

    def decompress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Unpacked chunks of exactly one complete stream."""
        unpacker = brotli.Decompressor()
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                if unpacker.is_finished():
                    raise corrupt(self.name, "bytes after the end of the stream")
                if out := unpacker.process(chunk):
                    yield out
        except brotli.error as exc:
            raise corrupt(self.name, exc) from exc
        if not unpacker.is_finished():
            raise corrupt(self.name, "the stream ends early")
