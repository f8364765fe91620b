"""Diagnostics on real stores: diff by hash comparison, explain, scoped and bounded verify, doctor."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from tests.unit.engine.conftest import WS, Env, write_tree
from treeframe.engine.diagnostics import (
    diff_roots,
    diff_trees,
    doctor,
    explain_frame,
    resolve_root,
    scan_in_memory,
)
from treeframe.engine.types import FrameInput
from treeframe.errors import FrameNotFound, InvalidId, NodeNotFound
from treeframe.frames.frame import Basis
from treeframe.hashing.ids import content_hash
from treeframe.ids import FrameId, NodeId
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.testing.factories import workspace_info
from treeframe.tree.records import NodeRecord
from treeframe.tree.scan import scan_tree
from treeframe.workspace.verify import verify_store


def _root(env: Env) -> NodeId:
    entry = env.store.current_root(WS)
    assert entry is not None
    return entry.root


def test_diff_lists_minimal_added_removed_changed_and_type_changed(env: Env) -> None:
    before = _root(env)
    (env.root / "src" / "app.py").write_text("changed\n")
    (env.root / "docs" / "guide.md").unlink()
    (env.root / "docs").rmdir()
    (env.root / "README.md").unlink()
    write_tree(env.root, {"README.md/inner.txt": "now a directory\n", "new/a/b.txt": "new\n"})
    env.scan()
    diff = diff_roots(env.store, WS, before, _root(env))
    kinds = {(e.path, e.kind, e.old_kind, e.new_kind) for e in diff.entries}
    assert kinds == {
        ("README.md", "type_changed", "file", "dir"),
        ("docs", "removed", "dir", None),
        ("new", "added", None, "dir"),
        ("src/app.py", "changed", "file", "file"),
    }
    assert [e.path for e in diff.entries] == sorted(e.path for e in diff.entries)
    assert dict(diff.counts) == {
        "files_added": 2,  # README.md/inner.txt and new/a/b.txt
        "files_removed": 2,  # docs/guide.md and the file README.md
        "files_changed": 1,
        "dirs_added": 3,  # README.md, new, new/a
        "dirs_removed": 1,
        "dirs_changed": 2,  # the root and src
    }
    # the reverse diff swaps the sides
    back = diff_roots(env.store, WS, _root(env), before)
    assert {(e.path, e.kind) for e in back.entries} == {
        ("README.md", "type_changed"),
        ("docs", "added"),
        ("new", "removed"),
        ("src/app.py", "changed"),
    }
    assert diff_roots(env.store, WS, before, before).entries == ()


def _deep_tree(depth: int, width: int) -> dict[str, str]:
    files: dict[str, str] = {}
    prefix = ""
    for level in range(depth):
        for i in range(width):
            files[f"{prefix}f{i}.txt"] = f"file {level}.{i}\n"
            if level < depth - 1:
                files[f"{prefix}side{i}/x.txt"] = f"side {level}.{i}\n"
        prefix += f"d{level}/"
    return files


def test_a_deep_change_reads_only_the_path_to_it(tmp_path: Path) -> None:
    depth, width = 6, 8
    root = tmp_path / "tree"
    write_tree(root, _deep_tree(depth, width))
    with open_store(sqlite_url(tmp_path / "store.db"), create=True) as store:
        store.create_workspace(workspace_info(WS, "deep"))
        before = scan_tree(root, store, WS, workers=1).root
        deep = root.joinpath(*[f"d{i}" for i in range(depth - 1)], "f3.txt")
        deep.write_text("edited\n")
        after = scan_tree(root, store, WS, workers=1).root
        calls: list[int] = []

        def counting(ids: Sequence[NodeId]) -> Mapping[NodeId, NodeRecord]:
            calls.append(len(ids))
            return store.get_nodes(WS, ids)

        diff = diff_trees(counting, before, counting, after)
        total = sum(1 for _ in store.iter_all_nodes(WS))
    assert [e.path for e in diff.entries] == ["d0/d1/d2/d3/d4/f3.txt"]
    assert diff.counts["files_changed"] == 1
    assert diff.counts["dirs_changed"] == depth
    # one batch per level (one source for both sides): the root, five directories, the file
    assert len(calls) == depth + 1
    # two records (old and new) per level
    assert sum(calls) == diff.nodes_read == 2 * (depth + 1)
    assert total > 10 * diff.nodes_read


def test_resolve_root_takes_head_history_and_prefixes(env: Env) -> None:
    first = _root(env)
    env.edit("src/app.py", "v2\n")
    second = _root(env)
    assert resolve_root(env.store, WS, "HEAD").root == second
    assert resolve_root(env.store, WS, "HEAD~1").root == first
    resolved = resolve_root(env.store, WS, first[:8])
    assert resolved.root == first
    assert resolved.entry is not None
    assert resolved.entry.seq == 1
    assert resolve_root(env.store, WS, first).root == first
    with pytest.raises(NodeNotFound, match="only 2 entries"):
        resolve_root(env.store, WS, "HEAD~2")
    with pytest.raises(InvalidId):
        resolve_root(env.store, WS, "HEAD^")
    with pytest.raises(InvalidId):
        resolve_root(env.store, WS, "abc")  # shorter than 4
    with pytest.raises(InvalidId):
        resolve_root(env.store, WS, first.upper())
    missing = "0" * 64 if not first.startswith("0000") else "f" * 64
    with pytest.raises(NodeNotFound):
        resolve_root(env.store, WS, missing)


def test_scan_in_memory_writes_nothing_and_matches_a_real_scan(env: Env) -> None:
    counts_before = env.store.workspace_counts(WS)
    history = env.store.root_history(WS, 10)
    scanned = scan_in_memory(env.root, workers=1)
    assert scanned.root == _root(env)
    (env.root / "README.md").write_text("edited\n")
    edited = scan_in_memory(env.root, workers=1)
    assert edited.root != _root(env)
    assert env.store.workspace_counts(WS) == counts_before
    assert env.store.root_history(WS, 10) == history


def test_explain_names_the_changed_node_and_the_root_since(env: Env) -> None:
    frame_id = env.put("src/app.py", "summary", "about app")
    fresh = explain_frame(env.store, WS, frame_id)
    assert fresh.verdict == "fresh"
    assert fresh.node_current
    assert fresh.reasons == ()
    env.edit("src/app.py", "rewritten\n")
    stale = explain_frame(env.store, WS, frame_id)
    assert stale.verdict == "stale"
    assert not stale.node_current
    assert stale.node_now == env.store.lookup_path(WS, "src/app.py")
    assert stale.since is not None
    assert stale.since.seq == 2
    assert stale.since.root == _root(env)
    assert "src/app.py" in stale.reasons[0]
    assert "seq 2" in stale.reasons[0]


def test_explain_follows_a_basis_frame_and_names_what_replaced_it(env: Env) -> None:
    source = env.put("src/app.py", "summary", "about app")
    readme = env.store.lookup_path(WS, "README.md")
    assert readme is not None
    derived = env.api.put_frame(
        "README.md",
        FrameInput(
            "digest", b"built on the app summary", basis=Basis.node_frame(readme, FrameId(source))
        ),
        principal=env.principal("writer"),
    )
    newer = env.put("src/app.py", "summary", "a newer summary")
    found = explain_frame(env.store, WS, derived)
    assert found.verdict == "stale"
    assert found.node_current
    (item,) = found.inputs
    assert (item.role, item.ref, item.current, item.reason) == (
        "basis_frame",
        source,
        False,
        "superseded",
    )
    assert item.now == newer
    assert item.path == "src/app.py"
    env.edit("src/app.py", "rewritten\n")
    moved = explain_frame(env.store, WS, derived)
    (item,) = moved.inputs
    assert item.reason == "its node changed"
    assert item.since is not None
    assert item.since.seq == 2
    as_json = json.loads(json.dumps(moved.to_dict()))
    assert as_json["inputs"][0]["since"]["seq"] == 2
    assert as_json["is_head"] is True


def test_explain_a_synthesis_names_the_child_input_that_moved(env: Env) -> None:
    env.put("src/db/models.py", "note", "models")
    old = env.put("src/db/pool.py", "note", "pool")
    result = env.api.synthesize_branch("src/db", "note", "concat", principal=env.principal("synth"))
    (synthesis,) = result.frames
    assert explain_frame(env.store, WS, synthesis.frame_id).verdict == "fresh"
    new = env.put("src/db/pool.py", "note", "pool, revised")
    found = explain_frame(env.store, WS, synthesis.frame_id)
    assert found.verdict == "stale"
    moved = [i for i in found.inputs if not i.current]
    assert [(i.role, i.ref, i.now, i.path) for i in moved] == [
        ("child_frame", old, new, "src/db/pool.py")
    ]
    assert any("new input" in r and "src/db/pool.py" in r for r in found.reasons)


def test_explain_unknown_and_malformed_frames(env: Env) -> None:
    with pytest.raises(FrameNotFound):
        explain_frame(env.store, WS, "e" * 64)
    with pytest.raises(InvalidId):
        explain_frame(env.store, WS, "nope")


def _sqlite_env(tmp_path: Path, env: Env) -> sqlite3.Connection:
    path = Path(env.store.url.removeprefix("sqlite://"))
    assert path.is_file(), env.store.url
    return sqlite3.connect(path, isolation_level=None)


@pytest.mark.parametrize("env", ["sqlite"], indirect=True)  # damage is injected with SQL
def test_verify_since_checks_less_and_still_finds_damage_after_the_root(
    env: Env, tmp_path: Path
) -> None:
    env.put("README.md", "note", "before the root")
    env.edit("docs/guide.md", "a scan after that frame: the root checked since\n")
    since = resolve_root(env.store, WS, "HEAD")
    env.edit("src/db/pool.py", "POOL = 1\n")
    damaged = env.put("src/db/pool.py", "note", "after the root")
    conn = _sqlite_env(tmp_path, env)
    try:
        (record,) = conn.execute(
            "SELECT record FROM frames WHERE frame=?", (bytes.fromhex(damaged),)
        ).fetchone()
        data = json.loads(record)
        data["agent_id"] = "mallory"
        blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        conn.execute(
            "UPDATE frames SET record=?, agent='mallory' WHERE frame=?",
            (blob, bytes.fromhex(damaged)),
        )
    finally:
        conn.close()
    full = verify_store(env.store, WS)
    scoped = verify_store(env.store, WS, since=since)
    assert scoped.scope == "since"
    assert scoped.since == since.root
    assert scoped.complete
    assert ("frame_id_mismatch", damaged) in {(p.kind, p.key) for p in scoped.problems}
    assert ("frame_id_mismatch", damaged) in {(p.kind, p.key) for p in full.problems}
    assert sum(scoped.checked.values()) < sum(full.checked.values())
    # the new nodes are the changed path only: the root, src, src/db and the file
    assert scoped.checked["nodes"] == 4 < full.checked["nodes"]
    assert scoped.checked["frames"] == 1 < full.checked["frames"]


def test_verify_since_on_a_clean_store_is_ok(env: Env) -> None:
    env.put("README.md", "note", "one")
    env.edit("docs/guide.md", "rescanned after the first frame\n")
    since = resolve_root(env.store, WS, "HEAD")
    env.edit("README.md", "edited\n")
    env.put("README.md", "note", "two")
    report = verify_store(env.store, WS, since=since)
    assert report.ok, report.problems
    assert report.checked["frames"] == 1
    assert report.checked["contents"] == 1
    assert report.checked["basis_index"] == 1
    assert report.checked["history"] == 1


def test_verify_stops_at_the_deadline_and_says_so(env: Env) -> None:
    report = verify_store(env.store, WS, deadline=time.monotonic())
    assert not report.complete
    assert report.stopped_in == "nodes"
    assert report.ok
    assert sum(report.checked.values()) == 0
    assert report.to_dict()["complete"] is False
    whole = verify_store(env.store, WS, deadline=time.monotonic() + 60)
    assert whole.complete
    assert whole.stopped_in is None
    assert whole.checked["nodes"] > 0


def test_doctor_passes_on_a_fresh_scan_and_names_the_first_edit(env: Env) -> None:
    report = doctor(env.store, WS, env.root, workers=2)
    assert report.ok
    assert report.repeatable
    assert report.matches
    assert report.first_difference is None
    assert report.disk_root == _root(env)
    (env.root / "src" / "db" / "pool.py").write_text("edited without a rescan\n")
    (env.root / "src" / "app.py").write_text("edited too\n")
    bad = doctor(env.store, WS, env.root, workers=1)
    assert not bad.ok
    assert bad.repeatable
    assert not bad.matches
    first = bad.first_difference
    assert first is not None
    assert (first.path, first.kind) == ("src/app.py", "changed")  # path order
    stored = env.store.get_node(WS, NodeId(first.stored_id or ""))
    assert stored is not None
    assert first.stored_content_hash == stored.content_hash
    assert first.rescanned_content_hash == content_hash(b"edited too\n")
    assert bad.counts["files_changed"] == 2


def test_doctor_before_any_scan(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write_tree(root, {"a.txt": "a\n"})
    with open_store("memory://") as store:
        store.create_workspace(workspace_info(WS, "empty"))
        report = doctor(store, WS, root, workers=1)
    assert not report.ok
    assert report.stored is None
    assert report.first_difference is not None
    assert report.first_difference.path == ""
    assert report.first_difference.kind == "added"
