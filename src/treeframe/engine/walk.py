"""The post-order walk of a subtree that staleness, regeneration and generation share."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.tree.records import NodeRecord

__all__ = ["walk_post_order"]


def walk_post_order(
    store: StorageBackend,
    ws: WorkspaceId,
    record: NodeRecord,
    on_children: Callable[[list[NodeRecord]], None] | None = None,
) -> Iterator[NodeRecord]:
    """Every node of the subtree, children before their directory, by name.

    ``on_children`` sees each directory's children as the walk enters it, so
    callers can fetch what they need for all of them in one query.
    """
    stack: list[tuple[NodeRecord, bool]] = [(record, False)]
    while stack:
        current, expanded = stack.pop()
        if expanded or current.kind != "dir":
            yield current
            continue
        stack.append((current, True))
        ids = [child for _, child in current.children]
        found = store.get_nodes(ws, ids)
        children = [found[i] for i in ids if i in found]
        if on_children is not None:
            on_children(children)
        stack.extend((child, False) for child in reversed(children))
