"""Incomplete syntheses: a synthesis that lacks current inputs says so on every read and in stale."""

from __future__ import annotations

import pytest

from tests.unit.engine.conftest import Env
from treeframe.engine.composition import CompositionPolicy
from treeframe.engine.freshness import INCOMPLETE_KEY
from treeframe.engine.types import FrameInput
from treeframe.errors import InvalidRequest

FILES = ("README.md", "src/app.py", "src/db/models.py", "src/db/pool.py", "docs/guide.md")


def _served(env: Env, path: str):
    """The head synthesis of ``path`` through every read: view, batch, frames batch, compose."""
    view = env.api.get_node(path, principal=env.owner).frames[0]
    fid = view.frame.frame_id
    batch = env.api.get_nodes_batch([path], principal=env.owner)[0].frames[0]
    by_id = env.api.get_frames_batch([fid], principal=env.owner)[0]
    where = env.api.resolve(path, principal=env.owner).path
    composed = next(
        c.context
        for c in env.api.compose(path, CompositionPolicy(), principal=env.owner).frames
        if c.path == where
    )
    assert batch == by_id == composed == view
    return view


def test_after_an_edit_regenerated_syntheses_read_as_incomplete_up_to_the_root(env: Env) -> None:
    for path in FILES:
        env.put(path, "summary", f"summary of {path}")
    env.api.synthesize_branch(".", "summary", principal=env.principal("synth"), recursive=True)
    env.edit("src/db/pool.py", "POOL = make_pool()\n")
    env.api.regenerate(".", recursive=True, principal=env.owner)
    db = _served(env, "src/db")
    assert (db.stale, db.incomplete, db.missing, db.stale_inputs) == (
        False,
        True,
        ("src/db/pool.py",),
        (),
    )
    src = _served(env, "src")
    assert (src.stale, src.incomplete, src.missing, src.stale_inputs) == (
        False,
        True,
        (),
        ("src/db",),
    )
    root = _served(env, ".")
    assert (root.stale, root.incomplete, root.stale_inputs) == (False, True, ("src",))
    assert root.to_dict()["incomplete"] is True
    assert db.to_dict()["missing"] == ["src/db/pool.py"]
    reasons = {
        f.path: f.reason for f in env.api.stale(".", recursive=True, principal=env.owner).frames
    }
    assert reasons["src/db"] == "incomplete: no 'summary' frame for src/db/pool.py"
    assert reasons["src"] == "incomplete: the input from src/db is stale or incomplete"
    assert set(reasons) == {"src/db/pool.py", "src/db", "src", ""}
    # Non-recursive scopes agree: the chain above a scope is checked too.
    assert {f.path for f in env.api.stale("src/db", principal=env.owner).frames} >= {
        "src/db",
        "src",
        "",
    }


def test_a_synthesis_that_skipped_a_child_is_incomplete_and_counts_as_stale(env: Env) -> None:
    env.put("src/db/models.py", "summary", "the models")
    frame = env.api.synthesize_branch("src/db", "summary", principal=env.principal("synth")).frames[
        0
    ]
    assert dict(frame.metadata) == {INCOMPLETE_KEY: "true"}
    served = _served(env, "src/db")
    assert served.missing == ("src/db/pool.py",)
    [row] = env.api.stale("src/db", principal=env.owner).frames
    assert (row.path, row.recomputable) == ("src/db", False)
    assert row.reason == "incomplete: no 'summary' frame for src/db/pool.py"
    again = env.api.regenerate("src/db", principal=env.owner)
    assert again.regenerated_count == 0  # rebuilding gives the same frame: no loop
    assert [r.path for r in again.stale_unrecomputable] == ["src/db"]
    env.put("src/db/pool.py", "summary", "the pool")
    assert env.api.get_node("src/db", principal=env.owner).frames[0].stale is True
    done = env.api.regenerate("src/db", principal=env.owner)
    assert done.regenerated_count == 1
    complete = _served(env, "src/db")
    assert (complete.stale, complete.incomplete) == (False, False)
    assert dict(complete.frame.metadata) == {}


def test_a_synthesis_on_a_stale_input_is_incomplete_until_regenerated(env: Env) -> None:
    for path in FILES:
        env.put(path, "summary", f"summary of {path}")
    env.api.synthesize_branch("src", "summary", principal=env.principal("synth"), recursive=True)
    env.put("src/db/models.py", "summary", "newer models")  # src/db's synthesis is now stale
    assert env.api.get_node("src/db", principal=env.owner).frames[0].stale is True
    src = _served(env, "src")
    assert (src.stale, src.incomplete, src.stale_inputs) == (False, True, ("src/db",))
    rows = {f.path: f for f in env.api.stale("src", recursive=True, principal=env.owner).frames}
    assert rows["src"].recomputable is True  # regenerating src/db first fixes it
    assert env.api.regenerate("src", recursive=True, principal=env.owner).regenerated_count == 2
    fixed = _served(env, "src")
    assert (fixed.stale, fixed.incomplete) == (False, False)
    assert env.api.stale("src", recursive=True, principal=env.owner).frames == ()


def test_the_incomplete_mark_is_reserved_for_the_engine(env: Env) -> None:
    with pytest.raises(InvalidRequest, match="reserved"):
        env.api.put_frame(
            "src/app.py",
            FrameInput("summary", b"x", metadata={INCOMPLETE_KEY: "true"}),
            principal=env.principal("writer"),
        )


def test_complete_syntheses_and_agent_frames_are_not_incomplete(env: Env) -> None:
    for path in FILES:
        env.put(path, "summary", f"summary of {path}")
    env.api.synthesize_branch(".", "summary", principal=env.principal("synth"), recursive=True)
    for path in (".", "src", "src/db", "src/app.py"):
        served = _served(env, path)
        assert (served.stale, served.incomplete, served.missing) == (False, False, ())
    assert env.api.stale(".", recursive=True, principal=env.owner).frames == ()
