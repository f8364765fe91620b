"""In process: the factory, the edge middleware at the ASGI level, readiness failures, the contract."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.probe import probe_app
from treeframe.api import create_app, openapi_document
from treeframe.api.errors import envelope
from treeframe.api.readiness import MAX_PENDING_PROBES
from treeframe.api.versioning import check_version, deprecated
from treeframe.config.settings import Settings
from treeframe.errors import (
    BackendUnavailable,
    ConcurrentUpdate,
    StorageError,
    StoreCorrupt,
    VersionNotSupported,
)
from treeframe.hashing.ids import workspace_id
from treeframe.storage.memory import MemoryStore
from treeframe.storage.registry import open_store, sqlite_url

REPO = Path(__file__).resolve().parents[2]


def settings(**server: Any) -> Settings:
    return Settings.model_validate({"server": server})


class AppClient:
    """A synchronous client over ``httpx.ASGITransport`` (Starlette's TestClient warns on httpx).

    Used as a context manager it also runs the app's lifespan, as a server does.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
                return await http.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            async with self.app.router.lifespan_context(self.app):
                pass

        asyncio.run(shutdown())


@pytest.fixture
def client() -> AppClient:
    return AppClient(probe_app(settings(max_body_bytes=1024), MemoryStore("memory://")))


class FailingStore(MemoryStore):
    """A store whose round trip fails the way a broken backend does."""

    def __init__(self, error: Exception) -> None:
        super().__init__("memory://")
        self.error = error

    def get_workspace(self, ws: Any) -> Any:
        raise self.error


class HangingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__("memory://")
        self.release = threading.Event()
        self.calls = 0

    def get_workspace(self, ws: Any) -> Any:
        self.calls += 1
        self.release.wait(10)
        return None


def test_committed_openapi_matches_the_app():
    committed = json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert openapi_document() == committed, (
        "regenerate: treeframe serve --print-openapi > docs/openapi.json"
    )


def test_every_documented_json_response_carries_the_versions():
    document = openapi_document()
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if "application/json" not in response.get("content", {}):
                    continue  # a 304 has no body, a frame's content is its own bytes
                ref = response["content"]["application/json"]["schema"]["$ref"]
                required = schemas[ref.rsplit("/", 1)[1]]["properties"]
                assert {"api_version", "schema_version"} <= set(required), (path, status)
    assert all(path.startswith("/v1/") for path in document["paths"])


def test_apps_share_no_state():
    first, second = MemoryStore("memory://"), MemoryStore("memory://")
    a = create_app(settings(max_body_bytes=10), first)
    b = create_app(settings(max_body_bytes=99), second)
    # Metrics and the record cache are on by default: the app serves the store through
    # the cache, in front of the timing wrapper.
    assert a.state.store.inner.inner is first
    assert b.state.store.inner.inner is second
    assert a.state.metrics is not b.state.metrics
    assert a.state.settings.server.max_body_bytes == 10
    with AppClient(a) as http:
        assert http.post("/v1/health/live", content=b"x" * 50).status_code == 413
    with AppClient(b) as http:
        assert http.post("/v1/health/live", content=b"x" * 50).status_code == 405


def test_close_store_closes_it_on_shutdown(tmp_path: Path):
    url = sqlite_url(tmp_path / "s.db")
    open_store(url, create=True).close()
    owned, kept = open_store(url), open_store(url)
    with AppClient(create_app(Settings(), owned, close_store=True)) as http:
        assert http.get("/v1/health/ready").status_code == 200
    with AppClient(create_app(Settings(), kept)) as http:
        assert http.get("/v1/health/ready").status_code == 200
    with pytest.raises(StorageError, match="closed"):
        owned.get_workspace(workspace_id("default"))
    assert kept.get_workspace(workspace_id("default")) is None  # still open: the caller's
    kept.close()


def test_envelope_carries_the_errors_own_data():
    exc = ConcurrentUpdate("head moved", expected="a" * 64, actual="b" * 64)
    assert envelope(exc, "rid") == {
        "api_version": "1",
        "schema_version": "1",
        "error": {
            "error_type": "ConcurrentUpdate",
            "code": "concurrent_update",
            "message": "head moved",
            "request_id": "rid",
            "expected": "a" * 64,
            "actual": "b" * 64,
        },
    }


def test_a_treeframe_error_from_a_route_keeps_its_status_and_code(client: AppClient):
    response = client.get("/v1/probe/missing", headers={"X-Request-ID": "r-1"})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "error_type": "FrameNotFound",
        "code": "frame_not_found",
        "message": "no frame ab12",
        "request_id": "r-1",
    }


