"""End to end: ``treeframe push`` against a real ``treeframe serve`` subprocess, and ``serve --scan``.

The server runs :func:`push_app` (``--app tests.api.test_push_server:push_app``):
the real app with authentication overridden to one agent holding every
permission, since tokens are another slice's work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import REPO, Server, start_server, stop_server
from tests.cli.test_json_schemas import _validate as validate_json
from treeframe.api import create_app
from treeframe.api.deps import Identity, authenticate
from treeframe.client.push import PushInterrupted, push_tree
from treeframe.config.settings import Settings
from treeframe.engine.principal import Permission
from treeframe.engine.workspaces import WorkspaceService
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.memory import MemoryStore
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.testing.factories import workspace_info
from treeframe.tree.records import NodeRecord
from treeframe.tree.scan import scan_tree

APP = "tests.api.test_push_server:push_app"
LOCAL = workspace_id("local")
TREE = {
    "README.md": "hello\n",
    "src/app.py": "print('app')\n",
    "src/lib/util.py": "def f(): pass\n",
    "docs/guide.md": "# guide\n",
}
TOTAL = 1 + len(TREE) + 3


def push_app(settings: Settings, store: StorageBackend, *, close_store: bool = False) -> FastAPI:
    """The v1 app where every caller is agent ``alice`` with every permission."""
    app = create_app(settings, store, close_store=close_store)
    app.dependency_overrides[authenticate] = lambda: Identity(
        agent_id="alice", token_id="t", scope=None, permissions=frozenset(Permission)
    )
    return app


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("push-serve")
    store_path = tmp / "store.db"
    open_store(sqlite_url(store_path), create=True).close()
    running = start_server(tmp, store_path, app=APP)
    try:
        yield running
    finally:
        stop_server(running)


def workspace(server: Server, name: str) -> WorkspaceId:
    """A fresh workspace owned by alice, created in the server's store beside the server."""
    with open_store(sqlite_url(server.store_path), create=False) as store:
        info, _ = WorkspaceService(store).create(name, owner="alice")
    return info.workspace_id


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "treeframe", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
    )


def reference(tree: Path, ws: WorkspaceId) -> MemoryStore:
    store = MemoryStore("memory://")
    store.create_workspace(workspace_info(ws, "ref"))
    scan_tree(tree, store, ws, workers=1)
    return store


def indexes(store: StorageBackend, ws: WorkspaceId) -> tuple[Any, ...]:
    return (
        sorted(store.iter_all_paths(ws)),
        sorted(store.iter_all_path_history(ws)),
        [entry.root for entry in store.root_history(ws, 100)],
    )


def test_treeframe_push_syncs_a_tree_then_sends_depth_plus_one_after_an_edit(
    server: Server, tmp_path: Path
):
    ws = workspace(server, "e2e")
    tree = tmp_path / "tree"
    write(tree, TREE)
    ref = MemoryStore("memory://")
    ref.create_workspace(workspace_info(ws, "e2e"))

    first = cli("push", "--server", server.url, "--workspace", "e2e", str(tree), "--json")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    validate_json("push", out)  # the schema docs/CLI.md gives
    assert (out["sent"], out["stored"], out["skipped"], out["changed"]) == (TOTAL, TOTAL, 0, True)
    assert out["workspace_id"] == ws
    assert out["root"] == scan_tree(tree, ref, ws, workers=1).root

    (tree / "src/lib/util.py").write_text("def g(): pass\n", encoding="utf-8")
    second = cli("push", "--workspace", ws, str(tree), env={"TREEFRAME_SERVER": server.url})
    assert second.returncode == 0, second.stderr
    assert "4 sent" in second.stdout  # src/lib/util.py: depth 3, plus one
    assert "changed, seq 2" in second.stdout
    scan_tree(tree, ref, ws, workers=1)
    with open_store(sqlite_url(server.store_path), create=False) as store:
        assert indexes(store, ws) == indexes(ref, ws)


def test_a_push_stopped_part_way_is_finished_by_the_next_run(server: Server, tmp_path: Path):
    ws = workspace(server, "resume")
    tree = tmp_path / "tree"
    write(tree, TREE)
    local = reference(tree, LOCAL)
    current = local.current_root(LOCAL)
    assert current is not None
    with (
        httpx.Client(base_url=server.url, timeout=10) as http,
        pytest.raises(PushInterrupted) as stopped,
    ):
        push_tree(http, ws, local, LOCAL, current.root, batch_size=2, max_batches=2)
    assert stopped.value.sent == 4
    rerun = cli("push", "--server", server.url, "--workspace", ws, str(tree), "--json")
    assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    assert (out["root"], out["sent"], out["changed"]) == (current.root, TOTAL - 4, True)


