"""The packaged conformance suite, run against every storage backend (memory is the reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services import REDIS_URL
from treeframe.storage.base import StorageBackend
from treeframe.storage.blobstores.filesystem import FileBlobStore
from treeframe.storage.cache import cached_store
from treeframe.storage.cache.local import LocalStamps
from treeframe.storage.cache.lru import ByteLRU
from treeframe.storage.cache.store import CachedStore
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.codecs import codec
from treeframe.storage.memory import MemoryStore
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.conformance import StorageBackendConformance, StoreFactory

BACKENDS = ["memory", "sqlite", "sqlite-file-zstd", "cached-memory", "cached-sqlite-redis"]


def _memory(_directory: Path) -> StorageBackend:
    return MemoryStore()


def _sqlite(directory: Path) -> StorageBackend:
    return SqliteStore(directory / "store.db")


def _sqlite_external(directory: Path) -> StorageBackend:
    """SQLite records, zstd-packed contents, and everything above 16 bytes in a FileBlobStore."""
    policy = ContentPolicy(
        codec=codec("zstd"), external=FileBlobStore(directory / "blobs", "zstd"), inline_max=16
    )
    return SqliteStore(directory / "store.db", content=policy)


def _cached_memory(_directory: Path) -> StorageBackend:
    """Every cache path in one process: records, small contents, stamped heads (tiny LRUs evict)."""
    store: StorageBackend = CachedStore(
        MemoryStore(),
        records=ByteLRU(64 << 10),
        stamps=LocalStamps(),
        mutable=ByteLRU(16 << 10),
    )
    return store


def _cached_sqlite_redis(prefix: str) -> StoreFactory:
    """SQLite behind the Redis tier and stamps, under keys of this test only."""

    def open_cached(directory: Path) -> StorageBackend:
        return cached_store(  # type: ignore[no-any-return]
            SqliteStore(directory / "store.db"), REDIS_URL, memory_bytes=64 << 10, prefix=prefix
        )

    return open_cached


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "cached-sqlite-redis":
        return _cached_sqlite_redis(request.getfixturevalue("redis_prefix"))
    return {
        "memory": _memory,
        "sqlite": _sqlite,
        "sqlite-file-zstd": _sqlite_external,
        "cached-memory": _cached_memory,
    }[request.param]


class TestStore(StorageBackendConformance):
    """Every seam over memory, SQLite, and SQLite with a zstd FileBlobStore."""
