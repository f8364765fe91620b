"""``/v1/workspaces``: create (idempotent), list what the caller may read, show, delete, restore.

The rules are the engine's: :class:`~treeframe.engine.workspaces.WorkspaceService`
(names, tombstones, the admin check of delete and restore) and
:class:`~treeframe.engine.access.AccessService` (who may create, what a
caller sees). A workspace the caller holds nothing in is 404, word for word
as one that does not exist; a tombstoned one is reachable only by restore,
and only for its admins.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from treeframe.api.auth import access_service
from treeframe.api.deps import Authenticated, Bound, Service, resolve_principal
from treeframe.api.errors import ERROR_RESPONSES
from treeframe.engine.principal import Permission, authorize
from treeframe.errors import InvalidRequest, WorkspaceNotFound
from treeframe.ids import WorkspaceId, parse_hex_id
from treeframe.storage.values import WorkspaceInfo
from treeframe.wire.workspaces import (
    Workspace,
    WorkspaceCreate,
    WorkspaceDetail,
    WorkspaceFields,
    WorkspaceList,
)

__all__ = ["decode_cursor", "encode_cursor", "router"]

MAX_PAGE = 1000

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"], responses=ERROR_RESPONSES)


def encode_cursor(key: str) -> str:
    """An opaque page cursor for a keyset position (unpadded base64url of the key)."""
    return base64.urlsafe_b64encode(key.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None) -> str | None:
    """The keyset position of a cursor; ``invalid_request`` for one this server did not make."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        key = None
    if key is None or encode_cursor(key) != cursor:
        raise InvalidRequest("malformed page cursor (pass the 'next' of a previous page)")
    return key


def _fields(info: WorkspaceInfo) -> dict[str, Any]:
    return {
        "workspace_id": info.workspace_id,
        "name": info.name,
        "description": info.description,
        "owner": info.owner,
        "created_at": info.created_at,
        "deleted_at": info.deleted_at,
    }


@router.post(
    "",
    status_code=201,
    summary="Create a workspace (idempotent: 201 the first time, 200 after)",
    responses={200: {"model": Workspace, "description": "It existed: the same workspace."}},
)
def create_workspace(
    body: WorkspaceCreate, identity: Authenticated, request: Request, response: Response
) -> Workspace:
    """Needs a token for all workspaces with ``admin``; the token's agent owns the new workspace."""
    info, created = access_service(request).create_workspace(
        body.name, description=body.description, actor=identity.bearer()
    )
    if not created:
        response.status_code = 200
    return Workspace.model_validate(_fields(info))


@router.get("", summary="The workspaces the caller may read, by name (keyset-paged)")
def list_workspaces(
    identity: Authenticated,
    request: Request,
    after: Annotated[str | None, Query(description="The 'next' cursor of the last page.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> WorkspaceList:
    """Only workspaces where the caller holds ``read``; ``next`` is None on the last page."""
    found = access_service(request).visible(
        identity.bearer(), after=decode_cursor(after), limit=limit + 1
    )
    page = found[:limit]
    more = len(found) > limit
    return WorkspaceList(
        workspaces=[WorkspaceFields.model_validate(_fields(i)) for i in page],
        next=encode_cursor(page[-1].name) if more else None,
    )


@router.get("/{ws}", summary="A workspace: metadata, current root and counts")
def get_workspace(bound: Bound) -> WorkspaceDetail:
    """Needs ``read``."""
    authorize(bound.principal, Permission.READ)
    store = bound.api.store
    root = store.current_root(bound.info.workspace_id)
    nodes, frames = store.workspace_counts(bound.info.workspace_id)
    return WorkspaceDetail.model_validate(
        _fields(bound.info)
        | {
            "root": None if root is None else root.root,
            "root_seq": None if root is None else root.seq,
            "node_count": nodes,
            "frame_count": frames,
        }
    )


@router.delete("/{ws}", summary="Tombstone a workspace (admin; its data is kept)")
def delete_workspace(
    bound: Bound,
    service: Service,
    confirm: Annotated[str, Query(description="The workspace's name, spelled out.")],
) -> Workspace:
    """Needs ``admin`` and ``?confirm=<name>``; ``POST .../restore`` brings it back."""
    info = service.delete(bound.info.workspace_id, principal=bound.principal, confirm=confirm)
    return Workspace.model_validate(_fields(info))


@router.post("/{ws}/restore", summary="Restore a tombstoned workspace (admin)")
def restore_workspace(
    ws: Annotated[str, Path(description="Workspace ID (64 hex).")],
    identity: Authenticated,
    service: Service,
) -> Workspace:
    """Needs ``admin``; to anyone else a tombstoned workspace does not exist (404)."""
    found = service.store.get_workspace(WorkspaceId(parse_hex_id(ws, "workspace ID")))
    if found is None:
        raise WorkspaceNotFound(f"no workspace {ws}")
    principal = resolve_principal(identity, found, service)
    if found.deleted_at is not None and Permission.ADMIN not in principal.permissions:
        raise WorkspaceNotFound(f"no workspace {ws}")
    restored = service.restore(found.workspace_id, principal=principal)
    return Workspace.model_validate(_fields(restored))
