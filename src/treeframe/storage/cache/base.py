"""The two seams of the cache: a shared record tier and the version stamps of mutable state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from treeframe.ids import WorkspaceId

__all__ = ["SharedTier", "Stamps"]


class SharedTier(Protocol):
    """Immutable records by key, shared by every instance (Redis); best effort, never authoritative."""

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The values held for ``keys``; absent ones (and all of them when unreachable) are missing."""

    def put_many(self, items: Mapping[str, bytes]) -> None:
        """Keep ``items`` (silently nothing when unreachable)."""

    def delete(self, keys: Sequence[str]) -> None:
        """Forget ``keys``."""

    def close(self) -> None:
        """Release connections."""


class Stamps(Protocol):
    """One version stamp per workspace that every writer changes after each committed write.

    A cached mutable answer (a head, the current root, a path look-up) is
    tagged with the stamp read *before* the store was asked, and served only
    while the stamp is still the same: a write committed and stamped by any
    instance before a read starts is never hidden by a cache.
    """

    def current(self, ws: WorkspaceId) -> str | None:
        """The workspace's stamp now; None when it cannot be known (then nothing mutable is cached)."""

    def bump(self, ws: WorkspaceId) -> bool:
        """Give the workspace a stamp never used before; False when that failed."""

    def close(self) -> None:
        """Release connections."""
