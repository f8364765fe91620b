"""The LMDB backend: :class:`LmdbStore` (layout and locking in :mod:`.store` and :mod:`.env`).

The package imports the ``lmdb`` binding, so it is imported only when a URL
names the backend (see :mod:`treeframe.storage.registry`).
"""

from treeframe.storage.lmdb.store import DEFAULT_MAP_SIZE, SCHEMA_VERSION, LmdbStore

__all__ = ["DEFAULT_MAP_SIZE", "SCHEMA_VERSION", "LmdbStore"]
