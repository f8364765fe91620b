"""Operation routes (synthesize, regenerate, stale, compose, roots) over real HTTP semantics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.routes_env import AGENT, Env, make_env
from treeframe.config.settings import Settings

ZERO = "0" * 64


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    # alice is a configured synthesis agent, so regeneration may rebuild her frames.
    settings = Settings.model_validate({"agents": {AGENT: {"role": "synthesis"}}})
    yield from make_env(tmp_path, settings)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def notes(env: Env) -> None:
    for path in ("src/app.py", "src/db/models.py", "src/db/pool.py"):
        assert env.put(path, "note", f"about {path}").status_code == 201


def test_synthesize_writes_frames_bottom_up_with_paths(env: Env):
    notes(env)
    response = env.http.post(
        f"{env.base}/synthesize", json={"node": "src", "frame_type": "note", "recursive": True}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [f["path"] for f in body["frames"]] == ["src/db", "src"]  # post-order
    assert all(f["agent_id"] == AGENT for f in body["frames"])
    assert body["frames"][1]["basis"]["kind"] == "synthesis"
    assert body["frames"][1]["basis"]["policy_id"] == "concat"  # the server's default policy
    assert body["skipped"] == []
    assert body["without_inputs"] == []
    heads = env.store.get_heads_many(env.ws, [env.node_id("src")])[env.node_id("src")]
    assert heads["note"] == body["frames"][1]["frame_id"]


def test_synthesize_refusals(env: Env):
    url = f"{env.base}/synthesize"
    error(
        env.http.post(url, json={"node": "src", "frame_type": "nothing"}), 422, "synthesis_failed"
    )
    env.put("src/app.py", "note", "only one child has a note")
    failed = env.http.post(url, json={"node": "src", "frame_type": "note", "missing": "fail"})
    error(failed, 422, "synthesis_failed")
    error(
        env.http.post(url, json={"node": "src", "frame_type": "note", "policy": "nope"}),
        400,
        "invalid_policy",
    )
    error(env.http.post(url, json={"node": "src"}), 422, "schema_validation_failed")
    error(
        env.http.post(url, json={"node": "src", "frame_type": "note", "missing": "maybe"}),
        422,
        "schema_validation_failed",
    )
    error(env.http.post(url, json={"node": "gone", "frame_type": "note"}), 404, "node_not_found")


def test_stale_reports_frames_whose_basis_moved(env: Env):
    fid = env.put("src/app.py", "note", "about v1").json()["frame_id"]
    url = f"{env.base}/stale"
    assert env.http.get(url, params={"node": "src", "recursive": True}).json()["frames"] == []
    env.edit("src/app.py", "# changed\n")
    shallow = env.http.get(url, params={"node": "src"}).json()
    assert shallow["node_id"] == env.node_id("src")
    response = env.http.get(url, params={"node": "src", "recursive": True})
    assert response.headers["cache-control"] == "no-cache"
    (frame,) = response.json()["frames"]
    assert frame["frame_id"] == fid
    assert frame["path"] == "src/app.py"
    assert frame["agent_id"] == AGENT
    assert frame["recomputable"] is False
    error(env.http.get(url, params={"node": ZERO}), 404, "node_not_found")
    error(env.http.get(url, params={"recursive": "perhaps"}), 422, "schema_validation_failed")


def test_regenerate_rebuilds_a_stale_synthesis_and_dry_run_writes_nothing(env: Env):
    notes(env)
    synth = env.http.post(
        f"{env.base}/synthesize", json={"node": "src", "frame_type": "note", "recursive": True}
    ).json()
    env.put("src/db/models.py", "note", "a newer note")  # moves a child head: src/db is stale
    url = f"{env.base}/regenerate"
    dry = env.http.post(url, json={"node": "src", "recursive": True, "dry_run": True}).json()
    assert dry["dry_run"] is True
    assert dry["regenerated_count"] == 2
    src = env.node_id("src")
    before = env.store.get_heads_many(env.ws, [src])[src]["note"]
    assert before == synth["frames"][1]["frame_id"]
    done = env.http.post(url, json={"node": "src", "recursive": True})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["regenerated_count"] == 2
    assert body["stale_unrecomputable"] == []
    after = env.store.get_heads_many(env.ws, [src])[src]["note"]
    assert after != before
    assert after in body["frame_ids"]
    error(env.http.post(url, json={"node": "src", "extra": 1}), 422, "schema_validation_failed")


def test_compose_gathers_node_and_parent_frames(env: Env):
    env.put("src/app.py", "note", "the app")
    env.put("src", "note", "the source tree")
    env.put("README.md", "note", "readme")
    response = env.http.post(
        f"{env.base}/compose",
        json={"node": "src/app.py", "sources": ["node", "parent"], "related": ["README.md"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["node_id"] == env.node_id("src/app.py")
    by_source = {f["source"]: f["content"] for f in body["frames"]}
    assert by_source == {"node": "the app", "parent": "the source tree", "related": "readme"}
    assert body["policy"]["sources"] == ["node", "parent", "related"]
    assert body["candidates"] == 3
    assert all(f["stale"] is False for f in body["frames"])
    limited = env.http.post(
        f"{env.base}/compose",
        json={"node": "src/app.py", "sources": ["node", "parent"], "max_frames": 1},
    ).json()
    assert len(limited["frames"]) == 1


def test_compose_refusals(env: Env):
    url = f"{env.base}/compose"
    error(
        env.http.post(url, json={"node": "src", "sources": ["cousins"]}),
        422,
        "schema_validation_failed",
    )
    error(env.http.post(url, json={"node": "src", "sources": []}), 400, "invalid_policy")
    error(
        env.http.post(url, json={"node": "src", "max_frames": 0}), 422, "schema_validation_failed"
    )
    error(
        env.http.post(url, json={"node": "src", "ordering": "random"}),
        422,
        "schema_validation_failed",
    )
    error(env.http.post(url, json={"node": "nope"}), 404, "node_not_found")


def test_roots_page_the_history_newest_first(env: Env):
    env.edit("README.md", "one\n")
    env.edit("README.md", "two\n")
    url = f"{env.base}/roots"
    everything = env.http.get(url).json()
    seqs = [r["seq"] for r in everything["roots"]]
    assert len(seqs) == 3
    assert seqs == sorted(seqs, reverse=True)
    assert everything["current"] == everything["roots"][0]
    assert everything["current"]["root"] == env.node_id("")
    assert everything["next_before"] is None
    seen, before = [], None
    while True:
        params = {"limit": 1} if before is None else {"limit": 1, "before": before}
        page = env.http.get(url, params=params).json()
        seen += page["roots"]
        before = page["next_before"]
        if before is None:
            break
    assert seen == everything["roots"]
    error(env.http.get(url, params={"limit": 0}), 422, "schema_validation_failed")
    error(env.http.get(url, params={"before": -1}), 422, "schema_validation_failed")
