"""A workspace on disk bound to a store: the library's front door (scan, frames, views, verify)."""

from treeframe.workspace.workspace import Workspace

__all__ = ["Workspace"]
