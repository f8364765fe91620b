"""The stored-object format shared by the external blob stores.

An object is ``MAGIC``, one byte *n*, *n* ASCII bytes naming the codec, then
the packed content. The header is read before anything is unpacked, so an
object written with any codec is readable whatever the store's default; an
object without the magic (or naming an unknown codec) is StoreCorrupt.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from treeframe.errors import ConfigError, StoreCorrupt
from treeframe.storage.codecs import Compression, codec

__all__ = ["MAGIC", "header", "pack", "unpack", "unpack_stream"]

MAGIC = b"TFBLOB\x01"


def header(packer: Compression) -> bytes:
    """The header recording ``packer``."""
    name = packer.name.encode("ascii")
    return MAGIC + bytes([len(name)]) + name


def pack(packer: Compression, data: bytes) -> bytes:
    """A whole object: header plus ``data`` packed."""
    return header(packer) + packer.compress(data)


def _codec_of(head: bytes, where: str) -> tuple[Compression, int]:
    """The codec an object's first bytes name and where its packed bytes start."""
    size = len(MAGIC)
    if len(head) <= size or not head.startswith(MAGIC) or len(head) < size + 1 + head[size]:
        raise StoreCorrupt(f"blob {where} has no treeframe object header: damaged or foreign")
    end = size + 1 + head[size]
    name = head[size + 1 : end].decode("ascii", "replace")
    try:
        return codec(name), end
    except ConfigError as exc:
        raise StoreCorrupt(f"blob {where} names an unknown codec {name!r}") from exc


def _header_read(head: bytes) -> bool:
    """True once ``head`` holds a whole header, or enough to know it is not one."""
    size = len(MAGIC)
    if not MAGIC.startswith(head[:size]) or len(head) >= size + 256:
        return True
    return len(head) > size and len(head) >= size + 1 + head[size]


def unpack(body: bytes, where: str) -> bytes:
    """The content of a whole object; StoreCorrupt when its header or packing is damaged."""
    packer, start = _codec_of(body[: len(MAGIC) + 256], where)
    return packer.decompress(body[start:])


def unpack_stream(chunks: Iterable[bytes], where: str) -> Iterator[bytes]:
    """The content of an object read as chunks, unpacked incrementally."""
    it = iter(chunks)
    head = b""
    for chunk in it:
        head += chunk
        if _header_read(head):
            break
    packer, start = _codec_of(head, where)

    def body() -> Iterator[bytes]:
        yield head[start:]
        yield from it

    yield from packer.decompress_stream(body())
