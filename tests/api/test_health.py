"""Readiness in process against real dependencies: Redis, a hung listener, blob directories, S3.

Each check is asserted through ``/v1/health/ready`` of a real app over a
real store (SQLite, an external blob directory or a moto S3 bucket, the
machine's Redis on 127.0.0.1:6379): what a 200 and a 503 report, that a hung
dependency fails within its own timeout, and that the checks run
concurrently and are bounded one by one.
"""

from __future__ import annotations

import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_app import AppClient, HangingStore
from tests.services import S3Server, free_port, require_redis
from tests.unprivileged import run_unprivileged
from treeframe.api import create_app
from treeframe.api.readiness import MAX_PENDING_PROBES, shown_url
from treeframe.config.loading import load_settings
from treeframe.config.settings import Settings
from treeframe.errors import BackendUnavailable, ConfigError
from treeframe.hashing.ids import workspace_id
from treeframe.storage.base import StorageBackend
from treeframe.storage.blobstores.filesystem import FileBlobStore
from treeframe.storage.memory import MemoryStore
from treeframe.storage.registry import content_policy, open_store, sqlite_url
from treeframe.testing.factories import workspace_info

REDIS = "redis://127.0.0.1:6379/0"
TIMEOUT_MS = 300


def settings(redis: str | None = None, timeout_ms: int = TIMEOUT_MS) -> Settings:
    return Settings.model_validate(
        {"server": {"ready_timeout_ms": timeout_ms}, "redis": {"url": redis}}
    )


def ready(store: StorageBackend, config: Settings) -> tuple[int, dict[str, Any]]:
    """Status and body of one readiness probe; the 503's checks moved to the top like the 200's."""
    response = AppClient(create_app(config, store)).get("/v1/health/ready")
    body = response.json()
    if response.status_code == 503:
        assert body["error"]["code"] == "backend_unavailable"
        body = {**body["error"]}
    return response.status_code, body


class HungListener:
    """A loopback TCP listener that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.05)  # so close() is noticed: accept() is not woken by it
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.closed.set()
        self.thread.join(5)
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def hung() -> Iterator[HungListener]:
    listener = HungListener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis, skipped (a failure on CI) when it does not answer."""
    return require_redis(REDIS)


@pytest.fixture
def store() -> Iterator[StorageBackend]:
    memory = MemoryStore("memory://")
    memory.create_workspace(workspace_info(workspace_id("default"), "default"))
    yield memory
    memory.close()


