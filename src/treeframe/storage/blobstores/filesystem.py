"""FileBlobStore: content objects as files under one directory.

Layout: ``<root>/<workspace hex>/<aa>/<bb>/<hash>`` (``aa``, ``bb``: the
first two byte pairs of the content hash), so no directory holds more than
a few thousand entries even with hundreds of millions of blobs.

Durability: an object is written to a temp file in its final directory,
fsynced, renamed over its final name (atomic on POSIX) and the directory
fsynced, so after a crash a name either holds a whole object or does not
exist; temp files (``.tmp-*``) are never read and a later put replaces them.
Verification: every read unpacks the object with the codec its header
names and checks the content hash; a damaged object raises IntegrityError or
StoreCorrupt and is never served.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from treeframe.errors import BackendUnavailable, InvalidId, StorageError
from treeframe.ids import ContentHash, WorkspaceId, parse_hex_id
from treeframe.storage.blobs import CHUNK, chunked, verified_digest, verifying
from treeframe.storage.blobstores.objects import header, unpack_stream
from treeframe.storage.codecs import Compression, codec

__all__ = ["FileBlobStore"]

_TMP = ".tmp-"
# The medium is out of reach (I/O error, full, read-only), not the store broken: may come back.
_UNAVAILABLE = frozenset({errno.EIO, errno.ENOSPC, errno.EROFS})


def _is_hash(name: str) -> bool:
    try:
        parse_hex_id(name, "content hash")
    except InvalidId:  # a stray file is simply not a blob
        return False
    return True


def _valid(ws: WorkspaceId, digest: str) -> bool:
    """Whether (ws, digest) could be stored (a malformed key never is)."""
    return _is_hash(digest) and _is_hash(ws)


class FileBlobStore:
    """Content bytes as self-describing, fsynced files under ``root``."""

    def __init__(
        self, root: str | os.PathLike[str], codec_name: str | Compression = "none"
    ) -> None:
        """Use (creating on first write) the directory ``root``; new objects packed with the codec."""
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.codec = codec(codec_name) if isinstance(codec_name, str) else codec_name

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r}, {self.codec.name!r})"

    def _path(self, ws: WorkspaceId, digest: str) -> Path:
        return self.root / ws / digest[:2] / digest[2:4] / digest

    def _error(self, what: str, exc: OSError) -> StorageError:
        if isinstance(exc, (PermissionError, FileNotFoundError)) or exc.errno in _UNAVAILABLE:
            return BackendUnavailable(f"blob store {self.root}: cannot {what}: {exc}")
        return StorageError(f"blob store {self.root}: cannot {what}: {exc}")

    @contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """Re-raise an OSError of the medium as a treeframe error."""
        try:
            yield
        except OSError as exc:
            raise self._error(what, exc) from exc

    # -- writes ------------------------------------------------------------
    def put(self, ws: WorkspaceId, digest: ContentHash, data: bytes) -> bool:
        """Verify, then write the object once (temp file, fsync, rename, fsync dir)."""
        verified_digest(digest, data)
        return self._store(ws, digest, chunked(data))

    def put_stream(self, ws: WorkspaceId, digest: ContentHash, chunks: Iterable[bytes]) -> bool:
        """Write while hashing; the object is renamed into place only if the hash matched."""
        parse_hex_id(digest, "content hash")
        return self._store(ws, digest, verifying(digest, chunks, action="refusing to store it"))

    def _store(self, ws: WorkspaceId, digest: ContentHash, chunks: Iterable[bytes]) -> bool:
        parse_hex_id(ws, "workspace ID")
        final = self._path(ws, digest)
        if final.exists():
            return False
        created = self._make_dirs(final.parent)
        tmp = final.parent / f"{_TMP}{uuid.uuid4().hex}"
        what = f"write blob {digest}"
        try:
            with self._io(what):
                out = open(tmp, "xb")  # noqa: SIM115 - closed below, errors mapped apart
            with out:
                with self._io(what):
                    out.write(header(self.codec))
                # The source's own errors (and a hash mismatch) propagate as they are.
                for packed in self.codec.compress_stream(chunks):
                    with self._io(what):
                        out.write(packed)
                with self._io(what):
                    out.flush()
                    os.fsync(out.fileno())
            with self._io(what):
                os.replace(tmp, final)
                for directory in (final.parent, *created):
                    self._fsync_dir(directory)
        finally:
            with suppress(OSError):
                tmp.unlink()
        return True

    def _make_dirs(self, directory: Path) -> list[Path]:
        """Create ``directory`` and missing parents; the parents whose entries changed."""
        missing: list[Path] = []
        probe = directory
        while not probe.exists() and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error(f"create {directory}", exc) from exc
        return [p.parent for p in missing]

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reads -------------------------------------------------------------
    def probe(self, ws: WorkspaceId) -> None:
        """List one entry of the root directory: it must exist and be readable (nothing is written).

        A root that does not exist fails too: the directory that holds the
        contents is gone (or was never created), and every read of an
        external content would fail.
        """
        del ws  # the root answers for every workspace
        try:
            with os.scandir(self.root) as entries:
                next(entries, None)
        except OSError as exc:
            raise self._error("list its directory", exc) from exc

    def _open(self, ws: WorkspaceId, digest: ContentHash) -> BinaryIO | None:
        if not _valid(ws, digest):
            return None
        try:
            return open(self._path(ws, digest), "rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(f"read blob {digest}", exc) from exc

    def read_stream(self, ws: WorkspaceId, digest: ContentHash) -> Iterator[bytes] | None:
        """The object's content in chunks, unpacked and hashed as it goes; None if absent."""
        handle = self._open(ws, digest)
        if handle is None:
            return None
        return self._stream(handle, digest)

    def _stream(self, handle: BinaryIO, digest: ContentHash) -> Iterator[bytes]:
        where = f"{digest} in {self.root}"
        with handle:

            def raw() -> Iterator[bytes]:
                try:
                    while chunk := handle.read(CHUNK):
                        yield chunk
                except OSError as exc:
                    raise self._error(f"read blob {digest}", exc) from exc

            unpacked = unpack_stream(raw(), where)
            yield from verifying(digest, unpacked, action=f"stored blob {where} is damaged")

    def get_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> dict[ContentHash, bytes]:
        """Each present blob, unpacked and verified."""
        found: dict[ContentHash, bytes] = {}
        for digest in dict.fromkeys(digests):
            stream = self.read_stream(ws, digest)
            if stream is not None:
                found[digest] = b"".join(stream)
        return found

    def exists_many(self, ws: WorkspaceId, digests: Sequence[ContentHash]) -> set[ContentHash]:
        """Which objects exist (a stat each; nothing read)."""
        present: set[ContentHash] = set()
        for digest in digests:
            if _valid(ws, digest) and self._path(ws, digest).is_file():
                present.add(digest)
        return present

    def iter_all(self, ws: WorkspaceId) -> Iterator[tuple[ContentHash, bytes]]:
        """Every object of ``ws`` in hash order (the fan-out directories sort the same way)."""
        base = self.root / ws
        for first in _sorted_dirs(base):
            for second in _sorted_dirs(first):
                for name in sorted(os.listdir(second)):
                    if _is_hash(name):
                        digest = ContentHash(name)
                        stream = self.read_stream(ws, digest)
                        if stream is not None:
                            yield digest, b"".join(stream)


def _sorted_dirs(directory: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [directory / n for n in names if not n.startswith(".")]
