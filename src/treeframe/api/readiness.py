"""The checks behind ``/v1/health/ready``: each dependency probed for real, concurrently, each bounded.

A check is a blocking function that returns when its dependency answered
and raises a treeframe error when it did not:

* ``store``: a read of the workspace table (``get_workspace``), which fails
  when the store's file is gone or damaged or its server unreachable;
* ``blobs``: :func:`~treeframe.storage.blobs.probe_blobs` of ``store.blobs``:
  a catalog read and, with an external blob store, a listing of its
  directory or a HEAD of its bucket. It never writes into the content namespace;
* ``redis`` (only when ``redis.url`` is set): a PING.

Each runs in a worker thread under its own ``server.ready_timeout_ms``, all
at once, so a hung dependency fails its own check in time and cannot delay
the others' report. A check that timed out leaves its thread waiting on the
dependency; at most :data:`MAX_PENDING_PROBES` threads may wait *per check*
(later probes fail that check at once without starting another), so a hung
dependency cannot drain the worker thread pool, and a hung Redis does not
stop the store from being probed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
from starlette.datastructures import State

from treeframe.config.settings import Settings
from treeframe.errors import BackendUnavailable, ConfigError, TreeframeError
from treeframe.hashing.ids import workspace_id
from treeframe.storage.base import StorageBackend
from treeframe.storage.blobs import probe_blobs
from treeframe.wire.common import ReadyCheck

__all__ = [
    "MAX_PENDING_PROBES",
    "CheckFn",
    "checks_for",
    "close_readiness",
    "not_ready",
    "run_checks",
    "shown_url",
]

MAX_PENDING_PROBES = 4
"""Probes of one check that may wait on a hung dependency at once."""

_LOG = logging.getLogger("treeframe.api")

CheckFn = Callable[[], object]
"""A blocking check: returns (anything) when its dependency answered, raises when it did not."""


def shown_url(url: str) -> str:
    """``url`` without the password of its user part (safe in an unauthenticated answer)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


def checks_for(state: State, settings: Settings, store: StorageBackend) -> dict[str, CheckFn]:
    """The checks this app runs, by name: store and blobs always, redis when configured."""
    ws = workspace_id(settings.workspace)
    checks: dict[str, CheckFn] = {
        "store": partial(store.get_workspace, ws),
        "blobs": partial(probe_blobs, store.blobs, ws),
    }
    if settings.redis.url is not None:
        checks["redis"] = partial(_ping_redis, state, settings.redis.url, _timeout(settings))
    return checks


async def run_checks(
    state: State, checks: Mapping[str, CheckFn], timeout: float
) -> dict[str, ReadyCheck]:
    """Every check's result, run concurrently, each under ``timeout`` seconds and its own gate."""
    results: dict[str, ReadyCheck] = {}
    async with anyio.create_task_group() as group:
        for name, check in checks.items():
            group.start_soon(_run_one, state, name, check, timeout, results)
    return {name: results[name] for name in checks}


def not_ready(results: Mapping[str, ReadyCheck]) -> BackendUnavailable:
    """The 503 for failed ``results``: each failure named in the message, every check in ``checks``."""
    failed = [f"{name} is not ready: {r.error}" for name, r in results.items() if not r.ok]
    return BackendUnavailable(
        "; ".join(failed),
        checks={name: r.model_dump(exclude_none=True) for name, r in results.items()},
    )


def close_readiness(state: State) -> None:
    """Close what the checks opened (the Redis connection pool), at app shutdown."""
    client = getattr(state, "ready_redis", None)
    if client is not None:
        state.ready_redis = None
        client.close()


def _timeout(settings: Settings) -> float:
    return settings.server.ready_timeout_ms / 1000


async def _run_one(
    state: State,
    name: str,
    check: CheckFn,
    timeout: float,
    results: dict[str, ReadyCheck],
) -> None:
    started = time.perf_counter()

    def done(error: str | None) -> None:
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        results[name] = ReadyCheck(ok=error is None, duration_ms=elapsed, error=error)

    gate = _gate(state, name)
    if not gate.acquire(blocking=False):
        done(f"{MAX_PENDING_PROBES} earlier probes have not returned yet [backend_unavailable]")
        metrics = getattr(state, "metrics", None)
        if metrics is not None:  # a concurrency limit refused this check
            metrics.later(metrics.rate_limited.labels("ready_probes").inc, 1)
        return
    probe = _Probe(check, gate)
    try:
        with anyio.fail_after(timeout):
            await anyio.to_thread.run_sync(probe.run, abandon_on_cancel=True)
    except TimeoutError:
        probe.abandon()
        done(f"no answer within {round(timeout * 1000)} ms [backend_unavailable]")
    except TreeframeError as exc:
        done(f"{exc.message} [{exc.code}]")
    except Exception as exc:  # a bug in a check must still answer, and never with its text
        _LOG.exception("readiness check %s failed unexpectedly", name)
        done(f"unexpected {type(exc).__name__} (see the server log) [internal_error]")
    else:
        done(None)


class _Probe:
    """One check whose gate slot is released exactly once.

    By the thread when it ran (even after a timeout), or by :meth:`abandon`
    when the timeout came before a worker thread picked it up at all.
    """

    def __init__(self, check: CheckFn, gate: threading.BoundedSemaphore) -> None:
        self._check, self._gate = check, gate
        self._lock = threading.Lock()
        self._started = self._abandoned = False

    def run(self) -> None:
        with self._lock:
            if self._abandoned:
                return
            self._started = True
        try:
            self._check()
        finally:
            self._gate.release()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            if not self._started:
                self._gate.release()


_GATES_LOCK = threading.Lock()


def _gate(state: State, name: str) -> threading.BoundedSemaphore:
    """The app's bound on waiting probes of check ``name`` (made on first use)."""
    with _GATES_LOCK:
        gates: dict[str, threading.BoundedSemaphore] | None = getattr(state, "ready_probes", None)
        if gates is None:
            gates = {}
            state.ready_probes = gates
        gate = gates.get(name)
        if gate is None:
            gate = gates[name] = threading.BoundedSemaphore(MAX_PENDING_PROBES)
        return gate


_REDIS_LOCK = threading.Lock()


def _ping_redis(state: State, url: str, timeout: float) -> None:
    """PING the Redis at ``url`` with ``timeout`` on connect and reply, no retries."""
    client = _redis_client(state, url, timeout)
    import redis

    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise BackendUnavailable(f"Redis {shown_url(url)} is out of reach: {exc}") from exc


def _redis_client(state: State, url: str, timeout: float) -> Any:
    """The app's Redis client (one connection pool per app), made on first use."""
    with _REDIS_LOCK:
        client = getattr(state, "ready_redis", None)
        if client is not None:
            return client
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise BackendUnavailable(
                "redis.url is set but the redis library is not installed "
                f"(pip install 'treeframe[redis]'): {exc}"
            ) from exc
        try:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry=Retry(NoBackoff(), 0),  # the probe reports; a later probe is the retry
            )
        except ValueError as exc:
            raise ConfigError(f"redis.url {shown_url(url)!r} is not a Redis URL: {exc}") from exc
        state.ready_redis = client
        return client
