"""Canonical byte encoding: the one place where bytes that get hashed are built.

Every hashed structure is ``field(tag) || field...``; the primitives are

* ``u8(n)``    one byte,
* ``u32(n)``   four bytes big-endian (lengths and counts),
* ``u64(n)``   eight bytes big-endian,
* ``blob(b)``  ``u32(len(b)) || b``,
* ``text(s)``  ``blob(utf8(s))``.

No floats, no timestamps, no absolute paths ever pass through here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

__all__ = ["blob", "count", "tagged", "text", "u8", "u32", "u64"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def u8(n: int) -> bytes:
    """Encode an integer in ``0..255`` as one byte."""
    return bytes((n,))


def u32(n: int) -> bytes:
    """Encode an unsigned integer as four big-endian bytes."""
    return _U32.pack(n)


def u64(n: int) -> bytes:
    """Encode an unsigned integer as eight big-endian bytes."""
    return _U64.pack(n)


def blob(data: bytes) -> bytes:
    """Encode a byte string with its u32 length prefix."""
    return _U32.pack(len(data)) + data


def text(value: str) -> bytes:
    """Encode a string as the length-prefixed bytes of its UTF-8 form."""
    return blob(value.encode("utf-8"))


def count(items: Iterable[bytes]) -> bytes:
    """Encode a list of already-encoded items, prefixed with their u32 count."""
    parts = list(items)
    return _U32.pack(len(parts)) + b"".join(parts)


def tagged(tag: bytes, *fields: bytes) -> bytes:
    """Prefix already-encoded fields with the structure's length-prefixed domain tag."""
    return blob(tag) + b"".join(fields)
