"""gzip (stdlib ``zlib``): available everywhere, readable by any tool; level 6.

Deterministic: the header's mtime is 0 and no file name is recorded, so the
same bytes always pack to the same stored bytes. The gzip trailer's CRC-32
and length catch corrupt or cut-off data.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from treeframe.storage.codecs.base import corrupt, joined

__all__ = ["LEVEL", "GzipCompression"]

LEVEL = 6
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip wrapper (zlib writes mtime 0, no name)


class GzipCompression:
    """One gzip member at :data:`LEVEL`."""

    name = "gzip"

    def compress(self, data: bytes) -> bytes:
        """One gzip member."""
        return joined(self.compress_stream([data]))

    def decompress(self, data: bytes) -> bytes:
        """The member's bytes; StoreCorrupt when it is damaged or cut off."""
        return joined(self.decompress_stream([data]))

    def compress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """One gzip member, emitted as it fills."""
        packer = zlib.compressobj(LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        for chunk in chunks:
            if out := packer.compress(chunk):
                yield out
        yield packer.flush()

    def decompress_stream(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Unpacked chunks of exactly one complete gzip member."""
        unpacker = zlib.decompressobj(_GZIP_WBITS)
        try:
            for chunk in chunks:
                if unpacker.eof and chunk:
                    raise corrupt(self.name, "bytes after the end of the member")
                if out := unpacker.decompress(chunk):
                    yield out
            if out := unpacker.flush():
                yield out
        except zlib.error as exc:
            raise corrupt(self.name, exc) from exc
        if not unpacker.eof:
            raise corrupt(self.name, "the member ends early")
        if unpacker.unused_data:
            raise corrupt(self.name, "bytes after the end of the member")
