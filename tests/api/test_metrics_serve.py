"""``treeframe serve`` and its metrics storage: in memory for one worker, files for several."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from tests.api.conftest import free_port, make_store, start_server, stop_server


def metrics_dirs(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"treeframe-metrics-{pid}-*"))


def test_one_worker_keeps_metrics_in_memory_and_leaves_no_directory(tmp_path: Path):
    server = start_server(tmp_path, make_store(tmp_path / "store.db"), app=None)
    try:
        assert metrics_dirs(server.process.pid) == []
        scraped = httpx.get(f"{server.url}/v1/metrics", timeout=10)
        assert scraped.status_code == 200
        assert (
            'treeframe_http_requests_total{method="GET",route="/v1/health/live",status="200"}'
            in scraped.text
        )
    finally:
        stop_server(server)
    assert metrics_dirs(server.process.pid) == []


def test_several_workers_share_a_directory_removed_when_the_server_stops(tmp_path: Path):
    server = start_server(
        tmp_path,
        make_store(tmp_path / "store.db"),
        app=None,
        port=free_port(),
        args=["--workers", "2"],
    )
    try:
        assert len(metrics_dirs(server.process.pid)) == 1
    finally:
        stop_server(server)
    assert metrics_dirs(server.process.pid) == []
