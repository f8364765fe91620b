"""JobStore on a real directory: instance IDs, atomic records, expiry, the bound, abandoned jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from treeframe.api.jobs import STALE_AFTER, JobStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def record(jobs: JobStore, clock: Clock, state: str = "succeeded", **extra: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_id": jobs.new_id(),
        "state": state,
        "pid": os.getpid(),
        "heartbeat": clock.now,
        "request_id": "r",
        "finished": None if state == "running" else clock.now,
        "finished_at": None,
        **extra,
    }
    jobs.write(job)
    return job


def test_every_store_over_one_directory_names_the_same_instance(tmp_path: Path) -> None:
    first = JobStore(tmp_path / "jobs", ttl_seconds=60, max_jobs=10)
    second = JobStore(tmp_path / "jobs", ttl_seconds=60, max_jobs=10)
    assert first.instance == second.instance
    assert len(first.instance) == 8
    assert first.new_id()[:8] == first.instance
    assert len(first.new_id()) == 32
    assert first.new_id() != first.new_id()


def test_finished_jobs_expire_and_at_most_max_jobs_are_kept(tmp_path: Path) -> None:
    clock = Clock()
    jobs = JobStore(tmp_path, ttl_seconds=60, max_jobs=2, clock=clock)
    old = record(jobs, clock)
    clock.now += 61
    assert jobs.read(old["job_id"]) is None  # expired: unreadable at once
    kept = []
    for _ in range(3):
        clock.now += 1  # finished one after the other: the first is the oldest
        kept.append(record(jobs, clock))
    clock.now += 1
    running = record(jobs, clock, state="running")
    jobs.prune()
    assert not jobs.path(old["job_id"]).exists()
    assert not jobs.path(kept[0]["job_id"]).exists()  # the oldest finished one past the bound
    assert all(jobs.read(j["job_id"]) is not None for j in (*kept[1:], running))


def test_a_running_job_of_a_dead_process_or_a_stale_heartbeat_reads_failed(
    tmp_path: Path,
) -> None:
    clock = Clock()
    jobs = JobStore(tmp_path, ttl_seconds=60, max_jobs=10, clock=clock)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    gone = record(jobs, clock, state="running", pid=int(dead.stdout))
    alive = record(jobs, clock, state="running")
    assert jobs.read(alive["job_id"])["state"] == "running"  # type: ignore[index]
    failed = jobs.read(gone["job_id"])
    assert failed is not None
    assert (failed["state"], failed["error"]["code"]) == ("failed", "job_interrupted")
    assert jobs.read(gone["job_id"])["state"] == "failed"  # type: ignore[index]  # recorded
    clock.now += STALE_AFTER + 1
    stale = jobs.read(alive["job_id"])
    assert stale is not None
    assert stale["state"] == "failed"
