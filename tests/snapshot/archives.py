"""A small snapshot-archive builder written from docs/SCHEMAS.md §15 alone, for crafting archives.

It does not use the exporter: valid archives built here check the verifier
against the specification, and :func:`pack` / :func:`raw_header` let tests
assemble any entry list, canonical or hostile. A :class:`Snapshot` holds the
record lines and contents; :func:`entries` turns it into the archive's
entries with the manifest and checksums computed from what it holds, so a
test that edits a line gets an archive whose chain of checksums is intact
and only the edited record is wrong.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import blake3
import zstandard

from treeframe.frames.frame import Frame, new_frame
from treeframe.frames.merkle_set import root_of
from treeframe.hashing.canonical_json import canonical_json, loads
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import NodeId
from treeframe.snapshot.format import (
    CHECKSUMS,
    MANIFEST,
    RECORDS_TARGET,
    SIGNATURE,
    Counts,
    Manifest,
    WorkspaceMeta,
    content_name,
    encode_line,
    records_name,
)
from treeframe.snapshot.tar import BLOCK, END, entry_header, padding
from treeframe.tree.paths import child_path
from treeframe.tree.records import NodeRecord

__all__ = [
    "AGENTS",
    "SAMPLE_FRAMES",
    "SAMPLE_TREE",
    "Snapshot",
    "Symlink",
    "archive",
    "compress",
    "entries",
    "manifest_for",
    "pack",
    "raw_header",
    "sample",
    "snapshot_of",
    "tiny",
    "unbound_offsets",
]

AGENTS: list[dict[str, Any]] = [
    {
        "agent_id": "agent-1",
        "capabilities": [],
        "generator": None,
        "provider": {},
        "role": "writer",
        "schema": "agent/1",
    },
    {
        "agent_id": "agent-2",
        "capabilities": ["synthesize"],
        "generator": None,
        "provider": {"kind": "test"},
        "role": "writer",
        "schema": "agent/1",
    },
]


@dataclass(frozen=True)
class Symlink:
    """A symlink in a tree spec."""

    target: str


Tree = dict[str, "bytes | Symlink | Tree"]
FrameSpec = tuple[str, str, bytes]  # (frame type, agent ID, content)


@dataclass
class Snapshot:
    """An archive's content before packing: record lines (in order) and contents by hash."""

    root_hash: NodeId
    path: str
    node_id: NodeId
    lines: list[dict[str, Any]]
    contents: dict[str, bytes]
    workspace: WorkspaceMeta = field(
        default_factory=lambda: WorkspaceMeta(
            workspace_id("default"),
            "default",
            "a test workspace",
            "tester",
            "2026-01-01T00:00:00.000000Z",
        )
    )


def _records(tree: Tree, path: str, out: dict[str, NodeRecord]) -> NodeRecord:
    """Build the records of ``tree`` at ``path`` bottom-up into ``out`` (by path)."""
    children: list[tuple[str, NodeId]] = []
    for name, value in tree.items():
        sub = child_path(path, name)
        if isinstance(value, bytes):
            record = NodeRecord.file(sub, content_hash(value), len(value), name.endswith(".sh"))
        elif isinstance(value, Symlink):
            record = NodeRecord.symlink(sub, value.target)
        else:
            record = _records(value, sub, out)
        out[sub] = record
        children.append((name, record.node_id))
    record = NodeRecord.directory(path, children)
    out[path] = record
    return record


