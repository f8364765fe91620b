"""Long requests as background jobs: ``Prefer: respond-async`` → 202 and ``GET /v1/jobs/{id}``.

A route wraps its work in :func:`run_as_job`. Without the header the work
runs as it always did and its result is the response. With it, the work
runs in a worker thread whose progress callback is a
:class:`~treeframe.observability.progress.ProgressTracker`, and the route
answers 202 with the :class:`~treeframe.wire.jobs.Job` and
``Location: /v1/jobs/{job_id}``.

Job records are small JSON files in one directory (``server.jobs_dir``)
that every worker process of a ``treeframe serve --workers N`` shares, so a
status request may reach any worker. Each is replaced atomically (written to
a temporary file, then renamed) at most every :data:`WRITE_INTERVAL`
seconds while the job runs, and at least every :data:`HEARTBEAT` seconds
(the heartbeat). A running record names its process: a status request that
finds the process gone (or a heartbeat older than :data:`STALE_AFTER`)
reports the job ``failed`` with ``job_interrupted`` and records that. The
directory's ``instance`` file names the server instance; the first 8 hex
digits of a job ID are it, so a job polled on another instance is a clear
``job_not_found``. Finished records expire after ``server.job_ttl_seconds``,
and at most ``server.max_jobs`` are kept (oldest removed first).

A job is shown only to a caller who may read its workspace now (the same
404 as an unknown job otherwise, so nothing leaks); a job whose workspace
does not exist (an import creating it, one that failed) only to the agent
that started it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from treeframe.api.caching import NO_CACHE
from treeframe.api.deps import Authenticated, Identity, Service, resolve_principal
from treeframe.api.errors import ERROR_RESPONSES, envelope, request_id_of
from treeframe.config.settings import Settings
from treeframe.engine.principal import Permission
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import (
    InvalidRequest,
    JobInterrupted,
    JobNotFound,
    TreeframeError,
    WorkspaceNotFound,
)
from treeframe.ids import WorkspaceId
from treeframe.observability.progress import ProgressFn, ProgressTracker
from treeframe.processes import process_alive
from treeframe.wire.jobs import Job

__all__ = [
    "HEARTBEAT",
    "JOB_RESPONSES",
    "STALE_AFTER",
    "WRITE_INTERVAL",
    "JobStore",
    "router",
    "run_as_job",
    "wants_async",
]

WRITE_INTERVAL = 0.2
"""Least seconds between two writes of a running job's record (progress: at most 5 writes/s)."""

HEARTBEAT = 1.0
"""Most seconds between two writes of a running job's record, progress or not."""

STALE_AFTER = 10.0
"""A running record whose heartbeat is older than this is a job whose process died."""

JOB_ID = re.compile(r"[0-9a-f]{32}")
_INSTANCE_FILE = "instance"

JOB_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": Job,
        "description": "With `Prefer: respond-async`: the job started; poll its `Location`.",
        "headers": {"Location": {"description": "/v1/jobs/{job_id}", "schema": {"type": "string"}}},
    }
}
"""OpenAPI ``responses`` of a route that :func:`run_as_job` wraps."""

T = TypeVar("T", bound=BaseModel)
_log = logging.getLogger("treeframe.api.jobs")


