"""The archive's tar layer: canonical ustar headers out, and a strict streaming reader in.

Written by hand rather than with :mod:`tarfile` for two reasons. Bytes:
every header field is fixed (mode 0644, uid/gid/mtime 0, no owner names, no
prefix, no link name) so the same entries give the same bytes on every
machine, and docs/SCHEMAS.md §15.1 can say exactly what they are. Safety:
``tarfile`` accepts links, devices, pax and GNU extensions, absolute names
and ``..``; this reader accepts only the headers the writer produces, so
every byte of an archive is constrained (a changed byte is always caught)
and a hostile archive is refused at its first foreign header, before any
of it is used. The reader never seeks: it reads a stream.

An archive ends with two zero blocks and nothing after them (no tar record
padding, no trailing bytes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from treeframe.errors import SnapshotInvalid

__all__ = [
    "BLOCK",
    "END",
    "MAX_ENTRY_SIZE",
    "Entry",
    "Readable",
    "TarReader",
    "entry_header",
    "padding",
]

BLOCK = 512
END = bytes(2 * BLOCK)
"""The end-of-archive marker: two zero blocks."""
MAX_ENTRY_SIZE = 8**11 - 1
"""The largest size the 11 octal digits of a ustar size field hold (8 GiB - 1)."""

_NAME = re.compile(
    r"manifest\.json|manifest\.sig|checksums\.b3|records/[0-9]{8}\.jsonl|contents/[0-9a-f]{64}"
)
_TYPES = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"5": "a directory",
    b"6": "a fifo",
    b"7": "a contiguous file",
    b"x": "a pax extended header",
    b"g": "a pax global header",
    b"L": "a GNU long name",
    b"K": "a GNU long link name",
    b"S": "a GNU sparse file",
    b"\x00": "an old-style (pre-POSIX) file",
}

# Fixed fields, by (offset, bytes); name (0:100), size (124:136) and chksum (148:156) vary.
_MODE = b"0000644\x00"
_ZERO7 = b"0000000\x00"
_MTIME = b"00000000000\x00"
_FIXED = (
    (100, _MODE),
    (108, _ZERO7),
    (116, _ZERO7),
    (136, _MTIME),
    (156, b"0"),
    (157, bytes(100)),
    (257, b"ustar\x00"),
    (263, b"00"),
    (265, bytes(32)),
    (297, bytes(32)),
    (329, _ZERO7),
    (337, _ZERO7),
    (345, bytes(167)),
)


def padding(size: int) -> int:
    """Zero bytes that follow ``size`` bytes of entry data to fill its last block."""
    return -size % BLOCK


def entry_header(name: str, size: int) -> bytes:
    """The canonical 512-byte ustar header of a regular-file entry ``name`` of ``size`` bytes."""
    raw = name.encode("ascii")
    if not _NAME.fullmatch(name) or len(raw) > 99:
        raise ValueError(f"not an archive entry name: {name!r}")
    if not 0 <= size <= MAX_ENTRY_SIZE:
        raise ValueError(f"entry {name} of {size} bytes does not fit a ustar header")
    header = bytearray(BLOCK)
    header[0 : len(raw)] = raw
    for offset, value in _FIXED:
        header[offset : offset + len(value)] = value
    header[124:136] = b"%011o\x00" % size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


class Readable(Protocol):
    """What the reader reads from: ``read(n)`` returning at most ``n`` bytes, ``b""`` at the end."""

    def read(self, n: int = -1, /) -> bytes:
        """Up to ``n`` bytes; ``b""`` at the end."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry: its name, data size and the offset of its header in the tar stream."""

    name: str
    size: int
    offset: int