def snapshot_of(
    tree: Tree,
    frames: dict[str, list[FrameSpec]],
    *,
    subtree: str = "",
    agents: list[dict[str, Any]] = AGENTS,
) -> Snapshot:
    """The snapshot of ``tree`` with ``frames`` (by node path), whole or of ``subtree`` (§15.4)."""
    records: dict[str, NodeRecord] = {}
    root = _records(tree, "", records)
    put_seq = 0
    stored: dict[str, list[Frame]] = {}
    for node_path in sorted(frames):
        for frame_type, agent, content in frames[node_path]:
            put_seq += 1
            frame = new_frame(records[node_path].node_id, frame_type, agent, content)
            stored.setdefault(node_path, []).append(
                Frame(
                    **{
                        **{k: getattr(frame, k) for k in frame.__dataclass_fields__},
                        "seq": put_seq,
                        "created_at": "2026-01-01T00:00:00.000000Z",
                        # every other frame was re-put later, so put_seq > seq
                        "put_seq": put_seq + (100 if put_seq % 2 == 0 else 0),
                    }
                )
            )
    lines: list[dict[str, Any]] = [{"kind": "agent", "record": agent} for agent in agents]
    if subtree:
        parts = subtree.split("/")
        for depth in range(len(parts)):
            ancestor = records["/".join(parts[:depth])]
            lines.append({"kind": "ancestor", "record": ancestor.to_dict()})
    contents: dict[str, bytes] = {}

    def walk(record: NodeRecord) -> None:
        lines.append({"kind": "node", "record": record.to_dict()})
        on_node = sorted(stored.get(record.path, []), key=lambda f: f.frame_id)
        for frame in on_node:
            lines.append({"kind": "frame", "put_seq": frame.put_seq, "record": frame.to_dict()})
        if on_node:
            lines.append(
                {
                    "count": len(on_node),
                    "kind": "frame_set",
                    "node_id": record.node_id,
                    "root": root_of(f.frame_id for f in on_node),
                }
            )
        heads: dict[str, Frame] = {}
        for frame in on_node:
            best = heads.get(frame.frame_type)
            if best is None or frame.put_seq > best.put_seq:
                heads[frame.frame_type] = frame
        for frame_type in sorted(heads):
            lines.append(
                {
                    "frame_id": heads[frame_type].frame_id,
                    "frame_type": frame_type,
                    "kind": "head",
                    "node_id": record.node_id,
                }
            )
        for name, _ in record.children:
            walk(records[child_path(record.path, name)])

    walk(records[subtree])
    for node_path, node_frames in stored.items():
        if subtree == "" or node_path == subtree or node_path.startswith(subtree + "/"):
            for frame in node_frames:
                contents[frame.content_hash] = _frame_content(frames, node_path, frame)
    return Snapshot(root.node_id, subtree, records[subtree].node_id, lines, contents)


def _frame_content(frames: dict[str, list[FrameSpec]], node_path: str, frame: Frame) -> bytes:
    for _, _, content in frames[node_path]:
        if content_hash(content) == frame.content_hash:
            return content
    raise AssertionError("content not found")


SAMPLE_TREE: Tree = {
    "README.md": b"hello\n",
    "run.sh": b"#!/bin/sh\necho hi\n",
    "link": Symlink("README.md"),
    "src": {"a.py": b"print('a')\n", "lib": {"b.py": b"print('b')\n"}},
    "docs": {"guide.md": b"# Guide\n"},
}
SAMPLE_FRAMES: dict[str, list[FrameSpec]] = {
    "": [("summary", "agent-1", b"The whole tree.")],
    "README.md": [
        ("summary", "agent-1", b"A readme."),
        ("summary", "agent-2", b"Another view of the readme."),
        ("note", "agent-1", b"A readme."),
    ],
    "src": [("summary", "agent-2", b"Source code.")],
    "src/lib/b.py": [("summary", "agent-1", b"Prints b.")],
    "docs/guide.md": [("summary", "agent-2", b"How to.")],
}


def sample(*, subtree: str = "") -> Snapshot:
    """The sample workspace's snapshot: files, an executable, a symlink, nesting, shared content."""
    return snapshot_of(SAMPLE_TREE, SAMPLE_FRAMES, subtree=subtree)


def tiny() -> Snapshot:
    """The smallest interesting snapshot (one agent, a file with a frame): every-byte tests."""
    return snapshot_of({"a": b"x"}, {"a": [("summary", "agent-1", b"y")]}, agents=AGENTS[:1])


def manifest_for(
    snapshot: Snapshot,
    records: list[tuple[str, bytes]],
    checksums: bytes,
    *,
    compression: str = "none",
) -> Manifest:
    """The manifest (§15.3) for ``snapshot`` packed as ``records`` entries and ``checksums``."""
    kinds = [line["kind"] for line in snapshot.lines]
    counts = Counts(
        agents=kinds.count("agent"),
        ancestors=kinds.count("ancestor"),
        nodes=kinds.count("node"),
        frames=kinds.count("frame"),
        frame_sets=kinds.count("frame_set"),
        heads=kinds.count("head"),
        contents=len(snapshot.contents),
        records_entries=len(records),
        record_bytes=sum(len(data) for _, data in records),
        content_bytes=sum(len(data) for data in snapshot.contents.values()),
    )
    return Manifest(
        workspace=snapshot.workspace,
        root_hash=snapshot.root_hash,
        path=snapshot.path,
        node_id=snapshot.node_id,
        counts=counts,
        checksums_blake3=blake3.blake3(checksums).hexdigest(),
        checksums_size=len(checksums),
        compression=compression,
        tool_version="0.0.0-test",
        schemas={"agent": "agent/1", "frame": "frame/1", "node": "node/1"},
    )


