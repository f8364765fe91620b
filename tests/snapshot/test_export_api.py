"""``GET /v1/workspaces/{ws}/export`` through a real ``treeframe serve``: the CLI's bytes, streamed.

The server runs the real app with every caller holding every permission
(``tests.api.test_push_server:push_app``); who may export is the isolation
matrix's business (tests/api/test_isolation_matrix.py lists this route).
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Server, start_server, stop_server
from tests.api.test_push_server import APP
from tests.snapshot.workspaces import WS, engine, older_root, populate
from treeframe.engine.types import FrameInput
from treeframe.snapshot.export import export_snapshot, resolve_export
from treeframe.snapshot.verify import verify_archive
from treeframe.storage.registry import open_store
from treeframe.storage.urls import sqlite_url

BIG = 12 << 20
"""A frame content far larger than the route's queue (8 chunks of 256 KiB), so it streams."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("export-serve")
    store_path = tmp / "store.db"
    with open_store(sqlite_url(str(store_path)), create=True) as store:
        populate(store)
        api = engine(store, tmp)
        big = FrameInput(
            "big",
            b"".join(i.to_bytes(4, "big") for i in range(BIG // 4)),
            content_type="application/octet-stream",
        )
        api.put_frame("README.md", big, principal=api.agent_principal("writer"))
    running = start_server(tmp, store_path, app=APP)
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/v1/workspaces/{WS}", timeout=60) as client:
        yield client


def expected(server: Server, **options: object) -> bytes:
    out = io.BytesIO()
    with open_store(sqlite_url(str(server.store_path)), create=False) as store:
        export_snapshot(store, WS, out, **options)  # type: ignore[arg-type]
    return out.getvalue()


@pytest.mark.parametrize(
    ("compression", "media"),
    [("none", "application/x-tar"), ("zstd", "application/zstd"), ("gzip", "application/gzip")],
)
def test_the_route_streams_the_bytes_the_library_writes(
    server: Server, http: httpx.Client, compression: str, media: str
) -> None:
    params = {} if compression == "none" else {"compression": compression}
    with http.stream("GET", "/export", params=params) as response:
        assert response.status_code == 200, response.read()
        chunks = list(response.iter_raw())
        headers = response.headers
    body = b"".join(chunks)
    assert body == expected(server, compression=compression)
    assert headers["content-type"] == media
    assert "content-length" not in headers  # streamed, never buffered to learn its size
    assert headers["transfer-encoding"] == "chunked"
    with open_store(sqlite_url(str(server.store_path)), create=False) as store:
        root = store.current_root(WS)
    assert root is not None
    assert headers["x-treeframe-root"] == root.root
    assert headers["x-treeframe-node"] == root.root
    assert headers["content-disposition"].startswith('attachment; filename="snapshot-sample-')
    assert verify_archive(io.BytesIO(body)).ok


def test_a_subtree_of_an_older_root(server: Server, http: httpx.Client) -> None:
    with open_store(sqlite_url(str(server.store_path)), create=False) as store:
        older = older_root(store)
        _, _, _, node = resolve_export(store, WS, older, "src/db")
    response = http.get("/export", params={"root_hash": older, "path": "src/db"})
    assert response.status_code == 200, response.text
    assert response.content == expected(server, root=older, path="src/db")
    assert response.headers["x-treeframe-root"] == older
    assert response.headers["x-treeframe-node"] == node.node_id
    report = verify_archive(io.BytesIO(response.content))
    assert report.ok, report.problems
    assert report.manifest is not None
    assert report.manifest.path == "src/db"


def _error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code, response.text


def test_what_the_request_names_is_checked_before_the_first_byte(
    server: Server, http: httpx.Client
) -> None:
    with open_store(sqlite_url(str(server.store_path)), create=False) as store:
        readme = store.lookup_path(WS, "README.md")
    assert readme is not None
    _error(http.get("/export", params={"root_hash": "ab" * 32}), 404, "node_not_found")
    _error(http.get("/export", params={"root_hash": readme}), 404, "node_not_found")
    _error(http.get("/export", params={"root_hash": "xyz"}), 400, "invalid_id")
    _error(http.get("/export", params={"path": "src/nope"}), 404, "node_not_found")
    _error(http.get("/export", params={"path": "../etc"}), 400, "invalid_path")
    _error(http.get("/export", params={"compression": "xz"}), 422, "schema_validation_failed")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        _error(client.get(f"/v1/workspaces/{'cd' * 32}/export"), 404, "workspace_not_found")


def test_a_client_that_goes_away_mid_stream_breaks_nothing(
    server: Server, http: httpx.Client
) -> None:
    """A close mid-stream (the archive is larger than the queue) logs no error; the next is whole.

    That the abandoned worker thread stops is not visible from outside the
    server; this checks the disconnect path raises nothing and breaks nothing.
    """
    with http.stream("GET", "/export") as response:
        assert response.status_code == 200
        assert next(response.iter_raw())
    whole = http.get("/export")
    assert whole.status_code == 200
    assert whole.content == expected(server)
    assert len(whole.content) > BIG
    assert "Traceback" not in server.log()
