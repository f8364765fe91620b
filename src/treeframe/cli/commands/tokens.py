"""token create | list | revoke and acl grant | revoke | list: API access, run against the store.

They act on the store directly (``--store`` or the configured one), as the
local owner, so the first admin token exists before any server runs. Every
argument is checked before the store is opened: a bad permission, duration
or agent ID changes nothing. The secret of a token is printed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from treeframe.cli.common import JsonOpt, StoreOpt, configured_store_url, open_configured_store
from treeframe.cli.output import print_json, print_table, shown
from treeframe.engine.access import (
    LOCAL_OWNER,
    AccessService,
    parse_duration,
    parse_permissions,
)
from treeframe.engine.workspaces import WorkspaceService
from treeframe.errors import InvalidRequest
from treeframe.frames.frame import validate_label
from treeframe.ids import WorkspaceId
from treeframe.storage.values import AclEntry, TokenRecord

__all__ = ["register"]

token_app = typer.Typer(
    help="API tokens: create (shown once), list (never secrets), revoke.", no_args_is_help=True
)
acl_app = typer.Typer(
    help="Per-workspace ACL entries: what an agent may do there.", no_args_is_help=True
)

PermOpt = Annotated[
    str,
    typer.Option(
        "--perm", help="Comma-separated: read, write, synthesize, admin.", show_default=False
    ),
]
AgentOpt = Annotated[str, typer.Option("--agent", help="The agent (its ID).", show_default=False)]
NamedWorkspace = Annotated[
    str, typer.Option("--workspace", help="Workspace name in the store.", show_default=False)
]


def _token(record: TokenRecord, names: Mapping[WorkspaceId, str]) -> dict[str, Any]:
    return {
        "token_id": record.token_id,
        "agent_id": record.agent_id,
        "workspace_id": record.scope,
        "workspace": None if record.scope is None else names.get(record.scope),
        "permissions": list(record.permissions),
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "created_by": record.created_by,
    }


def _acl(entry: AclEntry) -> dict[str, Any]:
    return {
        "agent_id": entry.agent_id,
        "permissions": list(entry.permissions),
        "granted_at": entry.granted_at,
        "granted_by": entry.granted_by,
    }


@token_app.command("create")
def create(
    agent: AgentOpt,
    perm: PermOpt,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            help="The one workspace the token reaches (created, owned by the agent, if absent).",
            show_default=False,
        ),
    ] = None,
    all_workspaces: Annotated[
        bool,
        typer.Option(
            "--all-workspaces",
            help="Reach every workspace the agent holds rights in (needed to create workspaces).",
        ),
    ] = False,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="Lifetime: 30d, 12h, 15m, 90s, 2w (default: never).",
            show_default=False,
        ),
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make a token acting as --agent; it is printed once and stored only as a hash."""
    if (workspace is None) == (not all_workspaces):
        raise InvalidRequest("give exactly one of --workspace NAME and --all-workspaces")
    validate_label(agent, "agent ID")
    permissions = parse_permissions(perm)
    lifetime = None if expires is None else parse_duration(expires)
    # One unit: a workspace is never left created without the token it was made for.
    with open_configured_store(store, create=False) as backend, backend.unit_of_work():
        access = AccessService(WorkspaceService(backend))
        scope: WorkspaceId | None = None
        created, holds_nothing = False, False
        names: dict[WorkspaceId, str] = {}
        if workspace is not None:
            info, created = access.create_workspace(workspace, actor=LOCAL_OWNER, owner=agent)
            scope, names = info.workspace_id, {info.workspace_id: info.name}
            holds_nothing = not (access.held(agent, info) & permissions)
        issued = access.create_token(
            actor=LOCAL_OWNER,
            agent_id=agent,
            permissions=permissions,
            scope=scope,
            expires_in=lifetime,
        )
    if json_out:
        print_json(
            {"token": issued.token, "workspace_created": created} | _token(issued.record, names)
        )
        return
    record = issued.record
    typer.echo(issued.token)
    where = shown(workspace) if workspace is not None else "all workspaces"
    typer.echo(
        f"token {record.token_id} for agent {shown(agent)} in {where}"
        f" ({','.join(record.permissions)}; expires {record.expires_at or 'never'})"
        + (" - workspace created" if created else ""),
        err=True,
    )
    typer.echo("the token is shown this once: store it now", err=True)
    if holds_nothing:
        typer.echo(
            f"note: agent {shown(agent)} holds none of these permissions in {where} yet"
            " (grant them with 'treeframe acl grant')",
            err=True,
        )


