"""The storage conformance suite, shipped so that any backend can prove itself.

One test class per seam of :mod:`treeframe.storage.base` and
:mod:`treeframe.storage.blobs` (and one for the rules that span seams), so a backend author can implement and test one seam
at a time. A test module subclasses the classes it wants and provides a
``store_factory`` fixture: a callable that takes an empty directory and
returns a new, empty store (the suite creates its workspaces)::

    @pytest.fixture
    def store_factory() -> StoreFactory:
        return lambda directory: MyStore(directory / "store.db")

    class TestMyNodes(NodeStoreConformance): ...
    class TestMyStore(StorageBackendConformance): ...  # every seam

The memory store is the reference; ``tests/conformance`` runs this suite over
memory and SQLite. This module imports pytest and hypothesis (the ``testing``
extra) and is imported only by test runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treeframe.errors import (
    ConcurrentUpdate,
    Conflict,
    IntegrityError,
    InvalidId,
    NodeNotFound,
    StorageError,
    WorkspaceDeleted,
    WorkspaceNotFound,
)
from treeframe.frames.frame import Basis, Frame
from treeframe.frames.merkle_set import root_of, root_of_raw
from treeframe.hashing.audit import GENESIS, audit_entry_hash
from treeframe.hashing.ids import content_hash
from treeframe.ids import ContentHash, FrameId, NodeId, WorkspaceId
from treeframe.storage.base import (
    ANY_HEAD,
    AclEntry,
    Appended,
    AuditDraft,
    AuditEntry,
    Damaged,
    NodeSetState,
    RootEntry,
    StorageBackend,
    TokenRecord,
    WorkspaceInfo,
    basis_refs,
)
from treeframe.storage.memory import MemoryStore
from treeframe.storage.values import chain_entry
from treeframe.testing.factories import (
    CREATED_AT,
    make_dir,
    make_file,
    make_frame,
    make_ws,
    put_frame,
    workspace_info,
)
from treeframe.tree.filehash import HashJob, HashResult, hash_batch
from treeframe.tree.records import NodeRecord
from treeframe.tree.scan import ScanResult, scan_tree

__all__ = [
    "AccessStoreConformance",
    "AuditStoreConformance",
    "BackendConformance",
    "BlobStoreConformance",
    "BulkImportConformance",
    "ExportSourceConformance",
    "FrameStoreConformance",
    "IndexStoreConformance",
    "MetadataStoreConformance",
    "NodeStoreConformance",
    "SnapshotConformance",
    "StorageBackendConformance",
    "StoreFactory",
    "UnitOfWorkConformance",
]

StoreFactory = Callable[[Path], StorageBackend]
"""Builds a new, empty store whose files (if any) live in the given directory."""

WS = make_ws("ws-a")
OTHER_WS = make_ws("ws-b")


def append(
    store: StorageBackend, frame: Frame, content: bytes, ws: WorkspaceId = WS, at: str = CREATED_AT
) -> Frame:
    """Append ``frame`` unconditionally; the frame as stored."""
    return put_frame(store, ws, frame, content, root_of_raw, at).frame


def cas_append(
    store: StorageBackend, frame: Frame, content: bytes, expected_head: FrameId | None
) -> Frame:
    """Append ``frame`` compare-and-set against ``expected_head``."""
    return put_frame(
        store, WS, frame, content, root_of_raw, CREATED_AT, expected_head=expected_head
    ).frame


def node_with_frames(
    store: StorageBackend, *contents: bytes, frame_type: str = "note"
) -> NodeRecord:
    """A stored file record carrying one frame per content."""
    node = make_file("n.txt")
    store.put_nodes(WS, [node])
    for content in contents:
        append(store, *make_frame(node, content, frame_type=frame_type))
    return node


def commit(
    store: StorageBackend, root: NodeRecord, entries: list[tuple[str, NodeId | None]]
) -> RootEntry:
    """Commit a scan staging ``entries`` with ``root`` against the current root."""
    current = store.current_root(WS)
    token = store.begin_scan(WS)
    store.stage_paths(WS, token, entries)
    return store.commit_scan(WS, token, root.node_id, current.root if current else None, CREATED_AT)


def put(store: StorageBackend, frame: Frame, content: bytes, **kwargs: Any) -> Appended:
    """``append_frame`` with the suite's defaults; keyword arguments pass through."""
    return put_frame(store, WS, frame, content, root_of_raw, CREATED_AT, **kwargs)


def built_on(store: StorageBackend, ref: str, limit: int, ws: WorkspaceId = WS) -> list[FrameId]:
    """The dependents' FrameIDs of one ``frames_built_on`` page."""
    return [fid for _, fid in store.frames_built_on(ws, ref, limit)]


def basis_for(kind: str, node: NodeId, frame: FrameId, other: FrameId) -> Basis:
    """A basis of the given kind naming ``node`` and/or ``frame`` (and ``other``)."""
    return {
        "node": Basis.node(node),
        "frame": Basis.frame(frame),
        "node+frame": Basis.node_frame(node, frame),
        "synthesis": Basis.synthesis([frame, other, frame], "concat", {"sep": "\n"}),
    }[kind]


def seq_of(frame: Frame) -> int:
    """A frame's first-append sequence number (a sort key)."""
    return frame.seq


ORDERINGS = st.permutations(list(range(6)))


def _misspellings(hex_id: str) -> list[str]:
    """Spellings of an ID that name nothing: uppercase, padded, short, non-hex."""
    return [hex_id.upper(), f" {hex_id}", hex_id[:-1], "g" * 64]


def store_state(store: StorageBackend, ws: WorkspaceId) -> dict[str, Any]:
    """Everything a workspace holds, as comparable values (for "nothing changed" checks)."""
    return {
        "workspace": store.get_workspace(ws),
        "root_history": store.root_history(ws, 1 << 30),
        "nodes": sorted(map(repr, store.iter_all_nodes(ws))),
        "frames": list(store.iter_all_frames(ws)),
        "contents": sorted(store.blobs.iter_all(ws)),
        "frame_sets": sorted(store.iter_all_frame_sets(ws)),
        "heads": sorted(store.iter_all_heads(ws)),
        "paths": sorted(store.iter_all_paths(ws)),
        "path_history": list(store.iter_all_path_history(ws)),
        "basis_refs": list(store.iter_all_basis_refs(ws)),
        "agents": store.list_agents(ws),
    }


class _StoreSuite:
    """Gives every test a fresh store holding two empty workspaces, ``WS`` and ``OTHER_WS``."""

    @pytest.fixture
    def store(self, store_factory: StoreFactory, tmp_path: Path) -> Iterator[StorageBackend]:
        """A new store from the backend's ``store_factory``, closed after the test."""
        with store_factory(tmp_path) as backend:
            backend.create_workspace(workspace_info(WS, "ws-a"))
            backend.create_workspace(workspace_info(OTHER_WS, "ws-b"))
            yield backend


class NodeStoreConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.NodeStore`: records, scans, the path index and root history."""

    def test_put_nodes_then_get_node_returns_equal_record(self, store: StorageBackend) -> None:
        file = make_file("src/a.py", b"print(1)")
        directory = make_dir("src", [file])
        store.put_nodes(WS, [file, directory])
        assert store.get_node(WS, file.node_id) == file
        assert store.get_node(WS, directory.node_id) == directory

    def test_put_nodes_twice_is_idempotent(self, store: StorageBackend) -> None:
        file = make_file()
        store.put_nodes(WS, [file])
        store.put_nodes(WS, [file, file])
        assert list(store.iter_all_nodes(WS)) == [file]

    def test_put_nodes_never_overwrites_existing_record(self, store: StorageBackend) -> None:
        first = make_file(size=5)
        second = make_file(size=99)  # size is not hashed: same NodeID, different record
        assert first.node_id == second.node_id
        store.put_nodes(WS, [first])
        store.put_nodes(WS, [second])
        assert store.get_node(WS, first.node_id) == first

    def test_get_node_missing_returns_none(self, store: StorageBackend) -> None:
        assert store.get_node(WS, make_file().node_id) is None

    def test_get_nodes_omits_missing_ids(self, store: StorageBackend) -> None:
        present = [make_file(f"f{i}", bytes([i])) for i in range(3)]
        missing = make_file("absent")
        store.put_nodes(WS, present)
        ids = [present[0].node_id, missing.node_id, present[2].node_id]
        assert store.get_nodes(WS, ids) == {
            present[0].node_id: present[0],
            present[2].node_id: present[2],
        }

    def test_get_nodes_many_ids_spans_batches(self, store: StorageBackend) -> None:
        records = [make_file(f"f{i}", str(i).encode()) for i in range(1200)]
        store.put_nodes(WS, records)
        found = store.get_nodes(WS, [r.node_id for r in records])
        assert found == {r.node_id: r for r in records}

    def test_same_node_in_two_workspaces_is_independent(self, store: StorageBackend) -> None:
        file = make_file()
        store.put_nodes(WS, [file])
        assert store.get_node(OTHER_WS, file.node_id) is None
        store.put_nodes(OTHER_WS, [file])
        frame, content = make_frame(file)
        append(store, frame, content)
        assert store.get_frame_set(OTHER_WS, file.node_id) is None
        assert store.get_heads_many(OTHER_WS, [file.node_id]) == {}

    def test_frame_in_one_workspace_is_invisible_in_another(self, store: StorageBackend) -> None:
        file = make_file()
        store.put_nodes(WS, [file])
        store.put_nodes(OTHER_WS, [file])
        frame, content = make_frame(file)
        append(store, frame, content)
        assert store.get_frame(OTHER_WS, frame.frame_id) is None
        assert store.blobs.get_many(OTHER_WS, [frame.content_hash]).get(frame.content_hash) is None
        assert list(store.iter_node_frames(OTHER_WS, file.node_id)) == []
        assert store.node_frame_ids(OTHER_WS, file.node_id) == []
        assert list(store.iter_all_frames(OTHER_WS)) == []

    def test_sequences_are_per_workspace(self, store: StorageBackend) -> None:
        file = make_file()
        store.put_nodes(WS, [file])
        store.put_nodes(OTHER_WS, [file])
        append(store, *make_frame(file, b"one"))
        stored = append(store, *make_frame(file, b"two"), ws=OTHER_WS)
        assert stored.seq == 1

    def test_commit_scan_applies_staged_paths(self, store: StorageBackend) -> None:
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

    def test_staged_paths_invisible_until_commit(self, store: StorageBackend) -> None:
        file = make_file("a.txt")
        store.put_nodes(WS, [file])
        token = store.begin_scan(WS)
        store.stage_paths(WS, token, [("a.txt", file.node_id)])
        assert store.lookup_path(WS, "a.txt") is None
        assert store.current_root(WS) is None

    def test_commit_scan_applies_deletes(self, store: StorageBackend) -> None:
        a, b = make_file("a.txt", b"a"), make_file("b.txt", b"b")
        root1, root2 = make_dir("", [a, b]), make_dir("", [b])
        store.put_nodes(WS, [a, b, root1, root2])
        commit(store, root1, [("", root1.node_id), ("a.txt", a.node_id), ("b.txt", b.node_id)])
        commit(store, root2, [("", root2.node_id), ("a.txt", None)])
        assert dict(store.iter_all_paths(WS)) == {"": root2.node_id, "b.txt": b.node_id}

    def test_later_staged_entry_for_same_path_wins(self, store: StorageBackend) -> None:
        a, b = make_file("x", b"a"), make_file("x", b"b")
        root = make_dir("", [b])
        store.put_nodes(WS, [a, b, root])
        token = store.begin_scan(WS)
        store.stage_paths(WS, token, [("x", a.node_id)])
        store.stage_paths(WS, token, [("x", None)])
        store.stage_paths(WS, token, [("x", b.node_id)])
        store.commit_scan(WS, token, root.node_id, None, CREATED_AT)
        assert store.lookup_path(WS, "x") == b.node_id

    def test_root_history_appends_seq_newest_first(self, store: StorageBackend) -> None:
        roots = [make_dir("", [make_file("f", bytes([i]))]) for i in range(3)]
        store.put_nodes(WS, roots)
        entries = [commit(store, root, [("", root.node_id)]) for root in roots]
        assert [e.seq for e in entries] == [1, 2, 3]
        assert store.root_history(WS, 10) == entries[::-1]
        assert store.root_history(WS, 1) == [entries[2]]
        assert store.root_history(WS, 10, before_seq=3) == [entries[1], entries[0]]
        assert store.root_history(WS, 0) == []

    def test_commit_scan_stale_expected_raises_and_changes_nothing(
        self, store: StorageBackend
    ) -> None:
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

    def test_commit_scan_first_scan_expects_none(self, store: StorageBackend) -> None:
        root = make_dir("")
        store.put_nodes(WS, [root])
        token = store.begin_scan(WS)
        with pytest.raises(ConcurrentUpdate):
            store.commit_scan(WS, token, root.node_id, root.node_id, CREATED_AT)
        assert store.current_root(WS) is None

    def test_commit_scan_missing_root_record_raises_node_not_found(
        self, store: StorageBackend
    ) -> None:
        file = make_file("a")
        store.put_nodes(WS, [file])
        token = store.begin_scan(WS)
        store.stage_paths(WS, token, [("a", file.node_id)])
        with pytest.raises(NodeNotFound):
            store.commit_scan(WS, token, make_dir("", [file]).node_id, None, CREATED_AT)
        assert store.current_root(WS) is None
        assert store.lookup_path(WS, "a") is None

    def test_abort_scan_drops_staging(self, store: StorageBackend) -> None:
        root = make_dir("")
        store.put_nodes(WS, [root])
        token = store.begin_scan(WS)
        store.stage_paths(WS, token, [("", root.node_id)])
        store.abort_scan(WS, token)
        assert store.lookup_path(WS, "") is None
        with pytest.raises(StorageError):
            store.commit_scan(WS, token, root.node_id, None, CREATED_AT)
        assert store.current_root(WS) is None

    def test_stage_paths_unknown_token_raises_storage_error(self, store: StorageBackend) -> None:
        with pytest.raises(StorageError):
            store.stage_paths(WS, "no-such-token", [("a", make_file().node_id)])

    def test_concurrent_scans_are_independent(self, store: StorageBackend) -> None:
        a, b = make_file("a", b"a"), make_file("b", b"b")
        root = make_dir("", [a])
        store.put_nodes(WS, [a, b, root])
        mine, theirs = store.begin_scan(WS), store.begin_scan(WS)
        store.stage_paths(WS, mine, [("a", a.node_id)])
        store.stage_paths(WS, theirs, [("b", b.node_id)])
        store.commit_scan(WS, mine, root.node_id, None, CREATED_AT)
        assert dict(store.iter_all_paths(WS)) == {"a": a.node_id}

    def test_a_root_moving_commit_supersedes_the_scans_open_before_it(
        self, store: StorageBackend
    ) -> None:
        """A killed scan's staging area must not live for ever (see ``SUPERSEDED``)."""
        a, b = make_file("a", b"a"), make_file("b", b"b")
        root_a, root_b = make_dir("", [a]), make_dir("", [b])
        store.put_nodes(WS, [a, b, root_a, root_b])
        commit(store, root_a, [("", root_a.node_id), ("a", a.node_id)])
        stale = store.begin_scan(WS)  # began against root_a, then never finishes
        store.stage_paths(WS, stale, [("stale", a.node_id)])
        moved = commit(store, root_b, [("", root_b.node_id), ("a", None), ("b", b.node_id)])
        store.stage_paths(WS, stale, [("later", a.node_id)])  # accepted, and dropped
        with pytest.raises(ConcurrentUpdate) as info:
            store.commit_scan(WS, stale, root_a.node_id, root_a.node_id, CREATED_AT)
        assert (info.value.expected, info.value.actual) == (root_a.node_id, root_b.node_id)
        assert store.current_root(WS) == moved
        assert dict(store.iter_all_paths(WS)) == {"": root_b.node_id, "b": b.node_id}
        store.abort_scan(WS, stale)  # what the scanner does next
        with pytest.raises(StorageError):
            store.stage_paths(WS, stale, [("gone", a.node_id)])

    def test_a_superseded_scan_is_forgotten_at_the_next_root_move(
        self, store: StorageBackend
    ) -> None:
        roots = [make_dir("", [make_file("f", bytes([i]))]) for i in range(3)]
        store.put_nodes(WS, roots)
        commit(store, roots[0], [("", roots[0].node_id)])
        dead = store.begin_scan(WS)
        store.stage_paths(WS, dead, [("x", roots[0].node_id)])
        commit(store, roots[1], [("", roots[1].node_id)])
        store.stage_paths(WS, dead, [("x", roots[0].node_id)])  # superseded: a no-op
        commit(store, roots[2], [("", roots[2].node_id)])
        with pytest.raises(StorageError):
            store.stage_paths(WS, dead, [("x", roots[0].node_id)])
        assert dict(store.iter_all_paths(WS)) == {"": roots[2].node_id}

    def test_an_unchanged_scan_supersedes_nothing(self, store: StorageBackend) -> None:
        root = make_dir("", [make_file("a")])
        other = make_dir("", [make_file("b")])
        store.put_nodes(WS, [root, other])
        first = commit(store, root, [("", root.node_id)])
        running = store.begin_scan(WS)
        store.stage_paths(WS, running, [("", other.node_id)])
        unchanged = store.begin_scan(WS)  # found the same root: aborts, moves nothing
        store.abort_scan(WS, unchanged)
        entry = store.commit_scan(WS, running, other.node_id, root.node_id, CREATED_AT)
        assert entry.seq == first.seq + 1
        assert store.lookup_path(WS, "") == other.node_id

    def test_interleaved_scans_let_the_first_commit_win(
        self, store: StorageBackend, tmp_path: Path
    ) -> None:
        """Scan A is paused mid-hashing until scan B (started later) has committed."""
        tree_a, tree_b = tmp_path / "a", tmp_path / "b"
        for tree, name in ((tree_a, "from-a.txt"), (tree_b, "from-b.txt")):
            (tree / "sub").mkdir(parents=True)
            (tree / "sub" / name).write_bytes(name.encode())
        a_hashing, b_committed = threading.Event(), threading.Event()
        outcome: list[BaseException | ScanResult] = []

        def paused_hasher(jobs: Sequence[HashJob]) -> list[HashResult]:
            a_hashing.set()
            assert b_committed.wait(timeout=60)
            return hash_batch(jobs)

        def scan_a() -> None:
            try:
                outcome.append(scan_tree(tree_a, store, WS, workers=1, hasher=paused_hasher))
            except BaseException as exc:  # examined below
                outcome.append(exc)

        thread = threading.Thread(target=scan_a)
        thread.start()
        try:
            assert a_hashing.wait(timeout=60)  # A has read the current root (none) and is hashing
            b = scan_tree(tree_b, store, WS, workers=1)
        finally:
            b_committed.set()
            thread.join(timeout=60)
        [lost] = outcome
        assert isinstance(lost, ConcurrentUpdate), lost
        assert (lost.expected, lost.actual) == ("", b.root)
        assert store.current_root(WS) == b.entry
        assert store.root_history(WS, 10) == [b.entry]
        # A's staged paths were dropped, never applied: the index is B's tree alone.
        assert store.lookup_path(WS, "") == b.root
        assert {p for p, _ in store.iter_all_paths(WS)} == {"", "sub", "sub/from-b.txt"}
        # Rescanning A now compares against B's root and wins.
        again = scan_tree(tree_a, store, WS, workers=1)
        assert again.entry.seq == b.entry.seq + 1
        assert {p for p, _ in store.iter_all_paths(WS)} == {"", "sub", "sub/from-a.txt"}


class FrameStoreConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.FrameStore`: appends, re-puts, compare-and-set, heads, recency."""

    def test_append_frame_assigns_seq_in_append_order(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        stored = [append(store, *make_frame(node, f"c{i}".encode())) for i in range(3)]
        assert [f.seq for f in stored] == [1, 2, 3]
        assert all(f.created_at == CREATED_AT for f in stored)
        assert store.get_frame(WS, stored[1].frame_id) == stored[1]

    def test_append_frame_again_returns_stored_frame_and_writes_nothing(
        self, store: StorageBackend
    ) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        frame, content = make_frame(node)
        first = append(store, frame, content)
        again = append(store, frame, content, at="2030-01-01T00:00:00Z")
        assert again == first
        assert [f.frame_id for f in store.iter_all_frames(WS)] == [frame.frame_id]  # type: ignore[union-attr]
        assert store.get_frame_set(WS, node.node_id) == NodeSetState(root_of([frame.frame_id]), 1)
        assert append(store, *make_frame(node, b"next")).seq == 2

    def test_identical_content_is_stored_once(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        one = append(store, *make_frame(node, b"same", frame_type="summary"))
        two = append(store, *make_frame(node, b"same", frame_type="review"))
        assert one.content_hash == two.content_hash
        assert list(store.blobs.iter_all(WS)) == [(one.content_hash, b"same")]
        assert store.blobs.get_many(WS, [one.content_hash]).get(one.content_hash) == b"same"

    def test_append_frame_missing_node_raises_and_writes_nothing(
        self, store: StorageBackend
    ) -> None:
        node = make_file()
        frame, content = make_frame(node)
        with pytest.raises(NodeNotFound):
            append(store, frame, content)
        assert store.get_frame(WS, frame.frame_id) is None
        assert store.get_frame_set(WS, node.node_id) is None
        assert store.get_heads_many(WS, [node.node_id]) == {}
        store.put_nodes(WS, [node])
        assert append(store, frame, content).seq == 1

    def test_frame_set_root_equals_root_of_frame_ids(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"a", b"b", b"c")
        ids = store.node_frame_ids(WS, node.node_id)
        assert store.get_frame_set(WS, node.node_id) == NodeSetState(root_of(ids), 3)

    def test_node_frame_ids_are_sorted(self, store: StorageBackend) -> None:
        node = node_with_frames(store, *[bytes([65 + i]) for i in range(8)])
        ids = store.node_frame_ids(WS, node.node_id)
        assert len(ids) == 8
        assert ids == sorted(ids)

    def test_head_moves_to_latest_append_per_type(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        note1 = append(store, *make_frame(node, b"1", frame_type="note"))
        summary = append(store, *make_frame(node, b"2", frame_type="summary"))
        note2 = append(store, *make_frame(node, b"3", frame_type="note"))
        assert store.get_head(WS, node.node_id, "note") == note2.frame_id
        assert store.get_head(WS, node.node_id, "summary") == summary.frame_id
        assert store.get_head(WS, node.node_id, "other") is None
        assert store.get_heads_many(WS, [node.node_id])[node.node_id] == {
            "note": note2.frame_id,
            "summary": summary.frame_id,
        }
        assert note1.frame_id != note2.frame_id

    def test_get_frames_and_contents_omit_missing(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        stored = append(store, *make_frame(node, b"kept"))
        absent, _ = make_frame(node, b"never appended")
        ids = [stored.frame_id, absent.frame_id]
        assert store.get_frames(WS, ids) == {stored.frame_id: stored}
        hashes = [stored.content_hash, absent.content_hash]
        assert store.blobs.get_many(WS, hashes) == {stored.content_hash: b"kept"}

    def test_iter_node_frames_is_newest_first(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"1", b"2", b"3")
        assert [f.seq for f in store.iter_node_frames(WS, node.node_id)] == [3, 2, 1]

    def test_iter_node_frames_long_history_keeps_order(self, store: StorageBackend) -> None:
        node = node_with_frames(store, *[str(i).encode() for i in range(70)])
        assert [f.seq for f in store.iter_node_frames(WS, node.node_id)] == list(range(70, 0, -1))

    def test_iter_node_frames_filters_by_type_and_agent(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        labels = [("note", "alice"), ("summary", "alice"), ("note", "bob"), ("note", "alice")]
        for i, (frame_type, agent) in enumerate(labels):
            append(store, *make_frame(node, bytes([48 + i]), frame_type=frame_type, agent=agent))

        def seqs(frame_type: str | None = None, agent_id: str | None = None) -> list[int]:
            stream = store.iter_node_frames(
                WS, node.node_id, frame_type=frame_type, agent_id=agent_id
            )
            return [f.seq for f in stream]

        assert seqs(frame_type="note") == [4, 3, 1]
        assert seqs(agent_id="alice") == [4, 2, 1]
        assert seqs(frame_type="note", agent_id="bob") == [3]
        assert seqs(frame_type="absent") == []

    def test_iter_node_frames_is_a_lazy_generator(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"1", b"2")
        assert inspect.isgenerator(store.iter_node_frames(WS, node.node_id))
        stream = store.iter_node_frames(WS, node.node_id)
        assert next(stream).seq == 2
        # Writing while a stream is open must work (the stream holds no lock).
        appended = append(store, *make_frame(node, b"3"))
        assert appended.seq == 3
        assert [f.seq for f in stream] == [1]

    def test_iter_node_frames_unknown_node_yields_nothing(self, store: StorageBackend) -> None:
        assert list(store.iter_node_frames(WS, make_file("ghost").node_id)) == []

    def test_reput_of_an_older_frame_makes_it_head_and_most_recent(
        self, store: StorageBackend
    ) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        (x, x_body), (y, y_body) = make_frame(node, b"x"), make_frame(node, b"y")
        first = put(store, x, x_body)
        assert first.created
        assert first.frame.seq == first.frame.put_seq == 1
        put(store, y, y_body)
        records = [f.to_dict() for f in store.iter_all_frames(WS)]  # type: ignore[union-attr]
        frame_set = store.get_frame_set(WS, node.node_id)
        again = put(store, x, x_body)
        assert again.created is False
        assert again.frame.to_dict() == first.frame.to_dict()  # the record did not change
        assert again.frame.put_seq == 3
        assert store.get_head(WS, node.node_id, "note") == x.frame_id
        assert store.get_heads_many(WS, [node.node_id]) == {node.node_id: {"note": x.frame_id}}
        order = [x.frame_id, y.frame_id]
        assert [f.frame_id for f in store.iter_node_frames(WS, node.node_id)] == order
        assert [
            f.frame_id for f in store.iter_node_frames(WS, node.node_id, frame_type="note")
        ] == order
        assert [
            f.frame_id for f in store.iter_node_frames(WS, node.node_id, agent_id="agent-a")
        ] == order
        assert [
            f.frame_id for f in store.recent_frames(WS, [node.node_id], 5)[node.node_id]
        ] == order
        assert [f.put_seq for f in store.iter_node_frames(WS, node.node_id)] == [3, 2]
        assert store.get_frame(WS, x.frame_id).put_seq == 3  # type: ignore[union-attr]
        assert store.get_frames(WS, [x.frame_id])[x.frame_id].put_seq == 3
        assert store.get_frame_set(WS, node.node_id) == frame_set
        assert [f.to_dict() for f in store.iter_all_frames(WS)] == records  # type: ignore[union-attr]
        assert built_on(store, node.node_id, 10) == [x.frame_id, y.frame_id]
        assert append(store, *make_frame(node, b"z")).seq == 4

    def test_reput_of_the_head_changes_nothing(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        frame, body = make_frame(node, b"x")
        first = put(store, frame, body)
        again = put(store, frame, body)
        assert again.created is False
        assert again.frame.put_seq == first.frame.put_seq == 1
        assert append(store, *make_frame(node, b"next")).seq == 2

    def test_reput_returns_the_stored_metadata_and_content_type(
        self, store: StorageBackend
    ) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        frame, body = make_frame(node, b"x")
        stored = put(store, dataclasses.replace(frame, metadata=(("by", "first"),)), body)
        put(store, *make_frame(node, b"y"))
        other = dataclasses.replace(
            frame, metadata=(("by", "second"),), content_type="text/markdown"
        )
        again = put(store, other, body)
        assert again.created is False
        assert again.frame.metadata == (("by", "first"),)
        assert again.frame.content_type == stored.frame.content_type
        assert store.get_head(WS, node.node_id, "note") == frame.frame_id

    def test_reput_with_expected_head_is_compare_and_set(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        (x, x_body), (y, y_body) = make_frame(node, b"x"), make_frame(node, b"y")
        put(store, x, x_body)
        put(store, y, y_body)
        with pytest.raises(ConcurrentUpdate) as info:
            put(store, x, x_body, expected_head=x.frame_id)
        assert info.value.actual == y.frame_id
        assert store.get_head(WS, node.node_id, "note") == y.frame_id
        assert next(store.iter_node_frames(WS, node.node_id)).frame_id == y.frame_id
        assert put(store, x, x_body, expected_head=y.frame_id).frame.put_seq == 3
        # Putting the head again succeeds whatever was expected (a retried write).
        assert put(store, x, x_body, expected_head=y.frame_id).created is False
        assert append(store, *make_frame(node, b"z")).seq == 4

    def test_reput_in_a_long_history_moves_the_frame_to_the_front(
        self, store: StorageBackend
    ) -> None:
        node = node_with_frames(store, *(f"f{i}".encode() for i in range(40)))
        oldest = make_frame(node, b"f0")
        put(store, *oldest)
        ids = [f.frame_id for f in store.iter_node_frames(WS, node.node_id)]
        assert ids[0] == oldest[0].frame_id
        assert len(ids) == len(set(ids)) == 40
        assert store.get_frame_set(WS, node.node_id).count == 40  # type: ignore[union-attr]

    def test_append_frame_expected_head_matches_appends_and_moves_head(
        self,
        store: StorageBackend,
    ) -> None:
        node = node_with_frames(store, b"first")
        head = store.get_head(WS, node.node_id, "note")
        stored = cas_append(store, *make_frame(node, b"second"), expected_head=head)
        assert stored.seq == 2
        assert store.get_head(WS, node.node_id, "note") == stored.frame_id

    def test_append_frame_expected_none_appends_first_head(self, store: StorageBackend) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        stored = cas_append(store, *make_frame(node), expected_head=None)
        assert store.get_head(WS, node.node_id, "note") == stored.frame_id

    def test_append_frame_explicit_any_head_skips_the_check(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"first")
        frame, content = make_frame(node, b"second")
        stored = put(store, frame, content, expected_head=ANY_HEAD).frame
        assert store.get_head(WS, node.node_id, "note") == stored.frame_id

    @pytest.mark.parametrize("stale", ["other_frame", "none_but_head_exists"], ids=str)
    def test_append_frame_expected_head_mismatch_raises_and_writes_nothing(
        self, store: StorageBackend, stale: str
    ) -> None:
        node = node_with_frames(store, b"first", b"second")
        first, second = sorted(store.iter_node_frames(WS, node.node_id), key=seq_of)
        expected = first.frame_id if stale == "other_frame" else None
        state = store.get_frame_set(WS, node.node_id)
        frame, content = make_frame(node, b"lost", basis=Basis.frame(first.frame_id))
        with pytest.raises(ConcurrentUpdate) as info:
            cas_append(store, frame, content, expected_head=expected)
        assert (info.value.expected, info.value.actual) == (expected or "", second.frame_id)
        assert store.get_frame(WS, frame.frame_id) is None
        assert store.get_frame_set(WS, node.node_id) == state
        assert store.get_head(WS, node.node_id, "note") == second.frame_id
        assert built_on(store, first.frame_id, 10) == []
        assert append(store, *make_frame(node, b"next")).seq == 3  # no seq was consumed

    def test_append_frame_expected_head_without_head_raises(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"x", frame_type="summary")
        (other,) = store.iter_node_frames(WS, node.node_id)
        frame, content = make_frame(node, b"note")
        with pytest.raises(ConcurrentUpdate) as info:
            cas_append(store, frame, content, expected_head=other.frame_id)
        assert info.value.actual == ""
        assert store.get_frame(WS, frame.frame_id) is None

    def test_append_frame_reappend_of_head_ignores_expected_head(
        self, store: StorageBackend
    ) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        frame, content = make_frame(node, b"one")
        first = append(store, frame, content)
        assert cas_append(store, frame, content, expected_head=None) == first
        assert (
            cas_append(store, frame, content, expected_head=make_frame(node)[0].frame_id) == first
        )
        assert store.get_head(WS, node.node_id, "note") == first.frame_id

    def test_concurrent_cas_appends_from_one_head_let_exactly_one_win(
        self,
        store: StorageBackend,
    ) -> None:
        node = node_with_frames(store, b"base")
        base = store.get_head(WS, node.node_id, "note")
        candidates = [make_frame(node, f"candidate {i}".encode()) for i in range(8)]
        barrier = threading.Barrier(len(candidates))
        won: list[FrameId] = []
        lost: list[str] = []
        errors: list[BaseException] = []

        def race(frame: Frame, content: bytes) -> None:
            barrier.wait(timeout=30)
            try:
                won.append(cas_append(store, frame, content, expected_head=base).frame_id)
            except ConcurrentUpdate as exc:
                lost.append(exc.actual)
            except BaseException as exc:  # surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=c) for c in candidates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(won) == 1
        assert lost == [won[0]] * (len(candidates) - 1)
        assert store.get_head(WS, node.node_id, "note") == won[0]
        assert len(store.node_frame_ids(WS, node.node_id)) == 2

    def test_any_head_is_a_pickleable_singleton(self) -> None:
        assert pickle.loads(pickle.dumps(ANY_HEAD)) is ANY_HEAD
        assert type(ANY_HEAD)() is ANY_HEAD
        assert repr(ANY_HEAD) == "ANY_HEAD"

    def test_get_heads_many_omits_nodes_without_heads(self, store: StorageBackend) -> None:
        node, other = make_file("a", b"a"), make_file("b", b"b")
        store.put_nodes(WS, [node, other])
        note = append(store, *make_frame(node, b"1"))
        summary = append(store, *make_frame(node, b"2", frame_type="summary"))
        ids = [node.node_id, other.node_id, NodeId("not-an-id"), node.node_id]
        assert store.get_heads_many(WS, ids) == {
            node.node_id: {"note": note.frame_id, "summary": summary.frame_id}
        }
        assert store.get_head(WS, node.node_id, "summary") == summary.frame_id
        assert store.get_head(WS, node.node_id, "absent") is None
        assert store.get_head(WS, other.node_id, "note") is None
        assert store.get_heads_many(WS, []) == {}
        assert store.get_heads_many(OTHER_WS, ids) == {}

    def test_get_heads_many_spans_batches(self, store: StorageBackend) -> None:
        nodes = [make_file(f"f{i}", str(i).encode()) for i in range(520)]
        store.put_nodes(WS, nodes)
        expected: dict[NodeId, dict[str, FrameId]] = {}
        for i, node in enumerate(nodes):
            for frame_type in ("note", "summary")[: 1 + i % 2]:
                stored = append(store, *make_frame(node, b"x", frame_type=frame_type))
                expected.setdefault(node.node_id, {})[frame_type] = stored.frame_id
        ids = [n.node_id for n in nodes]
        assert store.get_heads_many(WS, ids) == expected

    def test_get_frame_sets_batch_matches_singles(self, store: StorageBackend) -> None:
        nodes = [make_file(f"s{i}", str(i).encode()) for i in range(520)]
        store.put_nodes(WS, nodes)
        for node in nodes[::2]:
            append(store, *make_frame(node, b"x"))
        ids = [n.node_id for n in nodes] + [NodeId("bad")]
        batch = store.get_frame_sets(WS, ids)
        assert batch == {
            n.node_id: state for n in nodes if (state := store.get_frame_set(WS, n.node_id))
        }
        assert len(batch) == 260
        assert store.get_frame_sets(OTHER_WS, ids) == {}

    def test_recent_frames_newest_first_per_node_bounded(self, store: StorageBackend) -> None:
        a, b, c = make_file("a", b"a"), make_file("b", b"b"), make_file("c", b"c")
        store.put_nodes(WS, [a, b, c])
        for i in range(5):
            append(store, *make_frame(a, f"a{i}".encode()))
            if i < 2:
                append(store, *make_frame(b, f"b{i}".encode(), frame_type="summary"))
        got = store.recent_frames(WS, [a.node_id, b.node_id, c.node_id, a.node_id], 3)
        assert set(got) == {a.node_id, b.node_id}
        assert got[a.node_id] == list(store.iter_node_frames(WS, a.node_id))[:3]
        assert got[b.node_id] == list(store.iter_node_frames(WS, b.node_id))
        assert [f.seq for f in got[a.node_id]] == sorted(
            (f.seq for f in got[a.node_id]), reverse=True
        )
        assert store.recent_frames(WS, [a.node_id], 0) == {}
        assert store.recent_frames(OTHER_WS, [a.node_id], 3) == {}


class IndexStoreConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.IndexStore`: path history and the basis index."""

    def test_path_history_records_changed_and_deleted_paths_only(
        self, store: StorageBackend
    ) -> None:
        a1, a2 = make_file("a", b"a1"), make_file("a", b"a2")
        b, c = make_file("b", b"b"), make_file("c", b"c")
        root1, root2 = make_dir("", [a1, b]), make_dir("", [a2, c])
        store.put_nodes(WS, [a1, a2, b, c, root1, root2])
        commit(store, root1, [("", root1.node_id), ("a", a1.node_id), ("b", b.node_id)])
        assert store.path_history(WS, "a", 10) == []  # added paths have no history
        entry = commit(
            store, root2, [("", root2.node_id), ("a", a2.node_id), ("b", None), ("c", c.node_id)]
        )
        assert entry.seq == 2
        assert store.path_history(WS, "a", 10) == [(2, a1.node_id)]
        assert store.path_history(WS, "b", 10) == [(2, b.node_id)]
        assert store.path_history(WS, "", 10) == [(2, root1.node_id)]
        assert store.path_history(WS, "c", 10) == []
        assert store.path_history(WS, "never", 10) == []
        assert store.path_history(OTHER_WS, "a", 10) == []

    def test_path_history_changed_twice_lists_old_ids_newest_first(
        self, store: StorageBackend
    ) -> None:
        versions = [make_file("a", f"v{i}".encode()) for i in range(3)]
        roots = [make_dir("", [v]) for v in versions]
        store.put_nodes(WS, versions + roots)
        for version, root in zip(versions, roots, strict=True):
            commit(store, root, [("", root.node_id), ("a", version.node_id)])
        expected = [(3, versions[1].node_id), (2, versions[0].node_id)]
        assert store.path_history(WS, "a", 10) == expected
        assert store.path_history(WS, "a", 1) == expected[:1]
        assert store.path_history(WS, "a", 0) == []

    def test_path_history_ignores_staged_paths_that_keep_their_node(
        self, store: StorageBackend
    ) -> None:
        file = make_file("a")
        root1, root2 = make_dir("", [file]), make_dir("", [file, make_file("b")])
        store.put_nodes(WS, [file, root1, root2])
        commit(store, root1, [("", root1.node_id), ("a", file.node_id)])
        commit(store, root2, [("", root2.node_id), ("a", file.node_id), ("gone", None)])
        assert store.path_history(WS, "a", 10) == []
        assert store.path_history(WS, "gone", 10) == []
        assert store.path_history(WS, "", 10) == [(2, root1.node_id)]

    def test_path_history_readded_path_keeps_only_its_deletion(self, store: StorageBackend) -> None:
        old, new = make_file("a", b"old"), make_file("a", b"new")
        roots = [make_dir("", [old]), make_dir(""), make_dir("", [new])]
        store.put_nodes(WS, [old, new, *roots])
        commit(store, roots[0], [("a", old.node_id)])
        commit(store, roots[1], [("a", None)])
        commit(store, roots[2], [("a", new.node_id)])
        assert store.path_history(WS, "a", 10) == [(2, old.node_id)]

    def test_path_history_failed_commit_records_nothing(self, store: StorageBackend) -> None:
        old, new = make_file("a", b"old"), make_file("a", b"new")
        root1, root2 = make_dir("", [old]), make_dir("", [new])
        store.put_nodes(WS, [old, new, root1, root2])
        commit(store, root1, [("", root1.node_id), ("a", old.node_id)])
        token = store.begin_scan(WS)
        store.stage_paths(WS, token, [("", root2.node_id), ("a", new.node_id)])
        with pytest.raises(ConcurrentUpdate):
            store.commit_scan(WS, token, root2.node_id, root2.node_id, CREATED_AT)
        with pytest.raises(NodeNotFound):
            store.commit_scan(WS, token, make_dir("x").node_id, root1.node_id, CREATED_AT)
        assert store.path_history(WS, "a", 10) == []
        assert store.path_history(WS, "", 10) == []
        assert store.commit_scan(WS, token, root2.node_id, root1.node_id, CREATED_AT).seq == 2
        assert store.path_history(WS, "a", 10) == [(2, old.node_id)]

    @pytest.mark.parametrize("kind", ["node", "frame", "node+frame", "synthesis"], ids=str)
    def test_frames_built_on_finds_dependent_of_each_basis_kind(
        self, store: StorageBackend, kind: str
    ) -> None:
        source, other, target = make_file("s", b"s"), make_file("o", b"o"), make_dir("d")
        store.put_nodes(WS, [source, other, target])
        base = append(store, *make_frame(source, b"base"))
        side = append(store, *make_frame(other, b"side"))
        basis = basis_for(kind, source.node_id, base.frame_id, side.frame_id)
        dependent = append(store, *make_frame(target, b"derived", basis=basis))
        refs = basis_refs(dependent)
        expected_refs = {
            "node": [source.node_id],
            "frame": [base.frame_id],
            "node+frame": [source.node_id, base.frame_id],
            "synthesis": [base.frame_id, side.frame_id],
        }[kind]
        assert refs == expected_refs
        for ref in refs:
            assert dependent.frame_id in built_on(store, ref, 10)
        if kind in ("frame", "synthesis"):
            assert built_on(store, base.frame_id, 10) == [dependent.frame_id]
        if kind == "synthesis":
            assert built_on(store, side.frame_id, 10) == [dependent.frame_id]
        # ``base`` (a default node basis) is built on ``source``; nothing else names it.
        assert built_on(store, target.node_id, 10) == []
        assert built_on(store, refs[0], 10, OTHER_WS) == []

    def test_frames_built_on_is_in_seq_order_and_honours_limit(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"1", b"2", b"3", b"4")
        by_seq = [f.frame_id for f in sorted(store.iter_node_frames(WS, node.node_id), key=seq_of)]
        assert built_on(store, node.node_id, 10) == by_seq
        assert built_on(store, node.node_id, 2) == by_seq[:2]
        assert built_on(store, node.node_id, 0) == []

    def test_frames_built_on_pages_by_seq_with_after_seq(self, store: StorageBackend) -> None:
        node = node_with_frames(store, *(str(i).encode() for i in range(7)))
        everything = store.frames_built_on(WS, node.node_id, 100)
        assert [seq for seq, _ in everything] == sorted(seq for seq, _ in everything)
        assert [fid for _, fid in everything] == [
            f.frame_id for f in sorted(store.iter_node_frames(WS, node.node_id), key=seq_of)
        ]
        pages, after = [], None
        while True:
            page = store.frames_built_on(WS, node.node_id, 3, after_seq=after)
            pages.append(page)
            if len(page) < 3:
                break
            after = page[-1][0]
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [entry for page in pages for entry in page] == everything
        last_seq = everything[-1][0]
        assert store.frames_built_on(WS, node.node_id, 3, after_seq=last_seq) == []
        assert store.frames_built_on(WS, node.node_id, 3, after_seq=0) == everything[:3]

    def test_frames_built_on_unknown_or_malformed_ref_is_empty(self, store: StorageBackend) -> None:
        assert store.frames_built_on(WS, make_file("ghost").node_id, 10) == []
        assert store.frames_built_on(WS, "not-an-id", 10) == []

    def test_reappend_adds_no_basis_rows(self, store: StorageBackend) -> None:
        node, parent = make_file("a"), make_dir("")
        store.put_nodes(WS, [node, parent])
        child = append(store, *make_frame(node, b"child"))
        synthesis = make_frame(parent, b"sum", basis=Basis.synthesis([child.frame_id], "concat"))
        first = append(store, *synthesis)
        assert append(store, *synthesis) == first
        assert append(store, *make_frame(node, b"child")) == child
        assert built_on(store, child.frame_id, 10) == [first.frame_id]
        assert built_on(store, node.node_id, 10) == [child.frame_id]

    def test_failed_append_records_no_basis_rows(self, store: StorageBackend) -> None:
        node, missing = make_file("a"), make_dir("")
        store.put_nodes(WS, [node])
        child = append(store, *make_frame(node, b"child"))
        with pytest.raises(NodeNotFound):
            append(
                store, *make_frame(missing, b"s", basis=Basis.synthesis([child.frame_id], "concat"))
            )
        assert built_on(store, child.frame_id, 10) == []

    def test_heads_and_path_history_many_match_singles(self, store: StorageBackend) -> None:
        a1, a2 = make_file("a", b"1"), make_file("a", b"2")
        b = make_file("b", b"b")
        roots = [make_dir("", [a, b]) for a in (a1, a2)]
        store.put_nodes(WS, [a1, a2, b, *roots])
        for a, root in zip((a1, a2), roots, strict=True):
            commit(store, root, [("", root.node_id), ("a", a.node_id), ("b", b.node_id)])
        append(store, *make_frame(a2, b"x"))
        append(store, *make_frame(a2, b"y", frame_type="summary"))
        append(store, *make_frame(b, b"z"))
        ids = [a1.node_id, a2.node_id, b.node_id, NodeId("nope")]
        many = store.get_heads_many(WS, ids)
        singles = {n: {t: store.get_head(WS, n, t) for t in ("note", "summary")} for n in ids}
        assert many == {
            n: {t: h for t, h in by_type.items() if h}
            for n, by_type in singles.items()
            if any(by_type.values())
        }
        assert list(many[a2.node_id]) == ["note", "summary"]
        history = store.path_history_many(WS, ["a", "b", "", "zzz", "a"], 5)
        assert history == {p: store.path_history(WS, p, 5) for p in ("a", "")}
        assert store.path_history_many(WS, ["a"], 0) == {}
        assert store.get_heads_many(OTHER_WS, ids) == {}


class MetadataStoreConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.MetadataStore`: workspaces and the agent registry."""

    def test_create_workspace_is_idempotent_and_the_first_wins(self, store: StorageBackend) -> None:
        first = store.get_workspace(WS)
        again = WorkspaceInfo(WS, "renamed", "other", "someone", "2030-01-01T00:00:00Z", None)
        assert store.create_workspace(again) == (first, False)
        assert store.get_workspace(WS) == first == workspace_info(WS, "ws-a")

    def test_create_workspace_stores_every_field(self, store: StorageBackend) -> None:
        ws = make_ws("full")
        info = WorkspaceInfo(ws, "full", "a description", "owner-1", "2025-02-03T04:05:06Z", None)
        assert store.create_workspace(info) == (info, True)
        assert store.get_workspace(ws) == info

    def test_get_workspace_unknown_returns_none(self, store: StorageBackend) -> None:
        assert store.get_workspace(make_ws("nope")) is None

    def test_tombstone_keeps_data_and_restore_brings_it_back(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"kept")
        before = store_state(store, WS) | {"workspace": None}
        gone = store.set_workspace_deleted(WS, "2025-01-01T00:00:00Z")
        assert gone == WorkspaceInfo(WS, "ws-a", "", None, CREATED_AT, "2025-01-01T00:00:00Z")
        assert store.get_workspace(WS) == gone
        assert store_state(store, WS) | {"workspace": None} == before
        assert store.get_node(WS, node.node_id) == node
        with pytest.raises(WorkspaceDeleted):
            store.create_workspace(workspace_info(WS, "ws-a"))
        assert store.get_workspace(WS) == gone
        assert store.set_workspace_deleted(WS, None) == workspace_info(WS, "ws-a")
        assert store.create_workspace(workspace_info(WS, "x")) == (
            workspace_info(WS, "ws-a"),
            False,
        )

    def test_set_workspace_deleted_unknown_raises_workspace_not_found(
        self, store: StorageBackend
    ) -> None:
        with pytest.raises(WorkspaceNotFound):
            store.set_workspace_deleted(make_ws("nope"), "2025-01-01T00:00:00Z")
        with pytest.raises(WorkspaceNotFound):
            store.set_workspace_deleted(WorkspaceId("not-an-id"), None)

    def test_list_workspaces_by_name_pages_and_hides_tombstones(
        self, store: StorageBackend
    ) -> None:
        names = ["c", "a", "e", "b", "d"]
        for name in names:
            store.create_workspace(workspace_info(make_ws(name), name))
        store.set_workspace_deleted(make_ws("b"), "2025-01-01T00:00:00Z")
        live = [i.name for i in store.list_workspaces()]
        assert live == ["a", "c", "d", "e", "ws-a", "ws-b"]
        every = store.list_workspaces(include_deleted=True)
        assert [i.name for i in every] == ["a", "b", "c", "d", "e", "ws-a", "ws-b"]
        assert every[1].deleted_at == "2025-01-01T00:00:00Z"
        pages: list[list[str]] = []
        after: str | None = None
        while True:
            page = [i.name for i in store.list_workspaces(after=after, limit=2)]
            pages.append(page)
            if len(page) < 2:
                break
            after = page[-1]
        assert pages == [["a", "c"], ["d", "e"], ["ws-a", "ws-b"], []]
        assert store.list_workspaces(limit=0) == []

    def test_workspace_counts_count_records_and_frames(self, store: StorageBackend) -> None:
        assert store.workspace_counts(WS) == (0, 0)
        node = node_with_frames(store, b"one", b"two")
        store.put_nodes(WS, [make_file("m.txt")])
        assert store.workspace_counts(WS) == (2, 2)
        append(store, *make_frame(node, b"one"))  # a re-put stores nothing new
        assert store.workspace_counts(WS) == (2, 2)
        assert store.workspace_counts(OTHER_WS) == (0, 0)
        with pytest.raises(WorkspaceNotFound):
            store.workspace_counts(make_ws("nope"))

    def test_put_agent_then_get_agent_returns_record(self, store: StorageBackend) -> None:
        store.put_agent(WS, "summarizer", b'{"role":"writer"}')
        assert store.get_agent(WS, "summarizer") == b'{"role":"writer"}'

    def test_get_agent_missing_returns_none(self, store: StorageBackend) -> None:
        assert store.get_agent(WS, "nobody") is None
        assert store.list_agents(WS) == []

    def test_put_agent_again_replaces_record(self, store: StorageBackend) -> None:
        store.put_agent(WS, "summarizer", b"v1")
        store.put_agent(WS, "summarizer", b"\x00v2")
        assert store.get_agent(WS, "summarizer") == b"\x00v2"
        assert store.list_agents(WS) == [("summarizer", b"\x00v2")]

    def test_list_agents_is_sorted_by_agent_id(self, store: StorageBackend) -> None:
        names = ["reviewer", "Zeta", "agent-b", "agent-a", "zed", "\u00e9t\u00e9", "a:1", "a/2"]
        for i, name in enumerate(names):
            store.put_agent(WS, name, bytes([i]))
        assert store.list_agents(WS) == sorted((name, bytes([i])) for i, name in enumerate(names))

    def test_agents_are_namespaced_by_workspace(self, store: StorageBackend) -> None:
        store.put_agent(WS, "shared", b"mine")
        assert store.get_agent(OTHER_WS, "shared") is None
        store.put_agent(OTHER_WS, "shared", b"theirs")
        assert store.get_agent(WS, "shared") == b"mine"
        assert store.list_agents(OTHER_WS) == [("shared", b"theirs")]


class ExportSourceConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.ExportSource`: full iteration for verify and export."""

    def test_iter_all_reports_everything_stored(self, store: StorageBackend) -> None:
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
        assert dict(store.blobs.iter_all(WS)) == {
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

    def test_iter_all_nodes_many_rows_spans_pages(self, store: StorageBackend) -> None:
        records = [make_file(f"f{i}", str(i).encode()) for i in range(600)]
        store.put_nodes(WS, records)
        assert {n.node_id for n in store.iter_all_nodes(WS)} == {r.node_id for r in records}  # type: ignore[union-attr]

    def test_iter_all_path_history_and_basis_refs(self, store: StorageBackend) -> None:
        a1, a2, a3 = make_file("a", b"1"), make_file("a", b"2"), make_file("a", b"3")
        b = make_file("b", b"b")
        roots = [make_dir("", [a, b]) for a in (a1, a2, a3)]
        store.put_nodes(WS, [a1, a2, a3, b, *roots])
        for a, root in zip((a1, a2, a3), roots, strict=True):
            commit(store, root, [("", root.node_id), ("a", a.node_id), ("b", b.node_id)])
        history = list(store.iter_all_path_history(WS))
        assert history == [
            ("", 2, roots[0].node_id),
            ("", 3, roots[1].node_id),
            ("a", 2, a1.node_id),
            ("a", 3, a2.node_id),
        ]
        first = append(store, *make_frame(a3, b"x"))
        second = append(
            store, *make_frame(a3, b"y", basis=Basis.node_frame(a3.node_id, first.frame_id))
        )
        refs = sorted(store.iter_all_basis_refs(WS))
        assert refs == sorted(
            [
                (a3.node_id, first.frame_id),
                (a3.node_id, second.frame_id),
                (first.frame_id, second.frame_id),
            ]
        )
        assert list(store.iter_all_basis_refs(OTHER_WS)) == []


class BackendConformance(_StoreSuite):
    """Cross-seam rules: the Protocol, lifecycle, workspace isolation, set roots, malformed IDs."""

    def test_store_satisfies_protocol(self, store: StorageBackend) -> None:
        assert isinstance(store, StorageBackend)

    def test_closed_store_raises_storage_error(self, store: StorageBackend) -> None:
        store.close()
        with pytest.raises(StorageError):
            store.get_node(WS, make_file().node_id)

    def test_unknown_workspace_is_workspace_not_found(self, store: StorageBackend) -> None:
        """Not a storage_error (a 5xx): the caller named a workspace the store does not hold."""
        with pytest.raises(WorkspaceNotFound):
            store.put_nodes(make_ws("nope"), [make_file()])
        with pytest.raises(WorkspaceNotFound):
            store.lookup_paths(make_ws("nope"), [""])

    @settings(
        max_examples=20,
        deadline=None,
        # Every backend's subclass runs this one method (different executors by
        # design); each example builds its own store from the factory.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(order=ORDERINGS)
    def test_set_root_is_independent_of_append_order(
        self,
        store_factory: StoreFactory,
        tmp_path_factory: pytest.TempPathFactory,
        order: list[int],
    ) -> None:
        node = make_file()
        frames = [
            make_frame(node, f"content {i}".encode(), frame_type=f"t{i % 2}") for i in range(6)
        ]
        with store_factory(tmp_path_factory.mktemp("store")) as backend_store:
            backend_store.create_workspace(workspace_info(WS, "ws-a"))
            backend_store.put_nodes(WS, [node])
            for i in order:
                append(backend_store, *frames[i])
            state = backend_store.get_frame_set(WS, node.node_id)
            seqs = [f.seq for f in backend_store.iter_all_frames(WS)]  # type: ignore[union-attr]
        assert state == NodeSetState(root_of([f.frame_id for f, _ in frames]), 6)
        assert seqs == [1, 2, 3, 4, 5, 6]

    def test_reads_with_misspelled_ids_find_nothing(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"one")
        frame = next(store.iter_node_frames(WS, node.node_id))
        for bad in _misspellings(node.node_id):
            bad_node = NodeId(bad)
            assert store.get_node(WS, bad_node) is None
            assert store.get_nodes(WS, [bad_node]) == {}
            assert store.get_head(WS, bad_node, "note") is None
            assert store.get_heads_many(WS, [bad_node]) == {}
            assert store.get_frame_set(WS, bad_node) is None
            assert store.get_frame_sets(WS, [bad_node]) == {}
            assert store.node_frame_ids(WS, bad_node) == []
            assert list(store.iter_node_frames(WS, bad_node)) == []
            assert store.recent_frames(WS, [bad_node], 5) == {}
            assert built_on(store, bad, 5) == []
        for bad in _misspellings(frame.frame_id):
            assert store.get_frame(WS, FrameId(bad)) is None
            assert store.get_frames(WS, [FrameId(bad)]) == {}
        for bad in _misspellings(frame.content_hash):
            assert store.blobs.get_many(WS, [ContentHash(bad)]).get(ContentHash(bad)) is None
            assert store.blobs.get_many(WS, [ContentHash(bad)]) == {}
        for bad in _misspellings(WS):
            assert store.get_workspace(WorkspaceId(bad)) is None

    @pytest.mark.parametrize("variant", range(4), ids=["upper", "padded", "short", "nonhex"])
    def test_writes_with_misspelled_ids_raise_invalid_id_and_store_nothing(
        self, store: StorageBackend, variant: int
    ) -> None:
        node = make_file("n.txt")
        store.put_nodes(WS, [node])
        frame, content = make_frame(node, b"body")

        def bad(hex_id: str) -> str:
            return _misspellings(hex_id)[variant]

        with pytest.raises(InvalidId):
            store.create_workspace(workspace_info(WorkspaceId(bad(make_ws("fresh"))), "fresh"))
        assert store.get_workspace(make_ws("fresh")) is None
        other = make_file("other.txt", b"other")
        with pytest.raises(InvalidId):
            store.put_nodes(WS, [dataclasses.replace(other, node_id=NodeId(bad(other.node_id)))])
        assert store.get_node(WS, other.node_id) is None
        token = store.begin_scan(WS)
        with pytest.raises(InvalidId):
            store.stage_paths(WS, token, [("n.txt", NodeId(bad(node.node_id)))])
        store.abort_scan(WS, token)
        for field in ("frame_id", "node_id", "content_hash"):
            changes: dict[str, Any] = {field: bad(getattr(frame, field))}
            misspelled = dataclasses.replace(frame, **changes)
            with pytest.raises(InvalidId):
                append(store, misspelled, content)
        assert list(store.iter_all_frames(WS)) == []
        # Content goes first and is keyed by its own (valid) hash: it may stay, unreferenced.
        assert dict(store.blobs.iter_all(WS)) == {frame.content_hash: content}


class BlobStoreConformance(_StoreSuite):
    """:class:`~treeframe.storage.blobs.BlobStore` (``store.blobs``) and the blob-first append."""

    def test_put_stores_once_and_reads_back(self, store: StorageBackend) -> None:
        digest = content_hash(b"body")
        assert store.blobs.put(WS, digest, b"body") is True
        assert store.blobs.put(WS, digest, b"body") is False
        missing = content_hash(b"other")
        assert store.blobs.get_many(WS, [digest, missing, digest]) == {digest: b"body"}
        assert store.blobs.exists_many(WS, [digest, missing]) == {digest}
        assert list(store.blobs.iter_all(WS)) == [(digest, b"body")]

    def test_put_refuses_bytes_that_do_not_hash_to_the_key(self, store: StorageBackend) -> None:
        digest = content_hash(b"claimed")
        with pytest.raises(IntegrityError) as info:
            store.blobs.put(WS, digest, b"actual")
        assert (info.value.expected, info.value.got) == (digest, content_hash(b"actual"))
        assert store.blobs.exists_many(WS, [digest, content_hash(b"actual")]) == set()
        assert list(store.blobs.iter_all(WS)) == []

    def test_put_malformed_hash_raises_invalid_id(self, store: StorageBackend) -> None:
        with pytest.raises(InvalidId):
            store.blobs.put(WS, ContentHash(content_hash(b"x").upper()), b"x")
        assert list(store.blobs.iter_all(WS)) == []
        assert store.blobs.get_many(WS, [ContentHash("nothex")]) == {}
        assert store.blobs.exists_many(WS, [ContentHash("nothex")]) == set()

    def test_blobs_are_namespaced_by_workspace(self, store: StorageBackend) -> None:
        digest = content_hash(b"mine")
        store.blobs.put(WS, digest, b"mine")
        assert store.blobs.get_many(OTHER_WS, [digest]) == {}
        assert store.blobs.exists_many(OTHER_WS, [digest]) == set()
        assert list(store.blobs.iter_all(OTHER_WS)) == []
        with pytest.raises(WorkspaceNotFound):
            store.blobs.put(make_ws("nope"), digest, b"mine")

    def test_append_without_its_content_raises_and_writes_nothing(
        self, store: StorageBackend
    ) -> None:
        node = make_file()
        store.put_nodes(WS, [node])
        frame, content = make_frame(node, b"never put")
        before = store_state(store, WS)
        with pytest.raises(IntegrityError) as info:
            store.append_frame(WS, frame, root_of_raw, CREATED_AT)
        assert info.value.expected == frame.content_hash
        assert store_state(store, WS) == before
        assert store.blobs.put(WS, frame.content_hash, content) is True
        assert store.append_frame(WS, frame, root_of_raw, CREATED_AT).frame.seq == 1  # no seq lost

    def test_streams_put_and_read_a_blob_in_chunks(self, store: StorageBackend) -> None:
        data = b"".join(b"streamed line %d\n" % i for i in range(20000))
        digest = content_hash(data)
        pieces = [data[i : i + 4096] for i in range(0, len(data), 4096)]
        assert store.blobs.put_stream(WS, digest, iter(pieces)) is True
        assert store.blobs.put_stream(WS, digest, iter(pieces)) is False
        stream = store.blobs.read_stream(WS, digest)
        assert stream is not None
        assert b"".join(stream) == data
        assert store.blobs.get_many(WS, [digest]) == {digest: data}
        assert store.blobs.read_stream(WS, content_hash(b"absent")) is None
        assert store.blobs.read_stream(OTHER_WS, digest) is None

    def test_put_stream_refuses_bytes_that_do_not_hash_to_the_key(
        self, store: StorageBackend
    ) -> None:
        digest = content_hash(b"claimed")
        with pytest.raises(IntegrityError):
            store.blobs.put_stream(WS, digest, iter([b"act", b"ual"]))
        assert store.blobs.exists_many(WS, [digest]) == set()
        assert store.blobs.read_stream(WS, digest) is None


def _many_writes(store: StorageBackend, node: NodeRecord) -> Frame:
    """One of every kind of write: blob, frame and head, agent, workspace, tombstone."""
    frame = append(store, *make_frame(node, b"in the unit"))
    store.put_agent(WS, "agent-u", b"{}")
    store.create_workspace(workspace_info(make_ws("ws-new"), "ws-new"))
    store.set_workspace_deleted(OTHER_WS, "2025-01-01T00:00:00Z")
    store.put_nodes(WS, [make_file("unit.txt", b"unit")])
    return frame


class UnitOfWorkConformance(_StoreSuite):
    """``unit_of_work()``: several writes commit together or not at all."""

    def _states(self, store: StorageBackend) -> list[dict[str, Any]]:
        return [store_state(store, WS), store_state(store, OTHER_WS)]

    def test_a_failed_unit_leaves_nothing(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"before")
        before = self._states(store)

        def failing_unit() -> None:
            with store.unit_of_work():
                _many_writes(store, node)
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError, match="abort"):
            failing_unit()
        assert self._states(store) == before
        assert store.get_workspace(make_ws("ws-new")) is None
        assert store.get_node(WS, make_file("unit.txt", b"unit").node_id) is None
        assert append(store, *make_frame(node, b"after")).seq == 2  # no seq was consumed

    def test_a_successful_unit_lands_everything(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"before")
        with store.unit_of_work():
            frame = _many_writes(store, node)
            with store.unit_of_work():  # a nested unit joins the outer one
                store.put_agent(WS, "agent-v", b"{}")
        assert store.get_head(WS, node.node_id, "note") == frame.frame_id
        assert store.blobs.exists_many(WS, [frame.content_hash]) == {frame.content_hash}
        assert [a for a, _ in store.list_agents(WS)] == ["agent-u", "agent-v"]
        assert store.get_workspace(make_ws("ws-new")) == workspace_info(make_ws("ws-new"), "ws-new")
        assert store.get_workspace(OTHER_WS) is not None
        assert store.get_workspace(OTHER_WS).deleted_at == "2025-01-01T00:00:00Z"  # type: ignore[union-attr]

    def test_a_lost_compare_and_set_rolls_back_the_whole_unit(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"first")
        (head,) = store.iter_node_frames(WS, node.node_id)
        before = self._states(store)

        def racing_unit() -> None:
            with store.unit_of_work():
                store.put_agent(WS, "agent-u", b"{}")
                append(store, *make_frame(node, b"second"))
                cas_append(store, *make_frame(node, b"third"), expected_head=head.frame_id)

        with pytest.raises(ConcurrentUpdate):
            racing_unit()
        assert self._states(store) == before

    def test_other_threads_see_nothing_until_the_unit_commits(self, store: StorageBackend) -> None:
        node = node_with_frames(store, b"first")
        seen: list[object] = []

        def look() -> None:
            seen.append(store.get_agent(WS, "agent-u"))

        with store.unit_of_work():
            store.put_agent(WS, "agent-u", b"{}")
            reader = threading.Thread(target=look)
            reader.start()
            reader.join(timeout=60)
        assert seen == [None]
        assert store.get_agent(WS, "agent-u") == b"{}"
        assert store.get_head(WS, node.node_id, "note") is not None


class SnapshotConformance(_StoreSuite):
    """``snapshot()``: every read from one state while others write."""

    def test_snapshot_sees_the_state_at_its_start_under_a_concurrent_writer(
        self, store: StorageBackend
    ) -> None:
        nodes = [make_file(f"s{i}", str(i).encode()) for i in range(40)]
        store.put_nodes(WS, nodes)
        for node in nodes[:10]:
            append(store, *make_frame(node, b"early"))
        before = store_state(store, WS)
        errors: list[BaseException] = []
        started = threading.Event()

        def write() -> None:
            try:
                started.set()
                for node in nodes:
                    append(store, *make_frame(node, b"late"))
            except BaseException as exc:  # examined below
                errors.append(exc)

        with store.snapshot() as view:
            writer = threading.Thread(target=write)
            writer.start()
            assert started.wait(timeout=60)
            seen = []
            for frame in view.iter_all_frames(WS):
                seen.append(frame)
                if len(seen) == 5:
                    writer.join(timeout=60)  # every late frame lands mid-iteration
            assert seen == before["frames"]
            assert store_state(view, WS) == before
            assert view.get_heads_many(WS, [n.node_id for n in nodes[10:]]) == {}
            with pytest.raises(StorageError):
                view.put_agent(WS, "agent-x", b"{}")
        assert errors == []
        assert len(list(store.iter_all_frames(WS))) == 50


def token_record(
    token_id: str = "0123456789abcdef",
    *,
    agent: str = "agent-a",
    scope: WorkspaceId | None = WS,
    permissions: tuple[str, ...] = ("read",),
) -> TokenRecord:
    """A token row as the engine writes it (the hash is any 64-hex string here)."""
    return TokenRecord(
        token_id, "ab" * 32, agent, scope, permissions, CREATED_AT, None, None, "admin-1"
    )


class AccessStoreConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.AccessStore`: API tokens and per-workspace ACL entries."""

    def test_put_token_then_get_token_returns_every_field(self, store: StorageBackend) -> None:
        record = dataclasses.replace(
            token_record(permissions=("admin", "read")), expires_at="2030-01-01T00:00:00Z"
        )
        store.put_token(record)
        assert store.get_token(record.token_id) == record
        unscoped = token_record("fedcba9876543210", scope=None)
        store.put_token(unscoped)
        assert store.get_token("fedcba9876543210") == unscoped

    def test_unknown_or_malformed_token_ids_find_nothing(self, store: StorageBackend) -> None:
        store.put_token(token_record())
        for probe in ["0123456789abcdee", "0123456789ABCDEF", " 0123456789abcdef", "0123", ""]:
            assert store.get_token(probe) is None
        assert store.revoke_token("0123456789abcdee", CREATED_AT) is None

    def test_put_token_refuses_a_taken_or_malformed_id(self, store: StorageBackend) -> None:
        store.put_token(token_record())
        with pytest.raises(Conflict):
            store.put_token(token_record(agent="intruder"))
        assert store.get_token("0123456789abcdef") == token_record()
        with pytest.raises(InvalidId):
            store.put_token(token_record("0123456789ABCDEF"))
        assert len(store.list_tokens()) == 1

    def test_scoped_token_needs_an_existing_workspace(self, store: StorageBackend) -> None:
        with pytest.raises(WorkspaceNotFound):
            store.put_token(token_record(scope=make_ws("nope")))
        assert store.list_tokens() == []

    def test_revoke_token_keeps_the_first_revocation(self, store: StorageBackend) -> None:
        store.put_token(token_record())
        first = store.revoke_token("0123456789abcdef", "2025-01-01T00:00:00Z")
        assert first == dataclasses.replace(token_record(), revoked_at="2025-01-01T00:00:00Z")
        again = store.revoke_token("0123456789abcdef", "2026-01-01T00:00:00Z")
        assert again == first
        assert store.get_token("0123456789abcdef") == first

    def test_list_tokens_by_scope_is_sorted_and_pages(self, store: StorageBackend) -> None:
        ids = [f"{i:016x}" for i in (5, 1, 4, 2, 3)]
        for i, token_id in enumerate(ids):
            store.put_token(token_record(token_id, scope=WS if i % 2 == 0 else OTHER_WS))
        store.put_token(token_record("ffffffffffffffff", scope=None))
        assert [t.token_id for t in store.list_tokens()] == sorted([*ids, "f" * 16])
        assert [t.token_id for t in store.list_tokens(WS)] == sorted(ids[0::2])
        assert [t.token_id for t in store.list_tokens(OTHER_WS)] == sorted(ids[1::2])
        pages: list[list[str]] = []
        after: str | None = None
        while page := [t.token_id for t in store.list_tokens(after=after, limit=2)]:
            pages.append(page)
            after = page[-1]
        assert [t for p in pages for t in p] == sorted([*ids, "f" * 16])
        assert [len(p) for p in pages] == [2, 2, 2]
        assert store.list_tokens(make_ws("nope")) == []
        assert store.list_tokens(limit=0) == []

    def test_acl_insert_replace_delete(self, store: StorageBackend) -> None:
        entry = AclEntry("agent-b", ("read", "write"), CREATED_AT, "admin-1")
        store.put_acl(WS, entry)
        assert store.get_acl(WS, "agent-b") == entry
        replaced = AclEntry("agent-b", ("read",), "2025-01-01T00:00:00Z", None)
        store.put_acl(WS, replaced)
        assert store.get_acl(WS, "agent-b") == replaced
        assert store.list_acl(WS) == [replaced]
        assert store.delete_acl(WS, "agent-b") is True
        assert store.delete_acl(WS, "agent-b") is False
        assert store.get_acl(WS, "agent-b") is None
        assert store.list_acl(WS) == []

    def test_acl_is_namespaced_by_workspace_and_sorted(self, store: StorageBackend) -> None:
        names = ["zed", "Zeta", "agent-b", "a:1", "\u00e9t\u00e9"]
        for name in names:
            store.put_acl(WS, AclEntry(name, ("read",), CREATED_AT, None))
        assert [e.agent_id for e in store.list_acl(WS)] == sorted(names)
        assert store.list_acl(OTHER_WS) == []
        assert store.get_acl(OTHER_WS, "zed") is None
        with pytest.raises(WorkspaceNotFound):
            store.put_acl(make_ws("nope"), AclEntry("x", ("read",), CREATED_AT, None))

    def test_acl_never_changes_workspace_state(self, store: StorageBackend) -> None:
        node_with_frames(store, b"kept")
        before = store_state(store, WS)
        store.put_acl(WS, AclEntry("agent-b", ("read",), CREATED_AT, None))
        store.put_token(token_record())
        assert store_state(store, WS) == before

    def test_workspaces_of_agent_by_owner_acl_or_registry(self, store: StorageBackend) -> None:
        for name, owner in [
            ("own-1", "me"),
            ("own-2", "me"),
            ("acl", None),
            ("reg", None),
            ("other", "you"),
            ("gone", "me"),
        ]:
            store.create_workspace(WorkspaceInfo(make_ws(name), name, "", owner, CREATED_AT, None))
        store.put_acl(make_ws("acl"), AclEntry("me", ("read",), CREATED_AT, None))
        store.put_acl(make_ws("other"), AclEntry("you", ("read",), CREATED_AT, None))
        store.put_agent(make_ws("reg"), "me", b"{}")
        store.set_workspace_deleted(make_ws("gone"), "2025-01-01T00:00:00Z")
        names = [i.name for i in store.list_workspaces_of_agent("me")]
        assert names == ["acl", "own-1", "own-2", "reg"]
        every = store.list_workspaces_of_agent("me", include_deleted=True)
        assert [i.name for i in every] == ["acl", "gone", "own-1", "own-2", "reg"]
        page = store.list_workspaces_of_agent("me", after="acl", limit=2)
        assert [i.name for i in page] == ["own-1", "own-2"]
        assert store.list_workspaces_of_agent("nobody") == []

    def test_unit_of_work_rolls_back_tokens_and_acl(self, store: StorageBackend) -> None:
        def aborted() -> None:
            with store.unit_of_work():
                store.put_token(token_record())
                store.put_acl(WS, AclEntry("agent-b", ("read",), CREATED_AT, None))
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            aborted()
        assert store.get_token("0123456789abcdef") is None
        assert store.list_acl(WS) == []
        with store.unit_of_work():
            store.put_token(token_record())
        assert store.get_token("0123456789abcdef") == token_record()


