"""The packaged conformance suite, run against every storage backend (memory is the reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from treeframe.storage.base import StorageBackend
from treeframe.storage.blobstores.filesystem import FileBlobStore
from treeframe.storage.catalog import ContentPolicy
from treeframe.storage.codecs import codec
from treeframe.storage.memory import MemoryStore
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.conformance import StorageBackendConformance, StoreFactory

BACKENDS = ["memory", "sqlite", "sqlite-file-zstd"]


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


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    return {"memory": _memory, "sqlite": _sqlite, "sqlite-file-zstd": _sqlite_external}[
        request.param
    ]


class TestStore(StorageBackendConformance):
    """Every seam over memory, SQLite, and SQLite with a zstd FileBlobStore."""
