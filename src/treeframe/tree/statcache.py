"""Stat cache: per-directory file stats -> content hash, so rescans never re-read unchanged files.

Like git's index, a file is trusted without reading it only when its
``lstat`` still shows the same size, mtime, ctime, inode and mode as when it
was hashed, *and* its mtime is not "racy": a file modified within
:data:`RACY_MARGIN_NS` of the moment its stat was taken could be modified
again without its timestamp moving (coarse kernel clock ticks, 1-2 s
timestamps on FAT/HFS+, clock skew on network filesystems), so such entries
are re-hashed until a later scan sees them safely in the past.

The cache is machine-local (inode and device numbers mean nothing elsewhere),
never hashed, never exported and never written to the shared store: the
scanner reads and writes it through the :class:`StatCache` seam, kept by a
workspace in a file of its own beside the tree
(:class:`~treeframe.tree.statcache_sqlite.SqliteStatCache`) or in memory
(:class:`MemoryStatCache`). Each directory's entries are one blob, keyed by
the directory's workspace-relative path, format version 2, all integers
big-endian::

    header   magic "TFSC" | u8 version=2 | 3 zero bytes | i64 written_ns
             | 32 bytes dir NodeID (raw; zeros = unknown) | u32 count
    names    u32 byte length | the count names, UTF-8, joined by NUL
    entries  count x (u64 size | i64 mtime_ns | i64 ctime_ns | u64 ino
             | u64 dev | u32 mode | 32 bytes content hash), in name order
    dirs     u32 n | u32 byte length | n subdirectory names joined by NUL
             | n x 32 bytes NodeID (raw), in name order
    links    the same for the symlinks
    rules    32 bytes: the fingerprint of the ignore rules in force (zeros: none)

``written_ns`` is the wall-clock time (ns) the scan that wrote the blob
started, i.e. no later than any ``lstat`` it recorded: the racy check's
reference point. ``dir NodeID`` is the directory's NodeID computed from
exactly these entries, subdirectories and symlinks; when it equals the
directory's NodeID in the previous tree, the cached hashes are known to be
the ones that tree was built from, so the scanner may reuse that tree's file
NodeIDs without rehashing anything, and the ``dirs`` and ``links`` sections
are that tree's children of those kinds: the scanner descends into an
unchanged directory without reading its old record from the store. ``rules``
is :attr:`~treeframe.tree.ignore.IgnoreRules.fingerprint` of the directory's
ignore rules when the blob was written: while it is unchanged, every name the
blob lists (with its kind) was not ignored then and is not now, so the scanner
skips the ignore check for it. Version 1
(no ``dirs`` and ``links`` sections) is still read; the scanner rewrites such
a blob as version 2.
A blob that does not parse is treated as absent: the cache can only cost
a re-read, never a wrong hash.

The cache knows files, not stores: an entry says which content a file with
that stat had, true whichever store the workspace points at, and the scanner
trusts a blob's ``dir NodeID`` only when it equals the directory's NodeID in
the *store's* previous tree, whose records that store therefore holds. So a
cache filled while scanning into one store never makes a scan into another
skip a record that store lacks; at worst its entries save re-reading.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "RACY_MARGIN_NS",
    "MemoryStatCache",
    "StatCache",
    "StatCacheError",
    "StatDir",
    "StatEntry",
    "decode_stat_dir",
    "encode_stat_dir",
    "is_racy",
]

RACY_MARGIN_NS = 2_000_000_000
"""Entries whose mtime is this close to (or after) the cache write time are re-hashed."""

_MAGIC = b"TFSC"
_VERSION = 2
_VERSIONS = (1, 2)
_HEADER = struct.Struct(">4sB3xq32sI")
_LEN = struct.Struct(">I")
_PAIR = struct.Struct(">II")
_ENTRY = struct.Struct(">QqqQQI32s")
_NO_DIR = bytes(32)
_NAME = operator.itemgetter(0)


StatEntry = tuple[int, int, int, int, int, int, bytes]
"""(size, mtime_ns, ctime_ns, ino, dev, mode, raw content digest) of a file when it was hashed.