def _write_json(path: Path, record: dict[str, Any]) -> None:
    """Replace ``path`` atomically: readers see the old record or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out, separators=(",", ":"), default=str)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class JobStore:
    """The job records of one server instance: a directory its worker processes share.

    ``directory`` None makes a private temporary one on first use (one
    process: tests, ``serve`` with one worker), removed by :meth:`close`.
    """

    def __init__(
        self,
        directory: Path | None,
        *,
        ttl_seconds: float,
        max_jobs: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._private: tempfile.TemporaryDirectory[str] | None = None
        self._instance: str | None = None
        self._lock = threading.Lock()
        self.ttl_seconds = ttl_seconds
        self.max_jobs = max_jobs
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        """The store ``server.jobs_dir`` (and the TTL and bound) name."""
        server = settings.server
        directory = Path(server.jobs_dir) if server.jobs_dir is not None else None
        return cls(directory, ttl_seconds=server.job_ttl_seconds, max_jobs=server.max_jobs)

    @property
    def directory(self) -> Path:
        """The records' directory (created, with its instance file, on first use)."""
        with self._lock:
            if self._directory is None:
                # The pid in the name lets the next ``serve`` remove it if this one is killed.
                prefix = f"treeframe-jobs-{os.getpid()}-"
                self._private = tempfile.TemporaryDirectory(prefix=prefix)
                self._directory = Path(self._private.name)
            self._directory.mkdir(parents=True, exist_ok=True)
            return self._directory

    @property
    def instance(self) -> str:
        """8 hex digits naming this server instance (every worker reads the same file)."""
        if self._instance is None:
            path = self.directory / _INSTANCE_FILE
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write(secrets.token_hex(4))
            for _ in range(100):  # another worker may be writing it this instant
                text = path.read_text(encoding="ascii").strip()
                if re.fullmatch(r"[0-9a-f]{8}", text):
                    self._instance = text
                    break
                time.sleep(0.01)
            else:
                raise TreeframeError(f"the jobs directory's instance file {path} is damaged")
        return self._instance

    def close(self) -> None:
        """Remove a private directory (a configured one is the operator's)."""
        if self._private is not None:
            self._private.cleanup()

    def path(self, job_id: str) -> Path:
        """Where the record of ``job_id`` lives."""
        return self.directory / f"{job_id}.json"

    def new_id(self) -> str:
        """A fresh job ID: this instance's 8 hex digits, then 24 random ones."""
        return self.instance + secrets.token_hex(12)

    def write(self, record: dict[str, Any]) -> None:
        """Replace the record atomically."""
        _write_json(self.path(record["job_id"]), record)

    def read(self, job_id: str) -> dict[str, Any] | None:
        """The record of ``job_id`` (a running one whose process died: failed, and so recorded)."""
        try:
            record: dict[str, Any] = json.loads(self.path(job_id).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        if record["state"] == "running" and self._abandoned(record):
            exc = JobInterrupted(
                f"the server process running job {job_id} stopped before it finished "
                "(its outcome is unknown: check, then run the request again)"
            )
            record.update(
                state="failed",
                finished=self.clock(),
                finished_at=_iso(self.clock()),
                error=envelope(exc, record["request_id"])["error"],
            )
            with contextlib.suppress(OSError):
                self.write(record)
        if record["state"] != "running" and self.clock() - record["finished"] > self.ttl_seconds:
            return None
        return record

    def _abandoned(self, record: dict[str, Any]) -> bool:
        if self.clock() - float(record["heartbeat"]) > STALE_AFTER:
            return True
        return int(record["pid"]) != os.getpid() and not process_alive(int(record["pid"]))

    def prune(self) -> None:
        """Drop expired finished records, then the oldest finished ones past ``max_jobs``."""
        finished: list[tuple[float, Path]] = []
        now = self.clock()
        for path in self.directory.glob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if record.get("state") == "running":
                continue
            if now - float(record.get("finished", 0)) > self.ttl_seconds:
                with contextlib.suppress(OSError):
                    path.unlink()
            else:
                finished.append((float(record.get("finished", 0)), path))
        finished.sort()
        for _, path in finished[: max(0, len(finished) - self.max_jobs)]:
            with contextlib.suppress(OSError):
                path.unlink()


def _iso(seconds: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}Z"
    )


def wants_async(request: Request) -> bool:
    """Whether the request asked ``Prefer: respond-async`` (RFC 7240; other preferences ignored)."""
    for value in request.headers.getlist("prefer"):
        for preference in value.split(","):
            if preference.split(";", 1)[0].split("=", 1)[0].strip().lower() == "respond-async":
                return True
    return False


class _Run:
    """One job in this process: the work's thread and the writer of its record."""

    def __init__(self, jobs: JobStore, record: dict[str, Any]) -> None:
        self.jobs = jobs
        self.record = record
        self.tracker = ProgressTracker()
        self.done = threading.Event()
        self._written: list[tuple[str, int, int | None]] = []
        self._lock = threading.Lock()

    def flush(self) -> None:
        """Write the record with the tracker's phases and a fresh heartbeat."""
        with self._lock:
            phases = [(p.phase, p.done, p.total) for p in self.tracker.phases()]
            self.record["progress"] = [{"phase": p, "done": d, "total": t} for p, d, t in phases]
            self.record["heartbeat"] = self.jobs.clock()
            self.jobs.write(self.record)
            self._written = phases

    def beat(self) -> None:
        """While the job runs: write on progress (≤ 1/WRITE_INTERVAL per s) or on the heartbeat."""
        last = time.monotonic()
        while not self.done.wait(WRITE_INTERVAL):
            moved = [(p.phase, p.done, p.total) for p in self.tracker.phases()] != self._written
            if moved or time.monotonic() - last >= HEARTBEAT:
                try:
                    self.flush()
                except OSError:
                    _log.exception("cannot write job %s", self.record["job_id"])
                last = time.monotonic()

    def finish(self, result: BaseModel | None, error: dict[str, Any] | None) -> None:
        self.done.set()
        now = self.jobs.clock()
        dumped = result.model_dump(mode="json", by_alias=True) if result is not None else None
        with self._lock:  # the heartbeat thread may be writing the record this instant
            self.record.update(
                state="succeeded" if error is None else "failed",
                finished=now,
                finished_at=_iso(now),
                result=dumped,
                error=error,
            )
        self.flush()


