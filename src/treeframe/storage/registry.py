"""Store URLs -> backend instances: the only module that imports concrete backends.

A SQLite URL is ``sqlite://`` followed by the absolute path of the file,
percent-encoded like any URL path (``storage.urls.sqlite_url`` builds one), so a path
holding ``?``, ``#``, ``%``, a space or bytes that are not UTF-8 survives the
round trip; the query string after the first unescaped ``?`` holds options.

A backend is imported only when a URL names it, so a missing driver (a Python
built without ``sqlite3``; later a PostgreSQL or S3 client library) fails that
URL alone with ``backend_unavailable``, never the import of treeframe.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote_to_bytes

from treeframe.errors import BackendUnavailable, ConfigError
from treeframe.storage.base import StorageBackend
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.urls import lmdb_url, sqlite_url

__all__ = ["lmdb_url", "open_store", "sqlite_url"]


def open_store(
    url: str,
    *,
    create: bool = True,
    read_only: bool = False,
    migrate: bool = True,
    content: ContentPolicy | None = None,
) -> StorageBackend:
    """Open the store named by ``url``: ``memory://``, ``sqlite:///path/to/store.db``, ``lmdb:///dir``.

    SQLite takes ``?busy_timeout_ms=N`` (how long a writer waits for a lock);
    LMDB takes ``?map_size_mb=N`` (the initial memory map; it grows when
    full), ``?lock_timeout_ms=N`` (how long a writer waits for the lock) and
    ``?sync=off`` (no flush per commit: not safe against an OS crash).
    ``create=False`` refuses a store that does not exist yet (``store_not_found``)
    instead of creating it; ``read_only`` opens it for reading only, so it
    works on a read-only mount or without write permission. A writable store
    of an older schema version is migrated on open unless ``migrate=False``
    (``treeframe migrate-schema`` opens it so, to report or apply the steps).
    ``content`` says how contents are packed and where large ones go (every
    backend honours it through :class:`~treeframe.storage.catalog.CatalogBlobs`).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"store URL {url!r} has no scheme (try sqlite:///path/store.db)")
    if "#" in rest:
        raise ConfigError(f"store URL {url!r} has a '#': write it as %23 in a path")
    rest, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    if scheme == "memory":
        from treeframe.storage.memory import MemoryStore

        return MemoryStore(url)
    if scheme == "sqlite":
        try:
            from treeframe.storage.sqlite import SqliteStore
        except ImportError as exc:
            raise BackendUnavailable(
                f"the sqlite backend of {url!r} is not available: {exc} "
                "(this Python was built without the sqlite3 module)"
            ) from exc

        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"store URL {url!r} needs an absolute path: sqlite:///path/store.db")
        timeout = options.pop("busy_timeout_ms", "5000")
        if options:
            raise ConfigError(f"unknown store option(s) {sorted(options)} in {url!r}")
        if not timeout.isdigit():
            raise ConfigError(f"busy_timeout_ms must be a whole number of ms, got {timeout!r}")
        return SqliteStore(
            os.fsdecode(unquote_to_bytes(rest)),
            busy_timeout_ms=int(timeout),
            create=create,
            read_only=read_only,
            migrate=migrate,
        )
    if scheme == "lmdb":
        return _open_lmdb(
            url, rest, options, create=create, read_only=read_only, migrate=migrate, content=content
        )
    raise ConfigError(f"unknown store scheme {scheme!r} in {url!r} (known: memory, sqlite, lmdb)")


def _whole_number(url: str, options: dict[str, str], name: str, default: int, least: int) -> int:
    """An integer option of a store URL, at least ``least``; ConfigError otherwise."""
    raw = options.pop(name, None)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < least:
        raise ConfigError(f"{name} in {url!r} must be a whole number >= {least}, got {raw!r}")
    return int(raw)


def _open_lmdb(
    url: str,
    rest: str,
    options: dict[str, str],
    *,
    create: bool,
    read_only: bool,
    migrate: bool,
    content: ContentPolicy | None,
) -> StorageBackend:
    """``lmdb:///path/to/dir?map_size_mb=N&lock_timeout_ms=N&sync=on|off``: an LMDB store."""
    try:
        from treeframe.storage.lmdb import DEFAULT_MAP_SIZE, LmdbStore
    except ImportError as exc:
        raise BackendUnavailable(
            f"the lmdb backend of {url!r} is not available: {exc} "
            "(install the extra: pip install 'treeframe[lmdb]')"
        ) from exc
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(f"store URL {url!r} needs an absolute path: lmdb:///path/store-dir")
    map_mb = _whole_number(url, options, "map_size_mb", DEFAULT_MAP_SIZE >> 20, 1)
    timeout = _whole_number(url, options, "lock_timeout_ms", 5000, 0)
    sync = options.pop("sync", "on")
    if sync not in ("on", "off"):
        raise ConfigError(f"sync in {url!r} must be 'on' or 'off', got {sync!r}")
    if options:
        raise ConfigError(f"unknown store option(s) {sorted(options)} in {url!r}")
    return LmdbStore(
        os.fsdecode(unquote_to_bytes(rest)),
        map_size=map_mb << 20,
        lock_timeout_ms=timeout,
        create=create,
        read_only=read_only,
        migrate=migrate,
        content=content,
        sync=sync == "on",
    )
