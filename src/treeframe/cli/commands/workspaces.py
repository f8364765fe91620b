"""workspace list/create/delete/restore: the workspaces of a store, by name.

These act on the store (the current workspace's, or ``--store``), not on a
directory: ``init`` is what binds a directory to a workspace.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, configured_store_url, open_configured_store
from treeframe.cli.output import print_json, shown
from treeframe.engine.principal import Principal
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import WorkspaceNotFound
from treeframe.hashing.ids import workspace_id
from treeframe.storage.base import WorkspaceInfo

__all__ = ["register"]

workspace_app = typer.Typer(
    help="The workspaces of a store: list, create, delete (tombstone) and restore.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Workspace name.", show_default=False)]


def _info(info: WorkspaceInfo) -> dict[str, Any]:
    return {
        "workspace_id": info.workspace_id,
        "name": info.name,
        "description": info.description,
        "owner": info.owner,
        "created_at": info.created_at,
        "deleted_at": info.deleted_at,
    }


def _line(info: WorkspaceInfo) -> str:
    state = f"  deleted {info.deleted_at}" if info.deleted_at else ""
    about = f"  {shown(info.description)}" if info.description else ""
    return f"{info.workspace_id[:12]}  {shown(info.name)}{about}{state}"


@workspace_app.command("list")
def list_workspaces(
    store: StoreOpt = None,
    include_deleted: Annotated[
        bool, typer.Option("--all", help="Include deleted (tombstoned) workspaces.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Every workspace of the store, by name."""
    url = configured_store_url(store)
    found: list[WorkspaceInfo] = []
    with open_configured_store(store, create=False, read_only=True) as backend:
        service = WorkspaceService(backend)
        after: str | None = None
        while page := service.list(include_deleted=include_deleted, after=after, limit=500):
            found += page
            after = page[-1].name
    if json_out:
        print_json({"store": url, "workspaces": [_info(w) for w in found]})
        return
    for info in found:
        typer.echo(_line(info))


@workspace_app.command("create")
def create(
    name: NameArg,
    description: Annotated[
        str, typer.Option("--description", help="What the workspace holds.")
    ] = "",
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a workspace in the store (idempotent: an existing one is left as it is)."""
    with open_configured_store(store, create=False) as backend:
        info, created = WorkspaceService(backend).create(name, description=description)
    if json_out:
        print_json({"workspace": _info(info), "created": created})
        return
    typer.echo(("created " if created else "exists  ") + _line(info))


@workspace_app.command("delete")
def delete(
    name: NameArg,
    confirm: Annotated[
        str,
        typer.Option("--confirm", help="The workspace name again: deleting needs it spelled out."),
    ],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Tombstone a workspace: its data is kept and 'workspace restore' brings it back."""
    with open_configured_store(store, create=False) as backend:
        service = WorkspaceService(backend)
        ws = service.find(name).workspace_id
        info = service.delete(ws, principal=Principal.owner(ws), confirm=confirm)
    if json_out:
        print_json(_info(info))
        return
    typer.echo("deleted " + _line(info))


@workspace_app.command("restore")
def restore(name: NameArg, store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """Bring a deleted workspace back as it was."""
    url = configured_store_url(store)
    ws = workspace_id(name)
    with open_configured_store(store, create=False) as backend:
        if backend.get_workspace(ws) is None:
            raise WorkspaceNotFound(f"no workspace {name!r} in store {url}")
        info = WorkspaceService(backend).restore(ws, principal=Principal.owner(ws))
    if json_out:
        print_json(_info(info))
        return
    typer.echo("restored " + _line(info))


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.add_typer(workspace_app, name="workspace")
