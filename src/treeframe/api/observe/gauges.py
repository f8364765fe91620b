"""Per-workspace gauges (node and frame counts, stale-frame ratio), recounted after writes, never at scrape.

A scrape must be cheap whatever the store holds, so it only reads gauges.
They are set here: every write event marks its workspace; a daemon thread
wakes every ``metrics.refresh_seconds`` and recounts the marked ones (at
start-up: every workspace, up to ``metrics.max_workspace_series``). Reading
is off the request path, and a workspace nobody writes costs nothing.

The stale-frame ratio is the share of the workspace's heads whose node is no
longer in the current tree: what a push or scan makes stale, before
regeneration catches up. It reads every head and every current path, so a
workspace with more than ``metrics.stale_max_nodes`` paths gets no ratio
(``treeframe stale`` answers for those). It is a lower bound of what
``stale`` reports, which also follows bases into other nodes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

from treeframe.api.observe.metrics import Metrics
from treeframe.config.settings import MetricsSettings
from treeframe.errors import TreeframeError
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend

__all__ = ["WorkspaceGauges"]

_LOG = logging.getLogger("treeframe.api.metrics")
_PAGE = 500


class WorkspaceGauges:
    """The recount thread of one app (started by the app's lifespan, stopped with it)."""

    def __init__(self, store: StorageBackend, metrics: Metrics, settings: MetricsSettings) -> None:
        self.store = store
        self.metrics = metrics
        self.settings = settings
        self._dirty: set[WorkspaceId] = set()
        self._count_workspaces = True
        self._named: dict[WorkspaceId, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seed = False

    def start(self) -> None:
        """Start the thread; its first round marks every workspace (up to the series bound).

        Nothing is read here: a store that is down when a worker starts must
        not fail the worker's start-up (readiness reports it; gauges follow later).
        """
        self._count_workspaces = True
        self._seed = True
        self._thread = threading.Thread(target=self._run, name="treeframe-gauges", daemon=True)
        self._thread.start()
        self._wake.set()

    def _mark_all(self) -> None:
        for info in self._live_workspaces(limit=self.settings.max_workspace_series):
            self._named[info.workspace_id] = info.name
            with self._lock:
                self._dirty.add(info.workspace_id)

    def stop(self) -> None:
        """End the thread (waits for a recount in progress)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def on_event(self, event: str, fields: Mapping[str, Any]) -> None:
        """An engine event: the workspace it wrote needs a recount."""
        ws = fields.get("workspace")
        if ws is None or fields.get("success") is False:
            return
        with self._lock:
            self._dirty.add(WorkspaceId(ws))
            if event.startswith("workspace."):
                self._count_workspaces = True

    def refresh_now(self) -> None:
        """Recount the marked workspaces on this thread (tests, and the thread's own loop)."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            count_all, self._count_workspaces = self._count_workspaces, False
        if count_all:
            try:
                self.metrics.workspaces.set(sum(1 for _ in self._live_workspaces()))
            except TreeframeError as exc:
                _LOG.warning("workspace count failed: %s", exc.message)
        for ws in sorted(dirty):
            try:
                self._recount(ws)
            except TreeframeError as exc:
                _LOG.warning("recount of workspace %s failed: %s", ws, exc.message)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.refresh_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self._seed:
                    self._mark_all()
                    self._seed = False
                self.refresh_now()
            except Exception:  # never let one bad round end the gauges for good
                _LOG.exception("workspace gauges: recount failed; retrying next round")

    def _recount(self, ws: WorkspaceId) -> None:
        name = self._named.get(ws)
        if name is None:
            if len(self._named) >= self.settings.max_workspace_series:
                return  # beyond the bound: in the totals only
            info = self.store.get_workspace(ws)
            if info is None:
                return
            name = self._named[ws] = info.name
        info = self.store.get_workspace(ws)
        if info is None or info.deleted_at is not None:
            for gauge in (self.metrics.nodes, self.metrics.frames, self.metrics.stale_ratio):
                self._forget(gauge, name)
            self._named.pop(ws, None)
            return
        nodes, frames = self.store.workspace_counts(ws)
        self.metrics.nodes.labels(name).set(nodes)
        self.metrics.frames.labels(name).set(frames)
        ratio = self._stale_ratio(ws)
        if ratio is not None:
            self.metrics.stale_ratio.labels(name).set(ratio)
        else:
            self._forget(self.metrics.stale_ratio, name)

    def _forget(self, gauge: Any, name: str) -> None:
        """Drop a series; multiprocess mode cannot remove one, so it reads NaN there instead."""
        if self.metrics.multiprocess_dir is not None:
            gauge.labels(name).set(math.nan)
        else:
            with contextlib.suppress(KeyError):
                gauge.remove(name)

    def _stale_ratio(self, ws: WorkspaceId) -> float | None:
        limit = self.settings.stale_max_nodes
        current: set[str] = set()
        for _path, node in self.store.iter_all_paths(ws):
            current.add(node)
            if len(current) > limit:
                return None
        heads = stale = 0
        for node, _type, _frame in self.store.iter_all_heads(ws):
            heads += 1
            if node not in current:
                stale += 1
        return stale / heads if heads else 0.0

    def _live_workspaces(self, limit: int | None = None) -> list[Any]:
        out: list[Any] = []
        after: str | None = None
        while limit is None or len(out) < limit:
            page = self.store.list_workspaces(after=after, limit=_PAGE)
            out.extend(page)
            if len(page) < _PAGE:
                break
            after = page[-1].name
        return out if limit is None else out[:limit]
