"""BulkImport on PostgresStore: a workspace copied row by row reads back exactly as the source."""

from __future__ import annotations

from treeframe.frames.frame import Basis, Frame
from treeframe.frames.merkle_set import root_of_raw
from treeframe.storage.base import AuditDraft, StorageBackend
from treeframe.storage.memory import MemoryStore
from treeframe.storage.postgres import PostgresStore
from treeframe.testing.conformance import store_state
from treeframe.testing.factories import (
    CREATED_AT,
    make_dir,
    make_file,
    make_frame,
    make_ws,
    put_frame,
    workspace_info,
)
from treeframe.tree.records import NodeRecord

WS = make_ws("bulk")


def _source() -> MemoryStore:
    """A workspace with two scans, frames (one re-put, one built on another), audit entries."""
    source = MemoryStore()
    source.create_workspace(workspace_info(WS, "bulk"))
    a, b = make_file("a.txt", b"a"), make_file("b.txt", b"b")
    b2 = make_file("b.txt", b"b2")
    root1, root2 = make_dir("", [a, b]), make_dir("", [a, b2])
    source.put_nodes(WS, [a, b, b2, root1, root2])
    previous = None
    for root, entries in (
        (root1, [("", root1), ("a.txt", a), ("b.txt", b)]),
        (root2, [("", root2), ("b.txt", b2)]),
    ):
        token = source.begin_scan(WS)
        source.stage_paths(WS, token, [(p, n.node_id) for p, n in entries])
        previous = source.commit_scan(WS, token, root.node_id, previous, CREATED_AT).root
    first = put_frame(source, WS, *make_frame(a, b"one"), root_of_raw, CREATED_AT).frame
    put_frame(source, WS, *make_frame(a, b"two"), root_of_raw, CREATED_AT)
    put_frame(source, WS, first, b"one", root_of_raw, CREATED_AT)  # re-put: put_seq moves
    derived, body = make_frame(b2, b"built on a", basis=Basis.node_frame(a.node_id, first.frame_id))
    put_frame(source, WS, derived, body, root_of_raw, CREATED_AT)
    source.put_agent(WS, "agent-1", b"{}")
    for op in ("agent.register", "frame.put"):
        source.append_audit(WS, AuditDraft(CREATED_AT, "agent-1", op, None, None, True, None, None))
    return source


def _copy(source: StorageBackend, target: PostgresStore) -> None:
    info = source.get_workspace(WS)
    assert info is not None
    frames = [f for f in source.iter_all_frames(WS) if isinstance(f, Frame)]
    target.import_workspace(info, max(f.put_seq for f in frames) + 1)
    target.put_nodes(WS, [n for n in source.iter_all_nodes(WS) if isinstance(n, NodeRecord)])
    for digest, data in source.blobs.iter_all(WS):
        target.blobs.put(WS, digest, data)
    target.import_frames(WS, frames)
    target.import_frame_sets(WS, list(source.iter_all_frame_sets(WS)))
    target.import_heads(WS, list(source.iter_all_heads(WS)))
    target.import_roots(WS, source.root_history(WS, 1 << 20))
    target.import_paths(WS, list(source.iter_all_paths(WS)))
    target.import_path_history(WS, list(source.iter_all_path_history(WS)))
    seq_of = {f.frame_id: f.seq for f in frames}
    target.import_basis_refs(
        WS, [(ref, seq_of[fid], fid) for ref, fid in source.iter_all_basis_refs(WS)]
    )
    target.import_audit(WS, list(source.iter_audit(WS)))
    for agent, record in source.list_agents(WS):
        target.put_agent(WS, agent, record)


def test_imported_workspace_equals_its_source_and_imports_are_idempotent(pg_database: str) -> None:
    source = _source()
    with PostgresStore(pg_database, url=pg_database) as target:
        _copy(source, target)
        _copy(source, target)  # a resumed copy changes nothing
        assert store_state(target, WS) == store_state(source, WS)
        assert list(target.iter_audit(WS)) == list(source.iter_audit(WS))
        assert target.current_root(WS) == source.current_root(WS)
        node = make_file("a.txt", b"a")
        after = put_frame(target, WS, *make_frame(node, b"three"), root_of_raw, CREATED_AT).frame
        expected = put_frame(source, WS, *make_frame(node, b"three"), root_of_raw, CREATED_AT).frame
        assert after == expected  # the sequence resumes where the source's did
        assert target.get_frame_set(WS, node.node_id) == source.get_frame_set(WS, node.node_id)
