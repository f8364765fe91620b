"""A representative workspace for snapshot tests, the same state on any store.

:func:`populate` builds it through the engine (two scans of a real directory,
frames put by several agents, a synthesis) under a fixed clock, so every
``created_at`` and hence every export of it is the same on every run and
machine. It holds everything an archive must carry: files, nested
directories, a symlink, an executable, an empty directory, a non-ASCII name
whose byte order differs from its code-point-insensitive order, frames of
several types and agents (a binary one with metadata, synthesized ones on
directories), a re-put frame (``put_seq != seq``) that moved its head back
to the older frame, two frames of one content, frames left on the nodes of
an older root, and registered agents. :func:`copy_to` puts the same state
into another store with ``copy_store``, which is how one state exists on
SQLite, PostgreSQL and LMDB.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path

from treeframe.clock import Clock, FixedClock
from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.runtime import Runtime
from treeframe.engine.types import FrameInput
from treeframe.hashing.ids import workspace_id
from treeframe.ids import NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.transfer import copy_store
from treeframe.storage.values import WorkspaceInfo
from treeframe.tree.scan import scan_tree
from treeframe.workspace.working_tree import WorkingTreeContents

__all__ = [
    "CREATED_AT",
    "FILES",
    "NAME",
    "SHARED",
    "WS",
    "copy_to",
    "engine",
    "older_root",
    "populate",
]

NAME = "snapshot-sample"
WS = workspace_id(NAME)

FILES = {
    "README.md": "# Sample\nA workspace with one of everything.\n",
    "Zeta.md": "# Zeta\nUpper case sorts before lower case by bytes.\n",
    "src/app.py": "# App entry\nprint('hi')\n",
    "src/db/models.py": "# Models\nclass User: ...\n",
    "src/db/pool.py": "# Pool\nPOOL = None\n",
    "docs/guide.md": "# Guide\nHow to use it.\n",
    "docs/naïve.md": "# Naïve\nA name outside ASCII.\n",
    "bin/run.sh": "#!/bin/sh\necho run\n",
}
EXECUTABLE = "bin/run.sh"
SYMLINK = ("link.md", "README.md")
EMPTY_DIR = "empty"

SHARED = b"one content, two frames"
"""The content of two frames on different nodes, by different agents: one content entry."""

AGENTS = (
    AgentRecord("writer", "writer"),
    AgentRecord("reviewer", "writer", provider={"kind": "test", "model": "m-1"}),
    AgentRecord("synth", "synthesis"),
    AgentRecord("reader", "reader"),
)

CREATED_AT = "2024-05-01T11:00:00.000000Z"
"""The workspace's creation time, spelled as the clock spells it (SCHEMAS.md §12)."""

_CLOCK_START = "2024-05-01T12:00:00.000000Z"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def engine(store: StorageBackend, root: Path, clock: Clock | None = None) -> ContextAPI:
    """The engine over workspace :data:`WS` of ``store`` with its tree at ``root``."""
    clock = clock or FixedClock(_CLOCK_START, timedelta(seconds=1))
    return ContextAPI(store, WS, files=WorkingTreeContents(root), runtime=Runtime(clock=clock))


def populate(store: StorageBackend, directory: Path | None = None) -> WorkspaceId:
    """Create and fill workspace :data:`WS` in ``store`` (which must not hold it yet).

    The scanned tree is written into ``directory`` and kept there, for tests
    that change and rescan it (:func:`engine` gives the API over it), or into
    a temporary directory removed afterwards.
    """
    store.create_workspace(
        WorkspaceInfo(WS, NAME, "the snapshot sample", "alice", CREATED_AT, None)
    )
    clock = FixedClock(_CLOCK_START, timedelta(seconds=1))
    with contextlib.ExitStack() as stack:
        root = directory or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        _write(root, FILES)
        os.chmod(root / EXECUTABLE, 0o755)
        os.symlink(SYMLINK[1], root / SYMLINK[0])
        (root / EMPTY_DIR).mkdir()
        api = engine(store, root, clock)
        for agent in AGENTS:
            api.agents.register(agent)
        scan_tree(root, store, WS, workers=1, clock=clock)
        writer = api.agent_principal("writer")
        reviewer = api.agent_principal("reviewer")
        synth = api.agent_principal("synth")

        first = FrameInput("summary", b"entry point")
        api.put_frame("src/app.py", first, principal=writer)
        api.put_frame("src/app.py", FrameInput("summary", b"entry point, v2"), principal=writer)
        api.put_frame("src/app.py", first, principal=writer)  # re-put: the head moves back
        api.put_frame("src/app.py", FrameInput("review", b"looks fine"), principal=reviewer)
        api.put_frame("README.md", FrameInput("note", SHARED), principal=writer)
        api.put_frame("docs/naïve.md", FrameInput("note", SHARED), principal=reviewer)
        for path in ("src/db/models.py", "src/db/pool.py", "docs/guide.md", "bin/run.sh"):
            api.put_frame(path, FrameInput("summary", f"about {path}".encode()), principal=writer)
        api.put_frame(
            "src/db/pool.py",
            FrameInput(
                "blob",
                b"\x00binary\xff",
                content_type="application/octet-stream",
                metadata={"origin": "test", "lang": "none"},
            ),
            principal=reviewer,
        )
        api.put_frame("link.md", FrameInput("note", b"a symlink's note"), principal=writer)
        api.synthesize_branch("src", "summary", principal=synth, recursive=True)

        # A second scan: pool.py's node changes, so its old frames stay with the older root.
        (root / "src/db/pool.py").write_text("# Pool\nPOOL = make_pool()\n", encoding="utf-8")
        scan_tree(root, store, WS, workers=1, clock=clock)
        api.put_frame(
            "src/db/pool.py", FrameInput("summary", b"the pool, rebuilt"), principal=writer
        )
        api.synthesize_branch("src", "summary", principal=synth, recursive=True)
    return WS


def older_root(store: StorageBackend, ws: WorkspaceId = WS) -> NodeId:
    """The root of the first scan, which is no longer current."""
    history = store.root_history(ws, 2)
    assert len(history) == 2
    assert history[0].root != history[1].root
    return history[1].root


def copy_to(source: StorageBackend, target: StorageBackend, ws: WorkspaceId = WS) -> WorkspaceId:
    """The same state of ``ws`` in ``target`` (a store without it), via ``copy_store``."""
    copy_store(source, target, workspace=ws)
    return ws
