"""Bearer tokens on the wire: reading ``Authorization``, and the app's access service.

The decisions live in :mod:`treeframe.engine.access` (what a token is, what an
agent holds); this module only reads the header and hands the token over.
Every failure is ``unauthorized`` (401, ``WWW-Authenticate: Bearer``) with a
message that never says which part of a forged token was wrong.
"""

from __future__ import annotations

from fastapi import Request

from treeframe.engine.access import AccessService
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import Unauthorized

__all__ = ["access_service", "bearer_token"]


def access_service(request: Request) -> AccessService:
    """The app's :class:`AccessService` (made once, over the app's WorkspaceService)."""
    service: AccessService | None = getattr(request.app.state, "access", None)
    if service is None:
        workspaces: WorkspaceService = request.app.state.workspaces
        service = AccessService(workspaces)
        request.app.state.access = service
    return service


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; Unauthorized when absent or another scheme."""
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized("this route needs 'Authorization: Bearer <token>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()
