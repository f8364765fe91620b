"""Composition: sources, ordering, bounds, missing nodes skipped, read-only."""

from __future__ import annotations

import hashlib

import pytest

from treeframe.engine.composition import CompositionPolicy
from treeframe.errors import InvalidPolicy


def _frames(env):
    env.put("src/db/models.py", "summary", "models")
    env.put("src/db/pool.py", "summary", "pool")
    env.put("src/db/pool.py", "review", "pool review", agent="capable")
    env.put("src/db", "summary", "db dir")
    env.put("README.md", "summary", "readme")


def test_sources_and_bounds(env):
    _frames(env)
    result = env.api.compose(
        "src/db/pool.py",
        CompositionPolicy(sources=("node", "parent", "siblings"), max_frames=10),
        principal=env.owner,
    )
    assert {(f.source, f.path) for f in result.frames} == {
        ("node", "src/db/pool.py"),
        ("parent", "src/db"),
        ("siblings", "src/db/models.py"),
    }
    assert result.candidates == 4
    capped = env.api.compose(
        "src/db/pool.py",
        CompositionPolicy(sources=("node", "parent", "siblings"), max_frames=2),
        principal=env.owner,
    )
    assert len(capped.frames) == 2


def test_score_ordering_is_deterministic(env):
    _frames(env)
    policy = CompositionPolicy(
        sources=("siblings", "parent", "node", "related"),
        related=("README.md", "does/not/exist"),
        ordering="score",
        type_priority=("review",),
    )
    one = env.api.compose("src/db/pool.py", policy, principal=env.owner)
    two = env.api.compose("src/db/pool.py", policy, principal=env.owner)
    assert one == two
    assert [f.score for f in one.frames] == sorted((f.score for f in one.frames), reverse=True)
    assert one.frames[0].context.frame.frame_type == "review"
    assert {f.source for f in one.frames} == {"node", "parent", "siblings", "related"}


def test_filters_apply(env):
    _frames(env)
    result = env.api.compose(
        "src/db/pool.py",
        CompositionPolicy(sources=("node", "siblings"), agents=("capable",)),
        principal=env.owner,
    )
    assert [f.context.frame.agent_id for f in result.frames] == ["capable"]


def test_bad_policy():
    with pytest.raises(InvalidPolicy):
        CompositionPolicy(sources=("cousins",))  # type: ignore[arg-type]
    with pytest.raises(InvalidPolicy):
        CompositionPolicy(max_frames=0)


@pytest.mark.parametrize("env", ["sqlite"], indirect=True)
def test_compose_is_read_only_byte_for_byte(env, tmp_path):
    _frames(env)
    db = env.store.url.removeprefix("sqlite://")
    env.store.close()
    from treeframe.storage.registry import open_store

    def digest() -> str:
        h = hashlib.sha256()
        for suffix in ("", "-wal"):
            try:
                with open(db + suffix, "rb") as fh:
                    h.update(fh.read())
            except FileNotFoundError:
                pass
        return h.hexdigest()

    env.store = open_store(env.store.url)
    env.api.store = env.store
    env.api.agents.store = env.store
    before = digest()
    env.api.compose(
        "src/db/pool.py",
        CompositionPolicy(
            sources=("node", "parent", "siblings", "related"), related=("README.md",)
        ),
        principal=env.owner,
    )
    assert digest() == before
