"""A real PostgreSQL outage under a running ``treeframe serve``: ready goes 503, then back to 200.

The server runs on a private cluster (tests/pgcluster.py) that the test
stops with ``pg_ctl stop -m fast`` (every connection cut) and starts again:
readiness must name the store check within its timeout, liveness must stay
200 throughout, and after the restart the pool must reconnect on its own so
ready and an ordinary authenticated request work again without a restart.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server, free_port, start_server, stop_server
from tests.pgcluster import PgCluster
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
from treeframe.engine.workspaces import WorkspaceService
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store
from treeframe.testing.factories import workspace_info

READY_TIMEOUT_MS = 1000
OUTAGE_DEADLINE = 20.0  # seconds for ready to notice the outage (a few timeouts)
RECOVERY_DEADLINE = 60.0  # seconds for the pool to reconnect after the restart


def prepare_store(url: str) -> tuple[str, str]:
    """A store with the default workspace and a workspace "team" owned by alice; (ws id, token)."""
    with open_store(url, create=True) as store:
        store.create_workspace(workspace_info(workspace_id("default"), "default"))
        access = AccessService(WorkspaceService(store))
        info, _ = access.create_workspace("team", actor=LOCAL_OWNER, owner="alice")
        issued = access.create_token(
            actor=LOCAL_OWNER,
            agent_id="alice",
            permissions=parse_permissions("read,write"),
            scope=info.workspace_id,
        )
    return info.workspace_id, issued.token


def poll(
    http: httpx.Client, want: int, deadline: float, *, live_ok: bool = True
) -> tuple[httpx.Response, float]:
    """GET ready until it answers ``want``; checks liveness on every round. (answer, seconds)."""
    started = time.monotonic()
    seen: list[Any] = []
    while True:
        # Bounded by the server's own timeout: a ready answer never takes much longer.
        took = time.monotonic()
        response = http.get("/v1/health/ready")
        took = time.monotonic() - took
        assert took < READY_TIMEOUT_MS / 1000 + 2, f"ready took {took:.1f} s"
        if live_ok:
            assert http.get("/v1/health/live").status_code == 200
        if response.status_code == want:
            return response, time.monotonic() - started
        seen.append((response.status_code, response.text[:300]))
        assert time.monotonic() - started < deadline, f"ready never answered {want}: {seen[-3:]}"
        time.sleep(0.2)


def serve(tmp_path: Path, url: str, workers: int) -> Server:
    args = ["--workers", str(workers)] if workers > 1 else []
    return start_server(
        tmp_path,
        tmp_path / "unused.db",
        store_url=url,
        app=None,
        args=args,
        port=free_port() if workers > 1 else 0,
        env={"TREEFRAME_SERVER__READY_TIMEOUT_MS": str(READY_TIMEOUT_MS)},
    )


@pytest.mark.parametrize(
    ("workers", "options"),
    [(1, {"pool_timeout": "0.5"}), (2, {})],
    ids=["one-worker-short-pool-timeout", "two-workers"],
)
def test_ready_follows_a_postgres_outage_and_recovers(
    tmp_path: Path, pg_cluster: PgCluster, workers: int, options: dict[str, str]
):
    pg_cluster.create_database("tf_outage")
    url = pg_cluster.url("tf_outage", **options)
    ws, token = prepare_store(url)
    server = serve(tmp_path, url, workers)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            ok, _ = poll(http, 200, 10)
            assert set(ok.json()["checks"]) == {"store", "blobs"}
            assert http.get(f"/v1/workspaces/{ws}", headers=auth).status_code == 200

            pg_cluster.stop("fast")
            down, noticed = poll(http, 503, OUTAGE_DEADLINE)
            # The very first probe after the stop already fails, in about one timeout.
            assert noticed < READY_TIMEOUT_MS / 1000 + 2, noticed
            error = down.json()["error"]
            assert error["code"] == "backend_unavailable"
            store = error["checks"]["store"]
            assert store["ok"] is False
            assert store["error"].endswith("]")  # the reason, with its code
            assert "store is not ready" in error["message"]
            assert store["duration_ms"] <= READY_TIMEOUT_MS + 500
            if options:  # the pool gives up before the check does: the driver's own reason
                assert "out of reach" in store["error"], store
                assert store["error"].endswith("[backend_unavailable]")
            else:  # the pool waits 5 s for a connection: the check's timeout answers first
                assert f"no answer within {READY_TIMEOUT_MS} ms" in store["error"], store
            # Not ready stays not ready while it is down (and liveness stays 200: poll checks).
            for _ in range(3):
                assert http.get("/v1/health/ready").status_code == 503
                assert http.get("/v1/health/live").status_code == 200

            pg_cluster.start()
            back, _ = poll(http, 200, RECOVERY_DEADLINE)
            assert all(check["ok"] for check in back.json()["checks"].values())
            # Every worker's pool is back, not only the one that answered first.
            for _ in range(4 * workers):
                assert http.get("/v1/health/ready").status_code == 200
                response = http.get(f"/v1/workspaces/{ws}", headers=auth)
                assert response.status_code == 200, response.text
                assert response.json()["name"] == "team"
    finally:
        stop_server(server)


def test_ready_answers_503_within_its_timeout_while_postgres_hangs(
    tmp_path: Path, pg_cluster: PgCluster
):
    # SIGSTOP: every connection stays open and nothing answers, the worst case for a probe.
    url = pg_cluster.create_database("tf_hang")
    prepare_store(url)
    server = serve(tmp_path, url, 1)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            poll(http, 200, 10)
            pg_cluster.freeze()
            try:
                for _ in range(6):  # past the bound of waiting probes too
                    started = time.monotonic()
                    response = http.get("/v1/health/ready")
                    took = time.monotonic() - started
                    assert response.status_code == 503
                    assert took < READY_TIMEOUT_MS / 1000 + 1, took
                    store = response.json()["error"]["checks"]["store"]
                    assert store["ok"] is False
                    assert (
                        f"no answer within {READY_TIMEOUT_MS} ms" in store["error"]
                        or "earlier probes have not returned yet" in store["error"]
                    ), store
                    assert http.get("/v1/health/live").status_code == 200
            finally:
                pg_cluster.thaw()
            poll(http, 200, RECOVERY_DEADLINE)
    finally:
        stop_server(server)
