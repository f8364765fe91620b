"""NodeRecord: the immutable record of one file, directory or symlink in a tree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from json.encoder import encode_basestring
from typing import Any, Literal

from treeframe.errors import InvalidId, InvalidPath, StoreCorrupt
from treeframe.hashing.canonical_json import canonical_json, load_record
from treeframe.hashing.ids import dir_node_id, file_node_id, symlink_node_id
from treeframe.ids import ContentHash, NodeId, parse_hex_id

__all__ = ["NODE_SCHEMA", "NodeKind", "NodeRecord", "file_record_json"]

NodeKind = Literal["file", "dir", "symlink"]
NODE_SCHEMA = "node/1"

_HEX_RUN = re.compile(r"[0-9a-f]*")
_json_string = encode_basestring  # the C string encoder json.dumps(ensure_ascii=False) uses
_FILE_JSON = (
    '{{"content_hash":"{}","executable":{},"kind":"file","node_id":"{}","path":{},'
    '"schema":"' + NODE_SCHEMA + '","size":{}}}'
)


def file_record_json(
    node_id: str, path: str, content_hash: str, size: int, executable: bool
) -> bytes:
    """Canonical JSON of a file record from its fields (what :meth:`NodeRecord.to_json` gives).

    Keys are already in sorted order, so no dict is built: the scanner's
    hashing workers call it for every file they hash, and the property tests
    hold it equal to the generic canonical encoding.
    """
    return _FILE_JSON.format(
        content_hash, "true" if executable else "false", node_id, _json_string(path), size
    ).encode("utf-8")


def _typed(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{what} must be {kind.__name__}, got {type(value).__name__}")
    return value


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
    def file(cls, path: str, content_hash: ContentHash, size: int, executable: bool) -> NodeRecord:
        """Build a file record, computing its NodeID."""
        node_id = file_node_id(path, content_hash, executable)
        return cls(node_id, path, "file", content_hash, size, executable)

    @classmethod
    def symlink(cls, path: str, target: str) -> NodeRecord:
        """Build a symlink record, computing its NodeID."""
        return cls(symlink_node_id(path, target), path, "symlink", target=target)

    @classmethod
    def directory(cls, path: str, children: list[tuple[str, NodeId]]) -> NodeRecord:
        """Build a directory record; children are sorted by UTF-8 name bytes here.

        Raises InvalidPath when two children share a name.
        """
        # Code-point order is UTF-8 byte order, so the (name, ID) pairs sort as
        # they are (C comparisons, no key function); equal names are refused below.
        ordered = tuple(sorted(children))
        for (name, _), (following, _) in pairwise(ordered):
            if name == following:
                # e.g. NFC and NFD spellings of one name side by side on disk
                raise InvalidPath(f"two entries named {name!r} in directory {path!r}")
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
        """Canonical JSON bytes of the record (how stores keep it).

        File records, the bulk of every scan, are formatted directly (keys
        already in sorted order); the property tests hold this equal to the
        generic canonical encoding.
        """
        if self.kind == "file":
            assert self.content_hash is not None
            return file_record_json(
                self.node_id, self.path, self.content_hash, self.size, self.executable
            )
        return canonical_json(self.to_dict(), checked=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeRecord:
        """Parse the ``node/1`` dict form; raises StoreCorrupt on a malformed record.

        Types are checked, not coerced: a damaged ``"executable": "false"``
        must not quietly become ``True``.
        """
        try:
            if data["schema"] != NODE_SCHEMA:
                raise ValueError(f"unsupported schema {data['schema']!r}")
            kind = data["kind"]
            node_id = NodeId(parse_hex_id(data["node_id"], "NodeID"))
            path = _typed(data["path"], str, "path")
            if kind == "file":
                size = data["size"]
                if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                    raise ValueError(f"bad size {size!r}")
                return cls(
                    node_id,
                    path,
                    "file",
                    ContentHash(parse_hex_id(data["content_hash"], "content hash")),
                    size,
                    _typed(data["executable"], bool, "executable"),
                )
            if kind == "symlink":
                return cls(node_id, path, "symlink", target=_typed(data["target"], str, "target"))
            if kind == "dir":
                children = tuple((n, c) for n, c in data["children"])
                names = [n for n, _ in children]
                ids = [c for _, c in children]
                # One C-level check for all child IDs instead of a regex per child:
                # directory records are parsed on every rescan.
                if not all(type(n) is str for n in names) or not all(
                    type(c) is str and len(c) == 64 for c in ids
                ):
                    raise ValueError("children must be [name, 64-hex NodeID] pairs")
                if _HEX_RUN.fullmatch("".join(ids)) is None:
                    raise ValueError("a child NodeID is not lowercase hex")
                return cls(node_id, path, "dir", children=children)
        except (KeyError, TypeError, ValueError, InvalidId) as exc:
            raise StoreCorrupt(f"malformed node record: {exc}") from exc
        raise StoreCorrupt(f"malformed node record: unknown kind {kind!r}")

    @classmethod
    def from_json(cls, data: bytes) -> NodeRecord:
        """Parse canonical JSON bytes; raises StoreCorrupt on damage."""
        return cls.from_dict(load_record(data, "node record"))
