"""The packaged conformance suite, run against every storage backend (memory is the reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from treeframe.storage.base import StorageBackend
from treeframe.storage.memory import MemoryStore
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.conformance import StorageBackendConformance, StoreFactory

BACKENDS = ["memory", "sqlite"]


def _memory(_directory: Path) -> StorageBackend:
    return MemoryStore()


def _sqlite(directory: Path) -> StorageBackend:
    return SqliteStore(directory / "store.db")


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    return {"memory": _memory, "sqlite": _sqlite}[request.param]


class TestStore(StorageBackendConformance):
    """Every seam over memory and SQLite."""
