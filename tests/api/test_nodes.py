"""Node routes over real HTTP semantics (in process, real SQLite store): views, records, paging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.routes_env import AGENT, Env, make_env
from treeframe.config.settings import Settings
from treeframe.frames import merkle_set

ZERO = "0" * 64


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def test_get_node_serves_record_frames_with_stale_and_count(env: Env):
    assert env.put("src/app.py", "note", "first").status_code == 201
    assert env.put("src/app.py", "summary", "second").status_code == 201
    nid = env.node_id("src/app.py")
    response = env.http.get(f"{env.base}/nodes/{nid}")
    assert response.status_code == 200
    body = response.json()
    assert body["api_version"] == "1"
    assert body["node_id"] == nid
    assert body["path"] == "src/app.py"
    record = env.store.get_node(env.ws, nid)
    assert record is not None
    shown = {k: v for k, v in body["node_record"].items() if v is not None}
    assert shown == record.to_dict()
    assert body["frame_count"] == 2
    assert body["truncated"] is False
    assert [f["content"] for f in body["frames"]] == ["second", "first"]  # newest first
    assert all(f["stale"] is False and f["agent_id"] == AGENT for f in body["frames"])
    # A view of the current state must never claim to be immutable.
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" not in response.headers


def test_view_options_bound_filter_and_rank(env: Env):
    for frame_type, text in [("note", "n1"), ("summary", "s1"), ("note", "n2")]:
        env.put("README.md", frame_type, text)
    base = f"{env.base}/nodes/{env.node_id('README.md')}"
    one = env.http.get(base, params={"max_frames": 1}).json()
    assert [f["content"] for f in one["frames"]] == ["n2"]
    assert one["truncated"] is True
    assert one["frame_count"] == 3
    typed = env.http.get(base, params={"type": "summary"}).json()
    assert [f["content"] for f in typed["frames"]] == ["s1"]
    ranked = env.http.get(base, params={"ordering": "type", "priority": "summary"}).json()
    assert [f["content"] for f in ranked["frames"]] == ["s1", "n2", "n1"]
    assert ranked["policy"]["type_priority"] == ["summary"]
    by_agent = env.http.get(base, params={"agent": "nobody"}).json()
    assert by_agent["frames"] == []
    budget = env.http.get(base, params={"max_bytes": 2}).json()
    assert [f["content"] for f in budget["frames"]] == ["n2"]


def test_view_defaults_come_from_the_server_settings(tmp_path: Path):
    settings = Settings.model_validate({"view": {"default_max_frames": 1}})
    for env in make_env(tmp_path, settings):
        env.put("README.md", "note", "a")
        env.put("README.md", "note", "b")
        body = env.http.get(f"{env.base}/nodes/{env.node_id('README.md')}").json()
        assert body["policy"]["max_frames"] == 1
        assert len(body["frames"]) == 1


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"ordering": "alphabetical"}, 422, "schema_validation_failed"),
        ({"max_frames": 0}, 422, "schema_validation_failed"),
        ({"max_frames": "many"}, 422, "schema_validation_failed"),
        ({"max_bytes": -1}, 422, "schema_validation_failed"),
        ({"max_frames": 100_000}, 400, "invalid_view_policy"),
    ],
    ids=["ordering", "zero-frames", "not-a-number", "negative-bytes", "over-hard-max"],
)
def test_bad_view_options_are_refused(env: Env, params, status, code):
    response = env.http.get(f"{env.base}/nodes/{env.node_id('README.md')}", params=params)
    error(response, status, code)


def test_unknown_and_malformed_nodes_and_workspaces(env: Env):
    error(env.http.get(f"{env.base}/nodes/{ZERO}"), 404, "node_not_found")
    error(env.http.get(f"{env.base}/nodes/not-an-id"), 400, "invalid_id")
    error(env.http.get(f"/v1/workspaces/{ZERO}/nodes/{ZERO}"), 404, "workspace_not_found")
    error(env.http.get("/v1/workspaces/nope/nodes/x"), 400, "invalid_id")


def test_by_path_serves_the_same_shape_and_resolves_the_root(env: Env):
    env.put("src", "note", "a directory note")
    body = env.http.get(f"{env.base}/nodes/by-path", params={"path": "src"}).json()
    assert body["node_id"] == env.node_id("src")
    assert body["node_record"]["kind"] == "dir"
    assert [f["content"] for f in body["frames"]] == ["a directory note"]
    root = env.http.get(f"{env.base}/nodes/by-path", params={"path": ""}).json()
    assert root["node_id"] == env.node_id("")
    dot = env.http.get(f"{env.base}/nodes/by-path", params={"path": "."}).json()
    assert dot["node_id"] == root["node_id"]


def test_by_path_refuses_missing_and_escaping_paths(env: Env):
    url = f"{env.base}/nodes/by-path"
    error(env.http.get(url, params={"path": "src/nope.py"}), 404, "node_not_found")
    error(env.http.get(url, params={"path": "../etc"}), 400, "invalid_path")
    error(env.http.get(url), 422, "schema_validation_failed")


def test_a_stale_frame_is_flagged_and_previous_heads_come_on_request(env: Env):
    env.put("src/app.py", "note", "about v1")
    old = env.node_id("src/app.py")
    env.edit("src/app.py", "# changed\n")
    new = env.node_id("src/app.py")
    assert new != old
    old_view = env.http.get(f"{env.base}/nodes/{old}").json()
    assert [f["stale"] for f in old_view["frames"]] == [True]
    url = f"{env.base}/nodes/by-path"
    plain = env.http.get(url, params={"path": "src/app.py"}).json()
    assert plain["frames"] == []
    with_previous = env.http.get(
        url, params={"path": "src/app.py", "include_previous": True}
    ).json()
    (frame,) = with_previous["frames"]
    assert frame["previous"] is True
    assert frame["stale"] is True
    assert frame["content"] == "about v1"


def test_binary_content_is_served_exactly_in_base64(env: Env):
    data = bytes(range(256))
    import base64

    response = env.http.post(
        f"{env.base}/frames",
        json={
            "node_id": "README.md",
            "frame": {
                "frame_type": "blob",
                "content_b64": base64.b64encode(data).decode(),
                "content_type": "application/octet-stream",
            },
        },
    )
    assert response.status_code == 201, response.text
    (frame,) = env.http.get(f"{env.base}/nodes/{env.node_id('README.md')}").json()["frames"]
    assert base64.b64decode(frame["content_b64"]) == data
    text = env.put("README.md", "note", "plain")
    assert text.status_code == 201
    frames = env.http.get(f"{env.base}/nodes/{env.node_id('README.md')}").json()["frames"]
    assert frames[0]["content"] == "plain"
    assert frames[0]["content_b64"] is None


def test_children_are_keyset_paged_in_name_order(env: Env):
    root = env.node_id("")
    url = f"{env.base}/nodes/{root}/children"
    env.put("src", "note", "x")
    seen, after = [], None
    pages = 0
    while True:
        params = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = env.http.get(url, params=params).json()
        pages += 1
        seen += page["entries"]
        after = page["next_after"]
        if after is None:
            break
    assert pages == 2
    assert [e["name"] for e in seen] == ["README.md", "docs", "src"]
    src = next(e for e in seen if e["name"] == "src")
    assert src == {
        "name": "src",
        "path": "src",
        "kind": "dir",
        "node_id": env.node_id("src"),
        "frame_count": 1,
    }
    assert env.http.get(url, params={"after": "src"}).json()["entries"] == []


def test_children_of_a_file_and_bad_limits(env: Env):
    body = env.http.get(f"{env.base}/nodes/{env.node_id('README.md')}/children").json()
    assert body["kind"] == "file"
    assert body["entries"] == []
    assert body["next_after"] is None
    url = f"{env.base}/nodes/{env.node_id('')}/children"
    error(env.http.get(url, params={"limit": 0}), 422, "schema_validation_failed")
    error(env.http.get(url, params={"limit": 5000}), 422, "schema_validation_failed")
    error(env.http.get(f"{env.base}/nodes/{ZERO}/children"), 404, "node_not_found")


def test_batch_serves_each_reference_keyed_as_sent(env: Env):
    env.put("src/app.py", "note", "app")
    nid = env.node_id("README.md")
    response = env.http.post(
        f"{env.base}/nodes/batch",
        json={"node_ids": ["src/app.py", nid], "view": {"max_frames": 5}},
    )
    assert response.status_code == 200, response.text
    nodes = response.json()["nodes"]
    assert list(nodes) == ["src/app.py", nid]
    assert [f["content"] for f in nodes["src/app.py"]["frames"]] == ["app"]
    assert nodes["src/app.py"]["policy"]["max_frames"] == 5
    assert nodes[nid]["frames"] == []
    assert nodes[nid]["path"] == "README.md"


def test_batch_refuses_bad_requests(env: Env):
    url = f"{env.base}/nodes/batch"
    error(env.http.post(url, json={"node_ids": []}), 422, "schema_validation_failed")
    error(env.http.post(url, json={"node_ids": ["x"], "bogus": 1}), 422, "schema_validation_failed")
    error(env.http.post(url, json={"node_ids": [ZERO]}), 404, "node_not_found")
    error(
        env.http.post(url, json={"node_ids": ["src"], "view": {"include_previous": True}}),
        400,
        "invalid_request",
    )


def test_batch_size_is_capped_by_the_engine_limit(tmp_path: Path):
    settings = Settings.model_validate({"limits": {"max_batch": 2}})
    for env in make_env(tmp_path, settings):
        url = f"{env.base}/nodes/batch"
        ok = env.http.post(url, json={"node_ids": ["src", "docs"]})
        assert ok.status_code == 200
        error(
            env.http.post(url, json={"node_ids": ["src", "docs", "README.md"]}),
            400,
            "invalid_request",
        )


def test_heads_name_the_current_frame_of_each_type(env: Env):
    first = env.put("src/app.py", "note", "one").json()["frame_id"]
    second = env.put("src/app.py", "note", "two").json()["frame_id"]
    summary = env.put("src/app.py", "summary", "s").json()["frame_id"]
    nid = env.node_id("src/app.py")
    response = env.http.get(f"{env.base}/nodes/{nid}/heads")
    body = response.json()
    assert body["heads"] == {"note": second, "summary": summary}
    assert first not in body["heads"].values()
    assert body["frame_count"] == 3
    assert body["current"] is True
    state = env.store.get_frame_set(env.ws, nid)
    assert state is not None
    assert body["frame_set_root"] == state.root
    assert response.headers["cache-control"] == "no-cache"
    env.edit("src/app.py", "# new\n")
    assert env.http.get(f"{env.base}/nodes/{nid}/heads").json()["current"] is False
    empty = env.http.get(f"{env.base}/nodes/{env.node_id('docs')}/heads").json()
    assert empty["heads"] == {}
    assert empty["frame_set_root"] is None


def test_proof_verifies_against_the_stored_root(env: Env):
    ids = [env.put("src/app.py", "note", f"n{i}").json()["frame_id"] for i in range(5)]
    nid = env.node_id("src/app.py")
    body = env.http.get(f"{env.base}/nodes/{nid}/proof/{ids[2]}").json()
    assert body["valid"] is True
    assert body["frame_id"] == ids[2]
    proof = merkle_set.MembershipProof.from_dict(body)
    assert merkle_set.verify(proof, body["root"])
    assert body["root"] == merkle_set.root_of(ids)
    assert len(body["steps"]) == 3
    tampered = dict(body, frame_id=ids[3])
    assert not merkle_set.verify(merkle_set.MembershipProof.from_dict(tampered), body["root"])


def test_proof_of_a_frame_outside_the_set_is_not_found(env: Env):
    other = env.put("README.md", "note", "elsewhere").json()["frame_id"]
    nid = env.node_id("src/app.py")
    error(env.http.get(f"{env.base}/nodes/{nid}/proof/{other}"), 404, "frame_not_found")
    error(env.http.get(f"{env.base}/nodes/{nid}/proof/xyz"), 400, "invalid_id")


def test_node_record_is_immutable_with_a_strong_etag_and_304(env: Env):
    nid = env.node_id("src")
    url = f"{env.base}/nodes/{nid}/record"
    response = env.http.get(url)
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{nid}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    body = response.json()
    assert body["api_version"] == "1"
    assert body["schema"] == "node/1"
    assert body["children"] == [list(c) for c in env.store.get_node(env.ws, nid).children]
    for tag in (f'"{nid}"', f'W/"{nid}"', f'"{ZERO}", "{nid}"', "*"):
        cached = env.http.get(url, headers={"If-None-Match": tag})
        assert cached.status_code == 304, tag
        assert cached.content == b""
        assert cached.headers["etag"] == f'"{nid}"'
    assert env.http.get(url, headers={"If-None-Match": f'"{ZERO}"'}).status_code == 200
    error(env.http.get(f"{env.base}/nodes/{ZERO}/record"), 404, "node_not_found")
    error(env.http.get(f"{env.base}/nodes/src/record"), 400, "invalid_id")
