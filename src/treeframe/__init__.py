"""treeframe: a deterministic, Merkle-addressed store of a workspace's files plus context frames.

The names below are the library's public surface; everything else is
internal and may move.
"""

from treeframe.engine.principal import Permission, Principal
from treeframe.errors import TreeframeError
from treeframe.frames.frame import Basis, Frame, new_frame
from treeframe.frames.views import View, ViewPolicy
from treeframe.release import VERSION
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
