"""Every node, frame and operation method of the client against the real app (ASGI, in process)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.api.routes_env import Env, make_env
from treeframe import errors
from treeframe.client import AsyncClient
from treeframe.frames import merkle_set
from treeframe.frames.merkle_set import MembershipProof
from treeframe.wire.frames import FrameSpec, PutFrameRequest
from treeframe.wire.nodes import ViewSpec
from treeframe.wire.operations import ComposeRequest, RegenerateRequest, SynthesizeRequest

T = TypeVar("T")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def call(env: Env, fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
    async def go() -> T:
        transport = httpx.ASGITransport(app=env.app)
        async with AsyncClient("http://api", transport=transport, token="t") as client:
            return await fn(client)

    return asyncio.run(go())


def text(content: str, frame_type: str = "summary", **extra: Any) -> FrameSpec:
    return FrameSpec(frame_type=frame_type, content=content, **extra)


def test_put_then_get_node_by_id_and_path(env: Env):
    nid = env.node_id("src/app.py")
    put = call(env, lambda c: c.put_frame(env.ws, nid, text("entry point")))
    assert put.created is True
    assert put.frame.agent_id == "alice"
    again = call(env, lambda c: c.put_frame(env.ws, "src/app.py", text("entry point")))
    assert (again.created, again.frame_id) == (False, put.frame_id)

    view = call(env, lambda c: c.get_node(env.ws, nid))
    assert view.node_record.path == "src/app.py"
    assert [f.frame_id for f in view.frames] == [put.frame_id]
    assert view.frames[0].content == "entry point"
    assert view.frames[0].stale is False
    by_path = call(env, lambda c: c.get_node_by_path(env.ws, "src/app.py"))
    assert by_path == view


def test_view_parameters_reach_the_server(env: Env):
    nid = env.node_id("README.md")
    for kind in ("a", "b", "c"):
        call(env, lambda c, k=kind: c.put_frame(env.ws, nid, text(f"{k} text", frame_type=k)))
    spec = ViewSpec(max_frames=3, ordering="type", types=["c", "a"], priority=["c", "a"])
    view = call(env, lambda c: c.get_node(env.ws, nid, view=spec))
    assert [f.frame_type for f in view.frames] == ["c", "a"]  # b filtered out
    assert view.policy.type_priority == ["c", "a"]
    assert view.frame_count == 3
    by_agent = call(env, lambda c: c.get_node(env.ws, nid, view=ViewSpec(agents=["nobody"])))
    assert by_agent.frames == []
    budget = call(env, lambda c: c.get_node(env.ws, nid, view=ViewSpec(max_bytes=6)))
    assert sum(len(f.content) for f in budget.frames) <= 6


def test_binary_content_round_trips_exactly(env: Env):
    data = bytes(range(256))
    spec = FrameSpec(
        frame_type="blob",
        content_b64=base64.b64encode(data).decode(),
        content_type="application/octet-stream",
    )
    put = call(env, lambda c: c.put_frame(env.ws, "README.md", spec))
    assert call(env, lambda c: c.get_frame_content(env.ws, put.frame_id)) == data
    resource = call(env, lambda c: c.get_frame(env.ws, put.frame_id, fresh=True))
    assert resource.content_b64 is not None
    assert base64.b64decode(resource.content_b64) == data
    assert resource.stale is False
    assert resource.path == "README.md"


def test_conditional_put_loses_a_race_with_precondition_failed(env: Env):
    nid = env.node_id("README.md")
    first = call(env, lambda c: c.put_frame(env.ws, nid, text("one"), if_none_match=True))
    call(env, lambda c: c.put_frame(env.ws, nid, text("two"), if_match=first.frame_id))
    with pytest.raises(errors.PreconditionFailed) as caught:
        call(env, lambda c: c.put_frame(env.ws, nid, text("three"), if_match=first.frame_id))
    assert caught.value.status_code == 412  # type: ignore[attr-defined]
    with pytest.raises(errors.PreconditionFailed):
        call(env, lambda c: c.put_frame(env.ws, nid, text("four"), if_none_match=True))


def test_batch_reads_and_writes(env: Env):
    ids = [env.node_id(p) for p in ("README.md", "src/app.py", "docs/guide.md")]
    puts = [PutFrameRequest(node_id=n, frame=text(f"about {n[:6]}")) for n in ids]
    written = call(env, lambda c: c.put_frames_batch(env.ws, puts))
    assert [r.node_id for r in written.results] == ids
    batch = call(env, lambda c: c.get_nodes_batch(env.ws, [*ids, "src/db/pool.py"]))
    assert list(batch.nodes) == [*ids, "src/db/pool.py"]
    assert [v.frame_count for v in batch.nodes.values()] == [1, 1, 1, 0]
    with pytest.raises(errors.NodeNotFound):
        call(env, lambda c: c.get_nodes_batch(env.ws, ["no/such/file"]))


def test_record_children_heads_and_proof(env: Env):
    src = env.node_id("src")
    record = call(env, lambda c: c.get_node_record(env.ws, src))
    assert record.kind == "dir"
    assert [name for name, _ in record.children or []] == ["app.py", "db"]
    first = call(env, lambda c: c.get_children(env.ws, src, limit=1))
    assert [e.name for e in first.entries] == ["app.py"]
    assert first.next_after == "app.py"
    rest = call(env, lambda c: c.get_children(env.ws, src, after=first.next_after))
    assert [(e.name, e.kind) for e in rest.entries] == [("db", "dir")]
    assert rest.next_after is None

    put = call(env, lambda c: c.put_frame(env.ws, src, text("the sources")))
    heads = call(env, lambda c: c.get_heads(env.ws, src))
    assert heads.heads == {"summary": put.frame_id}
    assert heads.current is True
    proof = call(env, lambda c: c.get_proof(env.ws, src, put.frame_id))
    membership = MembershipProof.from_dict(proof.model_dump(include={"frame_id", "steps"}))
    assert merkle_set.verify(membership, proof.root)
    assert proof.root == heads.frame_set_root


def test_synthesize_stale_regenerate_compose_roots(env: Env):
    for path in ("src/db/models.py", "src/db/pool.py"):
        call(env, lambda c, p=path: c.put_frame(env.ws, p, text(f"notes on {p}")))
    request = SynthesizeRequest(node="src/db", frame_type="summary", policy="concat")
    synthesis = call(env, lambda c: c.synthesize(env.ws, request))
    assert [f.path for f in synthesis.frames] == ["src/db"]
    assert call(env, lambda c: c.stale(env.ws, "src", recursive=True)).frames == []

    env.edit("src/db/pool.py", "# Pool\nPOOL = 1\n")
    report = call(env, lambda c: c.stale(env.ws, "", recursive=True))
    assert {f.path for f in report.frames} >= {"src/db"}
    dry = call(env, lambda c: c.regenerate(env.ws, RegenerateRequest(recursive=True, dry_run=True)))
    assert dry.dry_run is True
    composed = call(
        env,
        lambda c: c.compose(
            env.ws, ComposeRequest(node="src/db/models.py", sources=["node", "siblings"])
        ),
    )
    assert composed.candidates >= 1
    assert {f.source for f in composed.frames} <= {"node", "siblings"}
    roots = call(env, lambda c: c.roots(env.ws, limit=1))
    assert roots.current is not None
    assert roots.roots[0].seq == roots.current.seq
    assert roots.next_before is not None  # two scans: one more page


def test_health_and_errors_of_workspace_routes(env: Env):
    assert call(env, lambda c: c.health_live()).status == "ok"
    assert call(env, lambda c: c.health_ready()).checks["store"].ok is True
    with pytest.raises(errors.WorkspaceNotFound):
        call(env, lambda c: c.get_heads("0" * 64, env.node_id("src")))
    with pytest.raises(errors.InvalidId):
        call(env, lambda c: c.get_node(env.ws, "not-hex"))
    with pytest.raises(errors.FrameNotFound):
        call(env, lambda c: c.get_frame(env.ws, "f" * 64))


def test_remote_values_are_checked_against_their_ids(env: Env):
    from treeframe.client.convert import frame_context, record_of

    nid = env.node_id("src/app.py")
    call(env, lambda c: c.put_frame(env.ws, nid, text("honest")))
    view = call(env, lambda c: c.get_node(env.ws, nid))
    assert record_of(view.node_record).node_id == nid
    assert frame_context(view.frames[0]).content == b"honest"
    with pytest.raises(errors.IntegrityError, match="hashes to"):
        frame_context(view.frames[0].model_copy(update={"content": "forged"}))
    with pytest.raises(errors.IntegrityError, match="hashes to"):
        frame_context(view.frames[0].model_copy(update={"agent_id": "mallory"}))
    forged = view.node_record.model_copy(update={"path": "src/other.py"})
    with pytest.raises(errors.IntegrityError, match="hashes to"):
        record_of(forged)
