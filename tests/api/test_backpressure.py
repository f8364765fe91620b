"""Backpressure driven over its limits: the work queue's 429 and the in-flight limit's 503."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.routes_env import Env, make_env
from treeframe.api.middleware import EdgeMiddleware
from treeframe.api.work import WorkQueue
from treeframe.config.settings import Settings
from treeframe.errors import QueueFull


def test_the_queue_admits_its_slots_and_places_then_refuses_with_a_wait() -> None:
    queue = WorkQueue(1, 1)
    first, second = queue.admit("a"), queue.admit("b")
    with pytest.raises(QueueFull) as refused:
        queue.admit("c")
    assert refused.value.code == "queue_full"
    assert 1 <= refused.value.retry_after <= 60
    second.cancel()  # a request that failed before its work started gives its place back
    third = queue.admit("c")
    started, release = threading.Event(), threading.Event()

    def hold(ticket: Any) -> None:
        with ticket.running():
            started.set()
            release.wait(5)

    holder = threading.Thread(target=hold, args=(first,))
    holder.start()
    assert started.wait(5)
    waited = threading.Event()

    def wait_for_slot() -> None:
        with third.running():
            waited.set()

    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    assert not waited.wait(0.2)  # one slot, taken: the third waits
    assert queue.depth == (1, 1)
    release.set()
    assert waited.wait(5)
    holder.join()
    waiter.join()
    assert queue.depth == (0, 0)
    with pytest.raises(RuntimeError), third.running():  # a ticket runs once
        pass


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[Env]:
    """One synthesis or regeneration at a time per worker, none waiting."""
    settings = Settings.model_validate({"server": {"work_concurrency": 1, "work_queue": 0}})
    for env in make_env(tmp_path, settings):
        try:
            yield env
        finally:
            env.app.state.jobs.close()  # the lifespan would: no app server ran it here


def _occupied(env: Env) -> tuple[threading.Event, threading.Thread]:
    """The worker's one slot taken by a long operation until the returned event is set."""
    queue: WorkQueue = env.app.state.work
    ticket = queue.admit("long synthesis")
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        with ticket.running():
            started.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(5)
    return release, thread


def test_synthesis_and_regeneration_over_the_queue_get_429_with_retry_after(tight: Env) -> None:
    assert tight.put("src/app.py", "note", "the entry point").status_code == 201
    frames_before = sum(1 for _ in tight.store.iter_all_frames(tight.ws))
    jobs_dir = tight.app.state.jobs.directory
    release, thread = _occupied(tight)
    try:
        synth = tight.http.post(
            f"{tight.base}/synthesize", json={"node": "src", "frame_type": "note"}
        )
        regen = tight.http.post(f"{tight.base}/regenerate", json={"node": ""})
        job = tight.http.post(
            f"{tight.base}/regenerate", json={"node": ""}, headers={"Prefer": "respond-async"}
        )
    finally:
        release.set()
        thread.join()
    for refused in (synth, regen, job):
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "queue_full"
        assert int(refused.headers["retry-after"]) >= 1
    assert not any(jobs_dir.glob("*.json"))  # a refused job is never started
    assert sum(1 for _ in tight.store.iter_all_frames(tight.ws)) == frames_before
    # the slot is free again: the same request goes through
    done = tight.http.post(f"{tight.base}/synthesize", json={"node": "src", "frame_type": "note"})
    assert done.status_code == 200, done.text
    assert tight.app.state.work.depth == (0, 0)
    exposition = tight.app.state.metrics
    exposition.flush()
    assert 'treeframe_errors_total{code="queue_full"} 3.0' in exposition.exposition().decode()


def test_a_failing_synthesis_gives_its_slot_back(tight: Env) -> None:
    for _ in range(3):  # with one slot and no queue, a leaked slot would refuse the next
        answer = tight.http.post(
            f"{tight.base}/synthesize", json={"node": "src", "frame_type": "note", "policy": "nope"}
        )
        assert answer.status_code == 400, answer.text
    assert tight.app.state.work.depth == (0, 0)


def test_the_in_flight_limit_sheds_load_with_503_but_never_health() -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            entered.set()
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = EdgeMiddleware(slow_app, max_body_bytes=1000, max_in_flight=1)

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            slow = asyncio.create_task(http.get("/slow"))
            await entered.wait()
            busy = await http.get("/fast")
            health = await http.get("/v1/health/live")
            metrics = await http.get("/v1/metrics")
            release.set()
            first = await slow
            after = await http.get("/fast")
            return [first, busy, health, metrics, after]

    first, busy, health, metrics, after = asyncio.run(scenario())
    assert busy.status_code == 503
    assert busy.json()["error"]["code"] == "server_busy"
    assert busy.headers["retry-after"] == "1"
    assert [first.status_code, health.status_code, metrics.status_code] == [200, 200, 200]
    assert after.status_code == 200  # the slot came back with the slow request's end
    assert app.in_flight == 0
