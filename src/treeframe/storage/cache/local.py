"""Version stamps kept in this process: right when it is the only writer of its store."""

from __future__ import annotations

import itertools
import threading

from treeframe.ids import WorkspaceId

__all__ = ["LocalStamps"]


class LocalStamps:
    """A counter per workspace; one process's writes only (tests, an embedded single-writer store)."""

    def __init__(self) -> None:
        self._stamps: dict[WorkspaceId, str] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def current(self, ws: WorkspaceId) -> str | None:
        """The workspace's stamp (``"0"`` before its first write here)."""
        return self._stamps.get(ws, "0")

    def bump(self, ws: WorkspaceId) -> bool:
        """A new stamp (one counter for all workspaces, so none repeats)."""
        with self._lock:
            self._stamps[ws] = str(next(self._counter))
        return True

    def close(self) -> None:
        """Nothing to release."""
