"""Against a real ``treeframe serve`` process: the envelope, the edge headers, limits, health, shutdown."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import REPO, Server, free_port, make_store, start_server, stop_server
from treeframe.storage.registry import sqlite_url

LIMIT = 64 * 1024


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["api_version"] == "1"
    assert body["schema_version"] == "1"
    error = body["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert error["message"]
    assert "Traceback" not in response.text
    return error


def test_live_and_ready(client: httpx.Client):
    live = client.get("/v1/health/live")
    assert live.json() == {"api_version": "1", "schema_version": "1", "status": "ok"}
    ready = client.get("/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["store"]["ok"] is True
    assert ready.headers["x-api-version"] == "1"


def test_unknown_route_is_a_not_found_envelope(client: httpx.Client):
    error = assert_envelope(client.get("/v1/nowhere"), 404, "not_found")
    assert error["error_type"] == "NotFound"
    assert "/v1/nowhere" in error["message"]
    assert_envelope(client.get("/"), 404, "not_found")


def test_wrong_method_is_405_with_allowed(client: httpx.Client):
    response = client.delete("/v1/health/live")
    error = assert_envelope(response, 405, "method_not_allowed")
    assert error["allowed"] == ["GET"]
    assert response.headers["allow"] == "GET"


def test_bad_body_lists_every_field(client: httpx.Client):
    response = client.post("/v1/probe/echo", json={"name": "", "count": "many"})
    error = assert_envelope(response, 422, "schema_validation_failed")
    assert error["error_type"] == "SchemaValidationFailed"
    fields = {(e["location"], e["field"]) for e in error["errors"]}
    assert fields == {("body", "name"), ("body", "count")}
    ok = client.post("/v1/probe/echo", json={"name": "a", "count": 2})
    assert ok.json() == {"api_version": "1", "schema_version": "1", "name": "a", "count": 2}


def test_malformed_json_is_a_schema_error(client: httpx.Client):
    response = client.post(
        "/v1/probe/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_envelope(response, 422, "schema_validation_failed")


def test_streamed_body_over_the_limit_is_refused_without_reading_it_whole(client: httpx.Client):
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(256):  # 16 MiB offered, 64 KiB allowed
            sent += 65536
            yield b"x" * 65536

    response = client.post("/v1/probe/upload", content=chunks())  # chunked: no Content-Length
    error = assert_envelope(response, 413, "payload_too_large")
    assert error["limit"] == LIMIT
    # Under the limit the same route reads the stream to the end.
    small = client.post("/v1/probe/upload", content=iter([b"y" * 1000, b"z" * 1000]))
    assert small.json()["bytes"] == 2000


def test_declared_length_over_the_limit_is_refused_before_the_body(server: Server):
    # A raw socket: declare 100 MiB, send nothing. The answer must come at once.
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/probe/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n"
        )
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    assert b'"payload_too_large"' in reply


def test_content_length_lie_cannot_smuggle_a_bigger_body(server: Server):
    # Declares 10 bytes and sends 200 KiB. HTTP framing ends the body at 10 bytes; the
    # rest is a malformed next request, which the HTTP server itself refuses (400, before
    # any request reaches the app, so not an envelope). No route ever sees more than 10.
    # (A receive channel that delivers more than declared is refused by the edge: see
    # test_app.py::test_body_longer_than_declared_is_counted_and_refused.)
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/probe/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
            + b"a" * (200 * 1024)
        )
        reply = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            reply += data
    assert reply.split(b" ", 2)[1] in (b"200", b"400"), reply[:300]
    assert [int(n) for n in re.findall(rb'"bytes":(\d+)', reply)] in ([], [10])


def test_client_request_id_is_echoed_and_a_bad_one_replaced(client: httpx.Client):
    mine = client.get("/v1/health/live", headers={"X-Request-ID": "ci-run.42:a_b-c"})
    assert mine.headers["x-request-id"] == "ci-run.42:a_b-c"
    error = assert_envelope(
        client.get("/v1/nowhere", headers={"X-Request-ID": "trace-7"}), 404, "not_found"
    )
    assert error["request_id"] == "trace-7"
    for bad in ("x" * 129, "has space", "new\\nline", ""):
        response = client.get("/v1/health/live", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), bad
    generated = {client.get("/v1/health/live").headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Version": "1"},
        {"Accept": "application/vnd.treeframe.v1+json"},
        {"Accept": "application/vnd.treeframe.v2+json, application/vnd.treeframe.v1+json"},
        {"Accept": "application/json"},
        {},
    ],
)
def test_supported_versions_are_served(client: httpx.Client, headers: dict[str, str]):
    assert client.get("/v1/health/live", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Version": "2"},
        {"X-API-Version": "1.1"},
        {"Accept": "application/vnd.treeframe.v2+json"},
        {"X-API-Version": "1", "Accept": "application/vnd.treeframe.v3+json"},
    ],
)
def test_unknown_versions_are_refused_with_the_supported_ones(
    client: httpx.Client, headers: dict[str, str]
):
    error = assert_envelope(
        client.get("/v1/health/live", headers=headers), 400, "version_not_supported"
    )
    assert error["supported"] == ["1"]


def test_deprecated_route_sends_deprecation_and_sunset(client: httpx.Client):
    response = client.get("/v1/probe/old")
    assert response.status_code == 200
    assert response.headers["deprecation"] == "@1796083200"  # 2026-12-01T00:00:00Z
    assert response.headers["sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert response.headers["link"] == '</v1/probe/new>; rel="successor-version"'
    assert "deprecation" not in client.get("/v1/health/live").headers


def test_unexpected_exception_is_an_internal_error_without_details(server: Server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        response = http.get("/v1/probe/boom")
    error = assert_envelope(response, 500, "internal_error")
    assert error["message"] == "internal error"
    assert "secret-internal-detail" not in response.text
    assert "secret-internal-detail" in server.log()  # the operator sees it, with the ID
    assert error["request_id"] in server.log()


def test_served_openapi_is_the_committed_one(client: httpx.Client):
    import json

    served = client.get("/v1/openapi.json").json()
    committed = json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
    # The probe routes are test-only; the rest must be exactly what is committed.
    served["paths"] = {p: v for p, v in served["paths"].items() if not p.startswith("/v1/probe")}
    for name in ("Item", "Echo", "Received", "ApiResponse", "ValidationError"):
        served["components"]["schemas"].pop(name, None)
    assert served == committed


def test_ready_fails_with_503_when_the_store_breaks_and_recovers(tmp_path: Path):
    store = make_store(tmp_path / "store.db")
    server = start_server(tmp_path, store, app=None)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/v1/health/ready").status_code == 200
            original = store.read_bytes()
            store.write_bytes(b"this is not a database" * 512)  # same inode, damaged
            error = assert_envelope(http.get("/v1/health/ready"), 503, "backend_unavailable")
            assert "store is not ready" in error["message"]
            assert http.get("/v1/health/live").status_code == 200  # alive, not ready
            store.write_bytes(original)
            assert http.get("/v1/health/ready").status_code == 200
    finally:
        status = stop_server(server)
    assert status in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()


def test_missing_store_is_one_line_and_nothing_listens(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREEFRAME_")}
    result = subprocess.run(
        [sys.executable, "-m", "treeframe", "serve", "--store", sqlite_url(tmp_path / "absent.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "[store_not_found]" in result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr
    assert not (tmp_path / "absent.db").exists()


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path):
    server = start_server(tmp_path, make_store(tmp_path / "store.db"))
    result: dict[str, httpx.Response] = {}

    def slow_request() -> None:
        result["slow"] = httpx.get(f"{server.url}/v1/probe/slow?seconds=1.5", timeout=10)

    worker = threading.Thread(target=slow_request)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while "slow request started" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.02)
        server.process.send_signal(signal.SIGTERM)
        worker.join(15)
        assert result["slow"].status_code == 200
        assert server.process.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        worker.join(15)
        stop_server(server)
    assert "Application shutdown complete" in server.log()


def test_sigint_stops_gracefully(tmp_path: Path):
    server = start_server(tmp_path, make_store(tmp_path / "store.db"), app=None)
    status = stop_server(server, signal.SIGINT)
    assert status == 0, server.log()
    assert "Application shutdown complete" in server.log()


def test_several_workers_serve_the_same_store(tmp_path: Path):
    server = start_server(
        tmp_path, make_store(tmp_path / "store.db"), args=["--workers", "2"], port=free_port()
    )
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(4):
                assert http.get("/v1/health/ready").status_code == 200
            assert http.get("/v1/probe/old").status_code == 200  # --app reached the workers
    finally:
        stop_server(server)