def entries(
    snapshot: Snapshot,
    *,
    compression: str = "none",
    sign: Callable[[bytes], bytes] | None = None,
    edit_manifest: Callable[[dict[str, Any]], None] | None = None,
) -> list[tuple[str, bytes]]:
    """The archive's entries, in order, with manifest and checksums computed (§15.2)."""
    records: list[tuple[str, bytes]] = []
    current: list[bytes] = []
    size = 0
    for line in snapshot.lines:
        data = encode_line(line)
        if current and size + len(data) > RECORDS_TARGET:
            records.append((records_name(len(records) + 1), b"".join(current)))
            current, size = [], 0
        current.append(data)
        size += len(data)
    records.append((records_name(len(records) + 1), b"".join(current)))
    checksums = b"".join(
        b"%s  %s\n" % (blake3.blake3(data).hexdigest().encode(), name.encode())
        for name, data in records
    )
    manifest = manifest_for(snapshot, records, checksums, compression=compression).to_bytes()
    if edit_manifest is not None:
        value = loads(manifest)
        edit_manifest(value)
        manifest = canonical_json(value) + b"\n"
    out = [(MANIFEST, manifest)]
    if sign is not None:
        out.append((SIGNATURE, sign(manifest)))
    out.append((CHECKSUMS, checksums))
    out += records
    out += [
        (content_name(digest), snapshot.contents[digest]) for digest in sorted(snapshot.contents)
    ]
    return out


def pack(items: list[tuple[str, bytes]] | list[tuple[bytes, bytes]], *, end: bytes = END) -> bytes:
    """A tar stream of ``items``: (name, data) with canonical headers, or (header, data) raw."""
    out = io.BytesIO()
    for name, data in items:
        header = entry_header(name, len(data)) if isinstance(name, str) else name
        out.write(header)
        out.write(data)
        out.write(bytes(padding(len(data))))
    out.write(end)
    return out.getvalue()


def compress(tar: bytes, compression: str) -> bytes:
    """``tar`` compressed as §15.1 says."""
    if compression == "zstd":
        return zstandard.ZstdCompressor(
            level=3, write_checksum=False, write_content_size=False
        ).compress(tar)
    if compression == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=out, mtime=0) as gz:
            gz.write(tar)
        return out.getvalue()
    return tar


def archive(snapshot: Snapshot | None = None, *, compression: str = "none", **kwargs: Any) -> bytes:
    """The archive bytes of ``snapshot`` (the sample by default)."""
    items = entries(snapshot or sample(), compression=compression, **kwargs)
    return compress(pack(items), compression)


def raw_header(
    name: bytes,
    size: int,
    *,
    typeflag: bytes = b"0",
    linkname: bytes = b"",
    mode: bytes = b"0000644\x00",
    magic: bytes = b"ustar\x00",
) -> bytes:
    """A ustar header with any name, type and link (valid checksum), for hostile entries."""
    header = bytearray(BLOCK)
    header[0 : len(name)] = name
    header[100:108] = mode
    header[108:116] = b"0000000\x00"
    header[116:124] = b"0000000\x00"
    header[124:136] = b"%011o\x00" % size
    header[136:148] = b"00000000000\x00"
    header[156:157] = typeflag
    header[157 : 157 + len(linkname)] = linkname
    header[257:263] = magic
    header[263:265] = b"00"
    header[329:337] = b"0000000\x00"
    header[337:345] = b"0000000\x00"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


def unbound_offsets(data: bytes) -> set[int]:
    """Offsets of the manifest's values that nothing binds in an unsigned archive.

    The tool version and the workspace's description, owner and created_at:
    docs/SCHEMAS.md §15.5 says so.
    """
    start = 512
    manifest = data[start : start + data[start:].index(b"\n") + 1]
    out: set[int] = set()
    for key in (b'"version":"', b'"description":"', b'"owner":"', b'"created_at":"'):
        at = manifest.index(key) + len(key)
        end = manifest.index(b'"', at)
        out.update(range(start + at, start + end))
    return out
