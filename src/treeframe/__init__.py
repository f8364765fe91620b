"""treeframe: a deterministic, Merkle-addressed store of a workspace's files plus context frames.

The names below are the library's public surface; everything else is
internal and may move. They are imported on first use (PEP 562), so that
``import treeframe.<module>`` (the command line's ``treeframe --version``
among them) does not pay for the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from treeframe.release import VERSION

if TYPE_CHECKING:
    from treeframe.engine.principal import Permission, Principal
    from treeframe.errors import TreeframeError
    from treeframe.frames.frame import Basis, Frame, new_frame
    from treeframe.frames.views import View, ViewPolicy
    from treeframe.storage.base import StorageBackend
    from treeframe.storage.registry import open_store
    from treeframe.tree.records import NodeRecord
    from treeframe.workspace import Workspace

__all__ = [
    "Basis",
    "Frame",
    "NodeRecord",
    "Permission",
    "Principal",
    "StorageBackend",
    "TreeframeError",
    "View",
    "ViewPolicy",
    "Workspace",
    "new_frame",
    "open_store",
]
__version__ = VERSION

# Public name -> the module that defines it.
_HOMES = {
    "Basis": "treeframe.frames.frame",
    "Frame": "treeframe.frames.frame",
    "NodeRecord": "treeframe.tree.records",
    "Permission": "treeframe.engine.principal",
    "Principal": "treeframe.engine.principal",
    "StorageBackend": "treeframe.storage.base",
    "TreeframeError": "treeframe.errors",
    "View": "treeframe.frames.views",
    "ViewPolicy": "treeframe.frames.views",
    "Workspace": "treeframe.workspace",
    "new_frame": "treeframe.frames.frame",
    "open_store": "treeframe.storage.registry",
}


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first access and kept."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'treeframe' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the public ones included before their first use."""
    return sorted({*globals(), *__all__})
