"""Compression codecs behind the :class:`Compression` seam, one module per codec.

:func:`codec` looks one up by its stored name; a codec whose library is not
installed fails that name alone with ``backend_unavailable``.
"""

from __future__ import annotations

from treeframe.errors import ConfigError
from treeframe.storage.codecs.base import Compression
from treeframe.storage.codecs.none import NoCompression

__all__ = ["CODEC_NAMES", "Compression", "codec"]

CODEC_NAMES = ("none",)
"""Every codec name a store may record, in documentation order."""


def codec(name: str) -> Compression:
    """The codec stored under ``name``; ConfigError for an unknown name."""
    if name == "none":
        return NoCompression()
    raise ConfigError(f"unknown compression {name!r} (known: {', '.join(CODEC_NAMES)})")
