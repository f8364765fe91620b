"""A scanned workspace behind the real app, over a real SQLite store, for the node/frame/op routes.

Authentication is not what these tests are about: ``authenticate`` is
overridden with an identity holding every permission, and the workspace is
created owned by that agent.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from treeframe.api import create_app
from treeframe.api.deps import Identity, authenticate
from treeframe.config.settings import Settings
from treeframe.engine.principal import Permission
from treeframe.engine.workspaces import WorkspaceService
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.tree.scan import scan_tree

AGENT = "alice"

SAMPLE = {
    "README.md": "# Project\nTop level readme.\n",
    "src/app.py": "# App entry\nprint('hi')\n",
    "src/db/models.py": "# Models\nclass User: ...\n",
    "src/db/pool.py": "# Pool\nPOOL = None\n",
    "docs/guide.md": "# Guide\nHow to use it.\n",
}


def alice() -> Identity:
    return Identity(agent_id=AGENT, token_id="t", scope=None, permissions=frozenset(Permission))


def install_override(app: FastAPI) -> FastAPI:
    """Every request acts as ``alice`` with every permission."""
    app.dependency_overrides[authenticate] = alice
    return app


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
    ws: WorkspaceId
    app: FastAPI
    http: AppClient

    @property
    def base(self) -> str:
        return f"/v1/workspaces/{self.ws}"

    def scan(self) -> None:
        scan_tree(self.root, self.store, self.ws, workers=1)

    def edit(self, rel: str, text: str) -> None:
        (self.root / rel).write_text(text, encoding="utf-8")
        self.scan()

    def node_id(self, path: str) -> str:
        found = self.store.lookup_path(self.ws, path)
        assert found is not None, path
        return found

    def put(self, path: str, frame_type: str, text: str, **extra: object) -> httpx.Response:
        body = {"node_id": path, "frame": {"frame_type": frame_type, "content": text, **extra}}
        return self.http.post(f"{self.base}/frames", json=body)


def make_env(tmp_path: Path, settings: Settings | None = None) -> Iterator[Env]:
    root = tmp_path / "tree"
    root.mkdir()
    write_tree(root, SAMPLE)
    store = open_store(sqlite_url(tmp_path / "store.db"), create=True)
    try:
        info, _ = WorkspaceService(store).create("routes", owner=AGENT)
        scan_tree(root, store, info.workspace_id, workers=1)
        app = install_override(create_app(settings or Settings(), store))
        yield Env(root, store, info.workspace_id, app, AppClient(app))
    finally:
        store.close()


class AppClient:
    """A synchronous client over ``httpx.ASGITransport``: real HTTP semantics, in process."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                return await http.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)
