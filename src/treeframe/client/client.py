"""``Client`` and ``AsyncClient``: API v1 over one keep-alive httpx connection pool.

Both are declared from the same route functions of :mod:`treeframe.client.calls`:
``get_node = sync_route(calls.get_node)`` makes ``Client.get_node`` a method
with the route function's signature and docstring that sends the call and
returns its parsed answer (``await`` it on ``AsyncClient``). Retry decisions,
error mapping and parsing live in :class:`~treeframe.client.call.Attempts`,
shared by both; each client only does its own I/O.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from treeframe import __version__
from treeframe.client import calls
from treeframe.client.call import Attempts, Call
from treeframe.client.retry import RetryPolicy
from treeframe.ids import NodeId, WorkspaceId
from treeframe.storage.base import StorageBackend

if TYPE_CHECKING:
    from treeframe.client.push import PushResult

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Client"]

P = ParamSpec("P")
T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def _options(
    token: str | None,
    timeout: float | httpx.Timeout,
    extra: Mapping[str, str] | None,
    limits: httpx.Limits | None,
) -> dict[str, Any]:
    """The httpx client options both clients share: headers, timeout, pool limits."""
    headers = {"X-API-Version": "1", "User-Agent": f"treeframe-client/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    headers.update(extra or {})
    return {"headers": headers, "timeout": timeout, "limits": limits or httpx.Limits()}


def _policy(retries: RetryPolicy | int) -> RetryPolicy:
    return retries if isinstance(retries, RetryPolicy) else RetryPolicy(attempts=retries + 1)


class sync_route(Generic[P, T]):
    """A :class:`Client` method made from a route function (same signature and docstring)."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Client, owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, obj: Client | None, owner: type[Any]) -> Self | Callable[P, T]:
        if obj is None:
            return self
        build = self.build

        @functools.wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return obj.request(build(*args, **kwargs))

        return method


class async_route(Generic[P, T]):
    """An :class:`AsyncClient` method made from a route function (awaitable)."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(
        self, obj: AsyncClient | None, owner: type[Any]
    ) -> Self | Callable[P, Awaitable[T]]:
        if obj is None:
            return self
        build = self.build

        @functools.wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> Awaitable[T]:
            return obj.request(build(*args, **kwargs))

        return method


class _Base:
    """What both clients hold: the pool's settings, the retry policy, the last audit head."""

    retry: RetryPolicy
    audit_head: str | None
    """The ``X-Audit-Head`` of the newest write answer (keep it to detect truncation later)."""

    def _noted(self, response: httpx.Response) -> httpx.Response:
        head = response.headers.get("X-Audit-Head")
        if head:
            self.audit_head = head
        return response


