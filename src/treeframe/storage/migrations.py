"""Schema versions and forward migrations: the generic runner every backend uses.

A backend lists its steps, one :class:`Migration` per schema version in
ascending order (the step of version ``n`` turns a version ``n-1`` store into a
version ``n`` one), and supplies three things: a write transaction that holds
the store's write lock, a way to read the store's version inside it, and a way
to record a step as applied inside it. :func:`migrate` then applies each
pending step in its own transaction and records it there, re-reading the
version under the lock first, so two processes opening one old store never both
apply a step and a failed step rolls back to the version before it.

An applied step is never edited: a change to the layout is a new step.
MemoryStore has no schema (nothing outlives the process), so it has no steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

from treeframe.errors import VersionNotSupported

__all__ = ["Migration", "SchemaStatus", "VersionedStore", "migrate", "pending"]

Tx = TypeVar("Tx")


@dataclass(frozen=True)
class Migration(Generic[Tx]):
    """The step that brings a store from ``version - 1`` to ``version``."""

    version: int
    name: str
    apply: Callable[[Tx], None]


@dataclass(frozen=True)
class SchemaStatus:
    """A store's schema version, the newest this code knows and the steps between."""

    current: int
    latest: int
    pending: tuple[tuple[int, str], ...]


@runtime_checkable
class VersionedStore(Protocol):
    """A backend whose layout has schema versions (SQLite; not MemoryStore)."""

    def schema_status(self) -> SchemaStatus:
        """The store's version and the steps it lacks; raises VersionNotSupported."""
        ...

    def migrate_schema(self) -> tuple[tuple[int, str], ...]:
        """Apply every pending step; the (version, name) of each one this call applied."""
        ...


def pending(
    current: int, steps: Sequence[Migration[Tx]], *, store: str
) -> tuple[Migration[Tx], ...]:
    """The steps a store at version ``current`` lacks, in order.

    Raises :class:`~treeframe.errors.VersionNotSupported` for a store newer
    than the last step or older than the version the first step upgrades.
    """
    oldest, latest = steps[0].version - 1, steps[-1].version
    supported = tuple(str(v) for v in range(oldest, latest + 1))
    if current > latest:
        raise VersionNotSupported(
            f"store {store} has schema version {current}, newer than this treeframe "
            f"supports (up to {latest}): upgrade treeframe to open it",
            supported=supported,
        )
    if current < oldest:
        raise VersionNotSupported(
            f"store {store} has schema version {current}, older than this treeframe "
            f"can upgrade (from {oldest})",
            supported=supported,
        )
    return tuple(step for step in steps if step.version > current)


def migrate(
    steps: Sequence[Migration[Tx]],
    *,
    store: str,
    transaction: Callable[[], AbstractContextManager[Tx]],
    version: Callable[[Tx], int],
    record: Callable[[Tx, Migration[Tx]], None],
) -> tuple[Migration[Tx], ...]:
    """Apply every pending step, each in its own transaction; the steps this call applied.

    The version is read again inside each transaction (under the write lock),
    so a step another process applied meanwhile is skipped, not repeated. An
    error in a step rolls its transaction back: the store keeps the version of
    the last step that committed, and the error propagates.
    """
    if [s.version for s in steps] != list(range(steps[0].version, steps[0].version + len(steps))):
        raise ValueError(f"migration versions must be consecutive: {[s.version for s in steps]}")
    applied: list[Migration[Tx]] = []
    while True:
        with transaction() as tx:
            todo = pending(version(tx), steps, store=store)
            if not todo:
                return tuple(applied)
            step = todo[0]
            step.apply(tx)
            record(tx, step)
        applied.append(step)
