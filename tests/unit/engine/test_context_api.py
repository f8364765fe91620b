"""GetNode / PutFrame / batches: addressing, freshness flags, authorization, bad input."""

from __future__ import annotations

import pytest

from tests.unit.engine.conftest import WS
from treeframe.engine.types import FrameInput
from treeframe.errors import (
    AccessDenied,
    FrameNotFound,
    InvalidFrame,
    InvalidPath,
    InvalidRequest,
    NodeNotFound,
    Unauthorized,
)
from treeframe.frames.frame import Basis
from treeframe.frames.views import ViewPolicy
from treeframe.hashing.ids import workspace_id
from treeframe.testing.factories import workspace_info


def test_get_node_by_path_and_by_id_agree(env):
    fid = env.put("src/app.py", "summary", "entry point")
    by_path = env.api.get_node("src/app.py", principal=env.owner)
    by_id = env.api.get_node(by_path.node_record.node_id, principal=env.owner)
    assert by_path == by_id
    assert by_path.frame_count == 1
    assert [f.frame.frame_id for f in by_path.frames] == [fid]
    assert by_path.frames[0].stale is False
    assert env.api.get_node(".", principal=env.owner).node_record.path == ""


def test_put_frame_is_idempotent(env):
    first = env.put("src/app.py", "summary", "same")
    second = env.put("src/app.py", "summary", "same")
    assert first == second
    assert env.api.get_node("src/app.py", principal=env.owner).frame_count == 1


def test_unknown_agent_and_reader_cannot_write_and_nothing_changes(env):
    before = env.api.get_node("src/app.py", principal=env.owner)
    with pytest.raises(Unauthorized, match="unknown agent"):
        env.put("src/app.py", "summary", "x", agent="nobody")
    with pytest.raises(AccessDenied, match="reader"):
        env.put("src/app.py", "summary", "x", agent="reader")
    assert env.api.get_node("src/app.py", principal=env.owner) == before


def test_bad_addresses(env):
    with pytest.raises(NodeNotFound):
        env.api.get_node("src/missing.py", principal=env.owner)
    with pytest.raises(InvalidPath):
        env.api.get_node("../outside", principal=env.owner)
    with pytest.raises(NodeNotFound):
        env.api.get_node("ab" * 32, principal=env.owner)


def test_frame_for_node_of_another_workspace_is_refused(env):
    other = workspace_id("other")
    env.store.create_workspace(workspace_info(other, "other"))
    node_id = env.api.get_node("src/app.py", principal=env.owner).node_record.node_id
    from treeframe.engine.context_api import ContextAPI

    other_api = ContextAPI(env.store, other, agents={"writer": env.api.agents.get("writer")})
    with pytest.raises(NodeNotFound):
        other_api.put_frame(
            node_id, FrameInput("summary", b"x"), principal=other_api.agent_principal("writer")
        )


def test_oversize_frame_limit_is_configurable(env):
    from treeframe.engine.context_api import ContextAPI, EngineLimits

    small = ContextAPI(env.store, WS, limits=EngineLimits(max_frame_bytes=8))
    small.agents.register(env.api.agents.get("writer"))
    with pytest.raises(InvalidFrame, match="over the limit"):
        small.put_frame(
            "src/app.py",
            FrameInput("summary", b"123456789"),
            principal=small.agent_principal("writer"),
        )


def test_text_content_must_be_utf8(env):
    with pytest.raises(InvalidFrame, match="UTF-8"):
        env.api.put_frame(
            "src/app.py", FrameInput("blob", b"\xff\xfe"), principal=env.principal("writer")
        )
    fid = env.api.put_frame(
        "src/app.py",
        FrameInput("blob", b"\xff\xfe", content_type="application/octet-stream"),
        principal=env.principal("writer"),
    )
    assert env.api.get_frames_batch([fid], principal=env.owner)[0].content == b"\xff\xfe"


