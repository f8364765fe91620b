"""PushReceiver on real SQLite stores: a client store scanned locally, a server store receiving it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from treeframe.engine.principal import Permission, Principal
from treeframe.engine.push import PushReceiver, check_path
from treeframe.errors import (
    AccessDenied,
    ConcurrentUpdate,
    IncompleteTree,
    InvalidPath,
    InvalidRequest,
    RecordMismatch,
    SchemaValidationFailed,
)
from treeframe.hashing.ids import content_hash, workspace_id
from treeframe.ids import NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.testing.factories import workspace_info
from treeframe.tree.records import NodeRecord
from treeframe.tree.scan import scan_tree

CLIENT_WS = workspace_id("client")
SERVER_WS = workspace_id("server")
WRITER = Principal("alice", SERVER_WS, frozenset(Permission))

TREE = {
    "README.md": "hello\n",
    "src/app.py": "print('app')\n",
    "src/lib/util.py": "def f(): pass\n",
    "src/lib/deep/leaf.txt": "leaf\n",
    "docs/guide.md": "# guide\n",
    "docs/api/index.md": "# api\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def make(path: Path, ws: WorkspaceId, name: str) -> StorageBackend:
    store = open_store(sqlite_url(path), create=True)
    store.create_workspace(workspace_info(ws, name))
    return store


@dataclass
class Pushed:
    """What one protocol run sent: per-batch record counts and the commit."""

    offered: int = 0
    sent: int = 0
    stored: int = 0
    batches: list[int] = field(default_factory=list)


def push(
    receiver: PushReceiver,
    source: StorageBackend,
    root: NodeId,
    *,
    principal: Principal = WRITER,
    batch: int = 1000,
    max_batches: int | None = None,
) -> Pushed:
    """The protocol, driven in-process (the client module does the same over HTTP)."""
    out = Pushed()
    first = receiver.negotiate(root, principal=principal)
    out.offered = 1
    levels: list[list[NodeRecord]] = []
    frontier = [] if first.root_present else [root]
    while frontier:
        found = source.get_nodes(CLIENT_WS, frontier)
        records = [found[n] for n in frontier]
        levels.append(records)
        children = [c for r in records for _, c in r.children]
        out.offered += len(children)
        missing: list[NodeId] = []
        for start in range(0, len(children), batch):
            answer = receiver.negotiate(root, children[start : start + batch], principal=principal)
            missing += answer.missing
        frontier = missing
    ordered = [r.to_dict() for level in reversed(levels) for r in level]
    for start in range(0, len(ordered), batch):
        if max_batches is not None and len(out.batches) >= max_batches:
            return out
        got = receiver.receive(ordered[start : start + batch], principal=principal)
        out.batches.append(got.received)
        out.sent += got.received
        out.stored += got.stored
    receiver.commit(root, first.current_root, principal=principal)
    return out


@dataclass
class Env:
    tmp: Path
    tree: Path
    client: StorageBackend
    server: StorageBackend
    reference: StorageBackend  # scans the same tree itself: what the server must end up equal to
    receiver: PushReceiver

    def scan(self) -> NodeId:
        root = scan_tree(self.tree, self.client, CLIENT_WS, workers=1).root
        assert scan_tree(self.tree, self.reference, SERVER_WS, workers=1).root == root
        return root

    def node_count(self) -> int:
        return sum(1 for _ in self.server.iter_all_nodes(SERVER_WS))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    tree = tmp_path / "tree"
    write(tree, TREE)
    client = make(tmp_path / "client.db", CLIENT_WS, "client")
    server = make(tmp_path / "server.db", SERVER_WS, "server")
    reference = make(tmp_path / "reference.db", SERVER_WS, "server")
    try:
        yield Env(tmp_path, tree, client, server, reference, PushReceiver(server, SERVER_WS))
    finally:
        for store in (client, server, reference):
            store.close()


def indexes(store: StorageBackend) -> tuple[Any, ...]:
    history = store.root_history(SERVER_WS, 100)
    return (
        sorted(store.iter_all_paths(SERVER_WS)),
        sorted(store.iter_all_path_history(SERVER_WS)),
        [(entry.seq, entry.root) for entry in history],
    )


def test_first_push_makes_the_server_equal_to_a_local_scan(env: Env):
    root = env.scan()
    result = push(env.receiver, env.client, root)
    current = env.server.current_root(SERVER_WS)
    assert current is not None
    assert current.root == root
    total = 1 + len(TREE) + 5  # the root, the files, src, src/lib, src/lib/deep, docs, docs/api
    assert result.sent == result.stored == total == env.node_count()
    assert indexes(env.server) == indexes(env.reference)


def test_one_file_edit_sends_exactly_depth_plus_one_records(env: Env):
    push(env.receiver, env.client, env.scan())
    (env.tree / "src/lib/deep/leaf.txt").write_text("changed\n", encoding="utf-8")
    root = env.scan()
    result = push(env.receiver, env.client, root)
    assert result.sent == result.stored == 4 + 1  # "src/lib/deep/leaf.txt" has depth 4
    assert indexes(env.server) == indexes(env.reference)


def test_adds_removals_and_kind_changes_keep_every_index_equal_to_a_scan(env: Env):
    push(env.receiver, env.client, env.scan())
    write(env.tree, {"new/dir/a.txt": "a", "new/b.txt": "b"})
    for path in ("src/lib/deep/leaf.txt", "docs/api/index.md"):
        (env.tree / path).unlink()
    (env.tree / "src/lib/deep").rmdir()
    (env.tree / "docs/api").rmdir()
    (env.tree / "docs/api").write_text("now a file\n", encoding="utf-8")  # dir -> file
    (env.tree / "README.md").unlink()
    write(env.tree, {"README.md/inner.txt": "file -> dir"})
    push(env.receiver, env.client, env.scan())
    paths, history, roots = indexes(env.server)
    assert len(history) > 5  # replaced and removed paths were recorded
    assert len(roots) == 2
    assert (paths, history, roots) == indexes(env.reference)
    assert env.server.lookup_path(SERVER_WS, "src/lib/deep/leaf.txt") is None
    assert env.server.lookup_path(SERVER_WS, "README.md/inner.txt") is not None


def test_pushing_the_same_tree_again_sends_nothing_and_moves_nothing(env: Env):
    root = env.scan()
    push(env.receiver, env.client, root)
    again = push(env.receiver, env.client, root)
    assert (again.sent, again.offered) == (0, 1)
    assert len(env.server.root_history(SERVER_WS, 10)) == 1


def test_an_interrupted_push_resumes_sending_only_what_is_missing(env: Env):
    root = env.scan()
    total = 1 + len(TREE) + 5
    first = push(env.receiver, env.client, root, batch=3, max_batches=2)
    assert first.sent == 6
    assert env.node_count() == 6
    assert env.server.current_root(SERVER_WS) is None  # never committed
    second = push(env.receiver, env.client, root, batch=3)
    assert second.sent == total - 6
    assert env.node_count() == total
    current = env.server.current_root(SERVER_WS)
    assert current is not None
    assert current.root == root
    assert indexes(env.server) == indexes(env.reference)


def _records(env: Env) -> list[dict[str, Any]]:
    """Every record of the client's tree, bottom-up (as a push would send them)."""
    root = env.scan()
    out: list[NodeRecord] = []

    def walk(node_id: NodeId) -> None:
        record = env.client.get_node(CLIENT_WS, node_id)
        assert record is not None
        for _, child in record.children:
            walk(child)
        out.append(record)

    walk(root)
    return [record.to_dict() for record in out]


