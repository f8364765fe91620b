"""The packaged conformance suite over LmdbStore (a small initial map keeps it fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from treeframe.storage.base import StorageBackend
from treeframe.storage.lmdb import LmdbStore
from treeframe.testing.conformance import StorageBackendConformance, StoreFactory


@pytest.fixture
def store_factory() -> StoreFactory:
    def build(directory: Path) -> StorageBackend:
        return LmdbStore(directory / "store", map_size=8 << 20)

    return build


class TestLmdbStore(StorageBackendConformance):
    """Every seam over LMDB."""
