"""Import a verified snapshot archive into any backend (docs/CLI.md, ``import``).

Owned by the import work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treeframe.storage.base import StorageBackend

__all__ = ["ImportReport", "import_snapshot"]


@dataclass
class ImportReport:
    """What an import did: the workspace, root, and rows written / already present per kind."""

    workspace: str
    workspace_id: str
    root_hash: str
    path: str
    root_moved: bool
    written: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``import --json`` and the API response)."""
        raise NotImplementedError


def import_snapshot(
    store: StorageBackend,
    archive: Path,
    *,
    workspace: str | None = None,
    trust: Sequence[str] = (),
) -> ImportReport:
    """Verify ``archive`` completely, then write it in one unit of work; nothing unverified is stored.

    Raises SnapshotInvalid (every problem) or ImportConflict (every
    conflicting head, root or agent) and writes nothing in either case.
    """
    raise NotImplementedError
