"""Storage backends behind one Protocol; open one with :func:`open_store`."""

from treeframe.storage.base import ANY_HEAD, Damaged, NodeSetState, RootEntry, StorageBackend
from treeframe.storage.registry import open_store

__all__ = ["ANY_HEAD", "Damaged", "NodeSetState", "RootEntry", "StorageBackend", "open_store"]
