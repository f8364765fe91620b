"""Push over HTTP, in process: the client driver against the routes, and bad inputs as envelopes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from treeframe.api import create_app
from treeframe.api.deps import Identity, authenticate
from treeframe.client.push import PushInterrupted, error_from_response, push_tree
from treeframe.config.settings import Settings
from treeframe.engine.principal import Permission
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import ConcurrentUpdate, RecordMismatch, StoreCorrupt
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import NodeId, WorkspaceId
from treeframe.observability.progress import ProgressTracker
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.testing.factories import workspace_info
from treeframe.tree.records import NodeRecord
from treeframe.tree.scan import scan_tree

LOCAL_WS = workspace_id("local")
TREE = {
    "README.md": "hello\n",
    "src/app.py": "print('app')\n",
    "src/lib/util.py": "def f(): pass\n",
    "docs/guide.md": "# guide\n",
}
TOTAL = 1 + len(TREE) + 3  # the root, the files, src, src/lib, docs


def identity(*permissions: Permission) -> Identity:
    return Identity(
        agent_id="alice", token_id="t", scope=None, permissions=frozenset(permissions or Permission)
    )


class SyncASGI(httpx.BaseTransport):
    """A synchronous transport into an ASGI app (Starlette's TestClient warns on this httpx).

    It counts the records the server accepted, from the ``records`` responses.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.received = 0
        self.paths: list[str] = []
        self.before_commit: Callable[[], None] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        hook = self.before_commit
        if hook is not None and request.url.path.endswith("/commit"):
            self.before_commit = None
            hook()

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            response = await transport.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        response = asyncio.run(go())
        self.paths.append(request.url.path.rsplit("/", 1)[1])
        if request.url.path.endswith("/records") and response.status_code == 200:
            self.received += response.json()["received"]
        return response


@dataclass
class Env:
    tree: Path
    local: StorageBackend
    server: StorageBackend
    reference: StorageBackend
    ws: WorkspaceId
    app: Any
    transport: SyncASGI
    http: httpx.Client
    closers: list[Any] = field(default_factory=list)

    def scan(self) -> NodeId:
        root = scan_tree(self.tree, self.local, LOCAL_WS, workers=1).root
        assert scan_tree(self.tree, self.reference, self.ws, workers=1).root == root
        return root

    def push(self, **kwargs: Any) -> Any:
        return push_tree(self.http, self.ws, self.local, LOCAL_WS, self.scan(), **kwargs)

    def post(self, step: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"/v1/workspaces/{self.ws}/push/{step}", json=body, **kwargs)

    def node_count(self) -> int:
        return sum(1 for _ in self.server.iter_all_nodes(self.ws))

    def root(self) -> NodeId | None:
        current = self.server.current_root(self.ws)
        return current.root if current is not None else None


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def build(tmp_path: Path, settings: Settings | None = None) -> Env:
    tree = tmp_path / "tree"
    write(tree, TREE)
    local = open_store(sqlite_url(tmp_path / "local.db"), create=True)
    local.create_workspace(workspace_info(LOCAL_WS, "local"))
    server = open_store(sqlite_url(tmp_path / "server.db"), create=True)
    info, _ = WorkspaceService(server).create("team", owner="alice")
    reference = open_store(sqlite_url(tmp_path / "reference.db"), create=True)
    reference.create_workspace(workspace_info(info.workspace_id, "team"))
    app = create_app(settings or Settings(), server)
    app.dependency_overrides[authenticate] = lambda: identity()
    transport = SyncASGI(app)
    http = httpx.Client(transport=transport, base_url="http://api")
    return Env(tree, local, server, reference, info.workspace_id, app, transport, http)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    built = build(tmp_path)
    try:
        yield built
    finally:
        built.http.close()
        for store in (built.local, built.server, built.reference):
            store.close()


def indexes(store: StorageBackend, ws: WorkspaceId) -> tuple[Any, ...]:
    return (
        sorted(store.iter_all_paths(ws)),
        sorted(store.iter_all_path_history(ws)),
        [(entry.seq, entry.root) for entry in store.root_history(ws, 100)],
    )


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


def test_a_push_over_http_leaves_the_server_as_a_local_scan_would(env: Env):
    result = env.push()
    assert (result.sent, result.stored, result.skipped, result.changed) == (TOTAL, TOTAL, 0, True)
    assert env.transport.received == TOTAL == env.node_count()
    assert env.root() == result.root
    assert indexes(env.server, env.ws) == indexes(env.reference, env.ws)


def test_push_progress_reports_negotiate_then_send_each_ending_at_its_total(env: Env):
    tracker = ProgressTracker()
    result = env.push(batch_size=2, progress=tracker)
    final = {p.phase: (p.done, p.total) for p in tracker.phases()}
    assert final == {"negotiate": (result.offered, result.offered), "send": (TOTAL, TOTAL)}


def test_a_one_file_edit_sends_depth_plus_one_records(env: Env):
    env.push()
    env.transport.received = 0
    (env.tree / "src/lib/util.py").write_text("def g(): pass\n", encoding="utf-8")
    result = env.push()
    assert env.transport.received == result.sent == 3 + 1  # src/lib/util.py has depth 3
    assert result.paths_changed == 4  # "", src, src/lib, src/lib/util.py
    assert result.skipped == result.offered - result.sent
    assert indexes(env.server, env.ws) == indexes(env.reference, env.ws)


def test_an_interrupted_push_resumes_without_resending(env: Env):
    with pytest.raises(PushInterrupted) as stopped:
        env.push(batch_size=2, max_batches=2)
    assert stopped.value.sent == 4 == env.node_count()
    assert env.root() is None
    result = env.push(batch_size=2)
    assert result.sent == TOTAL - 4
    assert env.transport.received == TOTAL
    assert indexes(env.server, env.ws) == indexes(env.reference, env.ws)


def test_pushing_an_unchanged_tree_sends_nothing(env: Env):
    first = env.push()
    again = env.push()
    assert (again.sent, again.offered, again.changed, again.seq) == (0, 1, False, first.seq)
    assert env.transport.paths[-2:] == ["negotiate", "commit"]


def _file(path: str = "a.txt", data: bytes = b"a") -> dict[str, Any]:
    return NodeRecord.file(path, content_hash(data), len(data), False).to_dict()


def test_a_mismatched_record_is_refused_and_nothing_moves(env: Env):
    env.push()
    before = (env.node_count(), env.root())
    forged = dict(_file(), content_hash=content_hash(b"other"))
    error = assert_envelope(
        env.post("records", {"records": [_file("b"), forged]}), 422, "record_mismatch"
    )
    assert (error["error_type"], error["index"], error["got"]) == (
        "RecordMismatch",
        1,
        forged["node_id"],
    )
    assert (env.node_count(), env.root()) == before


def test_the_client_raises_the_library_error_from_the_envelope(env: Env):
    forged = dict(_file(), node_id="0" * 64)
    body = json.dumps({"records": [forged]}).encode()
    response = env.http.post(
        f"/v1/workspaces/{env.ws}/push/records",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    error = error_from_response(response)
    assert isinstance(error, RecordMismatch)
    assert error.got == "0" * 64  # type: ignore[attr-defined]


def test_a_root_missing_from_the_local_store_is_store_corrupt_and_nothing_is_sent(env: Env):
    with pytest.raises(StoreCorrupt, match="lacks node"):
        push_tree(env.http, env.ws, env.local, LOCAL_WS, NodeId("c" * 64))
    assert env.transport.paths == ["negotiate"]


def test_a_response_without_an_envelope_is_a_plain_treeframe_error():
    error = error_from_response(httpx.Response(502, text="bad gateway"))
    assert (type(error).__name__, error.message) == (
        "TreeframeError",
        "HTTP 502 without an error envelope",
    )


@pytest.mark.parametrize(
    ("step", "body", "field"),
    [
        ("negotiate", {"root": "xyz"}, "root"),
        ("negotiate", {"root": "a" * 64, "node_ids": ["A" * 64]}, "node_ids.0"),
        ("negotiate", {"root": "a" * 64, "extra": 1}, "extra"),
        ("records", {"records": "nope"}, "records"),
        ("records", {"records": [1]}, "records.0"),
        ("commit", {"root": "a" * 64}, "expected_root"),
    ],
    ids=["bad-root", "uppercase-id", "unknown-field", "not-a-list", "not-an-object", "no-expected"],
)
def test_bodies_that_break_the_schema_are_422_listing_the_field(
    env: Env, step: str, body: Any, field: str
):
    error = assert_envelope(env.post(step, body), 422, "schema_validation_failed")
    assert field in [e["field"] for e in error["errors"]]


def test_malformed_records_are_422_listed_by_index_and_nothing_is_stored(env: Env):
    bad = dict(_file(), executable="false")
    error = assert_envelope(
        env.post("records", {"records": [_file(), bad, {"schema": "node/1"}]}),
        422,
        "schema_validation_failed",
    )
    assert [e["field"] for e in error["errors"]] == ["records.1", "records.2"]
    assert env.node_count() == 0


def test_a_directory_without_its_children_is_incomplete(env: Env):
    child = NodeRecord.file("a.txt", content_hash(b"a"), 1, False)
    parent = NodeRecord.directory("", [("a.txt", child.node_id)])
    error = assert_envelope(
        env.post("records", {"records": [parent.to_dict()]}), 422, "incomplete_tree"
    )
    assert error["missing"] == [child.node_id]
    assert env.node_count() == 0


def test_a_batch_over_the_configured_limit_is_refused(tmp_path: Path):
    small = build(tmp_path, Settings.model_validate({"limits": {"max_batch": 2}}))
    try:
        records = [_file("a"), _file("b"), _file("c")]
        error = assert_envelope(small.post("records", {"records": records}), 400, "invalid_request")
        assert "limit of 2" in error["message"]
        assert small.node_count() == 0
        result = small.push()  # the client keeps to the limit the negotiation announced
        assert result.batches == (TOTAL + 1) // 2
        assert small.root() == result.root
    finally:
        small.http.close()
        for store in (small.local, small.server, small.reference):
            store.close()


def test_a_commit_that_lost_the_race_is_409_and_the_client_raises_concurrent_update(
    env: Env, tmp_path: Path
):
    env.push()
    first = env.root()
    rival_tree = tmp_path / "rival"
    write(rival_tree, {"other.txt": "someone else's tree\n"})
    rival: list[NodeId] = []

    def rival_scan() -> None:  # another writer moves the root between records and commit
        rival.append(scan_tree(rival_tree, env.server, env.ws, workers=1).root)

    env.transport.before_commit = rival_scan
    (env.tree / "README.md").write_text("mine\n", encoding="utf-8")
    with pytest.raises(ConcurrentUpdate) as lost:
        env.push()
    assert (lost.value.expected, lost.value.actual) == (first, rival[0])  # type: ignore[attr-defined]
    assert env.root() == rival[0]
    error = assert_envelope(
        env.post("commit", {"root": env.scan(), "expected_root": first}), 409, "concurrent_update"
    )
    assert (error["expected"], error["actual"]) == (first, rival[0])


def test_a_commit_of_a_root_the_server_lacks_is_incomplete(env: Env):
    root = env.scan()
    error = assert_envelope(
        env.post("commit", {"root": root, "expected_root": None}), 422, "incomplete_tree"
    )
    assert error["missing"] == [root]
    assert env.root() is None


def test_a_read_only_caller_may_not_push(env: Env):
    env.app.dependency_overrides[authenticate] = lambda: identity(Permission.READ)
    root = env.scan()
    for step, body in [
        ("negotiate", {"root": root}),
        ("records", {"records": [_file()]}),
        ("commit", {"root": root, "expected_root": None}),
    ]:
        assert_envelope(env.post(step, body), 403, "access_denied")
    assert env.node_count() == 0


def test_without_credentials_push_is_401_and_an_unknown_workspace_404(env: Env):
    other = workspace_id("nobody")
    response = env.http.post(f"/v1/workspaces/{other}/push/negotiate", json={"root": "a" * 64})
    assert_envelope(response, 404, "workspace_not_found")
    del env.app.dependency_overrides[authenticate]
    assert_envelope(env.post("negotiate", {"root": "a" * 64}), 401, "unauthorized")
