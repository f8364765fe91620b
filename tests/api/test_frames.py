"""Frame routes over real HTTP semantics (in process, real SQLite store): puts, CAS, reads, content."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.routes_env import AGENT, Env, make_env
from treeframe.api.routes.frames import CHUNK_BYTES
from treeframe.config.settings import Settings
from treeframe.hashing.ids import content_hash

ZERO = "0" * 64
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def frames_url(env: Env) -> str:
    return f"{env.base}/frames"


def heads(env: Env, path: str) -> dict[str, str]:
    return env.store.get_heads_many(env.ws, [env.node_id(path)]).get(env.node_id(path), {})


def test_put_is_201_when_new_and_200_when_stored(env: Env):
    first = env.put("src/app.py", "note", "hello", metadata={"k": "v"})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True
    assert body["node_id"] == env.node_id("src/app.py")
    stored = env.store.get_frame(env.ws, body["frame_id"])
    assert stored is not None
    assert stored.agent_id == AGENT
    assert body["created_at"] == stored.created_at
    assert body["frame"]["metadata"] == {"k": "v"}
    assert body["frame"]["basis"]["kind"] == "node"
    assert body["frame"]["basis"]["node_id"] == body["node_id"]
    assert first.headers["etag"] == f'"{body["frame_id"]}"'
    assert first.headers["location"] == f"{env.base}/frames/{body['frame_id']}"
    assert env.http.get(first.headers["location"]).json()["content"] == "hello"
    again = env.put("src/app.py", "note", "hello", metadata={"other": "ignored"})
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["frame_id"] == body["frame_id"]
    assert again.json()["frame"]["metadata"] == {"k": "v"}  # the stored record wins
    assert heads(env, "src/app.py") == {"note": body["frame_id"]}


def test_put_with_a_frame_basis_and_binary_content(env: Env):
    base_id = env.put("README.md", "note", "base").json()["frame_id"]
    data = b"\x00\xffbinary"
    response = env.http.post(
        frames_url(env),
        json={
            "node_id": "README.md",
            "frame": {
                "frame_type": "derived",
                "basis": {"kind": "frame", "frame_id": base_id},
                "content_b64": base64.b64encode(data).decode(),
                "content_type": "application/octet-stream",
            },
        },
    )
    assert response.status_code == 201, response.text
    frame = response.json()["frame"]
    assert frame["basis"]["kind"] == "frame"
    assert frame["basis"]["frame_id"] == base_id
    assert frame["content_hash"] == content_hash(data)
    assert frame["size"] == len(data)


@pytest.mark.parametrize(
    ("frame", "status", "code"),
    [
        ({"frame_type": "note"}, 422, "schema_validation_failed"),
        (
            {"frame_type": "note", "content": "a", "content_b64": "YQ=="},
            422,
            "schema_validation_failed",
        ),
        ({"frame_type": "note", "content": "a", "color": "red"}, 422, "schema_validation_failed"),
        ({"frame_type": "", "content": "a"}, 422, "schema_validation_failed"),
        ({"frame_type": "has space", "content": "a"}, 400, "invalid_frame"),
        ({"frame_type": "note", "content_b64": "not base64!"}, 400, "invalid_frame"),
        ({"frame_type": "note", "content_b64": "/w=="}, 400, "invalid_frame"),  # not UTF-8 text
        ({"frame_type": "note", "content": "a", "basis": {"kind": "node"}}, 400, "invalid_frame"),
        (
            {"frame_type": "note", "content": "a", "basis": {"kind": "frame", "frame_id": ZERO}},
            400,
            "invalid_frame",
        ),
        (
            {"frame_type": "note", "content": "a", "basis": {"kind": "weird"}},
            422,
            "schema_validation_failed",
        ),
        (
            {"frame_type": "note", "content": "a", "metadata": {"treeframe.incomplete": "x"}},
            400,
            "invalid_request",
        ),
    ],
    ids=[
        "no-content",
        "both-contents",
        "unknown-field",
        "empty-type",
        "bad-type-label",
        "bad-base64",
        "binary-as-text",
        "basis-missing-node",
        "basis-unknown-frame",
        "basis-unknown-kind",
        "reserved-metadata",
    ],
)
def test_bad_puts_are_refused_and_write_nothing(env: Env, frame, status, code):
    response = env.http.post(frames_url(env), json={"node_id": "README.md", "frame": frame})
    error(response, status, code)
    assert heads(env, "README.md") == {}


def test_put_on_a_missing_node_is_not_found(env: Env):
    error(env.put("nope.txt", "note", "x"), 404, "node_not_found")
    error(env.http.post(frames_url(env), json={"frame": {}}), 422, "schema_validation_failed")
    error(env.http.post(frames_url(env), content=b"{not json"), 422, "schema_validation_failed")


def test_put_content_over_the_frame_limit_is_invalid(tmp_path: Path):
    settings = Settings.model_validate({"limits": {"max_frame_bytes": 8}})
    for env in make_env(tmp_path, settings):
        error(env.put("README.md", "note", "x" * 9), 400, "invalid_frame")
        assert env.put("README.md", "note", "x" * 8).status_code == 201


def put_if(env: Env, text: str, **headers: str):
    body = {"node_id": "src/app.py", "frame": {"frame_type": "note", "content": text}}
    return env.http.post(frames_url(env), json=body, headers=headers)


def test_if_match_on_the_current_head_moves_it(env: Env):
    head = put_if(env, "v1").json()["frame_id"]
    moved = put_if(env, "v2", **{"If-Match": f'"{head}"'})
    assert moved.status_code == 201, moved.text
    assert heads(env, "src/app.py") == {"note": moved.json()["frame_id"]}


def test_if_match_on_a_stale_head_is_412_and_writes_nothing(env: Env):
    old = put_if(env, "v1").json()["frame_id"]
    current = put_if(env, "v2").json()["frame_id"]
    count = env.store.get_frame_set(env.ws, env.node_id("src/app.py")).count
    lost = put_if(env, "v3", **{"If-Match": f'"{old}"'})
    body = error(lost, 412, "precondition_failed")
    assert body["error_type"] == "PreconditionFailed"
    assert body["expected"] == old
    assert body["actual"] == current
    assert heads(env, "src/app.py") == {"note": current}
    assert env.store.get_frame_set(env.ws, env.node_id("src/app.py")).count == count


def test_if_none_match_star_puts_only_the_first_head(env: Env):
    first = put_if(env, "v1", **{"If-None-Match": "*"})
    assert first.status_code == 201
    body = error(put_if(env, "v2", **{"If-None-Match": "*"}), 412, "precondition_failed")
    assert body["expected"] == ""
    assert body["actual"] == first.json()["frame_id"]


def test_if_match_star_and_a_retried_put_are_unconditional(env: Env):
    old = put_if(env, "v1").json()["frame_id"]
    assert put_if(env, "v2", **{"If-Match": "*"}).status_code == 201
    current = put_if(env, "v3").json()["frame_id"]
    # Retrying the put that made the current head succeeds whatever it expected.
    retry = put_if(env, "v3", **{"If-Match": f'"{old}"'})
    assert retry.status_code == 200
    assert retry.json()["frame_id"] == current


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Match": "not-quoted"},
        {"If-Match": '"abc"'},
        {"If-Match": f'"{ZERO}", "{ZERO}"'},
        {"If-None-Match": f'"{ZERO}"'},
        {"If-Match": "*", "If-None-Match": "*"},
    ],
    ids=["unquoted", "not-an-id", "two-tags", "none-match-tag", "both"],
)
def test_unreadable_conditions_are_refused(env: Env, headers):
    response = put_if(env, "v1", **headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_id")
    assert heads(env, "src/app.py") == {}


def test_batch_puts_in_order_in_one_transaction(env: Env):
    items = [
        {"node_id": "README.md", "frame": {"frame_type": "note", "content": "a"}},
        {"node_id": "src/app.py", "frame": {"frame_type": "note", "content": "b"}},
        {"node_id": "README.md", "frame": {"frame_type": "note", "content": "a"}},
    ]
    response = env.http.post(f"{frames_url(env)}/batch", json={"frames": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["created"] for r in results] == [True, True, False]
    assert results[0]["frame_id"] == results[2]["frame_id"]
    assert heads(env, "src/app.py") == {"note": results[1]["frame_id"]}


def test_a_failing_batch_writes_nothing(env: Env):
    items = [
        {"node_id": "README.md", "frame": {"frame_type": "note", "content": "a"}},
        {"node_id": "missing.txt", "frame": {"frame_type": "note", "content": "b"}},
    ]
    error(env.http.post(f"{frames_url(env)}/batch", json={"frames": items}), 404, "node_not_found")
    assert heads(env, "README.md") == {}
    error(
        env.http.post(f"{frames_url(env)}/batch", json={"frames": []}),
        422,
        "schema_validation_failed",
    )


def test_batch_size_is_capped(tmp_path: Path):
    settings = Settings.model_validate({"limits": {"max_batch": 1}})
    for env in make_env(tmp_path, settings):
        item = {"node_id": "README.md", "frame": {"frame_type": "note", "content": "a"}}
        url = f"{frames_url(env)}/batch"
        error(env.http.post(url, json={"frames": [item, item]}), 400, "invalid_request")
        assert heads(env, "README.md") == {}


def test_get_frame_is_immutable_with_etag_and_304(env: Env):
    fid = env.put("src/app.py", "note", "hello").json()["frame_id"]
    url = f"{frames_url(env)}/{fid}"
    response = env.http.get(url)
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{fid}"'
    assert response.headers["cache-control"] == IMMUTABLE
    body = response.json()
    assert body["api_version"] == "1"
    assert body["schema"] == "frame/1"
    assert body["content"] == "hello"
    assert body["path"] == "src/app.py"
    assert body["stale"] is None  # freshness is not part of the immutable answer
    cached = env.http.get(url, headers={"If-None-Match": f'"{fid}"'})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["cache-control"] == IMMUTABLE
    assert env.http.get(url, headers={"If-None-Match": f'"{ZERO}"'}).status_code == 200


def test_get_frame_fresh_carries_stale_and_is_not_cached(env: Env):
    fid = env.put("src/app.py", "note", "hello").json()["frame_id"]
    url = f"{frames_url(env)}/{fid}"
    fresh = env.http.get(url, params={"fresh": True})
    assert fresh.json()["stale"] is False
    assert fresh.headers["cache-control"] == "no-cache"
    assert "etag" not in fresh.headers
    env.edit("src/app.py", "# changed\n")
    # If-None-Match is ignored: the answer depends on the current state.
    again = env.http.get(url, params={"fresh": True}, headers={"If-None-Match": f'"{fid}"'})
    assert again.status_code == 200
    assert again.json()["stale"] is True


def test_get_unknown_or_malformed_frames(env: Env):
    error(env.http.get(f"{frames_url(env)}/{ZERO}"), 404, "frame_not_found")
    error(env.http.get(f"{frames_url(env)}/{ZERO}/content"), 404, "frame_not_found")
    error(env.http.get(f"{frames_url(env)}/zz"), 400, "invalid_id")


def test_content_is_the_raw_bytes_with_its_type_and_etag(env: Env):
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    response = env.http.post(
        frames_url(env),
        json={
            "node_id": "README.md",
            "frame": {
                "frame_type": "image",
                "content_b64": base64.b64encode(data).decode(),
                "content_type": "image/png",
            },
        },
    )
    fid = response.json()["frame_id"]
    url = f"{frames_url(env)}/{fid}/content"
    got = env.http.get(url)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "image/png"
    assert got.headers["etag"] == f'"{content_hash(data)}"'
    assert got.headers["cache-control"] == IMMUTABLE
    # Untrusted bytes: never sniffed, never run in the server's origin.
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"].startswith("sandbox")
    assert (
        env.http.get(url, headers={"If-None-Match": f'"{content_hash(data)}"'}).status_code == 304
    )


def asgi_get(env: Env, path: str) -> tuple[int, dict[str, str], list[bytes]]:
    """One GET straight through the ASGI app, keeping every body message as sent."""
    messages: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects; cancelled once answered
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"api")],
        "client": ("127.0.0.1", 1),
        "server": ("api", 80),
        "root_path": "",
    }
    asyncio.run(env.app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body" and m.get("body")]
    return start["status"], headers, bodies


def test_large_content_is_verified_and_streamed_in_chunks(env: Env):
    data = hashlib.shake_256(b"seed").digest(5 * 1024 * 1024)
    response = env.http.post(
        frames_url(env),
        json={
            "node_id": "README.md",
            "frame": {
                "frame_type": "big",
                "content_b64": base64.b64encode(data).decode(),
                "content_type": "application/octet-stream",
            },
        },
    )
    assert response.status_code == 201, response.text[:300]
    fid = response.json()["frame_id"]
    status, headers, chunks = asgi_get(env, f"{frames_url(env)}/{fid}/content")
    assert status == 200
    assert headers["content-length"] == str(len(data))
    assert len(chunks) == len(data) // CHUNK_BYTES
    assert max(len(c) for c in chunks) == CHUNK_BYTES
    assert b"".join(chunks) == data


def test_damaged_content_is_refused_not_served(env: Env):
    fid = env.put("README.md", "note", "precious").json()["frame_id"]
    digest = content_hash(b"precious")
    with sqlite3.connect(env.root.parent / "store.db") as conn:
        changed = conn.execute(
            "UPDATE contents SET data = ? WHERE hash = ?", (b"tampered", bytes.fromhex(digest))
        ).rowcount
    assert changed == 1
    error(env.http.get(f"{frames_url(env)}/{fid}/content"), 500, "integrity_error")
    error(env.http.get(f"{frames_url(env)}/{fid}"), 500, "integrity_error")


def test_permissions_come_from_the_callers_principal(env: Env):
    from treeframe.api.deps import Identity, authenticate
    from treeframe.engine.principal import Permission

    env.app.dependency_overrides[authenticate] = lambda: Identity(
        agent_id=AGENT, token_id="t", scope=None, permissions=frozenset({Permission.READ})
    )
    error(env.put("README.md", "note", "x"), 403, "access_denied")
    url = f"{env.base}/synthesize"
    error(env.http.post(url, json={"node": "", "frame_type": "note"}), 403, "access_denied")
    assert heads(env, "README.md") == {}
    assert env.http.get(f"{env.base}/nodes/by-path", params={"path": ""}).status_code == 200
    # A token allowing nothing here learns nothing: the workspace is out of its reach.
    env.app.dependency_overrides[authenticate] = lambda: Identity(
        agent_id=AGENT, token_id="t", scope=None, permissions=frozenset()
    )
    error(env.http.get(f"{env.base}/nodes/{env.node_id('')}/record"), 404, "workspace_not_found")
    error(env.http.get(f"{env.base}/roots"), 404, "workspace_not_found")
    del env.app.dependency_overrides[authenticate]
    error(env.http.get(f"{env.base}/roots"), 401, "unauthorized")


def test_batch_items_carry_their_own_conditions_and_one_lost_race_writes_nothing(env: Env):
    old = env.put("README.md", "note", "v1").json()["frame_id"]
    current = env.put("README.md", "note", "v2").json()["frame_id"]
    url = f"{frames_url(env)}/batch"

    def item(path: str, text: str, **condition: str) -> dict:
        return {"node_id": path, "frame": {"frame_type": "note", "content": text}, **condition}

    lost = env.http.post(
        url,
        json={
            "frames": [
                item("src/app.py", "fresh", if_none_match="*"),
                item("README.md", "v3", if_match=f'"{old}"'),
            ]
        },
    )
    body = error(lost, 412, "precondition_failed")
    assert body["actual"] == current
    assert heads(env, "src/app.py") == {}  # the first item was rolled back too
    won = env.http.post(
        url,
        json={
            "frames": [
                item("src/app.py", "fresh", if_none_match="*"),
                item("README.md", "v3", if_match=f'"{current}"'),
            ]
        },
    )
    assert won.status_code == 200, won.text
    assert heads(env, "README.md") == {"note": won.json()["results"][1]["frame_id"]}


def test_a_single_put_takes_its_condition_from_the_body_or_headers_not_both(env: Env):
    head = put_if(env, "v1").json()["frame_id"]
    body = {
        "node_id": "src/app.py",
        "frame": {"frame_type": "note", "content": "v2"},
        "if_match": f'"{ZERO}"',
    }
    error(env.http.post(frames_url(env), json=body), 412, "precondition_failed")
    both = env.http.post(frames_url(env), json=body, headers={"If-Match": f'"{head}"'})
    error(both, 400, "invalid_request")
    body["if_match"] = f'"{head}"'
    assert env.http.post(frames_url(env), json=body).status_code == 201
