"""``/v1/metrics`` in process over a real SQLite store: access, what is counted, bounded labels."""

from __future__ import annotations

import asyncio
import base64
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.routes_env import AGENT, Env, make_env
from treeframe.api import create_app
from treeframe.api.observe.metrics import Metrics
from treeframe.config.settings import Settings
from treeframe.storage.memory import MemoryStore

HEX_ID = re.compile(r"[0-9a-f]{16,}")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


def scrape(
    app: Any, *, client: tuple[str, int] = ("127.0.0.1", 5000), **headers: str
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            return await http.get("/v1/metrics", headers=headers)

    return asyncio.run(go())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_loopback_scrapes_without_a_token_and_others_are_refused():
    app = create_app(Settings(), MemoryStore("memory://"))
    ok = scrape(app)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith("text/plain")
    assert "treeframe_http_requests_total" in ok.text
    for remote in ("10.1.2.3", "192.168.0.7", "testclient"):
        refused = scrape(app, client=(remote, 5000))
        assert refused.status_code == 401, remote
        assert refused.json()["error"]["code"] == "unauthorized"
    assert scrape(app, client=("::1", 5000)).status_code == 200


def test_a_metrics_token_is_required_when_set_and_api_tokens_do_not_count():
    app = create_app(
        Settings.model_validate({"metrics": {"token": "scrape-me"}}), MemoryStore("memory://")
    )
    assert scrape(app).status_code == 401  # loopback is not enough once a token is set
    assert scrape(app, authorization="Bearer wrong").status_code == 401
    assert scrape(app, authorization="Basic scrape-me").status_code == 401
    assert scrape(app, client=("10.0.0.9", 1), authorization="Bearer scrape-me").status_code == 200


def test_disabled_metrics_are_not_found_and_nothing_is_timed():
    store = MemoryStore("memory://")
    app = create_app(
        Settings.model_validate(
            {
                "metrics": {"enabled": False},
                "server": {"breaker_failures": 0},
                "cache": {"url": "off"},
            }
        ),
        store,
    )
    answer = scrape(app)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert app.state.store is store  # no timing wrapper, no breaker to apply, no cache


def test_requests_errors_storage_cache_and_writes_are_counted(env: Env):
    assert env.put("src/app.py", "note", "first").status_code == 201
    assert env.put("src/app.py", "note", "second").status_code == 201
    node = env.node_id("src/app.py")
    for _ in range(3):
        assert env.http.get(f"{env.base}/nodes/{node}").status_code == 200
    assert env.http.get(f"{env.base}/nodes/{'0' * 64}").status_code == 404
    assert env.http.post(f"{env.base}/frames", json={"node_id": "src/app.py"}).status_code == 422
    found = samples(scrape(env.app).text)
    route = "/v1/workspaces/{ws}/nodes/{node_id}"
    assert (
        value(found, "treeframe_http_requests_total", method="GET", route=route, status="200") == 3
    )
    assert (
        value(found, "treeframe_http_requests_total", method="GET", route=route, status="404") == 1
    )
    assert (
        value(
            found,
            "treeframe_http_request_duration_seconds_count",
            method="GET",
            route=route,
            status="200",
        )
        == 3
    )
    assert value(found, "treeframe_errors_total", code="schema_validation_failed") == 1
    assert value(found, "treeframe_frames_written_total", operation="frame.put") == 2
    assert value(found, "treeframe_writes_total", operation="frame.put", outcome="accepted") == 2
    assert (
        value(
            found,
            "treeframe_storage_operation_duration_seconds_count",
            backend="sqlite",
            operation="append_frame",
        )
        == 2
    )
    assert (
        value(
            found,
            "treeframe_blob_operation_duration_seconds_count",
            store="catalog",
            operation="put",
        )
        == 2
    )
    assert value(found, "treeframe_cache_requests_total", cache="workspace", result="hit") >= 4
    # three GETs of one node: its record was read from the store once, then from the cache
    assert value(found, "treeframe_cache_requests_total", cache="node", result="hit") >= 2
    assert value(found, "treeframe_cache_requests_total", cache="node", result="miss") >= 1
    assert value(found, "treeframe_http_requests_in_flight") == 1  # the scrape itself


@pytest.fixture
def synth_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(
        tmp_path, Settings.model_validate({"agents": {AGENT: {"role": "synthesis"}}})
    )


def test_syntheses_regenerations_and_root_moves_are_counted(synth_env: Env):
    env = synth_env
    env.edit("README.md", "# Project v2\n")  # a root move (scan)
    for path in ("src/app.py", "src/db/models.py", "src/db/pool.py"):  # complete inputs
        assert env.put(path, "summary", f"about {path}").status_code == 201
    synthesized = env.http.post(
        f"{env.base}/synthesize", json={"node": "src", "frame_type": "summary", "recursive": True}
    )
    assert synthesized.status_code == 200, synthesized.text
    assert env.put("src/db/models.py", "summary", "models v2").status_code == 201  # src is stale
    regenerated = env.http.post(f"{env.base}/regenerate", json={"node": "src", "recursive": True})
    assert regenerated.status_code == 200, regenerated.text
    rebuilt = regenerated.json()["regenerated_count"]
    assert rebuilt >= 1, regenerated.text
    found = samples(scrape(env.app).text)
    assert value(found, "treeframe_syntheses_total") == 1
    assert value(found, "treeframe_regenerations_total", dry_run="false") == 1
    assert value(found, "treeframe_frames_regenerated_total") == rebuilt
    assert value(found, "treeframe_roots_committed_total", source="scan") == 1


def test_generations_tokens_and_generated_frames_are_counted(synth_env: Env):
    env = synth_env
    contents = {"src/app.py": base64.b64encode((env.root / "src/app.py").read_bytes()).decode()}
    made = env.http.post(f"{env.base}/generate", json={"node": "src/app.py", "contents": contents})
    assert made.status_code == 200, made.text
    report = made.json()
    assert report["generated"] == 1
    found = samples(scrape(env.app).text)
    assert value(found, "treeframe_generations_total", dry_run="false") == 1
    assert (
        value(found, "treeframe_model_tokens_total", provider="offline", direction="input")
        == report["input_tokens"]
    )
    assert value(found, "treeframe_frames_written_total", operation="frames.generate") == 1


def test_workspace_gauges_are_recounted_after_writes_not_at_scrape(env: Env):
    gauges = env.app.state.gauges
    gauges.start()
    try:
        assert env.put("src/app.py", "note", "about the app").status_code == 201
        assert env.put("README.md", "note", "about the readme").status_code == 201
        gauges.refresh_now()
        found = samples(scrape(env.app).text)
        nodes, frames = env.store.workspace_counts(env.ws)
        assert value(found, "treeframe_workspace_nodes", workspace="routes") == nodes
        assert value(found, "treeframe_workspace_frames", workspace="routes") == frames == 2
        assert value(found, "treeframe_stale_frame_ratio", workspace="routes") == 0.0
        assert value(found, "treeframe_workspaces") == 1
        env.edit("src/app.py", "# App v2\n")  # the note on the old app.py is now stale
        before = value(
            samples(scrape(env.app).text), "treeframe_stale_frame_ratio", workspace="routes"
        )
        assert before == 0.0  # a scrape recounts nothing
        gauges.refresh_now()
        after = samples(scrape(env.app).text)
        assert value(after, "treeframe_stale_frame_ratio", workspace="routes") == 0.5
    finally:
        gauges.stop()


def test_labels_stay_bounded_under_many_distinct_ids(env: Env):
    paths = ["README.md", "src/app.py", "src/db/models.py", "src/db/pool.py", "docs/guide.md"]
    for round_ in range(20):
        for path in paths:
            env.put(path, f"t{round_ % 3}", f"text {round_} {path}")
            env.http.get(f"{env.base}/nodes/{env.node_id(path)}")
        env.http.get(f"{env.base}/frames/{round_:064x}")
        env.http.get(f"/v1/no/such/{round_}/path")
        env.http.get(
            f"{env.base}/nodes/{env.node_id('src')}", headers={"X-Request-ID": f"req-{round_}"}
        )
    text = scrape(env.app).text
    series = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series += 1
            for label, val in sample.labels.items():
                assert not HEX_ID.search(val), (sample.name, label, val)
                assert not val.startswith(("req-", "/v1/no/")), (sample.name, label, val)
    assert series < 2000


def test_a_streamed_export_leaves_its_queue_gauge_at_zero(env: Env):
    assert env.put("src/app.py", "note", "exported").status_code == 201
    archive = env.http.get(f"{env.base}/export")
    assert archive.status_code == 200
    assert len(archive.content) > 1000
    found = samples(scrape(env.app).text)
    assert ("treeframe_queue_depth", (("queue", "export_chunks"),)) in found
    assert value(found, "treeframe_queue_depth", queue="export_chunks") == 0
    assert (
        value(
            found,
            "treeframe_http_requests_total",
            method="GET",
            route="/v1/workspaces/{ws}/export",
            status="200",
        )
        == 1
    )


def test_deferred_aggregated_values_expose_what_direct_observation_would():
    deferred, direct = Metrics("sqlite", "catalog"), Metrics("sqlite", "catalog")
    rng = random.Random(7)
    values = [rng.random() ** 3 for _ in range(3000)] + [0.0001, 0.00025, 2.5, 100.0, 0.0]
    for seconds in values:
        deferred.observe_storage("get_nodes", seconds)
        direct.storage_seconds.labels("sqlite", "get_nodes").observe(seconds)
        deferred.later(deferred.in_flight.inc, 1)
        deferred.later(deferred.in_flight.dec, 1)
        deferred.cache_result("workspace", seconds > 0.5)
        direct.cache.labels("workspace", "hit" if seconds > 0.5 else "miss").inc()
    deferred.later(deferred.queue_depth.labels("threadpool").set, 5)
    deferred.later(deferred.queue_depth.labels("threadpool").set, 3)
    direct.queue_depth.labels("threadpool").set(3)
    got, want = samples(deferred.exposition().decode()), samples(direct.exposition().decode())
    got = {k: v for k, v in got.items() if not k[0].endswith("_created")}
    want = {k: v for k, v in want.items() if not k[0].endswith("_created")}
    assert got.keys() == want.keys()
    for key, expected in want.items():
        assert got[key] == pytest.approx(expected, rel=1e-9, abs=1e-12), key
