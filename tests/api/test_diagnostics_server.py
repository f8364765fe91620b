"""The diagnostics routes on a real ``treeframe serve``, and the CLI's remote diff/explain.

One CLI-made workspace (two scans, frames, one of them stale), served with
real authentication by a reader's token: diff, explain and verify need only
``read``. Remote ``diff`` and ``explain`` print what the local commands print.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Server, start_server, stop_server
from tests.api.routes_env import SAMPLE, write_tree
from tests.client.test_cli_remote import checked, in_process
from treeframe.hashing.ids import workspace_id

WS = workspace_id("default")


@dataclass
class World:
    root: Path
    server: Server
    token: str
    frame_id: str

    def http(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def both(self, *args: str) -> tuple[str, str]:
        local = checked(in_process(self.root, *args)).stdout
        flags = ("--server", self.server.url, "--token", self.token)
        return local, checked(in_process(self.root, *args, *flags)).stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("diagnostics")
    root = tmp / "tree"
    root.mkdir()
    write_tree(root, SAMPLE)
    for args in (
        ("init",),
        ("agent", "add", "alice", "--role", "writer"),
        ("scan",),
    ):
        checked(in_process(root, *args))
    put = ("put", "README.md", "--type", "summary", "--agent", "alice", "--content", "old")
    frame_id = checked(in_process(root, *put, "--json")).json()["frame_id"]
    (root / "README.md").write_text("# changed since the frame\n", encoding="utf-8")
    checked(in_process(root, "scan"))
    grant = ("acl", "grant", "--workspace", "default", "--agent", "rita", "--perm", "read")
    checked(in_process(root, *grant))
    made = checked(
        in_process(
            root,
            *("token", "create", "--workspace", "default", "--agent", "rita", "--perm", "read"),
            "--json",
        )
    ).json()
    server = start_server(tmp, root / ".treeframe" / "store.db", app=None)
    try:
        yield World(root, server, made["token"], frame_id)
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    "args",
    [("diff", "HEAD~1"), ("diff", "HEAD~1", "HEAD", "--json"), ("diff", "HEAD", "HEAD")],
    ids=" ".join,
)
def test_remote_diff_prints_what_local_diff_prints(world: World, args: tuple[str, ...]) -> None:
    local, remote = world.both(*args)
    assert local == remote
    assert local


@pytest.mark.parametrize("json_flag", [(), ("--json",)], ids=["text", "json"])
def test_remote_explain_prints_what_local_explain_prints(
    world: World, json_flag: tuple[str, ...]
) -> None:
    local, remote = world.both("explain", world.frame_id, *json_flag)
    assert local == remote
    assert "stale" in local


def test_diff_route_names_the_change(world: World) -> None:
    with world.http() as http:
        answer = http.get(f"/v1/workspaces/{WS}/diff", params={"from": "HEAD~1"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["api_version"] == "1"
        assert [(e["path"], e["kind"]) for e in body["entries"]] == [("README.md", "changed")]
        assert answer.headers["cache-control"] == "no-cache"
        bad = http.get(f"/v1/workspaces/{WS}/diff", params={"from": "zz"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_id"
        unknown = http.get(f"/v1/workspaces/{WS}/diff", params={"from": "abcd" * 16})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "node_not_found"


def test_explain_route_says_since_which_root(world: World) -> None:
    with world.http() as http:
        answer = http.get(f"/v1/workspaces/{WS}/frames/{world.frame_id}/explain")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["verdict"] == "stale"
        assert body["since"]["seq"] == 2
        assert body["node_current"] is False
        missing = http.get(f"/v1/workspaces/{WS}/frames/{'e' * 64}/explain")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "frame_not_found"


def test_verify_route_full_scoped_and_bad_since(world: World) -> None:
    with world.http() as http:
        full = http.post(f"/v1/workspaces/{WS}/verify", json={})
        assert full.status_code == 200, full.text
        body = full.json()
        assert body["ok"] is True
        assert body["complete"] is True
        assert body["scope"] == "all"
        scoped = http.post(
            f"/v1/workspaces/{WS}/verify", json={"since": "HEAD~1", "max_duration_ms": 60000}
        ).json()
        assert scoped["scope"] == "since"
        assert scoped["checked"]["nodes"] < body["checked"]["nodes"]
        bad = http.post(f"/v1/workspaces/{WS}/verify", json={"since": "nope"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_id"
        extra = http.post(f"/v1/workspaces/{WS}/verify", json={"max_duration_ms": 0})
        assert extra.status_code == 422


def test_verify_runs_as_a_job_with_the_synchronous_result_and_phases(world: World) -> None:
    with world.http() as http:
        direct = http.post(f"/v1/workspaces/{WS}/verify", json={})
        started = http.post(
            f"/v1/workspaces/{WS}/verify", json={}, headers={"Prefer": "respond-async"}
        )
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        deadline = time.monotonic() + 30
        while (job := http.get(location).json())["state"] == "running":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        refused = http.post(
            f"/v1/workspaces/{WS}/verify",
            json={"since": "nope"},
            headers={"Prefer": "respond-async"},
        )
    assert job["state"] == "succeeded", job
    assert job["operation"] == "workspace.verify"
    assert job["result"] == direct.json()
    phases = {p["phase"]: p for p in job["progress"]}
    assert {"nodes", "frames"} <= set(phases)
    assert phases["nodes"]["done"] == direct.json()["checked"]["nodes"]
    assert refused.status_code == 400  # a malformed root is refused at once, never a job
    assert refused.json()["error"]["code"] == "invalid_id"
