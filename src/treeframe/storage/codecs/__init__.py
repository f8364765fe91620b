"""Compression codecs behind the :class:`Compression` seam, one module per codec.

:func:`codec` looks one up by its stored name and imports its module only
then, so a codec whose library is not installed fails that name alone with
``backend_unavailable``, never the import of treeframe. Codec instances are
stateless and cached.
"""

from __future__ import annotations

import functools
import importlib

from treeframe.errors import BackendUnavailable, ConfigError
from treeframe.storage.codecs.base import Compression

__all__ = ["CODEC_NAMES", "Compression", "codec"]

CODEC_NAMES = ("none", "zstd", "gzip", "lz4", "brotli")
"""Every codec name a store may record, in documentation order."""

# name -> (module, class, the distribution that provides its library)
_CODECS = {
    "none": ("none", "NoCompression", ""),
    "zstd": ("zstd", "ZstdCompression", "zstandard"),
    "gzip": ("gzip", "GzipCompression", ""),
    "lz4": ("lz4", "Lz4Compression", "lz4"),
    "brotli": ("brotli", "BrotliCompression", "brotli"),
}


@functools.cache
def codec(name: str) -> Compression:
    """The codec stored under ``name``; ConfigError for an unknown name.

    BackendUnavailable when the codec's library is not installed.
    """
    try:
        module_name, class_name, dist = _CODECS[name]
    except KeyError:
        raise ConfigError(
            f"unknown compression {name!r} (known: {', '.join(CODEC_NAMES)})"
        ) from None
    try:
        module = importlib.import_module(f"treeframe.storage.codecs.{module_name}")
    except ImportError as exc:
        raise BackendUnavailable(
            f"compression {name!r} needs the {dist!r} package, which is not installed ({exc})"
        ) from exc
    made: Compression = getattr(module, class_name)()
    return made
