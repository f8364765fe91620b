"""NodeRecord: the immutable record of one file, directory or symlink in a tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from treeframe.errors import StoreCorrupt
from treeframe.hashing.canonical_json import canonical_json, loads
from treeframe.hashing.ids import dir_node_id, file_node_id, symlink_node_id
from treeframe.ids import ContentHash, NodeId

__all__ = ["NODE_SCHEMA", "NodeKind", "NodeRecord"]

NodeKind = Literal["file", "dir", "symlink"]
NODE_SCHEMA = "node/1"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node of a scanned tree; never changes after it is written.

    Only the fields that enter the NodeID are authoritative: ``size`` is
    informational (the content hash already covers the bytes).
    """

    node_id: NodeId
    path: str
    kind: NodeKind
    content_hash: ContentHash | None = None
    size: int = 0
    executable: bool = False
    target: str | None = None
    children: tuple[tuple[str, NodeId], ...] = ()

    @classmethod
    def file(
        cls, path: str, content_hash: ContentHash, size: int, executable: bool
    ) -> NodeRecord:
        """Build a file record, computing its NodeID."""
        node_id = file_node_id(path, content_hash, executable)
        return cls(node_id, path, "file", content_hash, size, executable)

    @classmethod
    def symlink(cls, path: str, target: str) -> NodeRecord:
        """Build a symlink record, computing its NodeID."""
        return cls(symlink_node_id(path, target), path, "symlink", target=target)

    @classmethod
    def directory(cls, path: str, children: list[tuple[str, NodeId]]) -> NodeRecord:
        """Build a directory record; children are sorted by UTF-8 name bytes here."""
        ordered = tuple(sorted(children, key=lambda entry: entry[0].encode("utf-8")))
        return cls(dir_node_id(path, ordered), path, "dir", children=ordered)

    def compute_id(self) -> NodeId:
        """Recompute the NodeID from the hashed fields (used by ``verify``)."""
        if self.kind == "file":
            assert self.content_hash is not None
            return file_node_id(self.path, self.content_hash, self.executable)
        if self.kind == "symlink":
            assert self.target is not None
            return symlink_node_id(self.path, self.target)
        return dir_node_id(self.path, self.children)

    @property
    def name(self) -> str:
        """Last path component (``""`` for the root)."""
        return self.path.rpartition("/")[2]

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (the documented ``node/1`` schema)."""
        out: dict[str, Any] = {
            "schema": NODE_SCHEMA,
            "node_id": self.node_id,
            "path": self.path,
            "kind": self.kind,
        }
        if self.kind == "file":
            out.update(content_hash=self.content_hash, size=self.size, executable=self.executable)
        elif self.kind == "symlink":
            out["target"] = self.target
        else:
            out["children"] = [[name, child] for name, child in self.children]
        return out

    def to_json(self) -> bytes:
        """Canonical JSON bytes of the record (how stores keep it)."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeRecord:
        """Parse the ``node/1`` dict form; raises StoreCorrupt on a malformed record."""
        try:
            kind = data["kind"]
            if kind == "file":
                return cls(
                    NodeId(data["node_id"]),
                    data["path"],
                    "file",
                    ContentHash(data["content_hash"]),
                    int(data["size"]),
                    bool(data["executable"]),
                )
            if kind == "symlink":
                return cls(NodeId(data["node_id"]), data["path"], "symlink", target=data["target"])
            if kind == "dir":
                children = tuple((str(n), NodeId(c)) for n, c in data["children"])
                return cls(NodeId(data["node_id"]), data["path"], "dir", children=children)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreCorrupt(f"malformed node record: {exc}") from exc
        raise StoreCorrupt(f"malformed node record: unknown kind {kind!r}")

    @classmethod
    def from_json(cls, data: bytes) -> NodeRecord:
        """Parse canonical JSON bytes; raises StoreCorrupt on damage."""
        try:
            parsed = loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreCorrupt(f"malformed node record: {exc}") from exc
        if not isinstance(parsed, dict):
            raise StoreCorrupt("malformed node record: not an object")
        return cls.from_dict(parsed)