def test_a_record_whose_id_does_not_match_is_refused_and_nothing_is_stored(env: Env):
    records = _records(env)
    tampered = dict(records[0], content_hash=content_hash(b"something else"))
    with pytest.raises(RecordMismatch) as caught:
        env.receiver.receive([*records[1:], tampered], principal=WRITER)
    assert caught.value.index == len(records) - 1
    assert caught.value.got == tampered["node_id"] != caught.value.expected
    assert env.node_count() == 0


def test_a_forged_node_id_is_refused(env: Env):
    records = _records(env)
    forged = dict(records[0], node_id="0" * 64)
    with pytest.raises(RecordMismatch):
        env.receiver.receive([forged], principal=WRITER)
    assert env.node_count() == 0


def test_a_directory_naming_a_child_at_another_path_is_refused(env: Env):
    file_a = NodeRecord.file("a.txt", content_hash(b"a"), 1, False)
    lying = NodeRecord.directory("", [("b.txt", file_a.node_id)])  # a.txt's record, named b.txt
    with pytest.raises(RecordMismatch) as caught:
        env.receiver.receive([file_a.to_dict(), lying.to_dict()], principal=WRITER)
    assert (caught.value.expected, caught.value.got) == ("b.txt", "a.txt")
    assert env.node_count() == 0


