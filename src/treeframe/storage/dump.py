"""A canonical dump of a store: every row a copy must preserve, as sorted lines of JSON.

Two stores hold the same data exactly when their dumps are equal, whatever
the backends: the dump names nothing backend-specific (no URL, codec,
internal row ID or storage layout), only what the seams of
:mod:`treeframe.storage.base` answer. ``treeframe migrate`` compares the
digests of source and target to verify a copy.

A dump is one section per (workspace, kind), workspaces by ID and kinds in
:data:`KINDS` order, then the store's tokens. Each line is canonical JSON
(sorted keys, no spaces) holding ``kind`` and ``ws``; lines are sorted
within their section. Backends iterate in different orders, so sections are
sorted externally: runs of at most ``chunk`` lines are spilled to temporary
files and merged, so memory stays bounded however big the store is.
Contents appear as hash, length and the BLAKE3 hash recomputed from the
bytes (so damaged bytes change the dump), never the bytes themselves.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

from treeframe.errors import WorkspaceNotFound
from treeframe.frames.frame import Frame
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.base import Damaged, StorageBackend, WorkspaceInfo
from treeframe.tree.records import NodeRecord

__all__ = [
    "KINDS",
    "DumpSummary",
    "dump_lines",
    "find_workspace",
    "iter_workspaces",
    "summarize",
]

KINDS = (
    "workspace",
    "node",
    "content",
    "frame",
    "frame_set",
    "head",
    "path",
    "path_history",
    "basis_ref",
    "root",
    "audit",
    "agent",
    "acl",
)
"""The per-workspace sections of a dump, in dump order (``token`` follows every workspace)."""

DEFAULT_CHUNK = 50_000
"""Lines held in memory per sorted run before it is spilled to a temporary file."""

_PAGE = 256


@dataclass(frozen=True)
class DumpSummary:
    """Line counts and SHA-256 digests of a dump: per kind and of the whole dump."""

    counts: dict[str, int]
    digests: dict[str, str]
    digest: str


def _line(kind: str, ws: WorkspaceId | None, body: dict[str, Any]) -> str:
    return json.dumps(
        {"kind": kind, "ws": ws, **body}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def iter_workspaces(store: StorageBackend) -> Iterator[WorkspaceInfo]:
    """Every workspace of ``store``, tombstoned ones included, by name (keyset pages)."""
    after: str | None = None
    while True:
        page = store.list_workspaces(include_deleted=True, after=after, limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].name


def find_workspace(store: StorageBackend, ref: str) -> WorkspaceInfo:
    """The workspace named ``ref`` (a name or a workspace ID), tombstoned ones included."""
    for candidate in (ref, workspace_id(ref)):
        found = store.get_workspace(WorkspaceId(candidate))
        if found is not None:
            return found
    for info in iter_workspaces(store):
        if info.name == ref:
            return info
    raise WorkspaceNotFound(f"no workspace {ref!r} in store {store.url}")


def _damaged(row: Damaged) -> dict[str, Any]:
    return {"damaged": {"table": row.table, "key": row.key, "reason": row.reason}}


def _node(row: NodeRecord | Damaged) -> dict[str, Any]:
    return _damaged(row) if isinstance(row, Damaged) else {"record": row.to_dict()}


def _frame(row: Frame | Damaged) -> dict[str, Any]:
    if isinstance(row, Damaged):
        return _damaged(row)
    return {"record": row.to_dict(), "put_seq": row.put_seq}


def _roots(store: StorageBackend, ws: WorkspaceId) -> Iterator[dict[str, Any]]:
    before: int | None = None
    while True:
        page = store.root_history(ws, _PAGE, before)
        for entry in page:
            yield {"seq": entry.seq, "root": entry.root, "created_at": entry.created_at}
        if len(page) < _PAGE:
            return
        before = page[-1].seq


def _bodies(store: StorageBackend, ws: WorkspaceId, kind: str) -> Iterable[dict[str, Any]]:
    """The rows of one section, in whatever order the backend yields them."""
    if kind == "workspace":
        info = store.get_workspace(ws)
        assert info is not None  # listed by iter_workspaces a moment ago
        return [
            {
                "name": info.name,
                "description": info.description,
                "owner": info.owner,
                "created_at": info.created_at,
                "deleted_at": info.deleted_at,
            }
        ]
    if kind == "node":
        return map(_node, store.iter_all_nodes(ws))
    if kind == "content":
        return (
            {"hash": digest, "size": len(data), "blake3": content_hash(data)}
            for digest, data in store.blobs.iter_all(ws)
        )
    if kind == "frame":
        return map(_frame, store.iter_all_frames(ws))
    if kind == "frame_set":
        return (
            {"node": node, "root": state.root, "count": state.count}
            for node, state in store.iter_all_frame_sets(ws)
        )
    if kind == "head":
        return (
            {"node": node, "type": frame_type, "frame": frame}
            for node, frame_type, frame in store.iter_all_heads(ws)
        )
    if kind == "path":
        return ({"path": path, "node": node} for path, node in store.iter_all_paths(ws))
    if kind == "path_history":
        return (
            {"path": path, "seq": seq, "node": node}
            for path, seq, node in store.iter_all_path_history(ws)
        )
    if kind == "basis_ref":
        return ({"ref": ref, "frame": frame} for ref, frame in store.iter_all_basis_refs(ws))
    if kind == "root":
        return _roots(store, ws)
    if kind == "audit":
        return (
            {**entry.fields(), "entry_hash": entry.entry_hash} for entry in store.iter_audit(ws)
        )
    if kind == "agent":
        return ({"agent": agent, "record": rec.hex()} for agent, rec in store.list_agents(ws))
    if kind == "acl":
        return (
            {
                "agent": e.agent_id,
                "permissions": list(e.permissions),
                "granted_at": e.granted_at,
                "granted_by": e.granted_by,
            }
            for e in store.list_acl(ws)
        )
    raise ValueError(f"unknown dump kind {kind!r}")


def _tokens(store: StorageBackend, ws: WorkspaceId | None) -> Iterator[dict[str, Any]]:
    after: str | None = None
    while True:
        page = store.list_tokens(ws, after=after, limit=_PAGE)
        for t in page:
            yield {
                "token_id": t.token_id,
                "secret_hash": t.secret_hash,
                "agent": t.agent_id,
                "scope": t.scope,
                "permissions": list(t.permissions),
                "created_at": t.created_at,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
                "created_by": t.created_by,
            }
        if len(page) < _PAGE:
            return
        after = page[-1].token_id


def _spill(stack: ExitStack, lines: list[str]) -> IO[str]:
    """A sorted run in a temporary file (closed, and so deleted, with ``stack``)."""
    run = stack.enter_context(tempfile.TemporaryFile(mode="w+", encoding="utf-8"))  # noqa: SIM115
    run.writelines(line + "\n" for line in sorted(lines))
    run.seek(0)
    return run


def _sorted(lines: Iterable[str], chunk: int) -> Iterator[str]:
    """``lines`` sorted, holding at most ``chunk`` of them in memory (external merge sort)."""
    buffer: list[str] = []
    with ExitStack() as stack:
        runs: list[IO[str]] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= chunk:
                runs.append(_spill(stack, buffer))
                buffer = []
        if not runs:
            yield from sorted(buffer)
            return
        if buffer:
            runs.append(_spill(stack, buffer))
        yield from heapq.merge(*((line.rstrip("\n") for line in run) for run in runs))


def _sections(
    store: StorageBackend, workspace: WorkspaceId | None, chunk: int
) -> Iterator[tuple[str, Iterator[str]]]:
    if workspace is None:
        spaces = sorted(info.workspace_id for info in iter_workspaces(store))
    elif store.get_workspace(workspace) is None:
        raise WorkspaceNotFound(f"no workspace {workspace} in store {store.url}")
    else:
        spaces = [workspace]
    for ws in spaces:
        for kind in KINDS:
            yield kind, _sorted((_line(kind, ws, b) for b in _bodies(store, ws, kind)), chunk)
    yield "token", _sorted((_line("token", None, b) for b in _tokens(store, workspace)), chunk)


def dump_lines(
    store: StorageBackend, workspace: WorkspaceId | None = None, *, chunk: int = DEFAULT_CHUNK
) -> Iterator[str]:
    """The canonical dump of the whole store, or of one workspace (with the tokens scoped to it).

    Read it inside ``store.snapshot()`` when other writers may be active.
    """
    for _kind, lines in _sections(store, workspace, chunk):
        yield from lines


def summarize(
    store: StorageBackend, workspace: WorkspaceId | None = None, *, chunk: int = DEFAULT_CHUNK
) -> DumpSummary:
    """Counts and digests of :func:`dump_lines`, computed in one streaming pass."""
    total = hashlib.sha256()
    per_kind: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for kind, lines in _sections(store, workspace, chunk):
        hasher = per_kind.setdefault(kind, hashlib.sha256())
        counts.setdefault(kind, 0)
        for line in lines:
            data = (line + "\n").encode("utf-8")
            hasher.update(data)
            total.update(data)
            counts[kind] += 1
    return DumpSummary(
        counts,
        {kind: "sha256:" + h.hexdigest() for kind, h in per_kind.items()},
        "sha256:" + total.hexdigest(),
    )