def test_basis_must_name_things_in_this_workspace(env):
    node_id = env.api.get_node("src/app.py", principal=env.owner).node_record.node_id
    with pytest.raises(InvalidFrame, match="basis frame"):
        env.api.put_frame(
            "src/app.py",
            FrameInput("derived", b"x", basis=Basis.node_frame(node_id, "cd" * 32)),
            principal=env.principal("writer"),
        )


def test_batches_keep_order_and_reject_unknown(env):
    a = env.put("src/app.py", "summary", "a")
    b = env.put("README.md", "summary", "b")
    nodes = env.api.get_nodes_batch(["README.md", "src/app.py"], principal=env.owner)
    assert [n.node_record.path for n in nodes] == ["README.md", "src/app.py"]
    frames = env.api.get_frames_batch([b, a], principal=env.owner)
    assert [f.frame.frame_id for f in frames] == [b, a]
    with pytest.raises(FrameNotFound):
        env.api.get_frames_batch([a, "ef" * 32], principal=env.owner)
    with pytest.raises(InvalidRequest, match="exceeds"):
        env.api.get_frames_batch([a] * (env.api.limits.max_batch + 1), principal=env.owner)


def test_changed_file_frames_are_stale_and_previous_heads_are_opt_in(env):
    env.put("src/db/pool.py", "summary", "the pool")
    old = env.api.get_node("src/db/pool.py", principal=env.owner)
    env.edit("src/db/pool.py", "# Pool\nPOOL = make()\n")
    fresh = env.api.get_node("src/db/pool.py", principal=env.owner)
    assert fresh.node_record.node_id != old.node_record.node_id
    assert fresh.frames == ()
    with_previous = env.api.get_node("src/db/pool.py", include_previous=True, principal=env.owner)
    assert len(with_previous.frames) == 1
    served = with_previous.frames[0]
    assert served.previous is True
    assert served.stale is True
    assert served.content == b"the pool"
    # the old node still answers by ID, its frame marked stale
    by_old_id = env.api.get_node(old.node_record.node_id, principal=env.owner)
    assert [f.stale for f in by_old_id.frames] == [True]


def test_frame_basis_superseded_makes_dependent_stale(env):
    first = env.put("src/app.py", "summary", "v1")
    node_id = env.api.get_node("src/app.py", principal=env.owner).node_record.node_id
    derived = env.api.put_frame(
        "src/app.py",
        FrameInput("digest", b"d", basis=Basis.node_frame(node_id, first)),
        principal=env.principal("writer"),
    )
    assert env.api.get_frames_batch([derived], principal=env.owner)[0].stale is False
    env.put("src/app.py", "summary", "v2")
    assert env.api.get_frames_batch([derived], principal=env.owner)[0].stale is True


def test_views_apply_through_get_node(env):
    for i in range(5):
        env.put("src/app.py", f"t{i % 2}", f"frame {i}")
    ctx = env.api.get_node("src/app.py", ViewPolicy(max_frames=2), principal=env.owner)
    assert len(ctx.frames) == 2
    assert ctx.frame_count == 5
    assert ctx.truncated is True


def test_batch_equals_singles_for_default_and_filtered_views(env):
    paths = ["README.md", "src/app.py", "src/db/pool.py", "docs/guide.md", "src"]
    for i, path in enumerate(paths * 3):
        env.put(path, f"t{i % 2}", f"frame {i} on {path}")
    env.edit("docs/guide.md", "changed\n")  # one node's frames now stale
    node_ids = [env.api.get_node(p, principal=env.owner).node_record.node_id for p in paths[:2]]
    refs = [*paths, *node_ids]
    for policy in (ViewPolicy(max_frames=2), ViewPolicy(max_frames=5, types=("t1",))):
        batch = env.api.get_nodes_batch(refs, policy, principal=env.owner)
        singles = [env.api.get_node(r, policy, principal=env.owner) for r in refs]
        assert batch == singles


def test_batch_over_hard_cap_is_refused(env):
    from treeframe.errors import InvalidViewPolicy

    with pytest.raises(InvalidViewPolicy):
        env.api.get_nodes_batch(
            ["src"], ViewPolicy(max_frames=env.api.limits.hard_max_frames + 1), principal=env.owner
        )
