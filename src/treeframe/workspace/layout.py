"""Where a workspace lives on disk: discovery upward from a directory, like git."""

from __future__ import annotations

from pathlib import Path

from treeframe.errors import WorkspaceNotFound
from treeframe.storage.registry import sqlite_url

__all__ = [
    "DEFAULT_WORKSPACE_NAME",
    "STATE_DIR",
    "STORE_FILE",
    "default_store_url",
    "find_root",
]

STATE_DIR = ".treeframe"
STORE_FILE = "store.db"
DEFAULT_WORKSPACE_NAME = "default"


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` that holds a ``.treeframe/`` directory."""
    here = start.absolute()
    for candidate in (here, *here.parents):
        if (candidate / STATE_DIR).is_dir():
            return candidate
    raise WorkspaceNotFound(
        f"not a treeframe workspace (or any parent up to /): {here} (run 'treeframe init')"
    )


def default_store_url(root: Path) -> str:
    """The embedded default store: SQLite inside the workspace's ``.treeframe/``."""
    return sqlite_url(root / STATE_DIR / STORE_FILE)