class TarReader:
    """Entries of a canonical archive, one at a time, from a non-seekable stream.

    ``next_entry()`` returns the next entry (None at the end marker, after
    checking that nothing follows it); read its data with ``read``/``chunks``
    or leave it: the next ``next_entry()`` skips what is left. Any header the
    writer would not produce, non-zero padding, a truncated stream or bytes
    after the end marker raise SnapshotInvalid naming the offset.
    """

    def __init__(self, source: Readable) -> None:
        self._source = source
        self._offset = 0
        self._left = 0
        self._pad = 0
        self._current: Entry | None = None
        self._ended = False

    @property
    def offset(self) -> int:
        """Bytes of the tar stream consumed so far."""
        return self._offset

    def _exact(self, n: int, what: str) -> bytes:
        parts: list[bytes] = []
        want = n
        while want:
            chunk = self._source.read(want)
            if not chunk:
                raise SnapshotInvalid(
                    f"the archive is truncated at byte {self._offset + n - want} (inside {what})"
                )
            parts.append(chunk)
            want -= len(chunk)
        self._offset += n
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def next_entry(self) -> Entry | None:
        """The next entry's header, checked; None once the end marker was read."""
        if self._ended:
            return None
        while self._left:
            self.read(min(self._left, 1 << 20))
        self._finish_padding()
        start = self._offset
        header = self._exact(BLOCK, "a header")
        if header == bytes(BLOCK):
            second = self._exact(BLOCK, "the end marker")
            if second != bytes(BLOCK):
                raise SnapshotInvalid(f"a zero block at byte {start} is not followed by another")
            if self._source.read(1):
                raise SnapshotInvalid(
                    f"trailing bytes after the end of the archive at byte {self._offset}"
                )
            self._ended = True
            self._current = None
            return None
        entry = self._parse(header, start)
        self._current = entry
        self._left = entry.size
        self._pad = padding(entry.size)
        return entry

    def _parse(self, header: bytes, start: int) -> Entry:
        where = f"the header at byte {start}"
        expected = b"%06o\x00 " % (sum(header[:148]) + 8 * 32 + sum(header[156:]))
        if header[148:156] != expected:
            raise SnapshotInvalid(f"{where} has a bad checksum (not a tar header, or damaged)")
        kind = header[156:157]
        if kind != b"0":
            what = _TYPES.get(kind, f"type {kind!r}")
            raise SnapshotInvalid(f"{where} is {what}; an archive holds regular files only")
        raw_name, _, rest = header[0:100].partition(b"\x00")
        try:
            name = raw_name.decode("ascii")
        except UnicodeDecodeError:
            name = ""
        if rest.strip(b"\x00") or not _NAME.fullmatch(name) or header[345:500] != bytes(155):
            shown = raw_name.decode("utf-8", "replace")
            raise SnapshotInvalid(f"{where} names {shown!r}, which no archive entry may be called")
        for offset, value in _FIXED:
            if header[offset : offset + len(value)] != value:
                raise SnapshotInvalid(
                    f"{where} ({name}) has a non-canonical field at header offset {offset}"
                    " (mode, owner, time, link or device fields must be the writer's)"
                )
        size_field = header[124:136]
        if re.fullmatch(rb"[0-7]{11}\x00", size_field) is None:
            raise SnapshotInvalid(f"{where} ({name}) has a malformed size field")
        return Entry(name, int(size_field[:11], 8), start)

    def _finish_padding(self) -> None:
        if self._pad:
            pad = self._exact(self._pad, "padding")
            if pad.strip(b"\x00"):
                raise SnapshotInvalid(f"non-zero padding before byte {self._offset}")
            self._pad = 0

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the current entry's data (``b""`` once it is all read)."""
        n = min(n, self._left)
        if n <= 0:
            return b""
        data = self._exact(n, self._current.name if self._current else "an entry")
        self._left -= n
        return data

    def read_all(self, limit: int) -> bytes:
        """The current entry's whole data, refused (SnapshotInvalid) when it exceeds ``limit``."""
        if self._current is not None and self._current.size > limit:
            raise SnapshotInvalid(
                f"{self._current.name} is {self._current.size} bytes, over its limit of {limit}"
            )
        return self.read(self._left)

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The rest of the current entry's data in chunks of at most ``size`` bytes."""
        while self._left:
            yield self.read(size)
