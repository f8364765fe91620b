"""The snapshot archive format ``treeframe-snapshot/1``: names, limits, manifest, record lines.

docs/SCHEMAS.md §15 specifies the format byte for byte; this module is its
single source in code. An archive is a ustar stream (:mod:`treeframe.snapshot.tar`),
optionally compressed as a whole (:mod:`treeframe.snapshot.streams`), whose
entries come in this order and no other:

1. ``manifest.json``: the :class:`Manifest`, canonical JSON;
2. ``manifest.sig``: optional, an ed25519 signature over the manifest bytes;
3. ``checksums.b3``: one ``<blake3 hex>  <entry name>`` line per records entry
   (the format ``b3sum`` reads), in archive order; the manifest holds its
   BLAKE3 and size, so signing the manifest signs everything;
4. ``records/00000001.jsonl`` ...: canonical-JSON record lines (:data:`LINE_KINDS`);
5. ``contents/<content hash>``: the raw bytes of each distinct content an
   exported frame names, ascending by hash. A content entry's name is its
   checksum: the verifier recomputes the content hash from the bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from treeframe.errors import SnapshotInvalid
from treeframe.hashing.canonical_json import canonical_json, loads
from treeframe.ids import NodeId, WorkspaceId, parse_hex_id

__all__ = [
    "CHECKSUMS",
    "CONTENT_PREFIX",
    "FORMAT",
    "FORMAT_VERSION",
    "LINE_KINDS",
    "MANIFEST",
    "MAX_LINE",
    "MAX_MANIFEST",
    "MAX_RECORDS_ENTRY",
    "MAX_SIGNATURE",
    "RECORDS_TARGET",
    "SCHEMAS",
    "SIGNATURE",
    "Counts",
    "Manifest",
    "WorkspaceMeta",
    "content_name",
    "encode_line",
    "parse_line",
    "records_name",
]

FORMAT = "treeframe-snapshot"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CHECKSUMS = "checksums.b3"
RECORDS_PREFIX = "records/"
CONTENT_PREFIX = "contents/"

MAX_MANIFEST = 1 << 20
"""A manifest entry larger than this (1 MiB) is refused before it is read."""
MAX_SIGNATURE = 4096
"""A signature entry larger than this is refused."""
MAX_LINE = 4 << 20
"""One record line (with its newline) may not exceed this (4 MiB)."""
RECORDS_TARGET = 4 << 20
"""A records entry is cut before the line that would take it past this (4 MiB)."""
MAX_RECORDS_ENTRY = RECORDS_TARGET + MAX_LINE
"""The largest records entry a writer can produce, so the largest a reader accepts."""

SCHEMAS = {"agent": "agent/1", "frame": "frame/1", "node": "node/1"}
"""The record schemas this release writes and reads: the manifest's ``schemas``."""

LINE_KINDS = ("agent", "ancestor", "node", "frame", "frame_set", "head")
"""The ``kind`` of every record line, in the order the sections come (docs/SCHEMAS.md §15.4)."""

_RECORDS_NAME = re.compile(r"records/([0-9]{8})\.jsonl")
_CONTENT_NAME = re.compile(r"contents/([0-9a-f]{64})")


def records_name(number: int) -> str:
    """The name of the ``number``-th records entry (from 1)."""
    return f"{RECORDS_PREFIX}{number:08d}.jsonl"


def content_name(digest: str) -> str:
    """The name of the entry holding the content with hash ``digest``."""
    return CONTENT_PREFIX + digest


def records_number(name: str) -> int | None:
    """The number of a records entry name, or None if ``name`` is not one."""
    match = _RECORDS_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def content_digest(name: str) -> str | None:
    """The content hash a content entry name carries, or None if ``name`` is not one."""
    match = _CONTENT_NAME.fullmatch(name)
    return match.group(1) if match else None


def encode_line(record: dict[str, Any]) -> bytes:
    """One record line: canonical JSON of ``record`` plus a newline."""
    return canonical_json(record) + b"\n"


def _no_float(text: str) -> Any:
    raise ValueError(f"a float ({text}) in a record line: canonical JSON has integers only")


_DECODER = json.JSONDecoder(parse_float=_no_float)


