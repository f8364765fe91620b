"""Every metric family of the server, in one registry per app.

Label values are bounded by construction: route *templates* (never a path
with IDs in it), status codes, error codes, backend and operation names,
cache names, audit operation names, and workspace names — the last limited
to ``metrics.max_workspace_series`` workspaces. No node, frame, token or
request ID is ever a label (a test loads a server and checks).

Off the request path: a value observed while serving (a request's count and
duration, each store call's time) is appended to an in-process queue
(:meth:`Metrics.later`, a deque append) and applied to the metric by a
flusher thread every :data:`FLUSH_SECONDS`, by a scrape answered here
(first), and when the app stops. prometheus-client's multiprocess values are
memory-mapped files with a lock per write (3-5 µs each, several per store
call); deferred, a request pays well under a microsecond per value. What a
scrape shows of *another* worker is at most :data:`FLUSH_SECONDS` old.

Several uvicorn workers: prometheus-client's multiprocess mode. ``serve --workers N``
(N > 1) points ``PROMETHEUS_MULTIPROC_DIR`` (and ``metrics.multiprocess_dir``) at a
directory it owns before any worker starts; each worker's values live in
memory-mapped files there, and a scrape, whichever worker answers it,
merges them (:meth:`Metrics.exposition`). Gauges say how workers combine:
in-flight counts add up over live workers (``livesum``); recounted values
(workspace sizes, stale ratios) take the most recent write (``mostrecent``).
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from treeframe.processes import process_alive

__all__ = ["CONTENT_TYPE", "FLUSH_SECONDS", "FRAME_WRITES", "Metrics"]

FLUSH_SECONDS = 1.0

_LOG = logging.getLogger("treeframe.api.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST

FRAME_WRITES = frozenset({"frame.put", "branch.synthesize", "frames.regenerate", "frames.generate"})
"""Audit operations whose accepted entries each name one frame written."""

_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5)


class Metrics:
    """The app's metric families; the observers (requests, storage, events) write to them."""

    def __init__(self, backend: str, blob_store: str, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "treeframe_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "treeframe_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["method", "route", "status"],
            buckets=_REQUEST_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "treeframe_http_requests_in_flight",
            "Requests being served now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.errors = Counter(
            "treeframe_errors", "Error envelopes sent, by stable error code.", ["code"], registry=r
        )
        self.storage_seconds = Histogram(
            "treeframe_storage_operation_duration_seconds",
            "Store calls, by backend and operation.",
            ["backend", "operation"],
            buckets=_STORE_BUCKETS,
            registry=r,
        )
        self.blob_seconds = Histogram(
            "treeframe_blob_operation_duration_seconds",
            "Blob-store calls, by blob store and operation.",
            ["store", "operation"],
            buckets=_STORE_BUCKETS,
            registry=r,
        )
        self.cache = Counter(
            "treeframe_cache_requests",
            "Cache look-ups, by cache and hit/miss.",
            ["cache", "result"],
            registry=r,
        )
        self.writes = Counter(
            "treeframe_writes",
            "Audited writes, by operation and outcome.",
            ["operation", "outcome"],
            registry=r,
        )
        self.frames_written = Counter(
            "treeframe_frames_written",
            "Frames written (accepted puts, syntheses, regenerations).",
            ["operation"],
            registry=r,
        )
        self.syntheses = Counter(
            "treeframe_syntheses", "Completed synthesize requests.", registry=r
        )
        self.regenerations = Counter(
            "treeframe_regenerations", "Completed regenerate requests.", ["dry_run"], registry=r
        )
        self.frames_regenerated = Counter(
            "treeframe_frames_regenerated",
            "Frames rebuilt by regeneration (dry runs excluded).",
            registry=r,
        )
        self.generations = Counter(
            "treeframe_generations", "Completed generate requests.", ["dry_run"], registry=r
        )
        self.model_tokens = Counter(
            "treeframe_model_tokens",
            "Tokens model providers reported for generated frames, by provider and direction.",
            ["provider", "direction"],
            registry=r,
        )
        self.roots_committed = Counter(
            "treeframe_roots_committed",
            "Root moves, by what moved the root.",
            ["source"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "treeframe_queue_depth",
            "Items waiting in a bounded queue, by queue.",
            ["queue"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rate_limited = Counter(
            "treeframe_rate_limited",
            "Requests refused by a rate or concurrency limit.",
            ["limit"],
            registry=r,
        )
        self.circuit_opened = Counter(
            "treeframe_circuit_opened",
            "Times a circuit breaker opened (store or blobs out of reach), by dependency.",
            ["dependency"],
            registry=r,
        )
        self.workspaces = Gauge(
            "treeframe_workspaces",
            "Live workspaces in the store (recounted on writes).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.nodes = Gauge(
            "treeframe_workspace_nodes",
            "Stored node records per workspace (recounted on writes).",
            ["workspace"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.frames = Gauge(
            "treeframe_workspace_frames",
            "Stored frames per workspace (recounted on writes).",
            ["workspace"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.stale_ratio = Gauge(
            "treeframe_stale_frame_ratio",
            "Share of a workspace's heads whose node is no longer in the current tree.",
            ["workspace"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self._backend = backend
        self._blob_store = blob_store
        self._storage_children: dict[str, Any] = {}
        self._blob_children: dict[str, Any] = {}
        self._pending: deque[tuple[Callable[[float], None], float]] = deque()
        self._children: dict[tuple[int, tuple[str, ...]], Callable[[float], None]] = {}
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        for name in ("threadpool", "export_chunks"):
            self.queue_depth.labels(name)  # present at 0 before anything queues

    # -- deferred values --------------------------------------------------------
    def later(self, apply: Callable[[float], None], value: float) -> None:
        """Apply ``apply(value)`` (a child's ``inc``/``observe``) at the next flush."""
        self._pending.append((apply, value))

    def flush(self) -> None:
        """Apply every deferred value, aggregated: one write per child, not one per value.

        Increments (``inc``/``dec``) of a child are summed, a gauge's ``set``
        keeps the last value, and a histogram child's observations are
        counted per bucket and added in one write per bucket plus one to its
        sum: the same totals ``observe`` would leave, for one memory-mapped
        write per series instead of two per value. Anything else is applied
        as it came.
        """
        pop = self._pending.popleft
        with self._flush_lock:
            sums: dict[Any, float] = {}
            sets: dict[Any, float] = {}
            tallies: dict[Any, tuple[list[int], list[float]]] = {}
            while True:
                try:
                    apply, value = pop()
                except IndexError:
                    break
                name = getattr(apply, "__name__", "")
                child: Any = getattr(apply, "__self__", None)
                if name == "inc":
                    sums[child] = sums.get(child, 0.0) + value
                elif name == "dec":
                    sums[child] = sums.get(child, 0.0) - value
                elif name == "set":
                    sets[child] = value
                elif name == "observe" and hasattr(child, "_buckets"):
                    tally = tallies.get(child)
                    if tally is None:
                        tally = tallies[child] = ([0] * len(child._upper_bounds), [0.0])
                    tally[0][bisect.bisect_left(child._upper_bounds, value)] += 1
                    tally[1][0] += value
                else:
                    apply(value)
            for child, total in sums.items():
                if total:
                    child.inc(total)
            for child, last in sets.items():
                child.set(last)
            for child, (counts, total_seconds) in tallies.items():
                child._sum.inc(total_seconds[0])
                for index, count in enumerate(counts):
                    if count:
                        child._buckets[index].inc(count)

    def start(self) -> None:
        """Start the flusher thread (the app's lifespan does; stopped by :meth:`close`)."""
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_loop, name="treeframe-metrics", daemon=True
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
            except Exception:  # a broken value must not stop the flusher (and grow the queue)
                _LOG.exception("metrics flush failed")

    # -- observers ------------------------------------------------------------
    def observe_storage(self, operation: str, seconds: float) -> None:
        """A store call finished (the InstrumentedStore observer)."""
        child = self._storage_children.get(operation)
        if child is None:
            child = self._storage_children[operation] = self.storage_seconds.labels(
                self._backend, operation
            ).observe
        self._pending.append((child, seconds))

    def observe_blobs(self, operation: str, seconds: float) -> None:
        """A blob-store call finished (the InstrumentedBlobs observer)."""
        child = self._blob_children.get(operation)
        if child is None:
            child = self._blob_children[operation] = self.blob_seconds.labels(
                self._blob_store, operation
            ).observe
        self._pending.append((child, seconds))

    def _inc(self, metric: Any, *labels: str) -> None:
        """Count one, deferred, on the child of ``labels`` (children looked up once)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (metric.labels(*labels) if labels else metric).inc
        self._pending.append((child, 1))

    def cache_result(self, cache: str, hit: bool) -> None:
        """One look-up in ``cache``."""
        self._inc(self.cache, cache, "hit" if hit else "miss")

    def cache_results(self, cache: str, hits: int, misses: int) -> None:
        """One look-up of ``hits + misses`` keys in ``cache`` (the CachedStore observer)."""
        for result, count in (("hit", hits), ("miss", misses)):
            if count:
                key = (id(self.cache), (cache, result))
                child = self._children.get(key)
                if child is None:
                    child = self._children[key] = self.cache.labels(cache, result).inc
                self._pending.append((child, count))

    def on_event(self, event: str, fields: Mapping[str, Any]) -> None:
        """An engine event (an events listener): count writes, frames, syntheses, root moves."""
        seq = fields.get("audit_seq")
        if seq is not None:
            success = bool(fields.get("success"))
            self._inc(self.writes, event, "accepted" if success else "refused")
            if success and event in FRAME_WRITES and fields.get("frame"):
                self._inc(self.frames_written, event)
            return
        if event == "synthesis":
            self._inc(self.syntheses)
        elif event == "regeneration":
            self._inc(self.regenerations, "true" if fields.get("dry_run") else "false")
        elif event == "frame.regenerated" and not fields.get("dry_run"):
            self._inc(self.frames_regenerated)
        elif event == "generation":
            self._inc(self.generations, "true" if fields.get("dry_run") else "false")
            provider = str(fields.get("provider", ""))
            for direction in ("input", "output"):
                tokens = int(fields.get(f"{direction}_tokens") or 0)
                if tokens:
                    self._pending.append(
                        (self.model_tokens.labels(provider, direction).inc, tokens)
                    )
        elif event in ("push", "scan"):
            self._inc(self.roots_committed, event)

    def _bury_dead_workers(self) -> None:
        """Live gauges of workers that died without closing (SIGKILL, OOM) leave the sums.

        uvicorn restarts a dead worker without any hook, so the scrape does it:
        every ``gauge_live*_<pid>.db`` whose process is gone is marked dead.
        """
        assert self.multiprocess_dir is not None
        for path in Path(self.multiprocess_dir).glob("gauge_live*_*.db"):
            pid = path.stem.rpartition("_")[2]
            if pid.isdigit() and not process_alive(int(pid)):
                _multiprocess.mark_process_dead(int(pid), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Flush, stop the flusher; in multiprocess mode this process's live gauges leave the view."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
        self.flush()
        if self.multiprocess_dir is not None:
            _multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]

    # -- exposition ------------------------------------------------------------
    def exposition(self) -> bytes:
        """The text exposition of every metric (merged over workers in multiprocess mode)."""
        self.flush()
        if self.multiprocess_dir is None:
            return bytes(generate_latest(self.registry))
        self._bury_dead_workers()
        merged = CollectorRegistry()
        _multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(merged))