def test_push_of_a_local_workspace_scans_it_with_its_own_store(server: Server, tmp_path: Path):
    ws = workspace(server, "from-workspace")
    tree = tmp_path / "tree"
    write(tree, TREE)
    assert cli("init", str(tree)).returncode == 0
    pushed = cli(
        "push", "--server", server.url, "--workspace", "from-workspace", str(tree), "--json"
    )
    assert pushed.returncode == 0, pushed.stderr
    out = json.loads(pushed.stdout)
    validate_json("push", out)
    status = cli("status", "--json", cwd=tree)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["current"]["root"] == out["root"]  # the local one was scanned
    assert out["files"] == len(TREE)  # .treeframe/ itself is never part of the tree
    with open_store(sqlite_url(server.store_path), create=False) as store:
        current = store.current_root(ws)
        assert current is not None
        assert current.root == out["root"]


def test_a_mismatched_record_is_refused_by_the_real_server_and_nothing_moves(
    server: Server, tmp_path: Path
):
    ws = workspace(server, "mismatch")
    data = b"a"
    record = NodeRecord.file("a.txt", content_hash(data), 1, False).to_dict()
    forged = dict(record, executable=True)  # same NodeID, different hashed field
    root = NodeRecord.directory("", [("a.txt", record["node_id"])]).to_dict()
    with httpx.Client(base_url=server.url, timeout=10) as http:
        response = http.post(f"/v1/workspaces/{ws}/push/records", json={"records": [forged, root]})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "record_mismatch"
        commit = http.post(
            f"/v1/workspaces/{ws}/push/commit",
            json={"root": root["node_id"], "expected_root": None},
        )
        assert commit.json()["error"]["code"] == "incomplete_tree"
    with open_store(sqlite_url(server.store_path), create=False) as store:
        assert list(store.iter_all_nodes(ws)) == []
        assert store.current_root(ws) is None


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--workspace", "e2e"], "config_error"),  # no --server
        (["--workspace", "nobody", "--server", "SERVER"], "workspace_not_found"),
        (["--workspace", "e2e", "--server", "http://127.0.0.1:9"], "backend_unavailable"),
    ],
    ids=["no-server", "unknown-workspace", "unreachable"],
)
def test_push_failures_are_one_line_and_exit_1(
    server: Server, tmp_path: Path, args: list[str], code: str
):
    write(tmp_path / "t", {"a.txt": "a"})
    args = [server.url if a == "SERVER" else a for a in args]
    result = cli("push", *args, str(tmp_path / "t"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"[{code}]" in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_scan_tracks_a_directory_into_a_workspace(tmp_path: Path):
    tree = tmp_path / "tracked"
    write(tree, TREE)
    store_path = tmp_path / "scan.db"
    open_store(sqlite_url(store_path), create=True).close()
    running = start_server(tmp_path, store_path, app=APP, args=["--scan", f"{tree}=tracked"])
    try:
        ws = workspace_id("tracked")
        root = reference(tree, ws).current_root(ws)
        assert root is not None
        with httpx.Client(base_url=running.url, timeout=10) as http:
            answer = http.post(f"/v1/workspaces/{ws}/push/negotiate", json={"root": root.root})
        assert answer.status_code == 200, answer.text
        assert (answer.json()["current_root"], answer.json()["root_present"]) == (root.root, True)
        assert "scanned" in running.log()
        assert "tracked" in running.log()
    finally:
        stop_server(running)
    with open_store(sqlite_url(store_path), create=False) as store:
        assert indexes(store, ws) == indexes(reference(tree, ws), ws)


def test_serve_refuses_a_malformed_scan_spec_before_binding(tmp_path: Path):
    store_path = tmp_path / "s.db"
    open_store(sqlite_url(store_path), create=True).close()
    result = cli("serve", "--store", sqlite_url(store_path), "--port", "0", "--scan", "no-equals")
    assert result.returncode == 1
    assert "[config_error]" in result.stderr
    assert "DIR=WORKSPACE" in result.stderr
