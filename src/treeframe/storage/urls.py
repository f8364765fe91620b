"""Store URL spelling shared by the registry and the backends (no backend imports).

A backend names itself by URL (``store.url``) and the registry parses URLs;
keeping the encoding here lets both import it without a backend reaching up
into the registry.
"""

from __future__ import annotations

import os
from urllib.parse import quote

__all__ = ["lmdb_url", "sqlite_url"]

# Characters left as they are in a URL path; everything else is %XX-encoded.
_PATH_SAFE = "/:@+=,!$&'()*;~"


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The ``sqlite://`` URL of a store file (its absolute path, percent-encoded)."""
    raw = os.fsencode(os.path.abspath(os.fspath(path)))
    return f"sqlite://{quote(raw, safe=_PATH_SAFE)}"


def lmdb_url(path: str | os.PathLike[str]) -> str:
    """The ``lmdb://`` URL of a store directory (its absolute path, percent-encoded)."""
    raw = os.fsencode(os.path.abspath(os.fspath(path)))
    return f"lmdb://{quote(raw, safe=_PATH_SAFE)}"
