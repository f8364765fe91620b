"""Options shared by every command and the workspace they open."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from treeframe.engine.principal import Principal
from treeframe.errors import InvalidRequest, WorkspaceNotFound
from treeframe.workspace import Workspace
from treeframe.workspace.layout import find_root
from treeframe.workspace.settings import store_content, store_url

if TYPE_CHECKING:
    from treeframe.client.remote import RemoteWorkspace
    from treeframe.config.settings import Settings
    from treeframe.storage.base import StorageBackend

__all__ = [
    "FLAGS",
    "AsOpt",
    "JsonOpt",
    "QuietOpt",
    "ServerOpt",
    "StoreOpt",
    "TokenOpt",
    "WorkspaceOpt",
    "configured_store",
    "configured_store_url",
    "open_configured_store",
    "open_session",
    "open_workspace",
    "overrides",
    "principal_for",
]

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (stable, see docs/CLI.md)."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store URL (default: store.url setting, TREEFRAME_STORE, or "
        "sqlite in <workspace>/.treeframe/store.db).",
        show_default=False,
    ),
]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        help="Workspace name inside the store (default: the workspace setting, 'default').",
        show_default=False,
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="TREEFRAME_SERVER",
        help="Run against this treeframe server (URL) instead of a local store.",
        show_default=False,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="TREEFRAME_TOKEN",
        help="Bearer token for --server (its agent acts; --agent/--as are not sent).",
        show_default=False,
    ),
]
FLAGS = {"store.url": "--store", "workspace": "--workspace"}
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this registered agent, with its role's permissions "
        "(default: the local owner, who may read and regenerate).",
        show_default=False,
    ),
]


def overrides(store: str | None, name: str | None) -> dict[str, str | None]:
    """Command-line settings by dotted key (None: the flag was not given)."""
    return {"store.url": store, "workspace": name}


def open_workspace(
    store: str | None, name: str | None = None, *, read_only: bool = False
) -> Workspace:
    """Open the workspace found from the current directory upward, with its configuration.

    Read commands pass ``read_only`` so that they work on a read-only mount.
    """
    return Workspace.open(
        Path(os.getcwd()), cli=overrides(store, name), flags=FLAGS, read_only=read_only
    )


def open_session(
    store: str | None,
    name: str | None,
    server: str | None,
    token: str | None,
    *,
    read_only: bool = False,
) -> Workspace | RemoteWorkspace:
    """The local workspace, or with ``server`` the server's workspace of that name.

    Remote mode keeps the local settings (view defaults, limits) and, when the
    current directory is inside a workspace, its root for relative paths; the
    workspace ID is derived from the name as the server derives it.
    """
    if server is None:
        return open_workspace(store, name, read_only=read_only)
    if store is not None:
        raise InvalidRequest("give --store or --server, not both")
    # Imported here: the client (httpx, pydantic models) is only needed in remote mode.
    from treeframe.client import Client
    from treeframe.client.remote import RemoteWorkspace
    from treeframe.config import load_settings
    from treeframe.hashing.ids import workspace_id

    try:
        root = find_root(Path(os.getcwd()))
    except WorkspaceNotFound:
        root = None
    settings = load_settings(root, cli=overrides(None, name), cli_flags=FLAGS).settings
    client = Client(server, token=token)
    return RemoteWorkspace(
        client,
        workspace_id(settings.workspace),
        name=settings.workspace,
        settings=settings,
        root=root,
    )


def configured_store_url(store: str | None) -> str:
    """The store the workspace commands would open from here (``--store`` wins)."""
    return configured_store(store)[1]


def configured_store(
    store: str | None, extra: Mapping[str, tuple[str, str | None]] | None = None
) -> tuple[Settings, str]:
    """The effective settings and store URL from here (``--store`` wins).

    Inside a workspace that is its configured store; elsewhere ``--store`` or
    the store setting (``TREEFRAME_STORE``) must name one (store-level
    commands such as ``serve`` and ``token`` need no workspace directory).
    ``extra`` maps more dotted keys to ``(flag, value)`` of a command's own
    options (``serve --cache``), which win like ``--store``.
    """
    # Imported here: pydantic adds a quarter second to every CLI start otherwise.
    from treeframe.config import load_settings

    cli = overrides(store, None) | {key: value for key, (_, value) in (extra or {}).items()}
    flags = FLAGS | {key: flag for key, (flag, _) in (extra or {}).items()}
    try:
        root = find_root(Path(os.getcwd()))
    except WorkspaceNotFound as missing:
        settings = load_settings(None, cli=cli, cli_flags=flags).settings
        if settings.store.url is None:
            raise missing from None
        return settings, store_url(Path(os.getcwd()), settings)
    settings = load_settings(root, cli=cli, cli_flags=flags).settings
    return settings, store_url(root, settings)


def open_configured_store(store: str | None, **options: bool) -> StorageBackend:
    """:func:`open_store` of the configured store with its content policy (``store.blobs``...).

    ``options`` are :func:`open_store`'s ``create``, ``read_only`` and ``migrate``.
    """
    from treeframe.storage.registry import open_store

    settings, url = configured_store(store)
    return stamped(open_store(url, content=store_content(settings), **options), settings)


def stamped(store: StorageBackend, settings: Settings) -> StorageBackend:
    """``store`` whose writes change the cache stamps ``cache.url`` names (see OPERATIONS.md "Caches").

    Servers caching heads in Redis must see this process's writes too; with
    any other ``cache.url`` the store itself comes back.
    """
    from treeframe.storage.cache import cache_prefix, stamping_store

    prefix = cache_prefix(settings.cache.namespace)
    wrapped: StorageBackend = stamping_store(store, settings.cache.url, prefix=prefix)
    return wrapped


def principal_for(ws: Workspace | RemoteWorkspace, agent: str | None) -> Principal:
    """Who a command acts as: the registered agent ``agent`` (``--as``/``--agent``), or the owner.

    The CLI trusts the local registry: whoever can open the store could change
    it anyway. No agent means the local owner, built explicitly here. An agent
    the store does not know is ``unauthorized``.
    """
    if agent is None:
        return Principal.owner(ws.ws)
    return ws.api.agent_principal(agent)
