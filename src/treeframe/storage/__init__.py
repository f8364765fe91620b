"""Storage backends behind focused seams; open one with :func:`open_store`."""

from treeframe.storage.base import (
    ANY_HEAD,
    Damaged,
    NodeSetState,
    RootEntry,
    StorageBackend,
    WorkspaceInfo,
)
from treeframe.storage.blobs import BlobStore
from treeframe.storage.registry import open_store

__all__ = [
    "ANY_HEAD",
    "BlobStore",
    "Damaged",
    "NodeSetState",
    "RootEntry",
    "StorageBackend",
    "WorkspaceInfo",
    "open_store",
]
