"""stale() and regenerate(): exact sets by lookup, scope, idempotence, agent frames reported."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.unit.engine.conftest import AGENTS, SAMPLE, WS, Env, write_tree
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Principal
from treeframe.engine.regeneration import find_stale
from treeframe.engine.types import FrameInput
from treeframe.errors import StoreLocked
from treeframe.frames.frame import Basis
from treeframe.storage.registry import open_store
from treeframe.storage.sqlite import SqliteStore
from treeframe.testing.factories import workspace_info
from treeframe.workspace.working_tree import WorkingTreeContents


def _setup(env):
    for path in ("README.md", "src/app.py", "src/db/models.py", "src/db/pool.py", "docs/guide.md"):
        env.put(path, "summary", f"summary of {path}")
    env.api.synthesize_branch(".", "summary", principal=env.principal("synth"), recursive=True)


def test_nothing_stale_after_synthesis(env):
    _setup(env)
    assert env.api.stale(".", recursive=True, principal=env.owner).frames == ()


def test_file_change_makes_own_frame_and_ancestor_chain_stale(env):
    _setup(env)
    env.edit("src/db/pool.py", "changed\n")
    report = env.api.stale("src/db/pool.py", principal=env.owner)
    by_path = {(f.path, f.frame_type, f.recomputable) for f in report.frames}
    assert by_path == {
        ("src/db/pool.py", "summary", False),
        ("src/db", "summary", True),
        ("src", "summary", True),
        ("", "summary", True),
    }
    whole = env.api.stale(".", recursive=True, principal=env.owner)
    assert {(f.path, f.recomputable) for f in whole.frames} == {
        ("src/db/pool.py", False),
        ("src/db", True),
        ("src", True),
        ("", True),
    }


def test_regenerate_recomputes_chain_once_and_reports_agent_frames(env):
    _setup(env)
    env.edit("src/db/pool.py", "changed\n")
    dry = env.api.regenerate(".", recursive=True, dry_run=True, principal=env.owner)
    report = env.api.regenerate(".", recursive=True, principal=env.owner)
    assert report.regenerated_count == 3  # src/db, src, root
    assert dry.frame_ids == report.frame_ids
    assert dry.stale_unrecomputable == report.stale_unrecomputable
    rows = {f.path: f for f in report.stale_unrecomputable}
    # pool.py's summary needs its agent; the three rebuilt syntheses lack it.
    assert set(rows) == {"src/db/pool.py", "src/db", "src", ""}
    assert rows["src/db/pool.py"].reason.endswith("needs its agent")
    assert rows["src/db"].reason == "incomplete: no 'summary' frame for src/db/pool.py"
    assert not any(f.recomputable for f in report.stale_unrecomputable)
    for path in ("src/db", "src", "."):
        served = env.api.get_node(path, principal=env.owner).frames[0]
        assert served.stale is False
        assert served.incomplete is True
        assert served.frame.frame_id in report.frame_ids
    again = env.api.regenerate(".", recursive=True, principal=env.owner)
    assert again.regenerated_count == 0
    assert again.stale_unrecomputable == report.stale_unrecomputable
    remaining = env.api.stale(".", recursive=True, principal=env.owner)
    assert {(f.path, f.frame_id) for f in remaining.frames} == {
        (f.path, f.frame_id) for f in report.stale_unrecomputable
    }
    # pool.py's agent writes its summary again: one more run completes the chain.
    env.put("src/db/pool.py", "summary", "summary of the new pool")
    final = env.api.regenerate(".", recursive=True, principal=env.owner)
    assert final.regenerated_count == 3
    assert final.stale_unrecomputable == ()
    assert env.api.stale(".", recursive=True, principal=env.owner).frames == ()
    for path in ("src/db", "src", "."):
        served = env.api.get_node(path, principal=env.owner).frames[0]
        assert (served.stale, served.incomplete) == (False, False)


def test_regenerate_stops_at_scope(env):
    _setup(env)
    env.edit("src/db/pool.py", "changed\n")
    report = env.api.regenerate("src/db", principal=env.owner)
    assert report.regenerated_count == 1
    still = {
        f.path
        for f in env.api.stale(".", recursive=True, principal=env.owner).frames
        if f.recomputable
    }
    assert still == {"src", ""}


def test_head_move_without_file_change_is_found_and_regenerated(env):
    _setup(env)
    env.put("src/db/models.py", "summary", "a better summary")
    report = env.api.stale("src/db/models.py", principal=env.owner)
    assert {f.path for f in report.frames} == {"src/db", "src", ""}
    regen = env.api.regenerate(".", recursive=True, principal=env.owner)
    assert regen.regenerated_count == 3
    assert env.api.stale(".", recursive=True, principal=env.owner).frames == ()


def test_old_frames_are_kept(env):
    _setup(env)
    old_root = env.api.get_node(".", principal=env.owner)
    env.edit("src/db/pool.py", "changed\n")
    env.api.regenerate(".", recursive=True, principal=env.owner)
    kept = env.api.get_node(old_root.node_record.node_id, principal=env.owner)
    assert [f.frame.frame_id for f in kept.frames] == [f.frame.frame_id for f in old_root.frames]


def test_generator_frames_are_recomputed(env):
    ctx = env.api
    fid = ctx.put_frame(
        "src/app.py",
        FrameInput("stats", b"26 bytes, 2 lines\n"),
        principal=ctx.agent_principal("stats"),
    )
    assert ctx.stale("src/app.py", principal=Principal.owner(ctx.ws)).frames == ()
    env.edit("src/app.py", "one\ntwo\nthree\n")
    report = ctx.regenerate("src/app.py", principal=Principal.owner(ctx.ws))
    assert report.regenerated_count == 1
    assert report.frame_ids[0] != fid
    served = ctx.get_node("src/app.py", principal=Principal.owner(ctx.ws)).frames[0]
    assert served.content == b"14 bytes, 3 lines\n"
    assert served.stale is False


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_one_file_change_in_1000_file_tree_regenerates_depth_plus_one(tmp_path: Path, backend):
    files = {
        f"d{a}/e{b}/f{c}.txt": f"file {a}{b}{c}\n"
        for a in range(10)
        for b in range(10)
        for c in range(10)
    }
    root = tmp_path / "big"
    write_tree(root, files)
    url = "memory://" if backend == "memory" else f"sqlite://{tmp_path / 's.db'}"
    store = open_store(url)
    store.create_workspace(workspace_info(WS, "big"))
    api = ContextAPI(store, WS, files=WorkingTreeContents(root), agents=AGENTS)
    env = Env(root, store, api)
    env.scan()
    for rel in files:
        env.put(rel, "summary", f"about {rel}")
    first = api.synthesize_branch(
        ".", "summary", principal=api.agent_principal("synth"), recursive=True
    )
    assert len(first.frames) == 1 + 10 + 100
    env.edit("d3/e4/f5.txt", "edited\n")
    report = api.regenerate(".", recursive=True, principal=Principal.owner(api.ws))
    assert report.regenerated_count == 3  # e4, d3 and the root: depth 2 + 1
    # f5's summary needs its agent, and the chain above it stays incomplete until then.
    assert [f.path for f in report.stale_unrecomputable] == ["d3/e4/f5.txt", "d3/e4", "d3", ""]
    changed = {store.get_node(WS, store.get_frame(WS, f).node_id).path for f in report.frame_ids}
    assert changed == {"d3/e4", "d3", ""}
    assert (
        api.regenerate(".", recursive=True, principal=Principal.owner(api.ws)).regenerated_count
        == 0
    )
    store.close()


def test_dead_helpers_stay_deleted():
    """Lookahead.forget and Freshness.stale_flags had no caller (issue 7): they stay gone."""
    from treeframe.engine.freshness import Freshness
    from treeframe.engine.regeneration import Lookahead

    assert not hasattr(Lookahead, "forget")
    assert not hasattr(Freshness, "stale_flags")


def _dependents_of_readme(env, count: int) -> set[str]:
    """``count`` head frames on other nodes built on README.md's summary; then README changes.

    Only the basis index leads from README.md's old summary to them (they are
    outside the scope of ``stale("README.md")``).
    """
    base = env.put("README.md", "summary", "the readme")
    targets = ["src/app.py", "src/db/models.py", "src/db/pool.py", "docs/guide.md", "src"]
    made = set()
    for i in range(count):
        path = targets[i % len(targets)]
        node = env.api.resolve(path, principal=env.owner).node_id
        made.add(
            env.api.put_frame(
                path,
                FrameInput(f"t{i}", b"derived", basis=Basis.node_frame(node, base)),
                principal=env.principal("writer"),
            )
        )
    env.edit("README.md", "# Project\nRewritten.\n")
    return made


def test_stale_pages_through_dependents_beyond_one_page(env):
    made = _dependents_of_readme(env, 5)
    record = env.api.resolve("README.md", principal=env.owner)
    found = find_stale(env.store, WS, record, False, 16, env.api.agents, page_size=2)
    assert made <= {f.frame_id for f in found}
    assert {f.frame_id for f in found} == {
        f.frame_id for f in env.api.stale("README.md", principal=env.owner).frames
    }


def test_stale_finds_dependent_number_1001(env):
    made = _dependents_of_readme(env, 1001)
    reported = {f.frame_id for f in env.api.stale("README.md", principal=env.owner).frames}
    assert len(made) == 1001
    assert made <= reported


def test_regenerate_lets_storage_errors_propagate(tmp_path: Path):
    """A locked store is not "needs its agent": regenerate raises StoreLocked and reports nothing."""
    root = tmp_path / "ws"
    write_tree(root, SAMPLE)
    db = tmp_path / "store.db"
    store = SqliteStore(db, busy_timeout_ms=50)
    store.create_workspace(workspace_info(WS, "engine-tests"))
    api = ContextAPI(store, WS, files=WorkingTreeContents(root), agents=AGENTS)
    env = Env(root, store, api)
    env.scan()
    _setup(env)
    env.edit("src/db/pool.py", "changed\n")
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLocked):
            api.regenerate(".", recursive=True, principal=Principal.owner(api.ws))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    report = api.regenerate(".", recursive=True, principal=Principal.owner(api.ws))
    assert report.regenerated_count == 3
    store.close()


def test_regenerate_reports_a_synthesis_it_cannot_recompute(env):
    """A genuine "cannot recompute" (here: --missing fail and a child lost its input) is a row."""
    _setup(env)
    env.api.synthesize_branch(
        "src/db", "summary", "concat", principal=env.principal("synth"), missing="fail"
    )
    env.edit("src/db/pool.py", "changed\n")
    report = env.api.regenerate("src/db", principal=env.owner)
    assert report.regenerated_count == 0
    [row] = [r for r in report.stale_unrecomputable if r.path == "src/db"]
    assert "src/db/pool.py" in row.reason
