"""The edge of every request, as one pure-ASGI middleware: request ID, version, body limit, last-resort errors.

One layer instead of three, and no ``BaseHTTPMiddleware`` (which copies
every message through a task group and costs more than a whole route): the
request's headers are scanned once, and per request the work is a few
dictionary look-ups plus two tuples appended to the response headers.

* ``X-Request-ID``: the client's value when it is sane (1-128 characters of
  ``[A-Za-z0-9._:-]``, so it can go into logs and headers unescaped), else
  a fresh one (32 hex digits: a random per-app prefix and a counter, unique
  across workers and restarts, and cheaper than ``uuid4``); recorded in ``scope["state"]["request_id"]`` (read as
  ``request.state.request_id``) and sent back on every response.
* Version: ``X-API-Version`` / ``Accept`` naming an unknown version are
  refused before any route runs (see :mod:`treeframe.api.versioning`).
* Body limit: a ``Content-Length`` above the limit is refused at once, before
  the body is read; a body without one (chunked), or one longer than it
  claimed, is counted as it streams and refused the moment it passes the
  limit: the 413 is sent from here and the application sees a disconnect,
  so no route ever holds more than the limit in memory. A route that streams
  its body to disk (snapshot import) has its own limit in ``body_limits``.
* In-flight limit: with ``max_in_flight`` set, a request arriving while that
  many are already being served in this process is refused at once with
  ``server_busy`` (503, ``Retry-After: 1``), before its body is read; health
  and metrics are never refused, so probes and scrapes still see an
  overloaded worker.
* An exception nothing else handled becomes the ``internal_error`` envelope
  (logged with the request ID), never a traceback.
* Audit: the request ID is set in :data:`~treeframe.engine.audit.REQUEST_ID`
  (every audit entry the request writes records it), and a fresh
  :class:`~treeframe.engine.audit.HeadHolder` in
  :data:`~treeframe.engine.audit.AUDIT_HEAD`; when the response starts, a
  head the request's writes left there is sent as ``X-Audit-Head:
  <seq>:<entry_hash>``. A holder object rather than a value, because sync
  routes run in a threadpool on a *copy* of the context: a variable set
  there never flows back, a mutation of the shared holder does.
* Observation: an ``observer`` (:class:`~treeframe.api.observe.requests.RequestObserver`)
  hears when each request starts and ends, with the status sent, the time
  taken and the error code of an envelope; it writes the request line and
  the request metrics. None (metrics and request logging off) costs nothing.
  With tracing on, the request runs inside a span.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from treeframe.api.errors import error_response, retry_after
from treeframe.api.observe.requests import RequestObserver
from treeframe.api.versioning import API_VERSION, check_version
from treeframe.engine.audit import AUDIT_HEAD, REQUEST_ID, HeadHolder
from treeframe.errors import InvalidRequest, PayloadTooLarge, ServerBusy, TreeframeError
from treeframe.observability import tracing

__all__ = ["EdgeMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LOG = logging.getLogger("treeframe.api")
CLIENT_CLOSED = 499
"""The status the request metrics and line record for a client that left before any answer."""
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_VERSION_HEADER = (b"x-api-version", API_VERSION.encode())
_NEVER_BUSY = ("/v1/health/", "/v1/metrics")


class EdgeMiddleware:
    """Wraps the FastAPI app; see the module docstring for what it guarantees."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_limits: Mapping[str, int] | None = None,
        observer: RequestObserver | None = None,
        max_in_flight: int = 0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.body_limits = dict(body_limits or {})
        self.observer = observer
        self._id_prefix = secrets.token_hex(8)
        self._id_counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection scope; non-HTTP scopes (lifespan) pass straight through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observer = self.observer
        if observer is None:
            await self._serve(scope, receive, send)
            return
        started = time.perf_counter()
        observer.started()
        state: dict[str, Any] = {}
        try:
            await self._serve(scope, receive, send, state)
        except asyncio.CancelledError:
            state.setdefault("status", CLIENT_CLOSED)  # gone before any answer was sent
            raise
        finally:
            observer.finished(
                scope,
                state.get("status", 500),
                time.perf_counter() - started,
                state.get("request_id", ""),
                state.get("error_code"),
            )

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, seen: dict[str, Any] | None = None
    ) -> None:
        """The request itself; ``seen`` (when observed) gets its ID, status and error code."""
        client_id = api_version = accept = length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                client_id = value
            elif name == b"x-api-version":
                api_version = value
            elif name == b"accept":
                accept = value
            elif name == b"content-length":
                length = value
        if client_id is not None and _SANE_ID.fullmatch(client_id):
            request_id = client_id.decode("ascii")
        else:
            request_id = f"{self._id_prefix}{next(self._id_counter):016x}"
        scope.setdefault("state", {})["request_id"] = request_id
        extra_headers = [(b"x-request-id", request_id.encode("ascii")), _VERSION_HEADER]
        holder = HeadHolder()
        exchange = _Exchange(send, extra_headers, holder, seen)
        if seen is not None:
            seen["request_id"] = request_id

        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        refusal = _refusal(api_version, accept, length, limit)
        if refusal is None and self._busy(scope["path"]):
            refusal = ServerBusy(
                f"this server process has {self.in_flight} requests in flight "
                "(server.max_in_flight); retry",
                retry_after=1.0,
            )
        if refusal is not None:
            await exchange.send_error(refusal, request_id)
            return
        self.in_flight += 1
        try:
            await self._forward(scope, receive, exchange, request_id, holder, limit)
        finally:
            self.in_flight -= 1

    def _busy(self, path: str) -> bool:
        """Whether a request for ``path`` would pass the in-flight limit (never health, metrics)."""
        limit = self.max_in_flight
        return bool(limit) and self.in_flight >= limit and not path.startswith(_NEVER_BUSY)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        exchange: _Exchange,
        request_id: str,
        holder: HeadHolder,
        limit: int,
    ) -> None:
        """Run the app with the body limit enforced and the request's context variables set."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if exchange.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await exchange.send_error(_too_large(limit), request_id)
                    return {"type": "http.disconnect"}
            return message

        request_token = REQUEST_ID.set(request_id)
        head_token = AUDIT_HEAD.set(holder)
        try:
            if tracing.tracing_enabled():
                with tracing.span(
                    "treeframe.request", method=scope.get("method"), request_id=request_id
                ) as current:
                    await self.app(scope, limited_receive, exchange.send)
                    route = scope.get("route")
                    if route is not None and current is not None:
                        current.set_attribute("http.route", route.path)
            else:
                await self.app(scope, limited_receive, exchange.send)
        except Exception as exc:
            if exchange.refused:
                return  # the app tripped over the disconnect we fed it; the 413 is out
            if exchange.started:
                raise  # too late for an envelope: let the server drop the connection
            if isinstance(exc, TreeframeError):
                await exchange.send_error(exc, request_id)
                return
            _LOG.exception("unhandled error in request %s", request_id)
            await exchange.send_error(TreeframeError("internal error"), request_id)
        finally:
            AUDIT_HEAD.reset(head_token)
            REQUEST_ID.reset(request_token)


def _refusal(
    api_version: bytes | None, accept: bytes | None, length: bytes | None, limit: int
) -> TreeframeError | None:
    """The error refusing the request on its headers alone, or None."""
    try:
        check_version(api_version, accept)
    except TreeframeError as exc:
        return exc
    if length is not None:
        if not length.isdigit():
            return InvalidRequest("Content-Length is not a whole number of bytes")
        if int(length) > limit:
            return _too_large(limit)
    return None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {limit} bytes", limit=limit)


class _Exchange:
    """The response side of one request: adds the edge headers, knows what was sent."""

    __slots__ = ("_send", "extra_headers", "holder", "refused", "seen", "started")

    def __init__(
        self,
        send: Send,
        extra_headers: list[tuple[bytes, bytes]],
        holder: HeadHolder,
        seen: dict[str, Any] | None = None,
    ) -> None:
        self._send = send
        self.extra_headers = extra_headers
        self.holder = holder
        self.seen = seen
        self.started = False
        self.refused = False

    async def send(self, message: Message) -> None:
        """The app's send: adds the headers to the start; dropped once we answered ourselves."""
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
            if self.seen is not None:
                self.seen["status"] = message["status"]
            message["headers"] = [*message.get("headers", ()), *self.extra_headers]
            if self.holder.head is not None:
                message["headers"].append((b"x-audit-head", self.holder.head.encode("ascii")))
        await self._send(message)

    async def send_error(self, exc: TreeframeError, request_id: str) -> None:
        """Answer with the envelope of ``exc`` (only before the app started its response)."""
        if self.started or self.refused:
            return
        status, body = error_response(exc, request_id)
        if self.seen is not None:
            self.seen["error_code"] = exc.code
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if isinstance(exc, PayloadTooLarge):
            headers.append((b"connection", b"close"))  # the rest of the body is not wanted
        after = retry_after(exc)
        if after is not None:
            headers.append((b"retry-after", after.encode()))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})
        self.refused = True