def _draft(
    agent: str | None = "agent-a", operation: str = "frame.put", **overrides: Any
) -> AuditDraft:
    fields: dict[str, Any] = {
        "time": CREATED_AT,
        "agent": agent,
        "operation": operation,
        "node": None,
        "frame": None,
        "success": True,
        "error": None,
        "request_id": None,
        **overrides,
    }
    return AuditDraft(**fields)


class AuditStoreConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.AuditStore`: the per-workspace audit hash chain."""

    def test_entries_chain_from_seq_1_and_the_genesis_hash(self, store: StorageBackend) -> None:
        first = store.append_audit(WS, _draft(request_id="req-1"))
        second = store.append_audit(WS, _draft(success=False, error="access_denied"))
        assert (first.seq, first.prev_hash) == (1, GENESIS)
        assert (second.seq, second.prev_hash) == (2, first.entry_hash)
        assert first == chain_entry(WS, _draft(request_id="req-1"), None)
        assert second == chain_entry(WS, _draft(success=False, error="access_denied"), first)
        assert audit_entry_hash(second.fields()) == second.entry_hash
        assert store.audit_head(WS) == second
        assert list(store.iter_audit(WS)) == [first, second]

    def test_every_field_round_trips(self, store: StorageBackend) -> None:
        node = make_file("a.txt", b"a").node_id
        draft = _draft(
            agent=None,
            operation="workspace.delete",
            node=node,
            frame="f" * 64,
            success=False,
            error="invalid_request",
            request_id="abc:1",
        )
        stored = store.append_audit(WS, draft)
        (read,) = store.iter_audit(WS)
        assert read == stored
        assert (read.agent, read.node, read.frame, read.success, read.error, read.request_id) == (
            None,
            node,
            "f" * 64,
            False,
            "invalid_request",
            "abc:1",
        )

    def test_chains_are_per_workspace(self, store: StorageBackend) -> None:
        store.append_audit(WS, _draft())
        store.append_audit(WS, _draft())
        other = store.append_audit(OTHER_WS, _draft())
        assert (other.seq, other.prev_hash, other.workspace) == (1, GENESIS, OTHER_WS)
        assert [e.seq for e in store.iter_audit(WS)] == [1, 2]
        assert store.audit_head(OTHER_WS) == other

    def test_an_empty_log_has_no_head(self, store: StorageBackend) -> None:
        assert store.audit_head(WS) is None
        assert list(store.iter_audit(WS)) == []
        assert store.list_audit(WS) == []

    def test_unknown_workspace_raises(self, store: StorageBackend) -> None:
        with pytest.raises(WorkspaceNotFound):
            store.append_audit(make_ws("nowhere"), _draft())

    def test_list_is_keyset_paged_and_filtered(self, store: StorageBackend) -> None:
        node = make_file("n.txt", b"n").node_id
        for i in range(7):
            store.append_audit(
                WS,
                _draft(
                    agent=f"agent-{i % 2}",
                    operation="frame.put" if i % 3 else "agent.register",
                    node=node if i >= 5 else None,
                ),
            )
        assert [e.seq for e in store.list_audit(WS, limit=3)] == [1, 2, 3]
        assert [e.seq for e in store.list_audit(WS, after_seq=3, limit=3)] == [4, 5, 6]
        assert [e.seq for e in store.list_audit(WS, after_seq=6, limit=3)] == [7]
        assert [e.seq for e in store.list_audit(WS, agent="agent-1")] == [2, 4, 6]
        assert [e.seq for e in store.list_audit(WS, operation="agent.register")] == [1, 4, 7]
        assert [e.seq for e in store.list_audit(WS, node=node)] == [6, 7]
        assert [
            e.seq for e in store.list_audit(WS, agent="agent-0", operation="frame.put", limit=1)
        ] == [3]
        assert store.list_audit(WS, agent="nobody") == []

    def test_an_entry_rolls_back_with_its_unit(self, store: StorageBackend) -> None:
        store.append_audit(WS, _draft())

        def failing() -> None:
            with store.unit_of_work():
                store.put_agent(WS, "agent-u", b"{}")
                store.append_audit(WS, _draft(agent="ghost"))
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            failing()
        assert [e.agent for e in store.iter_audit(WS)] == ["agent-a"]
        assert store.get_agent(WS, "agent-u") is None
        assert store.append_audit(WS, _draft()).seq == 2  # the seq was not consumed

    def test_a_unit_commits_change_and_entry_together(self, store: StorageBackend) -> None:
        with store.unit_of_work():
            store.put_agent(WS, "agent-u", b"{}")
            entry = store.append_audit(WS, _draft())
            assert store.audit_head(WS) == entry  # the unit sees its own entry
        assert store.audit_head(WS) == entry
        assert store.get_agent(WS, "agent-u") == b"{}"

    def test_concurrent_appends_stay_gapless(self, store: StorageBackend) -> None:
        def append_many() -> None:
            for _ in range(10):
                store.append_audit(WS, _draft())

        threads = [threading.Thread(target=append_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        chain = list(store.iter_audit(WS))
        assert [e.seq for e in chain] == list(range(1, 41))
        for before, after in itertools.pairwise(chain):
            assert after.prev_hash == before.entry_hash

    def test_a_snapshot_reads_the_log_and_refuses_appends(self, store: StorageBackend) -> None:
        entry = store.append_audit(WS, _draft())
        with store.snapshot() as view:
            store.append_audit(WS, _draft())
            assert list(view.iter_audit(WS)) == [entry]
            with pytest.raises(StorageError):
                view.append_audit(WS, _draft())


def _populate(store: StorageBackend) -> None:
    """Rows of every kind in ``WS``: a rescan, frames of every basis, a re-put, audit, config."""
    a1, a2, b = make_file("a", b"1"), make_file("a", b"2"), make_file("b", b"b")
    roots = [make_dir("", [a, b]) for a in (a1, a2)]
    store.put_nodes(WS, [a1, a2, b, *roots])
    for a, root in zip((a1, a2), roots, strict=True):
        commit(store, root, [("", root.node_id), ("a", a.node_id), ("b", b.node_id)])
    f1 = append(store, *make_frame(a2, b"1"))
    f2 = append(store, *make_frame(a2, b"2"))
    f3 = append(
        store,
        *make_frame(b, b"3", basis=basis_for("synthesis", b.node_id, f1.frame_id, f2.frame_id)),
    )
    append(store, *make_frame(a2, b"1"))  # a re-put of f1: put_seq moves past f3's seq
    assert f3.seq < store.get_frame(WS, f1.frame_id).put_seq  # type: ignore[union-attr]
    for op in ("frame.put", "scan"):
        store.append_audit(
            WS, AuditDraft(CREATED_AT, "agent-a", op, b.node_id, None, True, None, None)
        )
    store.put_agent(WS, "agent-a", b"{}")
    store.put_acl(WS, AclEntry("agent-a", ("read",), CREATED_AT, None))


def export_into(source: StorageBackend, target: StorageBackend, ws: WorkspaceId = WS) -> None:
    """Every row of ``ws`` from ``source`` into ``target`` through BulkImport (and the plain puts)."""
    frames = [f for f in source.iter_all_frames(ws) if isinstance(f, Frame)]
    info = source.get_workspace(ws)
    assert info is not None
    target.import_workspace(info, 1 + max((f.put_seq for f in frames), default=0))
    target.put_nodes(ws, [n for n in source.iter_all_nodes(ws) if isinstance(n, NodeRecord)])
    for digest, data in source.blobs.iter_all(ws):
        target.blobs.put(ws, digest, data)
    target.import_frames(ws, frames)
    seqs = {f.frame_id: f.seq for f in frames}
    target.import_basis_refs(ws, [(r, seqs[f], f) for r, f in source.iter_all_basis_refs(ws)])
    target.import_path_history(ws, list(source.iter_all_path_history(ws)))
    target.import_audit(ws, list(source.iter_audit(ws)))
    for agent, record in source.list_agents(ws):
        target.put_agent(ws, agent, record)
    for entry in source.list_acl(ws):
        target.put_acl(ws, entry)
    target.import_frame_sets(ws, list(source.iter_all_frame_sets(ws)))
    target.import_heads(ws, list(source.iter_all_heads(ws)))
    target.import_paths(ws, list(source.iter_all_paths(ws)))
    target.import_roots(ws, source.root_history(ws, 1 << 30)[::-1])


def exported(store: StorageBackend, ws: WorkspaceId = WS) -> dict[str, Any]:
    """Every export of ``ws``, put_seq and the audit chain included, as comparable values."""
    state = store_state(store, ws)
    state["frames"] = [(f, f.put_seq) for f in state["frames"] if isinstance(f, Frame)]
    state["audit"] = list(store.iter_audit(ws))
    state["acl"] = store.list_acl(ws)
    state["recent"] = {
        n: [f.frame_id for f in fs]
        for n, fs in store.recent_frames(
            ws, [n for n, _ in store.iter_all_frame_sets(ws)], 10
        ).items()
    }
    return state


class BulkImportConformance(_StoreSuite):
    """:class:`~treeframe.storage.base.BulkImport`: rows as another store holds them.

    Idempotent: immutable rows already present are kept, pointer rows (heads,
    paths, frame sets, a frame's ``put_seq``) take the imported value.
    """

    @pytest.fixture
    def source(self) -> Iterator[StorageBackend]:
        """The reference (memory) store holding rows of every kind in ``WS``.

        A memory store, not a second one of the backend: some factories
        share one database between the stores they make.
        """
        with MemoryStore() as reference:
            reference.create_workspace(workspace_info(WS, "ws-a"))
            _populate(reference)
            yield reference

    def test_import_reproduces_every_export(
        self, source: StorageBackend, store: StorageBackend
    ) -> None:
        export_into(source, store)
        assert exported(store) == exported(source)
        assert store.current_root(WS) == source.current_root(WS)

    def test_exports_imported_into_the_reference_reproduce_them(
        self, store: StorageBackend
    ) -> None:
        _populate(store)
        with MemoryStore() as reference:
            export_into(store, reference)
            assert exported(reference) == exported(store)

    def test_import_twice_equals_once(self, source: StorageBackend, store: StorageBackend) -> None:
        export_into(source, store)
        once = exported(store)
        export_into(source, store)
        assert exported(store) == once

    def test_imported_store_keeps_its_sequence(
        self, source: StorageBackend, store: StorageBackend
    ) -> None:
        export_into(source, store)
        node = make_file("new", b"new")
        store.put_nodes(WS, [node])
        fresh = append(store, *make_frame(node, b"after the import"))
        last = max(f.put_seq for f in source.iter_all_frames(WS) if isinstance(f, Frame))
        assert fresh.seq == last + 1
        entry = store.append_audit(
            WS, AuditDraft(CREATED_AT, None, "x", None, None, True, None, None)
        )
        assert entry.prev_hash == source.audit_head(WS).entry_hash  # type: ignore[union-attr]

    def test_import_workspace_creates_replaces_metadata_and_next_seq_only_grows(
        self, store: StorageBackend
    ) -> None:
        ws = make_ws("ws-imported")
        info = workspace_info(ws, "ws-imported")
        store.import_workspace(info, 10)
        assert store.get_workspace(ws) == info
        store.import_workspace(dataclasses.replace(info, description="d", deleted_at="t"), 5)
        assert store.get_workspace(ws) == dataclasses.replace(info, description="d", deleted_at="t")
        store.import_workspace(info, 3)
        assert store.get_workspace(ws) == info
        node = make_file()
        store.put_nodes(ws, [node])
        assert append(store, *make_frame(node), ws=ws).seq == 10

    def test_pointers_are_replaced(self, store: StorageBackend) -> None:
        a, b = make_file("a", b"a"), make_file("b", b"b")
        f1, _ = make_frame(a, b"1")
        f2, _ = make_frame(a, b"2")
        store.import_heads(WS, [(a.node_id, "note", f1.frame_id)])
        store.import_heads(WS, [(a.node_id, "note", f2.frame_id)])
        store.import_frame_sets(WS, [(a.node_id, NodeSetState(root_of([f1.frame_id]), 1))])
        two = NodeSetState(root_of([f1.frame_id, f2.frame_id]), 2)
        store.import_frame_sets(WS, [(a.node_id, two)])
        store.import_paths(WS, [("a", a.node_id)])
        store.import_paths(WS, [("a", b.node_id)])
        assert store.get_head(WS, a.node_id, "note") == f2.frame_id
        assert store.get_frame_set(WS, a.node_id) == two
        assert store.lookup_path(WS, "a") == b.node_id

    def test_immutable_rows_are_kept(self, store: StorageBackend) -> None:
        node = make_file()
        frame, _ = make_frame(node)
        stored = dataclasses.replace(frame, seq=3, put_seq=7, created_at=CREATED_AT)
        store.import_frames(WS, [stored])
        store.import_frames(WS, [dataclasses.replace(stored, seq=4, put_seq=9, created_at="later")])
        (kept,) = store.iter_all_frames(WS)
        assert kept == stored  # the record (seq, created_at) is kept ...
        assert isinstance(kept, Frame)
        assert kept.put_seq == 9  # ... and the recency pointer moved
        assert [f.put_seq for f in store.iter_node_frames(WS, node.node_id)] == [9]
        store.import_roots(WS, [RootEntry(1, node.node_id, CREATED_AT)])
        store.import_roots(WS, [RootEntry(1, make_file("x").node_id, "later")])
        assert store.root_history(WS, 10) == [RootEntry(1, node.node_id, CREATED_AT)]
        first = chain_entry(
            WS, AuditDraft(CREATED_AT, None, "a", None, None, True, None, None), None
        )
        other = chain_entry(
            WS, AuditDraft(CREATED_AT, None, "b", None, None, True, None, None), None
        )
        store.import_audit(WS, [first])
        store.import_audit(WS, [other])
        assert list(store.iter_audit(WS)) == [first]
        store.import_path_history(WS, [("a", 1, node.node_id)])
        store.import_path_history(WS, [("a", 1, make_file("x").node_id)])
        assert store.path_history(WS, "a", 10) == [(1, node.node_id)]
        store.import_basis_refs(WS, [(node.node_id, 3, frame.frame_id)])
        store.import_basis_refs(WS, [(node.node_id, 3, make_frame(node, b"x")[0].frame_id)])
        assert store.frames_built_on(WS, node.node_id, 10) == [(3, frame.frame_id)]

    def test_entries_imported_out_of_order_are_read_in_seq_order(
        self, store: StorageBackend
    ) -> None:
        roots = [RootEntry(seq, make_file(f"r{seq}").node_id, CREATED_AT) for seq in (1, 2, 3)]
        store.import_roots(WS, [roots[2]])
        store.import_roots(WS, [roots[0], roots[1]])
        assert store.root_history(WS, 10) == roots[::-1]
        assert store.current_root(WS) == roots[2]
        drafts = [AuditDraft(CREATED_AT, None, op, None, None, True, None, None) for op in "abc"]
        chain: list[AuditEntry] = []
        for draft in drafts:
            chain.append(chain_entry(WS, draft, chain[-1] if chain else None))
        store.import_audit(WS, [chain[1], chain[2]])
        store.import_audit(WS, [chain[0]])
        assert list(store.iter_audit(WS)) == chain
        assert store.audit_head(WS) == chain[2]

    def test_imports_in_a_failed_unit_of_work_leave_nothing(self, store: StorageBackend) -> None:
        node = make_file()
        frame, _ = make_frame(node)
        store.import_roots(WS, [RootEntry(2, node.node_id, CREATED_AT)])
        before = store_state(store, WS)

        def aborted() -> None:
            with store.unit_of_work():
                store.import_frames(WS, [dataclasses.replace(frame, seq=1, put_seq=1)])
                store.import_roots(WS, [RootEntry(1, node.node_id, CREATED_AT)])  # out of order
                store.import_heads(WS, [(node.node_id, "note", frame.frame_id)])
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError, match="abort"):
            aborted()
        assert store_state(store, WS) == before
        with store.unit_of_work():
            store.import_roots(WS, [RootEntry(1, node.node_id, CREATED_AT)])
        assert [e.seq for e in store.root_history(WS, 10)] == [2, 1]


class StorageBackendConformance(
    BulkImportConformance,
    AccessStoreConformance,
    AuditStoreConformance,
    UnitOfWorkConformance,
    SnapshotConformance,
    BlobStoreConformance,
    NodeStoreConformance,
    FrameStoreConformance,
    IndexStoreConformance,
    MetadataStoreConformance,
    ExportSourceConformance,
    BackendConformance,
):
    """Every seam at once: what a complete :class:`StorageBackend` must pass."""
