"""A realistic store to migrate: what the engine writes, plus access config and a tombstone.

Built through the engine (scans, frames, a re-put, synthesis, a rescan after
edits, a regeneration), so every table holds real rows: records, contents,
frames with seq/put_seq gaps, frame sets, heads, paths, path history, basis
refs, root history, audit entries, agents, ACL entries, tokens, and a second,
tombstoned workspace.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.runtime import Runtime
from treeframe.engine.types import FrameInput
from treeframe.hashing.ids import workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.base import AclEntry, StorageBackend, TokenRecord
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree
from treeframe.workspace.working_tree import WorkingTreeContents

MAIN = workspace_id("main")
GONE = workspace_id("gone")

FILES = {
    "README.md": "# Project\nTop level readme.\n",
    "src/app.py": "# App entry\nprint('hi')\n",
    "src/db/models.py": "# Models\nclass User: ...\n",
    "src/db/pool.py": "# Pool\nPOOL = None\n",
    "docs/guide.md": "# Guide\nHow to use it.\n",
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write files dated an hour back, so rescans may trust the stat cache."""
    past = time.time_ns() - 3600 * 10**9
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(past, past))


def _engine(store: StorageBackend, ws: WorkspaceId, name: str, root: Path) -> ContextAPI:
    store.create_workspace(workspace_info(ws, name))
    api = ContextAPI(store, ws, files=WorkingTreeContents(root), runtime=Runtime())
    for agent in (
        AgentRecord("writer", "writer"),
        AgentRecord("synth", "synthesis"),
        AgentRecord("reader", "reader"),
    ):
        api.agents.register(agent)
    return api


def build(store: StorageBackend, directory: Path, *, extra_files: int = 0) -> None:
    """Fill ``store`` (empty) with the realistic workload; files live under ``directory``."""
    root = directory / "tree"
    files = dict(FILES)
    files.update({f"bulk/f{i:05}.txt": f"file {i}\n" for i in range(extra_files)})
    write_tree(root, files)
    api = _engine(store, MAIN, "main", root)
    scan_tree(root, store, MAIN, workers=1)
    writer = api.agent_principal("writer")
    synth = api.agent_principal("synth")
    first = FrameInput("summary", b"entry point")
    api.put_frame("src/app.py", first, principal=writer)
    api.put_frame("src/app.py", FrameInput("summary", b"entry point, v2"), principal=writer)
    api.put_frame("src/app.py", first, principal=writer)  # a re-put: put_seq moves, seq stays
    for path in ("src/db/models.py", "src/db/pool.py", "README.md"):
        api.put_frame(path, FrameInput("summary", f"about {path}".encode()), principal=writer)
    api.put_frame(
        "src/db/pool.py",
        FrameInput("note", b"\x00binary\xff", content_type="application/octet-stream"),
        principal=writer,
    )
    for i in range(extra_files):
        api.put_frame(
            f"bulk/f{i:05}.txt", FrameInput("summary", f"bulk {i}".encode()), principal=writer
        )
    api.synthesize_branch("src", "summary", principal=synth, recursive=True)
    (root / "src/db/pool.py").write_text("# Pool\nPOOL = make_pool()\n", encoding="utf-8")
    (root / "docs/guide.md").unlink()
    (root / "docs/new.md").write_text("# New\n", encoding="utf-8")
    scan_tree(root, store, MAIN, workers=1)
    api.put_frame("src/db/pool.py", FrameInput("summary", b"the pool, rebuilt"), principal=writer)
    api.synthesize_branch("src", "summary", principal=synth, recursive=True)
    store.put_acl(MAIN, AclEntry("reader", ("read",), "2024-01-02T00:00:00Z", None))
    store.put_acl(MAIN, AclEntry("writer", ("read", "write"), "2024-01-02T00:00:00Z", "admin"))
    for i, (scope, revoked) in enumerate(((MAIN, None), (None, "2024-02-01T00:00:00Z"))):
        store.put_token(
            TokenRecord(
                f"{i:016x}",
                "ab" * 32,
                "writer",
                scope,
                ("read", "write"),
                "2024-01-03T00:00:00Z",
                None,
                revoked,
                None,
            )
        )

    gone_root = directory / "gone"
    write_tree(gone_root, {"a.txt": "a\n", "b/c.txt": "c\n"})
    gone = _engine(store, GONE, "gone", gone_root)
    scan_tree(gone_root, store, GONE, workers=1)
    gone.put_frame("a.txt", FrameInput("summary", b"a"), principal=gone.agent_principal("writer"))
    store.set_workspace_deleted(GONE, "2024-03-01T00:00:00Z")
