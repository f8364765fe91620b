"""Binary key and value encodings of the LMDB store: byte order equals the logical order.

LMDB sorts keys by ``memcmp``, so every key is built from fixed-width parts
(big-endian integers, raw 32-byte IDs) and *ordered text*: UTF-8 with each NUL
written as ``00 ff`` and a ``00 00`` terminator, so a text part sorts like the
string and the part after it can follow without ambiguity. LMDB keys are at
most 511 bytes; a text longer than :data:`MAX_TEXT` bytes keeps its first
:data:`MAX_TEXT` bytes, then ``00 01`` and a BLAKE3 digest of the whole text
(unique, but such keys sort by prefix then digest), and the full text rides
in the value where it must be read back.
"""

from __future__ import annotations

import struct

from blake3 import blake3

__all__ = [
    "MAX_TEXT",
    "decode_text",
    "is_hashed",
    "raw_id",
    "text",
    "u64",
    "unpack_u64",
    "utf8",
    "wid_key",
]

MAX_TEXT = 400
"""Bytes of a text kept verbatim in a key; longer texts are cut and hashed."""

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_END = b"\x00\x00"
_HASHED = b"\x00\x01"


def wid_key(wid: int) -> bytes:
    """The 4-byte workspace prefix of every per-workspace key."""
    return _U32.pack(wid)


def u64(value: int) -> bytes:
    """A big-endian unsigned 64-bit integer (sequence numbers, counts)."""
    return _U64.pack(value)


def unpack_u64(data: bytes, offset: int = 0) -> int:
    """The big-endian integer at ``offset``."""
    value: int = _U64.unpack_from(data, offset)[0]
    return value


def utf8(value: str) -> bytes:
    """Any Python string as bytes (lone surrogates from undecodable file names survive)."""
    return value.encode("utf-8", "surrogatepass")


def text(value: str) -> bytes:
    """The ordered-text key part of ``value`` (see the module docstring)."""
    raw = utf8(value)
    if len(raw) <= MAX_TEXT:
        return raw.replace(b"\x00", b"\x00\xff") + _END
    digest = blake3(raw).digest(length=16)
    head = raw[:MAX_TEXT].replace(b"\x00", b"\x00\xff")
    return head + _HASHED + digest.replace(b"\x00", b"\x00\xff") + _END


def is_hashed(part: bytes) -> bool:
    """Whether an encoded text part was cut and hashed (its full text is in the value)."""
    return _HASHED in part.replace(b"\x00\xff", b"")


def decode_text(data: bytes, offset: int = 0) -> tuple[str | None, int]:
    """The text encoded at ``offset`` (None if it was hashed) and the offset after it."""
    end = offset
    while True:
        end = data.index(b"\x00", end)
        marker = data[end + 1]
        if marker == 0xFF:
            end += 2
            continue
        if marker == 0x00:
            body = data[offset:end].replace(b"\x00\xff", b"\x00")
            return body.decode("utf-8", "surrogatepass"), end + 2
        # A hashed tail: skip to the terminator past the digest.
        stop = end + 2
        while True:
            stop = data.index(b"\x00", stop)
            if data[stop + 1] == 0xFF:
                stop += 2
                continue
            return None, stop + 2


def raw_id(hex_id: str) -> bytes | None:
    """The 32 raw bytes of a canonical 64-hex ID, or None (such an ID is never stored).

    The hex round trip rejects uppercase and whitespace, so a lookup finds
    nothing for spellings the other backends reject.
    """
    try:
        raw = bytes.fromhex(hex_id)
    except (ValueError, TypeError):
        return None
    return raw if len(raw) == 32 and raw.hex() == hex_id else None
