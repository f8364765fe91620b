"""Long requests as jobs over a real ``treeframe serve --workers 2``: 202, polling, errors, access, death.

The server runs the real app plus one gated probe route (tests/api/jobs_app.py)
over a real SQLite store holding the snapshot sample workspace, with its job
records in a directory the test can read (``server.jobs_dir``).
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server, free_port, issue_token, make_store, start_server, stop_server
from tests.snapshot.workspaces import NAME, WS, populate
from treeframe.engine.access import LOCAL_OWNER, AccessService, parse_permissions
from treeframe.engine.workspaces import WorkspaceService
from treeframe.snapshot.export import export_snapshot
from treeframe.storage.registry import open_store, sqlite_url

ASYNC = {"Prefer": "respond-async"}
JOBS_APP = "tests.api.jobs_app:jobs_app"


@dataclass
class World:
    server: Server
    jobs_dir: Path
    tmp: Path
    alice: str  # owns the sample workspace
    mallory: str  # every permission, in her own workspace only
    importer: str  # all workspaces, admin
    reader: str  # rita: read in the sample workspace
    archive: bytes

    def headers(self, token: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", **extra}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("jobs")
    path = make_store(tmp / "store.db")
    with open_store(sqlite_url(path), create=False) as store:
        populate(store)
        out = io.BytesIO()
        export_snapshot(store, WS, out)
    tokens = {
        "alice": issue_token(path, NAME, "alice"),
        "mallory": issue_token(path, "mallory-own", "mallory"),
        "importer": issue_token(path, None, "importer", scope="all"),
        "reader": issue_token(path, NAME, "rita", "read"),
    }
    with open_store(sqlite_url(path), create=False) as store:
        access = AccessService(WorkspaceService(store))
        access.grant(WS, "rita", parse_permissions("read"), actor=LOCAL_OWNER)
    jobs_dir = tmp / "jobs"
    running = start_server(
        tmp,
        path,
        args=["--workers", "2"],
        port=free_port(),
        app=JOBS_APP,
        env={"TREEFRAME_SERVER__JOBS_DIR": str(jobs_dir)},
    )
    try:
        yield World(running, jobs_dir, tmp, archive=out.getvalue(), **tokens)
    finally:
        stop_server(running)


@pytest.fixture
def http(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.server.url, timeout=30) as client:
        yield client


def poll(http: httpx.Client, location: str, token: str, timeout: float = 30) -> dict[str, Any]:
    """The job's status once it is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get(location, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["state"] != "running" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def started(answer: httpx.Response) -> str:
    """The Location of a 202 job answer, after checking its shape."""
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["state"] == "running"
    assert answer.headers["location"] == f"/v1/jobs/{body['job_id']}"
    assert answer.headers["preference-applied"] == "respond-async"
    assert (body["api_version"], body["schema_version"]) == ("1", "1")
    return answer.headers["location"]


def without_duration(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "duration_ms"}


def test_an_async_regenerate_reaches_the_synchronous_answer(
    http: httpx.Client, world: World
) -> None:
    url = f"/v1/workspaces/{WS}/regenerate"
    body = {"node": "", "recursive": True, "dry_run": True}
    sync = http.post(url, json=body, headers=world.headers(world.alice))
    assert sync.status_code == 200, sync.text
    assert "location" not in sync.headers  # without the header: exactly as before
    answer = http.post(url, json=body, headers=world.headers(world.alice, **ASYNC))
    job = poll(http, started(answer), world.alice)
    assert job["state"] == "succeeded", job
    assert (job["operation"], job["workspace"]) == ("frames.regenerate", WS)
    assert job["finished_at"] is not None
    assert job["error"] is None
    assert without_duration(job["result"]) == without_duration(sync.json())
    phases = {p["phase"]: p for p in job["progress"]}
    assert set(phases) == {"nodes", "frames"}
    assert all(p["done"] == p["total"] for p in phases.values())
    assert phases["frames"]["done"] == sync.json()["regenerated_count"]


def test_an_async_import_reaches_the_synchronous_answer(http: httpx.Client, world: World) -> None:
    def post(name: str, **headers: str) -> httpx.Response:
        return http.post(
            "/v1/workspaces/import",
            content=world.archive,
            params={"workspace": name},
            headers=world.headers(
                world.importer, **{"Content-Type": "application/octet-stream", **headers}
            ),
        )

    sync = post("imported-sync")
    assert sync.status_code == 201, sync.text
    job = poll(http, started(post("imported-async", **ASYNC)), world.importer)
    assert job["state"] == "succeeded", job
    assert job["operation"] == "workspace.import"
    same = {"workspace", "workspace_id"}
    assert {k: v for k, v in job["result"].items() if k not in same} == {
        k: v for k, v in sync.json().items() if k not in same
    }
    assert job["result"]["workspace"] == "imported-async"
    size = len(world.archive)
    assert job["progress"] == [
        {"phase": "verify_bytes", "done": size, "total": size},
        {"phase": "import_bytes", "done": size, "total": size},
    ]
    # Its workspace exists now: alice, who cannot read it, does not see the job.
    other = http.get(f"/v1/jobs/{job['job_id']}", headers=world.headers(world.alice))
    assert other.status_code == 404
    # A refused import is refused before any job starts: no 202.
    refused = http.post(
        "/v1/workspaces/import",
        content=world.archive,
        params={"workspace": "imported-async"},
        headers=world.headers(world.mallory, **ASYNC),
    )
    assert refused.status_code == 409, refused.text  # a name she holds nothing in


