"""The circuit breaker: opens after consecutive outages, fails fast, lets one probe through, recovers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.routes_env import AppClient
from treeframe.api import create_app
from treeframe.config.settings import Settings
from treeframe.errors import BackendUnavailable, NodeNotFound
from treeframe.hashing.ids import workspace_id
from treeframe.observability.storage import InstrumentedStore
from treeframe.storage.breaker import CircuitBreaker
from treeframe.storage.memory import MemoryStore
from treeframe.testing.factories import workspace_info


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_outages_fails_fast_then_one_probe_recovers_it():
    clock, opened = Clock(), []
    breaker = CircuitBreaker("store", 3, 5.0, clock=clock, on_open=opened.append)
    for _ in range(2):
        probe = breaker.before()
        breaker.failed(probe)
    breaker.succeeded(breaker.before())  # an answer resets the count
    for _ in range(3):
        breaker.failed(breaker.before())
    assert breaker.state == "open"
    assert opened == ["store"]
    with pytest.raises(BackendUnavailable, match="circuit breaker opened after 3 failures"):
        breaker.before()
    clock.now += 5.0
    assert breaker.state == "half_open"
    assert breaker.before() is True  # the probe
    with pytest.raises(BackendUnavailable):
        breaker.before()  # one probe at a time
    breaker.failed(True)
    assert breaker.state == "open"  # the probe failed: another full wait
    clock.now += 4.9
    with pytest.raises(BackendUnavailable):
        breaker.before()
    clock.now += 0.1
    breaker.succeeded(breaker.before())
    assert breaker.state == "closed"
    assert breaker.before() is False
    assert opened == ["store"]  # reopening after a failed probe is not a new opening


class Flaky(MemoryStore):
    """A memory store whose reads fail like an unreachable backend while ``down``."""

    def __init__(self) -> None:
        super().__init__("memory://")
        self.down = False
        self.calls = 0

    def get_workspace(self, ws: Any) -> Any:
        self.calls += 1
        if self.down:
            raise BackendUnavailable("connection refused")
        return super().get_workspace(ws)

    def get_node(self, ws: Any, node_id: Any) -> Any:
        raise NodeNotFound("an answer, not an outage")


def test_the_proxy_counts_only_outages_and_fails_fast_while_open():
    store = Flaky()
    store.create_workspace(workspace_info(workspace_id("w"), "w"))
    breaker = CircuitBreaker("store", 2, 60.0)
    guarded = InstrumentedStore(store, lambda _op, _s: None, breaker=breaker)
    for _ in range(5):
        with pytest.raises(NodeNotFound):
            guarded.get_node(workspace_id("w"), "0" * 64)
    assert breaker.state == "closed"
    store.down = True
    for _ in range(2):
        with pytest.raises(BackendUnavailable, match="connection refused"):
            guarded.get_workspace(workspace_id("w"))
    calls = store.calls
    with pytest.raises(BackendUnavailable, match="circuit breaker"):
        guarded.get_workspace(workspace_id("w"))
    assert store.calls == calls  # not even tried


def test_the_api_fails_fast_while_the_store_is_out_and_recovers_by_itself(tmp_path: Path):
    store = Flaky()
    store.create_workspace(workspace_info(workspace_id("default"), "default"))
    settings = Settings.model_validate(
        {"server": {"breaker_failures": 3, "breaker_reset_ms": 300, "ready_timeout_ms": 2000}}
    )
    app = create_app(settings, store)
    http = AppClient(app)
    assert http.get("/v1/health/ready").status_code == 200
    store.down = True
    for _ in range(3):
        assert http.get("/v1/health/ready").status_code == 503
    calls = store.calls
    started = time.perf_counter()
    fast = http.get("/v1/health/ready")
    assert time.perf_counter() - started < 1.0
    assert fast.status_code == 503
    assert "circuit breaker" in fast.json()["error"]["checks"]["store"]["error"]
    assert store.calls == calls
    store.down = False
    time.sleep(0.35)
    assert http.get("/v1/health/ready").status_code == 200  # the probe closed it
    exposition = app.state.metrics.exposition().decode()
    assert 'treeframe_circuit_opened_total{dependency="store"} 1.0' in exposition


def test_no_breaker_when_turned_off():
    store = Flaky()
    app = create_app(
        Settings.model_validate(
            {
                "server": {"breaker_failures": 0},
                "metrics": {"enabled": False},
                "cache": {"url": "off"},
            }
        ),
        store,
    )
    assert app.state.store is store
