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
from treeframe.storage.urls import postgres_target, sqlite_url

__all__ = ["open_store", "sqlite_url"]


def open_store(
    url: str,
    *,
    create: bool = True,
    read_only: bool = False,
    migrate: bool = True,
    content: ContentPolicy | None = None,
) -> StorageBackend:
    """Open the store named by ``url``: ``memory://``, ``sqlite:///path/to/store.db`` or ``postgresql://…``.

    SQLite takes ``?busy_timeout_ms=N`` (how long a writer waits for a lock);
    PostgreSQL (``postgresql://user@host:port/db``, or ``postgres://``) takes
    ``pool_min``, ``pool_max``, ``pool_timeout`` (seconds a call waits for a
    pooled connection), ``connect_timeout`` (seconds), ``prepare_threshold``
    and ``sslmode``.
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
    if scheme in ("postgresql", "postgres"):
        target = postgres_target(url)
        try:
            from treeframe.storage.postgres import PostgresStore
        except ImportError as exc:
            raise BackendUnavailable(
                f"the postgresql backend of {target.url!r} is not available: {exc} "
                "(install treeframe[postgres])"
            ) from exc
        return PostgresStore(
            target.conninfo,
            url=target.url,
            pool_min=target.pool_min,
            pool_max=target.pool_max,
            pool_timeout=target.pool_timeout,
            connect_timeout=target.connect_timeout,
            prepare_threshold=target.prepare_threshold,
            create=create,
            read_only=read_only,
            migrate=migrate,
            content=content,
        )
    raise ConfigError(
        f"unknown store scheme {scheme!r} in {url!r} (known: memory, sqlite, postgresql)"
    )
