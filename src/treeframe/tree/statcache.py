"""Stat cache: per-directory file stats -> content hash, so rescans never re-read unchanged files.

Like git's index, a file is trusted without reading it only when its
``lstat`` still shows the same size, mtime, ctime, inode and mode as when it
was hashed, *and* its mtime is not "racy": a file modified within
:data:`RACY_MARGIN_NS` of the moment its stat was taken could be modified
again without its timestamp moving (coarse kernel clock ticks, 1-2 s
timestamps on FAT/HFS+, clock skew on network filesystems), so such entries
are re-hashed until a later scan sees them safely in the past.

The cache is machine-local (inode and device numbers mean nothing elsewhere),
never hashed and never exported. Each directory's entries are stored as one
blob (``StorageBackend.put_stat_dirs``), format version 1, all integers
big-endian::

    header   magic "TFSC" | u8 version=1 | 3 zero bytes | i64 written_ns
             | 32 bytes dir NodeID (raw; zeros = unknown) | u32 count
    names    u32 byte length | the count names, UTF-8, joined by NUL
    entries  count x (u64 size | i64 mtime_ns | i64 ctime_ns | u64 ino
             | u64 dev | u32 mode | 32 bytes content hash), in name order

``written_ns`` is the wall-clock time (ns) the scan that wrote the blob
started, i.e. no later than any ``lstat`` it recorded: the racy check's
reference point. ``dir NodeID`` is the directory's NodeID computed from
exactly these entries; when it equals the directory's NodeID in the previous
tree, the cached hashes are known to be the ones that tree was built from, so
the scanner may reuse that tree's file NodeIDs without rehashing anything.
A blob that does not parse is treated as absent: the cache can only cost
a re-read, never a wrong hash.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "RACY_MARGIN_NS",
    "StatDir",
    "StatEntry",
    "decode_stat_dir",
    "encode_stat_dir",
    "is_racy",
]

RACY_MARGIN_NS = 2_000_000_000
"""Entries whose mtime is this close to (or after) the cache write time are re-hashed."""

_MAGIC = b"TFSC"
_VERSION = 1
_HEADER = struct.Struct(">4sB3xq32sI")
_LEN = struct.Struct(">I")
_ENTRY = struct.Struct(">QqqQQI32s")
_NO_DIR = bytes(32)


StatEntry = tuple[int, int, int, int, int, int, bytes]
"""(size, mtime_ns, ctime_ns, ino, dev, mode, raw content digest) of a file when it was hashed.

A plain tuple rather than a NamedTuple: a rescan decodes one per file, and
building them in C (``struct.iter_unpack``) is several times cheaper.
"""


@dataclass(frozen=True, slots=True)
class StatDir:
    """One directory's decoded stat-cache blob."""

    written_ns: int
    dir_id: bytes | None
    entries: dict[str, StatEntry]


def encode_stat_dir(
    written_ns: int, dir_id: bytes | None, entries: Sequence[tuple[str, StatEntry]]
) -> bytes:
    """Encode a directory's entries (any order; stored sorted by name)."""
    ordered = sorted(entries, key=lambda item: item[0])
    names = "\0".join(name for name, _ in ordered).encode("utf-8")
    parts = [
        _HEADER.pack(_MAGIC, _VERSION, written_ns, dir_id or _NO_DIR, len(ordered)),
        _LEN.pack(len(names)),
        names,
    ]
    pack = _ENTRY.pack
    parts.extend(pack(*entry) for _, entry in ordered)
    return b"".join(parts)


def decode_stat_dir(data: bytes | None) -> StatDir | None:
    """Decode a blob from :func:`encode_stat_dir`; None when absent or malformed."""
    if not data or len(data) < _HEADER.size + _LEN.size:
        return None
    magic, version, written_ns, dir_id, count = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        return None
    offset = _HEADER.size
    (names_len,) = _LEN.unpack_from(data, offset)
    offset += _LEN.size
    body = offset + names_len
    if len(data) != body + count * _ENTRY.size:
        return None
    try:
        names = data[offset:body].decode("utf-8").split("\0") if count else []
    except UnicodeDecodeError:
        return None
    if len(names) != count:
        return None
    entries: dict[str, StatEntry] = dict(zip(names, _ENTRY.iter_unpack(data[body:]), strict=True))
    return StatDir(written_ns, None if dir_id == _NO_DIR else dir_id, entries)


def is_racy(mtime_ns: int, written_ns: int) -> bool:
    """Whether a file with this mtime might change later without its mtime moving."""
    return mtime_ns >= written_ns - RACY_MARGIN_NS
