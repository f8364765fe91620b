"""Authorization in one place: every ContextAPI operation checks its caller's permission first.

The caller is always a :class:`Principal`; the tests build one the way the
CLI does (``who``): the registered agent's, or the local owner's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.engine.conftest import WS, Env
from treeframe.engine.agents import AgentRecord
from treeframe.engine.composition import CompositionPolicy
from treeframe.engine.generation import GenerateOptions
from treeframe.engine.principal import Permission, Principal
from treeframe.engine.types import FrameInput
from treeframe.errors import AccessDenied, TreeframeError, Unauthorized
from treeframe.hashing.ids import workspace_id


def who(env: Env, caller: str | Principal | None) -> Principal:
    """The principal the CLI would act as: ``--as AGENT``, none (the owner), or a ready one."""
    if caller is None:
        return env.owner
    if isinstance(caller, Principal):
        return caller
    return env.principal(caller)


READS: dict[str, Callable[[Env, Principal], object]] = {
    "get_node": lambda env, who: env.api.get_node("src/app.py", principal=who),
    "get_nodes_batch": lambda env, who: env.api.get_nodes_batch(["src/app.py"], principal=who),
    "get_frames_batch": lambda env, who: env.api.get_frames_batch(
        [env.api.heads("src/app.py", principal=env.owner)["summary"]], principal=who
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
        READS[op](env, who(env, allowed))
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
    for caller, error in REFUSED.items():
        with pytest.raises(error) as caught:
            env.api.put_frame("src/app.py", FrameInput("summary", b"x"), principal=who(env, caller))
        assert type(caught.value) is error, caller
    for caller, error in (
        ("writer", AccessDenied),
        ("nobody", Unauthorized),
        (None, AccessDenied),
    ):
        with pytest.raises(error) as caught:
            env.api.synthesize_branch("src", "summary", principal=who(env, caller))
        assert type(caught.value) is error, caller
    assert _snapshot(env) == before
    env.put("src/app.py", "summary", "by a writer")
    env.api.synthesize_branch("src", "summary", principal=env.principal("capable"))


def test_agent_registration_needs_admin(env: Env) -> None:
    before = _snapshot(env)
    for caller, error in (
        ("synth", AccessDenied),
        ("writer", AccessDenied),
        ("nobody", Unauthorized),
    ):
        with pytest.raises(error, match=r"admin|unknown"):
            env.api.register_agent(AgentRecord("intruder", "synthesis"), principal=who(env, caller))
    assert _snapshot(env) == before
    env.api.register_agent(
        AgentRecord("newcomer", "reader"), principal=env.owner
    )  # the local owner may
    assert env.api.get_agent("newcomer", principal=env.owner) == AgentRecord("newcomer", "reader")


def test_regenerate_needs_synthesize_and_refused_calls_change_nothing(env: Env) -> None:
    env.put("src/db/pool.py", "summary", "pool")
    env.api.synthesize_branch("src/db", "summary", principal=env.principal("synth"))
    env.put("src/db/pool.py", "summary", "a newer pool summary")
    before = _snapshot(env)
    for caller, error in (
        ("reader", AccessDenied),
        ("writer", AccessDenied),
        ("nobody", Unauthorized),
    ):
        with pytest.raises(error):
            env.api.regenerate(".", recursive=True, principal=who(env, caller))
    assert _snapshot(env) == before
    assert (
        env.api.regenerate(
            ".", recursive=True, principal=env.principal("capable")
        ).regenerated_count
        == 1
    )


def test_regenerate_never_writes_under_a_demoted_agent(env: Env) -> None:
    for path in ("src/db/models.py", "src/db/pool.py"):
        env.put(path, "summary", f"about {path}")
    env.api.synthesize_branch("src/db", "summary", principal=env.principal("synth"))
    env.api.put_frame(
        "src/app.py", FrameInput("stats", b"26 bytes, 2 lines\n"), principal=env.principal("stats")
    )
    env.api.register_agent(AgentRecord("synth", "writer"), principal=env.owner)  # lost synthesize
    env.api.register_agent(
        AgentRecord("stats", "reader", generator="stats"), principal=env.owner
    )  # lost write
    env.put("src/db/models.py", "summary", "a newer models summary")
    env.edit("src/app.py", "one\ntwo\n")
    before = _snapshot(env)
    report = env.api.regenerate(".", recursive=True, principal=env.owner)
    assert report.regenerated_count == 0
    assert _snapshot(env) == before
    reasons = {(r.path, r.agent_id): r.reason for r in report.stale_unrecomputable}
    assert "may no longer synthesize" in reasons[("src/db", "synth")]
    assert "may no longer write" in reasons[("src/app.py", "stats")]
    stale = {
        (f.path, f.agent_id): f.recomputable
        for f in env.api.stale(".", True, principal=env.owner).frames
    }
    assert stale[("src/db", "synth")] is False
    assert stale[("src/app.py", "stats")] is False


# -- identity: a Principal on every call ---------------------------------------

# Every public ContextAPI method, called as ``principal`` (each on data that exists).
CALLS: dict[str, Callable[[Env, Any], object]] = {
    **READS,
    "resolve": lambda env, p: env.api.resolve("src/app.py", principal=p),
    "regenerate": lambda env, p: env.api.regenerate(".", recursive=True, principal=p),
    "register_agent": lambda env, p: env.api.register_agent(
        AgentRecord("newcomer", "reader"), principal=p
    ),
    "put_frame": lambda env, p: env.api.put_frame(
        "src/app.py", FrameInput("note", b"n"), principal=p
    ),
    "put_frame_record": lambda env, p: env.api.put_frame_record(
        "src/app.py", FrameInput("note", b"r"), principal=p
    ),
    "synthesize_branch": lambda env, p: env.api.synthesize_branch("src", "summary", principal=p),
    "audit_log": lambda env, p: env.api.audit_log(principal=p),
    "verify_audit": lambda env, p: env.api.verify_audit(principal=p),
    "generate": lambda env, p: env.api.generate("src/app.py", GenerateOptions(), principal=p),
    "generate_dry_run": lambda env, p: env.api.generate(
        "src", GenerateOptions(recursive=True, dry_run=True), principal=p
    ),
}

READ_OPS = set(READS) | {"resolve"}
# Who may call each method beyond the reads everybody may make (roles: engine/agents.py).
ALLOWED: dict[str, set[str]] = {
    **{op: {"owner", "reader", "writer", "capable", "synth"} for op in READ_OPS},
    "regenerate": {"owner", "capable", "synth"},
    "register_agent": {"owner"},
    "put_frame": {"writer", "capable", "synth"},
    "put_frame_record": {"writer", "capable", "synth"},
    "synthesize_branch": {"capable", "synth"},
    "audit_log": {"owner"},
    "verify_audit": {"owner"},
    # The owner authors nothing, so it cannot generate even in a dry run (whose model is the agent's).
    "generate": {"writer", "capable", "synth"},
    "generate_dry_run": {"reader", "writer", "capable", "synth"},
}


def test_every_method_is_covered() -> None:
    from treeframe.engine.context_api import ContextAPI

    public = {
        name
        for name in vars(ContextAPI)
        if not name.startswith("_") and callable(getattr(ContextAPI, name))
    }
    # lock_for_puts only takes locks ahead of puts that are authorized (and audited) themselves
    assert public - {"agent_principal", "lock_for_puts"} == set(CALLS) - {
        "regenerate_dry_run",
        "generate_dry_run",
    }
    assert set(CALLS) == set(ALLOWED)


@pytest.mark.parametrize("op", sorted(CALLS))
def test_a_bare_agent_id_or_none_is_refused(env: Env, op: str) -> None:
    env.put("src/app.py", "summary", "entry point")
    before = _snapshot(env)
    for caller in ("synth", None, {"agent_id": "synth"}):
        with pytest.raises(TypeError, match="must be a Principal"):
            CALLS[op](env, caller)
    assert _snapshot(env) == before


@pytest.mark.parametrize("op", sorted(CALLS))
def test_owner_and_agent_permissions_per_method(env: Env, op: str) -> None:
    env.put("src/app.py", "summary", "entry point")
    for name in ("owner", "reader", "writer", "capable", "synth"):
        principal = env.owner if name == "owner" else env.principal(name)
        if name in ALLOWED[op]:
            CALLS[op](env, principal)
            continue
        before = _snapshot(env)
        with pytest.raises(AccessDenied):
            CALLS[op](env, principal)
        assert _snapshot(env) == before, (op, name)


@pytest.mark.parametrize("op", sorted(CALLS))
def test_a_principal_of_another_workspace_is_denied(env: Env, op: str) -> None:
    env.put("src/app.py", "summary", "entry point")
    elsewhere = workspace_id("elsewhere")
    for principal in (
        Principal.owner(elsewhere),
        Principal("synth", elsewhere, frozenset(Permission)),
    ):
        with pytest.raises(AccessDenied, match="another workspace"):
            CALLS[op](env, principal)


def test_an_unknown_agent_gets_no_principal(env: Env) -> None:
    with pytest.raises(Unauthorized, match="unknown agent 'nobody'"):
        env.api.agent_principal("nobody")
    with pytest.raises(TypeError):
        env.api.agent_principal(None)  # type: ignore[arg-type]


def test_frames_are_authored_by_the_principals_agent(env: Env) -> None:
    stored = env.api.put_frame_record(
        "src/app.py", FrameInput("note", b"mine"), principal=env.principal("capable")
    )
    assert stored.frame.agent_id == "capable"
    env.put("src/db/pool.py", "summary", "pool")
    (synthesized,) = env.api.synthesize_branch(
        "src/db", "summary", principal=env.principal("capable")
    ).frames
    assert synthesized.agent_id == "capable"


def test_a_demoted_agent_s_principal_is_built_from_its_current_role(env: Env) -> None:
    assert Permission.WRITE in env.principal("writer").permissions
    env.api.register_agent(AgentRecord("writer", "reader"), principal=env.owner)
    demoted = env.principal("writer")
    assert demoted.permissions == frozenset({Permission.READ})
    with pytest.raises(AccessDenied, match="may not write"):
        env.api.put_frame("src/app.py", FrameInput("note", b"x"), principal=demoted)
