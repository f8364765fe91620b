"""Where generator frames get a file's bytes: a seam the edge fills, never the working tree.

The engine serves workspaces of a store by ID and has no directory of its
own: the CLI's workspace reads the working tree, a server reads what a client
pushed. Whatever the source, the engine checks the bytes against the scanned
record before a generator sees them, so a file edited since the last scan can
never produce a frame that claims the old content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from treeframe.errors import RegenerationFailed
from treeframe.hashing.ids import content_hash
from treeframe.tree.records import NodeRecord

__all__ = ["FileContents", "GivenFileContents", "NoFileContents", "checked_file_bytes"]


class FileContents(Protocol):
    """The bytes of a scanned file, from wherever the caller keeps its tree."""

    def read(self, record: NodeRecord) -> bytes:
        """The file's bytes; RegenerationFailed when they cannot be had."""


class NoFileContents:
    """No tree at hand (a library or server caller without one): generators cannot run."""

    def read(self, record: NodeRecord) -> bytes:
        """Always fails: there is nothing to read from."""
        raise RegenerationFailed(f"no file content available for {record.path!r}")


class GivenFileContents:
    """Bytes a caller sent along by path (a REST ``generate`` request: the server has no tree)."""

    def __init__(self, contents: Mapping[str, bytes]) -> None:
        self.contents = dict(contents)

    def read(self, record: NodeRecord) -> bytes:
        """The bytes given for the record's path; RegenerationFailed when none were."""
        found = self.contents.get(record.path)
        if found is None:
            raise RegenerationFailed(f"no content was sent for {record.path!r}")
        return found


def checked_file_bytes(source: FileContents, record: NodeRecord) -> bytes:
    """The bytes of file ``record`` from ``source``, refused unless they hash to its content hash."""
    if record.kind != "file":
        raise RegenerationFailed(f"no file content available for {record.path!r}")
    data = source.read(record)
    if content_hash(data) != record.content_hash:
        raise RegenerationFailed(f"{record.path!r} changed since the last scan; scan first")
    return data