# -- the shape ---------------------------------------------------------------
def test_ready_reports_store_and_blobs_and_no_redis_when_none_is_configured(store):
    status, body = ready(store, settings())
    assert status == 200
    assert set(body["checks"]) == {"store", "blobs"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert "error" not in check  # only failed checks say why
        assert check["duration_ms"] >= 0


# -- redis -------------------------------------------------------------------
def test_redis_check_passes_on_a_real_redis(store, redis_url: str):
    status, body = ready(store, settings(redis_url))
    assert status == 200, body
    assert body["checks"]["redis"]["ok"] is True


def test_redis_check_fails_with_the_reason_on_a_port_nobody_listens_on(store):
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    status, body = ready(store, settings(url))
    assert status == 503
    redis_check = body["checks"]["redis"]
    assert redis_check["ok"] is False
    assert "out of reach" in redis_check["error"]
    assert "refused" in redis_check["error"].lower()
    assert redis_check["error"].endswith("[backend_unavailable]")
    assert body["checks"]["store"]["ok"] is True  # only the failed one fails
    assert "redis is not ready" in body["message"]
    assert "store is not ready" not in body["message"]
    assert "hunter2" not in str(body)  # the password never leaves


def test_a_hung_redis_fails_its_check_within_the_timeout(store, hung: HungListener):
    started = time.monotonic()
    status, body = ready(store, settings(f"redis://127.0.0.1:{hung.port}/0"))
    took = time.monotonic() - started
    assert status == 503
    assert took < TIMEOUT_MS / 1000 + 1.5, took
    assert f"no answer within {TIMEOUT_MS} ms" in body["checks"]["redis"]["error"]
    assert body["checks"]["store"]["ok"] is True


def test_a_configured_redis_without_the_library_fails_naming_the_extra(
    store, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "redis", None)  # what `import redis` meets when absent
    status, body = ready(store, settings(REDIS))
    assert status == 503
    assert "treeframe[redis]" in body["checks"]["redis"]["error"]


def test_redis_url_comes_from_the_env_and_must_be_a_redis_url(tmp_path: Path):
    env = {"HOME": str(tmp_path), "TREEFRAME_REDIS__URL": "redis://cache:6379/1"}
    loaded = load_settings(None, env=env)
    assert loaded.settings.redis.url == "redis://cache:6379/1"
    assert loaded.sources["redis.url"] == "env:TREEFRAME_REDIS__URL"
    with pytest.raises(ConfigError, match=r"redis\.url"):
        load_settings(None, env={**env, "TREEFRAME_REDIS__URL": "http://cache:6379"})


def test_shown_url_drops_only_the_password():
    assert shown_url("redis://:pw@h:1/0") == "redis://h:1/0"
    assert shown_url("rediss://u:pw@h/0") == "rediss://u@h/0"
    assert shown_url("redis://h:6379/0") == "redis://h:6379/0"


# -- concurrency and bounds --------------------------------------------------
def test_checks_run_concurrently_each_under_its_own_timeout(hung: HungListener):
    # A hung store and a hung Redis: one timeout's wait, not two.
    store = HangingStore()
    try:
        config = settings(f"redis://127.0.0.1:{hung.port}/0", timeout_ms=600)
        started = time.monotonic()
        status, body = ready(store, config)
        took = time.monotonic() - started
        assert status == 503
        assert took < 1.1, took
        for name in ("store", "redis"):
            assert "no answer within 600 ms" in body["checks"][name]["error"]
        assert body["checks"]["blobs"]["ok"] is True
    finally:
        store.release.set()


def test_waiting_probes_are_bounded_per_check():
    # A hung store fills only its own gate: the blob store is still probed every time.
    store = HangingStore()
    try:
        app = create_app(settings(timeout_ms=100), store)
        http = AppClient(app)
        errors = []
        for _ in range(MAX_PENDING_PROBES + 2):
            error = http.get("/v1/health/ready").json()["error"]
            assert error["checks"]["blobs"]["ok"] is True
            errors.append(error["checks"]["store"]["error"])
        assert all("within 100 ms" in e for e in errors[:MAX_PENDING_PROBES])
        assert all("have not returned yet" in e for e in errors[MAX_PENDING_PROBES:])
        assert store.calls == MAX_PENDING_PROBES
        # The refusals of the full gate are counted as a concurrency limit's.
        exposition = app.state.metrics.exposition().decode()
        assert 'treeframe_rate_limited_total{limit="ready_probes"} 2.0' in exposition
    finally:
        store.release.set()


def test_a_hung_redis_frees_its_thread_by_its_socket_timeout(store, hung: HungListener):
    # The client's own socket timeout equals the check's: no probe thread outlives it for long.
    http = AppClient(create_app(settings(f"redis://127.0.0.1:{hung.port}/0", 100), store))
    for _ in range(MAX_PENDING_PROBES + 2):
        error = http.get("/v1/health/ready").json()["error"]["checks"]["redis"]["error"]
        assert "have not returned yet" not in error, error
        time.sleep(0.15)


# -- blobs -------------------------------------------------------------------
def sqlite_with_blob_dir(tmp_path: Path, blobs: Path) -> StorageBackend:
    return open_store(
        sqlite_url(tmp_path / "s.db"),
        create=True,
        content=content_policy(f"file://{blobs}"),
    )


def test_blob_check_fails_while_the_blob_directory_is_gone(tmp_path: Path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "keep").write_bytes(b"")
    store = sqlite_with_blob_dir(tmp_path, blobs)
    try:
        assert ready(store, settings())[0] == 200
        shutil.rmtree(blobs)
        status, body = ready(store, settings())
        assert status == 503
        check = body["checks"]["blobs"]
        assert check["ok"] is False
        assert str(blobs) in check["error"]
        assert check["error"].endswith("[backend_unavailable]")
        assert body["checks"]["store"]["ok"] is True
        blobs.mkdir()
        assert ready(store, settings())[0] == 200
        assert sorted(p.name for p in blobs.iterdir()) == []  # the probe wrote nothing
    finally:
        store.close()


def test_blob_probe_fails_on_an_unreadable_directory(tmp_path: Path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    blobs.chmod(0)
    ws = workspace_id("default")

    def probe() -> str:
        try:
            FileBlobStore(blobs).probe(ws)
        except BackendUnavailable as exc:
            return exc.message
        return "ok"

    try:
        message = run_unprivileged(probe)
    finally:
        blobs.chmod(0o755)
    assert "permission denied" in message.lower(), message
    assert FileBlobStore(blobs).probe(ws) is None  # readable again


def test_blob_check_on_s3(tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = s3_server.bucket()
    store = open_store(
        sqlite_url(tmp_path / "s.db"),
        create=True,
        content=content_policy(s3_server.url(bucket)),
    )
    try:
        assert ready(store, settings(timeout_ms=5000))[0] == 200
        s3_server.client().delete_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        status, body = ready(store, settings(timeout_ms=5000))
        assert status == 503
        assert "the bucket does not exist" in body["checks"]["blobs"]["error"]
    finally:
        store.close()


def test_blob_check_on_an_s3_endpoint_nobody_answers(
    tmp_path: Path, hung: HungListener, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    url = (
        f"s3://bucket/p?endpoint_url=http://127.0.0.1:{hung.port}&region=us-east-1"
        "&connect_timeout=0.2&read_timeout=0.2&max_attempts=1"
    )
    store = open_store(sqlite_url(tmp_path / "s.db"), create=True, content=content_policy(url))
    try:
        status, body = ready(store, settings(timeout_ms=TIMEOUT_MS))
        assert status == 503
        assert body["checks"]["blobs"]["ok"] is False
        assert body["checks"]["store"]["ok"] is True
    finally:
        store.close()


def test_the_client_gets_the_checks_of_a_503(store):
    from treeframe.client.errors import error_from_envelope

    response = AppClient(create_app(settings(f"redis://127.0.0.1:{free_port()}/0"), store)).get(
        "/v1/health/ready"
    )
    exc = error_from_envelope(response.status_code, response.json())
    assert isinstance(exc, BackendUnavailable)
    assert exc.checks["redis"]["ok"] is False
    assert exc.checks["store"]["ok"] is True
