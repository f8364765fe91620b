"""A scanned workspace on a real store, with agents of every role."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from treeframe.engine.agents import AgentRecord
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Principal
from treeframe.engine.runtime import Runtime
from treeframe.engine.types import FrameInput
from treeframe.hashing.ids import workspace_id
from treeframe.storage.base import StorageBackend
from treeframe.storage.cache.local import LocalStamps
from treeframe.storage.cache.lru import ByteLRU
from treeframe.storage.cache.store import CachedStore
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree
from treeframe.workspace.working_tree import WorkingTreeContents

WS = workspace_id("engine-tests")


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Write files dated an hour back, so rescans trust the stat cache."""
    past = time.time_ns() - 3600 * 10**9
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        os.utime(path, ns=(past, past))


@dataclass
class Env:
    root: Path
    store: StorageBackend
    api: ContextAPI

    def scan(self) -> None:
        scan_tree(self.root, self.store, WS, workers=1)

    def edit(self, rel: str, text: str) -> None:
        (self.root / rel).write_text(text, encoding="utf-8")
        self.scan()

    @property
    def owner(self) -> Principal:
        """The local owner of the workspace (what the CLI acts as without ``--as``)."""
        return Principal.owner(WS)

    def principal(self, agent: str) -> Principal:
        """The principal of a registered agent, as the CLI builds it for ``--as``/``--agent``."""
        return self.api.agent_principal(agent)

    def put(self, path: str, frame_type: str, text: str, agent: str = "writer") -> str:
        return self.api.put_frame(
            path, FrameInput(frame_type, text.encode()), principal=self.principal(agent)
        )


SAMPLE = {
    "README.md": "# Project\nTop level readme.\n",
    "src/app.py": "# App entry\nprint('hi')\n",
    "src/db/models.py": "# Models\nclass User: ...\n",
    "src/db/pool.py": "# Pool\nPOOL = None\n",
    "docs/guide.md": "# Guide\nHow to use it.\n",
}

AGENTS = {
    "reader": AgentRecord("reader", "reader"),
    "writer": AgentRecord("writer", "writer"),
    "capable": AgentRecord("capable", "writer", capabilities=("synthesize",)),
    "synth": AgentRecord("synth", "synthesis"),
    "stats": AgentRecord("stats", "writer", generator="stats"),
}


def _cached(store: StorageBackend) -> StorageBackend:
    """Every engine behaviour again behind the caches: they must never change an answer.

    Tiny LRUs, so evictions happen mid-test too; stamps of this process (the
    only writer), so heads, roots and path look-ups are cached as well.
    """
    cached: StorageBackend = CachedStore(
        store, records=ByteLRU(32 << 10), stamps=LocalStamps(), mutable=ByteLRU(8 << 10)
    )
    return cached


@pytest.fixture(params=["memory", "sqlite", "cached-sqlite"])
def env(request, tmp_path) -> Env:
    root = tmp_path / "ws"
    write_tree(root, SAMPLE)
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'store.db'}"
    store = open_store(url)
    if request.param == "cached-sqlite":
        store = _cached(store)
    store.create_workspace(workspace_info(WS, "engine-tests"))
    # A runtime per test: plugin registries and locks are never shared between tests.
    api = ContextAPI(store, WS, files=WorkingTreeContents(root), runtime=Runtime())
    for agent in AGENTS.values():
        api.agents.register(agent)
    environment = Env(root, store, api)
    environment.scan()
    yield environment
    store.close()
