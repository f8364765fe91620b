"""The per-request observer: one log line and the request metrics, from what the edge saw.

The edge middleware calls :meth:`RequestObserver.started` when a request
arrives and :meth:`RequestObserver.finished` when its response is out (or it
failed), with the status it sent. The route *template* comes from the scope
FastAPI filled while routing (``scope["route"]``; ``unmatched`` for paths
no route knows), the workspace from the ``{ws}`` path parameter, the agent
from what authentication recorded in ``scope["state"]``, the error code from
the envelope that was sent. Nothing of the body, the query or the headers is
logged: no token, no content.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import anyio.to_thread

from treeframe.api.observe.metrics import Metrics
from treeframe.observability.logs import info_line

__all__ = ["UNMATCHED", "RequestObserver"]

UNMATCHED = "unmatched"
"""The route label of a request no route matched (404 and 405 on unknown paths)."""

_LOGGER = "treeframe.api.request"
_SAMPLE_EVERY = 16
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestObserver:
    """Writes the request line (when ``log_requests``) and the request metrics (when ``metrics``)."""

    __slots__ = ("_children", "_depth", "_requests", "log_requests", "metrics")

    def __init__(self, metrics: Metrics | None, log_requests: bool) -> None:
        self.metrics = metrics
        self.log_requests = log_requests
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._depth: Any = None
        self._requests = 0

    def _threadpool_depth(self, metrics: Metrics) -> Any:
        if self._depth is None:
            self._depth = metrics.queue_depth.labels("threadpool").set
        return self._depth

    def started(self) -> None:
        """A request arrived."""
        if self.metrics is not None:
            self.metrics.later(self.metrics.in_flight.inc, 1)

    def finished(
        self,
        scope: MutableMapping[str, Any],
        status: int,
        seconds: float,
        request_id: str,
        error_code: str | None,
    ) -> None:
        """The request ended with ``status`` after ``seconds``."""
        route_obj = scope.get("route")
        route = getattr(route_obj, "path", None) or UNMATCHED
        method = scope.get("method", "")
        if method not in _METHODS:
            method = "OTHER"  # a label value: never whatever a client sent
        state = scope.get("state", {})
        code = error_code or state.get("error_code")
        metrics = self.metrics
        if metrics is not None:
            later = metrics.later
            later(metrics.in_flight.dec, 1)
            key = (method, route, status)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = (
                    metrics.requests.labels(method, route, str(status)).inc,
                    metrics.request_seconds.labels(method, route, str(status)).observe,
                )
            later(children[0], 1)
            later(children[1], seconds)
            if code is not None:
                later(metrics.errors.labels(code).inc, 1)
            self._requests += 1
            if self._requests % _SAMPLE_EVERY == 1:  # a sample: reading the limiter costs µs
                limiter = anyio.to_thread.current_default_thread_limiter()
                later(self._threadpool_depth(metrics), limiter.statistics().tasks_waiting)
        if self.log_requests:
            info_line(
                _LOGGER,
                "request",
                {
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "path": scope.get("path", ""),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "workspace": scope.get("path_params", {}).get("ws"),
                    "agent": state.get("agent"),
                    "error_code": code,
                },
            )