A plain tuple rather than a NamedTuple: a rescan decodes one per file, and
building them in C (``struct.iter_unpack``) is several times cheaper.
"""


@dataclass(frozen=True, slots=True)
class StatDir:
    """One directory's decoded stat-cache blob.

    ``dirs`` and ``links`` map the directory's subdirectories and symlinks to
    their NodeIDs (hex) when the blob was written, ``rules`` is the ignore
    rules' fingerprint then; all None in a version-1 blob.
    """

    written_ns: int
    dir_id: bytes | None
    entries: dict[str, StatEntry]
    dirs: dict[str, str] | None = None
    links: dict[str, str] | None = None
    rules: bytes | None = None


def _named_ids(items: Sequence[tuple[str, str]]) -> list[bytes]:
    ordered = sorted(items, key=_NAME)
    names = "\0".join(name for name, _ in ordered).encode("utf-8")
    raw = bytes.fromhex("".join(node_id for _, node_id in ordered))
    return [_PAIR.pack(len(ordered), len(names)), names, raw]


def encode_stat_dir(
    written_ns: int,
    dir_id: bytes | None,
    entries: Sequence[tuple[str, StatEntry]],
    dirs: Sequence[tuple[str, str]] = (),
    links: Sequence[tuple[str, str]] = (),
    rules: bytes = _NO_DIR,
) -> bytes:
    """Encode a directory's entries, subdirectories and symlinks (any order; stored by name).

    ``dirs`` and ``links`` are (name, hex NodeID) pairs; ``rules`` the 32-byte
    fingerprint of the ignore rules they were listed under.
    """
    ordered = sorted(entries, key=_NAME)
    names = "\0".join(name for name, _ in ordered).encode("utf-8")
    parts = [
        _HEADER.pack(_MAGIC, _VERSION, written_ns, dir_id or _NO_DIR, len(ordered)),
        _LEN.pack(len(names)),
        names,
    ]
    pack = _ENTRY.pack
    parts.extend(pack(*entry) for _, entry in ordered)
    parts += _named_ids(dirs)
    parts += _named_ids(links)
    parts.append(rules)
    return b"".join(parts)


def _names(data: bytes, count: int) -> list[str] | None:
    try:
        names = data.decode("utf-8").split("\0") if count else []
    except UnicodeDecodeError:
        return None
    return names if len(names) == count else None


def _decode_named_ids(data: bytes, offset: int) -> tuple[dict[str, str], int] | None:
    """A ``dirs`` or ``links`` section at ``offset``: the mapping and the offset after it."""
    if len(data) < offset + _PAIR.size:
        return None
    count, names_len = _PAIR.unpack_from(data, offset)
    offset += _PAIR.size
    end = offset + names_len + 32 * count
    if len(data) < end:
        return None
    names = _names(data[offset : offset + names_len], count)
    if names is None:
        return None
    ids = data[offset + names_len : end].hex()
    return {name: ids[64 * i : 64 * i + 64] for i, name in enumerate(names)}, end


def decode_stat_dir(data: bytes | None) -> StatDir | None:
    """Decode a blob from :func:`encode_stat_dir` (or version 1); None when absent or malformed."""
    if not data or len(data) < _HEADER.size + _LEN.size:
        return None
    magic, version, written_ns, dir_id, count = _HEADER.unpack_from(data)
    if magic != _MAGIC or version not in _VERSIONS:
        return None
    offset = _HEADER.size
    (names_len,) = _LEN.unpack_from(data, offset)
    offset += _LEN.size
    body = offset + names_len
    end = body + count * _ENTRY.size
    if len(data) < end or (version == 1 and len(data) != end):
        return None
    names = _names(data[offset:body], count)
    if names is None:
        return None
    entries: dict[str, StatEntry] = dict(
        zip(names, _ENTRY.iter_unpack(data[body:end]), strict=True)
    )
    if version == 1:
        return StatDir(written_ns, None if dir_id == _NO_DIR else dir_id, entries)
    dirs = _decode_named_ids(data, end)
    if dirs is None:
        return None
    links = _decode_named_ids(data, dirs[1])
    if links is None or links[1] + 32 != len(data):
        return None
    rules = data[links[1] :]
    known = None if dir_id == _NO_DIR else dir_id
    return StatDir(written_ns, known, entries, dirs[0], links[0], rules)


def is_racy(mtime_ns: int, written_ns: int) -> bool:
    """Whether a file with this mtime might change later without its mtime moving."""
    return mtime_ns >= written_ns - RACY_MARGIN_NS


class StatCacheError(Exception):
    """A stat cache could not be read or written.

    Never a scan failure: the scanner treats a failed read as a miss and a
    failed write as skipped, and reports the first such error as one warning.
    Internal to the scan, so it is not part of the :mod:`treeframe.errors`
    hierarchy (no caller ever sees it).
    """


class StatCache(Protocol):
    """Where a scanner keeps its per-directory stat-cache blobs (machine-local, never shared).

    The blobs are opaque here (see the module docstring for their format):
    an implementation stores bytes by directory path and need not parse them.
    Trouble of the cache's own (an unreadable, corrupt, locked or read-only
    file) is raised as :class:`StatCacheError` and nothing else, and must not
    make later calls wait again; the scan goes on without the lost part.
    """

    def get_dir(self, dir_path: str) -> bytes | None:
        """The blob last put for the directory at ``dir_path`` ("" is the root), or None."""
        ...

    def put_dirs(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Store (or replace) the blobs of several directories, as one write where possible."""
        ...

    def close(self) -> None:
        """Release what the cache holds open; called by its owner, never by the scanner."""
        ...


class MemoryStatCache:
    """A stat cache in a dict: for library callers that rescan without a directory of their own.

    It lives as long as the object does, so repeated scans in one process
    (a server rescanning a checkout) reuse it; nothing reaches the disk.
    """

    def __init__(self) -> None:
        self._dirs: dict[str, bytes] = {}

    def get_dir(self, dir_path: str) -> bytes | None:
        """The blob last put for ``dir_path``, or None."""
        return self._dirs.get(dir_path)

    def put_dirs(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Store or replace each directory's blob."""
        self._dirs.update(items)

    def close(self) -> None:
        """Nothing is held open; the entries stay for a later scan."""
