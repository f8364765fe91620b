"""mcp: serve the workspace's context tools to an MCP client (treeframe.mcp).

The SDK is the ``mcp`` extra, imported only when the command runs. The
workspace (or, with ``--server``, the server's workspace) is opened before
the transport starts, so a missing workspace or store is one error line.
Over stdio, stdout carries the protocol only: nothing here prints, and the
SDK's and treeframe's logs go to stderr.
"""

from __future__ import annotations

import socket
from typing import Annotated, Literal

import typer

from treeframe.cli.common import (
    AsOpt,
    ServerOpt,
    StoreOpt,
    TokenOpt,
    WorkspaceOpt,
    open_session,
    principal_for,
)
from treeframe.errors import BackendUnavailable, ConfigError, InvalidRequest

__all__ = ["register"]


def _require_mcp_extra() -> None:
    try:
        import mcp.server  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"the MCP server needs the mcp extra ({exc.name} is missing): "
            "pip install 'treeframe[mcp]'"
        ) from exc


def _check_listen(host: str, port: int) -> None:
    """Refuse an address that cannot be bound in one line, before uvicorn exits on it."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def mcp(
    transport: Annotated[
        str, typer.Option("--transport", help="stdio (for a local agent) | http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[str, typer.Option("--host", help="Address of the HTTP transport.")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port of the HTTP transport.")
    ] = 8421,
    as_agent: AsOpt = None,
    store: StoreOpt = None,
    workspace: WorkspaceOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Serve get_context, list_stale, put_frame, synthesize, regenerate and diff over MCP."""
    if transport not in ("stdio", "http"):
        raise InvalidRequest(f"unknown --transport {transport!r} (use stdio or http)")
    chosen: Literal["stdio", "http"] = "stdio" if transport == "stdio" else "http"
    if server is not None and as_agent is not None:
        raise InvalidRequest("--as is local: over --server the token's agent acts")
    _require_mcp_extra()
    if chosen == "http":
        _check_listen(host, port)
    from treeframe.client.remote import RemoteWorkspace
    from treeframe.mcp.backend import Backend, LocalBackend, RemoteBackend
    from treeframe.mcp.server import build_server, run

    session = open_session(store, workspace, server, token)
    backend: Backend
    try:
        if isinstance(session, RemoteWorkspace):
            backend = RemoteBackend(session)
        else:
            backend = LocalBackend(session, principal_for(session, as_agent))
    except BaseException:
        session.close()
        raise
    if chosen == "http":
        typer.echo(f"treeframe mcp: streamable HTTP at http://{host}:{port}/mcp", err=True)
    try:
        run(build_server(backend), chosen, host=host, port=port)
    finally:
        backend.close()


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(mcp)
