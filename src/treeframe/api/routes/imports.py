"""POST /v1/workspaces/import: a snapshot archive as the request body, verified, then imported.

The body (any compression) is streamed to a temporary file, capped by
``server.max_body_bytes`` (the edge middleware answers 413 past it), because
the import reads the archive twice (docs/CLI.md, ``import``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from treeframe.api.auth import access_service
from treeframe.api.deps import Authenticated, Service
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.engine.access import Bearer
from treeframe.engine.principal import Permission
from treeframe.errors import AccessDenied
from treeframe.snapshot.importer import import_snapshot
from treeframe.storage.base import StorageBackend, WorkspaceInfo

__all__ = ["router"]

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"], responses=ERROR_RESPONSES)


@router.post("/import", status_code=201, summary="Import a snapshot archive (verified first)")
async def import_workspace(
    request: Request,
    identity: Authenticated,
    service: Service,
    workspace: Annotated[
        str | None, Query(description="Import under this name (default: the archive's).")
    ] = None,
    trust: Annotated[
        list[str] | None, Query(description="Trusted public keys (64 hex); repeatable.")
    ] = None,
) -> dict[str, Any]:
    """Needs what creating a workspace needs, plus ``write`` on an existing target; a new one is the token agent's."""
    bearer = identity.bearer()
    if bearer.scope is not None or Permission.ADMIN not in bearer.permissions:
        raise AccessDenied("importing a workspace needs a token for all workspaces with admin")
    with tempfile.TemporaryDirectory(prefix="treeframe-import-") as spool:
        archive = Path(spool) / "body"
        with archive.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        return await run_in_threadpool(
            _import, service.store, archive, workspace, trust or [], request, bearer
        )


def _import(
    store: StorageBackend,
    archive: Path,
    workspace: str | None,
    trust: list[str],
    request: Request,
    bearer: Bearer,
) -> dict[str, Any]:
    def admit(name: str, existing: WorkspaceInfo | None) -> None:
        if existing is None:
            return
        held = bearer.permissions & access_service(request).held(bearer.agent_id, existing)
        if Permission.WRITE not in held:
            raise AccessDenied(f"importing into workspace {name!r} needs write there")

    return import_snapshot(
        store, archive, workspace=workspace, trust=trust, admit=admit, owner=bearer.agent_id
    ).to_dict()
