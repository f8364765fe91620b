"""The PostgreSQL backend: :class:`PostgresStore` (psycopg 3 with a ``psycopg_pool`` pool)."""

from treeframe.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