def test_unhandled_exception_is_an_envelope_not_a_traceback(client: AppClient):
    response = client.get("/v1/probe/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret-internal-detail" not in response.text
    assert response.headers["x-request-id"] == response.json()["error"]["request_id"]


def test_query_and_body_errors_name_their_location(client: AppClient):
    response = client.post("/v1/probe/echo", json={"count": 0})
    error = response.json()["error"]
    assert response.status_code == 422
    assert {(e["location"], e["field"]) for e in error["errors"]} == {
        ("body", "name"),
        ("body", "count"),
    }
    assert all(e["message"] for e in error["errors"])
    missing = client.post("/v1/probe/echo")  # no body at all
    assert missing.status_code == 422
    assert missing.json()["error"]["errors"][0]["location"] == "body"


def test_invalid_content_length_is_refused(client: AppClient):
    response = client.post("/v1/probe/upload", content=b"abc", headers={"Content-Length": "3x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def _call(app: Any, scope: dict[str, Any], chunks: list[bytes]) -> tuple[list[dict], int]:
    """Drive the ASGI app directly: returns what it sent and how many chunks it pulled."""
    sent: list[dict[str, Any]] = []
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": True}
        await asyncio.sleep(3600)  # a client that never finishes
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return sent, pulled


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


def test_body_longer_than_declared_is_counted_and_refused():
    app = probe_app(settings(max_body_bytes=100_000), MemoryStore("memory://"))
    chunks = [b"x" * 40_000] * 50  # 2 MB offered; the header claims 10 bytes
    sent, pulled = _call(app, _scope("/v1/probe/upload", [(b"content-length", b"10")]), chunks)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    body = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["limit"] == 100_000
    assert pulled == 3  # stopped at the first chunk past the limit
    assert app.state.uploaded == []  # the route never completed a read
    assert len([m for m in sent if m["type"] == "http.response.start"]) == 1


def test_chunked_body_under_the_limit_reaches_the_route():
    app = probe_app(settings(max_body_bytes=100_000), MemoryStore("memory://"))
    chunks = [b"x" * 40_000, b"y" * 40_000]

    async def run() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        queue = [
            {"type": "http.request", "body": chunks[0], "more_body": True},
            {"type": "http.request", "body": chunks[1], "more_body": False},
        ]

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_scope("/v1/probe/upload", []), receive, send)
        return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 200
    assert app.state.uploaded == [80_000]


def test_ready_answers_503_when_the_store_fails():
    for error in (BackendUnavailable("disk gone"), StoreCorrupt("not a database")):
        http = AppClient(create_app(Settings(), FailingStore(error)))
        response = http.get("/v1/health/ready")
        assert response.status_code == 503
        body = response.json()["error"]
        assert body["code"] == "backend_unavailable"
        assert f"[{error.code}]" in body["message"]
        assert http.get("/v1/health/live").status_code == 200


def test_ready_gives_up_after_its_timeout_and_bounds_waiting_probes():
    store = HangingStore()
    try:
        http = AppClient(create_app(settings(ready_timeout_ms=100), store))
        messages = [http.get("/v1/health/ready").json()["error"]["message"] for _ in range(6)]
        assert all("within 100 ms" in m for m in messages[:MAX_PENDING_PROBES])
        assert all("have not returned yet" in m for m in messages[MAX_PENDING_PROBES:])
        assert store.calls == MAX_PENDING_PROBES  # no thread started past the bound
    finally:
        store.release.set()
    deadline = time.monotonic() + 10
    while http.get("/v1/health/ready").status_code != 200:  # the stuck probes return
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_ready_on_a_real_store_whose_file_was_removed(tmp_path: Path):
    # A fresh connection (a new worker thread) to a removed file cannot open it.
    path = tmp_path / "s.db"
    open_store(sqlite_url(path), create=True).close()
    store = open_store(sqlite_url(path), create=False)
    path.unlink()
    http = AppClient(create_app(Settings(), store))
    response = http.get("/v1/health/ready")
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "backend_unavailable"
    store.close()


def test_check_version():
    check_version(None, None)
    check_version(b"1", b"application/vnd.treeframe.v1+json; q=0.9, */*")
    check_version(None, b"text/html, application/json")
    for header, accept in ((b"2", None), (None, b"application/vnd.treeframe.v9+json")):
        with pytest.raises(VersionNotSupported) as info:
            check_version(header, accept)
        assert info.value.supported == ("1",)


def test_deprecation_must_leave_the_support_window():
    with pytest.raises(ValueError, match="6 months"):
        deprecated(since=date(2027, 1, 1), sunset=date(2027, 3, 1))
    marked = deprecated(since=date(2027, 1, 1), sunset=date(2027, 7, 3))
    assert marked["deprecated"] is True


def test_models_and_envelope_state_the_same_versions():
    from treeframe.api.versioning import API_VERSION, SCHEMA_VERSION, SUPPORTED_API_VERSIONS
    from treeframe.wire.common import ApiResponse

    assert ApiResponse().model_dump() == {
        "api_version": API_VERSION,
        "schema_version": SCHEMA_VERSION,
    }
    assert SUPPORTED_API_VERSIONS == (API_VERSION,)