class Client(_Base):
    """The synchronous client: ``with Client(url, token=...) as c: c.get_node(ws, node_id)``.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8420``.
        token: A bearer token (``treeframe token create``); sent on every call.
        timeout: Seconds (or an ``httpx.Timeout``) per request.
        retries: Retries of an idempotent call (an int) or a :class:`RetryPolicy`.
        transport: An httpx transport (``httpx.ASGITransport`` is async-only: an app
            in process is reached with :class:`AsyncClient`, a server with either).
        headers: Extra headers for every request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: RetryPolicy | int = 3,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.retry = _policy(retries)
        self.audit_head = None
        options = _options(token, timeout, headers, limits)
        self.http = httpx.Client(base_url=base_url, transport=transport, **options)

    def request(self, call: Call[T]) -> T:
        """Send ``call`` (retrying as its idempotency allows) and return its parsed answer."""
        attempts = Attempts(self.http, call, self.retry)
        while True:
            try:
                response = self.http.send(attempts.request())
            except httpx.TransportError as exc:
                time.sleep(attempts.failed(exc))
                continue
            if (wait := attempts.answered(self._noted(response))) is None:
                return attempts.result(response)
            response.close()
            time.sleep(wait)

    health_live = sync_route(calls.health_live)
    health_ready = sync_route(calls.health_ready)
    get_node = sync_route(calls.get_node)
    get_node_by_path = sync_route(calls.get_node_by_path)
    get_node_record = sync_route(calls.get_node_record)
    get_nodes_batch = sync_route(calls.get_nodes_batch)
    get_children = sync_route(calls.get_children)
    get_heads = sync_route(calls.get_heads)
    get_proof = sync_route(calls.get_proof)
    put_frame = sync_route(calls.put_frame)
    put_frames_batch = sync_route(calls.put_frames_batch)
    get_frame = sync_route(calls.get_frame)
    get_frame_content = sync_route(calls.get_frame_content)
    synthesize = sync_route(calls.synthesize)
    regenerate = sync_route(calls.regenerate)
    generate = sync_route(calls.generate)
    stale = sync_route(calls.stale)
    compose = sync_route(calls.compose)
    roots = sync_route(calls.roots)
    diff = sync_route(calls.diff)
    explain_frame = sync_route(calls.explain_frame)
    verify = sync_route(calls.verify)
    create_workspace = sync_route(calls.create_workspace)
    list_workspaces = sync_route(calls.list_workspaces)
    get_workspace = sync_route(calls.get_workspace)
    delete_workspace = sync_route(calls.delete_workspace)
    restore_workspace = sync_route(calls.restore_workspace)
    create_token = sync_route(calls.create_token)
    list_tokens = sync_route(calls.list_tokens)
    revoke_token = sync_route(calls.revoke_token)
    list_acl = sync_route(calls.list_acl)
    grant_acl = sync_route(calls.grant_acl)
    delete_acl = sync_route(calls.delete_acl)
    list_agents = sync_route(calls.list_agents)
    register_agent = sync_route(calls.register_agent)
    push_negotiate = sync_route(calls.push_negotiate)
    push_records = sync_route(calls.push_records)
    push_commit = sync_route(calls.push_commit)
    audit_log = sync_route(calls.audit_log)
    verify_audit = sync_route(calls.verify_audit)

    def push_tree(
        self,
        ws: WorkspaceId,
        source: StorageBackend,
        source_ws: WorkspaceId,
        root: NodeId,
        **options: Any,
    ) -> PushResult:
        """Push a tree scanned into a local store into the server's ``ws`` (Merkle negotiation).

        Delegates to :func:`treeframe.client.push.push_tree` over this client's
        connections; ``options`` are its keyword arguments (``batch_size``, ``progress``...).
        """
        from treeframe.client.push import push_tree

        return push_tree(self.http, ws, source, source_ws, root, **options)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Base):
    """The asyncio client: ``async with AsyncClient(url, token=...) as c: await c.get_node(...)``.

    Same arguments and methods as :class:`Client`; ``transport`` may be
    ``httpx.ASGITransport(app=create_app(...))`` to talk to an app in process.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: RetryPolicy | int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.retry = _policy(retries)
        self.audit_head = None
        options = _options(token, timeout, headers, limits)
        self.http = httpx.AsyncClient(base_url=base_url, transport=transport, **options)

    async def request(self, call: Call[T]) -> T:
        """Send ``call`` (retrying as its idempotency allows) and return its parsed answer."""
        attempts = Attempts(self.http, call, self.retry)
        while True:
            try:
                response = await self.http.send(attempts.request())
            except httpx.TransportError as exc:
                await asyncio.sleep(attempts.failed(exc))
                continue
            if (wait := attempts.answered(self._noted(response))) is None:
                return attempts.result(response)
            await response.aclose()
            await asyncio.sleep(wait)

    health_live = async_route(calls.health_live)
    health_ready = async_route(calls.health_ready)
    get_node = async_route(calls.get_node)
    get_node_by_path = async_route(calls.get_node_by_path)
    get_node_record = async_route(calls.get_node_record)
    get_nodes_batch = async_route(calls.get_nodes_batch)
    get_children = async_route(calls.get_children)
    get_heads = async_route(calls.get_heads)
    get_proof = async_route(calls.get_proof)
    put_frame = async_route(calls.put_frame)
    put_frames_batch = async_route(calls.put_frames_batch)
    get_frame = async_route(calls.get_frame)
    get_frame_content = async_route(calls.get_frame_content)
    synthesize = async_route(calls.synthesize)
    regenerate = async_route(calls.regenerate)
    generate = async_route(calls.generate)
    stale = async_route(calls.stale)
    compose = async_route(calls.compose)
    roots = async_route(calls.roots)
    diff = async_route(calls.diff)
    explain_frame = async_route(calls.explain_frame)
    verify = async_route(calls.verify)
    create_workspace = async_route(calls.create_workspace)
    list_workspaces = async_route(calls.list_workspaces)
    get_workspace = async_route(calls.get_workspace)
    delete_workspace = async_route(calls.delete_workspace)
    restore_workspace = async_route(calls.restore_workspace)
    create_token = async_route(calls.create_token)
    list_tokens = async_route(calls.list_tokens)
    revoke_token = async_route(calls.revoke_token)
    list_acl = async_route(calls.list_acl)
    grant_acl = async_route(calls.grant_acl)
    delete_acl = async_route(calls.delete_acl)
    list_agents = async_route(calls.list_agents)
    register_agent = async_route(calls.register_agent)
    push_negotiate = async_route(calls.push_negotiate)
    push_records = async_route(calls.push_records)
    push_commit = async_route(calls.push_commit)
    audit_log = async_route(calls.audit_log)
    verify_audit = async_route(calls.verify_audit)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
