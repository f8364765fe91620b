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
from treeframe.storage.blobs import BlobStore
from treeframe.storage.catalog import DEFAULT_INLINE_MAX, ContentPolicy
from treeframe.storage.codecs import codec
from treeframe.storage.urls import lmdb_url, postgres_target, sqlite_url, whole_option

__all__ = ["content_policy", "lmdb_url", "open_blob_store", "open_store", "sqlite_url"]

_S3_INTS = ("multipart_threshold", "part_size", "max_attempts")
_S3_FLOATS = ("connect_timeout", "read_timeout")


def open_store(
    url: str,
    *,
    create: bool = True,
    read_only: bool = False,
    migrate: bool = True,
    content: ContentPolicy | None = None,
) -> StorageBackend:
    """Open the store named by ``url``: ``memory://``, ``sqlite://``, ``lmdb://``, ``postgresql://``.

    SQLite takes ``?busy_timeout_ms=N`` (how long a writer waits for a lock);
    LMDB takes ``?map_size_mb=N`` (the initial memory map; it grows when
    full), ``?lock_timeout_ms=N`` (how long a writer waits for the lock) and
    ``?sync=off`` (no flush per commit: not safe against an OS crash).
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

        if options or rest:
            raise ConfigError(f"memory store URL {url!r} takes no path or options")
        return MemoryStore(url, content=content)
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
        return SqliteStore(
            os.fsdecode(unquote_to_bytes(rest)),
            busy_timeout_ms=whole_option(url, "busy_timeout_ms", timeout, 0),
            create=create,
            read_only=read_only,
            migrate=migrate,
            content=content,
        )
    if scheme == "lmdb":
        return _open_lmdb(
            url, rest, options, create=create, read_only=read_only, migrate=migrate, content=content
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
        f"unknown store scheme {scheme!r} in {url!r} (known: memory, sqlite, lmdb, postgresql)"
    )


def open_blob_store(url: str, *, default_codec: str = "none") -> BlobStore:
    """The external blob store named by ``url``; its modules are imported only here.

    ``file:///abs/dir?codec=zstd`` is a :class:`~treeframe.storage.blobstores.filesystem.FileBlobStore`;
    ``s3://bucket/prefix?endpoint_url=…&region=…&codec=…`` (also
    ``multipart_threshold``, ``part_size``, ``max_attempts``: whole numbers;
    ``connect_timeout``, ``read_timeout``: seconds) an
    :class:`~treeframe.storage.blobstores.s3.S3BlobStore`. ``codec`` packs new
    objects (default ``default_codec``); objects always record their own.
    ConfigError for a bad URL or an unknown option.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "#" in rest:
        raise ConfigError(
            f"blob store URL {url!r} is not file:///path or s3://bucket/prefix (a '#' is %23)"
        )
    rest, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    packer = codec(options.pop("codec", default_codec))
    if scheme == "file":
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"blob store URL {url!r} needs an absolute path: file:///path")
        if options:
            raise ConfigError(f"unknown blob store option(s) {sorted(options)} in {url!r}")
        from treeframe.storage.blobstores.filesystem import FileBlobStore

        return FileBlobStore(os.fsdecode(unquote_to_bytes(rest)), packer)
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ConfigError(f"blob store URL {url!r} names no bucket: s3://bucket/prefix")
        numbers: dict[str, int | float] = {}
        try:
            for name in _S3_INTS:
                if name in options:
                    numbers[name] = int(options.pop(name))
            for name in _S3_FLOATS:
                if name in options:
                    numbers[name] = float(options.pop(name))
        except ValueError as exc:
            raise ConfigError(f"bad number in blob store URL {url!r}: {exc}") from None
        endpoint = options.pop("endpoint_url", None)
        region = options.pop("region", None)
        if options:
            raise ConfigError(f"unknown blob store option(s) {sorted(options)} in {url!r}")
        try:
            from treeframe.storage.blobstores.s3 import S3BlobStore
        except ImportError as exc:
            raise BackendUnavailable(
                f"the s3 blob store of {url!r} needs boto3, which is not installed ({exc})"
            ) from exc
        return S3BlobStore(
            bucket,
            unquote_to_bytes(prefix).decode("utf-8", "replace"),
            endpoint_url=endpoint,
            region=region,
            codec_name=packer,
            **numbers,  # type: ignore[arg-type]
        )
    raise ConfigError(f"unknown blob store scheme {scheme!r} in {url!r} (known: file, s3)")


def content_policy(
    blobs_url: str | None, compression: str = "none", inline_max: int = DEFAULT_INLINE_MAX
) -> ContentPolicy:
    """The content policy of the settings: codec ``compression``, external store ``blobs_url``.

    ``compression`` packs inline contents and is the external store's codec
    unless its URL names one; ``inline_max`` bytes and less stay inline.
    """
    if inline_max < 0:
        raise ConfigError(f"blob inline_max must be >= 0, got {inline_max}")
    packer = codec(compression)
    external = None if blobs_url is None else open_blob_store(blobs_url, default_codec=compression)
    return ContentPolicy(codec=packer, external=external, inline_max=inline_max)


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
    map_mb = whole_option(
        url, "map_size_mb", options.pop("map_size_mb", str(DEFAULT_MAP_SIZE >> 20)), 1
    )
    timeout = whole_option(url, "lock_timeout_ms", options.pop("lock_timeout_ms", "5000"), 0)
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