@token_app.command("list")
def list_tokens(
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", help="Only tokens of this workspace.", show_default=False),
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every token (or those of --workspace): IDs, agents, permissions; never secrets."""
    url = configured_store_url(store)
    with open_configured_store(store, create=False, read_only=True) as backend:
        service = WorkspaceService(backend)
        access = AccessService(service)
        scope = None if workspace is None else service.find(workspace).workspace_id
        found: list[TokenRecord] = []
        after: str | None = None
        while page := access.list_tokens(actor=LOCAL_OWNER, scope=scope, after=after, limit=500):
            found += page
            after = page[-1].token_id
        names: dict[WorkspaceId, str] = {}
        for ws in {t.scope for t in found if t.scope is not None}:
            info = backend.get_workspace(ws)
            if info is not None:
                names[ws] = info.name
    if json_out:
        print_json({"store": url, "tokens": [_token(t, names) for t in found]})
        return
    print_table(
        ["token", "agent", "workspace", "permissions", "expires", "revoked"],
        [
            [
                t.token_id,
                t.agent_id,
                "(all)" if t.scope is None else names.get(t.scope, t.scope[:12]),
                ",".join(t.permissions),
                t.expires_at or "never",
                t.revoked_at or "",
            ]
            for t in found
        ],
    )


@token_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The token's 16-hex ID (token list).")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke a token: the server refuses it from the next request on."""
    with open_configured_store(store, create=False) as backend:
        record = AccessService(WorkspaceService(backend)).revoke_token(token_id, actor=LOCAL_OWNER)
    if json_out:
        print_json(_token(record, {}))
        return
    typer.echo(f"revoked token {record.token_id} (at {record.revoked_at})")


@acl_app.command("grant")
def grant(
    workspace: NamedWorkspace,
    agent: AgentOpt,
    perm: PermOpt,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Set --agent's permissions in --workspace to exactly --perm."""
    validate_label(agent, "agent ID")
    permissions = parse_permissions(perm)
    with open_configured_store(store, create=False) as backend:
        service = WorkspaceService(backend)
        ws = service.find(workspace).workspace_id
        entry = AccessService(service).grant(ws, agent, permissions, actor=LOCAL_OWNER)
    if json_out:
        print_json(_acl(entry))
        return
    typer.echo(f"agent {shown(agent)} may {','.join(entry.permissions)} in {shown(workspace)}")


@acl_app.command("revoke")
def revoke(
    workspace: NamedWorkspace,
    agent: AgentOpt,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove --agent's ACL entry from --workspace."""
    with open_configured_store(store, create=False) as backend:
        service = WorkspaceService(backend)
        ws = service.find(workspace).workspace_id
        entry = AccessService(service).revoke(ws, agent, actor=LOCAL_OWNER)
    if json_out:
        print_json(_acl(entry))
        return
    typer.echo(f"agent {shown(agent)} has no ACL entry in {shown(workspace)} any more")


@acl_app.command("list")
def list_acl(workspace: NamedWorkspace, store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """Every ACL entry of --workspace (its owner holds everything without one)."""
    with open_configured_store(store, create=False, read_only=True) as backend:
        service = WorkspaceService(backend)
        info = service.find(workspace)
        entries = AccessService(service).list_acl(info.workspace_id, actor=LOCAL_OWNER)
    if json_out:
        print_json(
            {"workspace": info.name, "owner": info.owner, "entries": [_acl(e) for e in entries]}
        )
        return
    print_table(
        ["agent", "permissions", "granted", "by"],
        [
            [e.agent_id, ",".join(e.permissions), e.granted_at, e.granted_by or "(local owner)"]
            for e in entries
        ],
    )


def register(app: typer.Typer) -> None:
    """Attach the ``token`` and ``acl`` groups."""
    app.add_typer(token_app, name="token")
    app.add_typer(acl_app, name="acl")
