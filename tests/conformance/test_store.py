"""One behaviour suite run against every storage backend (memory is the reference)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import CREATED_AT, make_dir, make_file, make_frame, make_ws
from treeframe.errors import (
    ConcurrentUpdate,
    InvalidFrame,
    NodeNotFound,
    StorageError,
)
from treeframe.frames.frame import Frame
from treeframe.frames.merkle_set import root_of, root_of_raw
from treeframe.ids import FrameId, NodeId, WorkspaceId
from treeframe.storage.base import Damaged, NodeSetState, RootEntry, StorageBackend
from treeframe.storage.memory import MemoryStore
from treeframe.storage.sqlite import SqliteStore
from treeframe.tree.records import NodeRecord

BACKENDS = ["memory", "sqlite"]
WS = make_ws("ws-a")
OTHER_WS = make_ws("ws-b")


def open_backend(name: str, directory: Path) -> StorageBackend:
    """A fresh, empty store of the named kind."""
    if name == "memory":
        return MemoryStore()
    return SqliteStore(directory / "store.db")


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    with open_backend(request.param, tmp_path) as backend:
        backend.ensure_workspace(WS, "ws-a")
        backend.ensure_workspace(OTHER_WS, "ws-b")
        yield backend


def append(
    store: StorageBackend, frame: Frame, content: bytes, ws: WorkspaceId = WS, at: str = CREATED_AT
) -> Frame:
    return store.append_frame(ws, frame, content, root_of_raw, at)


def node_with_frames(
    store: StorageBackend, *contents: bytes, frame_type: str = "note"
) -> NodeRecord:
    node = make_file("n.txt")
    store.put_nodes(WS, [node])
    for content in contents:
        append(store, *make_frame(node, content, frame_type=frame_type))
    return node


def commit(
    store: StorageBackend, root: NodeRecord, entries: list[tuple[str, NodeId | None]]
) -> RootEntry:
    current = store.current_root(WS)
    token = store.begin_scan(WS)
    store.stage_paths(WS, token, entries)
    return store.commit_scan(WS, token, root.node_id, current.root if current else None, CREATED_AT)


# -- store lifecycle and workspaces ------------------------------------------


def test_store_satisfies_protocol(store: StorageBackend) -> None:
    assert isinstance(store, StorageBackend)


def test_closed_store_raises_storage_error(store: StorageBackend) -> None:
    store.close()
    with pytest.raises(StorageError):
        store.get_node(WS, make_file().node_id)


def test_ensure_workspace_is_idempotent_and_keeps_first_name(store: StorageBackend) -> None:
    store.ensure_workspace(WS, "renamed")
    assert store.workspace_name(WS) == "ws-a"


def test_workspace_name_unknown_returns_none(store: StorageBackend) -> None:
    assert store.workspace_name(make_ws("nope")) is None


def test_unknown_workspace_raises_storage_error(store: StorageBackend) -> None:
    with pytest.raises(StorageError):
        store.put_nodes(make_ws("nope"), [make_file()])


# -- node records ------------------------------------------------------------


def test_put_nodes_then_get_node_returns_equal_record(store: StorageBackend) -> None:
    file = make_file("src/a.py", b"print(1)")
    directory = make_dir("src", [file])
    store.put_nodes(WS, [file, directory])
    assert store.get_node(WS, file.node_id) == file
    assert store.get_node(WS, directory.node_id) == directory


def test_put_nodes_twice_is_idempotent(store: StorageBackend) -> None:
    file = make_file()
    store.put_nodes(WS, [file])
    store.put_nodes(WS, [file, file])
    assert list(store.iter_all_nodes(WS)) == [file]


def test_put_nodes_never_overwrites_existing_record(store: StorageBackend) -> None:
    first = make_file(size=5)
    second = make_file(size=99)  # size is not hashed: same NodeID, different record
    assert first.node_id == second.node_id
    store.put_nodes(WS, [first])
    store.put_nodes(WS, [second])
    assert store.get_node(WS, first.node_id) == first


def test_get_node_missing_returns_none(store: StorageBackend) -> None:
    assert store.get_node(WS, make_file().node_id) is None


def test_get_nodes_omits_missing_ids(store: StorageBackend) -> None:
    present = [make_file(f"f{i}", bytes([i])) for i in range(3)]
    missing = make_file("absent")
    store.put_nodes(WS, present)
    ids = [present[0].node_id, missing.node_id, present[2].node_id]
    assert store.get_nodes(WS, ids) == {
        present[0].node_id: present[0],
        present[2].node_id: present[2],
    }


def test_get_nodes_many_ids_spans_batches(store: StorageBackend) -> None:
    records = [make_file(f"f{i}", str(i).encode()) for i in range(1200)]
    store.put_nodes(WS, records)
    found = store.get_nodes(WS, [r.node_id for r in records])
    assert found == {r.node_id: r for r in records}


def test_same_node_in_two_workspaces_is_independent(store: StorageBackend) -> None:
    file = make_file()
    store.put_nodes(WS, [file])
    assert store.get_node(OTHER_WS, file.node_id) is None
    store.put_nodes(OTHER_WS, [file])
    frame, content = make_frame(file)
    append(store, frame, content)
    assert store.get_frame_set(OTHER_WS, file.node_id) is None
    assert store.get_heads(OTHER_WS, file.node_id) == {}


def test_frame_in_one_workspace_is_invisible_in_another(store: StorageBackend) -> None:
    file = make_file()
    store.put_nodes(WS, [file])
    store.put_nodes(OTHER_WS, [file])
    frame, content = make_frame(file)
    append(store, frame, content)
    assert store.get_frame(OTHER_WS, frame.frame_id) is None
    assert store.get_content(OTHER_WS, frame.content_hash) is None
    assert list(store.iter_node_frames(OTHER_WS, file.node_id)) == []
    assert store.node_frame_ids(OTHER_WS, file.node_id) == []
    assert list(store.iter_all_frames(OTHER_WS)) == []


def test_sequences_are_per_workspace(store: StorageBackend) -> None:
    file = make_file()
    store.put_nodes(WS, [file])
    store.put_nodes(OTHER_WS, [file])
    append(store, *make_frame(file, b"one"))
    stored = append(store, *make_frame(file, b"two"), ws=OTHER_WS)
    assert stored.seq == 1


# -- scans, path index and root history --------------------------------------


def test_commit_scan_applies_staged_paths(store: StorageBackend) -> None:
    file = make_file("a.txt")
    root = make_dir("", [file])
    store.put_nodes(WS, [file, root])
    entry = commit(store, root, [("", root.node_id), ("a.txt", file.node_id)])
    assert entry == RootEntry(1, root.node_id, CREATED_AT)
    assert store.current_root(WS) == entry
    assert store.lookup_path(WS, "") == root.node_id
    assert store.lookup_paths(WS, ["a.txt", "", "missing"]) == {
        "a.txt": file.node_id,
        "": root.node_id,
    }


def test_staged_paths_invisible_until_commit(store: StorageBackend) -> None:
    file = make_file("a.txt")
    store.put_nodes(WS, [file])
    token = store.begin_scan(WS)
    store.stage_paths(WS, token, [("a.txt", file.node_id)])
    assert store.lookup_path(WS, "a.txt") is None
    assert store.current_root(WS) is None


def test_commit_scan_applies_deletes(store: StorageBackend) -> None:
    a, b = make_file("a.txt", b"a"), make_file("b.txt", b"b")
    root1, root2 = make_dir("", [a, b]), make_dir("", [b])
    store.put_nodes(WS, [a, b, root1, root2])
    commit(store, root1, [("", root1.node_id), ("a.txt", a.node_id), ("b.txt", b.node_id)])
    commit(store, root2, [("", root2.node_id), ("a.txt", None)])
    assert dict(store.iter_all_paths(WS)) == {"": root2.node_id, "b.txt": b.node_id}


def test_later_staged_entry_for_same_path_wins(store: StorageBackend) -> None:
    a, b = make_file("x", b"a"), make_file("x", b"b")
    root = make_dir("", [b])
    store.put_nodes(WS, [a, b, root])
    token = store.begin_scan(WS)
    store.stage_paths(WS, token, [("x", a.node_id)])
    store.stage_paths(WS, token, [("x", None)])
    store.stage_paths(WS, token, [("x", b.node_id)])
    store.commit_scan(WS, token, root.node_id, None, CREATED_AT)
    assert store.lookup_path(WS, "x") == b.node_id


def test_root_history_appends_seq_newest_first(store: StorageBackend) -> None:
    roots = [make_dir("", [make_file("f", bytes([i]))]) for i in range(3)]
    store.put_nodes(WS, roots)
    entries = [commit(store, root, [("", root.node_id)]) for root in roots]
    assert [e.seq for e in entries] == [1, 2, 3]
    assert store.root_history(WS, 10) == entries[::-1]
    assert store.root_history(WS, 1) == [entries[2]]
    assert store.root_history(WS, 10, before_seq=3) == [entries[1], entries[0]]
    assert store.root_history(WS, 0) == []


def test_commit_scan_stale_expected_raises_and_changes_nothing(store: StorageBackend) -> None:
    old, new = make_dir("", [make_file("a")]), make_dir("", [make_file("b")])
    store.put_nodes(WS, [old, new])
    first = commit(store, old, [("", old.node_id)])
    token = store.begin_scan(WS)
    store.stage_paths(WS, token, [("", new.node_id), ("b", new.node_id)])
    with pytest.raises(ConcurrentUpdate) as info:
        store.commit_scan(WS, token, new.node_id, new.node_id, CREATED_AT)
    assert info.value.actual == old.node_id
    assert store.current_root(WS) == first
    assert store.root_history(WS, 10) == [first]
    assert dict(store.iter_all_paths(WS)) == {"": old.node_id}


def test_commit_scan_first_scan_expects_none(store: StorageBackend) -> None:
    root = make_dir("")
    store.put_nodes(WS, [root])
    token = store.begin_scan(WS)
    with pytest.raises(ConcurrentUpdate):
        store.commit_scan(WS, token, root.node_id, root.node_id, CREATED_AT)
    assert store.current_root(WS) is None


def test_commit_scan_missing_root_record_raises_node_not_found(store: StorageBackend) -> None:
    file = make_file("a")
    store.put_nodes(WS, [file])
    token = store.begin_scan(WS)
    store.stage_paths(WS, token, [("a", file.node_id)])
    with pytest.raises(NodeNotFound):
        store.commit_scan(WS, token, make_dir("", [file]).node_id, None, CREATED_AT)
    assert store.current_root(WS) is None
    assert store.lookup_path(WS, "a") is None


def test_abort_scan_drops_staging(store: StorageBackend) -> None:
    root = make_dir("")
    store.put_nodes(WS, [root])
    token = store.begin_scan(WS)
    store.stage_paths(WS, token, [("", root.node_id)])
    store.abort_scan(WS, token)
    assert store.lookup_path(WS, "") is None
    with pytest.raises(StorageError):
        store.commit_scan(WS, token, root.node_id, None, CREATED_AT)
    assert store.current_root(WS) is None


def test_stage_paths_unknown_token_raises_storage_error(store: StorageBackend) -> None:
    with pytest.raises(StorageError):
        store.stage_paths(WS, "no-such-token", [("a", make_file().node_id)])


def test_concurrent_scans_are_independent(store: StorageBackend) -> None:
    a, b = make_file("a", b"a"), make_file("b", b"b")
    root = make_dir("", [a])
    store.put_nodes(WS, [a, b, root])
    mine, theirs = store.begin_scan(WS), store.begin_scan(WS)
    store.stage_paths(WS, mine, [("a", a.node_id)])
    store.stage_paths(WS, theirs, [("b", b.node_id)])
    store.commit_scan(WS, mine, root.node_id, None, CREATED_AT)
    assert dict(store.iter_all_paths(WS)) == {"a": a.node_id}


# -- stat cache --------------------------------------------------------------


def test_stat_dirs_put_replaces_and_get_returns_bytes(store: StorageBackend) -> None:
    assert store.get_stat_dir(WS, "src") is None
    store.put_stat_dirs(WS, [("src", b"\x00one"), ("", b"root")])
    store.put_stat_dirs(WS, [("src", b"\x00two")])
    assert store.get_stat_dir(WS, "src") == b"\x00two"
    assert store.get_stat_dir(WS, "") == b"root"
    assert store.get_stat_dir(OTHER_WS, "src") is None


# -- frames ------------------------------------------------------------------


def test_append_frame_assigns_seq_in_append_order(store: StorageBackend) -> None:
    node = make_file()
    store.put_nodes(WS, [node])
    stored = [append(store, *make_frame(node, f"c{i}".encode())) for i in range(3)]
    assert [f.seq for f in stored] == [1, 2, 3]
    assert all(f.created_at == CREATED_AT for f in stored)
    assert store.get_frame(WS, stored[1].frame_id) == stored[1]


def test_append_frame_again_returns_stored_frame_and_writes_nothing(store: StorageBackend) -> None:
    node = make_file()
    store.put_nodes(WS, [node])
    frame, content = make_frame(node)
    first = append(store, frame, content)
    again = append(store, frame, content, at="2030-01-01T00:00:00Z")
    assert again == first
    assert [f.frame_id for f in store.iter_all_frames(WS)] == [frame.frame_id]  # type: ignore[union-attr]
    assert store.get_frame_set(WS, node.node_id) == NodeSetState(root_of([frame.frame_id]), 1)
    assert append(store, *make_frame(node, b"next")).seq == 2


def test_identical_content_is_stored_once(store: StorageBackend) -> None:
    node = make_file()
    store.put_nodes(WS, [node])
    one = append(store, *make_frame(node, b"same", frame_type="summary"))
    two = append(store, *make_frame(node, b"same", frame_type="review"))
    assert one.content_hash == two.content_hash
    assert list(store.iter_all_contents(WS)) == [(one.content_hash, b"same")]
    assert store.get_content(WS, one.content_hash) == b"same"


def test_append_frame_missing_node_raises_and_writes_nothing(store: StorageBackend) -> None:
    node = make_file()
    frame, content = make_frame(node)
    with pytest.raises(NodeNotFound):
        append(store, frame, content)
    assert store.get_frame(WS, frame.frame_id) is None
    assert store.get_content(WS, frame.content_hash) is None
    assert store.get_frame_set(WS, node.node_id) is None
    assert store.get_heads(WS, node.node_id) == {}
    store.put_nodes(WS, [node])
    assert append(store, frame, content).seq == 1


def test_frame_set_root_equals_root_of_frame_ids(store: StorageBackend) -> None:
    node = node_with_frames(store, b"a", b"b", b"c")
    ids = store.node_frame_ids(WS, node.node_id)
    assert store.get_frame_set(WS, node.node_id) == NodeSetState(root_of(ids), 3)


def test_node_frame_ids_are_sorted(store: StorageBackend) -> None:
    node = node_with_frames(store, *[bytes([65 + i]) for i in range(8)])
    ids = store.node_frame_ids(WS, node.node_id)
    assert len(ids) == 8
    assert ids == sorted(ids)


def test_head_moves_to_latest_append_per_type(store: StorageBackend) -> None:
    node = make_file()
    store.put_nodes(WS, [node])
    note1 = append(store, *make_frame(node, b"1", frame_type="note"))
    summary = append(store, *make_frame(node, b"2", frame_type="summary"))
    note2 = append(store, *make_frame(node, b"3", frame_type="note"))
    assert store.get_head(WS, node.node_id, "note") == note2.frame_id
    assert store.get_head(WS, node.node_id, "summary") == summary.frame_id
    assert store.get_head(WS, node.node_id, "other") is None
    assert store.get_heads(WS, node.node_id) == {
        "note": note2.frame_id,
        "summary": summary.frame_id,
    }
    assert note1.frame_id != note2.frame_id


def test_get_frames_and_contents_omit_missing(store: StorageBackend) -> None:
    node = make_file()
    store.put_nodes(WS, [node])
    stored = append(store, *make_frame(node, b"kept"))
    absent, _ = make_frame(node, b"never appended")
    ids = [stored.frame_id, absent.frame_id]
    assert store.get_frames(WS, ids) == {stored.frame_id: stored}
    hashes = [stored.content_hash, absent.content_hash]
    assert store.get_contents(WS, hashes) == {stored.content_hash: b"kept"}


def test_iter_node_frames_is_newest_first(store: StorageBackend) -> None:
    node = node_with_frames(store, b"1", b"2", b"3")
    assert [f.seq for f in store.iter_node_frames(WS, node.node_id)] == [3, 2, 1]


def test_iter_node_frames_long_history_keeps_order(store: StorageBackend) -> None:
    node = node_with_frames(store, *[str(i).encode() for i in range(70)])
    assert [f.seq for f in store.iter_node_frames(WS, node.node_id)] == list(range(70, 0, -1))


def test_iter_node_frames_filters_by_type_and_agent(store: StorageBackend) -> None:
    node = make_file()
    store.put_nodes(WS, [node])
    labels = [("note", "alice"), ("summary", "alice"), ("note", "bob"), ("note", "alice")]
    for i, (frame_type, agent) in enumerate(labels):
        append(store, *make_frame(node, bytes([48 + i]), frame_type=frame_type, agent=agent))

    def seqs(frame_type: str | None = None, agent_id: str | None = None) -> list[int]:
        stream = store.iter_node_frames(WS, node.node_id, frame_type=frame_type, agent_id=agent_id)
        return [f.seq for f in stream]

    assert seqs(frame_type="note") == [4, 3, 1]
    assert seqs(agent_id="alice") == [4, 2, 1]
    assert seqs(frame_type="note", agent_id="bob") == [3]
    assert seqs(frame_type="absent") == []


def test_iter_node_frames_is_a_lazy_generator(store: StorageBackend) -> None:
    node = node_with_frames(store, b"1", b"2")
    assert inspect.isgenerator(store.iter_node_frames(WS, node.node_id))
    stream = store.iter_node_frames(WS, node.node_id)
    assert next(stream).seq == 2
    # Writing while a stream is open must work (the stream holds no lock).
    appended = append(store, *make_frame(node, b"3"))
    assert appended.seq == 3
    assert [f.seq for f in stream] == [1]


def test_iter_node_frames_unknown_node_yields_nothing(store: StorageBackend) -> None:
    assert list(store.iter_node_frames(WS, make_file("ghost").node_id)) == []


def test_compare_and_set_head_moves_head(store: StorageBackend) -> None:
    node = node_with_frames(store, b"old", b"new")
    old, new = sorted(store.iter_node_frames(WS, node.node_id), key=lambda f: f.seq)
    store.compare_and_set_head(WS, node.node_id, "note", new.frame_id, old.frame_id)
    assert store.get_head(WS, node.node_id, "note") == old.frame_id


def test_compare_and_set_head_stale_expected_raises(store: StorageBackend) -> None:
    node = node_with_frames(store, b"old", b"new")
    old, new = sorted(store.iter_node_frames(WS, node.node_id), key=lambda f: f.seq)
    with pytest.raises(ConcurrentUpdate) as info:
        store.compare_and_set_head(WS, node.node_id, "note", old.frame_id, old.frame_id)
    assert info.value.actual == new.frame_id
    assert store.get_head(WS, node.node_id, "note") == new.frame_id


def test_compare_and_set_head_missing_head_expects_none(store: StorageBackend) -> None:
    node = node_with_frames(store, b"x")
    (frame,) = store.iter_node_frames(WS, node.node_id)
    with pytest.raises(ConcurrentUpdate):
        store.compare_and_set_head(WS, node.node_id, "note", None, frame.frame_id)


@pytest.mark.parametrize(
    "mismatch", ["other_node", "other_type", "unknown_frame"], ids=lambda m: str(m)
)
def test_compare_and_set_head_foreign_frame_raises_invalid_frame(
    store: StorageBackend, mismatch: str
) -> None:
    node, other = make_file("a", b"a"), make_file("b", b"b")
    store.put_nodes(WS, [node, other])
    head = append(store, *make_frame(node, b"h"))
    candidates: dict[str, FrameId] = {
        "other_node": append(store, *make_frame(other, b"o")).frame_id,
        "other_type": append(store, *make_frame(node, b"t", frame_type="summary")).frame_id,
        "unknown_frame": make_frame(node, b"never")[0].frame_id,
    }
    with pytest.raises(InvalidFrame):
        store.compare_and_set_head(WS, node.node_id, "note", head.frame_id, candidates[mismatch])
    assert store.get_head(WS, node.node_id, "note") == head.frame_id


# -- full iteration ----------------------------------------------------------


def test_iter_all_reports_everything_stored(store: StorageBackend) -> None:
    a, b = make_file("a", b"a"), make_file("b", b"b")
    root = make_dir("", [a, b])
    store.put_nodes(WS, [a, b, root])
    commit(store, root, [("", root.node_id), ("a", a.node_id), ("b", b.node_id)])
    f1 = append(store, *make_frame(a, b"1"))
    f2 = append(store, *make_frame(b, b"2", frame_type="summary"))
    f3 = append(store, *make_frame(a, b"3"))
    nodes = list(store.iter_all_nodes(WS))
    assert not any(isinstance(n, Damaged) for n in nodes)
    assert sorted(n.node_id for n in nodes) == sorted([a.node_id, b.node_id, root.node_id])  # type: ignore[union-attr]
    assert list(store.iter_all_frames(WS)) == [f1, f2, f3]
    assert dict(store.iter_all_contents(WS)) == {
        f.content_hash: c for f, c in [(f1, b"1"), (f2, b"2"), (f3, b"3")]
    }
    assert dict(store.iter_all_frame_sets(WS)) == {
        a.node_id: NodeSetState(root_of([f1.frame_id, f3.frame_id]), 2),
        b.node_id: NodeSetState(root_of([f2.frame_id]), 1),
    }
    assert sorted(store.iter_all_heads(WS)) == sorted(
        [(a.node_id, "note", f3.frame_id), (b.node_id, "summary", f2.frame_id)]
    )
    assert dict(store.iter_all_paths(WS)) == {"": root.node_id, "a": a.node_id, "b": b.node_id}


def test_iter_all_nodes_many_rows_spans_pages(store: StorageBackend) -> None:
    records = [make_file(f"f{i}", str(i).encode()) for i in range(600)]
    store.put_nodes(WS, records)
    assert {n.node_id for n in store.iter_all_nodes(WS)} == {r.node_id for r in records}  # type: ignore[union-attr]


# -- properties --------------------------------------------------------------

ORDERINGS = st.permutations(list(range(6)))


@pytest.mark.parametrize("backend", BACKENDS, ids=BACKENDS)
@settings(max_examples=20, deadline=None)
@given(order=ORDERINGS)
def test_set_root_is_independent_of_append_order(
    backend: str, tmp_path_factory: pytest.TempPathFactory, order: list[int]
) -> None:
    node = make_file()
    frames = [make_frame(node, f"content {i}".encode(), frame_type=f"t{i % 2}") for i in range(6)]
    with open_backend(backend, tmp_path_factory.mktemp(backend)) as backend_store:
        backend_store.ensure_workspace(WS, "ws-a")
        backend_store.put_nodes(WS, [node])
        for i in order:
            append(backend_store, *frames[i])
        state = backend_store.get_frame_set(WS, node.node_id)
        seqs = [f.seq for f in backend_store.iter_all_frames(WS)]  # type: ignore[union-attr]
    assert state == NodeSetState(root_of([f.frame_id for f, _ in frames]), 6)
    assert seqs == [1, 2, 3, 4, 5, 6]
