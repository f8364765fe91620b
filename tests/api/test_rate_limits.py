"""Per-agent rate limits: both bucket stores driven over their limit, and the API's 429 with Retry-After."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.routes_env import AppClient
from tests.api.test_auth_app import issue
from tests.services import require_redis
from treeframe.api import create_app
from treeframe.api.ratelimit import RateLimiter, rate_limiter
from treeframe.api.ratelimit.memory import MemoryBuckets
from treeframe.api.ratelimit.redis import RedisBuckets
from treeframe.config.settings import Settings
from treeframe.hashing.ids import workspace_id
from treeframe.storage.sqlite import SqliteStore

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["memory", "redis"])
def buckets(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    """20 tokens a second, 3 at most, per agent; each Redis test under its own key prefix."""
    if request.param == "memory":
        yield MemoryBuckets(20.0, 3)
        return
    require_redis()
    prefix = f"treeframe:test:{uuid.uuid4().hex}:"
    limiter = RedisBuckets(REDIS, 20.0, 3, prefix=prefix)
    try:
        yield limiter
    finally:
        client = limiter._client
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        limiter.close()


def test_a_burst_passes_the_next_is_refused_with_the_wait_then_it_refills(buckets: RateLimiter):
    assert [buckets.take("alice") for _ in range(3)] == [None, None, None]
    wait = buckets.take("alice")
    assert wait is not None
    assert 0 < wait <= 0.051  # one token at 20 a second
    assert buckets.take("bob") is None  # every agent has its own bucket
    time.sleep(wait + 0.02)
    assert buckets.take("alice") is None
    assert buckets.take("alice") is not None


def test_a_redis_that_does_not_answer_lets_requests_through():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens here once closed
    limiter = RedisBuckets(f"redis://127.0.0.1:{port}/0", 1.0, 1)
    try:
        assert [limiter.take("alice") for _ in range(5)] == [None] * 5
    finally:
        limiter.close()


def test_no_limiter_unless_a_rate_is_set_and_redis_when_configured():
    assert rate_limiter(Settings()) is None
    assert isinstance(
        rate_limiter(Settings.model_validate({"server": {"rate_limit": 5}})), MemoryBuckets
    )
    shared = rate_limiter(
        Settings.model_validate({"server": {"rate_limit": 5}, "redis": {"url": REDIS}})
    )
    assert isinstance(shared, RedisBuckets)
    assert shared.burst == 5
    shared.close()


def limited_app(tmp_path: Path, name: str, **redis: Any) -> Any:
    settings = Settings.model_validate(
        {"server": {"rate_limit": 1, "rate_burst": 2}, "redis": redis or {}}
    )
    return create_app(settings, SqliteStore(tmp_path / f"{name}.db"))


def test_the_api_answers_429_with_retry_after_per_agent_and_counts_it(tmp_path: Path):
    app = limited_app(tmp_path, "one")
    alice, bob = issue(app, "w", "alice", "read"), issue(app, "v", "bob", "read")
    http = AppClient(app)
    url = f"/v1/workspaces/{workspace_id('w')}"
    answers = [http.get(url, headers={"Authorization": f"Bearer {alice}"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert 0 < error["retry_after"] <= 1.0
    other = http.get(
        f"/v1/workspaces/{workspace_id('v')}", headers={"Authorization": f"Bearer {bob}"}
    )
    assert other.status_code == 200
    assert http.get("/v1/health/live").status_code == 200  # health takes no token, no limit
    exposition = app.state.metrics.exposition().decode()
    assert 'treeframe_rate_limited_total{limit="agent"} 1.0' in exposition
    assert 'treeframe_errors_total{code="rate_limited"} 1.0' in exposition


def test_instances_sharing_redis_share_one_bucket(tmp_path: Path):
    require_redis()
    first = limited_app(tmp_path, "shared", url=REDIS)
    token = issue(first, "w", f"agent-{uuid.uuid4().hex[:8]}", "read")
    # The second instance serves the same store file: the same token works on both.
    second = create_app(first.state.settings, SqliteStore(tmp_path / "shared.db"))
    url = f"/v1/workspaces/{workspace_id('w')}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        statuses = [
            AppClient(app).get(url, headers=headers).status_code
            for app in (first, second, first, second)
        ]
    finally:
        first.state.rate_limiter.close()
        second.state.rate_limiter.close()
    assert statuses.count(200) == 2  # the burst, wherever it was spent
    assert statuses[2:] == [429, 429]
