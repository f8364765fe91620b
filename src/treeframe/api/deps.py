"""Request-scoped dependencies: who is calling, and the workspace a route acts on.

Every workspace route takes a :data:`Bound` argument and nothing else about
identity: :func:`authenticate` turns the request's credentials into an
:class:`Identity` (the agent a token acts as and what the token allows), and
:func:`bound_workspace` turns that identity plus the ``{ws}`` path parameter
into the workspace's :class:`~treeframe.engine.context_api.ContextAPI` and the
caller's :class:`~treeframe.engine.principal.Principal` there. A workspace the
identity may not see is ``workspace_not_found`` (404), exactly as for one that
does not exist, so a token learns nothing about other workspaces.

Tests of routes that are not about authentication override
:func:`authenticate` with ``app.dependency_overrides``. The rules (token
format, what an agent holds, 404 rather than 403 for a workspace out of
reach) are :mod:`treeframe.engine.access`'s; this module only adapts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request

from treeframe.api.auth import access_service, bearer_token
from treeframe.api.ratelimit import RateLimiter
from treeframe.engine.access import AccessService, Bearer
from treeframe.engine.context_api import ContextAPI
from treeframe.engine.principal import Permission, Principal
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import RateLimited, WorkspaceNotFound
from treeframe.ids import WorkspaceId
from treeframe.storage.base import StorageBackend
from treeframe.storage.values import WorkspaceInfo

__all__ = [
    "Authenticated",
    "Bound",
    "BoundWorkspace",
    "Identity",
    "Service",
    "app_store",
    "authenticate",
    "bound_workspace",
    "resolve_principal",
    "workspace_service",
]


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: the agent its token acts as and what the token allows.

    ``scope`` is the one workspace the token is for, or None for a token that
    reaches every workspace its agent holds rights in. ``permissions`` is the
    token's ceiling; the caller's principal in a workspace is this ceiling
    intersected with what the agent holds there (:func:`resolve_principal`).
    """

    agent_id: str
    token_id: str
    scope: WorkspaceId | None
    permissions: frozenset[Permission]

    def bearer(self) -> Bearer:
        """The engine's view of this identity (what :mod:`treeframe.engine.access` takes)."""
        return Bearer(self.agent_id, self.token_id, self.scope, self.permissions)


async def workspace_service(request: Request) -> WorkspaceService:
    """The app's :class:`WorkspaceService` (one per app, over its store).

    ``async``: it only reads app state, and FastAPI runs every sync dependency
    in the thread pool, one round trip each (docs/PERFORMANCE.md).
    """
    service: WorkspaceService = request.app.state.workspaces
    return service


async def app_store(request: Request) -> StorageBackend:
    """The app's store (``async``: no I/O, no thread-pool hop)."""
    store: StorageBackend = request.app.state.store
    return store


def authenticate(request: Request) -> Identity:
    """The caller's identity from its bearer token; ``unauthorized`` (401) without a valid one.

    Forged, expired and revoked tokens are all refused here, before any
    route runs; the token's row is one primary-key lookup.
    """
    bearer = access_service(request).authenticate(bearer_token(request))
    request.scope.setdefault("state", {})["agent"] = bearer.agent_id  # for the request line
    _within_rate(request, bearer.agent_id)
    identity = Identity(bearer.agent_id, bearer.token_id, bearer.scope, bearer.permissions)
    request.state.identity = identity  # who starts a job (treeframe.api.jobs)
    return identity


def _within_rate(request: Request, agent: str) -> None:
    """Take one token of ``agent``'s rate limit; ``rate_limited`` (429) when there is none."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return
    wait = limiter.take(agent)
    if wait is None:
        return
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.later(metrics.rate_limited.labels("agent").inc, 1)
    raise RateLimited(
        f"agent {agent!r} is over its rate limit; retry in {wait:.2f} s",
        retry_after=round(wait, 3),
    )


def resolve_principal(
    identity: Identity, info: WorkspaceInfo, service: WorkspaceService
) -> Principal:
    """The caller's principal in ``info``'s workspace; ``workspace_not_found`` if out of reach.

    Its permissions are the token's ceiling intersected with what the agent
    holds there (owner: all; else its ACL entry plus its registered role).
    Out of the token's scope or holding nothing is ``no workspace <id>``,
    the very answer a workspace that does not exist gets.
    """
    return AccessService(service).principal(identity.bearer(), info)


Authenticated = Annotated[Identity, Depends(authenticate)]
Service = Annotated[WorkspaceService, Depends(workspace_service)]


@dataclass(frozen=True, slots=True)
class BoundWorkspace:
    """One workspace as a route sees it: its metadata, context API and the caller's principal."""

    info: WorkspaceInfo
    api: ContextAPI
    principal: Principal


def bound_workspace(
    ws: Annotated[str, Path(description="Workspace ID (64 hex).")],
    identity: Authenticated,
    service: Service,
) -> BoundWorkspace:
    """The ``{ws}`` of the path, opened for the caller (404 when it may not see it)."""
    try:
        info = service.info(WorkspaceId(ws))
    except WorkspaceNotFound:
        raise WorkspaceNotFound(f"no workspace {ws}") from None
    principal = resolve_principal(identity, info, service)
    return BoundWorkspace(info, service.open(info.workspace_id), principal)


Bound = Annotated[BoundWorkspace, Depends(bound_workspace)]
