from __future__ import annotations

from pathlib import Path

import pytest

from treeframe.errors import WorkspaceNotFound
from treeframe.hashing.ids import workspace_id
from treeframe.observability.storage import InstrumentedStore
from treeframe.storage.base import StorageBackend
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.testing.factories import workspace_info
from treeframe.tree.scan import scan_tree


def test_every_call_is_timed_and_answers_are_unchanged(tmp_path: Path):
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "a.txt").write_text("a")
    store_calls: list[str] = []
    blob_calls: list[str] = []
    ws = workspace_id("w")
    with open_store(sqlite_url(tmp_path / "s.db"), create=True) as raw:
        raw.create_workspace(workspace_info(ws, "w"))
        timed = InstrumentedStore(
            raw,
            lambda op, seconds: store_calls.append(op) if seconds >= 0 else None,
            lambda op, seconds: blob_calls.append(op) if seconds >= 0 else None,
        )
        assert isinstance(timed, StorageBackend)
        result = scan_tree(tree, timed, ws)
        assert timed.current_root(ws) == raw.current_root(ws)
        assert result.root == raw.current_root(ws).root  # type: ignore[union-attr]
        assert timed.url == raw.url
        # SQLite takes a scan's records and paths as ready rows (ScanRows): timed like the rest.
        scan_calls = {"begin_scan", "put_node_rows", "stage_path_rows", "commit_scan"}
        assert scan_calls | {"current_root"} <= set(store_calls)
        timed.blobs.exists_many(ws, [])
        assert blob_calls == ["exists_many"]
        with timed.snapshot() as view:
            assert isinstance(view, InstrumentedStore)
            view.get_workspace(ws)
        assert store_calls[-1] == "get_workspace"


def test_a_failing_call_is_timed_and_its_error_passes_through(tmp_path: Path):
    seen: list[str] = []
    with open_store(sqlite_url(tmp_path / "s.db"), create=True) as raw:
        timed = InstrumentedStore(raw, lambda op, _s: seen.append(op))
        with pytest.raises(WorkspaceNotFound):
            timed.workspace_counts(workspace_id("missing"))
        assert seen == ["workspace_counts"]