def test_a_directory_naming_a_stored_child_at_another_path_is_refused(env: Env):
    file_a = NodeRecord.file("a.txt", content_hash(b"a"), 1, False)
    env.receiver.receive([file_a.to_dict()], principal=WRITER)
    lying = NodeRecord.directory("", [("b.txt", file_a.node_id)])
    with pytest.raises(RecordMismatch):
        env.receiver.receive([lying.to_dict()], principal=WRITER)
    assert env.node_count() == 1


def test_a_directory_without_its_children_is_refused(env: Env):
    records = _records(env)
    root = records[-1]
    with pytest.raises(IncompleteTree) as caught:
        env.receiver.receive([root], principal=WRITER)
    assert set(caught.value.missing) == {child for _, child in root["children"]}
    assert env.node_count() == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "node/2"}, "unsupported schema"),
        ({"executable": "false"}, "executable must be bool"),
        ({"path": "a/../b.txt"}, "invalid path component"),
        ({"path": "/abs.txt"}, "invalid path component"),
        ({"path": "cafe\u0301.txt"}, "not NFC-normalized"),
        ({"node_id": "ABC"}, "malformed NodeID"),
    ],
    ids=["schema", "type", "dotdot", "absolute", "nfd", "bad-id"],
)
def test_malformed_records_are_listed_by_index_and_nothing_is_stored(
    env: Env, change: dict[str, Any], message: str
):
    good = NodeRecord.file("a.txt", content_hash(b"a"), 1, False).to_dict()
    with pytest.raises(SchemaValidationFailed) as caught:
        env.receiver.receive([good, dict(good, **change), 7], principal=WRITER)
    errors = caught.value.errors
    assert [e["field"] for e in errors] == ["records.1", "records.2"]
    assert message in errors[0]["message"]
    assert env.node_count() == 0


def test_unsorted_children_are_malformed(env: Env):
    a = NodeRecord.file("a", content_hash(b"a"), 1, False)
    b = NodeRecord.file("b", content_hash(b"b"), 1, False)
    d = NodeRecord.directory("", [("a", a.node_id), ("b", b.node_id)]).to_dict()
    d["children"] = list(reversed(d["children"]))
    with pytest.raises(SchemaValidationFailed, match="malformed"):
        env.receiver.receive([a.to_dict(), b.to_dict(), d], principal=WRITER)


def test_batches_over_the_limit_are_refused(env: Env):
    small = PushReceiver(env.server, SERVER_WS, max_batch=2)
    records = _records(env)[:3]
    with pytest.raises(InvalidRequest, match="limit of 2"):
        small.receive(records, principal=WRITER)
    with pytest.raises(InvalidRequest, match="limit of 2"):
        small.negotiate("a" * 64, ["a" * 64, "b" * 64, "c" * 64], principal=WRITER)
    assert env.node_count() == 0


def test_commit_loses_a_race_with_concurrent_update_and_moves_nothing(env: Env):
    first = env.scan()
    push(env.receiver, env.client, first)
    (env.tree / "README.md").write_text("v2\n", encoding="utf-8")
    second = env.scan()
    stale = env.receiver.negotiate(second, principal=WRITER).current_root
    (env.tree / "README.md").write_text("v3\n", encoding="utf-8")
    push(env.receiver, env.client, env.scan())  # another client wins meanwhile
    winner = env.server.current_root(SERVER_WS)
    assert winner is not None
    assert stale is not None
    with pytest.raises(ConcurrentUpdate) as caught:
        env.receiver.commit(second, stale, principal=WRITER)
    assert (caught.value.expected, caught.value.actual) == (stale, winner.root)
    assert env.server.current_root(SERVER_WS) == winner


