"""Store URLs -> backend instances: the only module that imports concrete backends."""

from __future__ import annotations

from urllib.parse import parse_qsl

from treeframe.errors import ConfigError
from treeframe.storage.base import StorageBackend

__all__ = ["open_store"]


def open_store(url: str) -> StorageBackend:
    """Open the store named by ``url``: ``memory://`` or ``sqlite:///path/to/store.db``.

    SQLite takes ``?busy_timeout_ms=N`` (how long a writer waits for a lock).
    """
    scheme, sep, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    if not sep:
        raise ConfigError(f"store URL {url!r} has no scheme (try sqlite:///path/store.db)")
    if scheme == "memory":
        from treeframe.storage.memory import MemoryStore

        return MemoryStore(url)
    if scheme == "sqlite":
        from treeframe.storage.sqlite import SqliteStore

        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"store URL {url!r} needs an absolute path: sqlite:///path/store.db")
        timeout = options.pop("busy_timeout_ms", "5000")
        if options:
            raise ConfigError(f"unknown store option(s) {sorted(options)} in {url!r}")
        if not timeout.isdigit():
            raise ConfigError(f"busy_timeout_ms must be a whole number of ms, got {timeout!r}")
        return SqliteStore(rest, busy_timeout_ms=int(timeout))
    raise ConfigError(f"unknown store scheme {scheme!r} in {url!r} (known: memory, sqlite)")
