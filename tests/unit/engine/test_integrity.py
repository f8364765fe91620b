"""Reads verify content hashes: a flipped bit or a missing blob is an IntegrityError, never a frame.

Every test damages one row of the ``contents`` table of a real SQLite store
(behind the store's back, as a disk error or a bad restore would) and checks
that each read or synthesis touching that content refuses, and that nothing
is written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.engine.conftest import AGENTS, SAMPLE, WS, Env, write_tree
from treeframe.engine.composition import CompositionPolicy
from treeframe.engine.context_api import ContextAPI
from treeframe.errors import IntegrityError
from treeframe.frames.views import ViewPolicy
from treeframe.hashing.ids import content_hash
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info
from treeframe.workspace.working_tree import WorkingTreeContents


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    root = tmp_path / "ws"
    write_tree(root, SAMPLE)
    store = open_store(f"sqlite://{tmp_path / 'store.db'}")
    store.create_workspace(workspace_info(WS, "engine-tests"))
    api = ContextAPI(store, WS, files=WorkingTreeContents(root), agents=AGENTS)
    env = Env(root, store, api)
    env.scan()
    for path in ("README.md", "src/app.py", "src/db/models.py", "src/db/pool.py", "docs/guide.md"):
        env.put(path, "summary", f"summary of {path}")
    yield env
    store.close()


def _damage(env: Env, tmp_path: Path, digest: str, how: str) -> str:
    """Flip a bit of, or delete, the stored content ``digest``; returns the hash reads will get."""
    with sqlite3.connect(tmp_path / "store.db") as conn:
        if how == "delete":
            conn.execute("DELETE FROM contents WHERE hash = ?", (bytes.fromhex(digest),))
            return ""
        (data,) = conn.execute(
            "SELECT data FROM contents WHERE hash = ?", (bytes.fromhex(digest),)
        ).fetchone()
        flipped = bytes([data[0] ^ 0x01]) + bytes(data[1:])
        conn.execute(
            "UPDATE contents SET data = ? WHERE hash = ?", (flipped, bytes.fromhex(digest))
        )
        return content_hash(flipped)


def _frame_count(env: Env) -> int:
    return sum(1 for _ in env.store.iter_all_frames(WS))


OPS: dict[str, Callable[[Env, str], object]] = {
    "get": lambda env, fid: env.api.get_node("src/app.py", principal=env.owner),
    "get_batch": lambda env, fid: env.api.get_nodes_batch(
        ["README.md", "src/app.py"], principal=env.owner
    ),
    "get_filtered_batch": lambda env, fid: env.api.get_nodes_batch(
        ["README.md", "src/app.py"], ViewPolicy(types=("summary",)), principal=env.owner
    ),
    "frames_batch": lambda env, fid: env.api.get_frames_batch([fid], principal=env.owner),
    "synthesize": lambda env, fid: env.api.synthesize_branch(
        "src", "summary", principal=env.principal("synth")
    ),
    "compose": lambda env, fid: env.api.compose(
        "src/db",
        CompositionPolicy(sources=("node", "related"), related=("src/app.py",)),
        principal=env.owner,
    ),
}


@pytest.mark.parametrize("how", ["flip", "delete"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_damaged_content_is_refused(sqlite_env: Env, tmp_path: Path, op: str, how: str) -> None:
    served = sqlite_env.api.get_node("src/app.py", principal=sqlite_env.owner).frames[0].frame
    got = _damage(sqlite_env, tmp_path, served.content_hash, how)
    before = _frame_count(sqlite_env)
    with pytest.raises(IntegrityError) as caught:
        OPS[op](sqlite_env, served.frame_id)
    assert caught.value.code == "integrity_error"
    assert caught.value.expected == served.content_hash
    assert caught.value.got == got
    assert served.frame_id in caught.value.message
    assert _frame_count(sqlite_env) == before


@pytest.mark.parametrize("how", ["flip", "delete"])
def test_regenerate_refuses_damaged_input_and_writes_nothing(
    sqlite_env: Env, tmp_path: Path, how: str
) -> None:
    sqlite_env.api.synthesize_branch(
        ".", "summary", principal=sqlite_env.principal("synth"), recursive=True
    )
    sqlite_env.put("src/db/models.py", "summary", "a better summary of the models")
    served = sqlite_env.api.get_node("src/app.py", principal=sqlite_env.owner).frames[0].frame
    _damage(sqlite_env, tmp_path, served.content_hash, how)
    before = _frame_count(sqlite_env)
    with pytest.raises(IntegrityError):
        sqlite_env.api.regenerate(".", recursive=True, dry_run=True, principal=sqlite_env.owner)
    assert _frame_count(sqlite_env) == before
    with pytest.raises(IntegrityError):
        sqlite_env.api.regenerate(".", recursive=True, principal=sqlite_env.owner)
    # src/db (undamaged inputs) was rebuilt first, in post-order; src, whose
    # input is damaged, and the root above it were not.
    assert _frame_count(sqlite_env) == before + 1
    assert sqlite_env.api.get_node("src", principal=sqlite_env.owner).frames[0].stale


def test_undamaged_reads_still_serve_content(sqlite_env: Env) -> None:
    assert (
        sqlite_env.api.get_node("src/app.py", principal=sqlite_env.owner).frames[0].content
        == b"summary of src/app.py"
    )
