"""Store URLs -> backend instances: the only module that imports concrete backends."""

from __future__ import annotations

from treeframe.errors import ConfigError
from treeframe.storage.base import StorageBackend

__all__ = ["open_store"]


def open_store(url: str) -> StorageBackend:
    """Open the store named by ``url``: ``memory://`` or ``sqlite:///path/to/store.db``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"store URL {url!r} has no scheme (try sqlite:///path/store.db)")
    if scheme == "memory":
        from treeframe.storage.memory import MemoryStore

        return MemoryStore(url)
    if scheme == "sqlite":
        from treeframe.storage.sqlite import SqliteStore

        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"store URL {url!r} needs an absolute path: sqlite:///path/store.db")
        return SqliteStore(rest)
    raise ConfigError(f"unknown store scheme {scheme!r} in {url!r} (known: memory, sqlite)")
