"""Authorization in one place: every ContextAPI operation checks its caller's permission first."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.engine.conftest import WS, Env
from treeframe.engine.agents import AgentRecord
from treeframe.engine.composition import CompositionPolicy
from treeframe.engine.principal import Permission, Principal
from treeframe.engine.types import FrameInput
from treeframe.errors import AccessDenied, TreeframeError, Unauthorized
from treeframe.hashing.ids import workspace_id

READS: dict[str, Callable[[Env, object], object]] = {
    "get_node": lambda env, who: env.api.get_node("src/app.py", principal=who),
    "get_nodes_batch": lambda env, who: env.api.get_nodes_batch(["src/app.py"], principal=who),
    "get_frames_batch": lambda env, who: env.api.get_frames_batch(
        [env.api.heads("src/app.py")["summary"]], principal=who
    ),
    "heads": lambda env, who: env.api.heads("src/app.py", principal=who),
    "stale": lambda env, who: env.api.stale(".", recursive=True, principal=who),
    "compose": lambda env, who: env.api.compose("src/app.py", CompositionPolicy(), principal=who),
    "regenerate_dry_run": lambda env, who: env.api.regenerate(".", dry_run=True, principal=who),
    "list_agents": lambda env, who: env.api.list_agents(principal=who),
    "get_agent": lambda env, who: env.api.get_agent("writer", principal=who),
}


def _snapshot(env: Env) -> tuple[object, ...]:
    return (
        [f.to_dict() for f in env.store.iter_all_frames(WS)],  # type: ignore[union-attr]
        sorted(env.store.iter_all_heads(WS)),
        env.store.list_agents(WS),
    )


@pytest.mark.parametrize("op", sorted(READS))
def test_reads_check_the_caller(env: Env, op: str) -> None:
    env.put("src/app.py", "summary", "entry point")
    for allowed in (None, "reader", "writer", "synth", Principal.owner(WS)):
        READS[op](env, allowed)
    with pytest.raises(Unauthorized, match="unknown agent"):
        READS[op](env, "nobody")
    with pytest.raises(AccessDenied, match="may not read"):
        READS[op](env, Principal("writer", WS, frozenset()))
    elsewhere = Principal("reader", workspace_id("elsewhere"), frozenset({Permission.READ}))
    with pytest.raises(AccessDenied, match="another workspace"):
        READS[op](env, elsewhere)


# An unknown caller is Unauthorized (401: who are you); a known one without the
# permission, or the local owner authoring a frame, is AccessDenied (403).
REFUSED: dict[object, type[TreeframeError]] = {
    "nobody": Unauthorized,
    "reader": AccessDenied,
    None: AccessDenied,
    Principal.owner(WS): AccessDenied,
}


def test_writes_need_a_registered_author_with_the_permission(env: Env) -> None:
    before = _snapshot(env)
    for who, error in REFUSED.items():
        with pytest.raises(error) as caught:
            env.api.put_frame("src/app.py", FrameInput("summary", b"x"), who)
        assert type(caught.value) is error, who
    for who, error in (("writer", AccessDenied), ("nobody", Unauthorized), (None, AccessDenied)):
        with pytest.raises(error) as caught:
            env.api.synthesize_branch("src", "summary", who)
        assert type(caught.value) is error, who
    assert _snapshot(env) == before
    env.put("src/app.py", "summary", "by a writer")
    env.api.synthesize_branch("src", "summary", "capable")


def test_agent_registration_needs_admin(env: Env) -> None:
    before = _snapshot(env)
    for who, error in (("synth", AccessDenied), ("writer", AccessDenied), ("nobody", Unauthorized)):
        with pytest.raises(error, match=r"admin|unknown"):
            env.api.register_agent(AgentRecord("intruder", "synthesis"), principal=who)
    assert _snapshot(env) == before
    env.api.register_agent(AgentRecord("newcomer", "reader"))  # the local owner may
    assert env.api.get_agent("newcomer") == AgentRecord("newcomer", "reader")


def test_regenerate_needs_synthesize_and_refused_calls_change_nothing(env: Env) -> None:
    env.put("src/db/pool.py", "summary", "pool")
    env.api.synthesize_branch("src/db", "summary", "synth")
    env.put("src/db/pool.py", "summary", "a newer pool summary")
    before = _snapshot(env)
    for who, error in (
        ("reader", AccessDenied),
        ("writer", AccessDenied),
        ("nobody", Unauthorized),
    ):
        with pytest.raises(error):
            env.api.regenerate(".", recursive=True, principal=who)
    assert _snapshot(env) == before
    assert env.api.regenerate(".", recursive=True, principal="capable").regenerated_count == 1


def test_regenerate_never_writes_under_a_demoted_agent(env: Env) -> None:
    for path in ("src/db/models.py", "src/db/pool.py"):
        env.put(path, "summary", f"about {path}")
    env.api.synthesize_branch("src/db", "summary", "synth")
    env.api.put_frame("src/app.py", FrameInput("stats", b"26 bytes, 2 lines\n"), "stats")
    env.api.register_agent(AgentRecord("synth", "writer"))  # lost synthesize
    env.api.register_agent(AgentRecord("stats", "reader", generator="stats"))  # lost write
    env.put("src/db/models.py", "summary", "a newer models summary")
    env.edit("src/app.py", "one\ntwo\n")
    before = _snapshot(env)
    report = env.api.regenerate(".", recursive=True)
    assert report.regenerated_count == 0
    assert _snapshot(env) == before
    reasons = {(r.path, r.agent_id): r.reason for r in report.stale_unrecomputable}
    assert "may no longer synthesize" in reasons[("src/db", "synth")]
    assert "may no longer write" in reasons[("src/app.py", "stats")]
    stale = {(f.path, f.agent_id): f.recomputable for f in env.api.stale(".", True).frames}
    assert stale[("src/db", "synth")] is False
    assert stale[("src/app.py", "stats")] is False