def test_commit_of_a_root_not_stored_is_incomplete(env: Env):
    root = env.scan()
    with pytest.raises(IncompleteTree) as caught:
        env.receiver.commit(root, None, principal=WRITER)
    assert caught.value.missing == (root,)
    assert env.server.current_root(SERVER_WS) is None


def test_commit_of_a_non_root_record_is_refused(env: Env):
    file_a = NodeRecord.file("a.txt", content_hash(b"a"), 1, False)
    env.receiver.receive([file_a.to_dict()], principal=WRITER)
    with pytest.raises(InvalidRequest, match="not a tree root"):
        env.receiver.commit(file_a.node_id, None, principal=WRITER)


@pytest.mark.parametrize(
    "principal",
    [
        Principal("bob", SERVER_WS, frozenset({Permission.READ})),
        Principal("alice", CLIENT_WS, frozenset(Permission)),
    ],
    ids=["read-only", "other-workspace"],
)
def test_every_step_needs_write_in_this_workspace(env: Env, principal: Principal):
    root = env.scan()
    with pytest.raises(AccessDenied):
        env.receiver.negotiate(root, principal=principal)
    with pytest.raises(AccessDenied):
        env.receiver.receive(_records(env), principal=principal)
    with pytest.raises(AccessDenied):
        env.receiver.commit(root, None, principal=principal)
    assert env.node_count() == 0


def test_negotiation_lists_missing_ids_in_offered_order_once(env: Env):
    records = _records(env)
    env.receiver.receive(records[:1], principal=WRITER)
    ids = [r["node_id"] for r in records[:3]]
    answer = env.receiver.negotiate(ids[2], [ids[2], ids[0], ids[1], ids[2]], principal=WRITER)
    assert answer.missing == (ids[2], ids[1])
    assert (answer.offered, answer.root_present, answer.current_root) == (3, False, None)


def test_resending_stored_records_is_idempotent(env: Env):
    records = _records(env)
    first = env.receiver.receive(records, principal=WRITER)
    again = env.receiver.receive(records, principal=WRITER)
    assert (first.stored, again.stored, again.already_present) == (len(records), 0, len(records))


@pytest.mark.parametrize("path", ["", "a", "a/b.txt", "caf\u00e9"])
def test_check_path_accepts_canonical_paths(path: str):
    assert check_path(path) == path


@pytest.mark.parametrize("path", ["a//b", "a/", ".", "a/./b", "cafe\u0301", "a\x00b", "x\ufdd0"])
def test_check_path_refuses_the_rest(path: str):
    with pytest.raises(InvalidPath):
        check_path(path)


def test_a_larger_tree_in_small_batches_arrives_whole(env: Env):
    write(env.tree, {f"bulk/d{i % 7}/f{i}.txt": str(i) for i in range(300)})
    root = env.scan()
    result = push(env.receiver, env.client, root, batch=50)
    assert max(result.batches) == 50
    assert len(result.batches) > 6
    assert indexes(env.server) == indexes(env.reference)


def test_a_commit_is_audited_as_tree_push_and_a_lost_race_as_refused(env: Env):
    root = env.scan()
    push(env.receiver, env.client, root)
    with pytest.raises(ConcurrentUpdate):
        env.receiver.commit(root, None, principal=WRITER)  # the root is no longer None
    pushes = [e for e in env.server.iter_audit(SERVER_WS) if e.operation == "tree.push"]
    batches = [e for e in pushes if e.node is None]
    assert batches  # one accepted entry per records batch
    assert all(e.success for e in batches)
    pushes = [e for e in pushes if e.node is not None]
    assert [(e.node, e.success, e.error) for e in pushes] == [
        (root, True, None),
        (root, False, "concurrent_update"),
    ]
