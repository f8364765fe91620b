"""One notion of "current": the last put or synthesis of a (node, type) is its head,
the most recent frame in recency views, and what compose ranks first."""

from __future__ import annotations

from tests.unit.engine.conftest import WS
from treeframe.engine.composition import CompositionPolicy
from treeframe.engine.types import FrameInput
from treeframe.frames.views import ViewPolicy


def _agree(env, path: str, frame_type: str, expected: str) -> None:
    node = env.api.resolve(path, principal=env.owner).node_id
    assert env.store.get_heads_many(WS, [node])[node][frame_type] == expected
    assert (
        env.api.get_node(path, ViewPolicy(max_frames=1), principal=env.owner)
        .frames[0]
        .frame.frame_id
        == expected
    )
    assert env.api.get_nodes_batch([path], ViewPolicy(max_frames=1), principal=env.owner)[0].frames[
        0
    ].frame.frame_id == (expected)
    composed = env.api.compose(path, CompositionPolicy(max_frames=1), principal=env.owner)
    assert composed.frames[0].context.frame.frame_id == expected


def test_reput_of_an_older_frame_makes_it_current_everywhere(env):
    x = env.put("src/app.py", "summary", "version x")
    y = env.put("src/app.py", "summary", "version y")
    _agree(env, "src/app.py", "summary", y)
    result = env.api.put_frame_record(
        "src/app.py", FrameInput("summary", b"version x"), principal=env.principal("writer")
    )
    assert result.frame_id == x
    assert result.created is False
    _agree(env, "src/app.py", "summary", x)
    assert env.api.get_node("src/app.py", principal=env.owner).frame_count == 2
    assert env.api.get_node("src/app.py", principal=env.owner).frames[0].stale is False


def test_reput_tells_the_caller_nothing_new_was_stored(env):
    first = env.api.put_frame_record(
        "src/app.py",
        FrameInput("summary", b"same", metadata={"by": "first"}),
        principal=env.principal("writer"),
    )
    assert first.created is True
    again = env.api.put_frame_record(
        "src/app.py",
        FrameInput("summary", b"same", content_type="text/markdown", metadata={"by": "second"}),
        principal=env.principal("writer"),
    )
    assert again.created is False
    assert again.frame_id == first.frame_id
    assert dict(again.frame.metadata) == {"by": "first"}
    assert again.frame.content_type == first.frame.content_type
    assert again.to_dict()["created"] is False
    assert again.to_dict()["metadata"] == {"by": "first"}


def test_summary_concat_summary_synthesis_agree_on_the_current_frame(env):
    for path in ("src/app.py", "src/db/models.py", "src/db/pool.py"):
        env.put(path, "summary", f"about {path}")
    summary = env.api.synthesize_branch(
        "src", "summary", "summary", principal=env.principal("synth")
    ).frames[0]
    concat = env.api.synthesize_branch(
        "src", "summary", "concat", principal=env.principal("synth")
    ).frames[0]
    _agree(env, "src", "summary", concat.frame_id)
    again = env.api.synthesize_branch(
        "src", "summary", "summary", principal=env.principal("synth")
    ).frames[0]
    assert again.frame_id == summary.frame_id
    _agree(env, "src", "summary", summary.frame_id)
