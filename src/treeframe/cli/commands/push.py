"""push: scan a directory locally and sync its tree into a server's workspace (docs/API.md, "Push").

The directory is scanned locally (the server never sees the disk): into its
own store with its stat cache when it is a treeframe workspace (holds
``.treeframe/``), as ``treeframe scan`` would, otherwise into memory. Then
:func:`treeframe.client.push.push_tree` negotiates, sends only the records
the server lacks and moves the workspace's root. httpx is imported only when
the command runs.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from treeframe.cli.common import JsonOpt, QuietOpt
from treeframe.cli.output import console, print_json, progress_bars, show_progress
from treeframe.errors import BackendUnavailable, ConfigError
from treeframe.hashing.ids import workspace_id
from treeframe.ids import WorkspaceId
from treeframe.storage.values import WorkspaceInfo
from treeframe.workspace import Workspace
from treeframe.workspace.layout import STATE_DIR

if TYPE_CHECKING:
    from treeframe.storage.base import StorageBackend
    from treeframe.tree.scan import ScanResult

__all__ = ["register"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOCAL_WS = workspace_id("push")
_TIMEOUT_SECONDS = 120.0


def _workspace(value: str) -> WorkspaceId:
    """A workspace ID as given (64 hex), or the ID of the workspace so named."""
    return WorkspaceId(value) if _HEX64.fullmatch(value) else workspace_id(value)


def push(
    workspace: Annotated[
        str, typer.Option("--workspace", help="The server's workspace: its name or ID.")
    ],
    directory: Annotated[
        Path, typer.Argument(help="Directory whose tree to push (default: the current one).")
    ] = Path("."),
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="TREEFRAME_SERVER",
            help="Base URL of the server, e.g. http://127.0.0.1:8420 (or TREEFRAME_SERVER).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="TREEFRAME_TOKEN",
            help="Bearer token (or TREEFRAME_TOKEN).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, help="Records per request (at most the server's limit)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Hashing processes (default: CPU count).")
    ] = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Scan DIRECTORY and push its tree into a server's workspace, sending only what it lacks."""
    if not server:
        raise ConfigError("push needs --server URL (or TREEFRAME_SERVER)")
    try:
        import httpx

        from treeframe.client.push import push_tree
        from treeframe.storage.memory import MemoryStore
        from treeframe.tree.scan import scan_tree
    except ImportError as exc:
        raise BackendUnavailable(
            f"push needs httpx ({exc.name} is missing): pip install 'treeframe[server]'"
        ) from exc
    target = _workspace(workspace)
    enabled = show_progress(quiet) and not json_out
    with contextlib.ExitStack() as stack:
        local: StorageBackend
        rescan: Callable[..., ScanResult]
        if (directory / STATE_DIR).is_dir():
            # A local workspace: scanned as `treeframe scan` does, with its stat cache.
            bound = stack.enter_context(Workspace.at(directory.absolute()))
            local, source_ws, rescan = bound.store, bound.ws, bound.scan
        else:
            memory = MemoryStore("memory://")
            memory.create_workspace(WorkspaceInfo(_LOCAL_WS, "push", "", None, "", None))
            local, source_ws = memory, _LOCAL_WS
            rescan = functools.partial(scan_tree, directory, memory, _LOCAL_WS)

        with progress_bars(enabled, transient=True) as scanned:
            scan = rescan(workers=workers, progress=scanned)
        for entry in scan.skipped:
            typer.echo(f"warning: skipped {entry.path}: {entry.message} [{entry.reason}]", err=True)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with (
            progress_bars(enabled, transient=True) as pushed,
            httpx.Client(base_url=server, headers=headers, timeout=_TIMEOUT_SECONDS) as http,
        ):
            try:
                result = push_tree(
                    http,
                    target,
                    local,
                    source_ws,
                    scan.root,
                    batch_size=batch_size,
                    progress=pushed,
                )
            except httpx.TransportError as exc:
                raise BackendUnavailable(f"cannot reach {server}: {exc}") from exc
    payload = {
        "workspace_id": target,
        "files": scan.files,
        "files_hashed": scan.files_hashed,
        **result.to_dict(),
    }
    if json_out:
        print_json(payload)
        return
    state = "changed" if result.changed else "unchanged"
    console.print(
        f"root {result.root} ({state}, seq {result.seq}): {result.offered} records offered, "
        f"{result.sent} sent, {result.skipped} skipped, in {result.batches} batches",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command()(push)
