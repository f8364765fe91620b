"""The canonical dump: sorted canonical lines of everything a copy must keep, nothing backend-specific."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.storage.realistic import GONE, MAIN, build
from treeframe.errors import WorkspaceNotFound
from treeframe.hashing.ids import workspace_id
from treeframe.storage.base import StorageBackend
from treeframe.storage.dump import KINDS, dump_lines, find_workspace, summarize
from treeframe.storage.registry import open_store
from treeframe.storage.urls import sqlite_url


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    url = "memory://" if request.param == "memory" else sqlite_url(str(tmp_path / "s.db"))
    with open_store(url) as backend:
        build(backend, tmp_path)
        yield backend


def test_every_kind_is_dumped_in_sorted_canonical_lines(store: StorageBackend) -> None:
    lines = list(dump_lines(store))
    rows = [json.loads(line) for line in lines]
    for line, row in zip(lines, rows, strict=True):
        assert line == json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    kinds = [row["kind"] for row in rows]
    assert set(kinds) == {*KINDS, "token"}
    # Sections: workspaces by ID, kinds in KINDS order, tokens last; sorted inside each.
    order = [(row["ws"] or "~", [*KINDS, "token"].index(row["kind"])) for row in rows]
    assert order == sorted(order)
    for i in range(1, len(lines)):
        if order[i] == order[i - 1]:
            assert lines[i - 1] < lines[i]
    frames = [row for row in rows if row["kind"] == "frame"]
    assert any(f["put_seq"] != f["record"]["seq"] for f in frames)  # the re-put is kept
    gone = [row for row in rows if row["kind"] == "workspace" and row["ws"] == GONE]
    assert gone[0]["deleted_at"] == "2024-03-01T00:00:00Z"


def test_the_dump_names_nothing_backend_specific(store: StorageBackend, tmp_path: Path) -> None:
    text = "\n".join(dump_lines(store))
    for word in (store.url, str(tmp_path), "sqlite", "memory", "codec"):
        assert word not in text


def test_summary_counts_and_digests_match_the_lines(store: StorageBackend) -> None:
    summary = summarize(store)
    rows = [json.loads(line) for line in dump_lines(store)]
    assert summary.counts == {k: sum(r["kind"] == k for r in rows) for k in [*KINDS, "token"]}
    assert summary == summarize(store)  # deterministic
    assert summary.digest.startswith("sha256:")


def test_a_spilled_external_sort_gives_the_same_dump(store: StorageBackend) -> None:
    assert list(dump_lines(store, chunk=2)) == list(dump_lines(store))
    assert summarize(store, chunk=3) == summarize(store)


def test_one_change_changes_its_kind_digest_only(store: StorageBackend) -> None:
    before = summarize(store)
    store.put_agent(MAIN, "newcomer", b"{}")
    after = summarize(store)
    changed = {k for k in before.digests if before.digests[k] != after.digests[k]}
    assert changed == {"agent"}
    assert before.digest != after.digest


def test_a_workspace_dump_holds_that_workspace_and_its_scoped_tokens(
    store: StorageBackend,
) -> None:
    rows = [json.loads(line) for line in dump_lines(store, MAIN)]
    assert {r["ws"] for r in rows if r["kind"] != "token"} == {MAIN}
    tokens = [r for r in rows if r["kind"] == "token"]
    assert [t["scope"] for t in tokens] == [MAIN]
    with pytest.raises(WorkspaceNotFound):
        list(dump_lines(store, workspace_id("nowhere")))


def test_find_workspace_by_name_or_id_tombstoned_included(store: StorageBackend) -> None:
    assert find_workspace(store, "gone").workspace_id == GONE
    assert find_workspace(store, GONE).name == "gone"
    with pytest.raises(WorkspaceNotFound, match="nowhere"):
        find_workspace(store, "nowhere")


def test_damaged_content_bytes_change_the_dump(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(sqlite_url(str(path))) as backend:
        build(backend, tmp_path)
        before = summarize(backend)
    with sqlite3.connect(path) as db:
        (data,) = db.execute("SELECT data FROM contents WHERE rowid = 1").fetchone()
        db.execute("UPDATE contents SET data = ? WHERE rowid = 1", (data + b"!",))
    with open_store(sqlite_url(str(path))) as backend:
        after = summarize(backend)
    assert after.digests["content"] != before.digests["content"]
    assert after.counts == before.counts