def _job_body(record: dict[str, Any]) -> Job:
    return Job.model_validate(
        {k: record.get(k) for k in Job.model_fields if k not in ("api_version", "schema_version")}
    )


def _agent_of(request: Request) -> str | None:
    """The agent :func:`~treeframe.api.deps.authenticate` found for this request."""
    identity = request.scope.get("state", {}).get("identity")
    return identity.agent_id if isinstance(identity, Identity) else None


async def run_as_job(
    request: Request,
    operation: str,
    ws: WorkspaceId | None,
    fn: Callable[[ProgressFn | None], T],
) -> T | Response:
    """``fn(progress)``'s result, or with ``Prefer: respond-async`` a 202 job running it.

    ``fn`` runs in a thread either way (the thread pool, or the job's own
    thread, with a :class:`ProgressTracker` as ``progress``); its result is
    the route's normal response model, which the job keeps as its ``result``.
    ``ws`` is the workspace the job acts on (it decides who may see the job;
    None: not known yet); the caller who starts it is the request's
    authenticated agent. A
    :class:`TreeframeError` it raises becomes the job's ``error`` (the
    envelope's error object); anything else ``internal_error``.
    """
    if not wants_async(request):
        return await run_in_threadpool(fn, None)
    jobs: JobStore = request.app.state.jobs
    clock = jobs.clock
    await run_in_threadpool(jobs.prune)
    now = clock()
    job_id = jobs.new_id()
    request_id = request_id_of(request)
    record: dict[str, Any] = {
        "job_id": job_id,
        "state": "running",
        "operation": operation,
        "workspace": ws,
        "agent": _agent_of(request),
        "pid": os.getpid(),
        "request_id": request_id,
        "heartbeat": now,
        "started": now,
        "started_at": _iso(now),
        "finished": None,
        "finished_at": None,
        "progress": [],
        "result": None,
        "error": None,
    }
    run = _Run(jobs, record)
    await run_in_threadpool(run.flush)

    def work() -> None:
        beater = threading.Thread(target=run.beat, name=f"treeframe-job-{job_id}-beat", daemon=True)
        beater.start()
        result: BaseModel | None = None
        error: dict[str, Any] | None = None
        try:
            result = fn(run.tracker)
        except TreeframeError as exc:
            error = envelope(exc, request_id)["error"]
        except Exception:
            _log.exception("job %s (%s) failed", job_id, operation)
            error = envelope(TreeframeError("internal error"), request_id)["error"]
        try:
            run.finish(result, error)
        except OSError:
            _log.exception("cannot write job %s", job_id)
        beater.join()

    body = _job_body(record).model_dump(mode="json", by_alias=True)  # before the work moves it
    # The copied context keeps the request's ID for the audit log's entries.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=f"treeframe-job-{job_id}").start()
    return JSONResponse(
        body,
        status_code=202,
        headers={
            "Location": f"/v1/jobs/{job_id}",
            "Preference-Applied": "respond-async",
            "Cache-Control": NO_CACHE,
        },
    )


router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


def _visible(record: dict[str, Any], identity: Identity, service: WorkspaceService) -> bool:
    """Whether the caller may see the job: it may read the job's workspace now, or started it."""
    ws = record.get("workspace")
    if ws is not None:
        try:
            info = service.info(WorkspaceId(ws))
        except WorkspaceNotFound:
            info = None
        if info is not None and info.deleted_at is None:
            try:
                principal = resolve_principal(identity, info, service)
            except WorkspaceNotFound:
                return False
            return Permission.READ in principal.permissions
    # No workspace (yet): an import creating it, or one that failed. Only its starter sees it.
    return record.get("agent") == identity.agent_id and identity.scope in (None, ws)


@router.get("/{job_id}", summary="Where a job started with Prefer: respond-async stands")
def job_status(
    request: Request,
    response: Response,
    identity: Authenticated,
    service: Service,
    job_id: Annotated[str, PathParam(description="The job's ID (32 hex), from its Location.")],
) -> Job:
    """Running, succeeded (with the route's response) or failed (with the error object)."""
    if not JOB_ID.fullmatch(job_id):
        raise InvalidRequest("a job ID is 32 lowercase hex digits")
    jobs: JobStore = request.app.state.jobs
    if job_id[:8] != jobs.instance:
        raise JobNotFound(
            f"no job {job_id} on this server instance: it was started by another one "
            "(jobs stay on the instance that started them; poll the server that answered 202)"
        )
    record = jobs.read(job_id)
    if record is None or not _visible(record, identity, service):
        raise JobNotFound(f"no job {job_id} (it may have expired)")
    response.headers["Cache-Control"] = NO_CACHE
    return _job_body(record)