def test_a_failed_job_carries_the_error_object(http: httpx.Client, world: World) -> None:
    url = f"/v1/workspaces/{WS}/regenerate"
    body = {"node": "no/such/path", "recursive": True}
    sync = http.post(url, json=body, headers=world.headers(world.alice))
    assert sync.status_code == 404
    answer = http.post(url, json=body, headers=world.headers(world.alice, **ASYNC))
    job = poll(http, started(answer), world.alice)
    assert job["state"] == "failed"
    assert job["result"] is None
    error = job["error"]
    assert error["request_id"] == answer.headers["x-request-id"]
    expected = sync.json()["error"]
    assert {k: v for k, v in error.items() if k != "request_id"} == {
        k: v for k, v in expected.items() if k != "request_id"
    }


def test_a_refused_caller_gets_no_job(http: httpx.Client, world: World) -> None:
    answer = http.post(
        f"/v1/workspaces/{WS}/regenerate",
        json={"node": "", "recursive": True},
        headers=world.headers(world.reader, **ASYNC),
    )
    assert answer.status_code == 403  # refused before a job starts
    assert answer.json()["error"]["code"] == "access_denied"


def blanked(answer: httpx.Response, job_id: str) -> tuple[int, str]:
    text = answer.text.replace(answer.headers["x-request-id"], "<rid>").replace(job_id, "<job>")
    return answer.status_code, text


def test_another_agents_token_gets_the_404_of_an_unknown_job(
    http: httpx.Client, world: World
) -> None:
    answer = http.post(
        f"/v1/workspaces/{WS}/regenerate",
        json={"node": "", "dry_run": True},
        headers=world.headers(world.alice, **ASYNC),
    )
    location = started(answer)
    job_id = location.rsplit("/", 1)[1]
    poll(http, location, world.alice)
    theirs = http.get(location, headers=world.headers(world.mallory))
    unknown_id = job_id[:8] + "0" * 24
    unknown = http.get(f"/v1/jobs/{unknown_id}", headers=world.headers(world.mallory))
    assert theirs.json()["error"]["code"] == "job_not_found"
    assert blanked(theirs, job_id) == blanked(unknown, unknown_id)
    assert http.get(location).status_code == 401  # and no token at all: who are you


@pytest.mark.parametrize("bad", ["xyz", "A" * 32, "0" * 31, "0" * 33])
def test_a_malformed_job_id_is_invalid_request(http: httpx.Client, world: World, bad: str) -> None:
    answer = http.get(f"/v1/jobs/{bad}", headers=world.headers(world.alice))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"


def test_a_job_of_another_instance_is_not_found_saying_so(http: httpx.Client, world: World) -> None:
    # Any status request makes the directory's instance file (this test may run first).
    http.get(f"/v1/jobs/{'f' * 32}", headers=world.headers(world.alice))
    instance = (world.jobs_dir / "instance").read_text().strip()
    other = ("0" if instance[0] != "0" else "1") + instance[1:] + "0" * 24
    answer = http.get(f"/v1/jobs/{other}", headers=world.headers(world.alice))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "job_not_found"
    assert "another" in answer.json()["error"]["message"]


def gated(http: httpx.Client, world: World, gate: Path) -> str:
    answer = http.post(
        f"/v1/workspaces/{WS}/probe/gated",
        params={"gate": str(gate)},
        headers=world.headers(world.alice, **ASYNC),
    )
    return started(answer)


def test_status_requests_reach_either_worker_and_see_the_progress(
    world: World,
) -> None:
    gate = world.tmp / "gate-progress"
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        location = gated(http, world, gate)
    served: set[str] = set()
    moving: list[int] = []
    deadline = time.monotonic() + 20
    while len(served) < 2 and time.monotonic() < deadline:
        # A new connection each time, so the kernel may hand it to either worker.
        with httpx.Client(base_url=world.server.url, timeout=30) as fresh:
            answer = fresh.get(location, headers=world.headers(world.alice))
        assert answer.status_code == 200, answer.text
        served.add(answer.headers["x-served-by"])
        body = answer.json()
        assert body["state"] == "running"
        moving += [p["done"] for p in body["progress"] if p["phase"] == "ticks"]
    assert len(served) == 2, "every status request reached the same worker"
    gate.touch()
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        job = poll(http, location, world.alice)
    assert job["state"] == "succeeded"
    ticks = job["result"]["ticks"]
    assert job["progress"] == [{"phase": "ticks", "done": ticks, "total": ticks}]
    assert moving == sorted(moving)


def test_a_job_whose_worker_was_killed_turns_failed(world: World) -> None:
    gate = world.tmp / "gate-killed"
    with httpx.Client(base_url=world.server.url, timeout=30) as http:
        location = gated(http, world, gate)
    job_id = location.rsplit("/", 1)[1]
    record = json.loads((world.jobs_dir / f"{job_id}.json").read_text())
    assert record["pid"] != world.server.process.pid  # a worker, not the supervisor
    os.kill(record["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while True:
        # New connections: the killed worker's are gone; the supervisor starts a new one.
        try:
            with httpx.Client(base_url=world.server.url, timeout=30) as fresh:
                job = fresh.get(location, headers=world.headers(world.alice)).json()
        except httpx.TransportError:
            job = {"state": "running"}
        if job["state"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    gate.touch()
    assert job["state"] == "failed", job
    assert job["error"]["code"] == "job_interrupted"
    assert job["error"]["error_type"] == "JobInterrupted"
    assert job["finished_at"] is not None
