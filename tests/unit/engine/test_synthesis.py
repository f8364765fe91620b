"""Branch synthesis: inputs, ordering, policies, missing children, recursion, roles, plugins."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from treeframe.engine import plugins, policies
from treeframe.errors import (
    AccessDenied,
    InvalidPolicy,
    InvalidRequest,
    SynthesisFailed,
)


def _annotate_all(env):
    for path in ("README.md", "src/app.py", "src/db/models.py", "src/db/pool.py", "docs/guide.md"):
        env.put(path, "summary", f"# {path}\nsummary of {path}\n")


def test_synthesis_basis_is_ordered_child_heads(env):
    _annotate_all(env)
    result = env.api.synthesize_branch("src/db", "summary", principal=env.principal("synth"))
    (frame,) = result.frames
    heads = [
        env.api.get_node(p, principal=env.owner).frames[0].frame.frame_id
        for p in ("src/db/models.py", "src/db/pool.py")
    ]
    assert frame.basis.kind == "synthesis"
    assert list(frame.basis.child_frames) == heads
    assert frame.basis.policy_id == "concat"
    assert frame.basis.params == {"input_type": "summary", "missing": "skip", "params": {}}
    text = env.api.get_frames_batch([frame.frame_id], principal=env.owner)[0].content.decode()
    assert text.index("src/db/models.py") < text.index("src/db/pool.py")


def test_synthesis_is_deterministic_and_idempotent(env):
    _annotate_all(env)
    first = env.api.synthesize_branch(
        "src", "summary", principal=env.principal("synth"), recursive=True
    )
    second = env.api.synthesize_branch(
        "src", "summary", principal=env.principal("synth"), recursive=True
    )
    assert [f.frame_id for f in first.frames] == [f.frame_id for f in second.frames]
    assert [f.seq for f in first.frames] == [f.seq for f in second.frames]


def test_recursive_is_post_order_and_uses_fresh_child_synthesis(env):
    _annotate_all(env)
    result = env.api.synthesize_branch(
        ".", "summary", principal=env.principal("synth"), recursive=True
    )
    paths = [env.store.get_node(env.api.ws, f.node_id).path for f in result.frames]
    assert paths == ["docs", "src/db", "src", ""]
    src = result.frames[2]
    db = result.frames[1]
    assert db.frame_id in src.basis.child_frames


def test_missing_children_skip_or_fail(env):
    env.put("src/db/models.py", "summary", "models only")
    skipped = env.api.synthesize_branch("src/db", "summary", principal=env.principal("synth"))
    assert skipped.skipped == ("src/db/pool.py",)
    assert len(skipped.frames[0].basis.child_frames) == 1
    with pytest.raises(SynthesisFailed) as info:
        env.api.synthesize_branch(
            "src/db", "summary", principal=env.principal("synth"), missing="fail"
        )
    assert info.value.missing == ("src/db/pool.py",)


def test_empty_directory_gets_a_stable_empty_frame(env, tmp_path):
    (env.root / "empty").mkdir()
    env.scan()
    one = env.api.synthesize_branch("empty", "summary", principal=env.principal("synth")).frames[0]
    assert one.size == 0
    assert one.basis.child_frames == ()
    again = env.api.synthesize_branch("empty", "summary", principal=env.principal("synth")).frames[
        0
    ]
    assert again.frame_id == one.frame_id


def test_summary_is_bounded_and_extractive(env):
    _annotate_all(env)
    frame = env.api.synthesize_branch(
        "src/db",
        "summary",
        principal=env.principal("synth"),
        policy="summary",
        params={"max_line": 10, "max_bytes": 60},
    ).frames[0]
    text = env.api.get_frames_batch([frame.frame_id], principal=env.owner)[0].content.decode()
    assert len(text.encode()) <= 60
    assert text.endswith("- … 1 more\n")
    assert text.startswith("- src/db/models.py: src/db/mo")


def test_filter_policy_selects_by_agent(env):
    env.put("src/db/models.py", "note", "by writer")
    env.put("src/db/pool.py", "note", "by capable", agent="capable")
    frame = env.api.synthesize_branch(
        "src/db",
        "note",
        principal=env.principal("synth"),
        policy="filter",
        params={"agents": ["capable"]},
    ).frames[0]
    text = env.api.get_frames_batch([frame.frame_id], principal=env.owner)[0].content.decode()
    assert "by capable" in text
    assert "by writer" not in text
    assert len(frame.basis.child_frames) == 2  # the basis is the inputs, not the selection


def test_star_takes_every_head(env):
    env.put("src/db/models.py", "note", "n")
    env.put("src/db/models.py", "summary", "s")
    frame = env.api.synthesize_branch("src/db", "*", principal=env.principal("synth")).frames[0]
    assert frame.frame_type == "synthesis"
    assert len(frame.basis.child_frames) == 2


def test_roles_gate_synthesis(env):
    _annotate_all(env)
    with pytest.raises(AccessDenied):
        env.api.synthesize_branch("src", "summary", principal=env.principal("writer"))
    with pytest.raises(AccessDenied):
        env.api.synthesize_branch("src", "summary", principal=env.principal("reader"))
    assert env.api.synthesize_branch("src", "summary", principal=env.principal("capable")).frames


def test_bad_synthesis_requests(env):
    with pytest.raises(InvalidRequest, match="directory"):
        env.api.synthesize_branch("src/app.py", "summary", principal=env.principal("synth"))
    with pytest.raises(InvalidPolicy, match="unknown synthesis policy"):
        env.api.synthesize_branch("src", "summary", principal=env.principal("synth"), policy="nope")
    with pytest.raises(InvalidPolicy):
        env.api.synthesize_branch(
            "src",
            "summary",
            principal=env.principal("synth"),
            policy="summary",
            params={"bogus": 1},
        )


class _Boom:
    policy_id = "boom"
    content_type = "text/plain"

    def check_params(self, params):
        return {}

    def synthesize(self, dir_path, inputs, params):
        raise RuntimeError("kaboom")


class _Upper:
    policy_id = "upper"
    content_type = "text/plain"

    def check_params(self, params):
        return {}

    def synthesize(self, dir_path, inputs, params):
        return b"".join(i.content.upper() for i in inputs)


def _fake_entry_points(monkeypatch, objects):
    def fake(group):
        assert group == policies.ENTRY_POINT_GROUP
        return [
            EntryPoint(name=name, value=f"{__name__}:{obj.__name__}", group=group)
            for name, obj in objects.items()
        ]

    monkeypatch.setattr(plugins, "entry_points", fake)


def test_plugin_policy_through_entry_points(env, monkeypatch):
    _fake_entry_points(monkeypatch, {"upper": _Upper})
    env.put("src/db/models.py", "summary", "abc")
    frame = env.api.synthesize_branch(
        "src/db", "summary", principal=env.principal("synth"), policy="upper"
    ).frames[0]
    assert env.api.get_frames_batch([frame.frame_id], principal=env.owner)[0].content == b"ABC"
    assert "upper" in env.api.runtime.policies.ids()


def test_policy_that_raises_is_synthesis_failed_and_writes_nothing(env, monkeypatch):
    _fake_entry_points(monkeypatch, {"boom": _Boom})
    env.put("src/db/models.py", "summary", "abc")
    before = env.api.get_node("src/db", principal=env.owner)
    with pytest.raises(SynthesisFailed, match="kaboom"):
        env.api.synthesize_branch(
            "src/db", "summary", principal=env.principal("synth"), policy="boom"
        )
    assert env.api.get_node("src/db", principal=env.owner) == before


def test_rebuilding_an_existing_synthesis_moves_the_head_back_to_it(env):
    env.put("src/db/models.py", "note", "n1")
    env.put("src/db/models.py", "summary", "s1")
    from_notes = env.api.synthesize_branch(
        "src/db", "note", principal=env.principal("synth"), output_type="digest"
    ).frames[0]
    from_summaries = env.api.synthesize_branch(
        "src/db", "summary", principal=env.principal("synth"), output_type="digest"
    ).frames[0]
    assert (
        env.api.get_node("src/db", principal=env.owner).frames[0].frame.frame_id
        == from_summaries.frame_id
    )
    again = env.api.synthesize_branch(
        "src/db", "note", principal=env.principal("synth"), output_type="digest"
    ).frames[0]
    assert again.frame_id == from_notes.frame_id
    head = env.store.get_head(env.api.ws, again.node_id, "digest")
    assert head == from_notes.frame_id
    assert env.api.get_frames_batch([head], principal=env.owner)[0].stale is False


def test_max_children_limit_refuses_large_directories(env):
    from treeframe.engine.context_api import ContextAPI, EngineLimits

    env.put("src/db/models.py", "summary", "m")
    env.put("docs/guide.md", "summary", "g")
    small = ContextAPI(
        env.store,
        env.api.ws,
        agents={"synth": env.api.agents.get("synth")},
        limits=EngineLimits(max_children=1),
    )
    before = env.api.get_node("src/db", principal=env.owner)
    with pytest.raises(SynthesisFailed, match="over the limit of 1"):
        small.synthesize_branch("src/db", "summary", principal=small.agent_principal("synth"))
    assert env.api.get_node("src/db", principal=env.owner) == before
    assert small.synthesize_branch(
        "docs", "summary", principal=small.agent_principal("synth")
    ).frames


def test_summary_max_bytes_default_comes_from_limits(env):
    from treeframe.engine.context_api import ContextAPI, EngineLimits

    _annotate_all(env)
    tight = ContextAPI(
        env.store,
        env.api.ws,
        agents={"synth": env.api.agents.get("synth")},
        limits=EngineLimits(summary_max_bytes=30),
    )
    frame = tight.synthesize_branch(
        "src/db", "summary", principal=tight.agent_principal("synth"), policy="summary"
    ).frames[0]
    assert frame.basis.params["params"]["max_bytes"] == 30
    assert frame.size <= 30
    explicit = tight.synthesize_branch(
        "src/db",
        "summary",
        principal=tight.agent_principal("synth"),
        policy="summary",
        params={"max_bytes": 500},
    ).frames[0]
    assert explicit.basis.params["params"]["max_bytes"] == 500


def test_recursive_synthesis_writes_no_frame_where_nothing_below_has_an_input(env):
    (env.root / "empty").mkdir()
    env.scan()
    env.put("src/db/pool.py", "summary", "the pool")
    result = env.api.synthesize_branch(
        ".", "summary", principal=env.principal("synth"), recursive=True
    )
    written = {env.store.get_node(env.api.ws, f.node_id).path for f in result.frames}
    # docs/ has children but no input below it; empty/ has no children at all.
    assert written == {"src/db", "src", "", "empty"}
    assert result.without_inputs == ("docs",)
    assert env.api.get_node("docs", principal=env.owner).frame_count == 0
    assert env.api.get_node("empty", principal=env.owner).frame_count == 1
    assert set(result.skipped) == {"src/db/models.py", "src/app.py", "docs", "README.md"}
    assert result.to_dict()["without_inputs"] == ["docs"]


@pytest.mark.parametrize("recursive", [False, True])
def test_a_typo_d_frame_type_is_refused_and_writes_nothing(env, recursive):
    _annotate_all(env)
    (env.root / "empty").mkdir()
    env.scan()
    before = sorted(env.store.iter_all_heads(env.api.ws))
    scope = "." if recursive else "src"
    with pytest.raises(SynthesisFailed, match="no node in scope has a 'nosuch' frame"):
        env.api.synthesize_branch(
            scope, "nosuch", principal=env.principal("synth"), recursive=recursive
        )
    assert sorted(env.store.iter_all_heads(env.api.ws)) == before


def test_a_directory_whose_children_lack_inputs_gets_no_frame(env):
    env.put("src/app.py", "note", "not a summary")
    with pytest.raises(SynthesisFailed, match="'summary'"):
        env.api.synthesize_branch("src/db", "summary", principal=env.principal("synth"))
    assert env.api.get_node("src/db", principal=env.owner).frame_count == 0
