"""The audit routes and X-Audit-Head: in process (ASGI) and against a real ``treeframe serve``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.audit_probe import audit_app
from tests.api.conftest import start_server, stop_server
from tests.api.test_app import AppClient
from treeframe.config.settings import Settings
from treeframe.engine.workspaces import WorkspaceService
from treeframe.ids import WorkspaceId
from treeframe.storage.sqlite import SqliteStore
from treeframe.storage.values import AclEntry
from treeframe.tree.scan import scan_tree

OWNER = {"X-Test-Agent": "alice"}
WRITER = {"X-Test-Agent": "bob", "X-Test-Perms": "read,write"}


def make_store(tmp_path: Path) -> tuple[Path, WorkspaceId]:
    """A real SQLite store with workspace ``team`` owned by alice, its tree scanned."""
    root = tmp_path / "tree"
    (root / "src").mkdir(parents=True)
    (root / "a.txt").write_text("a\n", encoding="utf-8")
    (root / "src" / "b.txt").write_text("b\n", encoding="utf-8")
    path = tmp_path / "store.db"
    with SqliteStore(path) as store:
        info, _ = WorkspaceService(store).create("team", owner="alice")
        scan_tree(root, store, info.workspace_id, workers=1)
        # bob may read and write (not administer); set directly, so it is not itself audited
        store.put_acl(info.workspace_id, AclEntry("bob", ("read", "write"), info.created_at, None))
    return path, info.workspace_id


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[AppClient, SqliteStore, Path, WorkspaceId]]:
    path, ws = make_store(tmp_path)
    store = SqliteStore(path)
    try:
        yield AppClient(audit_app(Settings(), store)), store, path, ws
    finally:
        store.close()


def put(client: AppClient | httpx.Client, ws: str, text: str, **headers: str) -> httpx.Response:
    return client.post(
        f"/v1/probe-audit/{ws}/frames",
        json={"path": "a.txt", "text": text},
        headers={**OWNER, **headers},
    )


def tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def test_a_write_sends_the_new_audit_head_and_records_the_request_id(setup) -> None:
    client, store, _, ws = setup
    response = put(client, ws, "hello", **{"X-Request-ID": "req-audit-1"})
    assert response.status_code == 200, response.text
    head = store.audit_head(ws)
    assert head is not None
    assert response.headers["x-audit-head"] == head.head == f"{head.seq}:{head.entry_hash}"
    assert (head.operation, head.agent, head.frame) == (
        "frame.put",
        "alice",
        response.json()["frame_id"],
    )
    assert head.request_id == "req-audit-1"
    generated = put(client, ws, "again")
    assert store.audit_head(ws).request_id == generated.headers["x-request-id"]  # type: ignore[union-attr]


def test_a_refused_write_sends_the_head_of_its_refusal(setup) -> None:
    client, store, _, ws = setup
    response = client.post(
        f"/v1/probe-audit/{ws}/frames", json={"path": "nope.txt", "text": "x"}, headers=OWNER
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "node_not_found"
    head = store.audit_head(ws)
    assert head is not None
    assert response.headers["x-audit-head"] == head.head
    assert (head.success, head.error, head.request_id) == (
        False,
        "node_not_found",
        response.headers["x-request-id"],
    )


def test_reads_send_no_audit_head(setup) -> None:
    client, _, _, ws = setup
    put(client, ws, "x")
    listed = client.get(f"/v1/workspaces/{ws}/audit", headers=OWNER)
    assert listed.status_code == 200
    assert "x-audit-head" not in listed.headers
    assert "x-audit-head" not in client.get("/v1/health/live").headers


def test_list_is_keyset_paged_and_filtered(setup) -> None:
    client, _, _, ws = setup
    for i in range(4):
        put(client, ws, f"put {i}")
    put(client, ws, "by bob", **WRITER)
    first = client.get(f"/v1/workspaces/{ws}/audit", params={"limit": 2}, headers=OWNER).json()
    assert [e["seq"] for e in first["entries"]] == [1, 2]
    assert first["entries"][0]["operation"] == "workspace.create"
    assert first["next_after"] == 2
    rest = client.get(
        f"/v1/workspaces/{ws}/audit", params={"after": 2, "limit": 100}, headers=OWNER
    ).json()
    assert [e["seq"] for e in rest["entries"]] == [3, 4, 5, 6]
    assert rest["next_after"] is None
    by_bob = client.get(f"/v1/workspaces/{ws}/audit", params={"agent": "bob"}, headers=OWNER)
    assert [e["agent"] for e in by_bob.json()["entries"]] == ["bob"]
    node = by_bob.json()["entries"][0]["node"]
    on_node = client.get(f"/v1/workspaces/{ws}/audit", params={"node": node}, headers=OWNER)
    assert len(on_node.json()["entries"]) == 5
    puts = client.get(
        f"/v1/workspaces/{ws}/audit", params={"operation": "frame.put"}, headers=OWNER
    ).json()
    assert {e["operation"] for e in puts["entries"]} == {"frame.put"}
    entry = puts["entries"][0]
    assert set(entry) == {
        "seq", "time", "workspace", "agent", "operation", "node", "frame",
        "success", "error", "request_id", "prev_hash", "entry_hash",
    }  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [{"operation": "frame.delete"}, {"limit": 0}, {"after": -1}, {"node": "ABC"}],
    ids=["operation", "limit", "after", "node"],
)
def test_bad_list_parameters_are_refused(setup, params) -> None:
    client, _, _, ws = setup
    response = client.get(f"/v1/workspaces/{ws}/audit", params=params, headers=OWNER)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "schema_validation_failed"


def test_the_audit_routes_need_admin(setup) -> None:
    client, _, _, ws = setup
    for route in ("audit", "audit/verify"):
        response = client.get(f"/v1/workspaces/{ws}/{route}", headers=WRITER)
        assert response.status_code == 403, route
        assert response.json()["error"]["code"] == "access_denied"
    unknown = client.get(f"/v1/workspaces/{'0' * 64}/audit", headers=OWNER)
    assert unknown.status_code == 404
    assert client.get(f"/v1/workspaces/{ws}/audit").status_code == 401


def verify(client: AppClient | httpx.Client, ws: str, head: str | None = None) -> dict:
    params = {} if head is None else {"head": head}
    response = client.get(f"/v1/workspaces/{ws}/audit/verify", params=params, headers=OWNER)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


@pytest.mark.parametrize(
    ("statements", "seq", "kind"),
    [
        (["UPDATE audit_log SET agent = 'mallory' WHERE seq = 3"], 3, "edited"),
        (["DELETE FROM audit_log WHERE seq = 3"], 3, "missing"),
        (
            [
                "UPDATE audit_log SET seq = -1 WHERE seq = 3",
                "UPDATE audit_log SET seq = 3 WHERE seq = 4",
                "UPDATE audit_log SET seq = 4 WHERE seq = -1",
            ],
            3,
            "reordered",
        ),
        (
            [
                "UPDATE audit_log SET seq = -seq WHERE seq >= 3",
                "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0",
                "INSERT INTO audit_log SELECT ws, 3, time, 'mallory', 'acl.grant', node, frame,"
                " 1, NULL, NULL, prev_hash, entry_hash FROM audit_log WHERE seq = 2",
            ],
            3,
            "inserted",
        ),
    ],
    ids=["edited", "deleted", "swapped", "inserted"],
)
def test_tampering_with_the_store_is_detected(setup, statements, seq, kind) -> None:
    client, _, path, ws = setup
    for i in range(4):
        put(client, ws, f"put {i}")
    assert verify(client, ws)["ok"] is True
    tamper(path, *statements)
    body = verify(client, ws)
    assert body["ok"] is False
    assert (body["problem"]["seq"], body["problem"]["kind"]) == (seq, kind), body


def test_truncation_is_detected_with_the_head_a_client_kept(setup) -> None:
    client, _, path, ws = setup
    heads = [put(client, ws, f"put {i}").headers["x-audit-head"] for i in range(4)]
    assert verify(client, ws, heads[-1]) == {
        "api_version": "1",
        "schema_version": "1",
        "ok": True,
        "entries": 5,
        "head": heads[-1],
        "problem": None,
    }
    tamper(path, "DELETE FROM audit_log WHERE seq >= 4")
    assert verify(client, ws)["ok"] is True  # a clean cut leaves no trace in the chain itself
    body = verify(client, ws, heads[-1])
    assert (body["ok"], body["problem"]["seq"], body["problem"]["kind"]) == (False, 5, "truncated")
    bad = client.get(f"/v1/workspaces/{ws}/audit/verify", params={"head": "5:xyz"}, headers=OWNER)
    assert bad.status_code == 422


def test_against_a_real_server_heads_and_tamper_detection(tmp_path: Path) -> None:
    path, ws = make_store(tmp_path)
    server = start_server(tmp_path, path, app="tests.api.audit_probe:audit_app")
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            heads = [put(http, ws, f"put {i}").headers["x-audit-head"] for i in range(3)]
            assert [int(h.split(":")[0]) for h in heads] == [2, 3, 4]
            assert verify(http, ws, heads[-1])["ok"] is True
            tamper(path, "UPDATE audit_log SET error = 'forged' WHERE seq = 2")
            body = verify(http, ws)
            assert (body["ok"], body["problem"]["seq"], body["problem"]["kind"]) == (
                False,
                2,
                "edited",
            )
    finally:
        stop_server(server)
