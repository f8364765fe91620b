"""Retries against a real server that answers 503/429 on purpose, and against a closed port."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.api.conftest import Server, free_port
from tests.client.flaky import Hits, Peer
from treeframe.client import AsyncClient, Client, RetryPolicy
from treeframe.client.call import Call, model
from treeframe.client.retry import parse_retry_after
from treeframe.errors import BackendUnavailable, StoreLocked


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, float, str]] = []

    def __call__(self, attempt: int, delay: float, reason: str) -> None:
        self.calls.append((attempt, delay, reason))


def policy(attempts: int, recorder: Recorder | None = None) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0.001, max_delay=0.01, on_retry=recorder)


def flaky(method: str = "GET", *, fail: int, status: int = 503, idempotent: bool | None = None):
    key = uuid.uuid4().hex
    call = Call(
        method,
        f"/v1/flaky/{key}",
        model(Hits),
        params={"fail": fail, "status": status},
        idempotent=idempotent,
    )
    return key, call


def hits(client: Client, key: str) -> int:
    return client.request(Call("GET", f"/v1/flaky/{key}/hits", model(Hits))).hits


def test_get_is_retried_through_503_until_it_succeeds(flaky_server: Server):
    recorder = Recorder()
    key, call = flaky(fail=3)
    with Client(flaky_server.url, retries=policy(4, recorder)) as client:
        answer = client.request(call)
        assert answer.hits == 4  # three refusals, then the answer
        assert hits(client, key) == 4
    assert [(a, r) for a, _, r in recorder.calls] == [
        (1, "HTTP 503"),
        (2, "HTTP 503"),
        (3, "HTTP 503"),
    ]


def test_429_is_retried_too(flaky_server: Server):
    _key, call = flaky(fail=1, status=429)
    with Client(flaky_server.url, retries=policy(2)) as client:
        assert client.request(call).hits == 2


def test_gives_up_after_the_bounded_attempts_with_the_servers_error(flaky_server: Server):
    key, call = flaky(fail=10)
    with Client(flaky_server.url, retries=policy(3)) as client:
        with pytest.raises(StoreLocked) as caught:
            client.request(call)
        assert caught.value.status_code == 503  # type: ignore[attr-defined]
        assert hits(client, key) == 3


def test_non_idempotent_post_is_sent_once(flaky_server: Server):
    key, call = flaky("POST", fail=1)
    with Client(flaky_server.url, retries=policy(5)) as client:
        with pytest.raises(StoreLocked):
            client.request(call)
        assert hits(client, key) == 1


def test_post_idempotent_by_design_is_retried(flaky_server: Server):
    _key, call = flaky("POST", fail=2, idempotent=True)
    with Client(flaky_server.url, retries=policy(3)) as client:
        assert client.request(call).hits == 3


def test_one_request_id_across_the_retries_of_one_call(flaky_server: Server):
    key, call = flaky(fail=1)
    with Client(flaky_server.url, retries=policy(2)) as client:
        assert client.request(call).hits == 2
        seen = client.request(Call("GET", f"/v1/flaky/{key}/hits", model(Hits))).request_ids
        assert len(seen) == 2
        assert seen[0] == seen[1]
        assert len(seen[0]) == 32
        mine = Call(call.method, call.path, call.parse, headers={"X-Request-ID": "mine-1"})
        client.request(mine)
        again = client.request(Call("GET", f"/v1/flaky/{key}/hits", model(Hits))).request_ids
        assert again[-1] == "mine-1"


def test_connection_refused_retries_then_raises_backend_unavailable():
    recorder = Recorder()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with (
        Client(url, retries=policy(3, recorder)) as client,
        pytest.raises(BackendUnavailable, match=r"cannot reach the server.*after 3 attempts"),
    ):
        client.health_live()
    assert [a for a, _, _ in recorder.calls] == [1, 2]
    assert all(reason == "ConnectError" for _, _, reason in recorder.calls)


def test_async_client_retries_the_same_way(flaky_server: Server):
    key, call = flaky(fail=2)

    async def run() -> tuple[int, int]:
        async with AsyncClient(flaky_server.url, retries=policy(3)) as client:
            answer = await client.request(call)
            count = await client.request(Call("GET", f"/v1/flaky/{key}/hits", model(Hits)))
            return answer.hits, count.hits

    assert asyncio.run(run()) == (3, 3)


def test_async_client_gives_up_too(flaky_server: Server):
    _key, call = flaky(fail=5)

    async def run() -> None:
        async with AsyncClient(flaky_server.url, retries=policy(2)) as client:
            await client.request(call)

    with pytest.raises(StoreLocked):
        asyncio.run(run())


def test_backoff_grows_and_honours_retry_after():
    fixed = RetryPolicy(attempts=5, base_delay=1.0, max_delay=4.0)
    ceilings = [1.0, 2.0, 4.0, 4.0]
    for retry, ceiling in enumerate(ceilings, 1):
        wait = fixed.delay(retry)
        assert wait is not None
        assert 0 <= wait <= ceiling
    assert fixed.delay(5) is None  # the fifth try was the last
    floor = fixed.delay(1, retry_after=3.0)
    assert floor is not None
    assert floor >= 3.0
    assert fixed.delay(1, retry_after=61.0) is None  # longer than max_retry_after: give up now


def test_retry_after_parses_seconds_and_http_dates():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(base_delay=-1)


def test_one_client_reuses_one_keep_alive_connection(flaky_server: Server):
    port = Call("GET", "/v1/flaky/peer/port", model(Peer))
    with Client(flaky_server.url) as client:
        ports = {client.request(port).port for _ in range(20)}
        _key, call = flaky(fail=2)
        client.request(call)  # retried answers keep the connection too
        ports.add(client.request(port).port)
    assert len(ports) == 1
    with Client(flaky_server.url) as other:
        assert other.request(port).port not in ports  # a new client, a new connection


def test_async_client_shares_its_pool_between_tasks(flaky_server: Server):
    port = Call("GET", "/v1/flaky/peer/port", model(Peer))
    limits = httpx.Limits(max_connections=2)

    async def run() -> set[int]:
        async with AsyncClient(flaky_server.url, limits=limits) as client:
            answers = await asyncio.gather(*(client.request(port) for _ in range(20)))
            return {a.port for a in answers}

    assert 1 <= len(asyncio.run(run())) <= 2
