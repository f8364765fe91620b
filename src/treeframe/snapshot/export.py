"""Export a workspace at a root, whole or a subtree, to a snapshot archive (docs/SCHEMAS.md §15).

Owned by the export work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from treeframe.ids import NodeId, WorkspaceId
from treeframe.snapshot.format import Manifest
from treeframe.snapshot.signing import SigningKey
from treeframe.snapshot.streams import Writable
from treeframe.storage.base import StorageBackend

__all__ = ["ExportReport", "export_snapshot"]


@dataclass(frozen=True)
class ExportReport:
    """What was written: the manifest and the archive's size in bytes (after compression)."""

    manifest: Manifest
    archive_bytes: int


def export_snapshot(
    store: StorageBackend,
    ws: WorkspaceId,
    out: Writable,
    *,
    root: NodeId | None = None,
    path: str = "",
    compression: str = "none",
    signing_key: SigningKey | None = None,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> ExportReport:
    """Write the archive of ``ws`` at ``root`` (default: the current root), subtree ``path``.

    Reads inside one ``store.snapshot()``; memory bounded by the tree's
    depth and fan-out and the number of distinct contents, not their bytes.
    """
    raise NotImplementedError
