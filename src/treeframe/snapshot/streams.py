"""Whole-archive compression: deterministic writers, and a capped, detecting reader.

An archive is the tar stream itself (``none``), or that stream compressed
as one zstd frame (level 3, no checksum, no content size, single-threaded)
or one gzip member (level 6, mtime 0, no file name). Fixed parameters make
the bytes a function of the tar stream and the compressor library's
version; the tar stream is the same everywhere (docs/SCHEMAS.md §15.1).

The reader detects the compression from the first bytes, so ``verify-export``
and ``import`` need no flag. It refuses decompression bombs with two caps:
an absolute one (``max_bytes``: the verifier tightens it to what the
manifest declares, once the manifest is read) and a ratio one (output over
``max_ratio`` times the input consumed, checked once past
:data:`RATIO_GRACE`). A compressed stream that ends early, is damaged, or
is followed by any byte is refused too.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any, BinaryIO, Protocol

from treeframe.errors import ConfigError, SnapshotInvalid
from treeframe.snapshot.tar import Readable

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_RATIO",
    "RATIO_GRACE",
    "Decompressed",
    "Writable",
    "compressor",
    "detect",
]

COMPRESSIONS = ("none", "zstd", "gzip")
DEFAULT_MAX_BYTES = 1 << 40
"""Largest uncompressed archive a reader accepts by default (1 TiB)."""
DEFAULT_MAX_RATIO = 1000
"""Largest uncompressed/compressed ratio a reader accepts by default."""
RATIO_GRACE = 64 << 20
"""The ratio cap applies once this much (64 MiB) has been decompressed."""

ZSTD_LEVEL = 3
GZIP_LEVEL = 6
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_READ = 1 << 20
# Input fed to the decoder per call, so that one call's output is bounded (64 MiB)
# even for the densest stream: zstd expands at most ~32,768:1, deflate ~1,032:1.
_ZSTD_FEED = 2048
_GZIP_FEED = 65536


class Writable(Protocol):
    """Where an archive is written: ``write(bytes)``."""

    def write(self, data: bytes, /) -> Any:
        """Write all of ``data``."""


class _Compressing:
    """A writer that compresses into ``sink``; ``close()`` ends the stream (the sink stays open)."""

    def __init__(self, kind: str, sink: Writable) -> None:
        self._sink = sink
        self._gzip: gzip.GzipFile | None = None
        self._zstd: Any = None
        if kind == "zstd":
            import zstandard

            params = zstandard.ZstdCompressor(
                level=ZSTD_LEVEL, write_checksum=False, write_content_size=False, threads=0
            )
            self._zstd = params.compressobj()
        elif kind == "gzip":
            self._gzip = gzip.GzipFile(
                filename="",
                mode="wb",
                compresslevel=GZIP_LEVEL,
                fileobj=sink,  # type: ignore[call-overload]
                mtime=0,
            )

    def write(self, data: bytes) -> None:
        if self._zstd is not None:
            out = self._zstd.compress(data)
            if out:
                self._sink.write(out)
        elif self._gzip is not None:
            self._gzip.write(data)
        else:
            self._sink.write(data)

    def close(self) -> None:
        if self._zstd is not None:
            self._sink.write(self._zstd.flush())
            self._zstd = None
        elif self._gzip is not None:
            self._gzip.close()
            self._gzip = None


def compressor(kind: str, sink: Writable) -> _Compressing:
    """A writer compressing with ``kind`` (one of :data:`COMPRESSIONS`) into ``sink``."""
    if kind not in COMPRESSIONS:
        raise ConfigError(f"unknown compression {kind!r} (choose from {', '.join(COMPRESSIONS)})")
    if kind == "zstd":
        try:
            import zstandard  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "zstd compression needs the zstandard package: pip install 'treeframe[compression]'"
            ) from exc
    return _Compressing(kind, sink)


def detect(head: bytes) -> str:
    """The compression of a stream starting with ``head`` (at least 4 bytes when there are)."""
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    return "none"


class Decompressed:
    """The uncompressed bytes of an archive stream, with the caps and checks above.

    ``read(n)`` follows :class:`~treeframe.snapshot.tar.Readable`. ``consumed``
    counts the input bytes read (for progress), ``produced`` the output.
    """

    def __init__(
        self,
        source: BinaryIO | Readable,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_ratio: int = DEFAULT_MAX_RATIO,
    ) -> None:
        self._source = source
        self.max_bytes = max_bytes
        self.max_ratio = max_ratio
        self.consumed = 0
        self.produced = 0
        self._buffer = bytearray()
        self._input = b""
        self._at = 0
        self._input_done = False
        head = self._pull(4)
        self.compression = detect(head)
        self._pending = head
        self._decoder: Any = None
        if self.compression == "zstd":
            try:
                import zstandard
            except ImportError as exc:
                raise ConfigError(
                    "this archive is zstd-compressed; reading it needs the zstandard package:"
                    " pip install 'treeframe[compression]'"
                ) from exc
            self._decoder = zstandard.ZstdDecompressor().decompressobj()
            self._feed_size = _ZSTD_FEED
        elif self.compression == "gzip":
            self._decoder = zlib.decompressobj(wbits=31)
            self._feed_size = _GZIP_FEED

    def limit(self, max_bytes: int) -> None:
        """Tighten the absolute cap (never loosen it): e.g. to what the manifest declares."""
        self.max_bytes = min(self.max_bytes, max_bytes)
        if self.produced > self.max_bytes:
            self._over()

    def _pull(self, n: int) -> bytes:
        data = self._source.read(n)
        self.consumed += len(data)
        return data

    def _over(self) -> None:
        raise SnapshotInvalid(
            f"the archive decompresses past {self.max_bytes} bytes (a decompression bomb,"
            " or more than its manifest declares)"
        )

    def _produce(self, data: bytes) -> bytes:
        self.produced += len(data)
        if self.produced > self.max_bytes:
            self._over()
        if (
            self.compression != "none"
            and self.produced > RATIO_GRACE
            and self.produced > self.max_ratio * max(self.consumed, 1)
        ):
            raise SnapshotInvalid(
                f"the archive expands more than {self.max_ratio}:1 (a decompression bomb);"
                " raise the ratio limit if it is genuine"
            )
        return data

    def read(self, n: int = -1, /) -> bytes:
        """Up to ``n`` uncompressed bytes; ``b""`` at the end of a complete stream."""
        if n < 0:
            n = _READ
        if self.compression == "none":
            if self._pending:
                data, self._pending = self._pending[:n], self._pending[n:]
                if len(data) < n:
                    data += self._pull(n - len(data))
            else:
                data = self._pull(n)
            return self._produce(data)
        while len(self._buffer) < n and not self._input_done:
            self._feed()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _feed(self) -> None:
        """Decompress one small slice of input, so one call's output stays bounded."""
        if self._at >= len(self._input):
            self._input = self._pending or self._pull(_READ)
            self._pending = b""
            self._at = 0
        if self._decoder.eof:
            if self._input[self._at :] or self._pull(1):
                raise SnapshotInvalid(f"trailing bytes after the {self.compression} stream")
            self._input_done = True
            return
        if not self._input:
            raise SnapshotInvalid(f"the {self.compression} stream is truncated")
        piece = self._input[self._at : self._at + self._feed_size]
        self._at += len(piece)
        try:
            out = self._decoder.decompress(piece)
        except Exception as exc:  # zlib.error, zstandard.ZstdError: no common base
            raise SnapshotInvalid(f"the {self.compression} stream is damaged: {exc}") from exc
        self._buffer += self._produce(out)
        if self._decoder.eof and self._decoder.unused_data:
            raise SnapshotInvalid(f"trailing bytes after the {self.compression} stream")
