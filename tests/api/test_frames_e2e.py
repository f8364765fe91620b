"""The node and frame routes through a real ``treeframe serve`` subprocess over loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Server, start_server, stop_server
from tests.api.routes_env import AGENT, SAMPLE, write_tree
from treeframe.engine.workspaces import WorkspaceService
from treeframe.storage.registry import open_store, sqlite_url
from treeframe.tree.scan import scan_tree

APP = "tests.api.routes_app:routes_app"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    tmp = tmp_path_factory.mktemp("routes-e2e")
    root = tmp / "tree"
    root.mkdir()
    write_tree(root, SAMPLE)
    store_path = tmp / "store.db"
    with open_store(sqlite_url(store_path), create=True) as store:
        info, _ = WorkspaceService(store).create("e2e", owner=AGENT)
        scan_tree(root, store, info.workspace_id, workers=1)
    server = start_server(tmp, store_path, app=APP)
    try:
        yield server, info.workspace_id
    finally:
        stop_server(server)


@pytest.fixture
def http(served: tuple[Server, str]) -> Iterator[httpx.Client]:
    server, ws = served
    with httpx.Client(base_url=f"{server.url}/v1/workspaces/{ws}", timeout=30) as client:
        yield client


def put(http: httpx.Client, text: str, **headers: str) -> httpx.Response:
    body = {"node_id": "src/app.py", "frame": {"frame_type": "note", "content": text}}
    return http.post("/frames", json=body, headers=headers)


def test_put_view_and_conditional_put_over_a_real_server(http: httpx.Client):
    first = put(http, "over the wire")
    assert first.status_code == 201, first.text
    fid = first.json()["frame_id"]
    assert put(http, "over the wire").status_code == 200
    view = http.get("/nodes/by-path", params={"path": "src/app.py"}).json()
    assert view["frames"][0]["frame_id"] == fid
    assert view["frames"][0]["stale"] is False
    moved = put(http, "second", **{"If-Match": f'"{fid}"'})
    assert moved.status_code == 201
    lost = put(http, "third", **{"If-Match": f'"{fid}"'})
    assert lost.status_code == 412
    assert lost.json()["error"]["actual"] == moved.json()["frame_id"]
    assert lost.headers["x-request-id"] == lost.json()["error"]["request_id"]
    heads = http.get(f"/nodes/{view['node_id']}/heads").json()["heads"]
    assert heads == {"note": moved.json()["frame_id"]}


def test_frame_304_and_large_content_streamed_over_a_real_server(http: httpx.Client):
    data = hashlib.shake_256(b"e2e").digest(5 * 1024 * 1024)
    response = http.post(
        "/frames",
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
    cached = http.get(f"/frames/{fid}", headers={"If-None-Match": f'"{fid}"'})
    assert cached.status_code == 304
    digest = hashlib.sha256()
    size = chunks = 0
    with http.stream("GET", f"/frames/{fid}/content") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"] == "application/octet-stream"
        assert stream.headers["content-length"] == str(len(data))
        for chunk in stream.iter_raw():
            digest.update(chunk)
            size += len(chunk)
            chunks += 1
    assert size == len(data)
    assert digest.digest() == hashlib.sha256(data).digest()
    assert chunks > 1


def test_serve_stores_large_contents_in_the_configured_blob_store(
    tmp_path_factory: pytest.TempPathFactory,
):
    """TREEFRAME_BLOBS / _COMPRESSION / _BLOB_INLINE_MAX reach the server's store."""
    tmp = tmp_path_factory.mktemp("serve-blobs")
    root = tmp / "tree"
    root.mkdir()
    write_tree(root, SAMPLE)
    store_path = tmp / "store.db"
    with open_store(sqlite_url(store_path), create=True) as store:
        info, _ = WorkspaceService(store).create("e2e", owner=AGENT)
        scan_tree(root, store, info.workspace_id, workers=1)
    blobs = tmp / "blobs"
    env = {
        "TREEFRAME_BLOBS": f"file://{blobs}",
        "TREEFRAME_COMPRESSION": "zstd",
        "TREEFRAME_BLOB_INLINE_MAX": "4096",
    }
    server = start_server(tmp, store_path, app=APP, env=env)
    try:
        base = f"{server.url}/v1/workspaces/{info.workspace_id}"
        with httpx.Client(base_url=base, timeout=30) as client:
            small, large = put(client, "inline note"), put(client, "large " * 5000)
            assert small.status_code == large.status_code == 201, large.text
            fid = large.json()["frame_id"]
            got = client.get(f"/frames/{fid}/content")
            assert got.content == b"large " * 5000
    finally:
        stop_server(server)
    objects = [p for p in blobs.rglob("*") if p.is_file()]
    assert len(objects) == 1
    assert objects[0].read_bytes().startswith(b"TFBLOB\x01\x04zstd")
