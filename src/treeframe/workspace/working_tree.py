"""The working tree as the engine's source of file bytes (the CLI's edge of generator frames)."""

from __future__ import annotations

from pathlib import Path

from treeframe.errors import RegenerationFailed
from treeframe.tree.records import NodeRecord

__all__ = ["WorkingTreeContents"]


class WorkingTreeContents:
    """Reads a scanned file from the directory the workspace was scanned from."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, record: NodeRecord) -> bytes:
        """The file's current bytes (the engine checks them against the record)."""
        try:
            return (self.root / record.path).read_bytes()
        except OSError as exc:
            raise RegenerationFailed(f"cannot read {record.path!r}: {exc.strerror}") from exc