def parse_line(line: bytes, where: str) -> dict[str, Any]:
    """Parse one record line; it must be canonical JSON of an object with a known ``kind``.

    Canonical means re-encoding gives the same bytes, so one archive has one
    spelling and a changed byte is never a harmless one.
    """
    if len(line) > MAX_LINE:
        raise SnapshotInvalid(f"{where}: a record line over {MAX_LINE} bytes")
    if not line.endswith(b"\n"):
        raise SnapshotInvalid(f"{where}: the last record line has no newline")
    try:
        # Floats are refused while parsing, so the re-encoding can skip its own walk.
        value = _DECODER.decode(line[:-1].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotInvalid(f"{where}: a record line is not JSON: {exc}") from exc
    if not isinstance(value, dict) or value.get("kind") not in LINE_KINDS:
        raise SnapshotInvalid(f"{where}: a record line is not an object of a known kind")
    try:
        canonical = canonical_json(value, checked=True) + b"\n"
    except ValueError as exc:
        raise SnapshotInvalid(f"{where}: a record line is not canonical JSON: {exc}") from exc
    if canonical != line:
        raise SnapshotInvalid(f"{where}: a record line is not in canonical JSON form")
    return value


@dataclass(frozen=True)
class WorkspaceMeta:
    """The exported workspace's metadata (never hashed into any ID)."""

    workspace_id: WorkspaceId
    name: str
    description: str
    owner: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``workspace`` object."""
        return {
            "created_at": self.created_at,
            "description": self.description,
            "id": self.workspace_id,
            "name": self.name,
            "owner": self.owner,
        }


@dataclass(frozen=True)
class Counts:
    """How many of each thing the archive holds; the verifier checks every one."""

    agents: int = 0
    ancestors: int = 0
    nodes: int = 0
    frames: int = 0
    frame_sets: int = 0
    heads: int = 0
    contents: int = 0
    records_entries: int = 0
    record_bytes: int = 0
    content_bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        """The manifest's ``counts`` object, keys sorted."""
        return dict(sorted(self.__dict__.items()))


@dataclass(frozen=True)
class Manifest:
    """The first entry of every archive: what it holds and how to check it.

    ``root_hash`` is the workspace root the export was taken at; ``path`` the
    exported subtree (``""``: the whole tree) and ``node_id`` its NodeID in
    that root (the root itself for a whole export). ``checksums_blake3`` and
    ``checksums_size`` bind ``checksums.b3``, which binds every records entry.
    """

    workspace: WorkspaceMeta
    root_hash: NodeId
    path: str
    node_id: NodeId
    counts: Counts
    checksums_blake3: str
    checksums_size: int
    compression: str
    tool_version: str
    schemas: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as the JSON object of docs/SCHEMAS.md §15.3."""
        return {
            "checksums": {
                "blake3": self.checksums_blake3,
                "name": CHECKSUMS,
                "size": self.checksums_size,
            },
            "compression": self.compression,
            "counts": self.counts.to_dict(),
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "node_id": self.node_id,
            "path": self.path,
            "root_hash": self.root_hash,
            "schemas": dict(sorted(self.schemas.items())),
            "tool": {"name": "treeframe", "version": self.tool_version},
            "workspace": self.workspace.to_dict(),
        }

    def to_bytes(self) -> bytes:
        """The manifest entry's bytes: canonical JSON plus a newline."""
        return encode_line(self.to_dict())

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Parse and check a manifest entry; anything unexpected raises SnapshotInvalid."""
        if len(data) > MAX_MANIFEST:
            raise SnapshotInvalid(f"{MANIFEST}: over {MAX_MANIFEST} bytes")
        try:
            value = loads(data)
            if not isinstance(value, dict):
                raise ValueError("not an object")
            if value.get("format") != FORMAT:
                raise ValueError(f"not a {FORMAT} archive (format {value.get('format')!r})")
            if value.get("format_version") != FORMAT_VERSION:
                raise ValueError(
                    f"format version {value.get('format_version')!r} is not supported"
                    f" (this release reads version {FORMAT_VERSION})"
                )
            ws = value["workspace"]
            counts = value["counts"]
            if set(counts) != set(Counts().to_dict()):
                raise ValueError("counts name unknown or missing fields")
            if not all(type(v) is int and v >= 0 for v in counts.values()):
                raise ValueError("counts must be non-negative integers")
            checks = value["checksums"]
            if checks.get("name") != CHECKSUMS:
                raise ValueError(f"checksums must be named {CHECKSUMS}")
            size = checks["size"]
            if type(size) is not int or size < 0:
                raise ValueError("checksums size must be a non-negative integer")
            manifest = cls(
                workspace=WorkspaceMeta(
                    WorkspaceId(parse_hex_id(ws["id"], "workspace ID")),
                    _text(ws["name"]),
                    _text(ws["description"]),
                    _text(ws["owner"]),
                    _text(ws["created_at"]),
                ),
                root_hash=NodeId(parse_hex_id(value["root_hash"], "root hash")),
                path=_text(value["path"]),
                node_id=NodeId(parse_hex_id(value["node_id"], "NodeID")),
                counts=Counts(**counts),
                checksums_blake3=parse_hex_id(checks["blake3"], "checksums BLAKE3"),
                checksums_size=size,
                compression=_text(value["compression"]),
                tool_version=_text(value["tool"]["version"]),
                schemas={_text(k): _text(v) for k, v in value["schemas"].items()},
            )
        except SnapshotInvalid:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as exc:
            raise SnapshotInvalid(f"{MANIFEST}: {exc}") from exc
        except Exception as exc:  # InvalidId and friends: a malformed field
            raise SnapshotInvalid(f"{MANIFEST}: {exc}") from exc
        if manifest.to_bytes() != data:
            raise SnapshotInvalid(f"{MANIFEST}: not in canonical form (fields added or reordered)")
        return manifest


def _text(value: Any) -> str:
    if type(value) is not str:
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value
