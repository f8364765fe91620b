"""Observability end to end: a real ``treeframe serve --workers 2`` on PostgreSQL under load.

On a private PostgreSQL cluster (tests/pgcluster.py), after a push, frame
puts (with a canary content), a synthesis, an edit and a second push, and a
regeneration, all with real tokens: the merged metrics of both workers show
the load (and carry no IDs in labels), the JSON log alone reconstructs why
each regenerated frame was rebuilt (which request wrote the frame it
replaced, which push moved the root, which request regenerated), no token,
metrics secret or frame content appears anywhere in the log, and readiness
follows the database down and up while liveness and metrics keep answering.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import REPO, Server, free_port, start_server, stop_server
from tests.pgcluster import PgCluster
from treeframe.api.observe.metrics import FLUSH_SECONDS
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
from treeframe.engine.workspaces import WorkspaceService
from treeframe.hashing.ids import workspace_id
from treeframe.storage.registry import open_store

METRICS_SECRET = f"metrics-{uuid.uuid4().hex}"
CANARY = f"CANARY-{uuid.uuid4().hex}"
HEX_ID = re.compile(r"[0-9a-f]{16,}")
TREE = {
    "README.md": "hello\n",
    "src/app.py": "print('app')\n",
    "src/db/models.py": "class User: ...\n",
    "src/db/pool.py": "POOL = None\n",
}


READY_TIMEOUT_MS = 1000


@pytest.fixture
def setup(tmp_path: Path, pg_cluster: PgCluster) -> Iterator[tuple[Server, str, Path, PgCluster]]:
    url = pg_cluster.create_database("tf_observe")
    with open_store(url, create=True) as store:
        access = AccessService(WorkspaceService(store))
        access.create_workspace("obs", actor=LOCAL_OWNER, owner="alice")
        token = access.create_token(
            actor=LOCAL_OWNER,
            agent_id="alice",
            permissions=parse_permissions("read,write,synthesize,admin"),
            scope=workspace_id("obs"),
        ).token
    server = start_server(
        tmp_path,
        tmp_path / "unused.db",
        store_url=url,
        app=None,
        port=free_port(),
        args=["--workers", "2"],
        env={
            "TREEFRAME_METRICS__TOKEN": METRICS_SECRET,
            "TREEFRAME_LOG__FORMAT": "json",
            "TREEFRAME_SERVER__READY_TIMEOUT_MS": str(READY_TIMEOUT_MS),
        },
    )
    try:
        yield server, token, tmp_path, pg_cluster
    finally:
        stop_server(server)


def push(server: Server, token: str, tree: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "treeframe",
            "push",
            "--server",
            server.url,
            "--token",
            token,
            "--workspace",
            "obs",
            "--quiet",
            str(tree),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tree.parent,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr


def records(server: Server, until: str) -> list[dict[str, Any]]:
    """The JSON lines of the log, once the request ``until`` has its line (logs are written
    by a thread of their own, a moment after the response)."""
    deadline = time.monotonic() + 10
    while True:
        out = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        if any(r.get("request_id") == until and r.get("event") == "request" for r in out):
            return out
        assert time.monotonic() < deadline, f"no request line for {until}:\n{server.log()}"
        time.sleep(0.05)


def test_load_then_metrics_logs_and_health_tell_the_truth(
    setup: tuple[Server, str, Path, PgCluster],
) -> None:
    server, token, tmp, cluster = setup
    ws = workspace_id("obs")
    base = f"/v1/workspaces/{ws}"
    tree = tmp / "tree"
    for rel, text in TREE.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    push(server, token, tree)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as http:
        assert http.put(f"{base}/agents/alice", json={"role": "synthesis"}).status_code == 200
        put_ids = {}
        for rel in ("src/app.py", "src/db/models.py", "src/db/pool.py"):
            answer = http.post(
                f"{base}/frames",
                json={
                    "node_id": rel,
                    "frame": {"frame_type": "summary", "content": f"{CANARY} {rel}"},
                },
                headers={"X-Request-ID": f"put-{rel.replace('/', '.')}"},
            )
            assert answer.status_code == 201, answer.text
            put_ids[rel] = answer.json()["frame_id"]
        synth = http.post(
            f"{base}/synthesize",
            json={"node": "src", "frame_type": "summary", "recursive": True},
            headers={"X-Request-ID": "synth-1"},
        )
        assert synth.status_code == 200, synth.text
        synthesized = {f["frame_id"] for f in synth.json()["frames"]}
        for _ in range(40):  # read load, spread over both workers
            assert http.get(f"{base}/nodes/by-path", params={"path": "src"}).status_code == 200
        assert http.get(f"{base}/nodes/{'0' * 64}").status_code == 404
        # An edit outside the synthesized inputs moves the root; a new input makes src stale.
        (tree / "README.md").write_text("hello again\n")
        push(server, token, tree)
        assert (
            http.post(
                f"{base}/frames",
                json={
                    "node_id": "src/db/models.py",
                    "frame": {"frame_type": "summary", "content": f"{CANARY} v2"},
                },
                headers={"X-Request-ID": "put-models-v2"},
            ).status_code
            == 201
        )
        regen = http.post(
            f"{base}/regenerate",
            json={"node": "src", "recursive": True},
            headers={"X-Request-ID": "regen-1"},
        )
        assert regen.status_code == 200, regen.text
        rebuilt = set(regen.json()["frame_ids"])
        assert len(rebuilt) == 2  # src/db and src
        # The worker that does not answer the scrape flushes its values within FLUSH_SECONDS.
        time.sleep(FLUSH_SECONDS + 0.5)
        scraped = httpx.get(
            f"{server.url}/v1/metrics", headers={"Authorization": f"Bearer {METRICS_SECRET}"}
        )
        assert httpx.get(f"{server.url}/v1/metrics", headers=auth).status_code == 401
    assert scraped.status_code == 200

    # -- metrics: both workers' counts, merged -------------------------------------
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(scraped.text):
        for sample in family.samples:
            for label, val in sample.labels.items():
                assert not HEX_ID.search(val), (sample.name, label, val)
                assert not val.startswith(("put-", "synth-", "regen-")), (sample.name, val)
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def total(name: str, **labels: str) -> float:
        return sum(
            v
            for (n, ls), v in values.items()
            if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
        )

    by_path = "/v1/workspaces/{ws}/nodes/by-path"
    assert total("treeframe_http_requests_total", route=by_path, status="200") == 40
    assert total("treeframe_http_request_duration_seconds_count", route=by_path) == 40
    assert total("treeframe_errors_total", code="node_not_found") == 1
    assert total("treeframe_frames_written_total", operation="frame.put") == 4
    assert total("treeframe_frames_written_total", operation="branch.synthesize") == 2
    assert total("treeframe_frames_written_total", operation="frames.regenerate") == 2
    assert total("treeframe_writes_total", operation="tree.push", outcome="accepted") >= 2
    assert total("treeframe_roots_committed_total", source="push") == 2
    assert total("treeframe_syntheses_total") == 1
    assert total("treeframe_regenerations_total", dry_run="false") == 1
    assert total("treeframe_storage_operation_duration_seconds_count", backend="postgresql") > 100
    assert (
        total("treeframe_blob_operation_duration_seconds_count", operation="put") == 8
    )  # every frame written

    # -- logs: the regeneration's causal chain from the log alone -------------------
    lines = records(server, until="regen-1")
    text = server.log()
    assert CANARY not in text
    assert token not in text
    assert token.rsplit("_", 1)[1] not in text  # not even the secret part
    assert METRICS_SECRET not in text
    requests = {r["request_id"]: r for r in lines if r.get("event") == "request"}
    regen_line = requests["regen-1"]
    assert regen_line["route"] == "/v1/workspaces/{ws}/regenerate"
    assert regen_line["status"] == 200
    assert regen_line["agent"] == "alice"
    assert regen_line["workspace"] == ws
    assert isinstance(regen_line["duration_ms"], float)
    assert requests["put-src.app.py"]["status"] == 201
    regenerated = [r for r in lines if r.get("event") == "frame.regenerated"]
    assert {r["frame"] for r in regenerated} == rebuilt
    assert {r["request_id"] for r in regenerated} == {"regen-1"}
    summary = next(r for r in lines if r.get("event") == "regeneration")
    assert summary["request_id"] == "regen-1"
    assert summary["regenerated"] == 2
    writes = [r for r in lines if r.get("event") == "frames.regenerate" and r.get("frame")]
    assert {w["frame"] for w in writes} == rebuilt
    assert {w["request_id"] for w in writes} == {"regen-1"}
    # Each rebuilt frame replaced one the synthesis request wrote...
    replaced = {r["replaced"] for r in regenerated}
    synth_writes = {
        r["frame"]: r["request_id"] for r in lines if r.get("event") == "branch.synthesize"
    }
    assert replaced <= set(synth_writes)
    assert replaced <= synthesized
    assert {synth_writes[f] for f in replaced} == {"synth-1"}
    # ...at the root the second push committed, and the new input came from put-models-v2.
    pushes = [r for r in lines if r.get("event") == "push"]
    assert len(pushes) == 2
    assert summary["root"] == pushes[1]["root"]
    assert pushes[1]["previous_root"] == pushes[0]["root"]
    assert requests[pushes[1]["request_id"]]["route"] == "/v1/workspaces/{ws}/push/commit"
    new_input = next(
        r for r in lines if r.get("event") == "frame.put" and r.get("request_id") == "put-models-v2"
    )
    assert new_input["agent"] == "alice"
    assert new_input["audit_seq"] < min(w["audit_seq"] for w in writes)

    # -- health: ready follows PostgreSQL down and up; live and metrics never stop ------
    metrics_auth = {"Authorization": f"Bearer {METRICS_SECRET}"}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert wait_ready(http, 200).json()["checks"]["store"]["ok"] is True
        cluster.stop("fast")
        down = wait_ready(http, 503)
        assert down.json()["error"]["checks"]["store"]["ok"] is False
        assert http.get("/v1/health/live").status_code == 200
        during = http.get("/v1/metrics", headers=metrics_auth)
        assert during.status_code == 200  # scraping needs no store
        assert (
            http.get(f"{base}/nodes/by-path", params={"path": "src"}, headers=auth).status_code
            == 503
        )
        cluster.start()
        assert wait_ready(http, 200, deadline=60).status_code == 200
        back = http.get(f"{base}/nodes/by-path", params={"path": "src"}, headers=auth)
        assert back.status_code == 200, back.text
        time.sleep(FLUSH_SECONDS + 0.5)
        after = http.get("/v1/metrics", headers=metrics_auth).text
    assert 'treeframe_errors_total{code="backend_unavailable"}' in after
    ready_lines = [
        r["status"]
        for r in records(server, until=back.headers["x-request-id"])
        if r.get("event") == "request" and r.get("route") == "/v1/health/ready"
    ]
    assert 503 in ready_lines
    assert ready_lines[-1] == 200


def wait_ready(http: httpx.Client, want: int, deadline: float = 20) -> httpx.Response:
    """GET ready until it answers ``want`` (each answer bounded by the server's timeout)."""
    started = time.monotonic()
    while True:
        answer = http.get("/v1/health/ready")
        if answer.status_code == want:
            return answer
        assert time.monotonic() - started < deadline, answer.text
        time.sleep(0.2)
