"""psycopg and pool exceptions mapped onto :mod:`treeframe.errors` (nothing from psycopg escapes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg
from psycopg_pool import PoolClosed, PoolTimeout

from treeframe.errors import (
    BackendUnavailable,
    ConcurrentUpdate,
    Conflict,
    StorageError,
    StoreNotFound,
)

__all__ = ["mapped_errors", "translate"]


def translate(exc: BaseException, where: str) -> StorageError | Conflict:
    """The most specific treeframe error for a driver or pool error."""
    if isinstance(exc, PoolTimeout):
        return BackendUnavailable(f"PostgreSQL {where} is out of reach (no connection): {exc}")
    if isinstance(exc, PoolClosed):
        return StorageError(f"store {where} is closed")
    if isinstance(exc, (pg.SerializationFailure, pg.DeadlockDetected, pg.LockNotAvailable)):
        return ConcurrentUpdate(f"concurrent writers collided on {where}; retry: {exc}")
    if isinstance(exc, pg.UniqueViolation):
        return Conflict(f"a concurrent writer stored the same key first in {where}: {exc}")
    if isinstance(exc, pg.InvalidCatalogName):
        return StoreNotFound(f"PostgreSQL database {where} does not exist: {exc}")
    if isinstance(exc, pg.ReadOnlySqlTransaction):
        return StorageError(f"store {where} is read-only here: {exc}")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        text = str(exc)
        if "does not exist" in text and "database" in text:
            return StoreNotFound(f"PostgreSQL database {where} does not exist: {text}")
        return BackendUnavailable(f"PostgreSQL {where} is out of reach: {text}")
    return StorageError(f"store {where}: {exc}")


@contextmanager
def mapped_errors(where: str) -> Iterator[None]:
    """Re-raise any psycopg or pool error as a treeframe error."""
    try:
        yield
    except (psycopg.Error, PoolTimeout, PoolClosed) as exc:
        raise translate(exc, where) from exc
